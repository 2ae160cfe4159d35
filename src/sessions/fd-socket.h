/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the socket kinds share (fd-unix.c, fd-inet.c; implemented in
 * fd-socket.c): taking a socket of the paused target into the parent, and
 * the socket options (SockOpts: recorded when they differ from a new
 * socket's, checked and set back at restore).
 */
#ifndef RTCR_FD_SOCKET_H
#define RTCR_FD_SOCKET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "sessions/session.h"

/* Which sockets an option applies to (struct sk_kind.mask). */
#define SKF_UNIX 0x1u
#define SKF_TCP	 0x2u
#define SKF_UDP	 0x4u
#define SKF_V4	 0x8u
#define SKF_V6	 0x10u

struct sk_kind {
	int family, type, protocol;
	unsigned mask; /* SKF_* of this socket */
};

/* Fill k->mask from family, type and protocol (false: not unix, TCP or UDP). */
bool sk_kind_init(struct sk_kind *k, int family, int type, int protocol);

/* A descriptor of ours on the socket that is fd `fd` of process `pid`
 * (pidfd_getfd; close-on-exec); -errno (logged, naming ns_pid and fd). */
int sk_take(pid_t pid, pid_t ns_pid, int fd);
/* The socket family (AF_*) of fd `fd` of process `pid`, or -errno (quiet). */
int sk_family_of(pid_t pid, int fd);

/* Name a socket that no kind takes, for a refusal: "netlink socket
 * (AF_NETLINK, SOCK_RAW, NETLINK_ROUTE)" (family, type, protocol read from
 * a copy of fd `fd` of process `pid`). 0, or -errno (quiet). */
int sk_describe(pid_t pid, int fd, char *buf, size_t len);

/* Read the options of socket sk that differ from a new socket's of kind k
 * into *out (allocated; NULL when none differ). */
int sk_opts_dump(int sk, const struct sk_kind *k, Rtcr__SockOpts **out);
/* Check options from an image against kind k: each one applies to it and
 * has a sane value. file_id names the File in messages. */
int sk_opts_validate(const Rtcr__SockOpts *o, const struct sk_kind *k, uint32_t file_id);
/* Set the options on a new socket of kind k (o may be NULL). */
int sk_opts_apply(int sk, const Rtcr__SockOpts *o, const struct sk_kind *k);

/* Set the size of a buffer (SO_RCVBUF / SO_SNDBUF) to what getsockopt
 * reported (val), with the FORCE variant. */
int sk_set_buf(int sk, int opt, uint32_t val);

#endif
