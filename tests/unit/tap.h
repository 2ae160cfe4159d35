/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The unit tests' reporting: one "ok - ..." / "not ok - ..." line per
 * check (with the library's last error, if one was logged), a plan line
 * at the end, exit status 0 when every check passed, 1 otherwise, 77 for a
 * skip (tests/integration/check.sh reads these). Include once per test
 * program, after base/log.h.
 */
#ifndef RTCR_TEST_TAP_H
#define RTCR_TEST_TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

static int tap_failures, tap_checks, tap_skips;

__attribute__((unused, format(printf, 2, 3))) static void check(bool ok, const char *fmt, ...)
{
	va_list ap;

	tap_checks++;
	if (!ok)
		tap_failures++;
	printf("%s - ", ok ? "ok" : "not ok");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (*log_last_error())
		printf(" [%s]", log_last_error());
	putchar('\n');
	fflush(stdout);
	log_clear_error();
}

/* Allocation for the tests' own data: a failure ends the program. */
__attribute__((unused)) static void *t_calloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);

	if (!p) {
		perror("calloc");
		exit(1);
	}
	return p;
}

__attribute__((unused)) static char *t_strdup(const char *s)
{
	char *p = strdup(s);

	if (!p) {
		perror("strdup");
		exit(1);
	}
	return p;
}

/* Skip one case with a reason: a TAP "ok ... # SKIP" line that is not
 * counted as a passed check. */
__attribute__((unused, format(printf, 1, 2))) static void skip_case(const char *fmt, ...)
{
	va_list ap;

	printf("ok - # SKIP ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	tap_skips++;
}

/* Skip the whole program with a reason (exit 77). */
__attribute__((noreturn, unused, format(printf, 1, 2))) static void tap_skip(const char *fmt, ...)
{
	va_list ap;

	printf("SKIP: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	exit(77);
}

/* The plan line and the exit status. */
__attribute__((unused)) static int tap_done(void)
{
	printf("1..%d\n", tap_checks + tap_skips);
	if (tap_skips)
		printf("# %d case(s) skipped, not counted as passed\n", tap_skips);
	if (tap_failures)
		printf("# %d of %d checks failed\n", tap_failures, tap_checks);
	return tap_failures ? 1 : 0;
}

#endif
