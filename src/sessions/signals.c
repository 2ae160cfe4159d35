/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Signal and timer state of a process: handlers (rt_sigaction), signals
 * queued to the whole process, and the interval timers (a periodic one
 * whose signal is pending at the checkpoint reads 0 time left: it is
 * re-armed for one interval on restore). Restored last,
 * just before the threads run; every signal stays blocked until then, so
 * a timer that fires early only leaves its signal pending.
 */
#define LOG_PREFIX "signals: "
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "sessions/session.h"
#include "base/log.h"

int dump_pending(pid_t tid, bool shared, Rtcr__SigInfo ***out, size_t *n);

struct ksigaction {
	uint64_t handler;
	uint64_t flags;
	uint64_t restorer;
	uint64_t mask;
};

static bool sig_settable(int sig)
{
	return sig != SIGKILL && sig != SIGSTOP;
}

static int signals_dump(struct ckpt_ctx *c)
{
	/* one batch: rt_sigaction for every signal, getitimer for the three */
	struct inject_call calls[64 + 3];
	struct ksigaction ka[64];
	struct itimerval it[3];
	uint64_t out = c->ij.scratch + 8192, out_it = out + sizeof(ka);
	int sigs[64], n = 0, ret;

	memset(calls, 0, sizeof(calls));
	for (int sig = 1; sig <= 64; sig++) {
		if (!sig_settable(sig))
			continue;
		sigs[n] = sig;
		calls[n].nr = __NR_rt_sigaction;
		calls[n].a[0] = (uint64_t)sig;
		calls[n].a[2] = out + sizeof(ka[0]) * (uint64_t)n;
		calls[n].a[3] = 8;
		n++;
	}
	for (int w = 0; w < 3; w++) {
		calls[n + w].nr = __NR_getitimer;
		calls[n + w].a[0] = (uint64_t)w;
		calls[n + w].a[1] = out_it + sizeof(it[0]) * (uint64_t)w;
	}
	ret = inject_batch(&c->ij, calls, (size_t)n + 3);
	if (ret)
		return ret;
	ret = remote_read(c->pid, out, ka, sizeof(ka[0]) * (size_t)n);
	if (!ret)
		ret = remote_read(c->pid, out_it, it, sizeof(it));
	if (ret)
		return ret;
	for (int i = 0; i < n + 3; i++) {
		if (calls[i].ret < 0) {
			pr_err("pid %d: %s failed: %s", c->ns_pid,
			       i < n ? "rt_sigaction" : "getitimer", strerror((int)-calls[i].ret));
			return (int)calls[i].ret;
		}
	}
	for (int i = 0; i < n; i++) {
		Rtcr__SigAction *sa;

		if (ka[i].handler == 0 && ka[i].flags == 0 && ka[i].mask == 0 &&
		    ka[i].restorer == 0)
			continue; /* default */
		sa = calloc(1, sizeof(*sa));
		if (!sa)
			return -ENOMEM;
		rtcr__sig_action__init(sa);
		sa->has_signo = sa->has_handler = sa->has_flags = sa->has_restorer = sa->has_mask =
		    1;
		sa->signo = (uint32_t)sigs[i];
		sa->handler = ka[i].handler;
		sa->flags = ka[i].flags;
		sa->restorer = ka[i].restorer;
		sa->mask = ka[i].mask;
		ret = pb_push((void ***)&c->proc->sigactions, &c->proc->n_sigactions, sa);
		if (ret)
			return ret;
	}
	ret = dump_pending(c->pid, true, &c->proc->shared_pending, &c->proc->n_shared_pending);
	if (ret)
		return ret;
	for (int which = 0; which < 3; which++) {
		Rtcr__Itimer *t;

		/* a periodic timer whose signal is pending reads 0 time left (the
		 * kernel re-arms ITIMER_REAL when SIGALRM is dequeued): still armed */
		if (!it[which].it_value.tv_sec && !it[which].it_value.tv_usec &&
		    !it[which].it_interval.tv_sec && !it[which].it_interval.tv_usec)
			continue;
		t = calloc(1, sizeof(*t));
		if (!t)
			return -ENOMEM;
		rtcr__itimer__init(t);
		t->has_which = t->has_interval_us = t->has_value_us = 1;
		t->which = (uint32_t)which;
		t->interval_us = (uint64_t)it[which].it_interval.tv_sec * 1000000 +
				 (uint64_t)it[which].it_interval.tv_usec;
		t->value_us = (uint64_t)it[which].it_value.tv_sec * 1000000 +
			      (uint64_t)it[which].it_value.tv_usec;
		ret = pb_push((void ***)&c->proc->itimers, &c->proc->n_itimers, t);
		if (ret)
			return ret;
	}
	return 0;
}

static int signals_restore(struct rst_ctx *r)
{
	const Rtcr__Process *p = r->proc;
	struct ksigaction ka;
	struct itimerval it;
	uint64_t addr;
	int ret;

	for (int sig = 1; sig <= 64; sig++) {
		if (!sig_settable(sig))
			continue;
		memset(&ka, 0, sizeof(ka));
		for (size_t i = 0; i < p->n_sigactions; i++) {
			if ((int)p->sigactions[i]->signo == sig) {
				ka.handler = p->sigactions[i]->handler;
				ka.flags = p->sigactions[i]->flags;
				ka.restorer = p->sigactions[i]->restorer;
				ka.mask = p->sigactions[i]->mask;
			}
		}
		ret = rst_scratch_put(r, 0, &ka, sizeof(ka), &addr);
		if (ret)
			return ret;
		ret = inject_call(&r->ij, NULL, "rt_sigaction", __NR_rt_sigaction, (uint64_t)sig,
				  addr, 0, 8, 0, 0);
		if (ret) {
			pr_err("signal %d: cannot restore its handler", sig);
			return ret;
		}
	}
	for (size_t i = 0; i < p->n_itimers; i++) {
		const Rtcr__Itimer *t = p->itimers[i];

		it.it_interval.tv_sec = (time_t)(t->interval_us / 1000000);
		it.it_interval.tv_usec = (suseconds_t)(t->interval_us % 1000000);
		it.it_value.tv_sec = (time_t)(t->value_us / 1000000);
		it.it_value.tv_usec = (suseconds_t)(t->value_us % 1000000);
		if (!t->value_us) {
			/* expired in the pause, its signal pending (queued again
			 * below, delivered first): the next expiry one interval on,
			 * as the kernel's re-arm on delivery would have it */
			it.it_value = it.it_interval;
		}
		ret = rst_scratch_put(r, 0, &it, sizeof(it), &addr);
		if (ret)
			return ret;
		ret = inject_call(&r->ij, NULL, "setitimer", __NR_setitimer, t->which, addr, 0, 0,
				  0, 0);
		if (ret)
			return ret;
	}
	for (size_t i = 0; i < p->n_shared_pending; i++) {
		const siginfo_t *si = (const siginfo_t *)p->shared_pending[i]->raw.data;

		if (p->shared_pending[i]->raw.len != sizeof(siginfo_t))
			continue;
		ret = rst_scratch_put(r, 0, si, sizeof(*si), &addr);
		if (ret)
			return ret;
		ret = inject_call(&r->ij, NULL, "queue a pending signal", __NR_rt_sigqueueinfo,
				  p->pid, (uint64_t)si->si_signo, addr, 0, 0, 0);
		if (ret)
			return ret;
	}
	return 0;
}

const struct session_ops session_signals = {
    .name = "signals",
    .dump = signals_dump,
    .restore = signals_restore,
    .phase = RST_SIGNALS,
};
