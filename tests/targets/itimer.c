/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * itimer: a 2 ms periodic ITIMER_REAL counting SIGALRMs, and a 3 ms
 * periodic ITIMER_VIRTUAL counting SIGVTALRMs. SIGALRM is blocked most of
 * the time (10 ms of every 11, spinning), so that a checkpoint mostly
 * finds it pending: the kernel then reports 0 time left on the real timer
 * (it re-arms it when the signal is dequeued), which must not read as
 * "disarmed". Prints READY, then the SIGALRM count every ~50 ms; fails at
 * once if either timer's interval changed. On SIGUSR1: both counts still
 * grow and the intervals are the same, and the membarrier commands
 * registered (PRIVATE_EXPEDITED only, registered at the start) are exactly
 * the same (MEMBARRIER_CMD_GET_REGISTRATIONS, Linux 6.3; not checked
 * without it): PASS.
 */
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <sys/time.h>

#include "tgt.h"

static volatile sig_atomic_t alrms, vtalrms;

static void on_alrm(int sig)
{
	(void)sig;
	alrms++;
}

static void on_vtalrm(int sig)
{
	(void)sig;
	vtalrms++;
}

static long interval_us(int which)
{
	struct itimerval it;

	if (getitimer(which, &it) < 0)
		return -1;
	return it.it_interval.tv_sec * 1000000L + it.it_interval.tv_usec;
}

/* One round: SIGALRM blocked while spinning 10 ms, then let through. */
static void round_blocked(const sigset_t *alrm)
{
	struct timespec a, b;

	sigprocmask(SIG_BLOCK, alrm, NULL);
	clock_gettime(CLOCK_MONOTONIC, &a);
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < 10000000L);
	sigprocmask(SIG_UNBLOCK, alrm, NULL);
	tgt_sleep_ms(1);
}

static void check_intervals(void)
{
	long r = interval_us(ITIMER_REAL), v = interval_us(ITIMER_VIRTUAL);

	if (r != 2000 || v != 3000) {
		say("FAIL: intervals now %ld us (real) and %ld us (virtual), not 2000 and 3000", r,
		    v);
		exit(1);
	}
}

#ifndef MEMBARRIER_CMD_GET_REGISTRATIONS
#define MEMBARRIER_CMD_GET_REGISTRATIONS (1 << 9)
#endif

static long membarrier_registrations(void)
{
	return syscall(SYS_membarrier, MEMBARRIER_CMD_GET_REGISTRATIONS, 0, 0);
}

int main(void)
{
	struct itimerval real = {{0, 2000}, {0, 2000}}, virt = {{0, 3000}, {0, 3000}};
	struct sigaction sa;
	sigset_t alrm;
	long a0, v0, memb;

	tgt_install_usr1();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alrm;
	sa.sa_flags = SA_RESTART;
	SETUP(sigaction(SIGALRM, &sa, NULL) == 0, "sigaction SIGALRM");
	sa.sa_handler = on_vtalrm;
	SETUP(sigaction(SIGVTALRM, &sa, NULL) == 0, "sigaction SIGVTALRM");
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	SETUP(setitimer(ITIMER_REAL, &real, NULL) == 0, "setitimer ITIMER_REAL");
	SETUP(setitimer(ITIMER_VIRTUAL, &virt, NULL) == 0, "setitimer ITIMER_VIRTUAL");
	SETUP(syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0,
	      "membarrier register");
	memb = membarrier_registrations();
	say("READY");
	for (int i = 0; !tgt_usr1; i++) {
		round_blocked(&alrm);
		check_intervals();
		if (i % 5 == 0)
			say("%d", (int)alrms);
	}
	a0 = alrms;
	v0 = vtalrms;
	for (int i = 0; i < 20; i++)
		round_blocked(&alrm);
	check_intervals();
	CHECK(alrms > a0, "SIGALRM count stays at %ld", a0);
	CHECK(vtalrms > v0, "SIGVTALRM count stays at %ld", v0);
	CHECK(memb < 0 || membarrier_registrations() == memb,
	      "membarrier registrations %#lx, were %#lx", membarrier_registrations(), memb);
	tgt_finish();
}
