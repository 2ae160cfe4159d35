/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reading images: the rtcr.img header, a check of the raw protobuf wire
 * format (before protobuf-c allocates anything from it), decoding,
 * validation (validate.c), and the mapping of pages.img.
 */
#define LOG_PREFIX "image: "
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "image/internal.h"

/* ---- the raw wire format ---- */

struct wctx {
	const char *name;
	const uint8_t *base; /* start of the payload, for offsets in messages */
	uint64_t elements;   /* sub-messages, strings and bytes fields seen */
};

static int read_varint(const uint8_t *p, size_t len, size_t *used, uint64_t *v)
{
	uint64_t r = 0;

	for (size_t i = 0; i < len && i < 10; i++) {
		r |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80)) {
			*used = i + 1;
			*v = r;
			return 0;
		}
	}
	return -1;
}

static bool has_repeated(const ProtobufCMessageDescriptor *d)
{
	for (unsigned i = 0; i < d->n_fields; i++)
		if (d->fields[i].label == PROTOBUF_C_LABEL_REPEATED)
			return true;
	return false;
}

/* Elements in the packed encoding of a repeated scalar field. */
static uint64_t packed_count(const ProtobufCFieldDescriptor *f, const uint8_t *p, size_t len)
{
	uint64_t n = 0;

	switch (f->type) {
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
		return len / 4;
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return len / 8;
	default:
		for (size_t i = 0; i < len; i++)
			n += !(p[i] & 0x80);
		return n;
	}
}

/* An error at the field starting at p + off of a message of descriptor d
 * (the names walk and walk_delimited use). */
#define WERR(fmt, ...)                                                                             \
	pr_err("%s: rtcr.img: malformed metadata at payload byte %zu (in %s): " fmt, c->name,      \
	       (size_t)(p + off - c->base), d->name, ##__VA_ARGS__)
/* One more allocated element (sub-message, string, bytes, unknown field):
 * an error past IMG_MAX_MESSAGES in all. */
#define WCOUNT()                                                                                   \
	(++c->elements > IMG_MAX_MESSAGES                                                          \
	     ? (WERR("more than %u sub-messages, strings and unknown fields in all",               \
		     IMG_MAX_MESSAGES),                                                            \
		-EINVAL)                                                                           \
	     : 0)

static int walk(struct wctx *c, const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
		int depth);

/*
 * The length-delimited field f (NULL: unknown) whose key is used bytes at
 * p + off: *used grows by its length and contents, *n is its number of
 * elements (packed repeated fields).
 */
static int walk_delimited(struct wctx *c, const ProtobufCMessageDescriptor *d,
			  const ProtobufCFieldDescriptor *f, uint64_t key, const uint8_t *p,
			  size_t len, size_t off, size_t *used, uint64_t *n, int depth)
{
	size_t lused;
	const uint8_t *q;
	uint64_t v;
	int ret;

	if (read_varint(p + off + *used, len - off - *used, &lused, &v) ||
	    v > len - off - *used - lused) {
		WERR("length of field %" PRIu64 " runs past the end of its message", key >> 3);
		return -EINVAL;
	}
	q = p + off + *used + lused;
	if (f && f->type == PROTOBUF_C_TYPE_STRING) {
		if (v >= IMG_MAX_STR) {
			WERR("%s: string of %" PRIu64 " bytes (at most %d)", f->name, v,
			     IMG_MAX_STR - 1);
			return -EINVAL;
		}
		if (memchr(q, 0, v)) {
			WERR("%s: string with a NUL byte", f->name);
			return -EINVAL;
		}
	}
	if (f && (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_BYTES ||
		  f->type == PROTOBUF_C_TYPE_MESSAGE)) {
		if (WCOUNT())
			return -EINVAL;
	} else if (f && f->label == PROTOBUF_C_LABEL_REPEATED) {
		*n = packed_count(f, q, v);
	}
	if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
		ret = walk(c, f->descriptor, q, v, depth + 1);
		if (ret)
			return ret;
	}
	*used += lused + v;
	return 0;
}

/* The field at p + off, its key (used bytes) read: *used grows by the rest. */
static int walk_field(struct wctx *c, const ProtobufCMessageDescriptor *d,
		      const ProtobufCFieldDescriptor *f, uint64_t key, const uint8_t *p, size_t len,
		      size_t off, size_t *used, uint64_t *n, int depth)
{
	unsigned wt = key & 7;
	size_t vused, width;
	uint64_t v;

	switch (wt) {
	case 0: /* varint */
		if (read_varint(p + off + *used, len - off - *used, &vused, &v)) {
			WERR("bad or truncated varint in field %" PRIu64, key >> 3);
			return -EINVAL;
		}
		*used += vused;
		return 0;
	case 1: /* 64-bit */
	case 5: /* 32-bit */
		width = wt == 1 ? 8 : 4;
		if (len - off - *used < width) {
			WERR("truncated %zu-bit field %" PRIu64, width * 8, key >> 3);
			return -EINVAL;
		}
		*used += width;
		return 0;
	case 2: /* length delimited */
		return walk_delimited(c, d, f, key, p, len, off, used, n, depth);
	default:
		WERR("unsupported wire type %u", wt);
		return -EINVAL;
	}
}

/*
 * Walk one message of descriptor d in p[0..len). Checks what protobuf-c
 * would accept silently or only after allocating too much: strings with
 * NUL bytes (they would be cut short) or too long, more than
 * IMG_MAX_REPEATED elements in a repeated field, more than
 * IMG_MAX_MESSAGES allocated elements in all, nesting, malformed varints,
 * lengths running past their message, and group wire types.
 */
static int walk(struct wctx *c, const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
		int depth)
{
	uint32_t *counts = NULL;
	size_t off = 0, used;
	int ret = -EINVAL;

	if (depth > IMG_MAX_DEPTH) {
		WERR("nested too deeply");
		goto out;
	}
	if (has_repeated(d)) {
		counts = calloc(d->n_fields, sizeof(*counts));
		if (!counts) {
			ret = -ENOMEM;
			pr_err("%s: out of memory", c->name);
			goto out;
		}
	}
	while (off < len) {
		const ProtobufCFieldDescriptor *f;
		uint64_t key, n = 1;

		if (read_varint(p + off, len - off, &used, &key) || key > UINT32_MAX) {
			WERR("bad field key");
			goto out;
		}
		if ((key >> 3) == 0) {
			WERR("field number 0");
			goto out;
		}
		f = protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3));
		ret = walk_field(c, d, f, key, p, len, off, &used, &n, depth);
		if (ret)
			goto out;
		ret = -EINVAL;
		/* protobuf-c keeps unknown fields: each one is an allocation too. */
		if (!f && WCOUNT())
			goto out;
		if (f && f->label == PROTOBUF_C_LABEL_REPEATED && counts) {
			uint32_t *cnt = &counts[f - d->fields];

			if (n > IMG_MAX_REPEATED - *cnt) {
				WERR("%s: more than %u elements", f->name, IMG_MAX_REPEATED);
				goto out;
			}
			*cnt += n;
		}
		off += used;
	}
	ret = 0;
out:
	free(counts);
	return ret;
}
#undef WCOUNT
#undef WERR

/* ---- rtcr.img ---- */

int img_parse_named(const void *buf, size_t len, uint64_t pages_size, const char *name,
		    Rtcr__Image **out)
{
	const uint8_t *b = buf;
	uint32_t version, hsize;
	uint64_t plen, sum;
	int ret = -EINVAL;

	*out = NULL;
	if (!b || len < IMG_HDR_SIZE) {
		pr_err("%s: rtcr.img: truncated header (%zu bytes, need %d)", name, b ? len : 0,
		       IMG_HDR_SIZE);
		goto out;
	}
	if (memcmp(b + IMG_HDR_OFF_MAGIC, IMG_MAGIC, IMG_MAGIC_LEN)) {
		pr_err("%s: rtcr.img: bad magic (not an rtcr image)", name);
		goto out;
	}
	version = le_get32(b + IMG_HDR_OFF_VER);
	if (version < IMG_FORMAT_MIN || version > IMG_FORMAT_VERSION) {
		pr_err("%s: format version %" PRIu32 ", this rtcr reads versions %d to %d", name,
		       version, IMG_FORMAT_MIN, IMG_FORMAT_VERSION);
		goto out;
	}
	hsize = le_get32(b + IMG_HDR_OFF_HSIZE);
	if (hsize != IMG_HDR_SIZE) {
		pr_err("%s: rtcr.img: header size %" PRIu32 " (version %d headers are %d bytes)",
		       name, hsize, IMG_FORMAT_VERSION, IMG_HDR_SIZE);
		goto out;
	}
	plen = le_get64(b + IMG_HDR_OFF_LEN);
	if (plen > IMG_MAX_META_BYTES) {
		pr_err("%s: rtcr.img: payload of %" PRIu64 " bytes (at most %llu)", name, plen,
		       IMG_MAX_META_BYTES);
		goto out;
	}
	if (plen != len - IMG_HDR_SIZE) {
		pr_err("%s: rtcr.img: %s: the header says %" PRIu64
		       " bytes of payload, the file holds %zu",
		       name, plen > len - IMG_HDR_SIZE ? "truncated" : "trailing bytes", plen,
		       len - IMG_HDR_SIZE);
		goto out;
	}
	sum = le_get64(b + IMG_HDR_OFF_SUM);
	if (XXH3_64bits(b + IMG_HDR_SIZE, plen) != sum) {
		pr_err("%s: rtcr.img: metadata checksum mismatch (the file is corrupt)", name);
		ret = -EBADMSG;
		goto out;
	}
	ret = img_decode_named(b + IMG_HDR_SIZE, plen, pages_size, name, out);
out:
	return ret;
}

int img_decode_named(const uint8_t *payload, size_t plen, uint64_t pages_size, const char *name,
		     Rtcr__Image **out)
{
	struct wctx wc = {.name = name, .base = payload};
	Rtcr__Image *meta = NULL;
	int ret;

	*out = NULL;
	ret = walk(&wc, &rtcr__image__descriptor, payload, plen, 0);
	if (ret)
		goto out;
	ret = -EINVAL;
	meta = rtcr__image__unpack(NULL, plen, payload);
	if (!meta) {
		pr_err("%s: rtcr.img: cannot decode the metadata (malformed protobuf)", name);
		goto out;
	}
	ret = img_validate_named(meta, pages_size, name);
	if (ret)
		goto out;
	*out = meta;
	meta = NULL;
out:
	if (meta)
		rtcr__image__free_unpacked(meta, NULL);
	return ret;
}

int img_parse(const void *buf, size_t len, uint64_t pages_size, Rtcr__Image **out)
{
	return img_parse_named(buf, len, pages_size, "metadata", out);
}

/* ---- opening ---- */

static int read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, (char *)buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENODATA;
		done += n;
	}
	return 0;
}

static int open_file(const char *path, int dirfd, const char *file, struct stat *st)
{
	/* No symlinks, and no blocking on a FIFO planted under the name. */
	int fd = openat(dirfd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

	if (fd < 0) {
		int ret = errno ? -errno : -EIO;

		if (ret == -ENOENT)
			pr_err("%s: no %s (not an image, or an incomplete one)", path, file);
		else
			pr_err("%s: cannot open %s: %s", path, file, strerror(-ret));
		return ret;
	}
	if (fstat(fd, st)) {
		int ret = errno ? -errno : -EIO;

		pr_err("%s: cannot stat %s: %s", path, file, strerror(-ret));
		close(fd);
		return ret;
	}
	if (!S_ISREG(st->st_mode)) {
		pr_err("%s: %s is not a regular file", path, file);
		close(fd);
		return -EINVAL;
	}
	return fd;
}

static int check_pages_header(struct img *im)
{
	const char *id = im->meta->inventory->image_id;
	uint8_t *hdr;
	ssize_t n;
	int ret = -EINVAL;

	hdr = malloc(IMG_PAGES_HDR_SIZE);
	if (!hdr) {
		pr_err("%s: out of memory", im->path);
		return -ENOMEM;
	}
	do
		n = pread(im->pages_fd, hdr, IMG_PAGES_HDR_SIZE, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		ret = pr_perror("%s: cannot read pages.img", im->path);
		goto out;
	}
	if ((size_t)n < IMG_PAGES_HDR_SIZE) {
		pr_err("%s: pages.img: truncated header (%zd bytes, need %llu)", im->path, n,
		       IMG_PAGES_HDR_SIZE);
		goto out;
	}
	if (memcmp(hdr, IMG_PAGES_MAGIC, 8)) {
		pr_err("%s: pages.img: bad magic (not an rtcr pages file)", im->path);
		goto out;
	}
	if (le_get32(hdr + IMG_PAGES_OFF_VER) != im->meta->inventory->format_version) {
		pr_err("%s: pages.img: format version %" PRIu32 ", rtcr.img says %" PRIu32,
		       im->path, le_get32(hdr + IMG_PAGES_OFF_VER),
		       im->meta->inventory->format_version);
		goto out;
	}
	if (memcmp(hdr + IMG_PAGES_OFF_ID, id, IMG_ID_LEN) || hdr[IMG_PAGES_OFF_ID + IMG_ID_LEN]) {
		pr_err("%s: pages.img belongs to another image (rtcr.img is image %s)", im->path,
		       id);
		goto out;
	}
	ret = 0;
out:
	free(hdr);
	return ret;
}

int img_open(const char *path, struct img **out)
{
	struct img *im = NULL;
	struct stat mst = {0}, pst = {0};
	uint8_t *buf = NULL;
	int dirfd = -1, mfd = -1, ret;

	*out = NULL;
	im = calloc(1, sizeof(*im));
	if (im) {
		im->pages_fd = -1;
		im->pages = MAP_FAILED;
		im->path = strdup(path);
	}
	if (!im || !im->path) {
		pr_err("%s: out of memory", path);
		ret = -ENOMEM;
		goto out;
	}
	dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		ret = pr_perror("%s: cannot open the image directory", path);
		goto out;
	}
	mfd = open_file(path, dirfd, IMG_META_FILE, &mst);
	if (mfd < 0) {
		ret = mfd;
		goto out;
	}
	if ((uint64_t)mst.st_size > IMG_HDR_SIZE + IMG_MAX_META_BYTES) {
		pr_err("%s: rtcr.img: %jd bytes (at most %llu)", path, (intmax_t)mst.st_size,
		       IMG_HDR_SIZE + IMG_MAX_META_BYTES);
		ret = -EINVAL;
		goto out;
	}
	buf = malloc(mst.st_size ? mst.st_size : 1);
	if (!buf) {
		pr_err("%s: out of memory", path);
		ret = -ENOMEM;
		goto out;
	}
	ret = read_full(mfd, buf, mst.st_size);
	if (ret) {
		if (ret == -ENODATA)
			pr_err("%s: rtcr.img shrank while being read", path);
		else
			pr_err("%s: cannot read rtcr.img: %s", path, strerror(-ret));
		goto out;
	}
	im->pages_fd = open_file(path, dirfd, IMG_PAGES_FILE, &pst);
	if (im->pages_fd < 0) {
		ret = im->pages_fd;
		goto out;
	}
	im->pages_size = pst.st_size;
	ret = img_parse_named(buf, mst.st_size, im->pages_size, path, &im->meta);
	if (ret)
		goto out;
	im->meta_sum = le_get64(buf + IMG_HDR_OFF_SUM);
	free(buf);
	buf = NULL;
	ret = check_pages_header(im);
	if (ret)
		goto out;
	im->pages = mmap(NULL, im->pages_size, PROT_READ, MAP_PRIVATE, im->pages_fd, 0);
	if (im->pages == MAP_FAILED) {
		ret = pr_perror("%s: cannot map pages.img", path);
		goto out;
	}
	/*
	 * Start reading pages.img in the background while the caller sets up.
	 * (Measured on 1 GiB: MADV_SEQUENTIAL halves the speed of reading the
	 * mapping from the page cache, and MAP_POPULATE only moves the wait
	 * into img_open.)
	 */
	if (madvise((void *)im->pages, im->pages_size, MADV_WILLNEED))
		pr_debug("%s: madvise pages.img: %s", path, strerror(errno));
	*out = im;
	im = NULL;
	ret = 0;
out:
	free(buf);
	if (mfd >= 0)
		close(mfd);
	if (dirfd >= 0)
		close(dirfd);
	img_close(im);
	return ret;
}

/* An image on memory the caller owns (pages), no metadata yet. */
static struct img *img_alloc(const char *name, void *pages, uint64_t pages_size)
{
	struct img *im = calloc(1, sizeof(*im));

	if (!im || !(im->path = strdup(name))) {
		free(im);
		return NULL;
	}
	im->pages_fd = -1;
	im->pages = pages;
	im->pages_size = pages_size;
	return im;
}

int img_from_memory(const char *name, const void *meta, size_t meta_len, void *pages,
		    uint64_t pages_size, struct img **out)
{
	struct img *im = img_alloc(name, pages, pages_size);
	int ret;

	*out = NULL;
	if (!im)
		return -ENOMEM;
	ret = img_decode_named(meta, meta_len, pages_size, name, &im->meta);
	if (ret) {
		im->pages = NULL; /* the caller's still */
		img_close(im);
		return ret;
	}
	*out = im;
	return 0;
}

int img_from_parts(const char *name, Rtcr__Image *meta, void *pages, uint64_t pages_size,
		   struct img **out)
{
	struct img *im = img_alloc(name, pages, pages_size);

	*out = NULL;
	if (!im)
		return -ENOMEM;
	im->meta = meta;
	*out = im;
	return 0;
}

int img_peek(const char *dir, char *id, size_t idlen, uint64_t *meta_sum)
{
	uint8_t hdr[IMG_PAGES_OFF_ID + IMG_ID_LEN + 1], mh[IMG_HDR_SIZE];
	int dfd, fd, ret = 0;

	if (idlen < IMG_ID_LEN + 1)
		return -EINVAL;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	fd = openat(dfd, IMG_PAGES_FILE, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || pread(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr) ||
	    memcmp(hdr, IMG_PAGES_MAGIC, 8))
		ret = -ENOENT;
	if (fd >= 0)
		close(fd);
	if (!ret) {
		fd = openat(dfd, IMG_META_FILE, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || pread(fd, mh, sizeof(mh), 0) != (ssize_t)sizeof(mh) ||
		    memcmp(mh, IMG_MAGIC, IMG_MAGIC_LEN))
			ret = -ENOENT;
		if (fd >= 0)
			close(fd);
	}
	close(dfd);
	if (ret)
		return ret;
	memcpy(id, hdr + IMG_PAGES_OFF_ID, IMG_ID_LEN);
	id[IMG_ID_LEN] = '\0';
	*meta_sum = le_get64(mh + IMG_HDR_OFF_SUM);
	return 0;
}

const Rtcr__Image *img_meta(const struct img *im)
{
	return im->meta;
}

int img_pages_fd(const struct img *im)
{
	return im->pages_fd;
}

uint64_t img_pages_size(const struct img *im)
{
	return im->pages_size;
}

static int run_check(struct img *im, size_t i, const void **data, size_t *len)
{
	const Rtcr__PageRun *r;

	if (!im || i >= im->meta->n_pagemap) {
		pr_err("%s: no page run %zu (the image has %zu)", im ? im->path : "image", i,
		       im ? im->meta->n_pagemap : 0);
		return -EINVAL;
	}
	r = im->meta->pagemap[i];
	if (im->src && im->src[i].link) {
		const struct img *l = im->links[im->src[i].link - 1];

		*data = l->pages + im->src[i].off;
	} else {
		*data = im->pages + r->offset;
	}
	*len = (size_t)r->npages * IMG_PAGE_SIZE;
	return 0;
}

void img_set_trusted(struct img *im)
{
	im->trusted = true;
}

static int run_verify(struct img *im, size_t i, const void *data, size_t len)
{
	const Rtcr__PageRun *r = im->meta->pagemap[i];

	if (im->trusted && !(im->src && im->src[i].link))
		return 0;

	if (im->src && im->src[i].link) {
		/* a piece of a parent's run: check that whole run, once */
		struct img *l = im->links[im->src[i].link - 1];
		size_t ri = im->src[i].run;
		int ret;

		if (l->run_ok && l->run_ok[ri])
			return 0;
		ret = run_check(l, ri, &data, &len);
		if (!ret)
			ret = run_verify(l, ri, data, len);
		if (!ret && l->run_ok)
			l->run_ok[ri] = 1;
		return ret;
	}

	if (XXH3_64bits(data, len) == r->xxh64)
		return 0;
	if (r->shmem_id)
		pr_err("%s: pages.img: checksum mismatch in run %zu (shmem %" PRIu32
		       " offset 0x%" PRIx64 ", %" PRIu32 " pages at offset 0x%" PRIx64 ")",
		       im->path, i, r->shmem_id, r->addr, r->npages, r->offset);
	else
		pr_err("%s: pages.img: checksum mismatch in run %zu (addr 0x%" PRIx64 ", %" PRIu32
		       " pages at offset 0x%" PRIx64 ")",
		       im->path, i, r->addr, r->npages, r->offset);
	return -EBADMSG;
}

int img_run_data(struct img *im, size_t i, bool verify, const void **data, size_t *len)
{
	const void *d;
	size_t l;
	int ret;

	ret = run_check(im, i, &d, &l);
	if (ret)
		return ret;
	if (verify) {
		ret = run_verify(im, i, d, l);
		if (ret)
			return ret;
	}
	*data = d;
	*len = l;
	return 0;
}

int img_run_verify(struct img *im, size_t i)
{
	const void *d;
	size_t l;
	int ret;

	ret = run_check(im, i, &d, &l);
	if (ret)
		return ret;
	return run_verify(im, i, d, l);
}

void img_close(struct img *im)
{
	if (!im)
		return;
	for (size_t i = 0; i < im->nlinks; i++)
		img_close(im->links[i]);
	free(im->links);
	free(im->src);
	free(im->run_ok);
	if (im->pages != MAP_FAILED && im->pages)
		munmap((void *)im->pages, im->pages_size);
	if (im->pages_fd >= 0)
		close(im->pages_fd);
	if (im->meta)
		rtcr__image__free_unpacked(im->meta, NULL);
	free(im->path);
	free(im);
}
