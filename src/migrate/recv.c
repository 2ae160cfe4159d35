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
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/log.h"
#include "core/rundir.h"
#include "core/supervisor.h"
#include "image/image.h"
#include "rtcr/rtcr.h"

#define PG	   4096ULL
#define TASK_TOP   0x800000000000ULL
#define MAX_ROUNDS 256
#define MAX_PIDS   65536

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

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
	b->p = np;
	b->cap = nc;
	return 0;
}

struct rrun {
	uint32_t pid;
	uint64_t addr, off, xxh;
	uint32_t npages;
};

struct rdef {
	uint32_t pid;
	uint64_t s, e;
};

struct round {
	struct buf pages;
	struct rrun *runs;
	size_t nruns, rcap;
	struct rdef *defs;
	size_t ndefs, dcap;
};

struct session {
	struct stream *s;
	const struct serve_opts *so;
	char name[64], mode[16], id[40];
	bool precopy;
	struct round *rounds;
	size_t nrounds;
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
				fprintf(m, "\n  %s: size %lld here, %lld there", line, (long long)st.st_size,
					size);
				nbad++;
			} else if ((long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec !=
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
	if (!ret && (rundir_check_name(ss->name) || strlen(ss->id) != 32 ||
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
	struct round *r;
	uint32_t pid, nruns;
	uint64_t s, e, prev, data;
	size_t hdr;
	int ret;

	if (!ss->precopy || !ss->nrounds)
		return refuse(ss, "pages outside a pre-copy round");
	r = &ss->rounds[ss->nrounds - 1];
	if (len < MIG_PAGES_HDR)
		return refuse(ss, "short pages message");
	pid = get32(p);
	nruns = get32(p + 4);
	s = get64(p + 8);
	e = get64(p + 16);
	if (!pid || pid > (1u << 22) || s >= e || ((s | e) & (PG - 1)) || e > TASK_TOP ||
	    nruns > (e - s) / PG)
		return refuse(ss, "bad pages message (pid %u, 0x%" PRIx64 "-0x%" PRIx64 ", %u runs)",
			      pid, s, e, nruns);
	hdr = MIG_PAGES_HDR + (size_t)nruns * MIG_RUN_SIZE;
	if (len < hdr)
		return refuse(ss, "short pages message");
	data = 0;
	prev = s;
	for (uint32_t i = 0; i < nruns; i++) {
		const uint8_t *q = p + MIG_PAGES_HDR + (size_t)i * MIG_RUN_SIZE;
		uint64_t a = get64(q), n = get32(q + 8);

		if (!n || (a & (PG - 1)) || a < prev || n > (e - a) / PG)
			return refuse(ss, "bad page run in a pages message");
		prev = a + n * PG;
		data += n * PG;
	}
	if (len - hdr != data)
		return refuse(ss, "pages message: %zu bytes of data for %" PRIu64 " in its runs",
			      len - hdr, data);
	ss->received += data;
	if (ss->received > ss->so->max_bytes)
		return refuse(ss, "more than %" PRIu64 " bytes of memory sent", ss->so->max_bytes);
	ret = note_pid(ss, pid);
	if (ret)
		return ret;
	if (r->ndefs == r->dcap) {
		size_t nc = r->dcap ? r->dcap * 2 : 256;
		struct rdef *nd = realloc(r->defs, nc * sizeof(*nd));

		if (!nd)
			return -ENOMEM;
		r->defs = nd;
		r->dcap = nc;
	}
	r->defs[r->ndefs++] = (struct rdef){pid, s, e};
	if (r->nruns + nruns > r->rcap) {
		size_t nc = r->rcap ? r->rcap : 256;
		struct rrun *nr;

		while (nc < r->nruns + nruns)
			nc *= 2;
		nr = realloc(r->runs, nc * sizeof(*nr));
		if (!nr)
			return -ENOMEM;
		r->runs = nr;
		r->rcap = nc;
	}
	ret = buf_reserve(&r->pages, r->pages.size + data);
	if (ret)
		return ret;
	memcpy(r->pages.p + r->pages.size, p + hdr, data);
	for (uint32_t i = 0; i < nruns; i++) {
		const uint8_t *q = p + MIG_PAGES_HDR + (size_t)i * MIG_RUN_SIZE;
		uint64_t a = get64(q), n = get32(q + 8);

		/* runs of at most 1 MiB, as in image files */
		for (uint64_t done = 0; done < n;) {
			uint64_t k = n - done > 256 ? 256 : n - done;
			struct rrun *rr = &r->runs[r->nruns];

			if (r->nruns == r->rcap) {
				struct rrun *nr = realloc(r->runs, r->rcap * 2 * sizeof(*nr));

				if (!nr)
					return -ENOMEM;
				r->runs = nr;
				r->rcap *= 2;
				rr = &r->runs[r->nruns];
			}
			rr->pid = pid;
			rr->addr = a + done * PG;
			rr->npages = (uint32_t)k;
			rr->off = r->pages.size;
			rr->xxh = XXH3_64bits(r->pages.p + rr->off, k * PG);
			r->pages.size += k * PG;
			r->nruns++;
			done += k;
		}
	}
	return 0;
}

static int cmp_def(const void *a, const void *b)
{
	const struct rdef *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->s < y->s ? -1 : x->s > y->s;
}

/* A round as an image: its runs, and per process what it does not define
 * (inherited from the round before). */
static int round_image(struct session *ss, size_t k, struct img **out)
{
	struct round *r = &ss->rounds[k];
	Rtcr__Image *m = calloc(1, sizeof(*m));
	char id[48];
	int ret = -ENOMEM;

	if (!m)
		return -ENOMEM;
	rtcr__image__init(m);
	m->inventory = calloc(1, sizeof(*m->inventory));
	if (!m->inventory)
		goto fail;
	rtcr__inventory__init(m->inventory);
	snprintf(id, sizeof(id), "pre-copy round %zu", k);
	m->inventory->image_id = strdup(id);
	qsort(r->defs, r->ndefs, sizeof(*r->defs), cmp_def);
	for (size_t i = 1; i < r->ndefs; i++) {
		if (r->defs[i].pid == r->defs[i - 1].pid && r->defs[i].s < r->defs[i - 1].e) {
			ret = refuse(ss, "round %zu sends 0x%" PRIx64 " twice", k, r->defs[i].s);
			goto fail;
		}
	}
	m->processes = calloc(ss->npids ? ss->npids : 1, sizeof(*m->processes));
	if (!m->processes)
		goto fail;
	for (size_t i = 0; i < ss->npids; i++) {
		Rtcr__Process *p = calloc(1, sizeof(*p));
		uint64_t pos = 0;
		size_t ninh = 0;

		if (!p)
			goto fail;
		rtcr__process__init(p);
		m->processes[m->n_processes++] = p;
		p->has_pid = 1;
		p->pid = ss->pids[i];
		if (k == 0)
			continue; /* the first round is the base: nothing before it */
		p->inherit = malloc((2 * r->ndefs + 2) * sizeof(uint64_t));
		if (!p->inherit)
			goto fail;
		for (size_t j = 0; j < r->ndefs; j++) {
			if (r->defs[j].pid != p->pid)
				continue;
			if (r->defs[j].s > pos) {
				p->inherit[ninh++] = pos;
				p->inherit[ninh++] = r->defs[j].s;
			}
			pos = r->defs[j].e;
		}
		if (pos < TASK_TOP) {
			p->inherit[ninh++] = pos;
			p->inherit[ninh++] = TASK_TOP;
		}
		p->n_inherit = ninh;
	}
	m->pagemap = calloc(r->nruns ? r->nruns : 1, sizeof(*m->pagemap));
	if (!m->pagemap)
		goto fail;
	for (size_t i = 0; i < r->nruns; i++) {
		Rtcr__PageRun *pr = malloc(sizeof(*pr));

		if (!pr)
			goto fail;
		rtcr__page_run__init(pr);
		pr->has_addr = pr->has_npages = pr->has_offset = pr->has_xxh64 = pr->has_pid = 1;
		pr->addr = r->runs[i].addr;
		pr->npages = r->runs[i].npages;
		pr->offset = r->runs[i].off;
		pr->xxh64 = r->runs[i].xxh;
		pr->pid = r->runs[i].pid;
		m->pagemap[m->n_pagemap++] = pr;
	}
	if (!r->pages.p && buf_reserve(&r->pages, PG))
		goto fail;
	ret = img_from_parts(id, m, r->pages.p, r->pages.cap, out);
	if (ret)
		goto fail;
	r->pages.p = NULL; /* the image's now */
	return 0;
fail:
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
	off = get64(p);
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
	struct img *top = NULL, **links = NULL;
	int ret;

	if (pages_size < ss->fpages.size || pages_size > ss->so->max_bytes)
		return refuse(ss, "final image of %" PRIu64 " bytes of pages (received %zu)",
			      pages_size, ss->fpages.size);
	ret = buf_reserve(&ss->fpages, pages_size > PG ? pages_size : PG);
	if (ret)
		return ret;
	ret = img_from_memory("received image", ss->meta, ss->meta_len, ss->fpages.p,
			      pages_size, &top);
	if (ret)
		return refuse(ss, "the final image is not valid: %s", log_last_error());
	ss->fpages.p = NULL; /* the image's */
	{
		const Rtcr__Inventory *inv = img_meta(top)->inventory;
		bool inc = inv->parent_id && inv->parent_id[0];

		if (inc != ss->precopy || (inc && strcmp(inv->parent_id, ss->id))) {
			img_close(top);
			return refuse(ss, "the final image does not build on this session's rounds");
		}
	}
	if (ss->precopy) {
		links = calloc(ss->nrounds ? ss->nrounds : 1, sizeof(*links));
		if (!links) {
			img_close(top);
			return -ENOMEM;
		}
		/* newest first */
		for (size_t k = 0; k < ss->nrounds; k++) {
			ret = round_image(ss, ss->nrounds - 1 - k, &links[k]);
			if (ret) {
				for (size_t j = 0; j < k; j++)
					img_close(links[j]);
				free(links);
				img_close(top);
				return ret;
			}
		}
		ret = img_chain_attach(top, links, ss->nrounds);
		free(links);
		if (ret) {
			img_close(top);
			return refuse(ss, "cannot resolve the final image on the rounds: %s",
				      log_last_error());
		}
	}
	*out = top;
	return 0;
}

int mig_recv_session(struct stream *s, const struct serve_opts *so)
{
	struct session ss = {.s = s, .so = so};
	struct img *im = NULL;
	char name[RTCR_NAME_MAX + 1] = "";
	bool restored = false;
	uint32_t type;
	const void *buf;
	size_t len;
	int ret;

	stream_set_timeout(s, so->timeout_ms);
	ret = stream_recv(s, &type, &buf, &len);
	if (ret)
		goto out;
	if (type != MIG_HELLO) {
		ret = refuse(&ss, "expected a hello, got message %u", type);
		goto out;
	}
	ret = hello(&ss, buf, len);
	if (ret)
		goto out;
	pr_info("%s: migration of %s (%s) begins", stream_peer(s), ss.name, ss.mode);
	ret = stream_send(s, MIG_HELLO_OK, NULL, 0);
	if (ret)
		goto out;
	if (ss.precopy) {
		ss.rounds = calloc(1, sizeof(*ss.rounds));
		if (!ss.rounds) {
			ret = -ENOMEM;
			goto out;
		}
		ss.nrounds = 1;
	}
	for (;;) {
		ret = stream_recv(s, &type, &buf, &len);
		if (ret)
			goto out;
		if (type == MIG_PAGES) {
			ret = pages(&ss, buf, len);
		} else if (type == MIG_ROUND_END) {
			struct round *nr;

			if (!ss.precopy || ss.nrounds >= MAX_ROUNDS) {
				ret = refuse(&ss, "unexpected end of round");
				goto out;
			}
			nr = realloc(ss.rounds, (ss.nrounds + 1) * sizeof(*nr));
			if (!nr) {
				ret = -ENOMEM;
				goto out;
			}
			ss.rounds = nr;
			memset(&ss.rounds[ss.nrounds++], 0, sizeof(*nr));
		} else if (type == MIG_FINAL_META) {
			if (ss.meta || len > (256u << 20)) {
				ret = refuse(&ss, "unexpected final metadata");
				goto out;
			}
			ss.meta = malloc(len ? len : 1);
			if (!ss.meta) {
				ret = -ENOMEM;
				goto out;
			}
			memcpy(ss.meta, buf, len);
			ss.meta_len = len;
			/* the last round is empty: the pause came */
			if (ss.precopy && ss.nrounds > 1 && !ss.rounds[ss.nrounds - 1].nruns &&
			    !ss.rounds[ss.nrounds - 1].ndefs)
				ss.nrounds--;
		} else if (type == MIG_FINAL_PAGES) {
			ret = ss.meta ? final_pages(&ss, buf, len)
				      : refuse(&ss, "final pages before the metadata");
		} else if (type == MIG_FINAL_END) {
			if (!ss.meta || len != 8) {
				ret = refuse(&ss, "unexpected end of the final image");
				goto out;
			}
			ret = build(&ss, get64(buf), &im);
			break;
		} else if (type == MIG_ABORT) {
			pr_info("%s: the source gave up the migration of %s", stream_peer(s), ss.name);
			ret = -ECONNABORTED;
			goto out;
		} else {
			ret = refuse(&ss, "unexpected message %u", type);
		}
		if (ret)
			goto out;
	}
	if (ret)
		goto out;
	/* restore, stopped: it runs once the source let it go */
	ret = sup_restore_received(im, ss.name, name, sizeof(name));
	im = NULL;
	if (ret) {
		char msg[1024];

		snprintf(msg, sizeof(msg), "restore failed: %s", log_last_error());
		stream_send(s, MIG_ERROR, msg, strlen(msg));
		goto out;
	}
	restored = true;
	ret = stream_send(s, MIG_READY, name, strlen(name));
	if (ret)
		goto out;
	ret = stream_recv(s, &type, &buf, &len);
	if (ret)
		goto out;
	if (type != MIG_COMMIT) {
		ret = -ECONNABORTED;
		pr_err("%s: no commit for %s (message %u)", stream_peer(s), name, type);
		goto out;
	}
	ret = rtcr_thaw(name);
	if (ret)
		goto out;
	restored = false; /* it is the target now */
	stream_send(s, MIG_COMMITTED, NULL, 0);
	pr_info("%s: %s migrated here as %s", stream_peer(s), ss.name, name);
	ret = 0;
out:
	if (restored) {
		/* never ran: discard it */
		pr_info("discarding %s: the migration did not complete", name);
		rtcr_kill(name, SIGKILL);
	}
	img_close(im);
	for (size_t k = 0; k < ss.nrounds; k++) {
		if (ss.rounds[k].pages.p)
			munmap(ss.rounds[k].pages.p, ss.rounds[k].pages.cap);
		free(ss.rounds[k].runs);
		free(ss.rounds[k].defs);
	}
	free(ss.rounds);
	free(ss.pids);
	free(ss.meta);
	if (ss.fpages.p)
		munmap(ss.fpages.p, ss.fpages.cap);
	return ret;
}
