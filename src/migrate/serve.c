/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rtcr serve: the daemon on a destination node. It accepts authenticated
 * connections and runs each migration in a child process of its own (a
 * session, recv.c), so that one peer, however it behaves, cannot stop the
 * others or the daemon. A restored target gets its own detached parent, as
 * with rtcr restore --detach.
 */
#define LOG_PREFIX "serve: "
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "base/log.h"
#include "migrate/mig.h"
#include "rtcr/rtcr.h"

static volatile sig_atomic_t stop_serving;

static void on_term(int sig)
{
	(void)sig;
	stop_serving = 1;
}

static void reap_sessions(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

static int serve_loop(int lfd, const struct serve_opts *so)
{
	while (!stop_serving) {
		struct stream *s = NULL;
		pid_t child;
		int ret;

		struct pollfd pf = {.fd = lfd, .events = POLLIN};

		reap_sessions();
		/* wake up now and then to reap and to see a stop request */
		if (poll(&pf, 1, 1000) <= 0 || !(pf.revents & POLLIN))
			continue;
		ret = stream_accept(lfd, so->key, so->timeout_ms, &s);
		if (ret) {
			/* a peer that failed the handshake: logged; go on */
			continue;
		}
		child = fork();
		if (child < 0) {
			pr_perror("fork a session for %s", stream_peer(s));
			stream_close(s);
			continue;
		}
		if (child == 0) {
			close(lfd);
			signal(SIGTERM, SIG_DFL);
			signal(SIGINT, SIG_DFL);
			ret = mig_recv_session(s, so);
			stream_close(s);
			_exit(ret ? 1 : 0);
		}
		stream_close(s);
	}
	return 0;
}

int mig_serve(const struct rtcr_serve_opts *o, const struct mig_recv_hooks *h)
{
	struct serve_opts so;
	struct sigaction sa;
	int lfd = -1, ret;

	memset(&so, 0, sizeof(so));
	if (!o->listen || !o->key_file) {
		pr_err("serve: --listen and --key are needed");
		return -EINVAL;
	}
	if (sodium_init() < 0) {
		pr_err("libsodium cannot start");
		return -EIO;
	}
	snprintf(so.listen, sizeof(so.listen), "%s", o->listen);
	snprintf(so.key_path, sizeof(so.key_path), "%s", o->key_file);
	so.timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 10000;
	so.max_bytes = 1ULL << 40;
	so.hooks = h;
	ret = stream_key_load(o->key_file, so.key);
	if (ret)
		return ret;
	ret = stream_listen(o->listen, &lfd);
	if (ret)
		goto out;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (o->detach) {
		pid_t child;

		fflush(NULL);
		child = fork();
		if (child < 0) {
			ret = pr_perror("fork");
			goto out;
		}
		if (child > 0) {
			printf("serving on %s (pid %d)\n", o->listen, (int)child);
			fflush(stdout);
			close(lfd);
			sodium_memzero(so.key, sizeof(so.key));
			return 0;
		}
		setsid();
		{
			/* nothing of the caller's terminal or pipes: log to a file */
			int fd = o->log_file ? open(o->log_file,
						    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)
					     : open("/dev/null", O_RDWR | O_CLOEXEC);

			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
				if (fd > 2)
					close(fd);
			}
			fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			if (fd >= 0) {
				dup2(fd, 0);
				if (fd > 2)
					close(fd);
			}
		}
	} else {
		printf("serving on %s\n", o->listen);
		fflush(stdout);
	}
	ret = serve_loop(lfd, &so);
	if (o->detach)
		_exit(0);
out:
	if (lfd >= 0)
		close(lfd);
	sodium_memzero(so.key, sizeof(so.key));
	return ret;
}
