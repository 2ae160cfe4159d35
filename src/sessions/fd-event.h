/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the anonymous-inode descriptor kinds share (eventfd, timerfd,
 * signalfd, epoll, inotify: fd-eventfd.c ... fd-inotify.c): reading their
 * /proc/PID/fdinfo text, the status flags they accept, getting one of the
 * target's descriptors into the parent, setting status flags at restore.
 */
#ifndef RTCR_FD_EVENT_H
#define RTCR_FD_EVENT_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>

#include "sessions/files.h"

/* Status flags these kinds keep (O_NONBLOCK is given at creation, the
 * others through F_SETFL); any other flag is refused. */
#define EV_KEPT_FLAGS (O_ACCMODE | O_NONBLOCK | O_APPEND | O_NOATIME | O_LARGEFILE)

/* Does fi->link name the anonymous inode `name` ("[eventfd]", "inotify")? */
bool ev_is_anon(const struct fd_info *fi, const char *name);

/* The text after "key" at the start of a line of fdinfo, or NULL. */
const char *ev_field(const char *fdinfo, const char *key);
/* Parse an unsigned number (base 8, 10 or 16) after "key"; -EINVAL if absent. */
int ev_field_u64(const char *fdinfo, const char *key, int base, uint64_t *v);

/* Checkpoint: refuse status flags this kind cannot restore. */
int ev_dump_flags(struct ckpt_ctx *c, const struct fd_info *fi, const char *kind);

/* The target's descriptor fd as a descriptor of ours (pidfd_getfd), or -errno. */
int ev_take_fd(struct ckpt_ctx *c, int fd);

/* Restore: check the parts of f every kind has: its sub-message is there
 * (sub != NULL), its flags are ones we set, its access mode is accmode. */
int ev_prepare_common(const Rtcr__File *f, const void *sub, const char *kind, uint32_t accmode);

/* Set the status flags of f that creation does not (O_APPEND, O_NOATIME),
 * with O_NONBLOCK as in f: on our descriptor (ourfd >= 0) or on the
 * target's tfd by an injected fcntl. `force`: even if f has none of them
 * (the descriptor was created with O_NONBLOCK that f does not have). */
int ev_set_flags(struct rst_ctx *r, const Rtcr__File *f, int ourfd, int tfd, bool force);

/* Close a descriptor of the target (errors logged). */
int ev_target_close(struct rst_ctx *r, int tfd);

#endif
