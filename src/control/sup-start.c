/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Starting a target (see sup-internal.h): run or restore under this
 * process as its parent, in the foreground or detached (a daemon).
 */
#define LOG_PREFIX "supervisor: "
#include "control/sup-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"
#include "control/rundir.h"
#include "control/supervisor.h"
#include "image/image.h"

void sup_default_name(const char *src, char *out, size_t len)
{
	const char *base = src ? strrchr(src, '/') : NULL;
	size_t o = 0;

	base = base ? base + 1 : (src ? src : "");
	while (*base == '.' || *base == '-')
		base++;
	for (; *base && o + 1 < len && o < RTCR_NAME_MAX; base++) {
		char c = *base;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			c = '_';
		out[o++] = c;
	}
	out[o] = '\0';
	if (!o)
		snprintf(out, len, "target");
}

int sup_reserve_name(struct sup *s, const struct start *st)
{
	int lk, ret;

	lk = rundir_lock(s->dir);
	if (lk < 0)
		return lk;
	ret = rundir_choose_name(s->dir, st->want, st->explicit_name, s->name, sizeof(s->name));
	if (ret)
		goto out;
	ret = rundir_listen(s->dir, s->name);
	if (ret < 0)
		goto out;
	s->lsock = ret;
	s->sock_made = true;
	ret = rundir_remove(s->dir, s->name, RUNDIR_STATUS); /* of an earlier target */
out:
	rundir_unlock(lk);
	return ret;
}

static int dup_argv(char *const *argv, char ***out)
{
	size_t n = 0;
	char **v;

	while (argv[n])
		n++;
	v = calloc(n + 1, sizeof(*v));
	if (!v)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		v[i] = strdup(argv[i]);
		if (!v[i]) {
			for (size_t j = 0; j < i; j++)
				free(v[j]);
			free(v);
			goto oom;
		}
	}
	*out = v;
	return 0;
oom:
	pr_err("out of memory");
	return -ENOMEM;
}

/* At the exec stop: the first instruction of the program has not run. An
 * exec stop is no place for injected calls (the kernel is still finishing
 * execve): move the thread into an interrupt stop first. */
static int arm_at_exec(void *arg, pid_t pid, pid_t ns_pid)
{
	struct sup *s = arg;
	int st;

	if (ptrace(PTRACE_INTERRUPT, pid, 0, 0) < 0 || ptrace(PTRACE_CONT, pid, 0, 0) < 0)
		return pr_perror("dirty tracking: stop %d after its exec", (int)pid);
	for (;;) {
		if (waitpid(pid, &st, __WALL) < 0) {
			if (errno == EINTR)
				continue;
			return pr_perror("dirty tracking: wait for %d", (int)pid);
		}
		if (!WIFSTOPPED(st))
			return -ESRCH;
		if ((st >> 16) == PTRACE_EVENT_STOP)
			break;
		/* a signal-delivery stop (none is expected here): deliver it */
		ptrace(PTRACE_CONT, pid, 0, (void *)(long)((st >> 16) ? 0 : WSTOPSIG(st)));
	}
	return track_arm_process(s->tk, NULL, pid, (uint32_t)ns_pid);
}

int sup_start_target(struct sup *s, const struct start *st)
{
	int ret;

	/* parsed before anything started; the tracker's thread is ours */
	ret = track_new(&st->track, &s->tk);
	if (ret)
		return ret;

	if (!st->restore) {
		struct launch_spec spec = {
		    .kind = LAUNCH_EXEC,
		    .argv = st->run->argv,
		    .stub_sock = -1,
		    .mono_off = 0,
		    .boot_off = 0,
		    .at_exec = s->tk ? arm_at_exec : NULL,
		    .at_exec_arg = s,
		};

		/* owned by the target: recorded in images, freed at the end */
		ret = dup_argv(st->run->argv, &s->t.argv);
		if (ret)
			return ret;
		ret = launch_target(&spec, &s->t);
		if (ret)
			return ret;
	} else {
		struct restore_req req = {
		    .dir = st->rst->dir,
		    .name = s->name,
		    .ignore_cpu = st->rst->ignore_cpu,
		    .im = st->im,
		    .frozen = st->im != NULL,
		};

		ret = restore_target(&req, &s->t);
		if (ret)
			return ret;
	}
	snprintf(s->t.name, sizeof(s->t.name), "%s", s->name);
	if ((size_t)snprintf(s->t.origin, sizeof(s->t.origin), "%s", st->origin) >=
	    sizeof(s->t.origin))
		pr_warn("origin '%s' shortened", st->origin);
	if (!s->t.started_ns)
		s->t.started_ns = sup_real_ns();
	rundir_join_argv(s->t.argv, s->command, sizeof(s->command));
	return 0;
}

/* ---- foreground or detached ---- */

static int devnull_stdio(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return pr_perror("cannot open /dev/null");
	for (int i = 0; i < 3; i++)
		if (dup2(fd, i) < 0)
			return pr_perror("dup2");
	if (fd > 2)
		close(fd);
	return 0;
}

/*
 * Detached: the supervisor is a grandchild in its own session (double
 * fork, so that it is never a child of the caller to be reaped); it reports
 * through a pipe. Returns 0 once it is ready, -errno on failure.
 */
static int start_detached(const struct start *st, const char *log_file)
{
	char buf[1200];
	size_t len = 0;
	int p[2], status, ret = 0;
	pid_t child;

	if (pipe2(p, O_CLOEXEC))
		return pr_perror("pipe");
	fflush(NULL);
	child = fork();
	if (child < 0) {
		ret = pr_perror("fork");
		close(p[0]);
		close(p[1]);
		return ret;
	}
	if (child == 0) {
		pid_t gc;
		int w;

		close(p[0]);
		if (setsid() < 0) {
			dprintf(p[1], "error setsid: %s\n", strerror(errno));
			_exit(1);
		}
		gc = fork();
		if (gc < 0) {
			dprintf(p[1], "error fork: %s\n", strerror(errno));
			_exit(1);
		}
		if (gc > 0)
			_exit(0);
		/* The supervisor. Keep nothing of the caller's but the ready
		 * pipe (moved to fd 3): an inherited pipe would keep the
		 * caller's reader waiting. */
		w = fcntl(p[1], F_DUPFD_CLOEXEC, 10); /* clear of stdio */
		if (w < 0 || devnull_stdio() || dup3(w, 3, O_CLOEXEC) < 0) {
			dprintf(w < 0 ? p[1] : w, "error %s\n",
				*log_last_error() ? log_last_error() : strerror(errno));
			_exit(1);
		}
		p[1] = 3;
		syscall(SYS_close_range, 4U, ~0U, 0U);
		log_set_fd(-1); /* until NAME.log is open */
		ret = sup_supervise(st, true, log_file, p[1]);
		_exit(ret < 0 ? 1 : 0);
	}
	close(p[1]);
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	for (;;) {
		ssize_t n = read(p[0], buf + len, sizeof(buf) - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == sizeof(buf) - 1 || memchr(buf, '\n', len))
			break;
	}
	close(p[0]);
	buf[len] = '\0';
	if (len && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (!strncmp(buf, "ready ", 6)) {
		if (st->name_out) {
			snprintf(st->name_out, st->name_len, "%s", buf + 6);
			return 0;
		}
		printf("%s\n", buf + 6);
		fflush(stdout);
		return 0;
	}
	if (!strncmp(buf, "error ", 6)) {
		/* already prefixed where it was logged */
		log_msg(LOG_ERR, __FILE__, __LINE__, "%s", buf + 6);
		return -EIO;
	}
	pr_err("the detached parent exited before the target ran");
	return -EIO;
}

static int start(const struct start *st, bool detach, const char *log_file)
{
	char abs_log[PATH_MAX];

	if (log_file && log_file[0] != '/' && detach) {
		/* resolve now: keep the meaning the user had in mind */
		if (!getcwd(abs_log, sizeof(abs_log)))
			return pr_perror("getcwd");
		if ((size_t)snprintf(abs_log + strlen(abs_log), sizeof(abs_log) - strlen(abs_log),
				     "/%s", log_file) >= sizeof(abs_log) - strlen(abs_log)) {
			pr_err("log file path %s is too long", log_file);
			return -ENAMETOOLONG;
		}
		log_file = abs_log;
	}
	if (detach)
		return start_detached(st, log_file);
	return sup_supervise(st, false, log_file, -1);
}

int sup_run(const struct rtcr_run_opts *o, const struct track_opts *track)
{
	struct start st = {0};
	char want[RTCR_NAME_MAX + 1];

	if (!o || !o->argv || !o->argv[0] || !o->argv[0][0]) {
		pr_err("no program to run");
		return -EINVAL;
	}
	if (o->name) {
		if (rundir_check_name(o->name))
			return -EINVAL;
		st.want = o->name;
		st.explicit_name = true;
	} else {
		sup_default_name(o->argv[0], want, sizeof(want));
		st.want = want;
	}
	st.run = o;
	if (track)
		st.track = *track;
	snprintf(st.origin, sizeof(st.origin), "run");
	return start(&st, o->detach, o->log_file);
}

int sup_restore_received(struct img *im, const char *want, char *name_out, size_t len)
{
	static struct rtcr_restore_opts ro; /* the detached child reads it */
	struct start st = {0};
	char w[RTCR_NAME_MAX + 1];
	int ret;

	memset(&ro, 0, sizeof(ro));
	ro.dir = NULL;
	sup_default_name(want, w, sizeof(w));
	st.want = w;
	st.restore = true;
	st.rst = &ro;
	st.im = im;
	st.name_out = name_out;
	st.name_len = len;
	snprintf(st.origin, sizeof(st.origin), "migrated from %s", want);
	ret = start(&st, true, NULL);
	/* the detached parent has its own copy; ours goes */
	img_close(im);
	return ret;
}

int sup_restore(const struct rtcr_restore_opts *o, const struct track_opts *track)
{
	struct start st = {0};
	struct rtcr_restore_opts ro;
	char want[RTCR_NAME_MAX + 1];
	char absdir[PATH_MAX];
	int n;

	if (!o || !o->dir || !*o->dir) {
		pr_err("no image directory given");
		return -EINVAL;
	}
	if (!realpath(o->dir, absdir))
		return pr_perror("cannot open image directory %s", o->dir);
	ro = *o;
	ro.dir = absdir;
	/* as for a run, but the default name comes from the image */
	if (o->name) {
		if (rundir_check_name(o->name))
			return -EINVAL;
		st.want = o->name;
		st.explicit_name = true;
	} else {
		char img_name[256];
		int ret = restore_peek_name(absdir, img_name, sizeof(img_name));

		if (ret)
			return ret;
		sup_default_name(img_name, want, sizeof(want));
		st.want = want;
	}
	st.restore = true;
	st.rst = &ro;
	if (track)
		st.track = *track;
	n = snprintf(st.origin, sizeof(st.origin), "restore %s", absdir);
	if (n < 0 || (size_t)n >= sizeof(st.origin))
		pr_warn("image path %s is too long to be shown in full", absdir);
	return start(&st, o->detach, o->log_file);
}
