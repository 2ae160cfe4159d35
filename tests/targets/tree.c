/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tree: a process tree. The main process P0 forks P1 (its own process
 * group) and a child Z that exits with status 7 and is left unreaped (a
 * zombie); P1 forks P2, which calls setsid. P0 and P1 share a
 * MAP_SHARED|MAP_ANONYMOUS page and a pipe with 3000 bytes in flight from
 * P0 to P1; P1 answers on a second pipe. On SIGUSR1 P0 checks its own ids,
 * writes into the shared page and wakes P1 (SIGUSR1); P1 checks the pipe
 * data, the shared page and its ids, asks P2 (SIGUSR1) to check its ids,
 * reaps P2 and reports on the answer pipe; P0 reaps the zombie (status
 * must be 7) and P1 and prints PASS.
 */
#include <sys/mman.h>
#include <sys/wait.h>

#include "tgt.h"

#define NBYTES 3000

static unsigned char pattern(int i)
{
	return (unsigned char)(i * 7 + 3);
}

static int p2_main(pid_t want_ppid)
{
	pid_t me = getpid();

	SETUP(setsid() == me, "setsid");
	while (!tgt_usr1)
		tgt_sleep_ms(50);
	CHECK(getpid() == me, "P2: pid changed");
	CHECK(getppid() == want_ppid, "P2: parent %d, want %d", getppid(), want_ppid);
	CHECK(getsid(0) == me, "P2: session %d, want %d", getsid(0), me);
	CHECK(getpgrp() == me, "P2: group %d, want %d", getpgrp(), me);
	return tgt_failures ? 1 : 0;
}

static int p1_main(int rd, int ans, volatile unsigned char *shm, pid_t want_ppid)
{
	unsigned char buf[NBYTES + 16];
	pid_t me = getpid(), p2;
	int st, n = 0, r;

	SETUP(setpgid(0, 0) == 0, "setpgid");
	p2 = fork();
	SETUP(p2 >= 0, "fork P2");
	if (p2 == 0)
		_exit(p2_main(me));
	shm[1] = 0x11; /* P1 was here */
	while (!tgt_usr1)
		tgt_sleep_ms(50);
	CHECK(getpid() == me, "P1: pid changed");
	CHECK(getppid() == want_ppid, "P1: parent %d, want %d", getppid(), want_ppid);
	CHECK(getpgrp() == me, "P1: group %d, want %d", getpgrp(), me);
	CHECK(shm[0] == 0x5a, "P1: shared page written by P0 reads %#x", shm[0]);
	while (n < NBYTES && (r = (int)read(rd, buf + n, sizeof(buf) - (size_t)n)) > 0)
		n += r;
	CHECK(n == NBYTES, "P1: %d bytes in the pipe, want %d", n, NBYTES);
	for (int i = 0; i < n && i < NBYTES; i++)
		if (buf[i] != pattern(i)) {
			CHECK(0, "P1: pipe byte %d is %#x", i, buf[i]);
			break;
		}
	kill(p2, SIGUSR1);
	CHECK(waitpid(p2, &st, 0) == p2 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "P1: P2 failed (status %#x)", st);
	r = tgt_failures ? 'F' : 'P';
	CHECK(write(ans, &r, 1) == 1, "P1: answer");
	return tgt_failures ? 1 : 0;
}

int main(void)
{
	int p[2], a[2], st;
	unsigned char buf[NBYTES], ans = 0;
	volatile unsigned char *shm;
	pid_t me = getpid(), p1, z;

	tgt_install_usr1();
	shm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	SETUP(shm != MAP_FAILED, "mmap shared");
	SETUP(pipe(p) == 0 && pipe(a) == 0, "pipe");
	p1 = fork();
	SETUP(p1 >= 0, "fork P1");
	if (p1 == 0) {
		close(p[1]);
		close(a[0]);
		_exit(p1_main(p[0], a[1], shm, me));
	}
	close(p[0]);
	close(a[1]);
	for (int i = 0; i < NBYTES; i++)
		buf[i] = pattern(i);
	SETUP(write(p[1], buf, NBYTES) == NBYTES, "fill the pipe");
	z = fork();
	SETUP(z >= 0, "fork Z");
	if (z == 0)
		_exit(7);
	while (shm[1] != 0x11)
		tgt_sleep_ms(10);
	tgt_sleep_ms(100); /* Z is a zombie, P2 has called setsid */
	say("READY");
	tgt_wait_usr1();
	CHECK(getpid() == me, "P0: pid changed");
	CHECK(getppid() == 1, "P0: parent %d, want 1", getppid());
	shm[0] = 0x5a;
	CHECK(kill(p1, SIGUSR1) == 0, "P0: P1 (%d) is gone", p1);
	CHECK(read(a[0], &ans, 1) == 1 && ans == 'P', "P0: P1 answered '%c'", ans ? ans : '?');
	CHECK(waitpid(p1, &st, 0) == p1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "P0: P1 status %#x", st);
	CHECK(waitpid(z, &st, WNOHANG) == z && WIFEXITED(st) && WEXITSTATUS(st) == 7,
	      "P0: zombie %d status %#x, want exit 7", z, st);
	tgt_finish();
}
