/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unix domain sockets: what fd-unix.c (the sockets) and fd-unix-queue.c
 * (their receive queues, with the descriptors in flight) share.
 */
#ifndef RTCR_FD_UNIX_H
#define RTCR_FD_UNIX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include "sessions/files.h"

#define UNIX_QUEUE_MAX	(64U << 20) /* bytes of one receive queue saved */
#define UNIX_QUEUE_MSGS (1U << 20)  /* and messages */
#define SUN_PATH_LEN	((int)sizeof(((struct sockaddr_un *)0)->sun_path))
#define ST_CONNECTED	1   /* TCP_ESTABLISHED */
#define ST_CLOSE	7   /* TCP_CLOSE */
#define ST_LISTEN	10  /* TCP_LISTEN */
#define SHUT_BITS	3   /* RCV_SHUTDOWN | SEND_SHUTDOWN */
#define PASS_MAX	253 /* SCM_MAX_FD: descriptors in one message */

/* "stream", "dgram", "seqpacket" */
const char *unix_type_name(uint32_t type);
/* A sender's pid as the target sees it (its ns pid if it is one of the
 * target's processes pids[], else 0). */
pid_t unix_target_view(struct ckpt_ctx *c, const pid_t *pids, size_t npids, pid_t pid);
/* Copy len bytes into a protobuf bytes field (and set its has_). */
int unix_set_bytes(ProtobufCBinaryData *b, protobuf_c_boolean *has, const void *p, size_t len);

/* ---- sock_diag (fd-unix-diag.c) ---- */
/* What sock_diag says about one unix socket. */
struct udiag {
	uint8_t type, state;
	uint32_t ino;
	uint8_t name[SUN_PATH_LEN + 1];
	size_t namelen; /* 0: unnamed */
	bool has_vfs;
	uint32_t vfs_ino, vfs_dev; /* vfs_dev: the kernel's dev_t (major << 20 | minor) */
	bool has_peer;
	uint32_t peer;
	bool has_rqlen;
	uint32_t rqueue, wqueue;
	uint8_t shutdown;
	uint32_t nicons;	  /* connections waiting in a listener's backlog */
	const uint8_t *icons_raw; /* their clients' inodes, in the reply (diag_dump) */
	uint32_t *icons;	  /* diag_get: a copy of them (free it) */
};

/* A NETLINK_SOCK_DIAG socket, or -errno (logged). */
int diag_open(void);
/* The unix socket with inode ino: 0, -ENOENT if there is none, or -errno
 * (logged); d->icons allocated if it is a listener with connections. */
int diag_get(int nl, uint32_t ino, struct udiag *d);
/* Does the kernel's dev_t of sock_diag (major << 20 | minor) equal dev? */
bool kdev_eq(uint32_t kdev, dev_t dev);
/* Is a live unix socket bound to the socket file (dev, ino)? 1 yes, 0 no, -errno. */
int bound_to_file(dev_t dev, ino_t ino);
/* The listener whose backlog holds a connection from socket:[client] (not
 * accept()ed yet): 1 and *listener, 0 if none, -errno. */
int unix_find_listener(uint32_t client, uint32_t *listener);

/* ---- checkpoint: the receive queue (fd-unix-queue.c) ---- */
struct peeked {
	uint64_t bytes;
	bool ctrunc;  /* more descriptors in flight in one message than read */
	size_t named; /* datagrams from a named sender */
};

/* Read the receive queue of sk (the parent's copy of the target's fd)
 * into u->queue without consuming it; -EFBIG: too much queued. */
int unix_peek_queue(struct ckpt_ctx *c, int fd, const char *desc, int sk, uint32_t type,
		    Rtcr__UnixSocketFile *u, struct peeked *pk, const pid_t *pids, size_t npids);

/* A pipe or FIFO end only in flight (kind FILE_PIPE / FILE_FIFO of File f,
 * which files_add made): its pipe part, read from fd, the parent's
 * descriptor of it (fd-pipe.c; fi->fd is the socket's, for messages). */
int pipe_dump_flight(struct ckpt_ctx *c, const struct fd_info *fi, Rtcr__File *f, int fd);

/* ---- restore (fd-unix-queue.c) ---- */
/* Check the queue of File f against the image (at prepare). */
int unix_check_queue(const Rtcr__Image *img, const Rtcr__File *f, const Rtcr__UnixSocketFile *u);
/* Does a queued message carry descriptors in flight? */
bool unix_queue_has_fds(const Rtcr__UnixSocketFile *u);
/* Refill the receive queue of File f from sender `from` (to its address
 * if `to`), keeping the sender's send buffer size. */
int unix_refill(struct rst_ctx *r, const Rtcr__File *f, int from, const struct sockaddr_un *to,
		socklen_t tolen);

#endif
