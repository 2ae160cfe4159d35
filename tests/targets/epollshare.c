/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * epollshare: epoll interest lists that refer to descriptor tables of
 * other processes. P0 makes epoll E1 watching its pipe A (data 0xA) and
 * has /dev/null at fd 40; it forks C, which inherits E1 and adds its own
 * pipe B, at fd 40 (so fd 40 names another file in P0), with data 0xB: an
 * inherited epoll modified by the child. C also has its own epoll E2 at
 * fd 41 watching its pipe D at fd 42 (data 0xD), numbers P0 does not
 * have. Every pipe holds a byte. On SIGUSR1 P0 checks epoll_wait(E1)
 * reports 0xA and 0xB, wakes C; C checks E1 (0xA, 0xB), E2 (0xD), that
 * E1's entry for fd 40 is keyed to its fd 40 (EPOLL_CTL_MOD works, ADD
 * says EEXIST); P0 reaps C (status 0) and prints PASS.
 */
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/wait.h>

#include "tgt.h"

/* The data words epoll_wait reports, as a bit set (bit = data & 15). */
static unsigned ready_set(int ep)
{
	struct epoll_event ev[8];
	unsigned set = 0;
	int n = epoll_wait(ep, ev, 8, 1000);

	for (int i = 0; i < n; i++)
		set |= 1u << (ev[i].data.u64 & 15);
	return set;
}

static void add(int ep, int fd, uint64_t data)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = data};

	SETUP(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0, "epoll_ctl ADD");
}

static void full_pipe_at(int want)
{
	int p[2];

	SETUP(pipe(p) == 0, "pipe");
	SETUP(write(p[1], "x", 1) == 1, "write");
	SETUP(dup2(p[0], want) == want, "dup2");
	close(p[0]);
	/* the write end stays open (no EPOLLHUP), under a number of its own */
	SETUP(dup2(p[1], want + 20) == want + 20, "dup2");
	close(p[1]);
}

static int child_main(int e1, int ans)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0xB};
	int e2;
	char r;

	close(40);	  /* P0's /dev/null */
	full_pipe_at(40); /* B */
	add(e1, 40, 0xB);
	e2 = epoll_create1(0);
	SETUP(e2 >= 0 && dup2(e2, 41) == 41, "epoll E2");
	close(e2);
	full_pipe_at(42); /* D */
	add(41, 42, 0xD);
	SETUP(write(ans, "r", 1) == 1, "ready");
	tgt_wait_usr1();
	CHECK(ready_set(e1) == ((1u << 0xA) | (1u << 0xB)), "C: E1 reports %#x, want A and B",
	      ready_set(e1));
	CHECK(ready_set(41) == 1u << 0xD, "C: E2 reports %#x, want D", ready_set(41));
	CHECK(epoll_ctl(e1, EPOLL_CTL_MOD, 40, &ev) == 0, "C: E1 has no entry for its fd 40: %s",
	      strerror(errno));
	errno = 0;
	CHECK(epoll_ctl(e1, EPOLL_CTL_ADD, 40, &ev) < 0 && errno == EEXIST,
	      "C: adding fd 40 to E1 again: %s, want EEXIST", strerror(errno));
	r = tgt_failures ? 'F' : 'P';
	CHECK(write(ans, &r, 1) == 1, "C: answer");
	return tgt_failures ? 1 : 0;
}

int main(void)
{
	int e1, a[2], st, nul;
	char r = 0;
	pid_t c;

	tgt_install_usr1();
	nul = open("/dev/null", O_RDONLY);
	SETUP(nul >= 0 && dup2(nul, 40) == 40, "/dev/null at 40");
	close(nul);
	e1 = epoll_create1(0);
	SETUP(e1 >= 0, "epoll_create1");
	full_pipe_at(30); /* A */
	add(e1, 30, 0xA);
	SETUP(pipe(a) == 0, "pipe");
	c = fork();
	SETUP(c >= 0, "fork");
	if (c == 0) {
		close(a[0]);
		_exit(child_main(e1, a[1]));
	}
	close(a[1]);
	SETUP(read(a[0], &r, 1) == 1 && r == 'r', "child ready");
	say("READY");
	tgt_wait_usr1();
	CHECK(ready_set(e1) == ((1u << 0xA) | (1u << 0xB)), "P0: E1 reports %#x, want A and B",
	      ready_set(e1));
	CHECK(fcntl(41, F_GETFD) < 0 && fcntl(42, F_GETFD) < 0, "P0: has fd 41 or 42");
	CHECK(kill(c, SIGUSR1) == 0, "P0: child %d is gone", c);
	r = 0;
	CHECK(read(a[0], &r, 1) == 1 && r == 'P', "P0: child answered '%c'", r ? r : '?');
	CHECK(waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "P0: child status %#x", st);
	tgt_finish();
}
