/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of image chains (src/image/chain.c), without a process: a
 * full image and two incremental ones built on it (full <- inc1 <- inc2)
 * written with img_write. Opening inc2 must give every page from the
 * newest image that holds it; a missing parent, a parent with another id
 * or changed metadata, and a loop must be refused with an error naming
 * the problem; img_merge must write a full image with the same contents.
 */
#define LOG_PREFIX "test: "
#include "base/log.h"
#include "tests/unit/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/image.h"

#define PID   100
#define HEAP  0x600000ULL
#define NPG   16 /* pages in the heap vma */
#define PGSZ  4096
#define NGEN  3 /* full, inc1, inc2 */
#define NONE  (-1)
#define PG(i) (HEAP + (uint64_t)(i)*PGSZ)

static char tmproot[] = "/tmp/rtcr-test-chain-XXXXXX";

/* The contents of page i as image generation gen wrote it. */
static void page_bytes(int gen, int i, uint8_t *out)
{
	for (size_t k = 0; k < PGSZ; k++)
		out[k] = (uint8_t)(k * 7 + gen * 101 + i * 13 + (k >> 8));
	memcpy(out, &(uint64_t){(uint64_t)gen << 32 | (uint32_t)i}, 8);
}

/* One process with one anonymous heap vma of NPG pages and one thread;
 * parent (NULL for a full image) gives parent_id, parent_path and the
 * parent's metadata checksum; inherit: pairs of page numbers [s, e). */
static Rtcr__Image *build_meta(const char *id, const char *parent_id, const char *parent_path,
			       uint64_t parent_sum, const int *inherit, size_t ninherit)
{
	Rtcr__Image *m = t_calloc(sizeof(*m));
	Rtcr__Inventory *inv = t_calloc(sizeof(*inv));
	Rtcr__Process *p = t_calloc(sizeof(*p));
	Rtcr__Thread *t = t_calloc(sizeof(*t));
	Rtcr__Vma *v = t_calloc(sizeof(*v));

	rtcr__image__init(m);
	rtcr__inventory__init(inv);
	rtcr__process__init(p);
	rtcr__thread__init(t);
	rtcr__vma__init(v);
	m->inventory = inv;
	inv->name = t_strdup("chain-test");
	inv->has_root_pid = 1;
	inv->root_pid = PID;
	if (id)
		inv->image_id = t_strdup(id);
	if (parent_id) {
		inv->parent_id = t_strdup(parent_id);
		inv->parent_path = t_strdup(parent_path);
		inv->has_parent_meta_sum = 1;
		inv->parent_meta_sum = parent_sum;
		inv->has_chain_depth = 1;
		inv->chain_depth = 1;
	}
	m->n_processes = 1;
	m->processes = t_calloc(sizeof(*m->processes));
	m->processes[0] = p;
	p->has_pid = p->has_ppid = p->has_pgid = p->has_sid = 1;
	p->pid = PID;
	p->ppid = 1;
	p->pgid = p->sid = PID;
	p->comm = t_strdup("chain");
	p->n_vmas = 1;
	p->vmas = t_calloc(sizeof(*p->vmas));
	p->vmas[0] = v;
	v->has_start = v->has_end = v->has_prot = v->has_kind = v->has_flags = 1;
	v->start = PG(0);
	v->end = PG(NPG);
	v->prot = PROT_READ | PROT_WRITE;
	v->kind = RTCR__VMA_KIND__VMA_ANON;
	v->flags = MAP_PRIVATE | MAP_ANONYMOUS;
	p->n_threads = 1;
	p->threads = t_calloc(sizeof(*p->threads));
	p->threads[0] = t;
	t->has_tid = 1;
	t->tid = PID;
	t->regs = t_calloc(sizeof(*t->regs));
	rtcr__user_regs__init(t->regs);
	t->comm = t_strdup("chain");
	p->n_inherit = ninherit;
	p->inherit = t_calloc(ninherit * sizeof(*p->inherit));
	for (size_t i = 0; i < ninherit; i++)
		p->inherit[i] = PG(inherit[i]);
	return m;
}

struct written {
	char *dir;
	char id[64];
	uint64_t sum;
};

/* Write image name of generation gen holding the pages pages[0..npages)
 * (one run each); parent: the image it builds on (NULL: a full image).
 * id: the image id to use (NULL: a fresh one). */
static struct written write_image(const char *name, int gen, const int *pages, size_t npages,
				  const struct written *parent, const char *parent_id,
				  const int *inherit, size_t ninherit, const char *id)
{
	struct img_page_src *runs = t_calloc(npages * sizeof(*runs));
	uint8_t *data = t_calloc(npages * PGSZ);
	struct img_write_stats st;
	struct written w = {0};
	Rtcr__Image *m;
	int dfd, ret;

	if (asprintf(&w.dir, "%s/%s", tmproot, name) < 0 || mkdir(w.dir, 0700)) {
		perror(name);
		exit(1);
	}
	for (size_t i = 0; i < npages; i++) {
		page_bytes(gen, pages[i], data + i * PGSZ);
		runs[i] = (struct img_page_src){PG(pages[i]), 1, 0, PID, data + i * PGSZ};
	}
	m = build_meta(id, parent ? (parent_id ? parent_id : parent->id) : NULL,
		       parent ? parent->dir : NULL, parent ? parent->sum : 0, inherit, ninherit);
	dfd = open(w.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ret = img_write(dfd, m, runs, npages, &st);
	close(dfd);
	if (ret) {
		printf("not ok - writing image %s: %s\n", w.dir, log_last_error());
		exit(1);
	}
	snprintf(w.id, sizeof(w.id), "%s", m->inventory->image_id);
	w.sum = st.meta_sum;
	img_meta_free(m);
	free(runs);
	free(data);
	return w;
}

/*
 * Read every process-memory page of an opened image into gen_of[] (the
 * generation found in it, NONE if no run holds it); checks each page's
 * bytes are exactly what that generation wrote and that no page is held
 * twice. Returns the number of problems (printed).
 */
static int read_pages(struct img *im, int gen_of[NPG])
{
	const Rtcr__Image *m = img_meta(im);
	uint8_t want[PGSZ];
	int bad = 0;

	for (int i = 0; i < NPG; i++)
		gen_of[i] = NONE;
	for (size_t r = 0; r < m->n_pagemap; r++) {
		const Rtcr__PageRun *run = m->pagemap[r];
		const uint8_t *data;
		const void *d;
		size_t len;

		if (img_run_data(im, r, true, &d, &len) || len != run->npages * (size_t)PGSZ) {
			printf("# run %zu: no data (%s)\n", r, log_last_error());
			bad++;
			continue;
		}
		data = d;
		for (uint32_t k = 0; k < run->npages; k++) {
			uint64_t tag;
			int pg = (int)((run->addr - HEAP) / PGSZ) + (int)k, gen;

			if (run->addr < HEAP || pg >= NPG) {
				printf("# run %zu: page 0x%llx outside the heap\n", r,
				       (unsigned long long)run->addr);
				bad++;
				break;
			}
			memcpy(&tag, data + k * PGSZ, 8);
			gen = (int)(tag >> 32);
			page_bytes(gen, pg, want);
			if ((uint32_t)tag != (uint32_t)pg || gen >= NGEN ||
			    memcmp(want, data + k * PGSZ, PGSZ)) {
				printf("# page %d: wrong contents (tag 0x%llx)\n", pg,
				       (unsigned long long)tag);
				bad++;
			} else if (gen_of[pg] != NONE) {
				printf("# page %d: held twice (generations %d and %d)\n", pg,
				       gen_of[pg], gen);
				bad++;
			}
			gen_of[pg] = gen;
		}
	}
	return bad;
}

/* Compare what an image holds against expect[]; describes a mismatch. */
static bool pages_are(struct img *im, const int expect[NPG], char *why, size_t len)
{
	int got[NPG], bad = read_pages(im, got);

	snprintf(why, len, "%d bad pages", bad);
	if (bad)
		return false;
	for (int i = 0; i < NPG; i++) {
		if (got[i] != expect[i]) {
			snprintf(why, len, "page %d from generation %d, expected %d", i, got[i],
				 expect[i]);
			return false;
		}
	}
	snprintf(why, len, "every page from the expected image");
	return true;
}

static bool last_error_has(const char *s)
{
	return strstr(log_last_error(), s) != NULL;
}

/* Open dir as a chain (search[0..n)); true when refused with err and a
 * message holding what. */
static bool refused(const char *dir, const char *const *search, int n, int err, const char *what)
{
	struct img *im = NULL;
	int ret;

	log_clear_error();
	ret = img_open_chain(dir, search, n, &im);
	if (!ret)
		img_close(im);
	printf("# %s: %d (%s)\n", dir, ret, log_last_error());
	return ret == err && !im && last_error_has(what);
}

static void rm_rf(const char *dir)
{
	char *cmd;

	if (asprintf(&cmd, "rm -rf '%s'", dir) >= 0) {
		if (system(cmd))
			printf("# could not remove %s\n", dir);
		free(cmd);
	}
}

int main(void)
{
	/* full: every page; inc1: pages 2-4 and 10; inc2: 3, 12, 13, and page
	 * 15 neither written nor inherited (gone since inc1) */
	static const int full_pages[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
	static const int inc1_pages[] = {2, 3, 4, 10}, inc1_inh[] = {0, 2, 5, 10, 11, 16};
	static const int inc2_pages[] = {3, 12, 13}, inc2_inh[] = {0, 3, 4, 12, 14, 15};
	static const int expect[NPG] = {0, 0, 1, 2, 1, 0, 0, 0, 0, 0, 1, 0, 2, 2, 0, NONE};
	struct written full, inc1, inc2, other, changed, p2, q, p, t;
	struct img *im = NULL;
	char why[128], *merged, *gone;
	int ret;

	if (!mkdtemp(tmproot)) {
		perror("mkdtemp");
		return 1;
	}
	full = write_image("full", 0, full_pages, NPG, NULL, NULL, NULL, 0, NULL);
	inc1 = write_image("inc1", 1, inc1_pages, 4, &full, NULL, inc1_inh, 6, NULL);
	inc2 = write_image("inc2", 2, inc2_pages, 3, &inc1, NULL, inc2_inh, 6, NULL);

	/* resolution: newest copy wins, nothing twice, the dropped page absent */
	ret = img_open_chain(inc2.dir, NULL, 0, &im);
	check(ret == 0 && im, "inc2 opens as a chain");
	if (im) {
		check(img_chain_length(im) == 3, "the chain of inc2 has 3 images (%zu)",
		      img_chain_length(im));
		check(pages_are(im, expect, why, sizeof(why)), "inc2 resolves: %s", why);
		img_close(im);
		im = NULL;
	}
	ret = img_open_chain(inc1.dir, NULL, 0, &im);
	if (!ret) {
		static const int expect1[NPG] = {0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0};

		check(pages_are(im, expect1, why, sizeof(why)), "inc1 resolves: %s", why);
		img_close(im);
		im = NULL;
	} else {
		check(false, "inc1 opens as a chain");
	}
	/* a plain img_open of inc2 holds just its own pages */
	ret = img_open(inc2.dir, &im);
	if (!ret) {
		static const int own[NPG] = {NONE, NONE, NONE, 2,    NONE, NONE, NONE, NONE,
					     NONE, NONE, NONE, NONE, 2,	   2,	 NONE, NONE};

		check(pages_are(im, own, why, sizeof(why)), "img_open of inc2 alone: %s", why);
		img_close(im);
		im = NULL;
	} else {
		check(false, "img_open of inc2");
	}

	/* merge: a full image with the resolved contents */
	if (asprintf(&merged, "%s/merged", tmproot) < 0)
		return 1;
	log_clear_error();
	check(img_merge((const char *const[]){inc2.dir}, 1, merged) == 0, "img_merge of inc2");
	ret = img_open_chain(merged, NULL, 0, &im);
	check(ret == 0, "the merged image opens");
	if (!ret) {
		const Rtcr__Inventory *inv = img_meta(im)->inventory;

		check(img_chain_length(im) == 1 && (!inv->parent_id || !inv->parent_id[0]),
		      "the merged image is a full image (chain length %zu)", img_chain_length(im));
		check(pages_are(im, expect, why, sizeof(why)), "the merged image holds: %s", why);
		img_close(im);
		im = NULL;
	}
	check(img_merge((const char *const[]){inc2.dir}, 1, merged) == -EEXIST &&
		  last_error_has("already holds an image"),
	      "img_merge refuses a directory that holds an image");

	/* a missing parent */
	if (asprintf(&gone, "%s/full.gone", tmproot) < 0 || rename(full.dir, gone))
		return 1;
	check(refused(inc2.dir, NULL, 0, -ENOENT, full.id) && last_error_has("broken image chain"),
	      "a missing grandparent is refused, naming its id");
	check(img_open_chain(inc2.dir, (const char *const[]){gone}, 1, &im) == 0,
	      "the moved grandparent is found when its directory is named");
	img_close(im);
	im = NULL;

	/* another image where the parent was: its id does not match */
	other = write_image("full", 0, full_pages, NPG, NULL, NULL, NULL, 0, NULL);
	check(strcmp(other.id, full.id) != 0, "(the other image has another id)");
	check(refused(inc1.dir, NULL, 0, -ENOENT, full.id),
	      "a parent directory holding another image is refused, naming the wanted id");
	rm_rf(other.dir);
	if (rename(gone, full.dir))
		return 1;

	/* the parent's id, changed metadata (other page checksums): its
	 * checksum does not match */
	changed = write_image("changed", 1, full_pages, NPG, NULL, NULL, NULL, 0, full.id);
	check(changed.sum != full.sum && !strcmp(changed.id, full.id),
	      "(the changed image has the parent's id and another checksum)");
	check(
	    refused(inc1.dir, (const char *const[]){changed.dir}, 1, -EBADMSG, "was changed after"),
	    "a parent with the right id but changed metadata is refused");

	/* a loop: t -> p -> q -> p2, where p2 has p's id (each link's checksum
	 * right, so only the loop check can stop it) */
	p2 = write_image("p2", 0, full_pages, NPG, NULL, NULL, NULL, 0, NULL);
	q = write_image("q", 1, inc1_pages, 4, &p2, NULL, inc1_inh, 6, NULL);
	{
		static const int none[] = {0};

		/* p: p2's id, built on q */
		p = write_image("p", 2, none, 0, &q, NULL, (const int[]){0, 16}, 2, p2.id);
		t = write_image("t", 2, none, 0, &p, NULL, (const int[]){0, 16}, 2, NULL);
	}
	check(refused(t.dir, NULL, 0, -ELOOP, "loops"), "a chain that loops is refused");

	rm_rf(tmproot);
	free(merged);
	free(gone);
	return tap_done();
}
