/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers shared by the benchmark programs (static, header only). Line
 * output on fd 1 (say) and the mix64 hash are those of the test targets:
 * tests/targets/tgt.h is included, not copied.
 */
#ifndef RTCR_BENCH_H
#define RTCR_BENCH_H

#include <fcntl.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../tests/targets/tgt.h"

/* Clock C in nanoseconds. */
__attribute__((unused)) static uint64_t bench_clock_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* CLOCK_MONOTONIC in nanoseconds. */
__attribute__((unused)) static uint64_t now_ns(void)
{
	return bench_clock_ns(CLOCK_MONOTONIC);
}

/* A decimal number into *v: false unless S is one (no sign, nothing else). */
__attribute__((unused)) static int parse_u64(const char *s, uint64_t *v)
{
	char *end;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return !errno && *s && !*end && *s != '-';
}

/*
 * Print READY on stdout (stdio, flushed) and, if FILE is not NULL, create
 * it: the benchmark scripts wait for that file. Returns 0, or 1 after a
 * message on stderr (PROG: create FILE: why).
 */
__attribute__((unused)) static int bench_ready(const char *prog, const char *file)
{
	printf("READY\n");
	fflush(stdout);
	if (file) {
		int fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0) {
			fprintf(stderr, "%s: create %s: %s\n", prog, file, strerror(errno));
			return 1;
		}
		close(fd);
	}
	return 0;
}

#endif
