/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CPU session: the per-thread state. Registers (general, fs/gs base) and
 * the xsave area (x87/SSE/AVX...), blocked mask, signals queued to the
 * thread, rseq registration, robust futex list, clear_child_tid,
 * sigaltstack, name and scheduling attributes.
 */
#define LOG_PREFIX "threads: "
#include <elf.h>
#include <inttypes.h>
#include <sched.h>
#include <linux/sched.h>
#include <sys/wait.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/arch/x86_64/regs.h"
#include "sessions/session.h"
#include "base/log.h"
#include "core/proc.h"

#define XSAVE_MAX (64 * 1024)

#ifndef PTRACE_PEEKSIGINFO_SHARED
#define PTRACE_PEEKSIGINFO_SHARED 1
#endif

struct sched_attr_k {
	uint32_t size;
	uint32_t sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime;
	uint64_t sched_deadline;
	uint64_t sched_period;
	uint32_t sched_util_min;
	uint32_t sched_util_max;
};

/* Read the signals queued to a thread (shared = false) or to the process. */
int dump_pending(pid_t tid, bool shared, Rtcr__SigInfo ***out, size_t *n)
{
	struct {
		uint64_t off;
		uint32_t flags;
		int32_t nr;
	} arg;
	siginfo_t si[32];
	long got;
	int ret;

	arg.off = 0;
	arg.flags = shared ? PTRACE_PEEKSIGINFO_SHARED : 0;
	for (;;) {
		arg.nr = 32;
		got = ptrace(PTRACE_PEEKSIGINFO, tid, &arg, si);
		if (got < 0)
			return pr_perror("pending signals of %d", tid);
		if (got == 0)
			return 0;
		for (long i = 0; i < got; i++) {
			Rtcr__SigInfo *s = calloc(1, sizeof(*s));

			if (!s)
				return -ENOMEM;
			rtcr__sig_info__init(s);
			s->has_raw = 1;
			s->raw.len = sizeof(siginfo_t);
			s->raw.data = malloc(sizeof(siginfo_t));
			if (!s->raw.data) {
				free(s);
				return -ENOMEM;
			}
			memcpy(s->raw.data, &si[i], sizeof(siginfo_t));
			s->has_shared = 1;
			s->shared = shared;
			ret = pb_push((void ***)out, n, s);
			if (ret)
				return ret;
		}
		arg.off += (uint64_t)got;
	}
}

static int dump_sched(pid_t tid, Rtcr__Thread *th)
{
	struct sched_attr_k a;
	Rtcr__Sched *s;

	memset(&a, 0, sizeof(a));
	if (syscall(SYS_sched_getattr, tid, &a, sizeof(a), 0) < 0)
		return pr_perror("scheduling attributes of %d", tid);
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	rtcr__sched__init(s);
	s->has_policy = s->has_priority = s->has_nice = s->has_flags = 1;
	s->policy = a.sched_policy;
	s->priority = a.sched_priority;
	s->nice = a.sched_nice;
	s->flags = a.sched_flags;
	if (a.sched_policy == 6 /* SCHED_DEADLINE */) {
		s->has_runtime = s->has_deadline = s->has_period = 1;
		s->runtime = a.sched_runtime;
		s->deadline = a.sched_deadline;
		s->period = a.sched_period;
	}
	th->sched = s;
	{
		uint64_t mask[16];
		long n = syscall(SYS_sched_getaffinity, tid, sizeof(mask), mask);

		if (n < 0)
			return pr_perror("CPU affinity of %d", tid);
		s->n_affinity = (size_t)n / 8;
		s->affinity = malloc(sizeof(mask));
		if (!s->affinity)
			return -ENOMEM;
		memcpy(s->affinity, mask, (size_t)n);
		n = syscall(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, tid);
		if (n >= 0) {
			s->has_ioprio = 1;
			s->ioprio = (uint32_t)n;
		}
	}
	return 0;
}

int proc_dump_creds(struct inject *ij, const char *status, Rtcr__Creds **out);

/* Queue back a signal that was being delivered when the thread stopped. */
static int requeue_inflight(struct ckpt_ctx *c, struct inject *ij, const struct tstop *ts,
			    uint32_t ns_tid)
{
	int ret;

	if (!ts->sig)
		return 0;
	ret = remote_write(c->pid, c->ij.scratch, &ts->si, sizeof(ts->si));
	if (ret)
		return ret;
	return inject_call(ij, NULL, "re-queue an in-flight signal", __NR_rt_tgsigqueueinfo,
			   (uint64_t)c->ns_pid, ns_tid, (uint64_t)ts->sig, c->ij.scratch, 0, 0);
}

/* General registers (from the stop) and the xsave area. */
static int dump_regs(const struct inject *ij, Rtcr__Thread *th)
{
	struct user_regs_struct regs = ij->orig;
	struct iovec iov;
	void *xs;

	th->regs = regs_to_image(&regs);
	if (!th->regs)
		return -ENOMEM;
	if ((long)regs.orig_rax >= 0) {
		th->has_in_syscall = 1;
		th->in_syscall = (uint32_t)regs.orig_rax + 1;
	}
	xs = malloc(XSAVE_MAX);
	if (!xs)
		return -ENOMEM;
	iov.iov_base = xs;
	iov.iov_len = XSAVE_MAX;
	if (ptrace(PTRACE_GETREGSET, ij->tid, NT_X86_XSTATE, &iov) < 0) {
		free(xs);
		return pr_perror("xsave state of thread %d", ij->tid);
	}
	th->has_xsave = 1;
	th->xsave.len = iov.iov_len;
	th->xsave.data = realloc(xs, iov.iov_len);
	if (!th->xsave.data)
		th->xsave.data = xs;
	return 0;
}

/* rseq registration and robust futex list, read through ptrace. */
static int dump_rseq_robust(pid_t tid, Rtcr__Thread *th)
{
	struct __ptrace_rseq_configuration rc;
	uint64_t head = 0;
	size_t hlen = 0;

	memset(&rc, 0, sizeof(rc));
	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, tid, sizeof(rc), &rc) < 0)
		return pr_perror("rseq configuration of thread %d", tid);
	if (rc.rseq_abi_pointer) {
		th->rseq = calloc(1, sizeof(*th->rseq));
		if (!th->rseq)
			return -ENOMEM;
		rtcr__rseq__init(th->rseq);
		th->rseq->has_abi_pointer = th->rseq->has_abi_size = 1;
		th->rseq->has_signature = th->rseq->has_flags = 1;
		th->rseq->abi_pointer = rc.rseq_abi_pointer;
		th->rseq->abi_size = rc.rseq_abi_size;
		th->rseq->signature = rc.signature;
		th->rseq->flags = rc.flags;
	}
	if (syscall(SYS_get_robust_list, tid, &head, &hlen) < 0)
		return pr_perror("robust list of thread %d", tid);
	th->has_robust_list = th->has_robust_list_len = 1;
	th->robust_list = head;
	th->robust_list_len = hlen;
	return 0;
}

/* clear_child_tid, sigaltstack, personality and timer slack are only
 * readable by the thread itself: one batch of injected calls (the last two
 * only for other threads than the main one, which keeps them per process) */
static int dump_self_state(struct ckpt_ctx *c, struct inject *ij, Rtcr__Thread *th, bool main)
{
	struct inject_call calls[4];
	uint64_t out = c->ij.scratch + 8192;
	struct {
		uint64_t ctid;
		stack_t ss;
	} got;
	size_t ncalls = main ? 2 : 4;
	int ret;

	memset(calls, 0, sizeof(calls));
	calls[0].nr = __NR_prctl;
	calls[0].a[0] = PR_GET_TID_ADDRESS;
	calls[0].a[1] = out + offsetof(__typeof__(got), ctid);
	calls[1].nr = __NR_sigaltstack;
	calls[1].a[1] = out + offsetof(__typeof__(got), ss);
	calls[2].nr = __NR_personality;
	calls[2].a[0] = 0xffffffff;
	calls[3].nr = __NR_prctl;
	calls[3].a[0] = PR_GET_TIMERSLACK;
	ret = inject_batch(ij, calls, ncalls);
	if (ret)
		return ret;
	for (size_t i = 0; i < ncalls; i++) {
		if (calls[i].ret < 0) {
			pr_err("thread %d: injected call %zu failed: %s", ij->tid, i,
			       strerror((int)-calls[i].ret));
			return (int)calls[i].ret;
		}
	}
	ret = remote_read(c->pid, out, &got, sizeof(got));
	if (ret)
		return ret;
	th->has_clear_child_tid = 1;
	th->clear_child_tid = got.ctid;
	th->sigaltstack = calloc(1, sizeof(*th->sigaltstack));
	if (!th->sigaltstack)
		return -ENOMEM;
	rtcr__sig_alt_stack__init(th->sigaltstack);
	th->sigaltstack->has_sp = th->sigaltstack->has_flags = th->sigaltstack->has_size = 1;
	th->sigaltstack->sp = (uint64_t)(uintptr_t)got.ss.ss_sp;
	th->sigaltstack->flags = (uint32_t)got.ss.ss_flags;
	th->sigaltstack->size = got.ss.ss_size;
	if (!main) {
		th->has_personality = th->has_timerslack_ns = 1;
		th->personality = (uint32_t)calls[2].ret;
		th->timerslack_ns = (uint64_t)calls[3].ret;
	}
	return 0;
}

/* What is per thread but kept per process for the main thread: credentials
 * and no_new_privs. */
static int dump_thread_creds(struct ckpt_ctx *c, struct inject *ij, Rtcr__Thread *th)
{
	char path[96], val[32], *status = NULL;
	int ret;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", c->pid, ij->tid);
	if (read_file(path, &status) < 0)
		return pr_perror("read %s", path);
	ret = proc_dump_creds(ij, status, &th->creds);
	if (!ret && proc_status_field(status, "NoNewPrivs", val, sizeof(val)) == 0) {
		th->has_no_new_privs = 1;
		th->no_new_privs = (uint32_t)atoi(val);
	}
	free(status);
	return ret;
}

static int dump_thread(struct ckpt_ctx *c, const struct tstop *ts, bool main)
{
	Rtcr__Thread *th = calloc(1, sizeof(*th));
	struct inject tij, *ij = &c->ij;
	pid_t tid = ts->tid;
	char path[96], *comm = NULL;
	int ret;

	if (!th)
		return -ENOMEM;
	rtcr__thread__init(th);
	ret = pb_push((void ***)&c->proc->threads, &c->proc->n_threads, th);
	if (ret) {
		free(th);
		return ret;
	}
	th->has_tid = 1;
	th->tid = (uint32_t)proc_ns_pid(tid);
	if (!main) {
		/* its own injection context, sharing the main thread's scratch memory */
		ret = inject_begin(&tij, tid, c->ij.syscall_ip);
		if (ret)
			return ret;
		tij.scratch = c->ij.scratch;
		tij.scratch_len = c->ij.scratch_len;
		ij = &tij;
	}
	th->has_sigmask = 1;
	th->sigmask = ij->orig_sigmask;
	ret = requeue_inflight(c, ij, ts, th->tid);
	if (!ret)
		ret = dump_regs(ij, th);
	if (!ret)
		ret = dump_pending(tid, false, &th->pending, &th->n_pending);
	if (!ret)
		ret = dump_rseq_robust(tid, th);
	if (ret)
		goto out;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", c->pid, tid);
	if (read_file(path, &comm) >= 0) {
		comm[strcspn(comm, "\n")] = '\0';
		th->comm = comm;
	}
	ret = dump_sched(tid, th);
	if (!ret)
		ret = dump_self_state(c, ij, th, main);
	if (!ret && !main)
		ret = dump_thread_creds(c, ij, th);
out:
	if (!main) {
		int r2 = inject_end(&tij);

		if (!ret)
			ret = r2;
	}
	return ret;
}

static int threads_dump(struct ckpt_ctx *c)
{
	int ret;

	for (int i = 0; i < c->nstops; i++) {
		ret = dump_thread(c, &c->stops[i], i == 0);
		if (ret)
			return ret;
	}
	return 0;
}

int proc_restore_creds(struct rst_ctx *r, const Rtcr__Creds *cr);

/*
 * RST_TASKS: every thread but the first is created by the main thread
 * (an injected clone3 with set_tid = its recorded tid), while the process
 * is still privileged. It is auto-attached by ptrace and stays stopped
 * before its first instruction until the very end of the restore.
 */
static int tasks_restore(struct rst_ctx *r)
{
	const Rtcr__Process *p = r->proc;
	int ret;

	ret = process_register_membarrier(r); /* while it has one thread: cheap */
	if (ret)
		return ret;
	r->thr = calloc(p->n_threads ? p->n_threads : 1, sizeof(*r->thr));
	if (!r->thr)
		return -ENOMEM;
	r->nthr = 1;
	r->thr[0].tid = r->pid;
	r->thr[0].th = p->n_threads ? p->threads[0] : NULL;
	for (size_t i = 1; i < p->n_threads; i++) {
		const Rtcr__Thread *th = p->threads[i];
		pid_t tid;

		ret = rst_clone_stopped(r,
					CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
					    CLONE_THREAD | CLONE_SYSVSEM,
					0, th->tid, "thread", &tid);
		if (ret)
			return ret;
		r->thr[r->nthr].tid = tid;
		r->thr[r->nthr].th = th;
		r->nthr++;
		ret = inject_begin(&r->thr[r->nthr - 1].ij, tid, r->ij.syscall_ip);
		if (ret)
			return ret;
		r->thr[r->nthr - 1].ij.scratch = r->ij.scratch;
		r->thr[r->nthr - 1].ij.scratch_len = r->ij.scratch_len;
		if (ptrace(PTRACE_SETOPTIONS, tid, 0,
			   RTCR_PTRACE_OPTS_ALL | PTRACE_O_SUSPEND_SECCOMP) < 0)
			return pr_perror("thread %u: suspend seccomp", th->tid);
	}
	return 0;
}

const struct session_ops session_tasks = {
    .name = "tasks",
    .restore = tasks_restore,
    .phase = RST_TASKS,
};

/* rseq, robust list, clear_child_tid and sigaltstack: set by the thread itself. */
static int restore_self_state(struct rst_ctx *r, struct inject *ij, const Rtcr__Thread *th)
{
	uint64_t addr;
	int ret = 0;

	if (th->rseq && th->rseq->abi_pointer)
		ret = inject_call(ij, NULL, "register rseq", __NR_rseq, th->rseq->abi_pointer,
				  th->rseq->abi_size, 0, th->rseq->signature, 0, 0);
	if (!ret && th->robust_list)
		ret = inject_call(ij, NULL, "set_robust_list", __NR_set_robust_list,
				  th->robust_list, th->robust_list_len, 0, 0, 0, 0);
	if (!ret)
		ret = inject_call(ij, NULL, "set_tid_address", __NR_set_tid_address,
				  th->clear_child_tid, 0, 0, 0, 0, 0);
	if (!ret && th->sigaltstack) {
		stack_t ss;

		memset(&ss, 0, sizeof(ss));
		ss.ss_sp = (void *)(uintptr_t)th->sigaltstack->sp;
		ss.ss_size = th->sigaltstack->size;
		ss.ss_flags = (int)(th->sigaltstack->flags & ~(uint32_t)SS_ONSTACK);
		if (!(ss.ss_flags & SS_DISABLE) || ss.ss_sp) {
			ret = rst_scratch_put(r, 0, &ss, sizeof(ss), &addr);
			if (!ret)
				ret = inject_call(ij, NULL, "sigaltstack", __NR_sigaltstack, addr,
						  0, 0, 0, 0, 0);
		}
	}
	return ret;
}

/* Signals queued to the thread; all signals are blocked until the end. */
static int restore_thread_pending(struct rst_ctx *r, struct inject *ij, const Rtcr__Thread *th)
{
	uint64_t addr;
	int ret;

	for (size_t i = 0; i < th->n_pending; i++) {
		const siginfo_t *si = (const siginfo_t *)th->pending[i]->raw.data;

		if (th->pending[i]->raw.len != sizeof(siginfo_t))
			continue;
		ret = rst_scratch_put(r, 0, si, sizeof(*si), &addr);
		if (ret)
			return ret;
		ret = inject_call(ij, NULL, "queue a pending signal", __NR_rt_tgsigqueueinfo,
				  r->proc->pid, th->tid, (uint64_t)si->si_signo, addr, 0, 0);
		if (ret)
			return ret;
	}
	return 0;
}

/* Scheduling policy, affinity and I/O priority, set from here. */
static int restore_sched(pid_t tid, const Rtcr__Thread *th)
{
	struct sched_attr_k a;

	if (!th->sched)
		return 0;
	memset(&a, 0, sizeof(a));
	a.size = 48;
	a.sched_policy = th->sched->policy;
	a.sched_priority = th->sched->priority;
	a.sched_nice = th->sched->nice;
	a.sched_flags = th->sched->flags;
	a.sched_runtime = th->sched->runtime;
	a.sched_deadline = th->sched->deadline;
	a.sched_period = th->sched->period;
	if (syscall(SYS_sched_setattr, tid, &a, 0) < 0)
		return pr_perror("thread %u: set scheduling policy %u priority %u nice %d", th->tid,
				 a.sched_policy, a.sched_priority, a.sched_nice);
	if (th->sched->n_affinity &&
	    syscall(SYS_sched_setaffinity, tid, th->sched->n_affinity * 8, th->sched->affinity) < 0)
		pr_warn("thread %u: CPU affinity not restored: %s (CPUs differ?)", th->tid,
			strerror(errno));
	if (th->sched->has_ioprio && syscall(SYS_ioprio_set, 1, tid, (int)th->sched->ioprio) < 0)
		pr_warn("thread %u: I/O priority 0x%x not restored: %s", th->tid, th->sched->ioprio,
			strerror(errno));
	return 0;
}

/* Per-thread attributes the process session set for the main thread:
 * personality, timer slack, credentials, no_new_privs. */
static int restore_thread_attrs(struct rst_ctx *r, struct inject *ij, const Rtcr__Thread *th)
{
	const Rtcr__Process *p = r->proc;
	const Rtcr__Creds *cr = th->creds ? th->creds : p->creds;
	uint32_t pers = th->has_personality ? th->personality : p->personality;
	uint64_t slack = th->has_timerslack_ns ? th->timerslack_ns : p->timerslack_ns;
	uint32_t nnp = th->has_no_new_privs ? th->no_new_privs : p->no_new_privs;
	int ret;

	ret = inject_call(ij, NULL, "personality", __NR_personality, pers, 0, 0, 0, 0, 0);
	if (!ret && slack)
		ret = inject_call(ij, NULL, "PR_SET_TIMERSLACK", __NR_prctl, PR_SET_TIMERSLACK,
				  slack, 0, 0, 0, 0);
	if (!ret && cr) {
		struct inject saved = r->ij;

		/* the credential steps act on whichever thread r->ij names */
		r->ij = *ij;
		ret = proc_restore_creds(r, cr);
		*ij = r->ij;
		r->ij = saved;
	}
	if (!ret && nnp)
		ret = inject_call(ij, NULL, "PR_SET_NO_NEW_PRIVS", __NR_prctl, PR_SET_NO_NEW_PRIVS,
				  1, 0, 0, 0, 0);
	return ret;
}

static int restore_one(struct rst_ctx *r, size_t idx)
{
	struct rst_thread *t = &r->thr[idx];
	const Rtcr__Thread *th = t->th;
	struct inject *ij = rst_thread_ij(r, idx);
	struct iovec iov;
	uint64_t addr;
	int ret;

	if (th->has_xsave && th->xsave.len) {
		iov.iov_base = th->xsave.data;
		iov.iov_len = th->xsave.len;
		if (ptrace(PTRACE_SETREGSET, t->tid, NT_X86_XSTATE, &iov) < 0)
			return pr_perror("thread %u: set xsave state (%zu bytes)", th->tid,
					 th->xsave.len);
	}
	ret = restore_self_state(r, ij, th);
	if (!ret)
		ret = restore_thread_pending(r, ij, th);
	if (!ret && th->comm) {
		char name[16];

		/* only the thread itself may rename itself */
		memset(name, 0, sizeof(name));
		snprintf(name, sizeof(name), "%s", th->comm);
		ret = rst_scratch_put(r, 0, name, sizeof(name), &addr);
		if (!ret)
			ret = inject_call(ij, NULL, "PR_SET_NAME", __NR_prctl, PR_SET_NAME, addr, 0,
					  0, 0, 0);
	}
	if (!ret)
		ret = restore_sched(t->tid, th);
	if (!ret && idx > 0)
		ret = restore_thread_attrs(r, ij, th);
	if (ret)
		return ret;
	memset(&t->final_regs, 0, sizeof(t->final_regs));
	regs_from_image(th->regs, &t->final_regs);
	regs_fixup_restart(&t->final_regs);
	t->final_sigmask = th->sigmask;
	t->ready = true;
	return 0;
}

static int threads_restore(struct rst_ctx *r)
{
	int ret;

	if (!r->thr || r->nthr != r->proc->n_threads) {
		pr_err("pid %u: %zu of %zu threads exist", r->proc->pid, r->nthr,
		       r->proc->n_threads);
		return -EINVAL;
	}
	for (size_t i = 0; i < r->nthr; i++) {
		ret = restore_one(r, i);
		if (ret)
			return ret;
	}
	r->final_regs = r->thr[0].final_regs;
	r->final_sigmask = r->thr[0].final_sigmask;
	r->have_final = true;
	return 0;
}

const struct session_ops session_threads = {
    .name = "threads",
    .dump = threads_dump,
    .restore = threads_restore,
    .phase = RST_THREADS,
};
