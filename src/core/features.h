/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Kernel features rtcr uses, probed at run time by exercising each
 * interface (never guessed from the kernel version). Results are cached:
 * the first call of a probe runs it (thread-safe), later calls are cheap.
 *
 * Probes that change process state run in forked children, which are
 * always waited for (by pid, with a timeout after which they are killed).
 * Call them before installing a SIGCHLD handler that reaps every child
 * (waitpid(-1)), or call feat_probe_all() early, e.g. at startup.
 */
#ifndef RTCR_FEATURES_H
#define RTCR_FEATURES_H

#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdio.h>

enum feat_id {
	FEAT_PRIVILEGES,	  /* CAP_SYS_ADMIN + CAP_CHECKPOINT_RESTORE effective */
	FEAT_PID_NS,		  /* unshare(CLONE_NEWPID) + fork: child is pid 1 */
	FEAT_TIME_NS,		  /* CLONE_NEWTIME + timens_offsets seen by a child */
	FEAT_PTRACE_SEIZE,	  /* PTRACE_SEIZE (TRACECLONE/FORK/EXEC) + PTRACE_INTERRUPT */
	FEAT_PTRACE_SIGMASK,	  /* PTRACE_GETSIGMASK / PTRACE_SETSIGMASK */
	FEAT_PTRACE_PEEKSIGINFO,  /* PTRACE_PEEKSIGINFO (shared queue) */
	FEAT_PTRACE_RSEQ,	  /* PTRACE_GET_RSEQ_CONFIGURATION */
	FEAT_CLONE3_SET_TID,	  /* clone3 with set_tid in a pid namespace */
	FEAT_MM_MAP,		  /* prctl(PR_SET_MM, PR_SET_MM_MAP[_SIZE]) */
	FEAT_PIDFD_OPEN,	  /* pidfd_open */
	FEAT_PIDFD_GETFD,	  /* pidfd_getfd */
	FEAT_PROCESS_VM,	  /* process_vm_readv + process_vm_writev */
	FEAT_UFFD,		  /* userfaultfd + UFFDIO_API */
	FEAT_UFFD_WP,		  /* UFFD_FEATURE_PAGEFAULT_FLAG_WP: register + write-protect */
	FEAT_UFFD_WP_ASYNC,	  /* UFFD_FEATURE_WP_ASYNC: writes resolve without a handler */
	FEAT_UFFD_WP_UNPOPULATED, /* UFFD_FEATURE_WP_UNPOPULATED */
	FEAT_UFFD_EVENTS,	  /* UFFD_FEATURE_EVENT_FORK/REMAP/REMOVE/UNMAP */
	FEAT_PAGEMAP_SCAN,	  /* PAGEMAP_SCAN ioctl on /proc/PID/pagemap */
	FEAT_GUARD_REGIONS,	  /* madvise(MADV_GUARD_INSTALL / MADV_GUARD_REMOVE) */
	FEAT_PAGEMAP_GUARD,	  /* PAGEMAP_SCAN reports guard regions (PAGE_IS_GUARD) */
	FEAT_SOFT_DIRTY,	  /* pagemap bit 55 after clear_refs 4 (informational) */
	FEAT__COUNT
};

/* Whether the feature works here (runs its probe the first time). */
bool feat_present(enum feat_id id);
/* Short name ("clone3_set_tid"), what it enables, and the probe's finding
 * (why it is missing, or facts like sizes; "" if none). The detail string
 * stays valid for the life of the process. */
const char *feat_name(enum feat_id id);
const char *feat_enables(enum feat_id id);
const char *feat_detail(enum feat_id id);
/* Run every probe now. */
void feat_probe_all(void);
/* rtcr check: print each feature rtcr uses, present or not (text, or a
 * JSON array); 0 when the basic ones are there, else -EOPNOTSUPP. */
int feat_check(FILE *out, bool json);

/* The UFFD_FEATURE_* mask UFFDIO_API reported (0 without userfaultfd). */
uint64_t feat_uffd_features(void);
/* sizeof(struct prctl_mm_map) the kernel expects (0 without PR_SET_MM_MAP). */
unsigned int feat_mm_map_size(void);

static inline bool feat_privileged(void)
{
	return feat_present(FEAT_PRIVILEGES);
}
static inline bool feat_pidns(void)
{
	return feat_present(FEAT_PID_NS);
}
static inline bool feat_timens(void)
{
	return feat_present(FEAT_TIME_NS);
}
static inline bool feat_ptrace_seize(void)
{
	return feat_present(FEAT_PTRACE_SEIZE);
}
static inline bool feat_ptrace_sigmask(void)
{
	return feat_present(FEAT_PTRACE_SIGMASK);
}
static inline bool feat_ptrace_peeksiginfo(void)
{
	return feat_present(FEAT_PTRACE_PEEKSIGINFO);
}
static inline bool feat_rseq_config(void)
{
	return feat_present(FEAT_PTRACE_RSEQ);
}
static inline bool feat_clone3_set_tid(void)
{
	return feat_present(FEAT_CLONE3_SET_TID);
}
static inline bool feat_mm_map(void)
{
	return feat_present(FEAT_MM_MAP);
}
static inline bool feat_pidfd_open(void)
{
	return feat_present(FEAT_PIDFD_OPEN);
}
static inline bool feat_pidfd_getfd(void)
{
	return feat_present(FEAT_PIDFD_GETFD);
}
static inline bool feat_process_vm(void)
{
	return feat_present(FEAT_PROCESS_VM);
}
static inline bool feat_uffd(void)
{
	return feat_present(FEAT_UFFD);
}
static inline bool feat_uffd_wp(void)
{
	return feat_present(FEAT_UFFD_WP);
}
static inline bool feat_uffd_wp_async(void)
{
	return feat_present(FEAT_UFFD_WP_ASYNC);
}
static inline bool feat_uffd_wp_unpopulated(void)
{
	return feat_present(FEAT_UFFD_WP_UNPOPULATED);
}
static inline bool feat_uffd_events(void)
{
	return feat_present(FEAT_UFFD_EVENTS);
}
static inline bool feat_pagemap_scan(void)
{
	return feat_present(FEAT_PAGEMAP_SCAN);
}
static inline bool feat_guard_regions(void)
{
	return feat_present(FEAT_GUARD_REGIONS);
}
static inline bool feat_pagemap_guard(void)
{
	return feat_present(FEAT_PAGEMAP_GUARD);
}
static inline bool feat_soft_dirty(void)
{
	return feat_present(FEAT_SOFT_DIRTY);
}

#endif
