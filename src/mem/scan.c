/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The PAGEMAP_SCAN walk over /proc/PID/pagemap: one ioctl per batch of
 * regions, from where the last one stopped (walk_end) to the end of the
 * range. What is asked (flags, masks) and what is done with each batch
 * are the caller's.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "mem/mem.h"

int mem_scan_walk(struct mem_scan *s, uint64_t start, uint64_t end, mem_scan_fn fn, void *arg)
{
	struct pm_scan_arg a;
	long n;
	int ret;

	s->pos = start;
	while (s->pos < end) {
		memset(&a, 0, sizeof(a));
		a.size = sizeof(a);
		a.flags = s->flags;
		a.start = s->pos;
		a.end = end;
		a.vec = (uint64_t)(uintptr_t)s->regs;
		a.vec_len = s->nregs;
		a.category_mask = s->category_mask;
		a.category_anyof_mask = s->category_anyof_mask;
		a.return_mask = s->return_mask;
		n = ioctl(s->pmfd, PAGEMAP_SCAN, &a);
		if (n < 0)
			return -errno;
		ret = fn(arg, s->regs, n);
		if (ret)
			return ret;
		if (a.walk_end <= s->pos)
			break;
		s->pos = a.walk_end;
	}
	return 0;
}
