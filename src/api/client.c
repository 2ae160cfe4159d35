/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The public API's calls that talk to a target's parent over its control
 * socket (protocol: src/control/control.c), or read what a parent left in
 * the run directory: checkpoint, kill, wait, log, list, thaw, migrate.
 */
#define LOG_PREFIX ""
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/str.h"
#include "control/control.h"
#include "control/rundir.h"
#include "proto/rtcr.pb-c.h"
#include "rtcr/rtcr.h"

/* Say why there is no live target of that name. */
static int no_target(const char *dir, const char *name)
{
	struct rundir_record r;

	if (dir && rundir_read_record(dir, name, RUNDIR_INFO, &r) == 0) {
		pr_err("the parent of '%s' (pid %d) is gone; the target is lost", name,
		       (int)r.parent_pid);
		return -ESRCH;
	}
	pr_err("no target named '%s' (see rtcr ps)", name);
	return -ENOENT;
}

/* Connect to a live target's parent; logs "no target named" if there is none. */
static int connect_target(const char *name, char *dir, size_t dirlen)
{
	int ret;

	if (!name || rundir_check_name(name))
		return -EINVAL;
	ret = rundir_locate(dir, dirlen);
	if (ret)
		return ret;
	ret = rundir_connect(dir, name);
	if (ret == -ENOENT)
		return no_target(dir, name);
	return ret;
}

/* "12.0 KiB": a whole value in its unit keeps its decimal in the summary
 * (as it always did; fmt_bytes prints "12 KiB"). */
static const char *summary_bytes(uint64_t b, char *buf, size_t len)
{
	char *sp;

	fmt_bytes(b, buf, len);
	sp = strchr(buf, ' ');
	if (b >= 1024 && sp && !strchr(buf, '.') && strlen(buf) + 2 < len) {
		memmove(sp + 2, sp, strlen(sp) + 1);
		sp[0] = '.';
		sp[1] = '0';
	}
	return buf;
}

/* The image directory: created, opened (the parent gets the fd) and its
 * absolute path (recorded as the parent of the next incremental image). */
static int ckpt_open_dir(const char *dir, int *dirfd, char *absdir)
{
	int ret = mkdir_p(dir, 0700);

	if (ret)
		return ret;
	*dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*dirfd < 0)
		return pr_perror("cannot open image directory %s", dir);
	ret = dir_check_private(*dirfd, "image directory", dir);
	if (ret) {
		close(*dirfd);
		*dirfd = -1;
		return ret;
	}
	if (!realpath(dir, absdir))
		return pr_perror("image directory %s", dir);
	return 0;
}

/* The public loss bits are the image's LossKind values (1 << kind). */
_Static_assert(RTCR_LOSS_UDP_QUEUE == 1u << RTCR__LOSS_KIND__LOSS_UDP_QUEUE, "loss bits");
_Static_assert(RTCR_LOSS_INOTIFY_QUEUE == 1u << RTCR__LOSS_KIND__LOSS_INOTIFY_QUEUE, "loss bits");

int rtcr_loss_parse(const char *list, unsigned *mask)
{
	static const struct {
		const char *name;
		unsigned bit;
	} known[] = {{"udp-queue", RTCR_LOSS_UDP_QUEUE},
		     {"inotify-queue", RTCR_LOSS_INOTIFY_QUEUE}};
	const char *p = list;

	*mask = 0;
	for (;;) {
		size_t n = strcspn(p, ","), i;

		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (n == strlen(known[i].name) && !strncmp(p, known[i].name, n))
				break;
		if (i == sizeof(known) / sizeof(known[0]))
			return -EINVAL;
		*mask |= known[i].bit;
		if (!p[n])
			return 0;
		p += n + 1;
	}
}

/* The request line (malloc'd into *req). */
static int ckpt_request_line(const struct rtcr_ckpt_req *r, const char *absdir,
			     const char *absparent, char **req)
{
	size_t reqlen = 0;
	FILE *m = open_memstream(req, &reqlen);

	if (!m)
		return -ENOMEM;
	fprintf(m, "checkpoint%s%s%s%s%s", r->kill ? " kill" : "", r->dry_run ? " dry-run" : "",
		r->incremental ? " incremental" : "", r->full ? " full" : "",
		r->live ? " live" : "");
	if (r->allow_loss)
		fprintf(m, " allow_loss=%u", r->allow_loss);
	if (!r->dry_run) {
		fputs(" dir=", m);
		ctl_put_value(m, absdir);
	}
	if (r->parent) {
		fputs(" parent=", m);
		ctl_put_value(m, absparent);
	}
	if (fclose(m))
		return -ENOMEM;
	return 0;
}

/* Dry run: the report, and how many items it has. */
static int ckpt_dry_summary(const char *reply, struct rtcr_ckpt_result *res)
{
	int lines = 0;

	if (ctl_get_field(reply, "report", res->report, sizeof(res->report)) == -ENAMETOOLONG) {
		pr_err("the dry-run report does not fit in %zu bytes", sizeof(res->report));
		return -ENAMETOOLONG;
	}
	if (!res->report[0]) {
		snprintf(res->summary, sizeof(res->summary), "nothing would be refused");
		return 0;
	}
	for (const char *p = res->report; *p; p++)
		if (*p == '\n')
			lines++;
	if (res->report[strlen(res->report) - 1] != '\n')
		lines++;
	snprintf(res->summary, sizeof(res->summary), "%d item%s would be refused", lines,
		 lines == 1 ? "" : "s");
	return 0;
}

static void ckpt_summary(const struct rtcr_ckpt_req *r, struct rtcr_ckpt_result *res)
{
	char pause[32], cap[32], wr[32], mem[32], img[32];
	int n;

	fmt_duration(res->pause_ns, pause, sizeof(pause));
	fmt_duration(res->capture_ns, cap, sizeof(cap));
	fmt_duration(res->write_ns, wr, sizeof(wr));
	summary_bytes(res->mem_bytes, mem, sizeof(mem));
	summary_bytes(res->image_bytes, img, sizeof(img));
	n = snprintf(res->summary, sizeof(res->summary),
		     "checkpoint %s -> %s: %s%spaused %s, memory %s, image %s (capture %s, write "
		     "%s)%s",
		     r->name, r->dir, res->incremental ? "incremental, " : "",
		     r->live ? "live, " : "", pause, mem, img, cap, wr,
		     r->kill ? ", target killed" : "");
	if (n < 0 || (size_t)n >= sizeof(res->summary)) {
		/* the path is what makes it long: say so rather than cut it */
		snprintf(res->summary, sizeof(res->summary),
			 "checkpoint %s: paused %s, memory %s, image %s (capture %s, write "
			 "%s)%s",
			 r->name, pause, mem, img, cap, wr, r->kill ? ", target killed" : "");
	}
}

/* The reply's fields into res, and the line for the user. */
static int ckpt_read_reply(const struct rtcr_ckpt_req *r, const char *reply,
			   struct rtcr_ckpt_result *res)
{
	uint64_t depth = 0;

	ctl_get_u64(reply, "pause_ns", &res->pause_ns);
	ctl_get_u64(reply, "capture_ns", &res->capture_ns);
	ctl_get_u64(reply, "write_ns", &res->write_ns);
	ctl_get_u64(reply, "mem_bytes", &res->mem_bytes);
	ctl_get_u64(reply, "image_bytes", &res->image_bytes);
	ctl_get_u64(reply, "depth", &depth);
	res->chain_depth = (unsigned)depth;
	ctl_get_field(reply, "image_id", res->image_id, sizeof(res->image_id));
	if (ctl_get_field(reply, "parent_id", res->parent_id, sizeof(res->parent_id)) == 0 &&
	    res->parent_id[0])
		res->incremental = true;
	if (r->dry_run)
		return ckpt_dry_summary(reply, res);
	ckpt_summary(r, res);
	ctl_get_field(reply, "losses", res->losses, sizeof(res->losses));
	for (const char *p = res->losses; *p; p++)
		if (*p == '\n' || !p[1])
			res->nlosses++;
	return 0;
}

int rtcr_checkpoint(const struct rtcr_ckpt_req *r, struct rtcr_ckpt_result *res)
{
	char dir[PATH_MAX], absdir[PATH_MAX], absparent[PATH_MAX];
	char *req = NULL;
	char *reply = NULL;
	int fd = -1, dirfd = -1, ret;

	memset(res, 0, sizeof(*res));
	if (r->incremental && r->full) {
		pr_err("--incremental and --full exclude each other");
		return -EINVAL;
	}
	if (r->parent && !realpath(r->parent, absparent))
		return pr_perror("parent image %s", r->parent);
	if (!r->dry_run && (!r->dir || !*r->dir)) {
		pr_err("no image directory given");
		return -EINVAL;
	}
	fd = connect_target(r->name, dir, sizeof(dir));
	if (fd < 0)
		return fd;
	if (!r->dry_run) {
		ret = ckpt_open_dir(r->dir, &dirfd, absdir);
		if (ret)
			goto out;
	}
	reply = malloc(CTL_REPLY_MAX);
	if (!reply) {
		ret = -ENOMEM;
		pr_err("out of memory");
		goto out;
	}
	ret = ckpt_request_line(r, absdir, absparent, &req);
	if (ret)
		goto out;
	ret = ctl_request(fd, req, dirfd, reply, CTL_REPLY_MAX, 0);
	if (ret == -ECONNRESET) {
		pr_err("the parent of '%s' went away during the checkpoint", r->name);
		goto out;
	}
	if (ret)
		goto out;
	ret = ckpt_read_reply(r, reply, res);
out:
	free(req);
	free(reply);
	if (dirfd >= 0)
		close(dirfd);
	if (fd >= 0)
		close(fd);
	return ret;
}

int rtcr_kill(const char *name, int sig)
{
	char dir[PATH_MAX], req[32], reply[256];
	int fd, ret;

	if (sig < 0 || sig > SIGRTMAX) {
		pr_err("invalid signal %d", sig);
		return -EINVAL;
	}
	fd = connect_target(name, dir, sizeof(dir));
	if (fd < 0)
		return fd;
	snprintf(req, sizeof(req), "kill %d", sig);
	ret = ctl_request(fd, req, -1, reply, sizeof(reply), 30000);
	if (ret == -ECONNRESET)
		ret = no_target(NULL, name); /* it ended meanwhile */
	else if (ret == -ETIMEDOUT)
		pr_err("the parent of '%s' does not answer", name);
	close(fd);
	return ret;
}

/* Take the status left by an exited target (and remove it), if it belongs to pid (0: any). */
static int take_status(const char *dir, const char *name, pid_t pid, int *status)
{
	struct rundir_record r;
	int ret = rundir_read_record(dir, name, RUNDIR_STATUS, &r);

	if (ret)
		return ret;
	if (pid && r.pid != pid)
		return -ENOENT;
	*status = r.status;
	rundir_remove(dir, name, RUNDIR_STATUS);
	return 0;
}

int rtcr_wait(const char *name)
{
	char dir[PATH_MAX], reply[256];
	int fd, ret, status;

	if (!name || rundir_check_name(name))
		return -EINVAL;
	ret = rundir_locate(dir, sizeof(dir));
	if (ret)
		return ret;
	fd = rundir_connect(dir, name);
	if (fd == -ENOENT) {
		ret = take_status(dir, name, 0, &status);
		if (ret == -ENOENT)
			return no_target(dir, name);
		return ret ? ret : status;
	}
	if (fd < 0)
		return fd;
	ret = ctl_request(fd, "wait", -1, reply, sizeof(reply), 0);
	close(fd);
	if (ret == -ECONNRESET) {
		/* It ended while we connected: the status is in the file. */
		ret = take_status(dir, name, 0, &status);
		if (ret == -ENOENT) {
			pr_err("the parent of '%s' went away without an exit status", name);
			return -EIO;
		}
		return ret ? ret : status;
	}
	if (ret)
		return ret;
	if (ctl_get_int(reply, "status", &status)) {
		pr_err("malformed reply from the parent: '%.100s'", reply);
		return -EPROTO;
	}
	{
		int pid = 0, dummy;

		ctl_get_int(reply, "pid", &pid);
		take_status(dir, name, pid, &dummy); /* consumed: like waitpid */
	}
	return status;
}

int rtcr_log(const char *name, int fd)
{
	char dir[PATH_MAX], path[PATH_MAX];
	char buf[65536];
	int in, ret = 0;

	if (!name || rundir_check_name(name))
		return -EINVAL;
	ret = rundir_locate(dir, sizeof(dir));
	if (ret)
		return ret;
	ret = rundir_path(path, sizeof(path), dir, name, RUNDIR_LOG);
	if (ret)
		return ret;
	in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		if (errno == ENOENT)
			return no_target(NULL, name);
		return pr_perror("cannot open %s", path);
	}
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		size_t off = 0;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = pr_perror("cannot read %s", path);
			break;
		}
		if (n == 0)
			break;
		while (off < (size_t)n) {
			ssize_t w = write(fd, buf + off, (size_t)n - off);

			if (w < 0) {
				if (errno == EINTR)
					continue;
				ret = pr_perror("cannot write the log");
				goto out;
			}
			off += (size_t)w;
		}
	}
out:
	close(in);
	return ret;
}

/* ---- rtcr_list ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_suffix(const char *s, const char *suf, size_t *base)
{
	size_t n = strlen(s), m = strlen(suf);

	if (n <= m || strcmp(s + n - m, suf))
		return false;
	*base = n - m;
	return true;
}

static void info_from_record(struct rtcr_target_info *ti, const struct rundir_record *r)
{
	snprintf(ti->name, sizeof(ti->name), "%s", r->name);
	ti->pid = r->pid;
	ti->ns_pid = r->ns_pid;
	ti->parent_pid = r->parent_pid;
	ti->started_ns = r->started_ns;
	snprintf(ti->command, sizeof(ti->command), "%s", r->command);
	snprintf(ti->origin, sizeof(ti->origin), "%s", r->origin);
}

/* Fill ti for one name; false if there is nothing to show. */
static bool list_one(const char *dir, const char *name, struct rtcr_target_info *ti)
{
	struct rundir_record r, sr;
	bool have_info = rundir_read_record(dir, name, RUNDIR_INFO, &r) == 0;
	int fd;

	memset(ti, 0, sizeof(*ti));
	fd = rundir_connect(dir, name);
	if (fd >= 0) {
		char reply[2048];
		int ret = ctl_request(fd, "info", -1, reply, sizeof(reply), 2000);
		int v;

		close(fd);
		if (ret == 0) {
			snprintf(ti->name, sizeof(ti->name), "%s", name);
			if (!ctl_get_int(reply, "pid", &v))
				ti->pid = v;
			if (!ctl_get_int(reply, "ns_pid", &v))
				ti->ns_pid = v;
			if (!ctl_get_int(reply, "parent_pid", &v))
				ti->parent_pid = v;
			ctl_get_u64(reply, "started_ns", &ti->started_ns);
			ctl_get_field(reply, "state", ti->state, sizeof(ti->state));
			if (ctl_get_field(reply, "command", ti->command, sizeof(ti->command)) ==
			    -ENAMETOOLONG)
				snprintf(ti->command, sizeof(ti->command), "%s",
					 have_info ? r.command : "?");
			if (ctl_get_field(reply, "origin", ti->origin, sizeof(ti->origin)) ==
			    -ENAMETOOLONG)
				snprintf(ti->origin, sizeof(ti->origin), "%s",
					 have_info ? r.origin : "?");
			if (!ctl_get_int(reply, "status", &v))
				ti->status = v;
			return true;
		}
		if (have_info) {
			/* alive but not answering (busy with a long capture) */
			info_from_record(ti, &r);
			snprintf(ti->state, sizeof(ti->state), "busy");
			return true;
		}
	}
	if (rundir_read_record(dir, name, RUNDIR_STATUS, &sr) == 0) {
		info_from_record(ti, &sr);
		ti->status = sr.status;
		snprintf(ti->state, sizeof(ti->state), "exited");
		return true;
	}
	if (have_info) {
		/* an info file without a live parent: the parent died */
		info_from_record(ti, &r);
		snprintf(ti->state, sizeof(ti->state), "lost");
		return true;
	}
	return false;
}

int rtcr_list(struct rtcr_target_info *out, int max)
{
	char dir[PATH_MAX];
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int ret, count = 0;

	ret = rundir_locate(dir, sizeof(dir));
	if (ret)
		return ret;
	d = opendir(dir);
	if (!d)
		return pr_perror("cannot open run directory %s", dir);
	while ((de = readdir(d))) {
		char name[RTCR_NAME_MAX + 1];
		size_t base;

		if (!has_suffix(de->d_name, RUNDIR_INFO, &base) &&
		    !has_suffix(de->d_name, RUNDIR_STATUS, &base))
			continue;
		if (base > RTCR_NAME_MAX)
			continue;
		memcpy(name, de->d_name, base);
		name[base] = '\0';
		if (!rundir_name_ok(name))
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			char **nn = realloc(names, nc * sizeof(*nn));

			if (!nn) {
				ret = -ENOMEM;
				pr_err("out of memory");
				goto out;
			}
			names = nn;
			cap = nc;
		}
		names[n] = strdup(name);
		if (!names[n]) {
			ret = -ENOMEM;
			pr_err("out of memory");
			goto out;
		}
		n++;
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		struct rtcr_target_info ti;

		if (i && !strcmp(names[i], names[i - 1]))
			continue;
		if (!list_one(dir, names[i], &ti))
			continue;
		if (count < max && out)
			out[count] = ti;
		count++;
	}
	ret = count;
out:
	closedir(d);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ret;
}

int rtcr_thaw(const char *name)
{
	char dir[PATH_MAX], reply[512];
	int fd, ret;

	fd = connect_target(name, dir, sizeof(dir));
	if (fd < 0)
		return fd;
	ret = ctl_request(fd, "thaw", -1, reply, sizeof(reply), 30000);
	if (ret == -ETIMEDOUT)
		pr_err("the parent of '%s' does not answer", name);
	close(fd);
	return ret;
}

/* ---- migration ---- */

struct mig_poll {
	const struct rtcr_migrate_req *r;
	volatile int stop;
};

static void *mig_progress_thread(void *arg)
{
	struct mig_poll *mp = arg;
	char dir[PATH_MAX], reply[512];

	while (!mp->stop) {
		struct timespec ts = {0, 250 * 1000 * 1000};
		int fd;

		nanosleep(&ts, NULL);
		if (mp->stop)
			break;
		fd = connect_target(mp->r->name, dir, sizeof(dir));
		if (fd < 0)
			break;
		if (ctl_request(fd, "migstat", -1, reply, sizeof(reply), 2000) == 0) {
			char phase[32] = "";
			uint64_t round = 0, sent = 0, rb = 0, dirty = 0, rate = 0;

			ctl_get_field(reply, "phase", phase, sizeof(phase));
			ctl_get_u64(reply, "round", &round);
			ctl_get_u64(reply, "sent", &sent);
			ctl_get_u64(reply, "round_bytes", &rb);
			ctl_get_u64(reply, "dirty", &dirty);
			ctl_get_u64(reply, "rate", &rate);
			if (!mp->stop)
				mp->r->progress(mp->r->arg, phase, (unsigned)round, sent, rb, dirty,
						rate);
		}
		close(fd);
	}
	return NULL;
}

int rtcr_migrate(const struct rtcr_migrate_req *r, struct rtcr_migrate_result *res)
{
	char dir[PATH_MAX], key[PATH_MAX], *req = NULL, *reply = NULL;
	size_t reqlen = 0;
	struct mig_poll mp = {.r = r};
	pthread_t th;
	bool polling = false;
	FILE *m;
	int fd, ret;

	memset(res, 0, sizeof(*res));
	if (!r->to || !r->key_file) {
		pr_err("no destination or no key file");
		return -EINVAL;
	}
	if (!realpath(r->key_file, key))
		return pr_perror("key file %s", r->key_file);
	fd = connect_target(r->name, dir, sizeof(dir));
	if (fd < 0)
		return fd;
	m = open_memstream(&req, &reqlen);
	if (!m) {
		close(fd);
		return -ENOMEM;
	}
	fputs("migrate to=", m);
	ctl_put_value(m, r->to);
	fputs(" key=", m);
	ctl_put_value(m, key);
	fprintf(m, " mode=%s max_downtime_ms=%u max_rounds=%u timeout_ms=%d on_no_converge=%s",
		r->stop ? "stop" : "precopy", r->max_downtime_ms ? r->max_downtime_ms : 50,
		r->max_rounds ? r->max_rounds : 30, r->timeout_ms > 0 ? r->timeout_ms : 10000,
		r->abort_on_no_converge ? "abort" : "stop");
	if (r->allow_loss)
		fprintf(m, " allow_loss=%u", r->allow_loss);
	if (fclose(m)) {
		close(fd);
		return -ENOMEM;
	}
	reply = malloc(CTL_REPLY_MAX);
	if (!reply) {
		ret = -ENOMEM;
		goto out;
	}
	if (r->progress && pthread_create(&th, NULL, mig_progress_thread, &mp) == 0)
		polling = true;
	ret = ctl_request(fd, req, -1, reply, CTL_REPLY_MAX, 0);
	mp.stop = 1;
	if (polling)
		pthread_join(th, NULL);
	if (ret == -ECONNRESET) {
		pr_err("the parent of '%s' went away during the migration", r->name);
		goto out;
	}
	if (ret)
		goto out;
	ctl_get_u64(reply, "total_ns", &res->total_ns);
	ctl_get_u64(reply, "downtime_ns", &res->downtime_ns);
	ctl_get_u64(reply, "predicted_ns", &res->predicted_ns);
	ctl_get_u64(reply, "bytes", &res->bytes_sent);
	ctl_get_u64(reply, "memory", &res->memory_bytes);
	{
		uint64_t v = 0;

		ctl_get_u64(reply, "rounds", &v);
		res->rounds = (unsigned)v;
		v = 0;
		ctl_get_u64(reply, "converged", &v);
		res->converged = v != 0;
	}
	ctl_get_field(reply, "mode", res->mode, sizeof(res->mode));
	ctl_get_field(reply, "dest", res->dest_name, sizeof(res->dest_name));
out:
	free(req);
	free(reply);
	close(fd);
	return ret;
}
