/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the dirty tracker's parts that need no process
 * (src/track/): the chunk bitmaps (bits across word boundaries, runs,
 * clearing), chunk index <-> address for every granularity, runs of dirty
 * chunks as ranges, dirty byte counts, sub-regions, and the mode strings
 * (track_parse / track_describe).
 */
#define LOG_PREFIX "test: "
#include "base/log.h"
#include "tests/unit/tap.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "track/chunks.h"
#include "track/track.h"

#define PG 4096ULL

static void test_bits(void)
{
	uint64_t b[5] = {0, 0, 0, 0, 0xabcdULL};
	static const size_t set[] = {0, 63, 64, 127, 128, 199};
	static const size_t unset[] = {1, 62, 65, 126, 129, 198};
	bool ok = true;

	for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++)
		trk_bit_set(b, set[i]);
	for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++)
		ok &= trk_bit_get(b, set[i]);
	check(ok, "bits set at 0, 63, 64, 127, 128, 199 read back set");
	ok = true;
	for (size_t i = 0; i < sizeof(unset) / sizeof(unset[0]); i++)
		ok &= !trk_bit_get(b, unset[i]);
	check(ok, "their neighbours across the word boundaries stay clear");
	check(b[0] == (1ULL | 1ULL << 63) && b[1] == (1ULL | 1ULL << 63) && b[2] == 1 &&
		  b[3] == 1ULL << 7 && b[4] == 0xabcdULL,
	      "words hold bit i at word i / 64, bit i %% 64 (0x%" PRIx64 " 0x%" PRIx64 " 0x%" PRIx64
	      " 0x%" PRIx64 ")",
	      b[0], b[1], b[2], b[3]);
	trk_bit_clr(b, 64);
	trk_bit_clr(b, 63);
	check(!trk_bit_get(b, 64) && !trk_bit_get(b, 63) && trk_bit_get(b, 0) &&
		  trk_bit_get(b, 127),
	      "clearing bits 63 and 64 leaves bits 0 and 127");
	check(b[0] == 1 && b[1] == 1ULL << 63, "clearing touches only its own bit");

	/* runs of set bits */
	memset(b, 0, 4 * 8);
	for (size_t i = 60; i <= 70; i++)
		trk_bit_set(b, i);
	check(trk_bits_run_last(b, 60, 200) == 70, "run 60..70 (across a word) ends at 70 (%zu)",
	      trk_bits_run_last(b, 60, 200));
	check(trk_bits_run_last(b, 66, 200) == 70, "the same run from 66 ends at 70");
	check(trk_bits_run_last(b, 60, 65) == 64, "a run stops at the map's end (n = 65): 64 (%zu)",
	      trk_bits_run_last(b, 60, 65));
	trk_bit_set(b, 199);
	check(trk_bits_run_last(b, 199, 200) == 199, "a run of the last bit alone ends there");

	/* clearing a map leaves what follows it */
	memset(b, 0xff, 4 * 8);
	trk_bits_clear(b, 130);
	check(b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == UINT64_MAX && b[4] == 0xabcdULL,
	      "clearing a 130-bit map clears 3 words and no more");
}

/* chunk index <-> address: region [start, end) not aligned to gran */
static void test_chunks(uint64_t gran)
{
	struct region r;
	uint64_t start = 3 * gran + PG, end = start + 130 * gran - 2 * PG, pos = start;
	size_t want = 1, a, b;
	bool ok = true, idx_ok = true, span_ok = true;

	for (uint64_t x = (start / gran + 1) * gran; x < end; x += gran)
		want++;
	if (trk_region_init(&r, gran, start, end, false)) {
		check(false, "gran %" PRIu64 ": region", gran);
		return;
	}
	check(r.nchunks == want, "gran %" PRIu64 ": %zu chunks (want %zu)", gran, r.nchunks, want);
	for (size_t i = 0; i < r.nchunks; i++) {
		uint64_t s, e;

		trk_chunk_range(gran, &r, i, &s, &e);
		/* contiguous, each within one granule, clipped to the region */
		ok &= s == pos && e > s && e <= end && (s / gran == (e - 1) / gran) &&
		      (e == end || e % gran == 0);
		idx_ok &=
		    trk_chunk_index(gran, &r, s) == i && trk_chunk_index(gran, &r, e - 1) == i;
		trk_chunk_span(gran, &r, s, e, &a, &b);
		span_ok &= a == i && b == i + 1;
		pos = e;
	}
	check(ok && pos == end, "gran %" PRIu64 ": chunk ranges tile the region", gran);
	check(idx_ok, "gran %" PRIu64 ": address -> chunk index -> address", gran);
	check(span_ok, "gran %" PRIu64 ": a chunk's own bytes span just that chunk", gran);
	trk_chunk_span(gran, &r, 0, UINT64_MAX, &a, &b);
	check(a == 0 && b == r.nchunks, "gran %" PRIu64 ": a span beyond the region is clipped",
	      gran);
	trk_chunk_span(gran, &r, start + gran, start + gran + 1, &a, &b);
	check(a == 1 && b == 2, "gran %" PRIu64 ": one byte spans one chunk", gran);
	trk_region_free(&r);
}

struct range {
	uint64_t s, e;
	bool d;
};

static void test_runs(void)
{
	const uint64_t gran = 64 << 10, start = 5 * gran + PG, end = start + 200 * gran - PG;
	static const size_t dirty[] = {0, 1, 2, 63, 64, 65, 130, 199};
	struct region r, sub;
	struct range got[32], want[8];
	size_t n = 0, nw = 0, k;
	uint64_t pos = start, bytes;
	bool ok;

	if (trk_region_init(&r, gran, start, end, false)) {
		check(false, "runs: region");
		return;
	}
	check(r.nchunks == 200, "runs: 200 chunks (%zu)", r.nchunks);
	for (size_t i = 0; i < sizeof(dirty) / sizeof(dirty[0]); i++)
		trk_bit_set(r.dirty, dirty[i]);
	while (pos < end && n < 32) {
		bool d;
		uint64_t e = trk_dirty_run(gran, &r, pos, end, &d);

		got[n++] = (struct range){pos, e, d};
		pos = e;
	}
	/* chunk index i starts at (c0 + i) * gran, the first one at start */
#define AT(i) ((i) == 0 ? start : (r.c0 + (i)) * gran)
	want[nw++] = (struct range){AT(0), AT(3), true};
	want[nw++] = (struct range){AT(3), AT(63), false};
	want[nw++] = (struct range){AT(63), AT(66), true};
	want[nw++] = (struct range){AT(66), AT(130), false};
	want[nw++] = (struct range){AT(130), AT(131), true};
	want[nw++] = (struct range){AT(131), AT(199), false};
	want[nw++] = (struct range){AT(199), end, true};
	ok = n == nw;
	for (k = 0; ok && k < n; k++)
		ok = got[k].s == want[k].s && got[k].e == want[k].e && got[k].d == want[k].d;
	check(ok, "dirty chunks 0-2, 63-65, 130, 199 come as 7 runs (%zu)", n);
	{
		bool d = false;
		uint64_t e = trk_dirty_run(gran, &r, AT(63), AT(64) + PG, &d);

		check(d && e == AT(64) + PG, "a run stops at stop, inside a chunk");
		e = trk_dirty_run(gran, &r, AT(64) + PG, end, &d);
		check(d && e == AT(66), "and goes on from inside a chunk");
	}
	/* counting: the first and last chunks are clipped */
	bytes = trk_dirty_bytes(gran, &r);
	check(bytes == (AT(1) - start) + 2 * gran + 3 * gran + gran + (end - AT(199)),
	      "dirty bytes: %" PRIu64, bytes);
	trk_bits_clear(r.dirty, r.nchunks);
	check(trk_dirty_bytes(gran, &r) == 0, "no dirty bytes after clearing");
	trk_bit_set(r.dirty, 64);
	trk_bit_set(r.pending, 65);
	trk_bit_set(r.unprot, 70);
	/* a sub-region takes its chunks' bits */
	if (trk_region_sub(gran, &r, AT(60), AT(71), &sub) == 0) {
		check(sub.nchunks == 11 && sub.start == AT(60) && sub.end == AT(71),
		      "sub-region of chunks 60-70: %zu chunks", sub.nchunks);
		check(trk_bit_get(sub.dirty, 4) && !trk_bit_get(sub.dirty, 3) &&
			  !trk_bit_get(sub.dirty, 5) && trk_bit_get(sub.pending, 5) &&
			  trk_bit_get(sub.unprot, 10) && trk_dirty_bytes(gran, &sub) == gran,
		      "sub-region: dirty, pending and unprotected bits moved along");
		trk_region_free(&sub);
	} else {
		check(false, "sub-region");
	}
	trk_region_free(&r);
	{
		struct region all;

		if (trk_region_init(&all, gran, start, end, true) == 0) {
			check(trk_dirty_bytes(gran, &all) == end - start,
			      "a region made dirty counts all its bytes");
			trk_region_free(&all);
		}
	}
#undef AT
}

static void test_parse_ok(const char *s, enum track_mode mode, uint64_t gran, const char *desc)
{
	struct track_opts o, o2;
	char buf[64];
	int ret;

	memset(&o, 0xa5, sizeof(o));
	ret = track_parse(s, &o);
	check(ret == 0 && o.mode == mode && (mode != TRACK_FAULT || o.gran == gran),
	      "'%s' parses: mode %d, granularity %" PRIu64, s, (int)o.mode, o.gran);
	track_describe(&o, buf, sizeof(buf));
	check(!strcmp(buf, desc), "'%s' is described as '%s' ('%s')", s, desc, buf);
	ret = track_parse(buf, &o2);
	check(ret == 0 && o2.mode == o.mode && (mode != TRACK_FAULT || o2.gran == o.gran),
	      "'%s' parses back the same", buf);
}

static void test_parse_bad(const char *s, const char *msg)
{
	struct track_opts o;
	int ret;

	log_clear_error();
	ret = track_parse(s, &o);
	check(ret == -EINVAL && strstr(log_last_error(), msg), "'%s' is refused: %s", s, msg);
	log_clear_error();
}

int main(void)
{
	test_bits();
	for (uint64_t g = TRACK_MIN_GRAN; g <= TRACK_MAX_GRAN; g <<= 1)
		test_chunks(g);
	test_runs();

	test_parse_ok("off", TRACK_OFF, 0, "off");
	test_parse_ok("async", TRACK_ASYNC, 0, "async");
	test_parse_ok("fault", TRACK_FAULT, TRACK_DEFAULT_GRAN, "fault:64K");
	test_parse_ok("fault:4K", TRACK_FAULT, 4096, "fault:4K");
	test_parse_ok("fault:64K", TRACK_FAULT, 64 << 10, "fault:64K");
	test_parse_ok("fault:1M", TRACK_FAULT, 1 << 20, "fault:1M");
	test_parse_ok("fault:16M", TRACK_FAULT, 16 << 20, "fault:16M");
	test_parse_ok("fault:65536", TRACK_FAULT, 64 << 10, "fault:64K");
	test_parse_bad("fault:3K", "a power of two from 4K to 16M");
	test_parse_bad("fault:2K", "a power of two from 4K to 16M");
	test_parse_bad("fault:32M", "a power of two from 4K to 16M");
	test_parse_bad("fault:abc", "bad granularity 'abc'");
	test_parse_bad("fault:", "bad granularity ''");
	test_parse_bad("async:4K", "only fault tracking takes a granularity");
	test_parse_bad("bogus", "unknown tracking mode 'bogus'");
	test_parse_bad("", "unknown tracking mode ''");
	return tap_done();
}
