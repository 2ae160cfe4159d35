/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The parent of a target (see supervisor.h). One thread, one epoll loop;
 * the only other thread is the image writer of a running checkpoint.
 *
 * Signals: SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2
 * are blocked and read from a signalfd. SIGINT, SIGTERM, SIGQUIT and (in
 * the foreground) SIGHUP are forwarded to the target process; a detached
 * parent ignores SIGHUP. SIGUSR1/2 are ignored (reserved). SIGPIPE is
 * ignored once the target runs (writes report EPIPE instead).
 */
#define LOG_PREFIX "supervisor: "
#include "control/supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "control/control.h"
#include "base/log.h"
#include "core/proc.h"
#include "control/rundir.h"
#include "ckpt/ckpt.h"
#include "image/image.h"
#include "rtcr/rtcr.h"
#include "track/track.h"
#include "migrate/mig.h"

#define READ_CHUNK	  65536
#define FWD_CAP		  (1 << 20) /* stop reading a LOG pipe while a forward holds this much */
#define INIT_GRACE_NS	  2000000000ULL	 /* target ended: init must follow within this */
#define DRAIN_GRACE_NS	  2000000000ULL	 /* init reaped: the LOG pipes must reach EOF within this */
#define FWD_GRACE_NS	  30000000000ULL /* detached: give up on a stalled --log reader */
#define CLIENT_TIMEOUT_NS 60000000000ULL /* a client that sends no full line for this long */

/* ---- bookkeeping ---- */

enum hkind { H_SIGNAL, H_LISTEN, H_SRC, H_FWD, H_CLIENT, H_CKPT, H_MIG };

struct handle {
	enum hkind kind;
};

/* Somewhere the target's output is copied to, besides NAME.log. */
struct fwd {
	struct handle h;
	int fd;
	const char *what;
	bool own;  /* our own open file description: close at the end */
	bool poll; /* non-blocking, buffered, EPOLLOUT when full */
	bool sock; /* a socket: send(MSG_DONTWAIT) */
	bool in_epoll;
	bool dead; /* failed (EPIPE...): NAME.log only from now on */
	char *buf;
	size_t off, len, alloc;
};

/* One LOG pipe (stdout or stderr of the target). */
struct src {
	struct handle h;
	int fd;
	const char *what;
	bool eof;
	bool in_epoll;
	struct fwd *to[2];
	int nto;
};

struct client {
	struct handle h;
	int fd;
	uid_t uid;
	char in[CTL_REQ_MAX];
	size_t inlen;
	char *out;
	size_t outoff, outlen;
	int pending_fd; /* received with SCM_RIGHTS, for the next request */
	bool rd_eof;	/* peer shut down its side; answer what was asked, then close */
	bool busy;	/* a request is answered later (wait, checkpoint) */
	bool waiting;	/* that request is `wait` */
	bool dead;	/* freed after the current batch of events */
	uint32_t ev;	/* events registered */
	uint64_t last_ns;
	struct client *next;
};

/* A checkpoint whose image is being written by a separate thread. */
struct ckpt_job {
	struct handle h;
	int efd; /* eventfd: the writer is done */
	bool running;
	pthread_t th;
	struct capture *cap;
	int dirfd;
	struct ckpt_stats st;
	int ret;
	char err[1024];
	struct client *client; /* who asked; NULL once it went away */
	/* the image being written, to become the parent of the next one */
	bool kill;
	char dir[PATH_MAX];
	struct track_last parent; /* valid: it is incremental on this one */
};

/* A migration (rtcr migrate): a worker thread streams; the pause and the
 * end of the target are done by the loop's thread (the tracer), on the
 * worker's request. */
struct mig_job {
	struct handle h;
	int efd; /* the worker wants something, or is done */
	bool running;
	pthread_t th;
	struct mig_opts o;
	struct mig_progress pg;
	struct mig_result res;
	int ret;
	char err[1024];
	struct client *client;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	enum { MOP_NONE, MOP_CAPTURE, MOP_RELEASE } op;
	bool op_done, done;
	const char *parent_id; /* MOP_CAPTURE */
	struct capture *cap;
	struct ckpt_stats st;
	int op_ret;
	bool kill; /* MOP_RELEASE */
	bool own_tk;
	struct sup *s;
};

struct sup {
	struct target t;
	struct mig_job mig;
	bool detach;
	const char *log_file;
	char dir[PATH_MAX];
	char name[RTCR_NAME_MAX + 1];
	char command[256];

	int epfd, sigfd, lsock, logfd, ready_fd;
	bool sock_made, info_made;
	bool log_warned;
	struct handle sig_h, listen_h;
	struct src src[3];
	struct fwd fwd[3]; /* 0: our stdout, 1: our stderr, 2: --log FILE */
	struct client *clients;
	struct ckpt_job ck;
	struct tracker *tk; /* dirty tracking (rtcr run --track), or NULL */

	bool group_stopped;
	bool ended; /* the target has ended (status known) */
	int raw_status;
	bool init_reaped;
	bool init_killed;
	uint64_t end_ns;    /* CLOCK_MONOTONIC when it ended */
	uint64_t reaped_ns; /* ... when init was reaped */
	bool fatal;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

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

/* ---- epoll helpers ---- */

static int ep_add(struct sup *s, int fd, struct handle *h, uint32_t ev)
{
	struct epoll_event e = {.events = ev, .data.ptr = h};

	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &e))
		return -errno;
	return 0;
}

static int ep_mod(struct sup *s, int fd, struct handle *h, uint32_t ev)
{
	struct epoll_event e = {.events = ev, .data.ptr = h};

	if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, fd, &e))
		return -errno;
	return 0;
}

static void ep_del(struct sup *s, int fd)
{
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL);
}

/* ---- output forwarding ---- */

static void fwd_kill(struct sup *s, struct fwd *f, int err)
{
	if (f->dead)
		return;
	if (err == EPIPE)
		pr_info("%s is closed; the output still goes to %s.log", f->what, s->name);
	else
		pr_warn("cannot write to %s: %s; the output still goes to %s.log", f->what,
			strerror(err), s->name);
	f->dead = true;
	if (f->in_epoll)
		ep_del(s, f->fd);
	f->in_epoll = false;
	free(f->buf);
	f->buf = NULL;
	f->off = f->len = f->alloc = 0;
}

static ssize_t fwd_raw_write(struct fwd *f, const char *p, size_t n)
{
	if (f->sock)
		return send(f->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	return write(f->fd, p, n);
}

static size_t fwd_pending(const struct fwd *f)
{
	return f->len - f->off;
}

/* Set up a forward to one of our own standard fds (foreground). */
static void fwd_init_std(struct sup *s, struct fwd *f, int fd, const char *what)
{
	struct stat st;

	f->h.kind = H_FWD;
	f->what = what;
	f->fd = -1;
	if (fstat(fd, &st)) {
		f->dead = true;
		return;
	}
	if (S_ISSOCK(st.st_mode)) {
		f->fd = fd;
		f->sock = true;
		f->poll = true;
	} else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
		/* A private open file description, so that O_NONBLOCK does not
		 * leak to whoever shares our stdout (the shell, the terminal). */
		char p[64];
		int nfd;

		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		nfd = open(p, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
		if (nfd >= 0) {
			f->fd = nfd;
			f->own = true;
			f->poll = true;
		} else {
			pr_debug("cannot reopen %s (%s); writing it blocking", what,
				 strerror(errno));
			f->fd = fd;
		}
	} else {
		f->fd = fd; /* regular file: writes do not wait for anyone */
	}
	if (f->poll) {
		int ret = ep_add(s, f->fd, &f->h, 0);

		if (ret == -EPERM) /* /dev/null and friends: never block */
			f->poll = false;
		else if (ret)
			f->poll = false;
		else
			f->in_epoll = true;
	}
}

static int fwd_init_file(struct sup *s, struct fwd *f, const char *path)
{
	struct stat st;
	int fd;

	f->h.kind = H_FWD;
	f->what = path;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, 0644);
	if (fd < 0)
		return pr_perror("cannot open log file %s", path);
	f->fd = fd;
	f->own = true;
	if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode) && ep_add(s, fd, &f->h, 0) == 0) {
		f->poll = true;
		f->in_epoll = true;
	}
	return 0;
}

static void fwd_arm(struct sup *s, struct fwd *f)
{
	uint32_t ev = fwd_pending(f) ? EPOLLOUT : 0;

	if (f->in_epoll)
		ep_mod(s, f->fd, &f->h, ev);
}

static void fwd_flush(struct sup *s, struct fwd *f)
{
	while (!f->dead && fwd_pending(f)) {
		ssize_t w = fwd_raw_write(f, f->buf + f->off, fwd_pending(f));

		if (w > 0) {
			f->off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		fwd_kill(s, f, w < 0 ? errno : EIO);
		return;
	}
	if (!f->dead && !fwd_pending(f))
		f->off = f->len = 0;
	if (!f->dead)
		fwd_arm(s, f);
}

/* Wait (briefly or not) until a blocking-mode fd takes more data. */
static void wait_writable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLOUT};

	poll(&p, 1, 1000);
}

static void fwd_push(struct sup *s, struct fwd *f, const char *p, size_t n)
{
	if (f->dead || !n)
		return;
	if (!fwd_pending(f)) {
		while (n) {
			ssize_t w = fwd_raw_write(f, p, n);

			if (w > 0) {
				p += w;
				n -= (size_t)w;
				continue;
			}
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				if (f->poll)
					break;
				wait_writable(f->fd);
				continue;
			}
			fwd_kill(s, f, w < 0 ? errno : EIO);
			return;
		}
		if (!n)
			return;
		f->off = f->len = 0;
	}
	if (f->off && f->off == f->len)
		f->off = f->len = 0;
	if (f->off > f->alloc / 2) {
		memmove(f->buf, f->buf + f->off, f->len - f->off);
		f->len -= f->off;
		f->off = 0;
	}
	if (f->len + n > f->alloc) {
		size_t na = f->alloc ? f->alloc * 2 : 65536;
		char *nb;

		while (na < f->len + n)
			na *= 2;
		nb = realloc(f->buf, na);
		if (!nb) {
			pr_warn("out of memory buffering output for %s", f->what);
			fwd_kill(s, f, ENOMEM);
			return;
		}
		f->buf = nb;
		f->alloc = na;
	}
	memcpy(f->buf + f->len, p, n);
	f->len += n;
	fwd_arm(s, f);
}

static void log_append(struct sup *s, const char *p, size_t n)
{
	while (n && s->logfd >= 0) {
		ssize_t w = write(s->logfd, p, n);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (!s->log_warned)
			pr_warn("cannot write %s/%s.log: %s; output is lost there", s->dir, s->name,
				w < 0 ? strerror(errno) : "short write");
		s->log_warned = true;
		return;
	}
}

static bool src_may_read(const struct src *r)
{
	for (int i = 0; i < r->nto; i++)
		if (!r->to[i]->dead && r->to[i]->poll && fwd_pending(r->to[i]) >= FWD_CAP)
			return false;
	return true;
}

/* Register a LOG pipe in epoll only while its forwards keep up. */
static void src_update(struct sup *s, struct src *r)
{
	bool want = r->fd >= 0 && !r->eof && src_may_read(r);

	if (want == r->in_epoll)
		return;
	if (want) {
		if (ep_add(s, r->fd, &r->h, EPOLLIN) == 0)
			r->in_epoll = true;
	} else {
		ep_del(s, r->fd);
		r->in_epoll = false;
	}
}

/* Read one chunk; returns the number of bytes read (0 at EOF or when nothing is there). */
static ssize_t src_read(struct sup *s, struct src *r)
{
	static char buf[READ_CHUNK];
	ssize_t n;

	if (r->fd < 0 || r->eof)
		return 0;
	n = read(r->fd, buf, sizeof(buf));
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		pr_warn("cannot read the target's %s: %s", r->what, strerror(errno));
		n = 0;
	}
	if (n == 0) {
		r->eof = true;
		src_update(s, r);
		return 0;
	}
	log_append(s, buf, (size_t)n);
	for (int i = 0; i < r->nto; i++)
		fwd_push(s, r->to[i], buf, (size_t)n);
	return n;
}

/* ---- control clients ---- */

static void client_update(struct sup *s, struct client *c)
{
	uint32_t ev = 0;

	if (c->dead)
		return;
	if (!c->rd_eof && c->inlen < sizeof(c->in))
		ev |= EPOLLIN;
	if (c->outlen > c->outoff)
		ev |= EPOLLOUT;
	if (ev != c->ev) {
		ep_mod(s, c->fd, &c->h, ev);
		c->ev = ev;
	}
}

static void client_close(struct sup *s, struct client *c)
{
	if (c->dead)
		return;
	c->dead = true;
	ep_del(s, c->fd);
	if (s->ck.client == c)
		s->ck.client = NULL;
}

static void client_flush(struct sup *s, struct client *c)
{
	while (!c->dead && c->outlen > c->outoff) {
		ssize_t w = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (w > 0) {
			c->outoff += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		client_close(s, c); /* gone: nobody to answer */
		return;
	}
	if (c->outoff == c->outlen) {
		free(c->out);
		c->out = NULL;
		c->outoff = c->outlen = 0;
	}
}

static void client_send(struct sup *s, struct client *c, const char *p, size_t n)
{
	char *nb;

	if (!c || c->dead)
		return;
	nb = realloc(c->out, c->outlen + n);
	if (!nb) {
		client_close(s, c);
		return;
	}
	c->out = nb;
	memcpy(c->out + c->outlen, p, n);
	c->outlen += n;
	client_flush(s, c);
	client_update(s, c);
}

static void reply_error(struct sup *s, struct client *c, const char *msg)
{
	char line[1100];
	size_t n;
	int k;

	if (!msg || !*msg)
		msg = "failed";
	k = snprintf(line, sizeof(line), "error %s", msg);
	n = k < 0 ? 0 : (size_t)k >= sizeof(line) - 1 ? sizeof(line) - 2 : (size_t)k;
	for (size_t i = 6; i < n; i++)
		if ((unsigned char)line[i] < 0x20)
			line[i] = ' ';
	line[n++] = '\n';
	client_send(s, c, line, n);
}

/* Reply built with a memstream: "ok" + fields, newline added here. */
static void reply_stream(struct sup *s, struct client *c, char *buf, size_t len)
{
	char *nb = realloc(buf, len + 1);

	if (!nb) {
		free(buf);
		reply_error(s, c, "out of memory");
		return;
	}
	nb[len++] = '\n';
	client_send(s, c, nb, len);
	free(nb);
}

static const char *target_state(const struct sup *s)
{
	if (s->ended)
		return "exited";
	if (s->ck.running)
		return "checkpointing";
	if (s->group_stopped)
		return "stopped";
	return "running";
}

static void req_info(struct sup *s, struct client *c, int argc, char **argv)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m;

	if (argc != 1) {
		reply_error(s, c, "usage: info");
		return;
	}
	m = open_memstream(&buf, &len);
	if (!m) {
		reply_error(s, c, "out of memory");
		return;
	}
	fprintf(m, "ok name=%s pid=%d ns_pid=%d parent_pid=%d init_pid=%d state=%s started_ns=%llu",
		s->name, (int)s->t.pid, (int)s->t.ns_pid, (int)getpid(), (int)s->t.init_pid,
		target_state(s), (unsigned long long)s->t.started_ns);
	if (s->ended)
		fprintf(m, " status=%d", rundir_shell_status(s->raw_status));
	fputs(" command=", m);
	ctl_put_value(m, s->command);
	fputs(" origin=", m);
	ctl_put_value(m, s->t.origin);
	if (fclose(m)) {
		free(buf);
		reply_error(s, c, "out of memory");
		return;
	}
	reply_stream(s, c, buf, len);
}

static void req_kill(struct sup *s, struct client *c, int argc, char **argv)
{
	char *end;
	long sig;

	if (argc != 2) {
		reply_error(s, c, "usage: kill SIGNAL-NUMBER");
		return;
	}
	errno = 0;
	sig = strtol(argv[1], &end, 10);
	if (errno || *end || end == argv[1] || sig < 0 || sig > SIGRTMAX) {
		reply_error(s, c, "invalid signal number");
		return;
	}
	if (s->ended) {
		reply_error(s, c, "the target has exited");
		return;
	}
	if (kill(s->t.pid, (int)sig)) {
		char msg[128];

		snprintf(msg, sizeof(msg), "kill: %s", strerror(errno));
		reply_error(s, c, msg);
		return;
	}
	client_send(s, c, "ok\n", 3);
}

static void reply_wait(struct sup *s, struct client *c)
{
	char line[128];
	int n = snprintf(line, sizeof(line), "ok status=%d raw_status=%d pid=%d\n",
			 rundir_shell_status(s->raw_status), s->raw_status, (int)s->t.pid);

	c->busy = c->waiting = false;
	client_send(s, c, line, (size_t)n);
}

static void req_wait(struct sup *s, struct client *c, int argc, char **argv)
{
	if (argc != 1) {
		reply_error(s, c, "usage: wait");
		return;
	}
	/* Answered once NAME.status is written (see finish()). */
	c->busy = c->waiting = true;
}

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
			     const char *report, const struct track_last *parent)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	if (!m) {
		reply_error(s, c, "out of memory");
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
	if (st->image_id[0]) {
		fprintf(m, " image_id=%s depth=%u", st->image_id,
			parent && parent->valid ? parent->depth + 1 : 0);
		if (parent && parent->valid)
			fprintf(m, " parent_id=%s", parent->id);
	}
	if (fclose(m)) {
		free(buf);
		reply_error(s, c, "out of memory");
		return;
	}
	reply_stream(s, c, buf, len);
}

static void reap(struct sup *s);

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
	if (j->ret < 0)
		snprintf(j->err, sizeof(j->err), "%s",
			 *log_last_error() ? log_last_error() : strerror(-j->ret));
	pthread_mutex_lock(&j->mu);
	j->done = true;
	pthread_mutex_unlock(&j->mu);
	mig_wake(j);
	return NULL;
}

/* the loop's thread: do what the worker asked */
static void mig_event(struct sup *s)
{
	struct mig_job *j = &s->mig;
	uint64_t v;
	bool done;

	if (read(j->efd, &v, sizeof(v)) < 0 && errno == EAGAIN)
		return;
	pthread_mutex_lock(&j->mu);
	if (j->op == MOP_CAPTURE && !j->op_done) {
		struct track_last fake = {.valid = true, .depth = 0};
		struct ckpt_opts o = {.keep_paused = true};

		pthread_mutex_unlock(&j->mu);
		if (j->parent_id) {
			snprintf(fake.id, sizeof(fake.id), "%s", j->parent_id);
			snprintf(fake.dir, sizeof(fake.dir), "(pre-copy rounds)");
			o.tk = s->tk;
			o.incremental = true;
			o.parent = &fake;
		}
		log_clear_error();
		j->op_ret = ckpt_capture(&s->t, &o, &j->cap, NULL, &j->st);
		reap(s);
		pthread_mutex_lock(&j->mu);
		j->op = MOP_NONE;
		j->op_done = true;
		pthread_cond_broadcast(&j->cv);
	} else if (j->op == MOP_RELEASE && !j->op_done) {
		struct capture *cap = j->cap;
		bool kill_it = j->kill;

		pthread_mutex_unlock(&j->mu);
		ckpt_release(cap, kill_it);
		capture_free(cap);
		if (!kill_it && s->tk)
			track_set_broken(s->tk, "a migration was abandoned");
		reap(s);
		/* gone here before the user hears it is there (rtcr ps agrees) */
		for (int i = 0; kill_it && !s->ended && i < 400; i++) {
			struct timespec ts = {0, 5 * 1000 * 1000};

			nanosleep(&ts, NULL);
			reap(s);
		}
		pthread_mutex_lock(&j->mu);
		j->cap = NULL;
		j->op = MOP_NONE;
		j->op_done = true;
		pthread_cond_broadcast(&j->cv);
	}
	done = j->done;
	pthread_mutex_unlock(&j->mu);
	if (!done || !j->running)
		return;
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
	if (j->client) {
		struct client *c = j->client;
		char line[1600];

		j->client = NULL;
		c->busy = false;
		if (j->ret < 0) {
			reply_error(s, c, j->err);
		} else {
			snprintf(line, sizeof(line),
				 "ok total_ns=%llu downtime_ns=%llu predicted_ns=%llu bytes=%llu "
				 "memory=%llu rounds=%u converged=%d mode=%s dest=%s\n",
				 (unsigned long long)j->res.total_ns,
				 (unsigned long long)j->res.downtime_ns,
				 (unsigned long long)j->res.predicted_downtime_ns,
				 (unsigned long long)j->res.bytes_sent,
				 (unsigned long long)j->res.memory_bytes, j->res.rounds,
				 j->res.converged, j->res.mode, j->res.dest_name);
			client_send(s, c, line, strlen(line));
		}
	}
}

static void req_migrate(struct sup *s, struct client *c, int argc, char **argv)
{
	struct mig_job *j = &s->mig;
	int ret;

	if (j->running || s->ck.running) {
		reply_error(s, c, "a checkpoint or migration is in progress");
		return;
	}
	if (s->ended) {
		reply_error(s, c, "the target has exited");
		return;
	}
	memset(&j->o, 0, sizeof(j->o));
	j->o.precopy = true;
	j->o.max_downtime_ms = 50;
	j->o.max_rounds = 30;
	j->o.timeout_ms = 10000;
	for (int i = 1; i < argc; i++) {
		char val[PATH_MAX];
		char *eq = strchr(argv[i], '=');

		if (!eq || strlen(eq + 1) >= sizeof(val)) {
			reply_error(s, c,
				    "usage: migrate to=HOST:PORT key=PATH [mode=precopy|stop] ...");
			return;
		}
		snprintf(val, sizeof(val), "%s", eq + 1);
		ctl_unescape(val);
		*eq = '\0';
		if (!strcmp(argv[i], "to"))
			snprintf(j->o.to, sizeof(j->o.to), "%.255s", val);
		else if (!strcmp(argv[i], "key"))
			snprintf(j->o.key_path, sizeof(j->o.key_path), "%s", val);
		else if (!strcmp(argv[i], "mode"))
			j->o.precopy = strcmp(val, "stop") != 0;
		else if (!strcmp(argv[i], "max_downtime_ms"))
			j->o.max_downtime_ms = (unsigned)strtoul(val, NULL, 10);
		else if (!strcmp(argv[i], "max_rounds"))
			j->o.max_rounds = (unsigned)strtoul(val, NULL, 10);
		else if (!strcmp(argv[i], "timeout_ms"))
			j->o.timeout_ms = (int)strtol(val, NULL, 10);
		else if (!strcmp(argv[i], "on_no_converge"))
			j->o.abort_on_no_converge = !strcmp(val, "abort");
	}
	if (!j->o.to[0] || !j->o.key_path[0]) {
		reply_error(s, c, "migrate: no destination or no key");
		return;
	}
	if (j->o.max_rounds < 1)
		j->o.max_rounds = 1;
	if (j->o.timeout_ms < 100)
		j->o.timeout_ms = 100;
	j->own_tk = false;
	if (j->o.precopy && !s->tk) {
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
		reap(s);
		if (ret) {
			track_free(s->tk);
			s->tk = NULL;
			reply_error(s, c, *log_last_error() ? log_last_error() : strerror(-ret));
			return;
		}
		j->own_tk = true;
	}
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
		reply_error(s, c, "cannot start the migration thread");
		if (j->own_tk) {
			track_free(s->tk);
			s->tk = NULL;
		}
		return;
	}
	j->running = true;
	c->busy = true;
}

static void req_migstat(struct sup *s, struct client *c, int argc, char **argv)
{
	static const char *const phases[] = {"connecting", "checking", "precopy", "final",
					     "restoring",  "done",     "failed"};
	struct mig_job *j = &s->mig;
	char line[512];

	(void)argc;
	(void)argv;
	if (!j->running) {
		reply_error(s, c, "no migration in progress");
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
	client_send(s, c, line, strlen(line));
}

static void req_thaw(struct sup *s, struct client *c, int argc, char **argv)
{
	int ret;

	(void)argc;
	(void)argv;
	if (!s->t.nfrozen) {
		reply_error(s, c, "the target is not frozen");
		return;
	}
	log_clear_error();
	ret = restore_thaw(&s->t);
	if (ret)
		reply_error(s, c, *log_last_error() ? log_last_error() : strerror(-ret));
	else
		client_send(s, c, "ok\n", 3);
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
	snprintf(l.dir, sizeof(l.dir), "%s", s->ck.dir);
	snprintf(l.id, sizeof(l.id), "%s", s->ck.st.image_id);
	l.meta_sum = s->ck.st.meta_sum;
	l.depth = s->ck.parent.valid ? s->ck.parent.depth + 1 : 0;
	track_set_last(s->tk, &l);
}

static void req_checkpoint(struct sup *s, struct client *c, int argc, char **argv)
{
	struct ckpt_opts o = {0};
	struct ckpt_stats st = {0};
	struct capture *cap = NULL;
	char *report = NULL;
	int dirfd = c->pending_fd;
	bool want_inc = false, want_full = false;
	char dir[PATH_MAX] = "", parent[PATH_MAX] = "";
	struct track_last last = {0};
	int ret;

	c->pending_fd = -1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "kill"))
			o.kill = true;
		else if (!strcmp(argv[i], "dry-run"))
			o.dry_run = true;
		else if (!strcmp(argv[i], "incremental"))
			want_inc = true;
		else if (!strcmp(argv[i], "full"))
			want_full = true;
		else if (!strcmp(argv[i], "live"))
			o.live = true;
		else if (!strncmp(argv[i], "dir=", 4) && strlen(argv[i] + 4) < sizeof(dir)) {
			snprintf(dir, sizeof(dir), "%s", argv[i] + 4);
			ctl_unescape(dir);
		} else if (!strncmp(argv[i], "parent=", 7) &&
			   strlen(argv[i] + 7) < sizeof(parent)) {
			snprintf(parent, sizeof(parent), "%s", argv[i] + 7);
			ctl_unescape(parent);
		} else {
			reply_error(s, c,
				    "usage: checkpoint [kill] [dry-run] [incremental|full] [live] "
				    "[dir=PATH] [parent=PATH]");
			goto out;
		}
	}
	/* incremental: by default once there is an image to build on */
	if (!o.dry_run && !o.kill && (want_inc || parent[0] || o.live) && !s->tk) {
		reply_error(s, c,
			    want_inc || parent[0]
				? "no incremental checkpoint: the target runs without dirty "
				  "tracking (start it with rtcr run --track=fault or --track=async)"
				: "no live checkpoint: the target runs without dirty tracking "
				  "(start it with rtcr run --track=fault)");
		goto out;
	}
	if (o.live && s->tk && track_get_opts(s->tk)->mode != TRACK_FAULT) {
		reply_error(s, c,
			    "a live checkpoint needs fault tracking (--track=fault): with async "
			    "tracking no write reaches rtcr before it happens");
		goto out;
	}
	if (s->tk && !o.dry_run && !want_full) {
		char why[PATH_MAX + 128];

		track_get_last(s->tk, &last, why, sizeof(why));
		if (last.valid) {
			char id[40];
			uint64_t sum = 0;

			/* still there, unchanged? */
			if (img_peek(last.dir, id, sizeof(id), &sum) || strcmp(id, last.id) ||
			    sum != last.meta_sum) {
				snprintf(why, sizeof(why),
					 "the last image of this target (%s) is gone or was "
					 "replaced",
					 last.dir);
				last.valid = false;
			}
		}
		if (parent[0] && last.valid && strcmp(parent, last.dir)) {
			char msg[PATH_MAX * 2 + 128];

			snprintf(msg, sizeof(msg),
				 "the changes are tracked since the image in %s, not %s: only the "
				 "last image of this target can be the parent",
				 last.dir, parent);
			reply_error(s, c, msg);
			goto out;
		}
		if ((want_inc || parent[0]) && !last.valid) {
			char msg[PATH_MAX + 256];

			snprintf(msg, sizeof(msg), "no incremental checkpoint possible: %s", why);
			reply_error(s, c, msg);
			goto out;
		}
		if (last.valid && dir[0] && !strcmp(dir, last.dir)) {
			if (want_inc || parent[0]) {
				reply_error(s, c,
					    "an incremental image cannot replace its own parent: "
					    "write it into another directory");
				goto out;
			}
			last.valid = false; /* overwriting the parent: a full image */
		}
		o.incremental = last.valid;
		o.parent = &last;
	}
	o.tk = s->tk;
	if (s->ck.running) {
		reply_error(s, c, "checkpoint already in progress");
		goto out;
	}
	if (s->ended) {
		reply_error(s, c, "the target has exited");
		goto out;
	}
	if (!o.dry_run && dirfd < 0) {
		reply_error(s, c, "no image directory: send an open directory fd with the request");
		goto out;
	}
	if (dirfd >= 0) {
		struct stat sb;

		if (fstat(dirfd, &sb) || !S_ISDIR(sb.st_mode)) {
			reply_error(s, c, "the fd sent with the request is not a directory");
			goto out;
		}
	}

	log_clear_error();
	ret = ckpt_capture(&s->t, &o, &cap, &report, &st);
	/* ckpt_capture waited for stops itself: catch up with what it left. */
	reap(s);
	if (ret < 0) {
		reply_error(s, c, *log_last_error() ? log_last_error() : strerror(-ret));
		goto out;
	}
	if (o.dry_run) {
		reply_ckpt_stats(s, c, &st, report ? report : "", NULL);
		if (cap)
			capture_free(cap);
		goto out;
	}

	s->ck.cap = cap;
	s->ck.dirfd = dirfd;
	s->ck.st = st;
	s->ck.ret = 0;
	s->ck.err[0] = '\0';
	s->ck.client = c;
	s->ck.kill = o.kill;
	snprintf(s->ck.dir, sizeof(s->ck.dir), "%s", dir);
	s->ck.parent = last;
	s->ck.parent.valid = o.incremental;
	ret = pthread_create(&s->ck.th, NULL, ckpt_writer, &s->ck);
	if (ret) {
		/* No thread: write it here, the loop waits meanwhile. */
		pr_warn("cannot start the image writer thread: %s", strerror(ret));
		log_clear_error();
		ret = ckpt_write(cap, dirfd, &s->ck.st);
		capture_free(cap);
		s->ck.cap = NULL;
		s->ck.client = NULL;
		s->ck.ret = ret;
		ckpt_track_done(s);
		if (ret < 0)
			reply_error(s, c, *log_last_error() ? log_last_error() : strerror(-ret));
		else
			reply_ckpt_stats(s, c, &s->ck.st, NULL, &s->ck.parent);
		goto out;
	}
	dirfd = -1; /* the writer closes it */
	s->ck.running = true;
	c->busy = true;
out:
	free(report);
	if (dirfd >= 0)
		close(dirfd);
}

static void ckpt_done(struct sup *s)
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
		reply_error(s, c, s->ck.err);
	else
		reply_ckpt_stats(s, c, &s->ck.st, NULL, &s->ck.parent);
}

/* The request table: later work adds requests here. */
static const struct request {
	const char *name;
	void (*fn)(struct sup *s, struct client *c, int argc, char **argv);
} requests[] = {
    {"info", req_info},	      {"kill", req_kill},
    {"wait", req_wait},	      {"checkpoint", req_checkpoint},
    {"thaw", req_thaw},	      {"migrate", req_migrate},
    {"migstat", req_migstat},
};

#define MAX_ARGS 16

static void client_dispatch(struct sup *s, struct client *c, char *line)
{
	char *argv[MAX_ARGS + 1];
	int argc = 0;
	char *save = NULL;

	for (char *tok = strtok_r(line, " \t\r", &save); tok;
	     tok = strtok_r(NULL, " \t\r", &save)) {
		if (argc == MAX_ARGS) {
			reply_error(s, c, "too many arguments");
			goto out;
		}
		argv[argc++] = tok;
	}
	argv[argc] = NULL;
	if (!argc) {
		reply_error(s, c, "empty request");
		goto out;
	}
	for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
		if (!strcmp(argv[0], requests[i].name)) {
			requests[i].fn(s, c, argc, argv);
			goto out;
		}
	}
	{
		char msg[128];

		snprintf(msg, sizeof(msg), "unknown request '%.40s'", argv[0]);
		reply_error(s, c, msg);
	}
out:
	/* An fd is only good for the request it came with. */
	if (c->pending_fd >= 0 && !c->busy) {
		close(c->pending_fd);
		c->pending_fd = -1;
	}
}

/* Answer the complete lines in c->in, one at a time, in order. */
static void client_process(struct sup *s, struct client *c)
{
	while (!c->dead && !c->busy) {
		char *nl = memchr(c->in, '\n', c->inlen);
		size_t ll;

		if (!nl) {
			if (c->inlen == sizeof(c->in)) {
				reply_error(s, c, "request too long");
				c->inlen = 0;
				c->rd_eof = true; /* stop listening to it */
				break;
			}
			if (c->rd_eof && c->inlen) {
				/* last request without a newline: take it */
				nl = c->in + c->inlen;
				if (c->inlen == sizeof(c->in))
					break;
			} else
				break;
		}
		ll = (size_t)(nl - c->in);
		*nl = '\0';
		if (memchr(c->in, '\0', ll)) {
			reply_error(s, c, "NUL byte in request");
		} else {
			c->last_ns = mono_ns();
			client_dispatch(s, c, c->in);
		}
		ll = ll < c->inlen ? ll + 1 : c->inlen;
		memmove(c->in, c->in + ll, c->inlen - ll);
		c->inlen -= ll;
	}
	if (!c->dead && c->rd_eof && !c->busy && !c->inlen && c->outlen == c->outoff)
		client_close(s, c);
	else
		client_update(s, c);
}

static void client_read(struct sup *s, struct client *c)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 8)];
	struct iovec iov = {.iov_base = c->in + c->inlen, .iov_len = sizeof(c->in) - c->inlen};
	struct msghdr mh = {
	    .msg_iov = &iov,
	    .msg_iovlen = 1,
	    .msg_control = cbuf,
	    .msg_controllen = sizeof(cbuf),
	};
	ssize_t n;

	if (!iov.iov_len)
		return;
	n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		client_close(s, c);
		return;
	}
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int *fds = (int *)CMSG_DATA(cm);

		for (size_t i = 0; i < nfd; i++) {
			if (c->pending_fd < 0)
				c->pending_fd = fds[i];
			else
				close(fds[i]); /* one fd per request */
		}
	}
	if (mh.msg_flags & MSG_CTRUNC)
		pr_debug("client sent too many fds; extra ones dropped");
	if (n == 0) {
		c->rd_eof = true;
	} else {
		c->inlen += (size_t)n;
		c->last_ns = mono_ns();
	}
	client_process(s, c);
}

static void accept_clients(struct sup *s)
{
	for (;;) {
		struct ucred cr;
		socklen_t cl = sizeof(cr);
		struct client *c;
		int fd = accept4(s->lsock, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				pr_warn("accept: %s", strerror(errno));
			return;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) ||
		    (cr.uid != geteuid() && cr.uid != 0)) {
			static const char msg[] = "error permission denied\n";

			if (send(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
				/* nothing to do */
			}
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->h.kind = H_CLIENT;
		c->fd = fd;
		c->uid = cr.uid;
		c->pending_fd = -1;
		c->ev = EPOLLIN;
		c->last_ns = mono_ns();
		if (ep_add(s, fd, &c->h, c->ev)) {
			close(fd);
			free(c);
			continue;
		}
		c->next = s->clients;
		s->clients = c;
	}
}

static void free_dead_clients(struct sup *s, bool all)
{
	struct client **pp = &s->clients;

	while (*pp) {
		struct client *c = *pp;

		if (!c->dead && !all) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		if (!c->dead)
			ep_del(s, c->fd);
		if (s->ck.client == c)
			s->ck.client = NULL;
		if (c->pending_fd >= 0)
			close(c->pending_fd);
		close(c->fd);
		free(c->out);
		free(c);
	}
}

/* ---- the target's processes ---- */

static void target_ended(struct sup *s, int raw, const char *why)
{
	if (s->ended)
		return;
	s->ended = true;
	s->raw_status = raw;
	s->t.exited = true;
	s->t.status = raw;
	s->end_ns = mono_ns();
	if (WIFSIGNALED(raw))
		pr_info("target %s (pid %d) %s: killed by signal %d", s->name, (int)s->t.pid, why,
			WTERMSIG(raw));
	else
		pr_info("target %s (pid %d) %s: exit code %d", s->name, (int)s->t.pid, why,
			WEXITSTATUS(raw));
}

static void ptrace_resume(int req, pid_t pid, int sig)
{
	if (ptrace(req, pid, 0, (void *)(long)sig) && errno != ESRCH)
		pr_warn("ptrace(%d, %d): %s", req, (int)pid, strerror(errno));
}

static void handle_stop(struct sup *s, pid_t pid, int st)
{
	int event = st >> 16;
	int sig = WSTOPSIG(st);

	switch (event) {
	case 0:
		if (sig == (SIGTRAP | 0x80)) {
			ptrace_resume(PTRACE_CONT, pid, 0); /* syscall stop */
		} else {
			/* signal-delivery-stop: deliver it */
			if (pid == s->t.pid)
				s->group_stopped = false;
			ptrace_resume(PTRACE_CONT, pid, sig);
		}
		break;
	case PTRACE_EVENT_STOP:
		if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU) {
			if (pid == s->t.pid)
				s->group_stopped = true;
			ptrace_resume(PTRACE_LISTEN, pid, 0); /* group-stop */
		} else {
			if (pid == s->t.pid)
				s->group_stopped = false;
			ptrace_resume(PTRACE_CONT, pid, 0);
		}
		break;
	case PTRACE_EVENT_EXEC:
		/* a new address space: track it from its first instruction */
		if (s->tk && track_arm_process(s->tk, NULL, pid, (uint32_t)proc_ns_pid(pid)))
			pr_warn("pid %d: no dirty tracking after its exec (the next checkpoint "
				"saves it in full): %s",
				(int)pid, log_last_error());
		ptrace_resume(PTRACE_CONT, pid, 0);
		break;
	default: /* CLONE, FORK, VFORK, VFORK_DONE, EXIT, ... */
		ptrace_resume(PTRACE_CONT, pid, 0);
		break;
	}
}

/* When the target's main process exits, another process of its namespace
 * (a child of init that runs: not a zombie, not a checkpoint's stopped
 * memory snapshot) becomes the target's main process; 0 if none. */
static pid_t next_main_process(struct sup *s)
{
	char path[96], *buf = NULL, *p, *end, *stat = NULL;
	pid_t found = 0;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)s->t.init_pid,
		 (int)s->t.init_pid);
	if (read_file(path, &buf) < 0)
		return 0;
	for (p = buf; *p && !found; p = end) {
		long pid = strtol(p, &end, 10);
		char *q;

		if (end == p)
			break;
		if (pid == s->t.pid)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		if (read_file(path, &stat) < 0)
			continue;
		q = strrchr(stat, ')');
		/* a traced stop is a new child not yet let go, or, while an
		 * image is being written, a checkpoint's memory snapshot */
		if (q && q[1] == ' ' && q[2] != 'Z' && q[2] != 'X' &&
		    (q[2] != 't' || !s->ck.running))
			found = (pid_t)pid;
		free(stat);
		stat = NULL;
	}
	free(buf);
	return found;
}

static void reap(struct sup *s)
{
	for (;;) {
		int st;
		pid_t pid = waitpid(-1, &st, __WALL | WNOHANG);

		if (pid < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECHILD && !s->init_reaped && s->t.init_pid > 0) {
				/* not ours anymore?! nothing to wait for */
				pr_warn("init (pid %d) is gone", (int)s->t.init_pid);
				s->init_reaped = true;
				s->reaped_ns = mono_ns();
				if (!s->ended)
					target_ended(s, W_EXITCODE(255, 0), "lost");
			}
			return;
		}
		if (pid == 0)
			return;
		if (WIFSTOPPED(st)) {
			handle_stop(s, pid, st);
			continue;
		}
		if (!WIFEXITED(st) && !WIFSIGNALED(st))
			continue;
		if (pid == s->t.init_pid) {
			s->init_reaped = true;
			s->reaped_ns = mono_ns();
			if (!s->ended)
				target_ended(s, st, "ended with its namespace");
		} else if (pid == s->t.pid) {
			/* a main process that exits on its own while other processes of
			 * the namespace run on has daemonized: follow them; one killed
			 * by a signal ends the target (and its namespace) */
			pid_t next = WIFEXITED(st) ? next_main_process(s) : 0;

			if (next > 0) {
				/* a daemon: its parent exited, it goes on */
				pr_info("pid %d exited; the target goes on as pid %d", (int)pid,
					(int)next);
				s->t.pid = next;
				s->t.ns_pid = proc_ns_pid(next);
			} else {
				target_ended(s, st, "exited");
			}
		}
		/* other traced processes (threads, children): nothing to do yet */
	}
}

static void forward_signal(struct sup *s, int sig)
{
	if (s->ended || s->t.pid <= 0)
		return;
	pr_debug("forwarding signal %d to the target (pid %d)", sig, (int)s->t.pid);
	if (kill(s->t.pid, sig) && errno != ESRCH)
		pr_warn("cannot forward signal %d: %s", sig, strerror(errno));
}

static void handle_signals(struct sup *s)
{
	struct signalfd_siginfo si;

	for (;;) {
		ssize_t n = read(s->sigfd, &si, sizeof(si));

		if (n != sizeof(si))
			return;
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap(s);
			break;
		case SIGHUP:
			if (s->detach)
				break;
			/* fall through */
		case SIGINT:
		case SIGTERM:
		case SIGQUIT:
			forward_signal(s, (int)si.ssi_signo);
			break;
		default:
			break;
		}
	}
}

/* ---- the loop ---- */

static bool all_drained(struct sup *s)
{
	for (int i = 1; i <= 2; i++)
		if (s->src[i].fd >= 0 && !s->src[i].eof)
			return false;
	return true;
}

static bool all_flushed(struct sup *s)
{
	for (int i = 0; i < 3; i++)
		if (!s->fwd[i].dead && s->fwd[i].fd >= 0 && fwd_pending(&s->fwd[i]))
			return false;
	return true;
}

static bool loop_done(struct sup *s)
{
	return s->ended && s->init_reaped && all_drained(s) && !s->ck.running && !s->mig.running &&
	       all_flushed(s);
}

/* Deadlines once the target has ended. */
static void check_deadlines(struct sup *s)
{
	uint64_t now = mono_ns();

	if (!s->ended)
		return;
	/* (not while an image is written: the memory snapshot lives in the namespace) */
	if (!s->init_reaped && !s->init_killed && !s->ck.running &&
	    now - s->end_ns > INIT_GRACE_NS) {
		pr_info("init (pid %d) outlived the target; killing it", (int)s->t.init_pid);
		if (kill(s->t.init_pid, SIGKILL) && errno != ESRCH)
			pr_warn("cannot kill init: %s", strerror(errno));
		s->init_killed = true;
	}
	if (s->init_reaped && !all_drained(s) && now - s->reaped_ns > DRAIN_GRACE_NS) {
		/* Someone outside still holds a write end: take what is there. */
		for (int i = 1; i <= 2; i++) {
			while (src_read(s, &s->src[i]) > 0)
				;
			if (!s->src[i].eof) {
				pr_debug("%s of the target did not reach EOF", s->src[i].what);
				s->src[i].eof = true;
				src_update(s, &s->src[i]);
			}
		}
	}
	if (s->detach && all_drained(s) && now - s->end_ns > FWD_GRACE_NS) {
		for (int i = 0; i < 3; i++)
			if (!s->fwd[i].dead && fwd_pending(&s->fwd[i]))
				fwd_kill(s, &s->fwd[i], ETIMEDOUT);
	}
}

/* Drop clients that sent half a request and nothing more for a long time. */
static void check_idle_clients(struct sup *s)
{
	uint64_t now = mono_ns();

	for (struct client *c = s->clients; c; c = c->next)
		if (!c->dead && !c->busy && c->inlen && now - c->last_ns > CLIENT_TIMEOUT_NS)
			client_close(s, c);
}

static int run_loop(struct sup *s)
{
	struct epoll_event evs[32];

	reap(s); /* anything that happened before the signalfd was there */
	while (!loop_done(s)) {
		int timeout = s->ended ? 100 : (s->clients ? 10000 : -1);
		int n;

		for (int i = 1; i <= 2; i++)
			src_update(s, &s->src[i]);
		n = epoll_wait(s->epfd, evs, 32, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return pr_perror("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			struct handle *h = evs[i].data.ptr;
			uint32_t e = evs[i].events;

			switch (h->kind) {
			case H_SIGNAL:
				handle_signals(s);
				break;
			case H_LISTEN:
				accept_clients(s);
				break;
			case H_SRC:
				src_read(s, (struct src *)h);
				break;
			case H_FWD: {
				struct fwd *f = (struct fwd *)h;

				if (e & EPOLLOUT)
					fwd_flush(s, f);
				if (!f->dead && (e & (EPOLLERR | EPOLLHUP)) && !(e & EPOLLOUT))
					fwd_kill(s, f, EPIPE);
				break;
			}
			case H_CLIENT: {
				struct client *c = (struct client *)h;

				if (c->dead)
					break;
				if (e & EPOLLOUT)
					client_flush(s, c);
				if (!c->dead && (e & EPOLLIN))
					client_read(s, c);
				if (!c->dead && (e & (EPOLLHUP | EPOLLERR))) {
					client_close(s, c); /* fully gone */
					break;
				}
				if (!c->dead)
					client_process(s, c);
				break;
			}
			case H_CKPT:
				ckpt_done(s);
				break;
			case H_MIG:
				mig_event(s);
				break;
			}
		}
		free_dead_clients(s, false);
		check_deadlines(s);
		check_idle_clients(s);
		free_dead_clients(s, false);
	}
	return 0;
}

/* ---- start and end ---- */

static void fill_record(struct sup *s, struct rundir_record *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", s->name);
	r->pid = s->t.pid;
	r->ns_pid = s->t.ns_pid;
	r->parent_pid = getpid();
	r->started_ns = s->t.started_ns;
	snprintf(r->command, sizeof(r->command), "%s", s->command);
	snprintf(r->origin, sizeof(r->origin), "%s", s->t.origin);
}

/* Target ended and drained: leave the status, clean up, answer `wait`. */
static void finish(struct sup *s)
{
	struct rundir_record r;

	fill_record(s, &r);
	r.status = rundir_shell_status(s->raw_status);
	r.raw_status = s->raw_status;
	r.ended_ns = real_ns();
	rundir_write_record(s->dir, RUNDIR_STATUS, &r, true);
	if (s->sock_made)
		rundir_remove(s->dir, s->name, RUNDIR_SOCK);
	s->sock_made = false;
	if (s->info_made)
		rundir_remove(s->dir, s->name, RUNDIR_INFO);
	s->info_made = false;
	if (s->lsock >= 0) {
		ep_del(s, s->lsock);
		close(s->lsock);
		s->lsock = -1;
	}

	/* Answer every request still open, then give the replies a moment. */
	for (struct client *c = s->clients; c; c = c->next) {
		if (c->dead)
			continue;
		if (c->waiting)
			reply_wait(s, c);
		if (!c->dead && !c->busy)
			client_process(s, c); /* lines that came after a `wait` */
	}
	for (struct client *c = s->clients; c; c = c->next) {
		uint64_t deadline = mono_ns() + 1000000000ULL;

		while (!c->dead && c->outlen > c->outoff && mono_ns() < deadline) {
			struct pollfd p = {.fd = c->fd, .events = POLLOUT};

			poll(&p, 1, 100);
			client_flush(s, c);
		}
	}
}

/* Something went badly wrong with the target running: end it for good. */
static void teardown(struct sup *s)
{
	if (s->t.init_pid > 0 && !s->init_reaped) {
		kill(s->t.init_pid, SIGKILL);
		kill(s->t.pid, SIGKILL);
		while (!s->init_reaped) {
			int st;
			pid_t pid = waitpid(-1, &st, __WALL);

			if (pid < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			if (WIFSTOPPED(st)) {
				/* An exit stop (PTRACE_EVENT_EXIT) is not ended by
				 * SIGKILL: only we can let it go, and init waits for it. */
				ptrace_resume(PTRACE_CONT, pid, 0);
				continue;
			}
			if (pid == s->t.pid && (WIFEXITED(st) || WIFSIGNALED(st)))
				target_ended(s, st, "was killed");
			if (pid == s->t.init_pid && (WIFEXITED(st) || WIFSIGNALED(st))) {
				s->init_reaped = true;
				target_ended(s, st, "was killed");
			}
		}
	}
	if (!s->ended)
		target_ended(s, W_EXITCODE(0, SIGKILL), "was killed");
	track_free(s->tk);
	s->tk = NULL;
}

static int open_logs(struct sup *s)
{
	char path[PATH_MAX];
	int ret;

	ret = rundir_path(path, sizeof(path), s->dir, s->name, RUNDIR_LOG);
	if (ret)
		return ret;
	s->logfd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600);
	if (s->logfd < 0)
		return pr_perror("cannot create %s", path);
	if (fchmod(s->logfd, 0600))
		return pr_perror("cannot chmod %s", path);
	if (!s->detach) {
		fwd_init_std(s, &s->fwd[0], STDOUT_FILENO, "stdout");
		fwd_init_std(s, &s->fwd[1], STDERR_FILENO, "stderr");
	}
	if (s->log_file) {
		ret = fwd_init_file(s, &s->fwd[2], s->log_file);
		if (ret)
			return ret;
	}
	return 0;
}

static void wire_sources(struct sup *s)
{
	for (int i = 1; i <= 2; i++) {
		struct src *r = &s->src[i];

		r->h.kind = H_SRC;
		r->what = i == 1 ? "stdout" : "stderr";
		r->fd = s->t.log_rd[i];
		r->nto = 0;
		if (r->fd < 0) {
			r->eof = true;
			continue;
		}
		fcntl(r->fd, F_SETFL, fcntl(r->fd, F_GETFL) | O_NONBLOCK);
		if (!s->detach && s->fwd[i - 1].fd >= 0 && !s->fwd[i - 1].dead)
			r->to[r->nto++] = &s->fwd[i - 1];
		if (s->fwd[2].fd >= 0)
			r->to[r->nto++] = &s->fwd[2];
	}
}

/* What is being started. */
struct start {
	bool restore;
	const struct rtcr_run_opts *run;
	const struct rtcr_restore_opts *rst;
	const char *want; /* wanted name */
	bool explicit_name;
	char origin[256];
	struct img *im; /* restore a received image (rtcr serve), frozen */
	char *name_out; /* detached: the name, instead of printing it */
	size_t name_len;
};

static int reserve_name(struct sup *s, const struct start *st)
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

static int start_target(struct sup *s, const struct start *st)
{
	const char *track = st->restore ? st->rst->track : st->run->track;
	int ret;

	if (track) {
		struct track_opts to;

		ret = track_parse(track, &to);
		if (ret)
			return ret;
		ret = track_new(&to, &s->tk);
		if (ret)
			return ret;
	}

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
		s->t.started_ns = real_ns();
	rundir_join_argv(s->t.argv, s->command, sizeof(s->command));
	return 0;
}

static void send_ready(struct sup *s, int ret)
{
	char line[1200];
	int n;

	if (s->ready_fd < 0)
		return;
	if (ret == 0)
		n = snprintf(line, sizeof(line), "ready %s\n", s->name);
	else
		n = snprintf(line, sizeof(line), "error %s\n",
			     *log_last_error() ? log_last_error() : strerror(-ret));
	if (n > (int)sizeof(line) - 1)
		n = sizeof(line) - 1;
	if (write(s->ready_fd, line, (size_t)n) < 0) {
		/* the waiting process is gone: carry on */
	}
	close(s->ready_fd);
	s->ready_fd = -1;
}

/*
 * Be the parent of a new target until it ends. ready_fd >= 0 (detached):
 * report "ready NAME" or "error MESSAGE" there. Returns the target's
 * status (code or 128+signal) or -errno before it ran.
 */
static int supervise(const struct start *st, bool detach, const char *log_file, int ready_fd)
{
	struct sup *s;
	struct rundir_record rec;
	struct sigaction old_pipe;
	sigset_t mask, old;
	int ret, result;
	bool started = false;

	s = calloc(1, sizeof(*s));
	if (!s) {
		pr_err("out of memory");
		if (ready_fd >= 0)
			close(ready_fd);
		return -ENOMEM;
	}
	s->detach = detach;
	s->log_file = log_file;
	s->ready_fd = ready_fd;
	s->epfd = s->sigfd = s->lsock = s->logfd = -1;
	s->ck.efd = -1;
	s->mig.efd = -1;
	s->ck.dirfd = -1;
	s->t.init_pid = s->t.pid = -1;
	for (int i = 0; i < 3; i++) {
		s->t.log_rd[i] = -1;
		s->src[i].fd = -1;
		s->fwd[i].fd = -1;
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGQUIT);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	/* Blocked before the target exists, so that none of them is lost;
	 * launch_target() and restore_target() give their children a clean mask. */
	pthread_sigmask(SIG_BLOCK, &mask, &old);

	ret = rtcr_rundir(s->dir, sizeof(s->dir));
	if (ret)
		goto out;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0) {
		ret = pr_perror("epoll_create1");
		goto out;
	}
	s->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (s->sigfd < 0) {
		ret = pr_perror("signalfd");
		goto out;
	}
	s->sig_h.kind = H_SIGNAL;
	s->listen_h.kind = H_LISTEN;
	s->ck.h.kind = H_CKPT;
	s->ck.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	s->mig.h.kind = H_MIG;
	s->mig.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_mutex_init(&s->mig.mu, NULL);
	pthread_cond_init(&s->mig.cv, NULL);
	pthread_mutex_init(&s->mig.pg.mu, NULL);
	if (s->ck.efd < 0 || s->mig.efd < 0) {
		ret = pr_perror("eventfd");
		goto out;
	}
	if ((ret = ep_add(s, s->sigfd, &s->sig_h, EPOLLIN)) ||
	    (ret = ep_add(s, s->ck.efd, &s->ck.h, EPOLLIN)) ||
	    (ret = ep_add(s, s->mig.efd, &s->mig.h, EPOLLIN))) {
		errno = -ret;
		ret = pr_perror("epoll_ctl");
		goto out;
	}

	ret = reserve_name(s, st);
	if (ret)
		goto out;
	ret = open_logs(s);
	if (ret)
		goto out;
	if (detach)
		log_set_fd(s->logfd); /* our stderr is /dev/null now */
	if ((ret = ep_add(s, s->lsock, &s->listen_h, EPOLLIN))) {
		errno = -ret;
		ret = pr_perror("epoll_ctl");
		goto out;
	}

	ret = start_target(s, st);
	if (ret)
		goto out;
	started = true;
	/* after the target exists: it must not inherit this */
	sigaction(SIGPIPE, &(struct sigaction){.sa_handler = SIG_IGN}, &old_pipe);
	wire_sources(s);

	fill_record(s, &rec);
	if (rundir_write_record(s->dir, RUNDIR_INFO, &rec, false) == 0)
		s->info_made = true;
	pr_info("target %s started: pid %d (%d in its namespace)", s->name, (int)s->t.pid,
		(int)s->t.ns_pid);
	send_ready(s, 0);

	ret = run_loop(s);
	if (ret) {
		s->fatal = true;
		teardown(s);
	}
	finish(s);
	ret = 0;
out:
	if (ret && !started) {
		send_ready(s, ret);
		if (s->sock_made)
			rundir_remove(s->dir, s->name, RUNDIR_SOCK);
	}
	result = ret ? ret : rundir_shell_status(s->raw_status);
	if (s->ck.running) /* only after a fatal loop error */
		pthread_join(s->ck.th, NULL);
	free_dead_clients(s, true);
	for (int i = 0; i < 3; i++) {
		if (s->fwd[i].own && s->fwd[i].fd >= 0)
			close(s->fwd[i].fd);
		free(s->fwd[i].buf);
		if (s->t.log_rd[i] >= 0)
			close(s->t.log_rd[i]);
	}
	if (s->t.argv) {
		for (char **a = s->t.argv; *a; a++)
			free(*a);
		free(s->t.argv);
	}
	if (s->logfd >= 0) {
		if (detach)
			log_set_fd(-1);
		close(s->logfd);
	}
	if (s->lsock >= 0)
		close(s->lsock);
	if (s->ck.efd >= 0)
		close(s->ck.efd);
	if (s->sigfd >= 0)
		close(s->sigfd);
	if (s->epfd >= 0)
		close(s->epfd);
	if (ready_fd >= 0 && s->ready_fd >= 0)
		close(s->ready_fd);
	free(s);
	if (started)
		sigaction(SIGPIPE, &old_pipe, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return result;
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
		ret = supervise(st, true, log_file, p[1]);
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
	return supervise(st, false, log_file, -1);
}

int rtcr_run(const struct rtcr_run_opts *o)
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

int rtcr_restore(const struct rtcr_restore_opts *o)
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
	n = snprintf(st.origin, sizeof(st.origin), "restore %s", absdir);
	if (n < 0 || (size_t)n >= sizeof(st.origin))
		pr_warn("image path %s is too long to be shown in full", absdir);
	return start(&st, o->detach, o->log_file);
}
