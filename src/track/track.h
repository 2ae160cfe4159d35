/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Dirty tracking between checkpoints ("detaching designated dataspaces").
 *
 * Every writable private VMA of every process of the target is a managed
 * region cut into designated chunks of a configurable granularity. Each
 * process gets a userfaultfd, created inside it by an injected syscall and
 * taken by the parent with pidfd_getfd; the parent registers the ranges
 * and write-protects them. Then, by mode:
 *
 *   fault  the first write to a protected chunk faults; the tracker's
 *          handler thread marks the chunk dirty and unprotects the whole
 *          chunk; the target continues.
 *   async  UFFD_FEATURE_WP_ASYNC: the kernel resolves the faults itself;
 *          the written pages are collected and re-protected atomically by
 *          PAGEMAP_SCAN at the checkpoint (page granularity).
 *
 * Whatever changes a region other than a write is followed with
 * userfaultfd events (MADV_DONTNEED/FREE: REMOVE, munmap: UNMAP, mremap:
 * REMAP): such chunks count as dirty. Memory rtcr does not track (a VMA
 * created since the last pass of the handler, a private file mapping in
 * fault mode, a new process) is "untracked" and saved in full: nothing is
 * ever assumed clean without a continuous write protection since the last
 * checkpoint.
 */
#ifndef RTCR_TRACK_H
#define RTCR_TRACK_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum track_mode {
	TRACK_OFF = 0,
	TRACK_FAULT,
	TRACK_ASYNC,
};

#define TRACK_MIN_GRAN	   4096ULL
#define TRACK_MAX_GRAN	   (16ULL << 20)
#define TRACK_DEFAULT_GRAN (64ULL << 10)

struct track_opts {
	enum track_mode mode;
	uint64_t gran; /* chunk size in bytes (fault mode; async tracks pages) */
};

/* "off", "async", "fault" or "fault:GRAN" (GRAN: 4K..16M, a power of two;
 * suffixes K, M). Logs what is wrong. */
int track_parse(const char *s, struct track_opts *o);
const char *track_mode_name(enum track_mode m);
/* "fault:64K", "async", "off" */
void track_describe(const struct track_opts *o, char *buf, size_t len);

struct tracker;
struct inject;
struct capture;

/* Check the kernel (userfaultfd features) and start the handler thread. */
int track_new(const struct track_opts *o, struct tracker **out);
void track_free(struct tracker *tk);
const struct track_opts *track_get_opts(const struct tracker *tk);

/* A stopped process (ptrace stop, ij ready or NULL to make one here) gets a
 * userfaultfd, replacing one of an mm it no longer has (after exec). */
int track_arm_process(struct tracker *tk, struct inject *ij, pid_t pid, uint32_t ns_pid);

/* ---- the checkpoint side: all called by the tracer thread ---- */

/* The target is paused: take the tracker (its handler waits) and apply
 * every event already queued. */
void track_capture_begin(struct tracker *tk);
/* Process pid is being dumped (ij: its injection context, for a first
 * userfaultfd). */
int track_capture_proc(struct tracker *tk, struct inject *ij, pid_t pid, uint32_t ns_pid);

enum track_piece {
	TRK_UNTRACKED, /* no continuous protection since the last checkpoint: save it */
	TRK_DIRTY,     /* written since the last checkpoint */
	TRK_CLEAN,     /* unchanged since the last checkpoint */
};
typedef int (*track_piece_fn)(void *arg, uint64_t start, uint64_t end, enum track_piece kind,
			      bool file_backed);
/* Cut [start, end) of process pid into pieces, in address order. */
int track_pieces(struct tracker *tk, pid_t pid, uint64_t start, uint64_t end, track_piece_fn fn,
		 void *arg);
/* Live checkpoint: [start, end) of pid is copied after the resume, before
 * any write of the target reaches it (copy-before-write). */
int track_defer(struct tracker *tk, pid_t pid, uint64_t start, uint64_t end);
/*
 * End of the capture, still in the pause. ok: the chunks just captured
 * are clean again and re-protected; otherwise nothing changes (what was
 * dirty stays dirty). live: the deferred chunks are copied into cap by
 * track_live_copy() and by the handler before a write reaches them.
 * Releases the tracker.
 */
int track_capture_end(struct tracker *tk, bool ok, struct capture *live_cap);
/* After the resume (any thread): copy every deferred chunk not copied yet.
 * Fails when the target discarded or unmapped a deferred chunk before it
 * was copied: the image would not be the memory of one instant. */
int track_live_copy(struct tracker *tk);
/* Forget the live copy (the capture is dropped unwritten). */
void track_live_cancel(struct tracker *tk);
/* The dirty state no longer matches any image (a write failed): the next
 * checkpoint must be full. */
void track_set_broken(struct tracker *tk, const char *why);

/* ---- pre-copy (migration): while the target runs ---- */
struct track_chunk {
	pid_t pid;
	uint32_t ns_pid;
	uint64_t start, end;
	bool file_backed;
};
/* Register what the processes map now (the handler does it every 100 ms). */
void track_sync(struct tracker *tk);
/* Take every dirty chunk: protected again and clean from now on, to be
 * read while the target runs (a write after this is a dirty chunk of the
 * next round). Adjacent chunks come merged. *out is malloc'd. */
int track_take_dirty(struct tracker *tk, struct track_chunk **out, size_t *n, uint64_t *bytes);
/* Bytes in dirty chunks now (async: pages written since the last take). */
uint64_t track_dirty_bytes(struct tracker *tk);

/* ---- the chain of images the dirty state refers to ---- */
struct track_last {
	bool valid;
	char id[40]; /* where the image is, the caller keeps: the tracker knows no paths */
	uint64_t meta_sum;
	unsigned depth; /* 0: a full image */
};
/* The image the dirty state is relative to (valid false: none, or broken,
 * with the reason in why). */
void track_get_last(struct tracker *tk, struct track_last *out, char *why, size_t whylen);
void track_set_last(struct tracker *tk, const struct track_last *l);

struct track_stats {
	uint64_t faults, events, regions, tracked_bytes, chunks_copied_live;
};
void track_get_stats(struct tracker *tk, struct track_stats *st);

#endif
