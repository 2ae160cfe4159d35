/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Control-socket clients of the parent (see sup-internal.h; the protocol
 * is described in control.c): connections, request lines, replies, and
 * the small requests (info, kill, wait, thaw).
 */
#define LOG_PREFIX "supervisor: "
#include "control/sup-internal.h"

#include <errno.h>
#include <fcntl.h>
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
		sup_ep_mod(s, c->fd, &c->h, ev);
		c->ev = ev;
	}
}

void sup_client_close(struct sup *s, struct client *c)
{
	if (c->dead)
		return;
	c->dead = true;
	sup_ep_del(s, c->fd);
	if (s->ck.client == c)
		s->ck.client = NULL;
}

void sup_client_flush(struct sup *s, struct client *c)
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
		sup_client_close(s, c); /* gone: nobody to answer */
		return;
	}
	if (c->outoff == c->outlen) {
		free(c->out);
		c->out = NULL;
		c->outoff = c->outlen = 0;
	}
}

void sup_client_send(struct sup *s, struct client *c, const char *p, size_t n)
{
	char *nb;

	if (!c || c->dead)
		return;
	nb = realloc(c->out, c->outlen + n);
	if (!nb) {
		sup_client_close(s, c);
		return;
	}
	c->out = nb;
	memcpy(c->out + c->outlen, p, n);
	c->outlen += n;
	sup_client_flush(s, c);
	client_update(s, c);
}

void sup_reply_error(struct sup *s, struct client *c, const char *msg)
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
	sup_client_send(s, c, line, n);
}

/* Reply built with a memstream: "ok" + fields, newline added here. */
void sup_reply_stream(struct sup *s, struct client *c, char *buf, size_t len)
{
	char *nb = realloc(buf, len + 1);

	if (!nb) {
		free(buf);
		sup_reply_error(s, c, "out of memory");
		return;
	}
	nb[len++] = '\n';
	sup_client_send(s, c, nb, len);
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
		sup_reply_error(s, c, "usage: info");
		return;
	}
	m = open_memstream(&buf, &len);
	if (!m) {
		sup_reply_error(s, c, "out of memory");
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
		sup_reply_error(s, c, "out of memory");
		return;
	}
	sup_reply_stream(s, c, buf, len);
}

static void req_kill(struct sup *s, struct client *c, int argc, char **argv)
{
	char *end;
	long sig;

	if (argc != 2) {
		sup_reply_error(s, c, "usage: kill SIGNAL-NUMBER");
		return;
	}
	errno = 0;
	sig = strtol(argv[1], &end, 10);
	if (errno || *end || end == argv[1] || sig < 0 || sig > SIGRTMAX) {
		sup_reply_error(s, c, "invalid signal number");
		return;
	}
	if (s->ended) {
		sup_reply_error(s, c, "the target has exited");
		return;
	}
	if (kill(s->t.pid, (int)sig)) {
		char msg[128];

		snprintf(msg, sizeof(msg), "kill: %s", strerror(errno));
		sup_reply_error(s, c, msg);
		return;
	}
	sup_client_send(s, c, "ok\n", 3);
}

void sup_reply_wait(struct sup *s, struct client *c)
{
	char line[128];
	int n = snprintf(line, sizeof(line), "ok status=%d raw_status=%d pid=%d\n",
			 rundir_shell_status(s->raw_status), s->raw_status, (int)s->t.pid);

	c->busy = c->waiting = false;
	sup_client_send(s, c, line, (size_t)n);
}

static void req_wait(struct sup *s, struct client *c, int argc, char **argv)
{
	if (argc != 1) {
		sup_reply_error(s, c, "usage: wait");
		return;
	}
	/* Answered once NAME.status is written (see finish()). */
	c->busy = c->waiting = true;
}

static void req_thaw(struct sup *s, struct client *c, int argc, char **argv)
{
	int ret;

	(void)argc;
	(void)argv;
	if (!s->t.nfrozen) {
		sup_reply_error(s, c, "the target is not frozen");
		return;
	}
	log_clear_error();
	ret = restore_thaw(&s->t);
	if (ret)
		sup_reply_error(s, c, *log_last_error() ? log_last_error() : strerror(-ret));
	else
		sup_client_send(s, c, "ok\n", 3);
}

/* The request table: later work adds requests here. */
static const struct request {
	const char *name;
	void (*fn)(struct sup *s, struct client *c, int argc, char **argv);
} requests[] = {
    {"info", req_info},		  {"kill", req_kill},
    {"wait", req_wait},		  {"checkpoint", sup_req_checkpoint},
    {"thaw", req_thaw},		  {"migrate", sup_req_migrate},
    {"migstat", sup_req_migstat},
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
			sup_reply_error(s, c, "too many arguments");
			goto out;
		}
		argv[argc++] = tok;
	}
	argv[argc] = NULL;
	if (!argc) {
		sup_reply_error(s, c, "empty request");
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
		sup_reply_error(s, c, msg);
	}
out:
	/* An fd is only good for the request it came with. */
	if (c->pending_fd >= 0 && !c->busy) {
		close(c->pending_fd);
		c->pending_fd = -1;
	}
}

/* Answer the complete lines in c->in, one at a time, in order. */
void sup_client_process(struct sup *s, struct client *c)
{
	while (!c->dead && !c->busy) {
		char *nl = memchr(c->in, '\n', c->inlen);
		size_t ll;

		if (!nl) {
			if (c->inlen == sizeof(c->in)) {
				sup_reply_error(s, c, "request too long");
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
			sup_reply_error(s, c, "NUL byte in request");
		} else {
			c->last_ns = sup_mono_ns();
			client_dispatch(s, c, c->in);
		}
		ll = ll < c->inlen ? ll + 1 : c->inlen;
		memmove(c->in, c->in + ll, c->inlen - ll);
		c->inlen -= ll;
	}
	if (!c->dead && c->rd_eof && !c->busy && !c->inlen && c->outlen == c->outoff)
		sup_client_close(s, c);
	else
		client_update(s, c);
}

void sup_client_read(struct sup *s, struct client *c)
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
		sup_client_close(s, c);
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
		c->last_ns = sup_mono_ns();
	}
	sup_client_process(s, c);
}

void sup_accept_clients(struct sup *s)
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
		c->last_ns = sup_mono_ns();
		if (sup_ep_add(s, fd, &c->h, c->ev)) {
			close(fd);
			free(c);
			continue;
		}
		c->next = s->clients;
		s->clients = c;
	}
}

void sup_free_dead_clients(struct sup *s, bool all)
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
			sup_ep_del(s, c->fd);
		if (s->ck.client == c)
			s->ck.client = NULL;
		if (c->pending_fd >= 0)
			close(c->pending_fd);
		close(c->fd);
		free(c->out);
		free(c);
	}
}
