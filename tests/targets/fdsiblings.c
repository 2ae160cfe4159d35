/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fdsiblings: descriptor tables shared by processes that are not parent
 * and child. The main process M forks C; C opens /dev/null at fd 50 and
 * makes D with clone(CLONE_PARENT | CLONE_FILES): D is M's child and shares
 * C's table. M also makes A and B with clone(CLONE_FILES): both share M's
 * table, and so each other's; A opens /dev/zero at fd 70. On SIGUSR1, in
 * turn: D checks fd 50 and its parent, dup2s it to fd 61, answers; C sees
 * fd 61 (its table is D's); A dup2s fd 70 to fd 71; B sees fd 71; M sees
 * fd 71 too; M reaps them all (status 0) and prints PASS.
 */
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "tgt.h"

static pid_t clone_files(unsigned long more)
{
	pid_t c = (pid_t)syscall(SYS_clone, CLONE_FILES | more | SIGCHLD, 0, 0, 0, 0);

	SETUP(c >= 0, "clone");
	return c;
}

static void answer(int ans, char ok)
{
	char r = tgt_failures ? 'F' : ok;

	CHECK(write(ans, &r, 1) == 1, "answer");
}

static bool has_fd(int fd, int ms)
{
	for (int i = 0; i < ms / 10 && fcntl(fd, F_GETFD) < 0; i++)
		tgt_sleep_ms(10);
	return fcntl(fd, F_GETFD) >= 0;
}

static int d_main(pid_t m, int ans)
{
	tgt_wait_usr1();
	CHECK(fcntl(50, F_GETFD) >= 0, "D: no fd 50 (C's table)");
	CHECK(getppid() == m, "D: parent %d, want %d", getppid(), m);
	CHECK(dup2(50, 61) == 61, "D: dup2");
	answer(ans, 'D');
	return tgt_failures ? 1 : 0;
}

static int c_main(pid_t m, int ans, int info)
{
	int nul = open("/dev/null", O_RDONLY);
	pid_t d;

	SETUP(nul >= 0 && dup2(nul, 50) == 50, "C: /dev/null at 50");
	close(nul);
	d = clone_files(CLONE_PARENT);
	if (d == 0)
		_exit(d_main(m, ans));
	SETUP(write(info, &d, sizeof(d)) == sizeof(d), "C: tell D's pid");
	tgt_wait_usr1();
	CHECK(has_fd(61, 2000), "C: no fd 61, which D made (not sharing D's table)");
	CHECK(getppid() == m, "C: parent %d, want %d", getppid(), m);
	answer(ans, 'C');
	return tgt_failures ? 1 : 0;
}

static int a_main(int ans)
{
	tgt_wait_usr1();
	CHECK(fcntl(70, F_GETFD) >= 0 && dup2(70, 71) == 71, "A: fd 70, dup2");
	answer(ans, 'A');
	return tgt_failures ? 1 : 0;
}

static int b_main(int ans)
{
	tgt_wait_usr1();
	CHECK(has_fd(71, 2000), "B: no fd 71, which A made (not sharing A's table)");
	answer(ans, 'B');
	return tgt_failures ? 1 : 0;
}

/* Wake one process, wait for its answer. */
static void ask(pid_t pid, int ans, char want, const char *name)
{
	char r = 0;

	CHECK(kill(pid, SIGUSR1) == 0, "%s (%d) is gone", name, pid);
	CHECK(read(ans, &r, 1) == 1 && r == want, "%s answered '%c'", name, r ? r : '?');
}

int main(void)
{
	int ans[2], info[2], z, st;
	pid_t m = getpid(), pid[4];
	const char *names[4] = {"C", "D", "A", "B"};

	tgt_install_usr1();
	SETUP(pipe(ans) == 0 && pipe(info) == 0, "pipe");
	pid[0] = fork();
	SETUP(pid[0] >= 0, "fork C");
	if (pid[0] == 0)
		_exit(c_main(m, ans[1], info[1]));
	SETUP(read(info[0], &pid[1], sizeof(pid[1])) == sizeof(pid[1]), "D's pid");
	z = open("/dev/zero", O_RDONLY);
	SETUP(z >= 0 && dup2(z, 70) == 70, "/dev/zero at 70");
	close(z);
	pid[2] = clone_files(0);
	if (pid[2] == 0)
		_exit(a_main(ans[1]));
	pid[3] = clone_files(0);
	if (pid[3] == 0)
		_exit(b_main(ans[1]));
	tgt_sleep_ms(100);
	say("READY");
	tgt_wait_usr1();
	ask(pid[1], ans[0], 'D', "D");
	ask(pid[0], ans[0], 'C', "C");
	ask(pid[2], ans[0], 'A', "A");
	ask(pid[3], ans[0], 'B', "B");
	CHECK(fcntl(71, F_GETFD) >= 0, "M: no fd 71, which A made");
	CHECK(fcntl(61, F_GETFD) < 0, "M: has fd 61 (C's and D's table)");
	for (int i = 0; i < 4; i++)
		CHECK(waitpid(pid[i], &st, 0) == pid[i] && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "M: %s status %#x", names[i], st);
	tgt_finish();
}
