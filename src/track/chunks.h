/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The chunks of a tracked region: a region [start, end) is cut at
 * multiples of the granularity (the first and last chunk clipped to it),
 * and each chunk has one bit in each of three bitmaps. Bit operations are
 * inline: the fault handler and the capture walk them chunk by chunk.
 */
#ifndef RTCR_TRACK_CHUNKS_H
#define RTCR_TRACK_CHUNKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct region {
	uint64_t start, end; /* page aligned, registered with the uffd */
	uint64_t c0;	     /* chunk index of start */
	size_t nchunks;
	uint64_t *dirty;   /* to be saved by the next checkpoint */
	uint64_t *unprot;  /* write protection lifted (fault mode) or unknown */
	uint64_t *pending; /* live checkpoint: not copied yet (and protected) */
	bool file_backed;  /* private file mapping (async mode only) */
};

static inline bool trk_bit_get(const uint64_t *b, size_t i)
{
	return b[i / 64] & (1ULL << (i % 64));
}

static inline void trk_bit_set(uint64_t *b, size_t i)
{
	b[i / 64] |= 1ULL << (i % 64);
}

static inline void trk_bit_clr(uint64_t *b, size_t i)
{
	b[i / 64] &= ~(1ULL << (i % 64));
}

/* Every bit of an n-bit map cleared. */
static inline void trk_bits_clear(uint64_t *b, size_t n)
{
	memset(b, 0, (n + 63) / 64 * 8);
}

/* The last bit of the run of set bits of an n-bit map that starts at set
 * bit k. */
static inline size_t trk_bits_run_last(const uint64_t *b, size_t k, size_t n)
{
	size_t j = k;

	while (j + 1 < n && trk_bit_get(b, j + 1))
		j++;
	return j;
}

/* Chunk index in r of an address of r. */
static inline size_t trk_chunk_index(uint64_t gran, const struct region *r, uint64_t addr)
{
	return (size_t)(addr / gran - r->c0);
}

/* The chunks of region r that [s, e) touches: indexes [*a, *b). */
static inline void trk_chunk_span(uint64_t gran, const struct region *r, uint64_t s, uint64_t e,
				  size_t *a, size_t *b)
{
	if (s < r->start)
		s = r->start;
	if (e > r->end)
		e = r->end;
	*a = (size_t)(s / gran - r->c0);
	*b = (size_t)((e - 1) / gran - r->c0 + 1);
}

/* Bytes of chunk i of r, clipped to the region. */
static inline void trk_chunk_range(uint64_t gran, const struct region *r, size_t i, uint64_t *s,
				   uint64_t *e)
{
	*s = (r->c0 + i) * gran;
	*e = *s + gran;
	if (*s < r->start)
		*s = r->start;
	if (*e > r->end)
		*e = r->end;
}

/* From pos (in r, before stop <= r->end): the end of the run of chunks in
 * the same dirty state, at most stop; *dirty: that state. */
static inline uint64_t trk_dirty_run(uint64_t gran, const struct region *r, uint64_t pos,
				     uint64_t stop, bool *dirty)
{
	size_t k = (size_t)(pos / gran - r->c0);
	bool d = trk_bit_get(r->dirty, k);
	uint64_t run_end;

	while (true) {
		uint64_t ce = (r->c0 + k + 1) * gran;

		run_end = ce < stop ? ce : stop;
		if (run_end >= stop)
			break;
		if (trk_bit_get(r->dirty, k + 1) != d)
			break;
		k++;
	}
	*dirty = d;
	return run_end;
}

/* Bytes of r in dirty chunks. */
static inline uint64_t trk_dirty_bytes(uint64_t gran, const struct region *r)
{
	uint64_t total = 0;

	for (size_t k = 0; k < r->nchunks; k++) {
		if (trk_bit_get(r->dirty, k)) {
			uint64_t cs, ce;

			trk_chunk_range(gran, r, k, &cs, &ce);
			total += ce - cs;
		}
	}
	return total;
}

/* r covers [start, end) in chunks of gran, every chunk dirty or clean;
 * -ENOMEM. */
int trk_region_init(struct region *r, uint64_t gran, uint64_t start, uint64_t end, bool dirty);
void trk_region_free(struct region *r);
/* A copy of [s, e) of region r (bits included); -ENOMEM. */
int trk_region_sub(uint64_t gran, const struct region *r, uint64_t s, uint64_t e,
		   struct region *out);

#endif
