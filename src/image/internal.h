/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals of src/image/ shared between its files; not part of the
 * interface the rest of rtcr uses (that is image.h).
 */
#ifndef RTCR_IMAGE_INTERNAL_H
#define RTCR_IMAGE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/le.h"
#include "image/image.h"

/* rtcr.img header: all fields little-endian. */
#define IMG_MAGIC	  "RTCRIMG\0" /* 8 bytes, the last one NUL */
#define IMG_MAGIC_LEN	  8
#define IMG_HDR_SIZE	  32
#define IMG_HDR_OFF_MAGIC 0
#define IMG_HDR_OFF_VER	  8
#define IMG_HDR_OFF_HSIZE 12
#define IMG_HDR_OFF_LEN	  16
#define IMG_HDR_OFF_SUM	  24
/* Largest rtcr.img payload accepted (metadata of 1M VMAs and 1M runs fits easily). */
#define IMG_MAX_META_BYTES (256ULL << 20)

/* pages.img header page. */
#define IMG_PAGES_MAGIC	   "RTCRPAGE" /* 8 bytes, no NUL */
#define IMG_PAGES_OFF_VER  8
#define IMG_PAGES_OFF_ID   12
#define IMG_PAGES_HDR_SIZE IMG_PAGE_SIZE

#define IMG_ID_LEN 32 /* hex digits of Inventory.image_id */

/* Limits checked by validate.c (and, for the raw wire format, read.c). */
#define IMG_MAX_STR	   4096	      /* strings are shorter than this */
#define IMG_MAX_NAME	   64	      /* Inventory.name */
#define IMG_MAX_VMAS	   (1u << 20) /* per process */
#define IMG_MAX_RUNS	   (1u << 20)
#define IMG_MAX_PROCESSES  65536
#define IMG_MAX_THREADS	   65536      /* per process */
#define IMG_MAX_FDS	   65536      /* per process */
#define IMG_MAX_FD	   (1u << 20) /* fd numbers are below this */
#define IMG_MAX_FILES	   (1u << 20)
#define IMG_MAX_SHMEM	   65536
#define IMG_MAX_SHMEM_SIZE (1ULL << 40)
#define IMG_MAX_XSAVE	   65536
#define IMG_MAX_PENDING	   65536 /* queued signals per thread / process */
#define IMG_MAX_GROUPS	   65536
#define IMG_MAX_AUXV	   128 /* u64 words (pairs) */
#define IMG_MAX_ARGV	   65536
#define IMG_MAX_CPU_WORDS  64
#define IMG_MAX_CPU_FLAGS  4096
#define IMG_SIGINFO_SIZE   128
#define IMG_TASK_SIZE	   0x800000000000ULL /* user addresses are below this */
#define IMG_VSYSCALL_ADDR  0xffffffffff600000ULL
/* Raw wire format limits, checked before protobuf-c allocates anything. */
#define IMG_MAX_REPEATED (1u << 20) /* elements of one repeated field in one message */
#define IMG_MAX_MESSAGES (1u << 22) /* sub-messages, strings, unknown fields: whole payload */
#define IMG_MAX_DEPTH	 16

/* An open image (read.c, chain.c). */
struct img {
	char *path;
	Rtcr__Image *meta;
	int pages_fd;
	const uint8_t *pages; /* pages.img, mapped read-only */
	uint64_t pages_size;
	uint64_t meta_sum; /* rtcr.img header checksum */
	/* A resolved chain (img_open_chain): meta->pagemap then also holds
	 * pieces of the parents' runs; src[i] says where run i's bytes are. */
	struct img **links; /* parent, grandparent, ... (owned) */
	size_t nlinks;
	struct run_src {
		uint32_t link; /* 0: this image; k: links[k - 1] */
		uint32_t run;  /* the run of that image the piece is cut from */
		uint64_t off;  /* byte offset of the piece in that image's pages.img */
	} * src;
	uint8_t *run_ok; /* per own run: checksum verified (as a parent) */
	bool trusted;	 /* no checksums: received over an authenticated stream */
};

/* img_validate() with `name` (an image path, or a description) leading every message. */
int img_validate_named(const Rtcr__Image *im, uint64_t pages_size, const char *name);
/* img_parse() with `name` leading every message. */
int img_parse_named(const void *buf, size_t len, uint64_t pages_size, const char *name,
		    Rtcr__Image **out);
/* Decode and validate a payload (rtcr.img past its header): the part of img_parse after
 * the header checks. */
int img_decode_named(const uint8_t *payload, size_t plen, uint64_t pages_size, const char *name,
		     Rtcr__Image **out);
/* True if s is IMG_ID_LEN hex digits. */
bool img_id_valid(const char *s);

/* The name rtcr show prints for value v of a proto enum: the enum value's
 * name without prefix, in lower case, '_' as '-' (VMA_FILE_PRIVATE:
 * "file-private", FILE_EVENTFD: "eventfd"); "?" for a value the enum does
 * not have. Returns buf (of >= 32 bytes) or "?". */
const char *img_enum_name(const ProtobufCEnumDescriptor *d, const char *prefix, int v, char *buf,
			  size_t len);

/*
 * Print a decoded (and validated) image. im gives the pages for checksum
 * verification, or NULL to skip it. Returns 0, or -EBADMSG (logged) when a
 * run's checksum does not match, or -EIO when out could not be written.
 */
int img_show_meta(const Rtcr__Image *m, struct img *im, const char *path, FILE *out, bool json);

#endif
