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
	int status; /* raw wait status once exited */
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

/* ---- checkpoint (src/core/checkpoint.c) ---- */
struct capture;
struct tracker;
struct track_last;
struct ckpt_opts {
	bool kill;
	bool dry_run;
	bool no_retry;	    /* refuse transient states (vfork in progress) instead of trying again */
	struct tracker *tk; /* dirty tracking of the target, or NULL */
	bool incremental;   /* only what changed since the image tk refers to (needs tk) */
	bool live;	    /* copy tracked memory after the resume (needs fault tracking) */
	const struct track_last *parent; /* incremental: the image it builds on */
	bool keep_paused; /* leave the target stopped after the capture: ckpt_release() */
};
struct ckpt_stats {
	uint64_t pause_ns, capture_ns, write_ns, mem_bytes, image_bytes;
	uint64_t meta_sum; /* the written rtcr.img's header checksum */
	char image_id[40];
};
/*
 * Pause the whole target, capture its state into the parent's memory,
 * resume it (or kill it with opts->kill), return the capture. Must run on
 * the thread that is the ptrace tracer. For dry_run nothing is captured:
 * *report gets one line per resource that a checkpoint would refuse
 * (malloc'd, "" when none) and the function returns 0.
 */
int ckpt_capture(struct target *t, const struct ckpt_opts *o, struct capture **out, char **report,
		 struct ckpt_stats *st);
/* Host pids of every process of the target's namespace but init, parents
 * first (malloc'd). */
int ckpt_list_processes(struct target *t, pid_t **out, int *n);
/* Give every process of the target a userfaultfd for tk (each stopped for
 * a moment): tracking for a target started without it. */
int ckpt_arm_tracking(struct target *t, struct tracker *tk);
/* A capture made with keep_paused: let the target run on, or kill it (on
 * the tracer thread). Also done by capture_free (run on). */
int ckpt_release(struct capture *c, bool kill_it);
/* Serialize into memory (to send): see img_serialize. Any thread. */
struct img_blob;
int ckpt_serialize(struct capture *c, struct img_blob *out, bool checksums);
/* Serialize and write the image into dirfd. No ptrace: may run in any thread. */
int ckpt_write(struct capture *c, int dirfd, struct ckpt_stats *st);
void capture_free(struct capture *c);

/* ---- restore (src/core/restore.c) ---- */
struct img;
struct restore_req {
	const char *dir;
	const char *name; /* chosen by the caller (unique) */
	bool ignore_cpu;
	struct img *im; /* an image already open (received): used instead of dir, and closed */
	bool frozen;	/* leave every thread stopped, ready to go: restore_thaw() */
};
/* Fill *name_out with the name recorded in the image (for choosing one). */
int restore_peek_name(const char *dir, char *name_out, size_t len);
/*
 * Rebuild the image's target in new namespaces and let it run. On success
 * *t describes it (pids, LOG pipes) and it is seized by this thread. On
 * failure nothing is left running.
 */
int restore_target(const struct restore_req *r, struct target *t);
/* Let a target restored frozen run (its threads, main thread last). */
int restore_thaw(struct target *t);

#endif
