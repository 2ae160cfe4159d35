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
/* Copy what the snapshots hold into the capture buffers, then end them. */
int capture_finish_snapshot(struct capture *cap);

/* Reserve len bytes of capture buffer. */
void *capture_reserve(struct capture *cap, size_t len);
/* Save the pages of [start, end) of process pid worth saving (present,
 * not the zero page; for a private file mapping only those that are no
 * longer the file's) into cap. pmfd: its /proc/PID/pagemap. memory.c */
int mem_copy_range(struct capture *cap, pid_t pid, uint32_t ns_pid, int pmfd, uint64_t start,
		   uint64_t end, bool file_backed);

#endif
