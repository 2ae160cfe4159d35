/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Chains of incremental images. An incremental image records its parent
 * (Inventory.parent_id, parent_meta_sum, parent_path) and, per process,
 * the ranges whose contents did not change since the parent
 * (Process.inherit). Opening it resolves the chain into one view: the
 * image's own page runs, plus the pieces of each ancestor's runs that the
 * still-inherited ranges need, newest first. Every image of the chain is
 * validated on its own by img_open; the links are checked by id and by
 * the checksum of the parent's metadata.
 */
#define LOG_PREFIX "image: "
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/internal.h"

#define MAX_CHAIN 4096

struct range {
	uint64_t s, e;
};

struct rangeset {
	struct range *v;
	size_t n, cap;
};

/* Ranges are never merged: each lies in one VMA of the image, and a piece
 * cut from a parent's run must too. */
static int rs_add(struct rangeset *rs, uint64_t s, uint64_t e)
{
	if (rs->n == rs->cap) {
		size_t nc = rs->cap ? rs->cap * 2 : 64;
		struct range *nv = realloc(rs->v, nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		rs->v = nv;
		rs->cap = nc;
	}
	rs->v[rs->n++] = (struct range){s, e};
	return 0;
}

/* out = a ∩ the pairs in inh[0..n) (both sorted, disjoint) */
static int rs_intersect(const struct rangeset *a, const uint64_t *inh, size_t n,
			struct rangeset *out)
{
	size_t i = 0, j = 0;

	out->n = 0;
	while (i < a->n && j + 1 < n) {
		uint64_t s = a->v[i].s > inh[j] ? a->v[i].s : inh[j];
		uint64_t e = a->v[i].e < inh[j + 1] ? a->v[i].e : inh[j + 1];
		int ret;

		if (s < e && (ret = rs_add(out, s, e)))
			return ret;
		if (a->v[i].e < inh[j + 1])
			i++;
		else
			j += 2;
	}
	return 0;
}

static const Rtcr__Process *find_proc(const Rtcr__Image *m, uint32_t pid)
{
	for (size_t i = 0; i < m->n_processes; i++)
		if (m->processes[i]->pid == pid)
			return m->processes[i];
	return NULL;
}

static uint32_t run_pid(const Rtcr__Image *m, const Rtcr__PageRun *r)
{
	return r->pid ? r->pid : (m->n_processes ? m->processes[0]->pid : 0);
}

/* process-memory runs of one image, sorted by (pid, addr) */
struct run_ix {
	uint32_t pid;
	uint64_t addr;
	size_t run;
};

static int cmp_run_ix(const void *a, const void *b)
{
	const struct run_ix *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

struct resolver {
	struct img *top;
	Rtcr__PageRun **extra; /* pieces of the ancestors' runs */
	struct run_src *xsrc;
	size_t nextra, cap;
};

static int add_piece(struct resolver *rv, uint32_t link, const struct img *l, size_t run,
		     uint64_t s, uint64_t e, uint32_t pid)
{
	const Rtcr__PageRun *r = l->meta->pagemap[run];
	Rtcr__PageRun *p;

	if (rv->nextra == rv->cap) {
		size_t nc = rv->cap ? rv->cap * 2 : 256;
		Rtcr__PageRun **ne = realloc(rv->extra, nc * sizeof(*ne));
		struct run_src *ns;

		if (!ne)
			return -ENOMEM;
		rv->extra = ne;
		ns = realloc(rv->xsrc, nc * sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		rv->xsrc = ns;
		rv->cap = nc;
	}
	p = malloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	rtcr__page_run__init(p);
	p->has_addr = p->has_npages = p->has_offset = p->has_xxh64 = p->has_pid = 1;
	p->addr = s;
	p->npages = (uint32_t)((e - s) / IMG_PAGE_SIZE);
	p->offset = r->offset + (s - r->addr);
	p->xxh64 = 0; /* the whole parent run is checked (run_verify) */
	p->pid = pid;
	rv->extra[rv->nextra] = p;
	rv->xsrc[rv->nextra] = (struct run_src){link, (uint32_t)run, p->offset};
	rv->nextra++;
	return 0;
}

/* The pieces of link `link` (image l) that `want` of process pid needs. */
static int take_from(struct resolver *rv, uint32_t link, const struct img *l,
		     const struct run_ix *ix, size_t nix, uint32_t pid, const struct rangeset *want)
{
	size_t lo = 0, hi = nix, j = 0;
	int ret;

	/* first run of pid */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (ix[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < nix && ix[i].pid == pid && j < want->n;) {
		const Rtcr__PageRun *r = l->meta->pagemap[ix[i].run];
		uint64_t rs = r->addr, re = r->addr + (uint64_t)r->npages * IMG_PAGE_SIZE;
		uint64_t s = rs > want->v[j].s ? rs : want->v[j].s;
		uint64_t e = re < want->v[j].e ? re : want->v[j].e;

		if (s < e && (ret = add_piece(rv, link, l, ix[i].run, s, e, pid)))
			return ret;
		if (re < want->v[j].e)
			i++;
		else
			j++;
	}
	return 0;
}

static int build_index(const struct img *l, struct run_ix **out, size_t *n)
{
	const Rtcr__Image *m = l->meta;
	struct run_ix *ix = malloc((m->n_pagemap ? m->n_pagemap : 1) * sizeof(*ix));
	size_t k = 0;

	if (!ix)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_pagemap; i++) {
		if (m->pagemap[i]->shmem_id)
			continue;
		ix[k++] = (struct run_ix){run_pid(m, m->pagemap[i]), m->pagemap[i]->addr, i};
	}
	qsort(ix, k, sizeof(*ix), cmp_run_ix);
	*out = ix;
	*n = k;
	return 0;
}

static int resolve(struct img *top)
{
	struct resolver rv = {.top = top};
	struct run_ix **ix = NULL;
	size_t *nix = NULL;
	struct rangeset want = {0}, next = {0};
	Rtcr__Image *m = top->meta;
	int ret = 0;

	ix = calloc(top->nlinks, sizeof(*ix));
	nix = calloc(top->nlinks, sizeof(*nix));
	if (!ix || !nix) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t k = 0; k < top->nlinks && !ret; k++)
		ret = build_index(top->links[k], &ix[k], &nix[k]);
	for (size_t pi = 0; pi < m->n_processes && !ret; pi++) {
		const Rtcr__Process *p = m->processes[pi];

		want.n = 0;
		for (size_t j = 0; j + 1 < p->n_inherit && !ret; j += 2)
			ret = rs_add(&want, p->inherit[j], p->inherit[j + 1]);
		for (size_t k = 0; k < top->nlinks && want.n && !ret; k++) {
			const struct img *l = top->links[k];
			const Rtcr__Process *q = find_proc(l->meta, p->pid);
			struct rangeset t;

			if (!q) {
				pr_err("%s: process %" PRIu32
				       " inherits memory from image %s (%s), "
				       "which has no process %" PRIu32,
				       k ? top->links[k - 1]->path : top->path, p->pid,
				       l->meta->inventory->image_id, l->path, p->pid);
				ret = -EINVAL;
				break;
			}
			ret = take_from(&rv, (uint32_t)(k + 1), l, ix[k], nix[k], p->pid, &want);
			if (ret)
				break;
			/* what the parent itself inherits goes one link further */
			ret = rs_intersect(&want, q->inherit, q->n_inherit, &next);
			t = want;
			want = next;
			next = t;
		}
	}
	if (ret)
		goto out;
	/* the image's own runs, then the pieces */
	{
		size_t n0 = m->n_pagemap, n = n0 + rv.nextra;
		Rtcr__PageRun **pm;

		if (n > (1u << 24)) {
			pr_err("%s: the chain resolves into %zu page runs (too many)", top->path,
			       n);
			ret = -E2BIG;
			goto out;
		}
		pm = realloc(m->pagemap, (n ? n : 1) * sizeof(*pm));
		if (!pm) {
			ret = -ENOMEM;
			goto out;
		}
		m->pagemap = pm;
		top->src = calloc(n ? n : 1, sizeof(*top->src));
		if (!top->src) {
			ret = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < n0; i++)
			top->src[i] = (struct run_src){0, (uint32_t)i, pm[i]->offset};
		for (size_t i = 0; i < rv.nextra; i++) {
			pm[n0 + i] = rv.extra[i];
			top->src[n0 + i] = rv.xsrc[i];
			rv.extra[i] = NULL;
		}
		m->n_pagemap = n;
		rv.nextra = 0;
	}
out:
	if (ret == -ENOMEM)
		pr_err("%s: out of memory resolving the image chain", top->path);
	for (size_t i = 0; i < rv.nextra; i++)
		free(rv.extra[i]);
	free(rv.extra);
	free(rv.xsrc);
	for (size_t k = 0; ix && k < top->nlinks; k++)
		free(ix[k]);
	free(ix);
	free(nix);
	free(want.v);
	free(next.v);
	return ret;
}

/* Where the parent of `child` (opened from child_path) may be. */
static int find_parent(const struct img *child, const char *child_path, const char *const *search,
		       int nsearch, char *out, size_t outlen)
{
	const Rtcr__Inventory *inv = child->meta->inventory;
	char cand[PATH_MAX], tmp[PATH_MAX], tmp2[PATH_MAX];
	const char *cands[64];
	int nc = 0;

	for (int i = 0; i < nsearch && nc < 60; i++)
		cands[nc++] = search[i];
	if (inv->parent_path && inv->parent_path[0])
		cands[nc++] = inv->parent_path;
	if (inv->parent_path && inv->parent_path[0]) {
		/* beside the child: the chain may have been moved as a whole */
		snprintf(tmp, sizeof(tmp), "%s", child_path);
		snprintf(tmp2, sizeof(tmp2), "%s", inv->parent_path);
		if ((size_t)snprintf(cand, sizeof(cand), "%s/%s", dirname(tmp), basename(tmp2)) <
		    sizeof(cand))
			cands[nc++] = cand;
	}
	for (int i = 0; i < nc; i++) {
		char id[IMG_ID_LEN + 1];
		uint64_t sum;

		if (img_peek(cands[i], id, sizeof(id), &sum) || strcmp(id, inv->parent_id))
			continue;
		if (!inv->has_parent_meta_sum || sum != inv->parent_meta_sum) {
			pr_err(
			    "%s: its parent image %s in %s was changed after the incremental image "
			    "was written (checksum %016" PRIx64 ", recorded %016" PRIx64 ")",
			    child_path, inv->parent_id, cands[i], sum, inv->parent_meta_sum);
			return -EBADMSG;
		}
		snprintf(out, outlen, "%s", cands[i]);
		return 0;
	}
	pr_err("%s: broken image chain: it builds on image %s, written to %s, which is not "
	       "there (moved or deleted?); name the directory that holds it",
	       child_path, inv->parent_id,
	       inv->parent_path && inv->parent_path[0] ? inv->parent_path : "(unknown)");
	return -ENOENT;
}

int img_open_chain(const char *path, const char *const *search, int nsearch, struct img **out)
{
	struct img *top = NULL, *cur;
	const char *cur_path = path;
	int ret;

	*out = NULL;
	ret = img_open(path, &top);
	if (ret)
		return ret;
	cur = top;
	while (cur->meta->inventory->parent_id && cur->meta->inventory->parent_id[0]) {
		char dir[PATH_MAX];
		struct img *l = NULL, **nl;

		if (top->nlinks >= MAX_CHAIN) {
			pr_err("%s: the image chain is longer than %d images", path, MAX_CHAIN);
			ret = -ELOOP;
			goto fail;
		}
		ret = find_parent(cur, cur_path, search, nsearch, dir, sizeof(dir));
		if (ret)
			goto fail;
		for (size_t k = 0; k < top->nlinks; k++) {
			if (!strcmp(top->links[k]->meta->inventory->image_id,
				    cur->meta->inventory->parent_id)) {
				pr_err("%s: the image chain loops at image %s", path,
				       cur->meta->inventory->parent_id);
				ret = -ELOOP;
				goto fail;
			}
		}
		ret = img_open(dir, &l);
		if (ret)
			goto fail;
		l->run_ok = calloc(l->meta->n_pagemap ? l->meta->n_pagemap : 1, 1);
		nl = realloc(top->links, (top->nlinks + 1) * sizeof(*nl));
		if (nl)
			top->links = nl;
		if (!nl || !l->run_ok) {
			img_close(l);
			ret = -ENOMEM;
			pr_err("out of memory");
			goto fail;
		}
		top->links[top->nlinks++] = l;
		cur = l;
		cur_path = l->path;
	}
	if (top->nlinks) {
		ret = resolve(top);
		if (ret)
			goto fail;
		pr_debug("%s: chain of %zu images resolved into %zu page runs", path,
			 top->nlinks + 1, top->meta->n_pagemap);
	}
	*out = top;
	return 0;
fail:
	img_close(top);
	return ret;
}

size_t img_chain_length(const struct img *im)
{
	return im->nlinks + 1;
}

/* ---- merge ---- */

int img_merge(const char *const *dirs, int n, const char *out_dir)
{
	struct img_write_stats st;
	struct img *im = NULL;
	int ret;

	if (n < 1) {
		pr_err("no image to merge");
		return -EINVAL;
	}
	ret = img_open_chain(dirs[n - 1], dirs, n - 1, &im);
	if (ret)
		return ret;
	for (int i = 0; i < n; i++) {
		char a[PATH_MAX], b[PATH_MAX];

		if (realpath(dirs[i], a) && realpath(out_dir, b) && !strcmp(a, b)) {
			pr_err("%s: the merged image cannot replace an image of the chain",
			       out_dir);
			img_close(im);
			return -EINVAL;
		}
	}
	return img_write_resolved(im, out_dir, &st);
}

int img_write_resolved(struct img *im, const char *out_dir, struct img_write_stats *st)
{
	struct img_page_src *runs = NULL;
	Rtcr__Image *m;
	Rtcr__Inventory *inv;
	char id[IMG_ID_LEN + 1];
	uint64_t sum;
	int dfd = -1, ret;

	m = im->meta;
	runs = calloc(m->n_pagemap ? m->n_pagemap : 1, sizeof(*runs));
	if (!runs) {
		ret = -ENOMEM;
		goto out;
	}
	/* every byte is checked before it goes into the new image */
	for (size_t i = 0; i < m->n_pagemap; i++) {
		const Rtcr__PageRun *r = m->pagemap[i];
		size_t len;

		ret = img_run_data(im, i, true, &runs[i].data, &len);
		if (ret)
			goto out;
		runs[i].addr = r->addr;
		runs[i].npages = r->npages;
		runs[i].shmem_id = r->shmem_id;
		runs[i].pid = r->pid;
	}
	/* a full image: nothing inherited, no parent; a new id */
	for (size_t i = 0; i < m->n_processes; i++) {
		free(m->processes[i]->inherit);
		m->processes[i]->inherit = NULL;
		m->processes[i]->n_inherit = 0;
	}
	inv = m->inventory;
	free(inv->parent_id);
	inv->parent_id = NULL;
	free(inv->parent_path);
	inv->parent_path = NULL;
	inv->has_parent_meta_sum = 0;
	inv->chain_depth = 0;
	free(inv->image_id);
	inv->image_id = NULL;
	if (mkdir(out_dir, 0700) < 0 && errno != EEXIST) {
		ret = pr_perror("cannot create %s", out_dir);
		goto out;
	}
	dfd = open(out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		ret = pr_perror("cannot open %s", out_dir);
		goto out;
	}
	if (img_peek(out_dir, id, sizeof(id), &sum) == 0) {
		pr_err("%s already holds an image (%s): merge into a new directory", out_dir, id);
		ret = -EEXIST;
		goto out;
	}
	/* img_write replaces the pagemap: the chain's pieces are freed with it,
	 * so the run data pointers must stay valid: they point into the
	 * mapped pages files, which img_close unmaps only at the end */
	ret = img_write(dfd, m, runs, m->n_pagemap, st);
out:
	if (ret == -ENOMEM)
		pr_err("out of memory");
	if (dfd >= 0)
		close(dfd);
	free(runs);
	if (im) {
		/* src[] described the old pagemap */
		free(im->src);
		im->src = NULL;
	}
	img_close(im);
	return ret;
}

int img_chain_attach(struct img *top, struct img **links, size_t n)
{
	top->links = calloc(n ? n : 1, sizeof(*top->links));
	if (!top->links) {
		for (size_t i = 0; i < n; i++)
			img_close(links[i]);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		links[i]->run_ok =
		    calloc(links[i]->meta->n_pagemap ? links[i]->meta->n_pagemap : 1, 1);
		top->links[top->nlinks++] = links[i];
		if (!links[i]->run_ok)
			return -ENOMEM;
	}
	return n ? resolve(top) : 0;
}
