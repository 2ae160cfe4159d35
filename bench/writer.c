/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Benchmark target: writer MIB PATTERN RATE
 * The runtime cost of dirty page tracking, seen from the target. Maps MIB
 * MiB of private anonymous memory and touches every page, prints "READY",
 * then writes pages at a steady rate of RATE pages per second (0: as fast as
 * it can). A page write is one 64-byte store (a whole cache line) at the
 * start of the page: the first write to a page after the tracker armed it
 * is what costs. PATTERN is the order of the pages:
 *   adjacent  0, 1, 2, ... (wrapping)
 *   spread    i * S mod N with S coprime to N, about 0.618 N: every page once
 *             per round, consecutive writes far apart
 * Output, one write(2) per line on fd 1 (times from CLOCK_MONOTONIC):
 *   READY
 *   OPS <pages> <rate>      about every second: pages written since the last
 *                           OPS line, and that count divided by the exact
 *                           time since then (pages/s, 1 decimal)
 *   TOTAL <pages> <seconds> on SIGUSR1: pages written since READY, and the
 *                           time since READY (6 decimals); then it exits 0
 * With RATE > 0 the writer keeps to a schedule (page k is due at
 * start + k / RATE) and catches up when late, but never by more than 100 ms
 * of pages: after a longer stall (a checkpoint pause, or writes slower than
 * RATE) the schedule starts again from now, so the OPS lines show the rate
 * the writer could actually keep.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define PAGE 4096UL

static volatile sig_atomic_t stop;

static void on_usr1(int sig)
{
	(void)sig;
	stop = 1;
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = {(time_t)(t / 1000000000ULL), (long)(t % 1000000000ULL)};
	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL); /* EINTR: fine */
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

int main(int argc, char **argv)
{
	uint64_t mib, rate;
	int spread;

	if (argc != 4 || !parse_u64(argv[1], &mib) || !mib || mib > (1ULL << 24) ||
	    !parse_u64(argv[3], &rate) || rate > 1000000000ULL ||
	    (strcmp(argv[2], "adjacent") && strcmp(argv[2], "spread"))) {
		fprintf(stderr, "usage: writer MIB adjacent|spread RATE (pages/s, 0: no limit)\n");
		return 2;
	}
	spread = !strcmp(argv[2], "spread");

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);

	size_t len = (size_t)mib << 20, npages = len / PAGE;
	uint8_t *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		fprintf(stderr, "writer: mmap %llu MiB: %s\n", (unsigned long long)mib,
			strerror(errno));
		return 1;
	}
	/* Touch everything, with data that is not zero. */
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	for (size_t i = 0; i < len / 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		((uint64_t *)mem)[i] = x;
	}

	uint64_t stride = 1;
	if (spread && npages > 2) {
		stride = (uint64_t)((double)npages * 0.6180339887) | 1;
		while (gcd(stride, npages) != 1)
			stride += 2;
	}

	say("READY");
	const uint64_t t_start = now_ns();
	uint64_t total = 0, pos = 0, stamp = 1;
	uint64_t last_report = t_start, last_total = 0;
	/* schedule (RATE > 0): sched_n pages due since sched_t0 */
	uint64_t sched_t0 = t_start, sched_n = 0;
	const uint64_t max_behind = rate ? (rate / 10 ? rate / 10 : 1) : 0;

	while (!stop) {
		uint64_t now, batch;
		if (rate) {
			now = now_ns();
			uint64_t due =
			    (uint64_t)((unsigned __int128)(now - sched_t0) * rate / 1000000000ULL);
			if (due > sched_n + max_behind) { /* too late: start again from now */
				sched_t0 = now;
				sched_n = 0;
				due = 1;
			}
			batch = due > sched_n ? due - sched_n : 0;
		} else {
			batch = 256;
		}
		for (uint64_t b = 0; b < batch; b++) {
			volatile uint64_t *p = (volatile uint64_t *)(mem + pos * PAGE);
			for (int w = 0; w < 8; w++)
				p[w] = stamp + (uint64_t)w;
			stamp++;
			pos += stride;
			if (pos >= npages)
				pos -= npages;
		}
		total += batch;
		sched_n += batch;
		now = now_ns();
		if (now - last_report >= 1000000000ULL) {
			uint64_t n = total - last_total;
			say("OPS %llu %.1f", (unsigned long long)n,
			    (double)n * 1e9 / (double)(now - last_report));
			last_report = now;
			last_total = total;
		}
		if (rate && !stop) {
			/* sleep until the next page is due, or the next report */
			uint64_t next = sched_t0 + (uint64_t)((unsigned __int128)(sched_n + 1) *
							      1000000000ULL / rate);
			if (next > last_report + 1000000000ULL)
				next = last_report + 1000000000ULL;
			if (next > now)
				sleep_until(next);
		}
	}
	uint64_t t_end = now_ns();
	say("TOTAL %llu %.6f", (unsigned long long)total, (double)(t_end - t_start) / 1e9);
	return 0;
}
