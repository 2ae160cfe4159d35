/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The destination side of a migration (see mig.h): one session of
 * rtcr serve, in its own process. Pre-copy rounds are kept in memory as
 * page stores, one per round; the final image (incremental on the rounds,
 * or full) is decoded and validated like an image file, the chain resolved
 * as for incremental images on disk, and the target restored with its
 * threads stopped. It runs once the source has given it up (COMMIT).
 */
#define LOG_PREFIX "serve: "
#include "migrate/mig.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "base/le.h"
#include "base/log.h"
#include "image/image.h"
#include "rtcr/rtcr.h"

#define PG	   4096ULL
#define TASK_TOP   0x800000000000ULL
#define MAX_ROUNDS 100000
#define MAX_PIDS   65536

/* A growing anonymous mapping (munmap'd by img_close once it is an image). */
struct buf {
	uint8_t *p;
	size_t size, cap;
};

static int buf_reserve(struct buf *b, size_t need)
{
	size_t nc;
	void *np;

	if (need <= b->cap)
		return 0;
	nc = b->cap ? b->cap : (16u << 20);
	while (nc < need)
		nc *= 2;
	np = b->p ? mremap(b->p, b->cap, nc, MREMAP_MAYMOVE)
		  : mmap(NULL, nc, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (np == MAP_FAILED)
		return pr_perror("out of memory for %zu bytes of pages", nc);
	/* huge pages: first-touch faults cost much here, 512 times fewer */
	madvise((uint8_t *)np + b->cap, nc - b->cap, MADV_HUGEPAGE);
	b->p = np;
	b->cap = nc;
	return 0;
}

/* Fault in [0, size) of b at once (before the data comes, not page by page). */
static void buf_populate(struct buf *b, size_t size)
{
	if (size > b->cap)
		size = b->cap;
	if (size)
		madvise(b->p, size, MADV_POPULATE_WRITE);
}

/*
 * The pages received in pre-copy rounds: one store, the newest copy of
 * each page only (a chunk sent again replaces what was there), so memory
 * stays about the target's size. Pages are appended; when more than half
 * of the store is replaced copies, it is compacted between rounds.
 */
struct sent {
	uint64_t addr, off;
	uint32_t pid;
	uint32_t state; /* 0 empty, 1 live, 2 deleted */
};

struct store {
	struct buf pages;
	struct sent *tab;
	size_t cap, used, live; /* used: live + deleted */
	uint64_t garbage;	/* bytes of replaced copies in pages */
};

static size_t hash_of(uint32_t pid, uint64_t addr, size_t cap)
{
	uint64_t h = (addr >> 12) * 0x9e3779b97f4a7c15ULL ^ (uint64_t)pid * 0xbf58476d1ce4e5b9ULL;

	return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

static struct sent *store_find(struct store *st, uint32_t pid, uint64_t addr, bool insert)
{
	size_t i, cap = st->cap;
	struct sent *tomb = NULL;

	if (!cap)
		return NULL;
	for (i = hash_of(pid, addr, cap);; i = (i + 1) & (cap - 1)) {
		struct sent *e = &st->tab[i];

		if (e->state == 0)
			return insert ? (tomb ? tomb : e) : NULL;
		if (e->state == 2) {
			if (!tomb)
				tomb = e;
			continue;
		}
		if (e->pid == pid && e->addr == addr)
			return e;
	}
}

static int store_grow(struct store *st)
{
	size_t ncap = st->cap ? st->cap * 2 : 65536;
	struct sent *old = st->tab, *nt;
	size_t ocap = st->cap;

	/* rehash into the same size if the deleted ones are most of it */
	if (st->cap && st->live * 4 < st->cap)
		ncap = st->cap;
	nt = calloc(ncap, sizeof(*nt));
	if (!nt)
		return -ENOMEM;
	st->tab = nt;
	st->cap = ncap;
	st->used = st->live = 0;
	for (size_t i = 0; i < ocap; i++) {
		if (old[i].state == 1) {
			struct sent *e = store_find(st, old[i].pid, old[i].addr, true);

			*e = old[i];
			st->used++;
			st->live++;
		}
	}
	free(old);
	return 0;
}

/* [s, e) of pid is sent again: what was there goes */
static void store_drop(struct store *st, uint32_t pid, uint64_t s, uint64_t e)
{
	if (!st->live)
		return;
	for (uint64_t a = s; a < e; a += PG) {
		struct sent *x = store_find(st, pid, a, false);

		if (x) {
			x->state = 2;
			st->live--;
			st->garbage += PG;
		}
	}
}

static int store_put(struct store *st, uint32_t pid, uint64_t addr, const uint8_t *data)
{
	struct sent *e;
	int ret;

	if ((st->used + 1) * 10 > st->cap * 7 && (ret = store_grow(st)))
		return ret;
	ret = buf_reserve(&st->pages, st->pages.size + PG);
	if (ret)
		return ret;
	e = store_find(st, pid, addr, true);
	if (e->state == 0)
		st->used++;
	e->state = 1;
	e->pid = pid;
	e->addr = addr;
	e->off = st->pages.size;
	memcpy(st->pages.p + e->off, data, PG);
	st->pages.size += PG;
	st->live++;
	return 0;
}

static int cmp_sent(const void *a, const void *b)
{
	const struct sent *x = *(const struct sent *const *)a, *y = *(const struct sent *const *)b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* the live entries, sorted by (pid, addr) */
static int store_sorted(struct store *st, struct sent ***out)
{
	struct sent **v = malloc((st->live ? st->live : 1) * sizeof(*v));
	size_t n = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < st->cap; i++)
		if (st->tab[i].state == 1)
			v[n++] = &st->tab[i];
	qsort(v, n, sizeof(*v), cmp_sent);
	*out = v;
	return 0;
}

/* Copy the live pages, in address order, into a new buffer. */
static int store_compact(struct store *st)
{
	struct buf nb = {0};
	struct sent **v = NULL;
	int ret;

	ret = store_sorted(st, &v);
	if (!ret)
		ret = buf_reserve(&nb, st->live * PG > PG ? st->live * PG : PG);
	if (ret || !nb.p) {
		free(v);
		return ret ? ret : -ENOMEM;
	}
	for (size_t i = 0; i < st->live; i++) {
		memcpy(nb.p + nb.size, st->pages.p + v[i]->off, PG);
		v[i]->off = nb.size;
		nb.size += PG;
	}
	free(v);
	if (st->pages.p)
		munmap(st->pages.p, st->pages.cap);
	st->pages = nb;
	st->garbage = 0;
	return 0;
}

struct session {
	struct stream *s;
	const struct serve_opts *so;
	char name[64], mode[16], id[40];
	bool precopy;
	struct store store;
	unsigned rounds;
	uint32_t *pids;
	size_t npids;
	uint64_t received;
	uint8_t *meta;
	size_t meta_len;
	struct buf fpages;
};

static int refuse(struct session *ss, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int refuse(struct session *ss, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	/* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): started above; clang-tidy 14 FP */
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pr_err("%s: %s", stream_peer(ss->s), msg);
	stream_send(ss->s, MIG_ERROR, msg, strlen(msg));
	return -EPROTO;
}

static int note_pid(struct session *ss, uint32_t pid)
{
	uint32_t *n;

	for (size_t i = 0; i < ss->npids; i++)
		if (ss->pids[i] == pid)
			return 0;
	if (ss->npids >= MAX_PIDS)
		return -E2BIG;
	n = realloc(ss->pids, (ss->npids + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	ss->pids = n;
	ss->pids[ss->npids++] = pid;
	return 0;
}

/* ---- HELLO: who, and are the files here ---- */

static int hello(struct session *ss, const char *p, size_t len)
{
	char *txt = strndup(p, len), *line, *save = NULL, *bad = NULL;
	size_t badlen = 0;
	FILE *m = NULL;
	bool in_files = false;
	int nbad = 0, ret = 0, ver = 0;

	if (!txt)
		return -ENOMEM;
	m = open_memstream(&bad, &badlen);
	if (!m) {
		free(txt);
		return -ENOMEM;
	}
	for (line = strtok_r(txt, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (in_files) {
			char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
			long long size, mt;
			struct stat st;

			if (!t1 || !t2 || line[0] != '/') {
				ret = refuse(ss, "malformed file line in the hello");
				break;
			}
			*t1 = '\0';
			size = atoll(t1 + 1);
			mt = atoll(t2 + 1);
			if (stat(line, &st) || !S_ISREG(st.st_mode)) {
				fprintf(m, "\n  %s: missing here", line);
				nbad++;
			} else if (st.st_size != size) {
				fprintf(m, "\n  %s: size %lld here, %lld there", line,
					(long long)st.st_size, size);
				nbad++;
			} else if ((long long)st.st_mtim.tv_sec * 1000000000LL +
				       st.st_mtim.tv_nsec !=
				   mt) {
				fprintf(m, "\n  %s: modified at another time here", line);
				nbad++;
			}
			continue;
		}
		if (!strncmp(line, "rtcr-migrate ", 13))
			ver = atoi(line + 13);
		else if (!strncmp(line, "name ", 5))
			snprintf(ss->name, sizeof(ss->name), "%s", line + 5);
		else if (!strncmp(line, "mode ", 5))
			snprintf(ss->mode, sizeof(ss->mode), "%s", line + 5);
		else if (!strncmp(line, "session ", 8))
			snprintf(ss->id, sizeof(ss->id), "%s", line + 8);
		else if (!strcmp(line, "files"))
			in_files = true;
	}
	fclose(m);
	if (!ret && ver != MIG_VERSION)
		ret = refuse(ss, "protocol version %d, this rtcr speaks %d", ver, MIG_VERSION);
	if (!ret && (ss->so->hooks->check_name(ss->name) || strlen(ss->id) != 32 ||
		     (strcmp(ss->mode, "stop") && strcmp(ss->mode, "precopy"))))
		ret = refuse(ss, "bad hello (name, session or mode)");
	if (!ret && nbad)
		ret = refuse(ss, "%d file%s differ%s on %s:%s", nbad, nbad == 1 ? "" : "s",
			     nbad == 1 ? "s" : "", "the destination", bad);
	ss->precopy = !strcmp(ss->mode, "precopy");
	free(bad);
	free(txt);
	return ret;
}

/* ---- PAGES of a pre-copy round ---- */

static int pages(struct session *ss, const uint8_t *p, size_t len)
{
	uint32_t pid, nranges, nruns;
	const uint8_t *rg, *ru, *d;
	uint64_t prev = 0, data = 0;
	size_t hdr, j = 0;
	int ret;

	if (!ss->precopy)
		return refuse(ss, "pages outside a pre-copy round");
	if (len < MIG_PAGES_HDR)
		return refuse(ss, "short pages message");
	pid = le_get32(p);
	nranges = le_get32(p + 4);
	nruns = le_get32(p + 8);
	if (!pid || pid > (1u << 22) || !nranges || nranges > MIG_MAX_RANGES ||
	    nruns > (len / PG) + 1)
		return refuse(ss, "bad pages message (pid %u, %u ranges, %u runs)", pid, nranges,
			      nruns);
	hdr = MIG_PAGES_HDR + (size_t)nranges * MIG_RANGE_SIZE + (size_t)nruns * MIG_RUN_SIZE;
	if (len < hdr)
		return refuse(ss, "short pages message");
	rg = p + MIG_PAGES_HDR;
	ru = rg + (size_t)nranges * MIG_RANGE_SIZE;
	for (uint32_t i = 0; i < nranges; i++) {
		uint64_t s = le_get64(rg + (size_t)i * MIG_RANGE_SIZE);
		uint64_t e = le_get64(rg + (size_t)i * MIG_RANGE_SIZE + 8);

		if (s >= e || ((s | e) & (PG - 1)) || e > TASK_TOP || s < prev)
			return refuse(
			    ss, "bad range 0x%" PRIx64 "-0x%" PRIx64 " in a pages message", s, e);
		prev = e;
	}
	/* every run inside a range, in order */
	prev = 0;
	for (uint32_t i = 0; i < nruns; i++) {
		const uint8_t *q = ru + (size_t)i * MIG_RUN_SIZE;
		uint64_t a = le_get64(q), n = le_get32(q + 8);

		while (j < nranges && le_get64(rg + (size_t)j * MIG_RANGE_SIZE + 8) <= a)
			j++;
		if (!n || (a & (PG - 1)) || a < prev || j == nranges ||
		    a < le_get64(rg + (size_t)j * MIG_RANGE_SIZE) ||
		    n > (le_get64(rg + (size_t)j * MIG_RANGE_SIZE + 8) - a) / PG)
			return refuse(ss, "bad page run in a pages message");
		prev = a + n * PG;
		data += n * PG;
	}
	if (len - hdr != data)
		return refuse(ss, "pages message: %zu bytes of data for %" PRIu64 " in its runs",
			      len - hdr, data);
	ss->received += data;
	if (ss->store.live * PG + data > ss->so->max_bytes)
		return refuse(ss, "more than %" PRIu64 " bytes of memory sent", ss->so->max_bytes);
	ret = note_pid(ss, pid);
	if (ret)
		return ret;
	/* the ranges are defined anew: pages not sent are zero now */
	for (uint32_t i = 0; i < nranges; i++)
		store_drop(&ss->store, pid, le_get64(rg + (size_t)i * MIG_RANGE_SIZE),
			   le_get64(rg + (size_t)i * MIG_RANGE_SIZE + 8));
	d = p + hdr;
	for (uint32_t i = 0; i < nruns; i++) {
		const uint8_t *q = ru + (size_t)i * MIG_RUN_SIZE;
		uint64_t a = le_get64(q), n = le_get32(q + 8);

		for (uint64_t k = 0; k < n; k++, d += PG) {
			ret = store_put(&ss->store, pid, a + k * PG, d);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/* The rounds as one image: the newest copy of every page received. */
static int store_image(struct session *ss, struct img **out)
{
	struct store *st = &ss->store;
	Rtcr__Image *m = calloc(1, sizeof(*m));
	struct sent **v = NULL;
	int ret = -ENOMEM;

	if (!m)
		return -ENOMEM;
	rtcr__image__init(m);
	m->inventory = calloc(1, sizeof(*m->inventory));
	if (!m->inventory)
		goto fail;
	rtcr__inventory__init(m->inventory);
	m->inventory->image_id = strdup("pre-copy rounds");
	m->processes = calloc(ss->npids ? ss->npids : 1, sizeof(*m->processes));
	if (!m->processes)
		goto fail;
	for (size_t i = 0; i < ss->npids; i++) {
		Rtcr__Process *p = calloc(1, sizeof(*p));

		if (!p)
			goto fail;
		rtcr__process__init(p);
		m->processes[m->n_processes++] = p;
		p->has_pid = 1;
		p->pid = ss->pids[i];
	}
	ret = store_sorted(st, &v);
	if (ret)
		goto fail;
	ret = -ENOMEM;
	m->pagemap = calloc(st->live ? st->live : 1, sizeof(*m->pagemap));
	if (!m->pagemap)
		goto fail;
	for (size_t i = 0; i < st->live;) {
		Rtcr__PageRun *pr = malloc(sizeof(*pr));
		size_t j = i + 1;

		if (!pr)
			goto fail;
		/* pages next to each other in memory and in the store: one run */
		while (j < st->live && j - i < 256 && v[j]->pid == v[i]->pid &&
		       v[j]->addr == v[j - 1]->addr + PG && v[j]->off == v[j - 1]->off + PG)
			j++;
		rtcr__page_run__init(pr);
		pr->has_addr = pr->has_npages = pr->has_offset = pr->has_xxh64 = pr->has_pid = 1;
		pr->addr = v[i]->addr;
		pr->npages = (uint32_t)(j - i);
		pr->offset = v[i]->off;
		pr->pid = v[i]->pid;
		m->pagemap[m->n_pagemap++] = pr;
		i = j;
	}
	free(v);
	v = NULL;
	if (!st->pages.p && buf_reserve(&st->pages, PG))
		goto fail;
	ret = img_from_parts("pre-copy rounds", m, st->pages.p, st->pages.cap, out);
	if (ret)
		goto fail;
	/* authenticated by the stream, page by page: no checksums to check */
	img_set_trusted(*out);
	st->pages.p = NULL;
	return 0;
fail:
	free(v);
	rtcr__image__free_unpacked(m, NULL);
	return ret;
}

/* ---- the final image ---- */

static int final_pages(struct session *ss, const uint8_t *p, size_t len)
{
	uint64_t off;
	int ret;

	if (len < 8 || (len - 8) % PG)
		return refuse(ss, "malformed final pages message");
	off = le_get64(p);
	if (off < PG || (off & (PG - 1)) || off > ss->so->max_bytes ||
	    len - 8 > ss->so->max_bytes - off)
		return refuse(ss, "final pages at offset 0x%" PRIx64 " out of bounds", off);
	ret = buf_reserve(&ss->fpages, off + len - 8);
	if (ret)
		return ret;
	memcpy(ss->fpages.p + off, p + 8, len - 8);
	if (off + len - 8 > ss->fpages.size)
		ss->fpages.size = off + len - 8;
	ss->received += len - 8;
	return 0;
}

static int build(struct session *ss, uint64_t pages_size, struct img **out)
{
	struct img *top = NULL;
	int ret;

	if (pages_size < ss->fpages.size || pages_size > ss->so->max_bytes)
		return refuse(ss, "final image of %" PRIu64 " bytes of pages (received %zu)",
			      pages_size, ss->fpages.size);
	ret = buf_reserve(&ss->fpages, pages_size > PG ? pages_size : PG);
	if (ret)
		return ret;
	ret = img_from_memory("received image", ss->meta, ss->meta_len, ss->fpages.p, pages_size,
			      &top);
	if (ret)
		return refuse(ss, "the final image is not valid: %s", log_last_error());
	ss->fpages.p = NULL; /* the image's */
	/* every byte came over the authenticated stream: its runs carry no
	 * checksums (the sender does not spend the pause computing them) */
	img_set_trusted(top);
	{
		const Rtcr__Inventory *inv = img_meta(top)->inventory;
		bool inc = inv->parent_id && inv->parent_id[0];

		if (inc != ss->precopy || (inc && strcmp(inv->parent_id, ss->id))) {
			img_close(top);
			return refuse(ss,
				      "the final image does not build on this session's rounds");
		}
	}
	if (ss->precopy) {
		struct img *base = NULL;

		ret = store_image(ss, &base);
		if (ret) {
			img_close(top);
			return ret;
		}
		ret = img_chain_attach(top, &base, 1);
		if (ret) {
			img_close(top);
			return refuse(ss, "cannot resolve the final image on the rounds: %s",
				      log_last_error());
		}
	}
	*out = top;
	return 0;
}

/* MIG_FINAL_META: keep a copy of the final image's metadata. */
static int final_meta(struct session *ss, const void *buf, size_t len)
{
	if (ss->meta || len > (256u << 20))
		return refuse(ss, "unexpected final metadata");
	ss->meta = malloc(len ? len : 1);
	if (!ss->meta)
		return -ENOMEM;
	memcpy(ss->meta, buf, len);
	ss->meta_len = len;
	return 0;
}

/* One message of the transfer. Returns 0 to go on, 1 when the image is
 * complete (*im), or -errno. */
static int recv_one(struct session *ss, uint32_t type, const void *buf, size_t len, struct img **im)
{
	int ret = 0;

	if (type == MIG_PAGES) {
		ret = pages(ss, buf, len);
	} else if (type == MIG_ROUND_END) {
		if (!ss->precopy || ++ss->rounds > MAX_ROUNDS)
			return refuse(ss, "unexpected end of round");
		/* between rounds: drop the replaced copies if they are most of it */
		if (ss->store.garbage > ss->store.live * PG)
			ret = store_compact(&ss->store);
	} else if (type == MIG_FINAL_META) {
		ret = final_meta(ss, buf, len);
	} else if (type == MIG_FINAL_SIZE) {
		/* a hint: how big the final pages will be (bounded) */
		uint64_t sz = len == 8 ? le_get64(buf) : 0;

		if (sz > PG && sz <= ss->so->max_bytes && !ss->fpages.p &&
		    buf_reserve(&ss->fpages, sz) == 0)
			buf_populate(&ss->fpages, sz);
	} else if (type == MIG_FINAL_PAGES) {
		ret = ss->meta ? final_pages(ss, buf, len)
			       : refuse(ss, "final pages before the metadata");
	} else if (type == MIG_FINAL_END) {
		if (!ss->meta || len != 8)
			return refuse(ss, "unexpected end of the final image");
		ret = build(ss, le_get64(buf), im);
		return ret ? ret : 1;
	} else if (type == MIG_ABORT) {
		pr_info("%s: the source gave up the migration of %s", stream_peer(ss->s), ss->name);
		ret = -ECONNABORTED;
	} else {
		ret = refuse(ss, "unexpected message %u", type);
	}
	return ret;
}

/* HELLO, then the rounds and the final image, until it is complete. */
static int recv_image(struct session *ss, struct img **im)
{
	struct stream *s = ss->s;
	uint32_t type;
	const void *buf;
	size_t len;
	int ret;

	ret = stream_recv(s, &type, &buf, &len);
	if (ret)
		return ret;
	if (type != MIG_HELLO)
		return refuse(ss, "expected a hello, got message %u", type);
	ret = hello(ss, buf, len);
	if (ret)
		return ret;
	pr_info("%s: migration of %s (%s) begins", stream_peer(s), ss->name, ss->mode);
	ret = stream_send(s, MIG_HELLO_OK, NULL, 0);
	while (!ret) {
		ret = stream_recv(s, &type, &buf, &len);
		if (!ret)
			ret = recv_one(ss, type, buf, len, im);
	}
	return ret < 0 ? ret : 0;
}

/* Restored and stopped: READY, then it runs on COMMIT. *restored: the
 * target exists (to discard if this fails before the commit). Takes im. */
static int hand_over(struct session *ss, struct img *im, char *name, size_t len, bool *restored)
{
	struct stream *s = ss->s;
	const struct mig_recv_hooks *h = ss->so->hooks;
	uint32_t type;
	const void *buf;
	size_t blen;
	const char *delay;
	int ret;

	/* restore, stopped: it runs once the source let it go */
	ret = h->restore(im, ss->name, name, len);
	if (ret) {
		char msg[1024];

		snprintf(msg, sizeof(msg), "restore failed: %s", log_last_error());
		stream_send(s, MIG_ERROR, msg, strlen(msg));
		return ret;
	}
	*restored = true;
	delay = getenv("RTCR_TEST_READY_DELAY_MS");
	if (delay) {
		/* tests only: a slow restore, to cut the link inside it */
		struct timespec ts;
		long ms = atol(delay);

		ts.tv_sec = ms / 1000;
		ts.tv_nsec = (ms % 1000) * 1000000L;
		nanosleep(&ts, NULL);
	}
	ret = stream_send(s, MIG_READY, name, strlen(name));
	if (ret)
		return ret;
	ret = stream_recv(s, &type, &buf, &blen);
	if (ret)
		return ret;
	if (type != MIG_COMMIT) {
		pr_err("%s: no commit for %s (message %u)", stream_peer(s), name, type);
		return -ECONNABORTED;
	}
	ret = h->thaw(name);
	if (ret)
		return ret;
	*restored = false; /* it is the target now */
	stream_send(s, MIG_COMMITTED, NULL, 0);
	pr_info("%s: %s migrated here as %s", stream_peer(s), ss->name, name);
	return 0;
}

int mig_recv_session(struct stream *s, const struct serve_opts *so)
{
	struct session ss = {.s = s, .so = so};
	struct img *im = NULL;
	char name[RTCR_NAME_MAX + 1] = "";
	bool restored = false;
	int ret;

	stream_set_timeout(s, so->timeout_ms);
	ret = recv_image(&ss, &im);
	if (ret)
		goto out;
	if (getenv("RTCR_MIG_DUMP")) {
		/* for debugging: the image as received, written out (and no restore) */
		struct img_write_stats ws;

		ret = img_write_resolved(im, getenv("RTCR_MIG_DUMP"), &ws);
		im = NULL;
		stream_send(s, MIG_ERROR, "dumped", 6);
		goto out;
	}
	ret = hand_over(&ss, im, name, sizeof(name), &restored);
	im = NULL;
out:
	if (restored) {
		/* never ran: discard it */
		pr_info("discarding %s: the migration did not complete", name);
		so->hooks->discard(name);
	}
	img_close(im);
	if (ss.store.pages.p)
		munmap(ss.store.pages.p, ss.store.pages.cap);
	free(ss.store.tab);
	free(ss.pids);
	free(ss.meta);
	if (ss.fpages.p)
		munmap(ss.fpages.p, ss.fpages.cap);
	return ret;
}
