/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Descriptor kinds. files.c walks the descriptor table; every kind of open
 * file (regular file, pipe, socket, eventfd...) is one struct fd_ops in its
 * own file (src/sessions/fd-*.c) with its checkpoint and restore side, and
 * one line in fd_kinds[] (registry.c). Its image part is File.<kind> (one
 * proto/fd-*.proto per kind).
 */
#ifndef RTCR_FILES_H
#define RTCR_FILES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "sessions/registry.h"
#include "sessions/session.h"

/* What files.c read about a descriptor of the paused target. */
struct fd_info {
	int fd;
	const char *link;   /* readlink of /proc/PID/fd/N ("pipe:[123]", "/tmp/x", ...) */
	struct stat st;	    /* stat of /proc/PID/fd/N (the object) */
	uint64_t pos;	    /* fdinfo pos */
	uint32_t flags;	    /* fdinfo flags (O_*), O_CLOEXEC removed */
	const char *fdinfo; /* the whole /proc/PID/fdinfo/N text */
};

struct fd_ops {
	const char *name;
	Rtcr__FileKind kind;
	/* Is this descriptor of this kind? */
	bool (*match)(struct ckpt_ctx *c, const struct fd_info *fi);
	/* While paused: fill the kind's part of f (files.c filled id, kind,
	 * path = link, flags, pos, dev, ino, mode, rdev). May refuse with
	 * ckpt_refuse() (and then return its result). */
	int (*dump)(struct ckpt_ctx *c, const struct fd_info *fi, Rtcr__File *f);
	/* Restore, before anything is created: check f against this machine. */
	int (*prepare)(struct rst_ctx *r, const Rtcr__File *f);
	/* Restore: an open file of the parent's to pass into the target as
	 * this File (*ourfd, closed by files.c afterwards); or create it in
	 * the target by injected syscalls and return its number there in
	 * *tfd with *ourfd = -1 (files.c moves it to its descriptor numbers). */
	int (*open)(struct rst_ctx *r, const Rtcr__File *f, int *ourfd, int *tfd);
	/* Restore, after every descriptor is in place (epoll interest lists,
	 * data that refers to other descriptors). Optional. */
	int (*post)(struct rst_ctx *r, const Rtcr__File *f);
	/* Restore done or failed: free r->fd_state[kind] (parent-side only;
	 * the target is running or gone). Optional. */
	void (*cleanup)(struct rst_ctx *r);
};

/* Checkpoint: a new File of the image (id: its index + 1) with what every
 * kind has (kind, path, status flags, offset, the object's identity st). */
int files_add(struct ckpt_ctx *c, Rtcr__FileKind kind, const char *path, uint32_t flags,
	      uint64_t pos, const struct stat *st, Rtcr__File **out);
/* The File of the image with this id (NULL if none). */
const Rtcr__File *files_by_id(const Rtcr__Image *img, uint32_t id);
/* The fd number a File has in the target after restore (its first Fd), or -1. */
int files_target_fd(const struct rst_ctx *r, uint32_t file_id);

/* A removed directory made again for a moment, so that a process can enter
 * or open it and then see it removed ("path (deleted)"): at its path, with
 * the parents that are missing; at a new name next to it when the path is
 * taken (said in a warning). */
struct dir_remade {
	char path[4096];    /* what was made (the path, or the new name) */
	char parents[4096]; /* the path asked for */
	size_t made[32];    /* lengths of the parents made, outermost first */
	int nmade;
};
int dir_remake(const char *path, struct dir_remade *dr);
/* Remove it again, and the parents made for it; 0 or -errno (logged). */
int dir_unmake(struct dir_remade *dr);

#endif
