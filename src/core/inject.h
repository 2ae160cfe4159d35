/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ptrace control of the target's threads and syscall injection.
 *
 * A stopped thread executes one system call of our choice: its registers
 * are set to (rip = a `syscall` instruction found in the target's vDSO,
 * rax = nr, args), it is single-stepped over that instruction, and the
 * SIGTRAP stop that follows gives the result in rax. The SIGTRAP stop is
 * a signal-delivery-stop inside get_signal(), so when the saved registers
 * are put back there and the thread is continued, the kernel's syscall
 * restart logic sees them exactly as at the original stop. All signals
 * are blocked (PTRACE_SETSIGMASK) while injecting, so none is delivered
 * in between.
 */
#ifndef RTCR_INJECT_H
#define RTCR_INJECT_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

struct inject {
	pid_t tid;		      /* host tid of the stopped thread */
	struct user_regs_struct orig; /* registers at the stop */
	uint64_t orig_sigmask;
	uint64_t syscall_ip; /* a syscall instruction in the target */
	uint64_t scratch;    /* remote scratch area (0: none) */
	uint64_t scratch_len;
	unsigned long event_msg; /* PTRACE_GETEVENTMSG of a fork/clone during a syscall */
	bool active;
};

/* Stop state of one thread after ptrace_pause_thread(). */
struct tstop {
	pid_t tid;
	bool group_stop; /* it was in a group-stop (SIGSTOP'd) */
	int sig;	 /* a signal that was being delivered when we stopped it (0: none) */
	siginfo_t si;	 /* its siginfo */
};

/* PTRACE_INTERRUPT the thread and wait until it is in a stop we can use. */
int ptrace_pause_thread(pid_t tid, struct tstop *ts);
/* Let it run on (PTRACE_CONT, or LISTEN for a group-stop). */
int ptrace_resume_thread(const struct tstop *ts);

/* Wait until a killed tracee is gone, letting it through its exit stop. */
void ptrace_reap(pid_t pid);

/* Find a syscall instruction in the vDSO (else any executable mapping) of pid. */
int find_syscall_ip(pid_t pid, uint64_t *ip);

int inject_begin(struct inject *ij, pid_t tid, uint64_t syscall_ip);
/* Run one system call in the thread; *ret is its raw result (-errno on failure). */
int inject_syscall(struct inject *ij, long *ret, long nr, uint64_t a1, uint64_t a2, uint64_t a3,
		   uint64_t a4, uint64_t a5, uint64_t a6);
/* Like inject_syscall, but a negative result is an error logged with `what`. */
int inject_call(struct inject *ij, long *ret, const char *what, long nr, uint64_t a1, uint64_t a2,
		uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6);
/* One system call of a batch: run by a small code blob in the target's
 * scratch memory, all of them in one stop (see inject_batch). */
struct inject_call {
	uint64_t nr, a[6];
	int64_t ret; /* out */
};
/* Run n system calls in the thread in one go (the scratch area must be
 * executable: inject_scratch(..., exec = true) and at least
 * INJECT_BATCH_SPACE(n) bytes). Results in calls[i].ret. */
#define INJECT_BATCH_SPACE(n) (512 + (n) * sizeof(struct inject_call))
int inject_batch(struct inject *ij, struct inject_call *calls, size_t n);

/* Map len bytes of read/write (and exec, if asked) scratch memory in the
 * target (at hint if nonzero). */
int inject_scratch(struct inject *ij, uint64_t len, uint64_t hint, bool exec);
int inject_scratch_free(struct inject *ij);
/* Put the registers and signal mask of the stop back (the thread stays stopped). */
int inject_end(struct inject *ij);

int remote_read(pid_t pid, uint64_t addr, void *buf, size_t len);
int remote_write(pid_t pid, uint64_t addr, const void *buf, size_t len);

#endif
