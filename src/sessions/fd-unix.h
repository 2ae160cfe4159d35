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
