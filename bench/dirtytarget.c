/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Benchmark target: dirtytarget MIB PERCENT PERIOD_MS
 * A target that keeps dirtying its memory while it is checkpointed or
 * migrated, and measures the downtime it sees. Maps MIB MiB of private
 * anonymous memory and fills every page, prints "READY", then every
 * PERIOD_MS ms (CLOCK_MONOTONIC schedule) rewrites PERCENT % of its pages,
 * picked at random (a page may come twice in one period). A second thread
 * reads CLOCK_REALTIME every 1 ms (clock_nanosleep) and keeps the largest
 * gap between two consecutive readings: with the normal 1 ms period plus
 * wakeup latency when nothing happens, and the time the target was stopped
 * (frozen, or between the last moment on the source and the first one on
 * the destination of a migration) when that is longer. CLOCK_REALTIME, not
 * CLOCK_MONOTONIC: a restored target's monotonic clocks are shifted to hide
 * the stop.
 *
 * Page content: word 0 = gen, word 1 = page index, words 2.. = mix(index,
 * gen, word); gen is counted per page in a table in ordinary memory.
 *
 * DIRTYTARGET_CORRUPT=1 flips a bit of a page just before verifying (to
 * see FAIL).
 *
 * Output, one write(2) per line on fd 1:
 *   READY
 *   MAXGAP <us>     on SIGUSR2: the largest gap (microseconds, integer)
 *                   since READY or since the previous MAXGAP; then reset
 *   PASS | FAIL: <page, expected gen, found>   on SIGUSR1 (at most 20 FAIL
 *                   lines, then "FAIL: N page(s) differ"); exits 0 or 1
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define PAGE  4096UL
#define WORDS (PAGE / 8)

static volatile sig_atomic_t usr1, usr2;
static uint64_t max_gap_ns; /* atomics: the sampler raises it, MAXGAP takes it */

static void on_sig(int sig)
{
	if (sig == SIGUSR1)
		usr1 = 1;
	else
		usr2 = 1;
}

static uint64_t word_of(uint64_t base, size_t w)
{
	return mix64(base + w * 0x9e3779b97f4a7c15ULL);
}

static uint64_t base_of(size_t i, uint64_t gen)
{
	return mix64((uint64_t)i * 0xd6e8feb86659fd93ULL + gen);
}

/* (the layout of tests/targets/dirtier.c's fill_page, but not its seeded content) */
static void fill(uint8_t *page, size_t i, uint64_t gen)
{
	uint64_t *w = (uint64_t *)page, base = base_of(i, gen);
	w[0] = gen;
	w[1] = i;
	for (size_t k = 2; k < WORDS; k++)
		w[k] = word_of(base, k);
}

static void *sampler(void *arg)
{
	(void)arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals are for the main thread */
	const struct timespec ms = {0, 1000000L};
	uint64_t prev = bench_clock_ns(CLOCK_REALTIME);
	for (;;) {
		clock_nanosleep(CLOCK_MONOTONIC, 0, &ms, NULL);
		uint64_t t = bench_clock_ns(CLOCK_REALTIME);
		uint64_t gap = t > prev ? t - prev : 0;
		prev = t;
		uint64_t cur = __atomic_load_n(&max_gap_ns, __ATOMIC_RELAXED);
		while (gap > cur &&
		       !__atomic_compare_exchange_n(&max_gap_ns, &cur, gap, 0, __ATOMIC_RELAXED,
						    __ATOMIC_RELAXED))
			;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	uint64_t mib, percent, period_ms;

	if (argc != 4 || !parse_u64(argv[1], &mib) || !mib || mib > (1ULL << 24) ||
	    !parse_u64(argv[2], &percent) || percent > 100 || !parse_u64(argv[3], &period_ms) ||
	    !period_ms) {
		fprintf(stderr, "usage: dirtytarget MIB PERCENT PERIOD_MS\n");
		return 2;
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sig;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);

	size_t len = (size_t)mib << 20, npages = len / PAGE;
	uint8_t *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t *gen = mmap(NULL, npages * sizeof(uint64_t), PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED || gen == MAP_FAILED) {
		fprintf(stderr, "dirtytarget: mmap: %s\n", strerror(errno));
		return 1;
	}
	for (size_t i = 0; i < npages; i++) {
		gen[i] = 1;
		fill(mem + i * PAGE, i, 1);
	}

	pthread_t th;
	int err = pthread_create(&th, NULL, sampler, NULL);
	if (err) {
		fprintf(stderr, "dirtytarget: pthread_create: %s\n", strerror(err));
		return 1;
	}

	say("READY");
	const uint64_t per_period = npages * percent / 100;
	const uint64_t period_ns = period_ms * 1000000ULL;
	uint64_t rng = 0x2545f4914f6cdd1dULL, next = bench_clock_ns(CLOCK_MONOTONIC);
	for (;;) {
		if (usr2) {
			usr2 = 0;
			uint64_t g = __atomic_exchange_n(&max_gap_ns, 0, __ATOMIC_RELAXED);
			say("MAXGAP %llu", (unsigned long long)(g / 1000));
		}
		if (usr1)
			break;
		uint64_t now = bench_clock_ns(CLOCK_MONOTONIC);
		if (now < next) {
			uint64_t t = next;
			struct timespec ts = {(time_t)(t / 1000000000ULL),
					      (long)(t % 1000000000ULL)};
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
			continue; /* a signal may have come */
		}
		for (uint64_t n = 0; n < per_period && !usr1; n++) {
			rng ^= rng >> 12;
			rng ^= rng << 25;
			rng ^= rng >> 27;
			size_t i = (size_t)((rng * 0x2545f4914f6cdd1dULL) % npages);
			gen[i]++;
			fill(mem + i * PAGE, i, gen[i]);
		}
		next += period_ns;
		if (next < now) /* more than a period late: no bursts to catch up */
			next = now + period_ns;
	}

	/* A test of the test: DIRTYTARGET_CORRUPT=1 flips a bit before verifying. */
	const char *corrupt = getenv("DIRTYTARGET_CORRUPT");
	if (corrupt && *corrupt && strcmp(corrupt, "0")) {
		mem[(npages / 2) * PAGE + 1000] ^= 0x08;
		say("corrupt: flipped a bit of page %zu", npages / 2);
	}

	/* Verify (the writer is this thread: nothing is half written). */
	size_t bad = 0;
	for (size_t i = 0; i < npages; i++) {
		const uint64_t *w = (const uint64_t *)(mem + i * PAGE);
		size_t k;
		uint64_t want;
		if (w[0] != gen[i]) {
			k = 0;
			want = gen[i];
		} else if (w[1] != i) {
			k = 1;
			want = i;
		} else {
			uint64_t base = base_of(i, gen[i]);
			for (k = 2; k < WORDS && w[k] == word_of(base, k); k++)
				;
			if (k == WORDS)
				continue;
			want = word_of(base, k);
		}
		if (bad++ < 20)
			say("FAIL: page %zu (%p): expected gen %llu, word %zu is %#llx, expected "
			    "%#llx (word0 %#llx)",
			    i, (const void *)w, (unsigned long long)gen[i], k,
			    (unsigned long long)w[k], (unsigned long long)want,
			    (unsigned long long)w[0]);
	}
	if (bad) {
		say("FAIL: %zu page(s) differ", bad);
		return 1;
	}
	say("PASS");
	return 0;
}
