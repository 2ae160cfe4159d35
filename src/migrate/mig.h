/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Migration between nodes: the protocol, the sending side (run by the
 * target's parent) and the receiving side (a session of rtcr serve).
 *
 * Everything goes over an authenticated, encrypted stream (stream.h), one
 * message per step; every message from the other side is untrusted input.
 *
 *   source                                   destination
 *   HELLO  (name, mode, session id, files) ->
 *                                          <- HELLO_OK | ERROR (what differs)
 *   pre-copy: rounds of
 *     PAGES (chunks of memory, any order)  ->   stored as they arrive
 *     ROUND_END                            ->
 *   (the source pauses the target)
 *   FINAL_META (rtcr.img payload: an incremental image on the rounds, or a
 *               full one in stop mode)     ->
 *   FINAL_PAGES (pages.img blocks)         ->
 *   FINAL_END                              ->   restore, threads stopped
 *                                          <- READY (its name) | ERROR
 *   COMMIT                                 ->   the target runs
 *                                          <- COMMITTED
 *   (the source ends its target)
 *
 * Before COMMIT either side may give up (ABORT, ERROR, a timeout, a lost
 * connection): the destination discards what it built, the source lets its
 * target run on where it was. After COMMITTED only the destination's runs.
 * The source keeps its target stopped from the final pause until then.
 */
#ifndef RTCR_MIG_H
#define RTCR_MIG_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migrate/stream.h"

#define MIG_VERSION 1

enum mig_msg {
	MIG_HELLO = 1,
	MIG_HELLO_OK,
	MIG_ERROR,
	MIG_PAGES,
	MIG_ROUND_END,
	MIG_FINAL_META,
	MIG_FINAL_PAGES,
	MIG_FINAL_END,
	MIG_READY,
	MIG_COMMIT,
	MIG_COMMITTED,
	MIG_ABORT,
	MIG_FINAL_SIZE, /* u64: bytes of the final pages.img, before FINAL_META (a hint) */
};

/* MIG_PAGES payload (little-endian):
 *   u32 pid (in the target's namespace), u32 nranges, u32 nruns, u32 zero;
 *   nranges x { u64 start, u64 end }: these ranges are defined by this
 *   message (sorted, disjoint): pages of them in no run are zero;
 *   nruns x { u64 addr, u32 npages, u32 zero }: sorted, each inside one
 *   range; then the pages of the runs, in order. */
#define MIG_PAGES_HDR  16
#define MIG_RANGE_SIZE 16
#define MIG_RUN_SIZE   16
#define MIG_MAX_RANGES 8192
/* MIG_FINAL_PAGES payload: u64 offset in pages.img, then the bytes. */

struct mig_opts {
	char to[256];
	char key_path[PATH_MAX];
	bool precopy;
	unsigned max_downtime_ms; /* pre-copy: stop the rounds when the rest fits this */
	bool abort_on_no_converge;
	unsigned max_rounds;
	int timeout_ms; /* any single step of the other side */
};

enum mig_phase {
	MIG_CONNECTING,
	MIG_CHECKING,
	MIG_PRECOPY,
	MIG_FINAL,
	MIG_RESTORING,
	MIG_DONE,
	MIG_FAILED,
};

/* What a migration is doing (shared with the progress display). */
struct mig_progress {
	pthread_mutex_t mu;
	enum mig_phase phase;
	unsigned round;
	uint64_t bytes_sent;	 /* on the wire */
	uint64_t round_bytes;	 /* memory sent in the current/last round */
	uint64_t dirty_bytes;	 /* left for the next round */
	uint64_t rate_bps;	 /* measured link rate, bytes/s */
	uint64_t dirty_rate_bps; /* how fast the target dirties memory */
};

struct mig_result {
	uint64_t total_ns, downtime_ns, predicted_downtime_ns, bytes_sent, memory_bytes;
	unsigned rounds;
	bool converged;
	char dest_name[64];
	char mode[16];
};

struct capture;
struct ckpt_stats;
struct tracker;
struct target;
/* The parent's side of the steps only its tracer thread may take. */
struct mig_hooks {
	void *arg;
	/* pause the target and capture it (incremental on the rounds when
	 * parent_id is set), leaving it stopped */
	int (*capture)(void *arg, const char *parent_id, struct capture **cap,
		       struct ckpt_stats *st);
	/* let it run on (kill false) or end it (kill true); frees cap */
	void (*release)(void *arg, struct capture *cap, bool kill);
};

/* The source: run by a worker thread of the target's parent. */
int mig_send(const struct mig_opts *o, struct target *t, struct tracker *tk,
	     const struct mig_hooks *h, struct mig_progress *pg, struct mig_result *res);

/* The files the target uses (mappings and open regular files), one
 * "path\tsize\tmtime_ns\n" line each, for the destination to compare. */
int mig_file_list(struct target *t, char **out, size_t *len);

/* ---- rtcr serve ---- */
struct img;
/* What a session needs of the targets' parents on this node (filled by
 * the API: migrate/ knows nothing of the control side). */
struct mig_recv_hooks {
	/* 0 if name is a valid target name, else -EINVAL (logged) */
	int (*check_name)(const char *name);
	/* Restore im (taken) under a detached parent, its threads stopped
	 * until thaw; the name is want, or want-2... (into name_out) */
	int (*restore)(struct img *im, const char *want, char *name_out, size_t len);
	/* let the restored target run */
	int (*thaw)(const char *name);
	/* end a restored target that never ran */
	int (*discard)(const char *name);
};

struct serve_opts {
	char listen[256];
	char key_path[PATH_MAX];
	uint8_t key[STREAM_KEY_BYTES];
	int timeout_ms;
	uint64_t max_bytes; /* memory one migration may send */
	const struct mig_recv_hooks *hooks;
};
/* One accepted connection (a child process of the daemon). */
int mig_recv_session(struct stream *s, const struct serve_opts *so);

struct rtcr_serve_opts;
/* rtcr_serve(): accept migrations until killed, each in a session process. */
int mig_serve(const struct rtcr_serve_opts *o, const struct mig_recv_hooks *h);

#endif
