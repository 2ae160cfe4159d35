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

/* Version 1: full images; version 2: incremental ones (Inventory.parent_id,
 * Process.inherit), which a version-1 reader would restore incompletely.
 * A writer uses the lowest version that holds the image. */
#define IMG_FORMAT_VERSION 2
#define IMG_FORMAT_MIN	   1
/* The version an image needs. */
#define IMG_VERSION_OF(meta)                                                                       \
	((meta)->inventory && (meta)->inventory->parent_id && (meta)->inventory->parent_id[0] ? 2  \
											      : 1)
#define IMG_META_FILE	  "rtcr.img"
#define IMG_PAGES_FILE	  "pages.img"
#define IMG_PAGE_SIZE	  4096ULL
#define IMG_MAX_RUN_PAGES 256 /* runs are split into blocks of at most 1 MiB */

/* A run of pages in the parent's memory to be written into pages.img. */
struct img_page_src {
	uint64_t addr; /* virtual address, or offset inside the Shmem object */
	uint32_t npages;
	uint32_t shmem_id; /* 0: process memory */
	uint32_t pid;	   /* process (ns pid) */
	const void *data;  /* npages * 4096 bytes */
};

struct img_write_stats {
	uint64_t meta_bytes, pages_bytes;
	uint64_t meta_sum; /* XXH3-64 of the rtcr.img payload (its header checksum) */
};

/*
 * Write an image into dirfd: pages.img from the runs (split into blocks of
 * at most IMG_MAX_RUN_PAGES pages, each checksummed), then meta->pagemap
 * is filled to match (any old contents replaced) and rtcr.img written.
 * Files are written under temporary names and renamed, so a crash never
 * leaves a half image under the real names.
 *
 * meta->inventory must be present. img_write sets its format_version and
 * memory_bytes and, when image_id is NULL, stores a fresh malloc'd id.
 * The metadata is encoded, decoded and validated (img_validate) before
 * anything is written: img_write never writes an image that img_open would
 * refuse. Remember the has_ flags: an optional scalar whose has_ flag is
 * not set is not encoded, so it reads back as absent (0).
 *
 * Memory: the old meta->pagemap (array and entries) is freed with free()
 * on entry, so it must be empty or come from an earlier img_write. On
 * success meta->pagemap holds one malloc'd Rtcr__PageRun per block in a
 * malloc'd array, owned by meta: img_meta_free() frees it with the rest of
 * a malloc-built tree, img_pagemap_clear() frees just the pagemap. On
 * failure meta->pagemap is left empty. Files are created mode 0600.
 */
int img_write(int dirfd, Rtcr__Image *meta, const struct img_page_src *runs, size_t nruns,
	      struct img_write_stats *st);

/*
 * An image serialized in memory, to be sent rather than written: the
 * rtcr.img payload (no header) and the pages.img blocks, block i being
 * meta->pagemap[i] (its bytes at blocks[i], to go at pagemap[i]->offset of
 * a pages.img of pages_size bytes whose first IMG_PAGES_HDR_SIZE bytes are
 * the header). img_serialize fills meta->pagemap (as img_write does) and
 * validates the result like img_write; the blocks point into the runs'
 * data, which must stay valid.
 */
struct img;
struct img_blob {
	uint8_t *meta;
	size_t meta_len;
	const uint8_t **blocks;
	uint64_t *offs; /* where block i goes in pages.img */
	size_t *lens;	/* its bytes */
	size_t nblocks;
	uint64_t pages_size;
};
int img_serialize(Rtcr__Image *meta, const struct img_page_src *runs, size_t nruns, bool checksums,
		  struct img_blob *out);
void img_blob_free(struct img_blob *b);
/*
 * An image received into memory: validate the payload (as img_open does
 * for rtcr.img) against pages, pages_size bytes laid out as pages.img (the
 * header page is not looked at). The img owns pages (munmap) when
 * own_pages; name is used in messages.
 */
int img_from_memory(const char *name, const void *meta, size_t meta_len, void *pages,
		    uint64_t pages_size, struct img **out);
/*
 * A page store built by a receiver (migration pre-copy rounds): meta holds
 * processes with their pid and inherit ranges and a pagemap into pages
 * (trusted: built by rtcr from validated messages). Takes meta and pages.
 */
int img_from_parts(const char *name, Rtcr__Image *meta, void *pages, uint64_t pages_size,
		   struct img **out);
/* Its pages need no checksum check (received over an authenticated stream). */
void img_set_trusted(struct img *im);
/* Resolve top against links[0..n) (its parent, grandparent, ...) as
 * img_open_chain does; takes the links (also on failure). */
int img_chain_attach(struct img *top, struct img **links, size_t n);

/*
 * Free a meta tree that the caller built with malloc'd fields: every
 * sub-message, string, bytes buffer and repeated array allocated
 * separately with malloc (the layout protobuf-c's unpack produces), so
 * this is rtcr__image__free_unpacked(meta, NULL). NULL is fine.
 */
void img_meta_free(Rtcr__Image *meta);
/* Free meta->pagemap as filled by img_write and leave it empty. */
void img_pagemap_clear(Rtcr__Image *meta);
/* A fresh random image id: 32 lowercase hex digits and a NUL (buf of >= 33 bytes). */
int img_gen_id(char *buf, size_t len);

struct img;
/* Open and fully validate an image directory. path is used in messages. */
int img_open(const char *path, struct img **out);
/*
 * Open an image and, when it is incremental, the images it builds on: the
 * parent is looked up in the dirs of search[] (any order), then where it
 * was written, then beside path; it must have the recorded id and
 * checksum. The result reads like one full image: its pagemap holds the
 * image's own runs and the pieces of the ancestors' runs its inherited
 * ranges need (img_run_data finds the bytes, img_run_verify checks the
 * whole original run). A broken or missing link is an error naming it.
 */
int img_open_chain(const char *path, const char *const *search, int nsearch, struct img **out);
/* Write the chain ending in dirs[n-1] (the other dirs: where to look for
 * its ancestors) as one full image into out_dir (created; must not hold
 * an image). Every run's checksum is verified on the way. */
int img_merge(const char *const *dirs, int n, const char *out_dir);
/* Write an opened (resolved) image as one full image into out_dir; closes im. */
int img_write_resolved(struct img *im, const char *out_dir, struct img_write_stats *st);
/* Number of images in an opened chain (1: a full image). */
size_t img_chain_length(const struct img *im);
const Rtcr__Image *img_meta(const struct img *im);
/* Bytes of pagemap run i (inside the mapped pages.img). The checksum is verified
 * when verify is true; a mismatch is an error naming the run.
 * img_run_data and img_run_verify return 0, -EINVAL for a bad index and
 * -EBADMSG (logged, naming the run) for a checksum mismatch. */
int img_run_data(struct img *im, size_t i, bool verify, const void **data, size_t *len);
/* Check a run's checksum (thread-safe: may run beside img_run_data). */
int img_run_verify(struct img *im, size_t i);
void img_close(struct img *im);
/* The open pages.img (read-only, valid until img_close) and its size, for
 * callers that would rather read or map runs themselves. */
int img_pages_fd(const struct img *im);
uint64_t img_pages_size(const struct img *im);

/*
 * Decode and validate metadata from a buffer (the rtcr.img file contents):
 * the fuzzing entry point. pages_size is the size of pages.img, used to
 * check every run lies inside it. On success *out is to be freed with
 * rtcr__image__free_unpacked(*out, NULL).
 */
int img_parse(const void *buf, size_t len, uint64_t pages_size, Rtcr__Image **out);
/* Semantic checks of a decoded image (exported for tests). */
int img_validate(const Rtcr__Image *im, uint64_t pages_size);

/* The id (from pages.img's header) and the rtcr.img header checksum of the
 * image in dir, without reading the rest: to see that an image is still
 * the one written. Quiet: returns -errno. */
int img_peek(const char *dir, char *id, size_t idlen, uint64_t *meta_sum);

/* Human or JSON description of an image (rtcr show). */
int img_show(const char *path, FILE *out, bool json);

#endif
