/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control protocol: the helpers both sides share, and one request of a
 * client (ctl_request). The client calls of the public API built on it are
 * in src/api/client.c.
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

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/scm.h"
#include "control/rundir.h"

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

		if (first && send_fd >= 0)
			scm_attach(&mh, cbuf, sizeof(cbuf), SCM_RIGHTS, &send_fd, sizeof(send_fd));
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
