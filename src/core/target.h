/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A target under an rtcr parent: the PD session (pid + time namespace with
 * rtcr's init as PID 1), the target process in it, and the LOG session.
 */
#ifndef RTCR_TARGET_H
#define RTCR_TARGET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "rtcr/rtcr.h"

struct target {
	char name[RTCR_NAME_MAX + 1];
	pid_t init_pid;	     /* host pid of the namespace init (PID 1 inside) */
	pid_t pid;	     /* host pid of the target process (its main thread) */
	pid_t ns_pid;	     /* the same process, pid inside the namespace */
	int log_rd[3];	     /* [1], [2]: our read ends of the target's stdout/stderr; -1 if none */
	uint64_t log_ino[3]; /* inodes of those pipes, to recognize them in the fd table */
	int64_t mono_off;    /* time namespace offsets (ns) */
	int64_t boot_off;
	char **argv;	  /* command line (NULL-terminated, owned) */
	char origin[256]; /* "run" or "restore DIR" */
	uint64_t started_ns;
	bool exited;
	int status;    /* raw wait status once exited */
	pid_t *frozen; /* restored frozen: every thread to continue, main thread last */
	size_t nfrozen;
};

/* How to start the process inside the new namespaces. */
struct launch_spec {
	enum { LAUNCH_EXEC, LAUNCH_STUB } kind;
	char *const *argv;     /* LAUNCH_EXEC: program and args (execvp) */
	const char *stub_path; /* LAUNCH_STUB: the restore stub binary */
	pid_t stub_pid;	       /* LAUNCH_STUB: pid it must get inside the namespace */
	int stub_sock; /* LAUNCH_STUB: socket the stub inherits (at STUB_SOCK_FD) for fd passing */
	int64_t mono_off; /* time namespace offsets */
	int64_t boot_off;
	/* LAUNCH_EXEC: called at the exec stop, before the program's first
	 * instruction (e.g. to arm dirty tracking); a failure is only a warning */
	int (*at_exec)(void *arg, pid_t pid, pid_t ns_pid);
	void *at_exec_arg;
};

#define STUB_SOCK_FD 3

/*
 * Create a pid + time namespace, its init, and the target process in it,
 * ptrace-seized before its first instruction of the new program (stopped at
 * the PTRACE_EVENT_EXEC stop for LAUNCH_STUB; running for LAUNCH_EXEC).
 * Fills init_pid, pid, ns_pid, log_rd/log_ino (LAUNCH_EXEC only: the LOG
 * pipes; for LAUNCH_STUB the caller makes them).
 */
int launch_target(const struct launch_spec *spec, struct target *t);

/* The ptrace options every traced process of a target gets. */
#define RTCR_PTRACE_OPTS                                                                           \
	(PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEEXEC | PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK |   \
	 PTRACE_O_TRACEVFORK)

/* ... and with the exit event, as set at launch */
#define RTCR_PTRACE_OPTS_ALL (RTCR_PTRACE_OPTS | PTRACE_O_TRACEEXIT)

#endif
