/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pages: what a checkpoint copies out of the target into the parent's
 * memory (the capture's buffers and page runs), and how pages worth saving
 * are found (PAGEMAP_SCAN) and copied (process_vm_readv). Used by the
 * memory session, the dirty tracker (copy-before-write of a live
 * checkpoint) and the migration sender alike.
 */
#ifndef RTCR_MEM_H
#define RTCR_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/compat.h"
#include "image/image.h"
#include "proto/rtcr.pb-c.h"

#define PAGE_SIZE_4K 4096ULL

/* Parent memory that holds captured page contents. */
struct pagebuf {
	char *base;
	size_t cap, used;
};

struct cproc;
struct capture {
	Rtcr__Image *img;
	struct img_page_src *runs;
	size_t nruns, runs_cap;
	struct pagebuf bufs[16];
	int nbufs;
	uint64_t mem_bytes;
	/* Memory snapshot: a copy-on-write child of the target made in the
	 * pause (see memory.c); its pages are copied after the target runs on. */
	struct snapshot {
		pid_t pid;		/* host pid of the snapshot child */
		uint32_t ns_pid;	/* the process whose memory it holds */
		struct scan_req *dscan; /* VMAs whose pages are found and copied from it */
		size_t ndscan;
	} snaps[64];
	int nsnaps;
	struct tracker *live_tk; /* live checkpoint: chunks still to copy (track_live_copy) */
	struct cproc *paused;	 /* keep_paused: the stopped processes (ckpt_release) */
	int npaused;
};
struct scan_req {
	uint64_t start, end;
	bool file_backed; /* save only pages that are no longer the file's */
	bool force;	  /* not readable: read through /proc/PID/mem */
	bool now;	  /* fork does not pass it on as is: copy in the pause */
	Rtcr__Vma *vma;
};

/* ---- capture buffers and runs (capture.c) ---- */

/* Reserve len bytes of capture buffer (NULL: out of memory). */
void *capture_reserve(struct capture *cap, size_t len);
/* Before the pause: the first buffer, room for `bytes` of pages and some
 * more, faulted in now. Logs the cause. */
int capture_prealloc(struct capture *cap, uint64_t bytes);
/* Record npages pages at addr, held at data: of shared object shmem_id
 * (addr: the offset in it), or of process pid's memory (shmem_id 0). */
int capture_add_run(struct capture *cap, uint64_t addr, uint32_t npages, uint32_t shmem_id,
		    uint32_t pid, const void *data);

/* ---- the PAGEMAP_SCAN walk (scan.c) ---- */

/* What to ask (see linux/fs.h, struct pm_scan_arg) and where the answers go. */
struct mem_scan {
	int pmfd; /* /proc/PID/pagemap */
	uint64_t flags, category_mask, category_anyof_mask, return_mask;
	struct page_region *regs;
	size_t nregs;
	uint64_t pos; /* where the walk is; after a failure, where it failed */
};
/* Gets each batch of regions (n may be 0); a nonzero return ends the walk. */
typedef int (*mem_scan_fn)(void *arg, const struct page_region *regs, long n);
/* Walk [start, end). Returns 0, fn's return, or -errno of the ioctl (not
 * logged: the caller knows what failing means). */
int mem_scan_walk(struct mem_scan *s, uint64_t start, uint64_t end, mem_scan_fn fn, void *arg);

/* ---- pages worth saving (pages.c) ---- */

/* Page ranges of one process to be copied in one batch. */
struct mem_ranges {
	struct {
		uint64_t start, end;
		bool force; /* not readable: use /proc/PID/mem */
		bool now;   /* copy inside the pause (not through the snapshot) */
	} * v;
	size_t n, cap;
	bool barrier; /* next range starts a new VMA: never merge across VMAs */
};
/* Add the pages of q worth saving to rv: PAGEMAP_SCAN, or pagemap where
 * *have_scan is false (set false when the kernel has no PAGEMAP_SCAN).
 * Guard regions found are recorded in q->vma. Logs the cause. */
int mem_scan_vma(int pmfd, const struct scan_req *q, struct mem_ranges *rv, bool *have_scan);
/* Reserve capture memory for every range of rv, record the runs, and copy
 * them from process pid (the target, or its snapshot). Logs the cause. */
int mem_copy_ranges(struct capture *cap, pid_t pid, uint32_t ns_pid, struct mem_ranges *rv);
/* Save the pages of [start, end) of process pid worth saving (present,
 * not the zero page; for a private file mapping only those that are no
 * longer the file's) into cap. pmfd: its /proc/PID/pagemap. */
int mem_copy_range(struct capture *cap, pid_t pid, uint32_t ns_pid, int pmfd, uint64_t start,
		   uint64_t end, bool file_backed);
/* Copy what the snapshots hold into the capture buffers, then end them. */
int capture_finish_snapshot(struct capture *cap);

#endif
