/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Writing images: pages.img straight from the caller's buffers (pwritev,
 * no copies), checksummed block by block in a second thread while the
 * data is being written, then the metadata into rtcr.img. Both files are
 * written under temporary names and renamed into place, rtcr.img last.
 */
#define LOG_PREFIX "image: "
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xxhash.h>

#include "image/internal.h"

#define PAGES_TMP ".pages.img.tmp"
#define META_TMP  ".rtcr.img.tmp"
/* Below this much page data, checksums are computed inline: a thread costs more. */
#ifndef SUM_THREAD_MIN
#define SUM_THREAD_MIN (4ULL << 20)
#endif

void img_meta_free(Rtcr__Image *meta)
{
	if (meta)
		rtcr__image__free_unpacked(meta, NULL);
}

void img_pagemap_clear(Rtcr__Image *meta)
{
	if (!meta)
		return;
	for (size_t i = 0; i < meta->n_pagemap; i++)
		rtcr__page_run__free_unpacked(meta->pagemap[i], NULL);
	free(meta->pagemap);
	meta->pagemap = NULL;
	meta->n_pagemap = 0;
}

int img_gen_id(char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t rnd[IMG_ID_LEN / 2];
	size_t got = 0;

	if (len < IMG_ID_LEN + 1) {
		pr_err("image id buffer of %zu bytes (need %d)", len, IMG_ID_LEN + 1);
		return -EINVAL;
	}
	while (got < sizeof(rnd)) {
		ssize_t n = getrandom(rnd + got, sizeof(rnd) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return pr_perror("getrandom");
		got += n;
	}
	for (size_t i = 0; i < sizeof(rnd); i++) {
		buf[2 * i] = hex[rnd[i] >> 4];
		buf[2 * i + 1] = hex[rnd[i] & 15];
	}
	buf[IMG_ID_LEN] = '\0';
	return 0;
}

/* Write all of iov[0..cnt) at off, through short writes and EINTR. iov is consumed. */
static int pwritev_full(int fd, struct iovec *iov, int cnt, off_t off)
{
	while (cnt > 0) {
		ssize_t n = pwritev(fd, iov, cnt < IOV_MAX ? cnt : IOV_MAX, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		off += n;
		while (cnt > 0 && (size_t)n >= iov->iov_len) {
			n -= iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= n;
		}
	}
	return 0;
}

struct sum_job {
	Rtcr__PageRun **pm;
	const uint8_t **data; /* per block */
	size_t n;
	atomic_bool stop;
};

static void sum_blocks(struct sum_job *j)
{
	for (size_t i = 0; i < j->n && !atomic_load_explicit(&j->stop, memory_order_relaxed); i++)
		j->pm[i]->xxh64 = XXH3_64bits(j->data[i], (size_t)j->pm[i]->npages * IMG_PAGE_SIZE);
}

static void *sum_thread(void *arg)
{
	sum_blocks(arg);
	return NULL;
}

static int open_tmp(int dirfd, const char *name)
{
	int fd;

	/* a new file nobody else can have opened: never one left or planted */
	if (unlinkat(dirfd, name, 0) && errno != ENOENT)
		return pr_perror("cannot remove %s", name);
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return pr_perror("cannot create %s", name);
	return fd;
}

static int close_checked(int *fd, const char *name)
{
	int r = close(*fd);

	*fd = -1;
	if (r && errno != EINTR)
		return pr_perror("writing %s", name);
	return 0;
}

/* pages.img: the header page, then every run back to back; checksums into j. */
static int write_pages(int dirfd, const char *image_id, uint32_t version,
		       const struct img_page_src *runs, size_t nruns, struct sum_job *j,
		       uint64_t data_bytes)
{
	struct iovec *iov = NULL;
	uint8_t *hdr = NULL;
	pthread_t th;
	bool threaded = false;
	size_t niov = 0;
	int fd = -1, ret;

	fd = open_tmp(dirfd, PAGES_TMP);
	if (fd < 0)
		return fd;
	hdr = calloc(1, IMG_PAGES_HDR_SIZE);
	iov = malloc((nruns + 1) * sizeof(*iov));
	if (!hdr || !iov) {
		pr_err("out of memory");
		ret = -ENOMEM;
		goto out;
	}
	memcpy(hdr, IMG_PAGES_MAGIC, 8);
	le_put32(hdr + IMG_PAGES_OFF_VER, version);
	memcpy(hdr + IMG_PAGES_OFF_ID, image_id, IMG_ID_LEN);
	iov[niov++] = (struct iovec){hdr, IMG_PAGES_HDR_SIZE};
	for (size_t i = 0; i < nruns; i++)
		iov[niov++] =
		    (struct iovec){(void *)runs[i].data, (size_t)runs[i].npages * IMG_PAGE_SIZE};

	if (data_bytes >= SUM_THREAD_MIN) {
		ret = pthread_create(&th, NULL, sum_thread, j);
		if (ret == 0)
			threaded = true;
		else
			pr_debug("no checksum thread: %s", strerror(ret));
	}
	ret = pwritev_full(fd, iov, (int)niov, 0);
	if (ret) {
		errno = -ret;
		pr_perror("writing %s", PAGES_TMP);
		atomic_store(&j->stop, true);
	}
	if (threaded)
		pthread_join(th, NULL);
	else if (!ret)
		sum_blocks(j);
	if (ret)
		goto out;
	ret = close_checked(&fd, PAGES_TMP);
out:
	if (fd >= 0)
		close(fd);
	free(hdr);
	free(iov);
	return ret;
}

/* rtcr.img contents: header space and the packed metadata (the header is left to fill). */
static int pack_meta(const Rtcr__Image *meta, uint8_t **bufp, size_t *plenp)
{
	size_t plen = rtcr__image__get_packed_size(meta);
	uint8_t *buf;

	if (plen > IMG_MAX_META_BYTES) {
		pr_err("metadata of %zu bytes (at most %llu)", plen, IMG_MAX_META_BYTES);
		return -E2BIG;
	}
	buf = malloc(IMG_HDR_SIZE + plen);
	if (!buf) {
		pr_err("out of memory");
		return -ENOMEM;
	}
	if (rtcr__image__pack(meta, buf + IMG_HDR_SIZE) != plen) {
		pr_err("metadata packed to an unexpected size");
		free(buf);
		return -EIO;
	}
	*bufp = buf;
	*plenp = plen;
	return 0;
}

/*
 * Validate the metadata as img_open will see it: encoded, decoded and
 * checked. (Checking the caller's structures would miss fields whose
 * has_ flag is unset: they are not encoded and so read back as absent.)
 */
static int check_encoded(const Rtcr__Image *meta, uint64_t pages_size)
{
	Rtcr__Image *back = NULL;
	uint8_t *buf = NULL;
	size_t plen;
	int ret;

	ret = pack_meta(meta, &buf, &plen);
	if (ret)
		return ret;
	ret = img_decode_named(buf + IMG_HDR_SIZE, plen, pages_size, "new image", &back);
	if (back)
		rtcr__image__free_unpacked(back, NULL);
	free(buf);
	return ret;
}

static int write_meta(int dirfd, const Rtcr__Image *meta, uint64_t *bytes, uint64_t *sum)
{
	uint8_t *buf = NULL;
	struct iovec iov;
	size_t plen;
	int fd = -1, ret;

	ret = pack_meta(meta, &buf, &plen);
	if (ret)
		return ret;
	memcpy(buf + IMG_HDR_OFF_MAGIC, IMG_MAGIC, IMG_MAGIC_LEN);
	le_put32(buf + IMG_HDR_OFF_VER, IMG_VERSION_OF(meta));
	le_put32(buf + IMG_HDR_OFF_HSIZE, IMG_HDR_SIZE);
	le_put64(buf + IMG_HDR_OFF_LEN, plen);
	*sum = XXH3_64bits(buf + IMG_HDR_SIZE, plen);
	le_put64(buf + IMG_HDR_OFF_SUM, *sum);
	fd = open_tmp(dirfd, META_TMP);
	if (fd < 0) {
		ret = fd;
		goto out;
	}
	iov = (struct iovec){buf, IMG_HDR_SIZE + plen};
	ret = pwritev_full(fd, &iov, 1, 0);
	if (ret) {
		errno = -ret;
		pr_perror("writing %s", META_TMP);
		goto out;
	}
	ret = close_checked(&fd, META_TMP);
	*bytes = IMG_HDR_SIZE + plen;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return ret;
}

/* Fill meta->pagemap (checksums still 0) and the per-block data pointers. */
static int build_pagemap(Rtcr__Image *meta, const struct img_page_src *runs, size_t nruns,
			 const uint8_t ***datap, uint64_t *data_bytes)
{
	const uint8_t **data = NULL;
	uint64_t nblocks = 0, off = IMG_PAGES_HDR_SIZE;
	size_t b = 0;

	for (size_t i = 0; i < nruns; i++) {
		if (runs[i].npages == 0 || !runs[i].data) {
			pr_err("page run %zu (addr 0x%" PRIx64 "): %s", i, runs[i].addr,
			       runs[i].npages ? "no data" : "no pages");
			return -EINVAL;
		}
		nblocks += (runs[i].npages + IMG_MAX_RUN_PAGES - 1) / IMG_MAX_RUN_PAGES;
		if (nblocks > IMG_MAX_RUNS) {
			pr_err("more than %u blocks of %d pages", IMG_MAX_RUNS, IMG_MAX_RUN_PAGES);
			return -E2BIG;
		}
	}
	meta->pagemap = calloc(nblocks ? nblocks : 1, sizeof(*meta->pagemap));
	data = malloc((nblocks ? nblocks : 1) * sizeof(*data));
	if (!meta->pagemap || !data)
		goto nomem;
	for (size_t i = 0; i < nruns; i++) {
		for (uint32_t done = 0; done < runs[i].npages;) {
			uint32_t n = runs[i].npages - done;
			Rtcr__PageRun *r;

			if (n > IMG_MAX_RUN_PAGES)
				n = IMG_MAX_RUN_PAGES;
			r = malloc(sizeof(*r));
			if (!r)
				goto nomem;
			rtcr__page_run__init(r);
			meta->pagemap[b] = r;
			meta->n_pagemap = b + 1;
			r->has_addr = r->has_npages = r->has_offset = r->has_xxh64 = 1;
			r->addr = runs[i].addr + (uint64_t)done * IMG_PAGE_SIZE;
			r->npages = n;
			r->offset = off;
			if (runs[i].shmem_id) {
				r->has_shmem_id = 1;
				r->shmem_id = runs[i].shmem_id;
			}
			if (runs[i].pid) {
				r->has_pid = 1;
				r->pid = runs[i].pid;
			}
			data[b++] = (const uint8_t *)runs[i].data + (uint64_t)done * IMG_PAGE_SIZE;
			off += (uint64_t)n * IMG_PAGE_SIZE;
			done += n;
		}
	}
	*datap = data;
	*data_bytes = off - IMG_PAGES_HDR_SIZE;
	return 0;
nomem:
	pr_err("out of memory");
	free(data);
	return -ENOMEM;
}

int img_write(int dirfd, Rtcr__Image *meta, const struct img_page_src *runs, size_t nruns,
	      struct img_write_stats *st)
{
	struct sum_job job = {0};
	const uint8_t **data = NULL;
	uint64_t data_bytes = 0, meta_bytes = 0, meta_sum = 0;
	bool pages_tmp = false, meta_tmp = false;
	Rtcr__Inventory *inv;
	int ret;

	if (!meta || !meta->inventory) {
		pr_err("cannot write an image without an inventory");
		return -EINVAL;
	}
	if (nruns && !runs) {
		pr_err("%zu page runs but no run table", nruns);
		return -EINVAL;
	}
	img_pagemap_clear(meta);
	inv = meta->inventory;
	inv->has_format_version = 1;
	inv->format_version = IMG_VERSION_OF(meta);
	if (!inv->image_id) {
		inv->image_id = malloc(IMG_ID_LEN + 1);
		if (!inv->image_id) {
			pr_err("out of memory");
			ret = -ENOMEM;
			goto out;
		}
		ret = img_gen_id(inv->image_id, IMG_ID_LEN + 1);
		if (ret)
			goto out;
	}
	ret = build_pagemap(meta, runs, nruns, &data, &data_bytes);
	if (ret)
		goto out;
	inv->has_memory_bytes = 1;
	inv->memory_bytes = data_bytes;
	ret = check_encoded(meta, IMG_PAGES_HDR_SIZE + data_bytes);
	if (ret)
		goto out;

	job.pm = meta->pagemap;
	job.data = data;
	job.n = meta->n_pagemap;
	pages_tmp = true;
	ret = write_pages(dirfd, inv->image_id, inv->format_version, runs, nruns, &job, data_bytes);
	if (ret)
		goto out;
	meta_tmp = true;
	ret = write_meta(dirfd, meta, &meta_bytes, &meta_sum);
	if (ret)
		goto out;
	/* From here the old image is gone: without rtcr.img the directory is incomplete. */
	if (unlinkat(dirfd, IMG_META_FILE, 0) && errno != ENOENT) {
		ret = pr_perror("cannot remove the old %s", IMG_META_FILE);
		goto out;
	}
	if (renameat(dirfd, PAGES_TMP, dirfd, IMG_PAGES_FILE)) {
		ret = pr_perror("cannot rename %s to %s", PAGES_TMP, IMG_PAGES_FILE);
		goto out;
	}
	pages_tmp = false;
	if (renameat(dirfd, META_TMP, dirfd, IMG_META_FILE)) {
		ret = pr_perror("cannot rename %s to %s", META_TMP, IMG_META_FILE);
		goto out;
	}
	meta_tmp = false;
	if (st) {
		st->meta_bytes = meta_bytes;
		st->pages_bytes = IMG_PAGES_HDR_SIZE + data_bytes;
		st->meta_sum = meta_sum;
	}
	ret = 0;
out:
	if (pages_tmp)
		unlinkat(dirfd, PAGES_TMP, 0);
	if (meta_tmp)
		unlinkat(dirfd, META_TMP, 0);
	if (ret)
		img_pagemap_clear(meta);
	free(data);
	return ret;
}

int img_serialize(Rtcr__Image *meta, const struct img_page_src *runs, size_t nruns, bool checksums,
		  struct img_blob *out)
{
	struct sum_job job = {0};
	const uint8_t **data = NULL;
	uint64_t data_bytes = 0;
	uint8_t *buf = NULL;
	size_t plen;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!meta || !meta->inventory) {
		pr_err("cannot serialize an image without an inventory");
		return -EINVAL;
	}
	img_pagemap_clear(meta);
	meta->inventory->has_format_version = 1;
	meta->inventory->format_version = IMG_VERSION_OF(meta);
	if (!meta->inventory->image_id) {
		meta->inventory->image_id = malloc(IMG_ID_LEN + 1);
		if (!meta->inventory->image_id)
			return -ENOMEM;
		ret = img_gen_id(meta->inventory->image_id, IMG_ID_LEN + 1);
		if (ret)
			return ret;
	}
	ret = build_pagemap(meta, runs, nruns, &data, &data_bytes);
	if (ret)
		return ret;
	meta->inventory->has_memory_bytes = 1;
	meta->inventory->memory_bytes = data_bytes;
	job.pm = meta->pagemap;
	job.data = data;
	job.n = meta->n_pagemap;
	if (checksums)
		sum_blocks(
		    &job); /* else 0: the reader must trust the transport (img_set_trusted) */
	ret = check_encoded(meta, IMG_PAGES_HDR_SIZE + data_bytes);
	if (!ret)
		ret = pack_meta(meta, &buf, &plen);
	if (ret) {
		free(data);
		img_pagemap_clear(meta);
		return ret;
	}
	/* the payload alone: move it to the front */
	memmove(buf, buf + IMG_HDR_SIZE, plen);
	out->offs = malloc((meta->n_pagemap ? meta->n_pagemap : 1) * sizeof(*out->offs));
	out->lens = malloc((meta->n_pagemap ? meta->n_pagemap : 1) * sizeof(*out->lens));
	if (!out->offs || !out->lens) {
		free(out->offs);
		free(out->lens);
		free(buf);
		free(data);
		img_pagemap_clear(meta);
		return -ENOMEM;
	}
	for (size_t i = 0; i < meta->n_pagemap; i++) {
		out->offs[i] = meta->pagemap[i]->offset;
		out->lens[i] = (size_t)meta->pagemap[i]->npages * IMG_PAGE_SIZE;
	}
	out->meta = buf;
	out->meta_len = plen;
	out->blocks = data;
	out->nblocks = meta->n_pagemap;
	out->pages_size = IMG_PAGES_HDR_SIZE + data_bytes;
	return 0;
}

void img_blob_free(struct img_blob *b)
{
	free(b->meta);
	free(b->blocks);
	free(b->offs);
	free(b->lens);
	memset(b, 0, sizeof(*b));
}
