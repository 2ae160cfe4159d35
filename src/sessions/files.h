/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Descriptor kinds. files.c walks the descriptor table; every kind of open
 * file (regular file, pipe, socket, eventfd...) is one struct fd_ops in its
 * own file (src/sessions/fd-*.c) with its checkpoint and restore side, and
 * one line in fd_kinds[] (files.c). Its image part is File.<kind> (one
 * proto/fd-*.proto per kind).
 */
#ifndef RTCR_FILES_H
#define RTCR_FILES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

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

/* Call every kind's cleanup (restore.c, at the end of a restore). */
void files_cleanup(struct rst_ctx *r);

/* The File of the image with this id (NULL if none). */
const Rtcr__File *files_by_id(const Rtcr__Image *img, uint32_t id);
/* The fd number a File has in the target after restore (its first Fd), or -1. */
int files_target_fd(const struct rst_ctx *r, uint32_t file_id);

/* Kinds; weak until each one exists, so the table can list them all. */
extern const struct fd_ops fd_reg, fd_dir, fd_chr, fd_log;
extern const struct fd_ops fd_pipe __attribute__((weak)), fd_fifo __attribute__((weak)),
    fd_unix __attribute__((weak)), fd_inet __attribute__((weak)), fd_eventfd __attribute__((weak)),
    fd_timerfd __attribute__((weak)), fd_signalfd __attribute__((weak)),
    fd_epoll __attribute__((weak)), fd_inotify __attribute__((weak)),
    fd_memfd __attribute__((weak)), fd_ghost __attribute__((weak));
extern const struct fd_ops fd_mqueue __attribute__((weak)); /* fd-mqueue.c */

#endif
