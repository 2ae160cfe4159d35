/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * counter [MAX [INTERVAL_MS]]: prints 0, 1, 2, ... one per line every
 * INTERVAL_MS (default 100) ms; exits 0 after printing MAX (0: never).
 *
 * After a restore it must go on with the number after the last one it
 * printed. It also watches CLOCK_MONOTONIC: the clock must never go back
 * (the time namespace keeps it continuous across a restore), and keeps the
 * count in two places (a stack variable and a heap word, in different
 * encodings) that must agree. On SIGUSR1 it checks both and prints PASS.
 */
#include <stdint.h>

#include "tgt.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long max = tgt_arg_long(argc, argv, 1, 0);
	long interval = tgt_arg_long(argc, argv, 2, 100);
	if (max < 0 || interval < 1) {
		say("usage: counter [MAX [INTERVAL_MS]]");
		return 2;
	}
	tgt_install_usr1();

	volatile uint64_t *shadow = malloc(4096);
	SETUP(shadow != NULL, "malloc");
	const uint64_t key = 0x9e3779b97f4a7c15ULL;
	uint64_t last = now_ns();

	for (long i = 0;; i++) {
		*shadow = (uint64_t)i ^ key;
		say("%ld", i);
		if (max && i >= max)
			return 0;
		/* Sleep the interval, in steps, to notice SIGUSR1 quickly. */
		uint64_t until = now_ns() + (uint64_t)interval * 1000000ULL;
		for (;;) {
			uint64_t t = now_ns();
			CHECK(t >= last, "CLOCK_MONOTONIC went back by %llu ns",
			      (unsigned long long)(last - t));
			last = t;
			if (tgt_usr1) {
				CHECK((*shadow ^ key) == (uint64_t)i,
				      "count %ld disagrees with its heap copy %llu", i,
				      (unsigned long long)(*shadow ^ key));
				tgt_finish();
			}
			if (t >= until)
				break;
			uint64_t left = until - t;
			tgt_sleep_ms(left > 100000000ULL ? 100 : (long)((left + 999999) / 1000000));
		}
		if (tgt_failures) {
			say("FAIL: %d check(s) failed", tgt_failures);
			return 1;
		}
	}
}
