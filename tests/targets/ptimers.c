/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ptimers: POSIX timers (timer_create).
 *   A: CLOCK_MONOTONIC, SIGEV_SIGNAL SIGRTMIN+2 with sival_ptr VALUE_A,
 *      periodic 100 ms, counted by an SA_SIGINFO handler that checks
 *      si_code, si_timerid and si_value;
 *   (a timer created and deleted after A, leaving a gap in the ids)
 *   B: CLOCK_REALTIME one-shot 30 s, SIGRTMIN+3, sival_int 42;
 *   C: CLOCK_MONOTONIC, SIGEV_THREAD_ID to the main thread, SIGRTMIN+4,
 *      sival_int 7, periodic 250 ms;
 *   D: CLOCK_BOOTTIME, SIGEV_NONE, created and never armed.
 * Prints READY; on SIGUSR1 checks the ids are the same (timer_gettime
 * works on them, the deleted id is still free), the periods and values,
 * that A ticks at its period for a second with the right si_value, C
 * ticks too, B is still armed and has not fired; PASS or FAIL.
 */
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>

#include "tgt.h"

#define VALUE_A ((void *)0x1122334455667788ULL)
#define SIG_A	(SIGRTMIN + 2)
#define SIG_B	(SIGRTMIN + 3)
#define SIG_C	(SIGRTMIN + 4)

static timer_t ta, tb, tc, td, tgap;
static volatile sig_atomic_t ticks_a, ticks_b, ticks_c, bad_a, bad_c, bad_b;

static void on_a(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if (si->si_code != SI_TIMER || si->si_value.sival_ptr != VALUE_A ||
	    si->si_timerid != (int)(intptr_t)ta)
		bad_a++;
	ticks_a++;
}

static void on_b(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if (si->si_code != SI_TIMER || si->si_value.sival_int != 42)
		bad_b++;
	ticks_b++;
}

static void on_c(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if (si->si_code != SI_TIMER || si->si_value.sival_int != 7 ||
	    si->si_timerid != (int)(intptr_t)tc)
		bad_c++;
	ticks_c++;
}

static void handle(int sig, void (*fn)(int, siginfo_t *, void *))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = fn;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	SETUP(sigaction(sig, &sa, NULL) == 0, "sigaction");
}

static void mk(clockid_t clk, int notify, int sig, union sigval v, timer_t *t)
{
	struct sigevent se;

	memset(&se, 0, sizeof(se));
	se.sigev_notify = notify;
	se.sigev_signo = sig;
	se.sigev_value = v;
	if (notify == SIGEV_THREAD_ID)
		se._sigev_un._tid = (int)syscall(SYS_gettid);
	SETUP(timer_create(clk, &se, t) == 0, "timer_create");
}

static void arm(timer_t t, long value_ms, long interval_ms)
{
	struct itimerspec its = {
	    {interval_ms / 1000, (interval_ms % 1000) * 1000000L},
	    {value_ms / 1000, (value_ms % 1000) * 1000000L},
	};

	SETUP(timer_settime(t, 0, &its, NULL) == 0, "timer_settime");
}

static long long ms_of(const struct timespec *ts)
{
	return (long long)ts->tv_sec * 1000 + ts->tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts;
	long long end;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	end = ms_of(&ts) + ms;
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		if (ms_of(&ts) >= end)
			return;
		tgt_sleep_ms(end - ms_of(&ts));
	}
}

int main(void)
{
	struct itimerspec its;
	int a0, c0, a1, c1;

	tgt_install_usr1();
	handle(SIG_A, on_a);
	handle(SIG_B, on_b);
	handle(SIG_C, on_c);
	mk(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIG_A, (union sigval){.sival_ptr = VALUE_A}, &ta);
	mk(CLOCK_MONOTONIC, SIGEV_NONE, 0, (union sigval){.sival_int = 0}, &tgap);
	mk(CLOCK_REALTIME, SIGEV_SIGNAL, SIG_B, (union sigval){.sival_int = 42}, &tb);
	mk(CLOCK_MONOTONIC, SIGEV_THREAD_ID, SIG_C, (union sigval){.sival_int = 7}, &tc);
	mk(CLOCK_BOOTTIME, SIGEV_NONE, 0, (union sigval){.sival_int = 0}, &td);
	SETUP(timer_delete(tgap) == 0, "timer_delete");
	arm(ta, 100, 100);
	arm(tb, 30000, 0);
	arm(tc, 250, 250);
	say("READY ids %d %d %d %d (deleted %d)", (int)(intptr_t)ta, (int)(intptr_t)tb,
	    (int)(intptr_t)tc, (int)(intptr_t)td, (int)(intptr_t)tgap);
	tgt_wait_usr1();

	CHECK(timer_gettime(ta, &its) == 0, "timer A (id %d) is gone", (int)(intptr_t)ta);
	CHECK(its.it_interval.tv_sec == 0 && its.it_interval.tv_nsec == 100000000L,
	      "timer A period %lld ms", ms_of(&its.it_interval));
	CHECK(ms_of(&its.it_value) <= 100, "timer A fires in %lld ms", ms_of(&its.it_value));
	CHECK(timer_gettime(tb, &its) == 0, "timer B (id %d) is gone", (int)(intptr_t)tb);
	CHECK(its.it_interval.tv_sec == 0 && its.it_interval.tv_nsec == 0, "timer B has a period");
	CHECK(ms_of(&its.it_value) > 5000 && ms_of(&its.it_value) <= 30000,
	      "timer B fires in %lld ms, expected (5, 30] s", ms_of(&its.it_value));
	CHECK(timer_gettime(tc, &its) == 0, "timer C (id %d) is gone", (int)(intptr_t)tc);
	CHECK(its.it_interval.tv_sec == 0 && its.it_interval.tv_nsec == 250000000L,
	      "timer C period %lld ms", ms_of(&its.it_interval));
	CHECK(timer_gettime(td, &its) == 0, "timer D (id %d) is gone", (int)(intptr_t)td);
	CHECK(its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0, "timer D is armed");
	CHECK(timer_gettime(tgap, &its) < 0 && errno == EINVAL, "deleted timer %d is back",
	      (int)(intptr_t)tgap);

	a0 = ticks_a;
	c0 = ticks_c;
	sleep_ms(1000);
	a1 = ticks_a;
	c1 = ticks_c;
	CHECK(a1 - a0 >= 7 && a1 - a0 <= 13, "timer A ticked %d times in 1 s, expected ~10",
	      a1 - a0);
	CHECK(c1 - c0 >= 2 && c1 - c0 <= 6, "timer C ticked %d times in 1 s, expected ~4", c1 - c0);
	CHECK(!bad_a, "timer A: %d signals with a wrong code, id or value", (int)bad_a);
	CHECK(!bad_c, "timer C: %d signals with a wrong code, id or value", (int)bad_c);
	CHECK(!ticks_b && !bad_b, "timer B fired (%d)", (int)ticks_b);
	tgt_finish();
}
