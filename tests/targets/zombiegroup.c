/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * zombiegroup: zombies in process groups and sessions other than their
 * parent's. P0 forks Z1, which makes its own group and exits 3; W, which
 * P0 then moves into Z1's group (a live process in a group whose leader
 * is a zombie); A, which makes its own group; Z2, which joins A's group
 * and exits 5; Z3, which calls setsid and is killed by SIGTERM. None is
 * reaped. On SIGUSR1 P0 compares every process's group and session in
 * /proc/PID/stat with what they were before, reaps the zombies (statuses
 * 3, 5, SIGTERM), stops W and A and prints PASS.
 */
#include <sys/wait.h>

#include "tgt.h"

#define N 5

/* Fields 5 (pgrp) and 6 (session) of /proc/pid/stat. */
static int stat_ids(pid_t pid, int *pgrp, int *sid)
{
	char path[64], buf[512], *p;
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	ok = fgets(buf, sizeof(buf), f) != NULL;
	fclose(f);
	p = ok ? strrchr(buf, ')') : NULL;
	if (!p || sscanf(p + 2, "%*c %*d %d %d", pgrp, sid) != 2)
		return -1;
	return 0;
}

static void wait_zombie(pid_t pid)
{
	siginfo_t si;

	SETUP(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) == 0, "waitid");
}

static pid_t child(int (*fn)(void))
{
	pid_t c = fork();

	SETUP(c >= 0, "fork");
	if (c == 0)
		_exit(fn());
	return c;
}

static pid_t a_pid;

static int z1_main(void)
{
	return setpgid(0, 0) == 0 ? 3 : 99;
}

static int live_main(void)
{
	for (;;)
		pause();
	return 0;
}

static int a_main(void)
{
	SETUP(setpgid(0, 0) == 0, "A: setpgid");
	return live_main();
}

static int z2_main(void)
{
	while (getpgid(a_pid) != a_pid)
		tgt_sleep_ms(5);
	return setpgid(0, a_pid) == 0 ? 5 : 99;
}

static int z3_main(void)
{
	if (setsid() < 0)
		return 99;
	kill(getpid(), SIGTERM);
	return 98;
}

int main(void)
{
	pid_t pid[N];
	int pg[N], sid[N], st;

	tgt_install_usr1();
	pid[0] = child(z1_main);
	wait_zombie(pid[0]);
	pid[1] = child(live_main); /* W */
	SETUP(setpgid(pid[1], pid[0]) == 0, "move W into Z1's group");
	pid[2] = a_pid = child(a_main);
	pid[3] = child(z2_main);
	wait_zombie(pid[3]);
	pid[4] = child(z3_main);
	wait_zombie(pid[4]);
	for (int i = 0; i < N; i++)
		SETUP(stat_ids(pid[i], &pg[i], &sid[i]) == 0, "read stat");
	SETUP(pg[0] == pid[0] && pg[1] == pid[0] && pg[2] == pid[2] && pg[3] == pid[2] &&
		  sid[4] == pid[4],
	      "groups");
	say("READY");
	tgt_wait_usr1();
	for (int i = 0; i < N; i++) {
		int g = -1, s = -1;

		CHECK(stat_ids(pid[i], &g, &s) == 0, "process %d: no /proc/%d/stat", i, pid[i]);
		CHECK(g == pg[i] && s == sid[i],
		      "process %d (pid %d): group %d session %d, want %d %d", i, pid[i], g, s,
		      pg[i], sid[i]);
	}
	CHECK(getpgid(0) == getpid() || getpgid(0) > 0, "P0: group");
	CHECK(waitpid(pid[0], &st, WNOHANG) == pid[0] && WIFEXITED(st) && WEXITSTATUS(st) == 3,
	      "Z1: status %#x, want exit 3", st);
	CHECK(waitpid(pid[3], &st, WNOHANG) == pid[3] && WIFEXITED(st) && WEXITSTATUS(st) == 5,
	      "Z2: status %#x, want exit 5", st);
	CHECK(waitpid(pid[4], &st, WNOHANG) == pid[4] && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM,
	      "Z3: status %#x, want SIGTERM", st);
	kill(pid[1], SIGKILL);
	kill(pid[2], SIGKILL);
	CHECK(waitpid(pid[1], &st, 0) == pid[1], "W: wait");
	CHECK(waitpid(pid[2], &st, 0) == pid[2], "A: wait");
	tgt_finish();
}
