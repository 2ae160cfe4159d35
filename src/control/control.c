/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The client side of the control protocol, and the public API built on it.
 *
 * ---- The control protocol ----
 *
 * Every running target has a parent (the supervisor, supervisor.c) that
 * listens on RUNDIR/NAME.sock, an AF_UNIX SOCK_STREAM socket of mode 0600.
 * The parent serves only peers whose uid (SO_PEERCRED) is its own or 0;
 * others get "error permission denied" and are disconnected.
 *
 * A client sends requests, one per line ('\n'-terminated, at most 4096
 * bytes, words separated by spaces). Every line gets exactly one reply
 * line, in order; a connection may carry any number of requests.
 *
 *   info                      -> ok name=N pid=P ns_pid=Q parent_pid=R
 *                                   init_pid=I state=S started_ns=T
 *                                   [status=X] command=C origin=O
 *         state: running, stopped (group-stop), checkpointing, exited
 *   kill SIGNO                -> ok          (SIGNO: decimal, 0..SIGRTMAX)
 *   wait                      -> (when the target has ended and its output
 *                                 is drained) ok status=X raw_status=W pid=P
 *   checkpoint [kill] [dry-run] [incremental|full] [live] [dir=PATH] [parent=PATH]
 *                             -> ok pause_ns=.. capture_ns=.. write_ns=..
 *                                   mem_bytes=.. image_bytes=.. [report=R]
 *                                   [image_id=ID depth=N [parent_id=ID]]
 *         dir= is the directory's absolute path (recorded as the parent
 *         of the next incremental image); parent= the image an
 *         incremental one must build on.
 *         Unless dry-run, the request carries the image directory as an
 *         open directory fd (SCM_RIGHTS, sent with the request's bytes):
 *         the client creates and opens the directory, so relative paths
 *         mean what the user meant. report= (dry-run only) lists what a
 *         checkpoint would refuse, one per line ("" when nothing).
 *         One checkpoint at a time: "error checkpoint already in progress".
 *
 * Replies are either
 *   ok [KEY=VALUE]...      values escaped: "\\" backslash, "\s" space,
 *                          "\n" newline, "\xHH" other control bytes
 *   error MESSAGE          the rest of the line, for the user
 * Unknown or malformed requests get "error ...". A `wait` or `checkpoint`
 * holds the requests after it until it is answered. When the target ends,
 * the parent writes NAME.status, removes NAME.sock and NAME.info, answers
 * every `wait`, and closes all connections.
 */
#define LOG_PREFIX ""
#include "control/control.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "control/rundir.h"
#include "rtcr/rtcr.h"

/* ---- protocol helpers ---- */

void ctl_put_value(FILE *f, const char *s)
{
	rundir_put_escaped(f, s, true);
}

void ctl_unescape(char *s)
{
	/* the text only shrinks: in place */
	rundir_get_escaped(s, strlen(s) + 1, s);
}

int ctl_get_field(const char *reply, const char *key, char *val, size_t len)
{
	size_t kl = strlen(key);
	const char *p = reply;

	while ((p = strchr(p, ' '))) {
		p++;
		if (!strncmp(p, key, kl) && p[kl] == '=') {
			const char *v = p + kl + 1;
			size_t vl = strcspn(v, " ");

			if (vl >= len)
				return -ENAMETOOLONG;
			memcpy(val, v, vl);
			val[vl] = '\0';
			ctl_unescape(val);
			return 0;
		}
	}
	return -ENOENT;
}

int ctl_get_u64(const char *reply, const char *key, uint64_t *v)
{
	char buf[32];
	char *end;
	int ret = ctl_get_field(reply, key, buf, sizeof(buf));

	if (ret)
		return ret;
	errno = 0;
	*v = strtoull(buf, &end, 10);
	if (errno || *end || end == buf)
		return -EINVAL;
	return 0;
}

int ctl_get_int(const char *reply, const char *key, int *v)
{
	char buf[32];
	char *end;
	long l;
	int ret = ctl_get_field(reply, key, buf, sizeof(buf));

	if (ret)
		return ret;
	errno = 0;
	l = strtol(buf, &end, 10);
	if (errno || *end || end == buf || l < INT_MIN || l > INT_MAX)
		return -EINVAL;
	*v = (int)l;
	return 0;
}

static int send_all(int fd, const char *p, size_t n, int send_fd)
{
	bool first = true;

	while (n) {
		char cbuf[CMSG_SPACE(sizeof(int))];
		struct iovec iov = {.iov_base = (void *)p, .iov_len = n};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
		ssize_t w;

		if (first && send_fd >= 0) {
			struct cmsghdr *cm;

			memset(cbuf, 0, sizeof(cbuf));
			mh.msg_control = cbuf;
			mh.msg_controllen = sizeof(cbuf);
			cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cm), &send_fd, sizeof(int));
		}
		w = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EPIPE || errno == ECONNRESET)
				return -ECONNRESET;
			return pr_perror("cannot send a request to the parent");
		}
		first = false;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int ctl_request(int fd, const char *req, int send_fd, char *reply, size_t len, int timeout_ms)
{
	uint64_t deadline = timeout_ms > 0 ? mono_ms() + (uint64_t)timeout_ms : 0;
	size_t rl = strlen(req), got = 0;
	char *line;
	int ret;

	if (len < 2)
		return -EINVAL;
	line = malloc(rl + 2);
	if (!line) {
		pr_err("out of memory");
		return -ENOMEM;
	}
	memcpy(line, req, rl);
	line[rl] = '\n';
	ret = send_all(fd, line, rl + 1, send_fd);
	free(line);
	if (ret)
		return ret;

	/* Read up to and including the newline, not beyond: the connection
	 * may carry more replies. Replies are short; byte-wise peeking is not
	 * worth it, so read with MSG_PEEK and consume what belongs to us. */
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int wait = -1;
		ssize_t n;
		char *nl;

		if (deadline) {
			uint64_t now = mono_ms();

			if (now >= deadline)
				return -ETIMEDOUT;
			wait = (int)(deadline - now);
		}
		n = poll(&p, 1, wait);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return pr_perror("poll");
		}
		if (n == 0)
			return -ETIMEDOUT;
		if (got + 1 >= len) {
			pr_err("reply from the parent is too long");
			return -EPROTO;
		}
		n = recv(fd, reply + got, len - 1 - got, MSG_PEEK);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			if (errno == ECONNRESET)
				return -ECONNRESET;
			return pr_perror("cannot read the reply of the parent");
		}
		if (n == 0)
			return -ECONNRESET;
		nl = memchr(reply + got, '\n', (size_t)n);
		if (nl)
			n = nl - (reply + got) + 1;
		n = recv(fd, reply + got, (size_t)n, 0);
		if (n <= 0)
			return -ECONNRESET;
		got += (size_t)n;
		if (nl)
			break;
	}
	reply[got - 1] = '\0';
	if (!strncmp(reply, "ok", 2) && (reply[2] == '\0' || reply[2] == ' '))
		return 0;
	if (!strncmp(reply, "error ", 6)) {
		pr_err("%s", reply + 6);
		return -EIO;
	}
	pr_err("unexpected reply from the parent: '%.100s'", reply);
	return -EPROTO;
}

/* ---- the public API ---- */

void rtcr_set_verbosity(int level)
{
	log_set_level(level);
}

const char *rtcr_last_error(void)
{
	return log_last_error();
}

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
	ret = rtcr_rundir(dir, dirlen);
	if (ret)
		return ret;
	ret = rundir_connect(dir, name);
	if (ret == -ENOENT)
		return no_target(dir, name);
	return ret;
}

static int mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(tmp)) {
		pr_err("bad directory path '%s'", path);
		return -ENAMETOOLONG;
	}
	memcpy(tmp, path, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) && errno != EEXIST)
			return pr_perror("cannot create %s", tmp);
		*p = '/';
	}
	if (mkdir(tmp, 0755) && errno != EEXIST)
		return pr_perror("cannot create %s", tmp);
	return 0;
}

static void fmt_time(char *buf, size_t len, uint64_t ns)
{
	double ms = (double)ns / 1e6;

	if (ms < 10)
		snprintf(buf, len, "%.1f ms", ms);
	else if (ms < 10000)
		snprintf(buf, len, "%.0f ms", ms);
	else
		snprintf(buf, len, "%.1f s", ms / 1000);
}

static void fmt_bytes(char *buf, size_t len, uint64_t b)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)b;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)b);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
}

int rtcr_checkpoint(const struct rtcr_ckpt_req *r, struct rtcr_ckpt_result *res)
{
	char dir[PATH_MAX], absdir[PATH_MAX], absparent[PATH_MAX];
	char *req = NULL;
	size_t reqlen = 0;
	FILE *m;
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
		ret = mkdir_p(r->dir);
		if (ret)
			goto out;
		dirfd = open(r->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dirfd < 0) {
			ret = pr_perror("cannot open image directory %s", r->dir);
			goto out;
		}
		if (!realpath(r->dir, absdir)) {
			ret = pr_perror("image directory %s", r->dir);
			goto out;
		}
	}
	reply = malloc(CTL_REPLY_MAX);
	if (!reply) {
		ret = -ENOMEM;
		pr_err("out of memory");
		goto out;
	}
	m = open_memstream(&req, &reqlen);
	if (!m) {
		ret = -ENOMEM;
		goto out;
	}
	fprintf(m, "checkpoint%s%s%s%s%s", r->kill ? " kill" : "", r->dry_run ? " dry-run" : "",
		r->incremental ? " incremental" : "", r->full ? " full" : "",
		r->live ? " live" : "");
	if (!r->dry_run) {
		fputs(" dir=", m);
		ctl_put_value(m, absdir);
	}
	if (r->parent) {
		fputs(" parent=", m);
		ctl_put_value(m, absparent);
	}
	if (fclose(m)) {
		ret = -ENOMEM;
		goto out;
	}
	ret = ctl_request(fd, req, dirfd, reply, CTL_REPLY_MAX, 0);
	if (ret == -ECONNRESET) {
		pr_err("the parent of '%s' went away during the checkpoint", r->name);
		goto out;
	}
	if (ret)
		goto out;
	ctl_get_u64(reply, "pause_ns", &res->pause_ns);
	ctl_get_u64(reply, "capture_ns", &res->capture_ns);
	ctl_get_u64(reply, "write_ns", &res->write_ns);
	ctl_get_u64(reply, "mem_bytes", &res->mem_bytes);
	ctl_get_u64(reply, "image_bytes", &res->image_bytes);
	{
		uint64_t depth = 0;

		ctl_get_u64(reply, "depth", &depth);
		res->chain_depth = (unsigned)depth;
		ctl_get_field(reply, "image_id", res->image_id, sizeof(res->image_id));
		if (ctl_get_field(reply, "parent_id", res->parent_id, sizeof(res->parent_id)) ==
			0 &&
		    res->parent_id[0])
			res->incremental = true;
	}
	if (r->dry_run) {
		int rr = ctl_get_field(reply, "report", res->report, sizeof(res->report));

		if (rr == -ENAMETOOLONG) {
			pr_err("the dry-run report does not fit in %zu bytes", sizeof(res->report));
			ret = -ENAMETOOLONG;
			goto out;
		}
		if (!res->report[0])
			snprintf(res->summary, sizeof(res->summary), "nothing would be refused");
		else {
			int lines = 0;

			for (const char *p = res->report; *p; p++)
				if (*p == '\n')
					lines++;
			if (res->report[strlen(res->report) - 1] != '\n')
				lines++;
			snprintf(res->summary, sizeof(res->summary), "%d item%s would be refused",
				 lines, lines == 1 ? "" : "s");
		}
	} else {
		char pause[32], cap[32], wr[32], mem[32], img[32];
		int n;

		fmt_time(pause, sizeof(pause), res->pause_ns);
		fmt_time(cap, sizeof(cap), res->capture_ns);
		fmt_time(wr, sizeof(wr), res->write_ns);
		fmt_bytes(mem, sizeof(mem), res->mem_bytes);
		fmt_bytes(img, sizeof(img), res->image_bytes);
		n = snprintf(
		    res->summary, sizeof(res->summary),
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
				 r->name, pause, mem, img, cap, wr,
				 r->kill ? ", target killed" : "");
		}
	}
	ret = 0;
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
	ret = rtcr_rundir(dir, sizeof(dir));
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
	ret = rtcr_rundir(dir, sizeof(dir));
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

	ret = rtcr_rundir(dir, sizeof(dir));
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
