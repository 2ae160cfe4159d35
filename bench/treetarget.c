/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Benchmark target: treetarget [READY_FILE]
 * A tree of 3 processes: the main process forks two children; each child
 * fills 16 MiB of private anonymous memory with pseudo-random data (every
 * page touched, nothing compresses or dedups to the zero page) and reports
 * on its own pipe to the parent (it keeps the write end open). Once both
 * children have reported, the main process prints "READY" and optionally
 * creates READY_FILE (for scripts that cannot read the target's output).
 * Then every process sleeps in pause() until killed; a child whose parent
 * is gone is killed too (PR_SET_PDEATHSIG).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "bench.h"

#define NCHILD	2
#define MEM_MIB 16

static int child(int wr, int k, pid_t parent)
{
	uint64_t *mem, x = 0x9e3779b97f4a7c15ULL + (uint64_t)k;
	size_t words = ((size_t)MEM_MIB << 20) / sizeof(*mem);
	char c = 'r';

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		return 1;
	mem = mmap(NULL, (size_t)MEM_MIB << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		   -1, 0);
	if (mem == MAP_FAILED) {
		fprintf(stderr, "treetarget: child %d: mmap: %s\n", k, strerror(errno));
		return 1;
	}
	for (size_t i = 0; i < words; i++) {
		/* xorshift64 */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		mem[i] = x;
	}
	if (write(wr, &c, 1) != 1) {
		fprintf(stderr, "treetarget: child %d: write: %s\n", k, strerror(errno));
		return 1;
	}
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	int p[NCHILD][2];
	pid_t me = getpid(), pid;
	char c;

	if (argc > 2) {
		fprintf(stderr, "usage: %s [READY_FILE]\n", argv[0]);
		return 2;
	}
	for (int k = 0; k < NCHILD; k++) {
		if (pipe2(p[k], O_CLOEXEC)) {
			fprintf(stderr, "treetarget: pipe: %s\n", strerror(errno));
			return 1;
		}
		pid = fork();
		if (pid < 0) {
			fprintf(stderr, "treetarget: fork: %s\n", strerror(errno));
			return 1;
		}
		if (pid == 0) {
			close(p[k][0]);
			for (int j = 0; j < k; j++)
				close(p[j][0]);
			_exit(child(p[k][1], k, me));
		}
		close(p[k][1]);
	}
	for (int k = 0; k < NCHILD; k++) {
		if (read(p[k][0], &c, 1) != 1) {
			fprintf(stderr, "treetarget: child %d did not report\n", k);
			return 1;
		}
	}
	if (bench_ready("treetarget", argc == 2 ? argv[1] : NULL))
		return 1;
	for (;;)
		pause();
}
