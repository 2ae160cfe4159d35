/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The target's output (see sup-internal.h): the LOG pipes are copied to
 * NAME.log and forwarded to our stdout/stderr (foreground) and --log FILE,
 * without ever letting a slow reader stop the parent.
 */
#define LOG_PREFIX "supervisor: "
#include "control/sup-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "control/rundir.h"

/* ---- output forwarding ---- */

void sup_fwd_kill(struct sup *s, struct fwd *f, int err)
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
		sup_ep_del(s, f->fd);
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

size_t sup_fwd_pending(const struct fwd *f)
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
		int ret = sup_ep_add(s, f->fd, &f->h, 0);

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
	if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode) && sup_ep_add(s, fd, &f->h, 0) == 0) {
		f->poll = true;
		f->in_epoll = true;
	}
	return 0;
}

static void fwd_arm(struct sup *s, struct fwd *f)
{
	uint32_t ev = sup_fwd_pending(f) ? EPOLLOUT : 0;

	if (f->in_epoll)
		sup_ep_mod(s, f->fd, &f->h, ev);
}

void sup_fwd_flush(struct sup *s, struct fwd *f)
{
	while (!f->dead && sup_fwd_pending(f)) {
		ssize_t w = fwd_raw_write(f, f->buf + f->off, sup_fwd_pending(f));

		if (w > 0) {
			f->off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		sup_fwd_kill(s, f, w < 0 ? errno : EIO);
		return;
	}
	if (!f->dead && !sup_fwd_pending(f))
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
	if (!sup_fwd_pending(f)) {
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
			sup_fwd_kill(s, f, w < 0 ? errno : EIO);
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
			sup_fwd_kill(s, f, ENOMEM);
			return;
		}
		f->buf = nb;
		f->alloc = na;
	}
	memcpy(f->buf + f->len, p, n);
	f->len += n;
	fwd_arm(s, f);
}

/* Unlike a forward's loop: the log file blocks, and a failure warns once. */
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
		if (!r->to[i]->dead && r->to[i]->poll && sup_fwd_pending(r->to[i]) >= FWD_CAP)
			return false;
	return true;
}

/* Register a LOG pipe in epoll only while its forwards keep up. */
void sup_src_update(struct sup *s, struct src *r)
{
	bool want = r->fd >= 0 && !r->eof && src_may_read(r);

	if (want == r->in_epoll)
		return;
	if (want) {
		if (sup_ep_add(s, r->fd, &r->h, EPOLLIN) == 0)
			r->in_epoll = true;
	} else {
		sup_ep_del(s, r->fd);
		r->in_epoll = false;
	}
}

/* Read one chunk; returns the number of bytes read (0 at EOF or when nothing is there). */
ssize_t sup_src_read(struct sup *s, struct src *r)
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
		sup_src_update(s, r);
		return 0;
	}
	log_append(s, buf, (size_t)n);
	for (int i = 0; i < r->nto; i++)
		fwd_push(s, r->to[i], buf, (size_t)n);
	return n;
}

int sup_open_logs(struct sup *s)
{
	char path[PATH_MAX];
	int ret;

	ret = rundir_path(path, sizeof(path), s->dir, s->name, RUNDIR_LOG);
	if (ret)
		return ret;
	s->logfd =
	    open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW,
		 0600);
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

void sup_wire_sources(struct sup *s)
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
