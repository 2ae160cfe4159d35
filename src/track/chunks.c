/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The chunks of a tracked region: see chunks.h. */
#include "track/chunks.h"

#include <errno.h>
#include <stdlib.h>

void trk_region_free(struct region *r)
{
	free(r->dirty);
	free(r->unprot);
	free(r->pending);
	r->dirty = r->unprot = r->pending = NULL;
}

int trk_region_init(struct region *r, uint64_t gran, uint64_t start, uint64_t end, bool dirty)
{
	size_t words;

	memset(r, 0, sizeof(*r));
	r->start = start;
	r->end = end;
	r->c0 = start / gran;
	r->nchunks = (size_t)((end - 1) / gran - r->c0 + 1);
	words = (r->nchunks + 63) / 64;
	r->dirty = calloc(words, 8);
	r->unprot = calloc(words, 8);
	r->pending = calloc(words, 8);
	if (!r->dirty || !r->unprot || !r->pending) {
		trk_region_free(r);
		return -ENOMEM;
	}
	if (dirty)
		memset(r->dirty, 0xff, words * 8);
	return 0;
}

int trk_region_sub(uint64_t gran, const struct region *r, uint64_t s, uint64_t e,
		   struct region *out)
{
	int ret = trk_region_init(out, gran, s, e, false);

	if (ret)
		return ret;
	out->file_backed = r->file_backed;
	for (size_t i = 0; i < out->nchunks; i++) {
		size_t j = (size_t)(out->c0 + i - r->c0);

		if (trk_bit_get(r->dirty, j))
			trk_bit_set(out->dirty, i);
		if (trk_bit_get(r->unprot, j))
			trk_bit_set(out->unprot, i);
		if (trk_bit_get(r->pending, j))
			trk_bit_set(out->pending, i);
	}
	return 0;
}
