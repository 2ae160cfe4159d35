/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Benchmark target: memtarget SIZE_MIB [READY_FILE]
 * Allocates SIZE_MIB MiB of private anonymous memory, fills every byte with
 * pseudo-random data (so every page is touched and nothing compresses or
 * dedups to the zero page), prints "READY", optionally creates READY_FILE
 * (for scripts that cannot read the target's output), then sleeps in
 * pause() forever.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"

int main(int argc, char **argv)
{
	unsigned long long mib;
	uint64_t *mem, x = 0x9e3779b97f4a7c15ULL;
	size_t words;
	char *end;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s SIZE_MIB [READY_FILE]\n", argv[0]);
		return 2;
	}
	errno = 0;
	mib = strtoull(argv[1], &end, 10);
	if (errno || *end || mib == 0 || mib > (1ULL << 24)) {
		fprintf(stderr, "memtarget: bad size '%s' (MiB)\n", argv[1]);
		return 2;
	}
	mem = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		fprintf(stderr, "memtarget: mmap %llu MiB: %s\n", mib, strerror(errno));
		return 1;
	}
	words = (mib << 20) / sizeof(*mem);
	for (size_t i = 0; i < words; i++) {
		/* xorshift64 */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		mem[i] = x;
	}
	if (bench_ready("memtarget", argc == 3 ? argv[2] : NULL))
		return 1;
	for (;;)
		pause();
}
