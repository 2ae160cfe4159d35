/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Migration requests of the parent (see sup-internal.h): a worker thread
 * streams (mig_send); the pause and the end of the target are done by the
 * loop's thread (the tracer), on the worker's request.
 */
#define LOG_PREFIX "supervisor: "
#include "control/sup-internal.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"

/* ---- migration ---- */

static void mig_wake(struct mig_job *j)
{
	uint64_t one = 1;

	if (write(j->efd, &one, sizeof(one)) < 0) {
		/* the loop polls it anyway */
	}
}

/* worker: ask the loop's thread for op and wait */
static void mig_call(struct mig_job *j)
{
	pthread_mutex_lock(&j->mu);
	j->op_done = false;
	mig_wake(j);
	while (!j->op_done)
		pthread_cond_wait(&j->cv, &j->mu);
	pthread_mutex_unlock(&j->mu);
}

static int mig_hook_capture(void *arg, const char *parent_id, struct capture **cap,
			    struct ckpt_stats *st)
{
	struct mig_job *j = arg;

	pthread_mutex_lock(&j->mu);
	j->op = MOP_CAPTURE;
	j->parent_id = parent_id;
	j->cap = NULL;
	pthread_mutex_unlock(&j->mu);
	mig_call(j);
	*cap = j->cap;
	*st = j->st;
	j->cap = NULL;
	return j->op_ret;
}

static void mig_hook_release(void *arg, struct capture *cap, bool kill_it)
{
	struct mig_job *j = arg;

	pthread_mutex_lock(&j->mu);
	j->op = MOP_RELEASE;
	j->cap = cap;
	j->kill = kill_it;
	pthread_mutex_unlock(&j->mu);
	mig_call(j);
}

static void *mig_worker(void *arg)
{
	struct mig_job *j = arg;
	struct mig_hooks h = {j, mig_hook_capture, mig_hook_release};

	log_clear_error();
	j->ret = mig_send(&j->o, &j->s->t, j->s->tk, &h, &j->pg, &j->res);
	/* j->err may already say why the capture (on the loop's thread) failed */
	if (j->ret < 0 && !j->err[0])
		snprintf(j->err, sizeof(j->err), "%s",
			 *log_last_error() ? log_last_error() : strerror(-j->ret));
	pthread_mutex_lock(&j->mu);
	j->done = true;
	pthread_mutex_unlock(&j->mu);
	mig_wake(j);
	return NULL;
}

/* MOP_CAPTURE, on the loop's thread: pause and capture (incremental on
 * the rounds when the worker names them). */
static void mig_do_capture(struct sup *s, struct mig_job *j)
{
	struct track_last fake = {.valid = true, .depth = 0};
	struct ckpt_opts o = {.keep_paused = true, .allow_loss = j->allow_loss};

	if (j->parent_id) {
		snprintf(fake.id, sizeof(fake.id), "%s", j->parent_id);
		o.parent_dir = "(pre-copy rounds)";
		o.tk = s->tk;
		o.incremental = true;
		o.parent = &fake;
	}
	log_clear_error();
	j->op_ret = ckpt_capture(&s->t, &o, &j->cap, NULL, &j->st);
	if (j->op_ret < 0 && *log_last_error()) /* the worker cannot see this thread's */
		snprintf(j->err, sizeof(j->err), "%s", log_last_error());
	sup_reap(s);
}

/* MOP_RELEASE, on the loop's thread: let the target run on, or end it. */
static void mig_do_release(struct sup *s, struct capture *cap, bool kill_it)
{
	ckpt_release(cap, kill_it);
	capture_free(cap);
	if (!kill_it && s->tk)
		track_set_broken(s->tk, "a migration was abandoned");
	sup_reap(s);
	/* gone here before the user hears it is there (rtcr ps agrees) */
	for (int i = 0; kill_it && !s->ended && i < 400; i++) {
		struct timespec ts = {0, 5 * 1000 * 1000};

		nanosleep(&ts, NULL);
		sup_reap(s);
	}
}

/* The worker is done: join it and answer the client. */
static void mig_finished(struct sup *s, struct mig_job *j)
{
	struct client *c = j->client;
	char line[1600];

	pthread_join(j->th, NULL);
	j->running = false;
	if (j->own_tk && s->tk) {
		track_free(s->tk);
		s->tk = NULL;
	}
	if (j->ret == 0) {
		pr_info("migrated to %s as %s", j->o.to, j->res.dest_name);
		/* rtcr ps shows where it went (ORIGIN) */
		snprintf(s->t.origin, sizeof(s->t.origin), "migrated to %.170s as %.60s", j->o.to,
			 j->res.dest_name);
	}
	if (!c)
		return;
	j->client = NULL;
	c->busy = false;
	if (j->ret < 0) {
		sup_reply_error(s, c, j->err);
		return;
	}
	snprintf(line, sizeof(line),
		 "ok total_ns=%llu downtime_ns=%llu predicted_ns=%llu bytes=%llu "
		 "memory=%llu rounds=%u converged=%d mode=%s dest=%s\n",
		 (unsigned long long)j->res.total_ns, (unsigned long long)j->res.downtime_ns,
		 (unsigned long long)j->res.predicted_downtime_ns,
		 (unsigned long long)j->res.bytes_sent, (unsigned long long)j->res.memory_bytes,
		 j->res.rounds, j->res.converged, j->res.mode, j->res.dest_name);
	sup_client_send(s, c, line, strlen(line));
}

/* the loop's thread: do what the worker asked */
void sup_mig_event(struct sup *s)
{
	struct mig_job *j = &s->mig;
	uint64_t v;
	bool done;

	if (read(j->efd, &v, sizeof(v)) < 0 && errno == EAGAIN)
		return;
	pthread_mutex_lock(&j->mu);
	if (j->op == MOP_CAPTURE && !j->op_done) {
		pthread_mutex_unlock(&j->mu);
		mig_do_capture(s, j);
		pthread_mutex_lock(&j->mu);
		j->op = MOP_NONE;
		j->op_done = true;
		pthread_cond_broadcast(&j->cv);
	} else if (j->op == MOP_RELEASE && !j->op_done) {
		struct capture *cap = j->cap;
		bool kill_it = j->kill;

		pthread_mutex_unlock(&j->mu);
		mig_do_release(s, cap, kill_it);
		pthread_mutex_lock(&j->mu);
		j->cap = NULL;
		j->op = MOP_NONE;
		j->op_done = true;
		pthread_cond_broadcast(&j->cv);
	}
	done = j->done;
	pthread_mutex_unlock(&j->mu);
	if (done && j->running)
		mig_finished(s, j);
}

/* The request's options into o (defaults for what is not there). 0, or
 * -EINVAL once the client has its answer. */
static int mig_parse(struct sup *s, struct client *c, int argc, char **argv, struct mig_opts *o)
{
	memset(o, 0, sizeof(*o));
	s->mig.allow_loss = 0;
	o->precopy = true;
	o->max_downtime_ms = 50;
	o->max_rounds = 30;
	o->timeout_ms = 10000;
	for (int i = 1; i < argc; i++) {
		char val[PATH_MAX];
		char *eq = strchr(argv[i], '=');

		if (!eq || strlen(eq + 1) >= sizeof(val)) {
			sup_reply_error(
			    s, c, "usage: migrate to=HOST:PORT key=PATH [mode=precopy|stop] ...");
			return -EINVAL;
		}
		snprintf(val, sizeof(val), "%s", eq + 1);
		ctl_unescape(val);
		*eq = '\0';
		if (!strcmp(argv[i], "to"))
			snprintf(o->to, sizeof(o->to), "%.255s", val);
		else if (!strcmp(argv[i], "key"))
			snprintf(o->key_path, sizeof(o->key_path), "%s", val);
		else if (!strcmp(argv[i], "mode"))
			o->precopy = strcmp(val, "stop") != 0;
		else if (!strcmp(argv[i], "max_downtime_ms"))
			o->max_downtime_ms = (unsigned)strtoul(val, NULL, 10);
		else if (!strcmp(argv[i], "max_rounds"))
			o->max_rounds = (unsigned)strtoul(val, NULL, 10);
		else if (!strcmp(argv[i], "timeout_ms"))
			o->timeout_ms = (int)strtol(val, NULL, 10);
		else if (!strcmp(argv[i], "on_no_converge"))
			o->abort_on_no_converge = !strcmp(val, "abort");
		else if (!strcmp(argv[i], "allow_loss"))
			s->mig.allow_loss = (unsigned)strtoul(val, NULL, 10);
	}
	if (!o->to[0] || !o->key_path[0]) {
		sup_reply_error(s, c, "migrate: no destination or no key");
		return -EINVAL;
	}
	if (o->max_rounds < 1)
		o->max_rounds = 1;
	if (o->timeout_ms < 100)
		o->timeout_ms = 100;
	return 0;
}

/* Pre-copy needs dirty tracking: a tracker of the migration's own for a
 * target that runs without. 0, or -errno once the client has its answer. */
static int mig_track(struct sup *s, struct client *c, const struct mig_opts *o)
{
	struct mig_job *j = &s->mig;
	int ret;

	j->own_tk = false;
	if (o->precopy && !s->tk) {
		/* pre-copy needs dirty tracking: the kernel's, if it can */
		struct track_opts to = {.mode = TRACK_ASYNC, .gran = TRACK_DEFAULT_GRAN};

		log_clear_error();
		ret = track_new(&to, &s->tk);
		if (ret) {
			to.mode = TRACK_FAULT;
			ret = track_new(&to, &s->tk);
		}
		if (!ret)
			ret = ckpt_arm_tracking(&s->t, s->tk);
		sup_reap(s);
		if (ret) {
			track_free(s->tk);
			s->tk = NULL;
			sup_reply_error(s, c,
					*log_last_error() ? log_last_error() : strerror(-ret));
			return ret;
		}
		j->own_tk = true;
	}
	return 0;
}

void sup_req_migrate(struct sup *s, struct client *c, int argc, char **argv)
{
	struct mig_job *j = &s->mig;
	int ret;

	if (j->running || s->ck.running) {
		sup_reply_error(s, c, "a checkpoint or migration is in progress");
		return;
	}
	if (s->ended) {
		sup_reply_error(s, c, "the target has exited");
		return;
	}
	if (mig_parse(s, c, argc, argv, &j->o) || mig_track(s, c, &j->o))
		return;
	memset(&j->res, 0, sizeof(j->res));
	j->ret = 0;
	j->err[0] = '\0';
	j->done = false;
	j->op = MOP_NONE;
	j->s = s;
	j->client = c;
	j->pg.phase = MIG_CONNECTING;
	j->pg.round = 0;
	j->pg.bytes_sent = j->pg.round_bytes = j->pg.dirty_bytes = 0;
	j->pg.rate_bps = j->pg.dirty_rate_bps = 0;
	ret = pthread_create(&j->th, NULL, mig_worker, j);
	if (ret) {
		sup_reply_error(s, c, "cannot start the migration thread");
		if (j->own_tk) {
			track_free(s->tk);
			s->tk = NULL;
		}
		return;
	}
	j->running = true;
	c->busy = true;
}

void sup_req_migstat(struct sup *s, struct client *c, int argc, char **argv)
{
	static const char *const phases[] = {"connecting", "checking", "precopy", "final",
					     "restoring",  "done",     "failed"};
	struct mig_job *j = &s->mig;
	char line[512];

	(void)argc;
	(void)argv;
	if (!j->running) {
		sup_reply_error(s, c, "no migration in progress");
		return;
	}
	pthread_mutex_lock(&j->pg.mu);
	snprintf(line, sizeof(line),
		 "ok phase=%s round=%u sent=%llu round_bytes=%llu dirty=%llu rate=%llu "
		 "dirty_rate=%llu\n",
		 phases[j->pg.phase], j->pg.round, (unsigned long long)j->pg.bytes_sent,
		 (unsigned long long)j->pg.round_bytes, (unsigned long long)j->pg.dirty_bytes,
		 (unsigned long long)j->pg.rate_bps, (unsigned long long)j->pg.dirty_rate_bps);
	pthread_mutex_unlock(&j->pg.mu);
	sup_client_send(s, c, line, strlen(line));
}
