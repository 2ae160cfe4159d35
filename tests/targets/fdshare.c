/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fdshare: a child made with clone(CLONE_FILES) (no CLONE_VM) shares its
 * parent's descriptor table. On SIGUSR1 the parent opens a descriptor and
 * sends its number down a pipe; the child must find it open (same table),
 * closes it, and answers on a second pipe; then the parent must find it
 * closed. PASS when both hold.
 */
#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>

#include "tgt.h"

static int req[2], ans[2];
static char stack[256 * 1024] __attribute__((aligned(16)));

static int child(void *arg)
{
	char verdict;
	int fd;

	(void)arg;
	if (read(req[0], &fd, sizeof(fd)) != (ssize_t)sizeof(fd))
		return 1;
	verdict = fcntl(fd, F_GETFD) >= 0 ? 'P' : 'F';
	close(fd);
	return write(ans[1], &verdict, 1) == 1 ? 0 : 1;
}

int main(void)
{
	char verdict = 0;
	int st, fd;
	pid_t pid;

	tgt_install_usr1();
	SETUP(pipe(req) == 0 && pipe(ans) == 0, "pipe");
	pid = clone(child, stack + sizeof(stack), CLONE_FILES | SIGCHLD, NULL);
	SETUP(pid > 0, "clone(CLONE_FILES)");
	say("READY");
	tgt_wait_usr1();
	fd = open("/dev/zero", O_RDONLY);
	CHECK(fd >= 0, "open /dev/zero");
	CHECK(write(req[1], &fd, sizeof(fd)) == (ssize_t)sizeof(fd), "send the number");
	CHECK(read(ans[0], &verdict, 1) == 1, "no answer from the child");
	CHECK(verdict == 'P', "the child did not see fd %d: tables not shared", fd);
	CHECK(fcntl(fd, F_GETFD) < 0 && errno == EBADF,
	      "fd %d, closed by the child, is still open here: tables not shared", fd);
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "child status %#x", st);
	tgt_finish();
}
