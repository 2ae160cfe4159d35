/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers shared by the test targets (zdtm style): each target sets up its
 * state, prints READY, waits; on SIGUSR1 it verifies everything, prints
 * PASS or "FAIL: <what>" and exits 0 or 1. Output goes with write(2) to
 * fd 1 so nothing sits in a stdio buffer when the process is checkpointed.
 */
#ifndef RTCR_TGT_H
#define RTCR_TGT_H

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t tgt_usr1;
__attribute__((unused)) static int tgt_failures;

__attribute__((unused)) static void tgt_on_usr1(int sig)
{
	(void)sig;
	tgt_usr1 = 1;
}

/* Print one line (formatted) on fd 1, unbuffered. Not for signal handlers. */
__attribute__((format(printf, 1, 2), unused)) static void say(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(1, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= w;
	}
}

/* Record a failed check; the first few are printed as they happen. */
#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			if (tgt_failures++ < 20)                                                   \
				say("FAIL: " __VA_ARGS__);                                         \
		}                                                                                  \
	} while (0)

/* Setup failures are not test failures of rtcr: report and exit 2. */
#define SETUP(cond, what)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			say("ERROR: setup: %s: %s", what, strerror(errno));                        \
			exit(2);                                                                   \
		}                                                                                  \
	} while (0)

__attribute__((unused)) static void tgt_install_usr1(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = tgt_on_usr1;
	sigemptyset(&sa.sa_mask);
	SETUP(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction(SIGUSR1)");
}

__attribute__((unused)) static void tgt_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL); /* EINTR: a signal came, the caller looks at its flags */
}

/* Wait for SIGUSR1 (polling, so that no signal can be lost). */
__attribute__((unused)) static void tgt_wait_usr1(void)
{
	while (!tgt_usr1)
		tgt_sleep_ms(100);
}

/* Print the verdict and exit. */
__attribute__((unused)) static void tgt_finish(void)
{
	if (tgt_failures) {
		say("FAIL: %d check(s) failed", tgt_failures);
		exit(1);
	}
	say("PASS");
	exit(0);
}

/* A 64-bit mixer (splitmix64's finalizer): page contents from an index. */
__attribute__((unused)) static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

__attribute__((unused)) static long tgt_arg_long(int argc, char **argv, int i, long def)
{
	if (argc <= i)
		return def;
	char *end;
	errno = 0;
	long v = strtol(argv[i], &end, 0);
	if (errno || *end || end == argv[i]) {
		say("ERROR: bad argument '%s'", argv[i]);
		exit(2);
	}
	return v;
}

#endif
