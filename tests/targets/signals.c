/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * signals: sets up signal state of every kind and verifies it on SIGUSR1:
 *   SIGUSR2: SA_SIGINFO|SA_RESTART handler with sa_mask {SIGINT, SIGTERM}
 *   SIGINT: SA_NODEFER handler; SIGPIPE: ignored; SIGCHLD: SIG_DFL with
 *   SA_NOCLDSTOP; SIGALRM: SA_ONSTACK|SA_RESTART handler counting the ticks
 *   of an ITIMER_REAL with a 50 ms interval, on a sigaltstack;
 *   SIGHUP blocked and raised (pending), SIGRTMIN+1 blocked and queued twice
 *   with values (sigqueue), to be delivered in order once unblocked.
 * The verification reads back every sigaction (handler, flags, mask,
 * restorer), the blocked mask, the pending set, the itimer, the alternate
 * stack, then exercises them: the ticks go on, the alarm handler ran on the
 * alternate stack, SIGUSR2 and SIGINT handlers run with the masks their
 * flags imply, SIGPIPE is ignored (write gives EPIPE), and unblocking
 * delivers SIGHUP once and SIGRTMIN+1 with its two values in order.
 */
#include <stdint.h>
#include <sys/time.h>

#include "tgt.h"

static volatile sig_atomic_t ticks, ticks_off_stack, hups, usr2s, ints;
static volatile sig_atomic_t usr2_mask_ok = -1, int_mask_ok = -1, usr2_info_ok = -1;
static volatile int rt_values[8];
static volatile sig_atomic_t rt_count, rt_code_ok = 1;
static char altstack[64 * 1024] __attribute__((aligned(16)));
#define RT_SIG (SIGRTMIN + 1)

static int on_altstack(void)
{
	char here;
	return &here >= altstack && &here < altstack + sizeof(altstack);
}

static void on_alrm(int sig)
{
	(void)sig;
	ticks++;
	if (!on_altstack())
		ticks_off_stack++;
}

static void on_hup(int sig)
{
	(void)sig;
	hups++;
}

static void on_usr2(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	sigset_t m;
	sigprocmask(SIG_BLOCK, NULL, &m);
	/* sa_mask adds SIGINT and SIGTERM; no SA_NODEFER: SIGUSR2 itself blocked */
	usr2_mask_ok =
	    sigismember(&m, SIGINT) && sigismember(&m, SIGTERM) && sigismember(&m, SIGUSR2);
	usr2_info_ok = sig == SIGUSR2 && si->si_signo == SIGUSR2 && si->si_code == SI_TKILL &&
		       si->si_pid == getpid();
	usr2s++;
}

static void on_int(int sig)
{
	(void)sig;
	sigset_t m;
	sigprocmask(SIG_BLOCK, NULL, &m);
	int_mask_ok = !sigismember(&m, SIGINT); /* SA_NODEFER */
	ints++;
}

static void on_rt(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if (rt_count < 8)
		rt_values[rt_count] = si->si_value.sival_int;
	if (si->si_code != SI_QUEUE || si->si_pid != getpid())
		rt_code_ok = 0;
	rt_count++;
}

struct want {
	int sig;
	const char *name;
	struct sigaction sa; /* as read back right after setting */
};
static struct want wants[] = {
    {.sig = SIGUSR1, .name = "SIGUSR1"}, {.sig = SIGUSR2, .name = "SIGUSR2"},
    {.sig = SIGINT, .name = "SIGINT"},	 {.sig = SIGPIPE, .name = "SIGPIPE"},
    {.sig = SIGCHLD, .name = "SIGCHLD"}, {.sig = SIGALRM, .name = "SIGALRM"},
    {.sig = SIGHUP, .name = "SIGHUP"},	 {.sig = 0, .name = "SIGRTMIN+1"},
    {.sig = SIGTERM, .name = "SIGTERM"},
};
#define NWANTS ((int)(sizeof(wants) / sizeof(wants[0])))

static void set(int sig, void *handler, int flags, int masked1, int masked2)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	if (flags & SA_SIGINFO)
		sa.sa_sigaction = handler;
	else
		sa.sa_handler = handler;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	if (masked1)
		sigaddset(&sa.sa_mask, masked1);
	if (masked2)
		sigaddset(&sa.sa_mask, masked2);
	SETUP(sigaction(sig, &sa, NULL) == 0, "sigaction");
}

static int set_eq(const sigset_t *a, const sigset_t *b, int *diff)
{
	for (int s = 1; s < NSIG; s++) {
		if (sigismember(a, s) != sigismember(b, s)) {
			*diff = s;
			return 0;
		}
	}
	return 1;
}

int main(void)
{
	wants[7].sig = RT_SIG;
	tgt_install_usr1();
	set(SIGUSR2, on_usr2, SA_SIGINFO | SA_RESTART, SIGINT, SIGTERM);
	set(SIGINT, on_int, SA_NODEFER, 0, 0);
	set(SIGPIPE, SIG_IGN, 0, 0, 0);
	set(SIGCHLD, SIG_DFL, SA_NOCLDSTOP, 0, 0);
	set(SIGALRM, on_alrm, SA_ONSTACK | SA_RESTART, SIGHUP, 0);
	set(SIGHUP, on_hup, 0, 0, 0);
	set(RT_SIG, on_rt, SA_SIGINFO, 0, 0);

	stack_t ss = {.ss_sp = altstack, .ss_size = sizeof(altstack), .ss_flags = 0};
	SETUP(sigaltstack(&ss, NULL) == 0, "sigaltstack");

	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, RT_SIG);
	SETUP(sigprocmask(SIG_SETMASK, &block, NULL) == 0, "sigprocmask");
	SETUP(raise(SIGHUP) == 0, "raise(SIGHUP)");
	SETUP(sigqueue(getpid(), RT_SIG, (union sigval){.sival_int = 111}) == 0, "sigqueue");
	SETUP(sigqueue(getpid(), RT_SIG, (union sigval){.sival_int = 222}) == 0, "sigqueue");

	struct itimerval it = {{0, 50000}, {0, 50000}};
	SETUP(setitimer(ITIMER_REAL, &it, NULL) == 0, "setitimer");

	for (int i = 0; i < NWANTS; i++)
		SETUP(sigaction(wants[i].sig, NULL, &wants[i].sa) == 0, "sigaction read back");

	say("READY");
	while (!tgt_usr1)
		pause(); /* the 50 ms ticks wake it up */

	/* ---- verify, in the order that does not disturb what is checked ---- */
	sigset_t cur, pend;
	int d = 0;
	SETUP(sigprocmask(SIG_BLOCK, NULL, &cur) == 0, "sigprocmask");
	CHECK(set_eq(&cur, &block, &d), "blocked mask differs at signal %d (%s)", d,
	      sigismember(&cur, d) ? "blocked" : "not blocked");
	SETUP(sigpending(&pend) == 0, "sigpending");
	CHECK(set_eq(&pend, &block, &d), "pending set differs at signal %d (%s)", d,
	      sigismember(&pend, d) ? "pending" : "not pending");

	for (int i = 0; i < NWANTS; i++) {
		struct sigaction now, *was = &wants[i].sa;
		sigaction(wants[i].sig, NULL, &now);
		CHECK(now.sa_handler == was->sa_handler, "%s: handler %p, expected %p",
		      wants[i].name, (void *)now.sa_handler, (void *)was->sa_handler);
		CHECK(now.sa_flags == was->sa_flags, "%s: flags %#x, expected %#x", wants[i].name,
		      now.sa_flags, was->sa_flags);
		CHECK(now.sa_restorer == was->sa_restorer, "%s: restorer %p, expected %p",
		      wants[i].name, (void *)now.sa_restorer, (void *)was->sa_restorer);
		CHECK(set_eq(&now.sa_mask, &was->sa_mask, &d), "%s: sa_mask differs at signal %d",
		      wants[i].name, d);
	}
	/* the flags asked for, explicitly */
	struct sigaction sa;
	sigaction(SIGUSR2, NULL, &sa);
	CHECK((sa.sa_flags & (SA_SIGINFO | SA_RESTART)) == (SA_SIGINFO | SA_RESTART) &&
		  sigismember(&sa.sa_mask, SIGINT) && sigismember(&sa.sa_mask, SIGTERM),
	      "SIGUSR2: SA_SIGINFO|SA_RESTART or its mask lost");
	sigaction(SIGINT, NULL, &sa);
	CHECK(sa.sa_flags & SA_NODEFER, "SIGINT: SA_NODEFER lost");
	sigaction(SIGPIPE, NULL, &sa);
	CHECK(sa.sa_handler == SIG_IGN, "SIGPIPE: not ignored");
	sigaction(SIGCHLD, NULL, &sa);
	CHECK(sa.sa_handler == SIG_DFL && (sa.sa_flags & SA_NOCLDSTOP),
	      "SIGCHLD: not SIG_DFL with SA_NOCLDSTOP");

	stack_t os;
	SETUP(sigaltstack(NULL, &os) == 0, "sigaltstack");
	CHECK(os.ss_sp == altstack && os.ss_size == sizeof(altstack) && os.ss_flags == 0,
	      "sigaltstack: sp %p size %zu flags %#x, expected %p %zu 0", os.ss_sp, os.ss_size,
	      os.ss_flags, (void *)altstack, sizeof(altstack));

	struct itimerval g;
	SETUP(getitimer(ITIMER_REAL, &g) == 0, "getitimer");
	CHECK(g.it_interval.tv_sec == 0 && g.it_interval.tv_usec == 50000,
	      "itimer interval %ld.%06ld s, expected 0.050000", (long)g.it_interval.tv_sec,
	      (long)g.it_interval.tv_usec);
	CHECK(g.it_value.tv_sec || g.it_value.tv_usec, "itimer not armed");
	CHECK(g.it_value.tv_sec == 0 && g.it_value.tv_usec <= 50000,
	      "itimer value %ld.%06ld s beyond its interval", (long)g.it_value.tv_sec,
	      (long)g.it_value.tv_usec);
	int t0 = ticks;
	for (int i = 0; i < 10; i++)
		tgt_sleep_ms(30); /* interrupted by ticks: total >= 300 ms or about */
	tgt_sleep_ms(100);
	CHECK(ticks - t0 >= 3, "itimer: only %d ticks in 400 ms (at %d before)", ticks - t0, t0);
	CHECK(ticks_off_stack == 0, "%d SIGALRM handler runs were not on the alternate stack",
	      (int)ticks_off_stack);

	/* handlers run with the right masks */
	raise(SIGUSR2);
	CHECK(usr2s == 1, "SIGUSR2 handler ran %d times", (int)usr2s);
	CHECK(usr2_mask_ok == 1, "SIGUSR2 handler: mask inside lacks SIGINT, SIGTERM or SIGUSR2");
	CHECK(usr2_info_ok == 1, "SIGUSR2 handler: wrong siginfo");
	raise(SIGINT);
	CHECK(ints == 1, "SIGINT handler ran %d times", (int)ints);
	CHECK(int_mask_ok == 1, "SIGINT handler: SIGINT blocked inside despite SA_NODEFER");

	/* SIGPIPE ignored */
	int p[2];
	SETUP(pipe(p) == 0, "pipe");
	close(p[0]);
	errno = 0;
	CHECK(write(p[1], "x", 1) < 0 && errno == EPIPE,
	      "write to a closed pipe did not fail with EPIPE");
	close(p[1]);

	/* pending signals arrive once unblocked */
	CHECK(hups == 0 && rt_count == 0, "blocked signals were delivered early");
	sigset_t none;
	sigemptyset(&none);
	SETUP(sigprocmask(SIG_SETMASK, &none, NULL) == 0, "sigprocmask");
	CHECK(hups == 1, "SIGHUP delivered %d times after unblocking, expected 1", (int)hups);
	CHECK(rt_count == 2, "SIGRTMIN+1 delivered %d times after unblocking, expected 2",
	      (int)rt_count);
	CHECK(rt_count < 1 || rt_values[0] == 111, "first SIGRTMIN+1 value %d, expected 111",
	      rt_values[0]);
	CHECK(rt_count < 2 || rt_values[1] == 222, "second SIGRTMIN+1 value %d, expected 222",
	      rt_values[1]);
	CHECK(rt_code_ok, "SIGRTMIN+1: si_code is not SI_QUEUE or si_pid is not ours");
	sigpending(&pend);
	for (int s = 1; s < NSIG; s++)
		CHECK(!sigismember(&pend, s), "signal %d still pending", s);

	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &off, NULL);
	say("ticks %d", (int)ticks);
	tgt_finish();
}
