/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The registry of resource kinds (registry.c): one table of the session
 * kinds that the drivers (src/ckpt/) walk, and one table of descriptor
 * kinds, indexed by FileKind, that the files session walks. Only
 * registry.c names a kind; adding one is one line there.
 */
#ifndef RTCR_REGISTRY_H
#define RTCR_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "sessions/session.h"

/* ---- session kinds ---- */

struct session_kind {
	const struct session_ops *ops;
	/* its place in the checkpoint's dump order (smaller first, unique);
	 * 0: nothing to dump */
	unsigned dump_step;
	/* a part of the descriptor table: skipped, at checkpoint and restore,
	 * in a process that shares its parent's (CLONE_FILES) */
	bool per_fdtable;
};

/* In restore order: every kind's prepare in this order, then each phase
 * (ops->phase) in turn, every process, the kinds of that phase in this
 * order. */
extern const struct session_kind session_kinds[];
extern const size_t session_nkinds;

/* The kind the checkpoint dumps at step i (0: first), NULL past the last. */
const struct session_kind *session_dump_kind(size_t i);
/* A restore is done or failed: every kind's cleanup (the parent's state). */
void session_kinds_cleanup(struct rst_ctx *r);

/* ---- descriptor kinds ---- */

struct fd_ops;
struct fd_kind {
	const char *name;	  /* the FileKind value's name in proto/rtcr.proto */
	const struct fd_ops *ops; /* NULL: no kind for this value */
	/* matched after every other kind (it would take their descriptors too:
	 * a memfd or a deleted file is a regular file as well) */
	bool generic;
};

/* Indexed by FileKind; fd_nkinds entries (every value of the enum, a unit
 * test checks it); also the size of rst_shared.fd_state. */
extern const struct fd_kind fd_kinds[];
extern const size_t fd_nkinds;

/* The kind of File.kind k, NULL if there is none. */
const struct fd_ops *fd_kind_ops(Rtcr__FileKind k);

#endif
