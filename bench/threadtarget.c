/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Benchmark target: threadtarget NTHREADS [READY_FILE]
 * Fills 16 MiB of private anonymous memory with pseudo-random data (every
 * page touched, nothing compresses or dedups to the zero page), then runs
 * NTHREADS threads in total (the main thread is one of them): each spins on
 * its own counter (one cache line per thread, no sharing) for a short burst,
 * then sleeps in nanosleep, so the threads are a mix of running and sleeping
 * without saturating the machine. Prints "READY" once every thread has
 * started and optionally creates READY_FILE (for scripts that cannot read
 * the target's output). Runs until killed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define MEM_MIB 16
#define MAX_THR 4096
#define SPIN	20000	/* counter increments per burst (some µs) */
#define NAP_NS	2000000 /* then sleep 2 ms */

struct counter {
	volatile unsigned long n;
} __attribute__((aligned(64)));

static struct counter *counters;
static int started;

static void *spin(void *arg)
{
	struct counter *c = arg;
	struct timespec nap = {0, NAP_NS};

	__atomic_add_fetch(&started, 1, __ATOMIC_SEQ_CST);
	for (;;) {
		for (int i = 0; i < SPIN; i++)
			c->n++;
		nanosleep(&nap, NULL);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	uint64_t *mem, x = 0x9e3779b97f4a7c15ULL;
	size_t words = ((size_t)MEM_MIB << 20) / sizeof(*mem);
	pthread_t t;
	long nthr;
	char *end;
	int err;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s NTHREADS [READY_FILE]\n", argv[0]);
		return 2;
	}
	errno = 0;
	nthr = strtol(argv[1], &end, 10);
	if (errno || *end || nthr < 1 || nthr > MAX_THR) {
		fprintf(stderr, "threadtarget: bad thread count '%s' (1..%d)\n", argv[1], MAX_THR);
		return 2;
	}
	mem = mmap(NULL, (size_t)MEM_MIB << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		   -1, 0);
	counters = aligned_alloc(64, sizeof(*counters) * (size_t)nthr);
	if (mem == MAP_FAILED || !counters) {
		fprintf(stderr, "threadtarget: out of memory\n");
		return 1;
	}
	memset(counters, 0, sizeof(*counters) * (size_t)nthr);
	for (size_t i = 0; i < words; i++) {
		/* xorshift64 */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		mem[i] = x;
	}
	/* threads 1..N-1; the main thread is thread 0 */
	for (long i = 1; i < nthr; i++) {
		err = pthread_create(&t, NULL, spin, &counters[i]);
		if (err) {
			fprintf(stderr, "threadtarget: pthread_create: %s\n", strerror(err));
			return 1;
		}
		pthread_detach(t);
	}
	while (__atomic_load_n(&started, __ATOMIC_SEQ_CST) < nthr - 1)
		usleep(1000);
	if (bench_ready("threadtarget", argc == 3 ? argv[2] : NULL))
		return 1;
	spin(&counters[0]);
	return 0;
}
