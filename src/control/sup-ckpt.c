/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Checkpoint requests of the parent (see sup-internal.h): the capture on
 * the loop's thread (the tracer), the image written by a thread of its
 * own, and what the next incremental image builds on.
 */
#define LOG_PREFIX "supervisor: "
#include "control/sup-internal.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "image/image.h"
#include "mem/mem.h"

static void *ckpt_writer(void *arg)
{
	struct ckpt_job *j = arg;
	uint64_t one = 1;

	log_clear_error();
	j->ret = ckpt_write(j->cap, j->dirfd, &j->st);
	if (j->ret < 0)
		snprintf(j->err, sizeof(j->err), "%s",
			 *log_last_error() ? log_last_error() : strerror(-j->ret));
	capture_free(j->cap);
	j->cap = NULL;
	close(j->dirfd);
	j->dirfd = -1;
	if (write(j->efd, &one, sizeof(one)) < 0) {
		/* the loop also polls j->running at the end */
	}
	return NULL;
}

static void reply_ckpt_stats(struct sup *s, struct client *c, const struct ckpt_stats *st,
			     const char *report, const struct track_last *parent,
			     const char *losses)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	if (!m) {
		sup_reply_error(s, c, "out of memory");
		return;
	}
	fprintf(m, "ok pause_ns=%llu capture_ns=%llu write_ns=%llu mem_bytes=%llu image_bytes=%llu",
		(unsigned long long)st->pause_ns, (unsigned long long)st->capture_ns,
		(unsigned long long)st->write_ns, (unsigned long long)st->mem_bytes,
		(unsigned long long)st->image_bytes);
	if (report) {
		fputs(" report=", m);
		ctl_put_value(m, report);
	}
	if (losses && *losses) {
		fputs(" losses=", m);
		ctl_put_value(m, losses);
	}
	if (st->image_id[0]) {
		fprintf(m, " image_id=%s depth=%u", st->image_id,
			parent && parent->valid ? parent->depth + 1 : 0);
		if (parent && parent->valid)
			fprintf(m, " parent_id=%s", parent->id);
	}
	if (fclose(m)) {
		free(buf);
		sup_reply_error(s, c, "out of memory");
		return;
	}
	sup_reply_stream(s, c, buf, len);
}

/* The image is written (or not): what the next incremental one builds on. */
static void ckpt_track_done(struct sup *s)
{
	struct track_last l = {0};

	if (!s->tk || s->ck.kill)
		return;
	if (s->ck.ret < 0 || !s->ck.dir[0] || !s->ck.st.image_id[0]) {
		track_set_broken(s->tk, "the last checkpoint of this target failed");
		return;
	}
	l.valid = true;
	snprintf(l.id, sizeof(l.id), "%s", s->ck.st.image_id);
	l.meta_sum = s->ck.st.meta_sum;
	l.depth = s->ck.parent.valid ? s->ck.parent.depth + 1 : 0;
	snprintf(s->last_dir, sizeof(s->last_dir), "%s", s->ck.dir);
	track_set_last(s->tk, &l);
}

/* A checkpoint request, parsed. */
struct ckpt_args {
	struct ckpt_opts o;
	bool want_inc, want_full;
	char dir[PATH_MAX], parent[PATH_MAX];
	struct track_last last; /* the image it builds on (o.parent) */
};

/* 0, or -EINVAL once the client has its answer. */
static int ckpt_parse(struct sup *s, struct client *c, int argc, char **argv, struct ckpt_args *a)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "kill"))
			a->o.kill = true;
		else if (!strcmp(argv[i], "dry-run"))
			a->o.dry_run = true;
		else if (!strcmp(argv[i], "incremental"))
			a->want_inc = true;
		else if (!strcmp(argv[i], "full"))
			a->want_full = true;
		else if (!strcmp(argv[i], "live"))
			a->o.live = true;
		else if (!strncmp(argv[i], "allow_loss=", 11))
			a->o.allow_loss = (unsigned)strtoul(argv[i] + 11, NULL, 10);
		else if (!strncmp(argv[i], "dir=", 4) && strlen(argv[i] + 4) < sizeof(a->dir)) {
			snprintf(a->dir, sizeof(a->dir), "%s", argv[i] + 4);
			ctl_unescape(a->dir);
		} else if (!strncmp(argv[i], "parent=", 7) &&
			   strlen(argv[i] + 7) < sizeof(a->parent)) {
			snprintf(a->parent, sizeof(a->parent), "%s", argv[i] + 7);
			ctl_unescape(a->parent);
		} else {
			sup_reply_error(
			    s, c,
			    "usage: checkpoint [kill] [dry-run] [incremental|full] [live] "
			    "[allow_loss=MASK] [dir=PATH] [parent=PATH]");
			return -EINVAL;
		}
	}
	return 0;
}

/* Can the tracking do what is asked? 0, or -EINVAL once the client has its answer. */
static int ckpt_check_tracking(struct sup *s, struct client *c, const struct ckpt_args *a)
{
	const struct ckpt_opts *o = &a->o;

	if (!o->dry_run && !o->kill && (a->want_inc || a->parent[0] || o->live) && !s->tk) {
		sup_reply_error(
		    s, c,
		    a->want_inc || a->parent[0]
			? "no incremental checkpoint: the target runs without dirty "
			  "tracking (start it with rtcr run --track=fault or --track=async)"
			: "no live checkpoint: the target runs without dirty tracking "
			  "(start it with rtcr run --track=fault)");
		return -EINVAL;
	}
	if (o->live && s->tk && track_get_opts(s->tk)->mode != TRACK_FAULT) {
		sup_reply_error(
		    s, c,
		    "a live checkpoint needs fault tracking (--track=fault): with async "
		    "tracking no write reaches rtcr before it happens");
		return -EINVAL;
	}
	return 0;
}

/* Incremental by default once there is an image to build on: which one
 * (a->last, a->o.parent)? 0, or -EINVAL once the client has its answer. */
static int ckpt_choose_parent(struct sup *s, struct client *c, struct ckpt_args *a)
{
	struct track_last *last = &a->last;
	bool asked = a->want_inc || a->parent[0];
	char why[PATH_MAX + 128];

	track_get_last(s->tk, last, why, sizeof(why));
	if (last->valid) {
		char id[40];
		uint64_t sum = 0;

		/* still there, unchanged? */
		if (img_peek(s->last_dir, id, sizeof(id), &sum) || strcmp(id, last->id) ||
		    sum != last->meta_sum) {
			snprintf(why, sizeof(why),
				 "the last image of this target (%s) is gone or was replaced",
				 s->last_dir);
			last->valid = false;
		}
	}
	if (a->parent[0] && last->valid && strcmp(a->parent, s->last_dir)) {
		char msg[PATH_MAX * 2 + 128];

		snprintf(msg, sizeof(msg),
			 "the changes are tracked since the image in %s, not %s: only the "
			 "last image of this target can be the parent",
			 s->last_dir, a->parent);
		sup_reply_error(s, c, msg);
		return -EINVAL;
	}
	if (asked && !last->valid) {
		char msg[PATH_MAX + 256];

		snprintf(msg, sizeof(msg), "no incremental checkpoint possible: %s", why);
		sup_reply_error(s, c, msg);
		return -EINVAL;
	}
	if (last->valid && a->dir[0] && !strcmp(a->dir, s->last_dir)) {
		if (asked) {
			sup_reply_error(s, c,
					"an incremental image cannot replace its own parent: "
					"write it into another directory");
			return -EINVAL;
		}
		last->valid = false; /* overwriting the parent: a full image */
	}
	a->o.incremental = last->valid;
	a->o.parent = last;
	a->o.parent_dir = s->last_dir;
	return 0;
}

/* Is the target in a state to be captured, and dirfd an image directory?
 * 0, or -EINVAL once the client has its answer. */
static int ckpt_check_state(struct sup *s, struct client *c, const struct ckpt_opts *o, int dirfd)
{
	const char *err = NULL;
	struct stat sb;

	if (s->ck.running)
		err = "checkpoint already in progress";
	else if (s->ended)
		err = "the target has exited";
	else if (!o->dry_run && dirfd < 0)
		err = "no image directory: send an open directory fd with the request";
	else if (dirfd >= 0 && (fstat(dirfd, &sb) || !S_ISDIR(sb.st_mode)))
		err = "the fd sent with the request is not a directory";
	if (!err)
		return 0;
	sup_reply_error(s, c, err);
	return -EINVAL;
}

/* The losses the image records (accepted), one line each, into buf
 * (cut with "... and N more" when they do not fit). */
static void ckpt_losses_text(const Rtcr__Image *img, char *buf, size_t len)
{
	size_t off = 0, i;

	buf[0] = '\0';
	for (i = 0; img && i < img->n_losses; i++) {
		const Rtcr__Loss *l = img->losses[i];
		int n = snprintf(buf + off, len - off, "pid %u: fd %d: %s\n", l->pid, l->fd,
				 l->what ? l->what : "?");

		if (n < 0 || (size_t)n >= len - off - 32)
			break;
		off += (size_t)n;
	}
	if (img && i < img->n_losses)
		snprintf(buf + off, len - off, "... and %zu more (all recorded in the image)\n",
			 img->n_losses - i);
}

/* Write the captured image in the writer thread (or here if there is
 * none); the client gets its answer when it is written. Takes cap and
 * dirfd. */
static void ckpt_start_writer(struct sup *s, struct client *c, struct capture *cap, int dirfd,
			      const struct ckpt_stats *st, const struct ckpt_args *a)
{
	int ret;

	s->ck.cap = cap;
	s->ck.dirfd = dirfd;
	s->ck.st = *st;
	s->ck.ret = 0;
	s->ck.err[0] = '\0';
	s->ck.client = c;
	s->ck.kill = a->o.kill;
	snprintf(s->ck.dir, sizeof(s->ck.dir), "%s", a->dir);
	s->ck.parent = a->last;
	s->ck.parent.valid = a->o.incremental;
	ckpt_losses_text(cap->img, s->ck.losses, sizeof(s->ck.losses));
	ret = pthread_create(&s->ck.th, NULL, ckpt_writer, &s->ck);
	if (ret) {
		/* No thread: write it here, the loop waits meanwhile. */
		pr_warn("cannot start the image writer thread: %s", strerror(ret));
		log_clear_error();
		ret = ckpt_write(cap, dirfd, &s->ck.st);
		capture_free(cap);
		close(dirfd);
		s->ck.cap = NULL;
		s->ck.dirfd = -1;
		s->ck.client = NULL;
		s->ck.ret = ret;
		ckpt_track_done(s);
		if (ret < 0)
			sup_reply_error(s, c,
					*log_last_error() ? log_last_error() : strerror(-ret));
		else
			reply_ckpt_stats(s, c, &s->ck.st, NULL, &s->ck.parent, s->ck.losses);
		return;
	}
	s->ck.running = true;
	c->busy = true;
}

void sup_req_checkpoint(struct sup *s, struct client *c, int argc, char **argv)
{
	struct ckpt_args args = {0}, *a = &args;
	struct ckpt_stats st = {0};
	struct capture *cap = NULL;
	char *report = NULL;
	int dirfd = c->pending_fd;
	int ret;

	c->pending_fd = -1;
	if (ckpt_parse(s, c, argc, argv, a) || ckpt_check_tracking(s, c, a))
		goto out;
	if (s->tk && !a->o.dry_run && !a->want_full && ckpt_choose_parent(s, c, a))
		goto out;
	a->o.tk = s->tk;
	if (ckpt_check_state(s, c, &a->o, dirfd))
		goto out;

	log_clear_error();
	ret = ckpt_capture(&s->t, &a->o, &cap, &report, &st);
	/* ckpt_capture waited for stops itself: catch up with what it left. */
	sup_reap(s);
	if (ret < 0) {
		sup_reply_error(s, c, *log_last_error() ? log_last_error() : strerror(-ret));
		goto out;
	}
	if (a->o.dry_run) {
		reply_ckpt_stats(s, c, &st, report ? report : "", NULL, NULL);
		if (cap)
			capture_free(cap);
		goto out;
	}
	ckpt_start_writer(s, c, cap, dirfd, &st, a);
	dirfd = -1; /* the writer's */
out:
	free(report);
	if (dirfd >= 0)
		close(dirfd);
}

void sup_ckpt_done(struct sup *s)
{
	uint64_t v;
	struct client *c;

	if (read(s->ck.efd, &v, sizeof(v)) < 0 && errno == EAGAIN)
		return;
	if (!s->ck.running)
		return;
	pthread_join(s->ck.th, NULL);
	s->ck.running = false;
	ckpt_track_done(s);
	c = s->ck.client;
	s->ck.client = NULL;
	if (s->ck.ret < 0)
		pr_info("checkpoint failed: %s", s->ck.err);
	if (!c)
		return;
	c->busy = false;
	if (s->ck.ret < 0)
		sup_reply_error(s, c, s->ck.err);
	else
		reply_ckpt_stats(s, c, &s->ck.st, NULL, &s->ck.parent, s->ck.losses);
}
