/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The checkpoint and restore drivers (src/ckpt/): pause the target, walk
 * the registry of resource kinds (src/sessions/), copy memory, resume; and
 * rebuild an image's target in new namespaces. Used by the supervisor
 * (src/control/) and migration (src/migrate/); knows no command line.
 */
#ifndef RTCR_CKPT_H
#define RTCR_CKPT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/target.h"

/* ---- checkpoint (src/ckpt/checkpoint.c) ---- */
struct capture;
struct tracker;
struct track_last;
struct ckpt_opts {
	bool kill;
	bool dry_run;
	bool no_retry; /* refuse transient states (vfork in progress) instead of trying again */
	struct tracker *tk; /* dirty tracking of the target, or NULL */
	bool incremental;   /* only what changed since the image tk refers to (needs tk) */
	bool live;	    /* copy tracked memory after the resume (needs fault tracking) */
	const struct track_last *parent; /* incremental: the image it builds on */
	const char *parent_dir; /* incremental: where that image is (recorded in the new one) */
	bool keep_paused;	/* leave the target stopped after the capture: ckpt_release() */
	unsigned allow_loss;	/* bits 1 << Rtcr__LossKind: what the image may go without */
};
struct ckpt_stats {
	uint64_t pause_ns, capture_ns, write_ns, mem_bytes, image_bytes;
	uint64_t meta_sum; /* the written rtcr.img's header checksum */
	char image_id[40];
};
/*
 * Pause the whole target, capture its state into the parent's memory,
 * resume it (or kill it with opts->kill), return the capture. Must run on
 * the thread that is the ptrace tracer. For dry_run nothing is captured:
 * *report gets one line per resource that a checkpoint would refuse
 * (malloc'd, "" when none) and the function returns 0.
 */
int ckpt_capture(struct target *t, const struct ckpt_opts *o, struct capture **out, char **report,
		 struct ckpt_stats *st);
/* Host pids of every process of the target's namespace but init, parents
 * first (malloc'd). */
int ckpt_list_processes(struct target *t, pid_t **out, int *n);
/* Give every process of the target a userfaultfd for tk (each stopped for
 * a moment): tracking for a target started without it. */
int ckpt_arm_tracking(struct target *t, struct tracker *tk);
/* A capture made with keep_paused: let the target run on, or kill it (on
 * the tracer thread). Also done by capture_free (run on). */
int ckpt_release(struct capture *c, bool kill_it);
/* Serialize into memory (to send): see img_serialize. Any thread. */
struct img_blob;
int ckpt_serialize(struct capture *c, struct img_blob *out, bool checksums);
/* Serialize and write the image into dirfd. No ptrace: may run in any thread. */
int ckpt_write(struct capture *c, int dirfd, struct ckpt_stats *st);
void capture_free(struct capture *c);

/* ---- restore (src/ckpt/restore.c) ---- */
struct img;
struct restore_req {
	const char *dir;
	const char *name; /* chosen by the caller (unique) */
	bool ignore_cpu;
	struct img *im; /* an image already open (received): used instead of dir, and closed */
	bool frozen;	/* leave every thread stopped, ready to go: restore_thaw() */
};
/* Fill *name_out with the name recorded in the image (for choosing one). */
int restore_peek_name(const char *dir, char *name_out, size_t len);
/*
 * Rebuild the image's target in new namespaces and let it run. On success
 * *t describes it (pids, LOG pipes) and it is seized by this thread. On
 * failure nothing is left running.
 */
int restore_target(const struct restore_req *r, struct target *t);
/* Let a target restored frozen run (its threads, main thread last). */
int restore_thaw(struct target *t);

#endif
