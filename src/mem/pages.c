/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pages worth saving: found with PAGEMAP_SCAN (or, on kernels without it,
 * by reading /proc/PID/pagemap), gathered as ranges of one process, then
 * copied into the capture buffers with process_vm_readv (or through
 * /proc/PID/mem for what is not readable). Also the end of the memory
 * snapshots: their pages are found and copied after the target resumed.
 */
#define LOG_PREFIX "memory: "
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "mem/mem.h"
#include "base/log.h"

#define PG PAGE_SIZE_4K

static int rangev_add(struct mem_ranges *rv, uint64_t s, uint64_t e, bool force)
{
	if (rv->n && !rv->barrier && rv->v[rv->n - 1].end == s && rv->v[rv->n - 1].force == force) {
		rv->v[rv->n - 1].end = e;
		return 0;
	}
	if (rv->n == rv->cap) {
		size_t nc = rv->cap ? rv->cap * 2 : 256;
		void *nv = realloc(rv->v, nc * sizeof(*rv->v));

		if (!nv)
			return -ENOMEM;
		rv->v = nv;
		rv->cap = nc;
	}
	rv->v[rv->n].start = s;
	rv->v[rv->n].end = e;
	rv->v[rv->n].force = force;
	rv->v[rv->n].now = force;
	rv->n++;
	rv->barrier = false;
	return 0;
}

/* What the walk of one range of the capture adds to. */
struct save_scan {
	struct mem_ranges *rv;
	Rtcr__Vma *vma;
	bool file_backed, force;
};

/* Whether this kernel's PAGEMAP_SCAN reports guard regions (-1: not known yet). */
static int guard_ok = -1;

static int save_regions(void *arg, const struct page_region *regs, long n)
{
	struct save_scan *ss = arg;
	Rtcr__Vma *vma = ss->vma;
	int ret;

	if (guard_ok == -1)
		guard_ok = 1;
	for (long i = 0; i < n; i++) {
		uint64_t cat = regs[i].categories;

		if ((cat & PAGE_IS_GUARD) && !vma)
			continue; /* recorded by the VMA's own scan */
		if (cat & PAGE_IS_GUARD) {
			size_t k = vma->n_guards;
			uint64_t *ng;

			if (k >= 2 && vma->guards[k - 1] == regs[i].start) {
				vma->guards[k - 1] = regs[i].end;
				continue;
			}
			ng = realloc(vma->guards, sizeof(uint64_t) * (k + 2));
			if (!ng)
				return -ENOMEM;
			vma->guards = ng;
			ng[k] = regs[i].start;
			ng[k + 1] = regs[i].end;
			vma->n_guards = k + 2;
			continue;
		}
		if (!(cat & (PAGE_IS_PRESENT | PAGE_IS_SWAPPED)))
			continue;
		if (cat & PAGE_IS_PFNZERO)
			continue;
		if (ss->file_backed && (cat & PAGE_IS_FILE))
			continue;
		ret = rangev_add(ss->rv, regs[i].start, regs[i].end, ss->force);
		if (ret)
			return ret;
	}
	return 0;
}

static int scan_pagemap_scan(int pmfd, uint64_t start, uint64_t end, bool file_backed,
			     struct mem_ranges *rv, bool force, Rtcr__Vma *vma)
{
	struct page_region regs[512];
	struct save_scan ss = {.rv = rv, .vma = vma, .file_backed = file_backed, .force = force};
	struct mem_scan s = {.pmfd = pmfd, .regs = regs, .nregs = 512};
	int ret;

	for (;;) {
		s.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED;
		s.return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_FILE | PAGE_IS_PFNZERO;
		if (guard_ok != 0) {
			s.category_anyof_mask |= PAGE_IS_GUARD;
			s.return_mask |= PAGE_IS_GUARD;
		}
		ret = mem_scan_walk(&s, start, end, save_regions, &ss);
		if (ret == -EINVAL && guard_ok == -1) {
			/* no guard regions here: again without them, from where it stopped */
			guard_ok = 0;
			start = s.pos;
			continue;
		}
		return ret;
	}
}

/* Fallback for kernels without PAGEMAP_SCAN: /proc/PID/pagemap. */
static int scan_pagemap_read(int pmfd, uint64_t start, uint64_t end, bool file_backed,
			     struct mem_ranges *rv, bool force)
{
	uint64_t ents[512];
	uint64_t pos = start;
	int ret;

	while (pos < end) {
		size_t cnt = (size_t)((end - pos) / PG);
		ssize_t n;

		if (cnt > 512)
			cnt = 512;
		n = pread(pmfd, ents, cnt * 8, (off_t)(pos / PG * 8));
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		cnt = (size_t)n / 8;
		for (size_t i = 0; i < cnt; i++) {
			uint64_t e = ents[i];
			bool present = e & (1ULL << 63), swapped = e & (1ULL << 62);
			bool file = e & (1ULL << 61);

			if (!(present || swapped) || (file_backed && file && !swapped))
				continue;
			ret = rangev_add(rv, pos + i * PG, pos + (i + 1) * PG, force);
			if (ret)
				return ret;
		}
		pos += cnt * PG;
	}
	return 0;
}

/* process_vm_readv of many (remote, local) pairs, IOV_MAX at a time. */
struct copy_item {
	uint64_t addr, len;
	void *dst;
};

static int readv_batches(pid_t pid, const struct copy_item *d, size_t n)
{
	struct iovec liov[512], riov[512];
	size_t i = 0;

	while (i < n) {
		size_t cnt = 0;
		ssize_t want = 0, got;

		for (; i < n && cnt < 512; i++, cnt++) {
			liov[cnt].iov_base = d[i].dst;
			liov[cnt].iov_len = d[i].len;
			riov[cnt].iov_base = (void *)(uintptr_t)d[i].addr;
			riov[cnt].iov_len = d[i].len;
			want += (ssize_t)d[i].len;
		}
		got = process_vm_readv(pid, liov, cnt, riov, cnt, 0);
		if (got != want) {
			if (got < 0)
				return pr_perror("read memory of %d", pid);
			pr_err("short read of memory of %d (%zd of %zd bytes)", pid, got, want);
			return -EFAULT;
		}
	}
	return 0;
}
/* Find the pages of one VMA worth saving: PAGEMAP_SCAN, or pagemap. */
int mem_scan_vma(int pmfd, const struct scan_req *q, struct mem_ranges *rv, bool *have_scan)
{
	int ret;

	rv->barrier = true;
	if (*have_scan) {
		ret =
		    scan_pagemap_scan(pmfd, q->start, q->end, q->file_backed, rv, q->force, q->vma);
		if (ret != -ENOTTY && ret != -EINVAL)
			goto out;
		*have_scan = false;
	}
	ret = scan_pagemap_read(pmfd, q->start, q->end, q->file_backed, rv, q->force);
out:
	if (ret)
		pr_err("scan pages of 0x%" PRIx64 "-0x%" PRIx64 ": %s", q->start, q->end,
		       strerror(-ret));
	return ret;
}

/* Reserve capture memory for every range, record the runs, and copy them
 * from process `pid` (the target, or its snapshot). */
int mem_copy_ranges(struct capture *cap, pid_t pid, uint32_t ns_pid, struct mem_ranges *rv)
{
	struct copy_item *items = NULL;
	size_t nitems = 0;
	int memfd = -1, ret = 0;

	items = calloc(rv->n ? rv->n : 1, sizeof(*items));
	if (!items)
		return -ENOMEM;
	for (size_t k = 0; k < rv->n; k++) {
		uint64_t s = rv->v[k].start, len = rv->v[k].end - s;
		void *dst = capture_reserve(cap, len);

		if (!dst) {
			pr_err("out of memory for %" PRIu64 " bytes of pages", len);
			ret = -ENOMEM;
			goto out;
		}
		ret = capture_add_run(cap, s, (uint32_t)(len / PG), 0, ns_pid, dst);
		if (ret)
			goto out;
		if (rv->v[k].force) {
			/* not readable (PROT_NONE after use...): through /proc/PID/mem */
			char path[64];

			if (memfd < 0) {
				snprintf(path, sizeof(path), "/proc/%d/mem", pid);
				memfd = open(path, O_RDONLY | O_CLOEXEC);
				if (memfd < 0) {
					ret = pr_perror("open %s", path);
					goto out;
				}
			}
			if (pread(memfd, dst, len, (off_t)s) != (ssize_t)len) {
				ret = pr_perror("read 0x%" PRIx64 "-0x%" PRIx64 " of %d", s,
						s + len, pid);
				goto out;
			}
			continue;
		}
		items[nitems].addr = s;
		items[nitems].len = len;
		items[nitems].dst = dst;
		nitems++;
	}
	ret = readv_batches(pid, items, nitems);
out:
	if (memfd >= 0)
		close(memfd);
	free(items);
	return ret;
}

int mem_copy_range(struct capture *cap, pid_t pid, uint32_t ns_pid, int pmfd, uint64_t start,
		   uint64_t end, bool file_backed)
{
	struct mem_ranges rv = {0};
	int ret;

	rv.barrier = true;
	ret = scan_pagemap_scan(pmfd, start, end, file_backed, &rv, false, NULL);
	if (ret == -ENOTTY || ret == -EINVAL)
		ret = scan_pagemap_read(pmfd, start, end, file_backed, &rv, false);
	if (!ret)
		ret = mem_copy_ranges(cap, pid, ns_pid, &rv);
	free(rv.v);
	return ret;
}

static int finish_one(struct capture *cap, struct snapshot *sn)
{
	struct mem_ranges rv = {0};
	bool have_scan = true;
	char path[64];
	int pmfd, ret = 0;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", sn->pid);
	pmfd = open(path, O_RDONLY | O_CLOEXEC);
	if (pmfd < 0) {
		ret = pr_perror("open %s", path);
		goto out;
	}
	for (size_t i = 0; i < sn->ndscan && !ret; i++)
		ret = mem_scan_vma(pmfd, &sn->dscan[i], &rv, &have_scan);
	close(pmfd);
	if (!ret)
		ret = mem_copy_ranges(cap, sn->pid, sn->ns_pid, &rv);
out:
	free(rv.v);
	return ret;
}

int capture_finish_snapshot(struct capture *cap)
{
	int ret = 0;

	for (int i = 0; i < cap->nsnaps; i++) {
		if (!ret)
			ret = finish_one(cap, &cap->snaps[i]);
		kill(cap->snaps[i].pid, SIGKILL);
		free(cap->snaps[i].dscan);
	}
	cap->nsnaps = 0;
	return ret;
}