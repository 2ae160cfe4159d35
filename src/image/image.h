/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The image: a directory with two files.
 *   rtcr.img   header (magic, version, payload length, XXH3 of payload),
 *              then one protobuf-c encoded rtcr.Image message (metadata).
 *   pages.img  a 4096-byte header page, then page contents, page aligned,
 *              at the offsets named by Image.pagemap; each PageRun carries
 *              the XXH3-64 of its bytes, verified before use.
 * Everything read back is untrusted: img_open() validates every length,
 * offset and count before anything is used (see validate.c).
 */
#ifndef RTCR_IMAGE_H
#define RTCR_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "proto/rtcr.pb-c.h"

#define IMG_FORMAT_VERSION 1
#define IMG_META_FILE "rtcr.img"
#define IMG_PAGES_FILE "pages.img"
#define IMG_PAGE_SIZE 4096ULL
#define IMG_MAX_RUN_PAGES 256 /* runs are split into blocks of at most 1 MiB */

/* A run of pages in the parent's memory to be written into pages.img. */
struct img_page_src {
	uint64_t addr;     /* virtual address, or offset inside the Shmem object */
	uint32_t npages;
	uint32_t shmem_id; /* 0: process memory */
	uint32_t pid;      /* process (ns pid) */
	const void *data;  /* npages * 4096 bytes */
};

struct img_write_stats {
	uint64_t meta_bytes, pages_bytes;
};

/*
 * Write an image into dirfd: pages.img from the runs (split into blocks of
 * at most IMG_MAX_RUN_PAGES pages, each checksummed), then meta->pagemap
 * is filled to match (any old contents replaced) and rtcr.img written.
 * Files are written under temporary names and renamed, so a crash never
 * leaves a half image under the real names.
 */
int img_write(int dirfd, Rtcr__Image *meta, const struct img_page_src *runs, size_t nruns,
	      struct img_write_stats *st);

/* Free a meta tree that the caller built with malloc'd fields (see build helpers). */

struct img;
/* Open and fully validate an image directory. path is used in messages. */
int img_open(const char *path, struct img **out);
const Rtcr__Image *img_meta(const struct img *im);
/* Bytes of pagemap run i (inside the mapped pages.img). The checksum is verified
 * when verify is true; a mismatch is an error naming the run. */
int img_run_data(struct img *im, size_t i, bool verify, const void **data, size_t *len);
/* Check a run's checksum (thread-safe: may run beside img_run_data). */
int img_run_verify(struct img *im, size_t i);
void img_close(struct img *im);

/*
 * Decode and validate metadata from a buffer (the rtcr.img file contents):
 * the fuzzing entry point. pages_size is the size of pages.img, used to
 * check every run lies inside it. On success *out is to be freed with
 * rtcr__image__free_unpacked(*out, NULL).
 */
int img_parse(const void *buf, size_t len, uint64_t pages_size, Rtcr__Image **out);
/* Semantic checks of a decoded image (exported for tests). */
int img_validate(const Rtcr__Image *im, uint64_t pages_size);

/* Human or JSON description of an image (rtcr show). */
int img_show(const char *path, FILE *out, bool json);

#endif
