/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Capture buffers: the parent's memory that receives page contents (one
 * prefaulted buffer made before the pause, more of 64 MiB or more on
 * demand, each rounded to 2 MiB and backed by huge pages where possible),
 * and the runs that say whose pages lie where.
 */
#define LOG_PREFIX "memory: "
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "mem/mem.h"
#include "base/log.h"

void *capture_reserve(struct capture *cap, size_t len)
{
	struct pagebuf *b = cap->nbufs ? &cap->bufs[cap->nbufs - 1] : NULL;
	void *p;

	if (!b || b->cap - b->used < len) {
		size_t sz = len > (64UL << 20) ? len : (64UL << 20);

		if (cap->nbufs == (int)(sizeof(cap->bufs) / sizeof(cap->bufs[0])))
			return NULL;
		/* rounded to 2 MiB so that it can be backed by huge pages */
		sz = (sz + (2UL << 20) - 1) & ~((2UL << 20) - 1);
		p = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return NULL;
		madvise(p, sz, MADV_HUGEPAGE);
		b = &cap->bufs[cap->nbufs++];
		b->base = p;
		b->cap = sz;
		b->used = 0;
	}
	p = b->base + b->used;
	b->used += len;
	return p;
}

int capture_prealloc(struct capture *cap, uint64_t bytes)
{
	size_t want;
	void *p;

	want = (size_t)(bytes + bytes / 32 + (4ULL << 20));
	want = (want + (2UL << 20) - 1) & ~((2UL << 20) - 1);
	p = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return pr_perror("allocate %zu bytes for the checkpoint", want);
	madvise(p, want, MADV_HUGEPAGE);
	/* fault it in now, not inside the pause */
	if (madvise(p, want, MADV_POPULATE_WRITE) < 0) {
		for (size_t off = 0; off < want; off += PAGE_SIZE_4K)
			((volatile char *)p)[off] = 0;
	}
	cap->bufs[0].base = p;
	cap->bufs[0].cap = want;
	cap->bufs[0].used = 0;
	cap->nbufs = 1;
	return 0;
}

int capture_add_run(struct capture *cap, uint64_t addr, uint32_t npages, uint32_t shmem_id,
		    uint32_t pid, const void *data)
{
	struct img_page_src *r;

	if (cap->nruns == cap->runs_cap) {
		size_t nc = cap->runs_cap ? cap->runs_cap * 2 : 256;
		struct img_page_src *nr = realloc(cap->runs, nc * sizeof(*nr));

		if (!nr)
			return -ENOMEM;
		cap->runs = nr;
		cap->runs_cap = nc;
	}
	r = &cap->runs[cap->nruns++];
	r->addr = addr;
	r->npages = npages;
	r->shmem_id = shmem_id;
	r->pid = pid;
	r->data = data;
	cap->mem_bytes += (uint64_t)npages * PAGE_SIZE_4K;
	return 0;
}
