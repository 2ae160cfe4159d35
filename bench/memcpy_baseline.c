/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Baselines for the checkpoint benchmark: memcpy_baseline BYTES [--json]
 * BYTES may end in K, M or G (powers of 1024). Prints the median of RUNS
 * runs, in ns, of
 *   warm: memcpy into a destination that is already faulted in (what
 *         copying a stopped target's memory costs at best);
 *   cold: memcpy into a freshly mmap'd destination, so the copy also
 *         faults every page in (what restoring memory costs at best).
 * The source is filled with pseudo-random data and touched beforehand.
 * Plain output: "warm_ns cold_ns"; --json: one object.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "bench.h"

#define RUNS 5

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return v[n / 2];
}

static void *map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		fprintf(stderr, "memcpy_baseline: mmap %zu bytes: %s\n", len, strerror(errno));
		exit(1);
	}
	return p;
}

/* Keep the compiler from dropping a copy nobody reads. */
static void clobber(void *p)
{
	asm volatile("" : : "r"(p) : "memory");
}

int main(int argc, char **argv)
{
	uint64_t warm[RUNS], cold[RUNS], t, x = 0x2545f4914f6cdd1dULL, *w;
	unsigned long long n;
	bool json = false;
	char *end, *src, *dst;
	size_t len;

	if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "--json") != 0)) {
		fprintf(stderr, "usage: %s BYTES[K|M|G] [--json]\n", argv[0]);
		return 2;
	}
	json = argc == 3;
	errno = 0;
	n = strtoull(argv[1], &end, 10);
	switch (*end) {
	case 'G':
	case 'g':
		n <<= 10;
		/* fallthrough */
	case 'M':
	case 'm':
		n <<= 10;
		/* fallthrough */
	case 'K':
	case 'k':
		n <<= 10;
		end++;
		break;
	}
	if (errno || *end || n == 0) {
		fprintf(stderr, "memcpy_baseline: bad byte count '%s'\n", argv[1]);
		return 2;
	}
	len = n;

	src = map(len);
	w = (uint64_t *)src;
	for (size_t i = 0; i < len / sizeof(*w); i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		w[i] = x;
	}
	memset(src + len / sizeof(*w) * sizeof(*w), 0x5a, len % sizeof(*w));

	/* warm: the same destination, faulted in before the first run */
	dst = map(len);
	memset(dst, 0, len);
	for (int r = 0; r < RUNS; r++) {
		t = now_ns();
		memcpy(dst, src, len);
		clobber(dst);
		warm[r] = now_ns() - t;
	}
	munmap(dst, len);

	/* cold: a fresh mapping each run; the copy takes the page faults */
	for (int r = 0; r < RUNS; r++) {
		dst = map(len);
		t = now_ns();
		memcpy(dst, src, len);
		clobber(dst);
		cold[r] = now_ns() - t;
		munmap(dst, len);
	}
	munmap(src, len);

	if (json)
		printf("{\"bytes\": %zu, \"runs\": %d, \"warm_ns\": %llu, \"cold_ns\": %llu}\n",
		       len, RUNS, (unsigned long long)median(warm, RUNS),
		       (unsigned long long)median(cold, RUNS));
	else
		printf("%llu %llu\n", (unsigned long long)median(warm, RUNS),
		       (unsigned long long)median(cold, RUNS));
	return 0;
}
