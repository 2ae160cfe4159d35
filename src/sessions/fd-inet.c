/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * TCP and UDP sockets, IPv4 and IPv6 (File.inet, proto/fd-socket.proto).
 *
 * Checkpoint (the target is paused): the socket is taken into the parent
 * (pidfd_getfd); family, type, protocol, local address (getsockname), the
 * TCP state, listen backlog and accept queue (TCP_INFO: for a listener
 * tcpi_sacked is the backlog, tcpi_unacked the connections waiting to be
 * accept()ed), the peer of a connected UDP socket (getpeername) and the
 * options that differ from a new socket's (fd-socket.c) are recorded.
 *
 * What is restored: TCP sockets that listen or are not connected (bound or
 * not), UDP sockets bound or connected, with their address and port,
 * backlog and options. Refused at checkpoint, with a message naming the
 * socket: TCP connections in any other state ("TCP connection 127.0.0.1:5000
 * -> 127.0.0.1:40000 (established) is not supported yet"), connections
 * waiting in a listener's accept queue, and other kinds of IP sockets (raw,
 * ICMP, SCTP, UDP-Lite, MPTCP). Datagrams queued on a UDP socket are not
 * saved: a restore could not send them again with their original source
 * address. Such a socket is refused, naming how many datagrams and bytes,
 * unless that loss (udp-queue) is accepted: then the restored socket starts
 * with an empty queue and the image records the loss (ckpt_loss).
 *
 * Restore: the address must be free on this machine (checked at prepare
 * with a socket bound to it for a moment: "TCP port 5000 is in use (is the
 * original still running?)", unless the socket had SO_REUSEPORT and the
 * original socket allows sharing it). The socket is made in the parent (the
 * restore runs as root in the host's network namespace, as the target
 * does), so its owner is rtcr's user (ss -e shows uid 0); options are set,
 * it is bound (a TCP socket with SO_REUSEADDR for the while, so that
 * TIME_WAIT connections of the original on the port do not stand in the
 * way; cleared again after listen() unless the target had it), listens or
 * connects, and is passed in with its status flags (O_NONBLOCK).
 */
#define LOG_PREFIX "inet: "
#include "sessions/files.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "sessions/fd-socket.h"

#define ST_ESTABLISHED 1 /* TCP_ESTABLISHED: a connected UDP socket */
#define ST_CLOSE       7
#define ST_LISTEN      10

static const char *tcp_state_name(unsigned s)
{
	static const char *const names[] = {
	    "unknown",	 "established", "syn-sent",	"syn-recv",	  "fin-wait1",
	    "fin-wait2", "time-wait",	"close",	"close-wait",	  "last-ack",
	    "listen",	 "closing",	"new-syn-recv", "bound-inactive",
	};

	return s < sizeof(names) / sizeof(names[0]) ? names[s] : "unknown";
}

static const char *proto_name(const struct sk_kind *k)
{
	return k->mask & SKF_TCP ? "TCP" : "UDP";
}

/* "127.0.0.1:5000", "[::1]:5000" */
static const char *sa_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, ntohs(s4->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, ntohs(s6->sin6_port));
	} else {
		snprintf(buf, len, "(address family %u)", ss->ss_family);
	}
	return buf;
}

/* Address bytes and port of a sockaddr_in/_in6. */
static void sa_split(const struct sockaddr_storage *ss, const void **addr, size_t *alen,
		     uint32_t *port, uint32_t *scope)
{
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		*addr = &s6->sin6_addr;
		*alen = sizeof(s6->sin6_addr);
		*port = ntohs(s6->sin6_port);
		*scope = s6->sin6_scope_id;
		return;
	}
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

	*addr = &s4->sin_addr;
	*alen = sizeof(s4->sin_addr);
	*port = ntohs(s4->sin_port);
	*scope = 0;
}

static socklen_t sa_make(int family, const ProtobufCBinaryData *addr, bool has_addr, uint32_t port,
			 uint32_t scope, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		s6->sin6_scope_id = scope;
		if (has_addr)
			memcpy(&s6->sin6_addr, addr->data, sizeof(s6->sin6_addr));
		return sizeof(*s6);
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)port);
	if (has_addr)
		memcpy(&s4->sin_addr, addr->data, sizeof(s4->sin_addr));
	return sizeof(*s4);
}

static bool addr_is_any(const ProtobufCBinaryData *a, bool has)
{
	if (!has)
		return true;
	for (size_t i = 0; i < a->len; i++)
		if (a->data[i])
			return false;
	return true;
}

static int set_addr(ProtobufCBinaryData *b, protobuf_c_boolean *has, const void *p, size_t len)
{
	b->data = malloc(len);
	if (!b->data)
		return -ENOMEM;
	memcpy(b->data, p, len);
	b->len = len;
	*has = 1;
	return 0;
}

/* ---------- checkpoint ---------- */

static bool inet_match(struct ckpt_ctx *c, const struct fd_info *fi)
{
	int fam;

	if (!S_ISSOCK(fi->st.st_mode))
		return false;
	fam = sk_family_of(c->pid, fi->fd);
	return fam == AF_INET || fam == AF_INET6;
}

static int getint(int sk, int level, int opt, int *v)
{
	socklen_t len = sizeof(*v);

	return getsockopt(sk, level, opt, v, &len) < 0 ? -errno : 0;
}

/* The datagrams queued on a UDP socket: how many, and their payload bytes.
 * Peeked one after the other with a peek offset (SO_PEEK_OFF, put back),
 * so the queue is left as it was. */
static void udp_queued(int sk, uint64_t *count, uint64_t *bytes)
{
	const size_t blen = 65536;
	char *buf = malloc(blen);
	int peek_off = -1, zero = 0;
	ssize_t n;

	*count = *bytes = 0;
	getint(sk, SOL_SOCKET, SO_PEEK_OFF, &peek_off);
	if (!buf || setsockopt(sk, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero)) < 0) {
		free(buf);
		/* no peek offset: only whether there is one */
		if (recv(sk, NULL, 0, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC) >= 0)
			*count = 1;
		return;
	}
	for (unsigned i = 0; i < 1000000; i++) {
		do
			n = recv(sk, buf, blen, MSG_PEEK | MSG_DONTWAIT);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			break;
		(*count)++;
		*bytes += (uint64_t)n;
	}
	setsockopt(sk, SOL_SOCKET, SO_PEEK_OFF, &peek_off, sizeof(peek_off));
	free(buf);
}

/* Queued datagrams are lost at restore: a restore cannot send them again
 * from their source addresses. Refused unless that loss is accepted. */
static int udp_queue_loss(struct ckpt_ctx *c, int sk, int fd, const char *local,
			  Rtcr__InetSocketFile *in)
{
	char what[192];
	uint64_t count, bytes;

	udp_queued(sk, &count, &bytes);
	if (!count)
		return 0;
	in->has_dropped = in->dropped = 1;
	snprintf(what, sizeof(what),
		 "UDP socket %s: %" PRIu64 " queued datagram%s, %" PRIu64 " bytes", local, count,
		 count == 1 ? "" : "s", bytes);
	return ckpt_loss(c, RTCR__LOSS_KIND__LOSS_UDP_QUEUE, fd, count, bytes, what);
}

static int inet_dump(struct ckpt_ctx *c, const struct fd_info *fi, Rtcr__File *f)
{
	struct sockaddr_storage ss, ps;
	Rtcr__InetSocketFile *in;
	struct tcp_info ti;
	struct sk_kind k;
	socklen_t len;
	char local[80], peer[80];
	const void *a;
	size_t alen;
	int sk, family = 0, type = 0, protocol = 0, ret;

	in = calloc(1, sizeof(*in));
	if (!in)
		return -ENOMEM;
	rtcr__inet_socket_file__init(in);
	f->inet = in;
	sk = sk_take(c->pid, c->ns_pid, fi->fd);
	if (sk < 0)
		return sk;
	if ((ret = getint(sk, SOL_SOCKET, SO_DOMAIN, &family)) ||
	    (ret = getint(sk, SOL_SOCKET, SO_TYPE, &type)) ||
	    (ret = getint(sk, SOL_SOCKET, SO_PROTOCOL, &protocol))) {
		pr_err("pid %d: fd %d: socket family, type, protocol: %s", c->ns_pid, fi->fd,
		       strerror(-ret));
		goto out;
	}
	if (!sk_kind_init(&k, family, type, protocol)) {
		const char *what = type == SOCK_RAW					    ? "raw"
				   : protocol == IPPROTO_ICMP || protocol == IPPROTO_ICMPV6 ? "ICMP"
				   : protocol == IPPROTO_SCTP				    ? "SCTP"
				   : protocol == IPPROTO_UDPLITE ? "UDP-Lite"
				   : protocol == IPPROTO_MPTCP	 ? "MPTCP"
								 : "this kind of";

		ret = ckpt_refuse(c,
				  "pid %d: fd %d: %s %s socket (type %d, protocol %d) not "
				  "supported yet",
				  c->ns_pid, fi->fd, what, family == AF_INET ? "IPv4" : "IPv6",
				  type, protocol);
		goto out;
	}
	len = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	if (getsockname(sk, (struct sockaddr *)&ss, &len) < 0) {
		ret = pr_perror("pid %d: fd %d: getsockname", c->ns_pid, fi->fd);
		goto out;
	}
	sa_str(&ss, local, sizeof(local));
	in->has_family = in->has_type = in->has_protocol = in->has_state = in->has_ino = 1;
	in->family = (uint32_t)family;
	in->type = (uint32_t)type;
	in->protocol = (uint32_t)protocol;
	in->ino = fi->st.st_ino;
	sa_split(&ss, &a, &alen, &in->port, &in->scope_id);
	in->has_port = in->has_scope_id = 1;
	ret = set_addr(&in->addr, &in->has_addr, a, alen);
	if (ret)
		goto out;
	memset(&ps, 0, sizeof(ps));
	len = sizeof(ps);
	bool connected = getpeername(sk, (struct sockaddr *)&ps, &len) == 0;

	if (connected)
		sa_str(&ps, peer, sizeof(peer));
	if (k.mask & SKF_TCP) {
		memset(&ti, 0, sizeof(ti));
		len = sizeof(ti);
		if (getsockopt(sk, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0) {
			ret = pr_perror("pid %d: fd %d: TCP_INFO", c->ns_pid, fi->fd);
			goto out;
		}
		in->state = ti.tcpi_state;
		if (ti.tcpi_state == ST_LISTEN && ti.tcpi_unacked) {
			ret = ckpt_refuse(c,
					  "pid %d: fd %d: TCP listener %s has %u connection(s) "
					  "not accept()ed yet: not supported yet",
					  c->ns_pid, fi->fd, local, ti.tcpi_unacked);
			goto out;
		}
		if (ti.tcpi_state != ST_LISTEN && ti.tcpi_state != ST_CLOSE) {
			ret = ckpt_refuse(c,
					  "pid %d: fd %d: TCP connection %s -> %s (%s) is not "
					  "supported yet",
					  c->ns_pid, fi->fd, local, connected ? peer : "?",
					  tcp_state_name(ti.tcpi_state));
			goto out;
		}
		if (ti.tcpi_state == ST_LISTEN) {
			in->has_backlog = 1;
			in->backlog = ti.tcpi_sacked;
		}
	} else {
		in->state = connected ? ST_ESTABLISHED : ST_CLOSE;
		if (connected) {
			sa_split(&ps, &a, &alen, &in->peer_port, &in->peer_scope_id);
			in->has_peer_port = in->has_peer_scope_id = 1;
			ret = set_addr(&in->peer_addr, &in->has_peer_addr, a, alen);
			if (ret)
				goto out;
		}
		ret = udp_queue_loss(c, sk, fi->fd, local, in);
		if (ret)
			goto out;
	}
	ret = sk_opts_dump(sk, &k, &in->opts);
out:
	close(sk);
	return ret;
}

/* ---------- restore ---------- */

static bool is_bound(const Rtcr__InetSocketFile *in)
{
	return in->port || !addr_is_any(&in->addr, in->has_addr);
}

static const char *file_addr(const Rtcr__InetSocketFile *in, char *buf, size_t len)
{
	struct sockaddr_storage ss;

	sa_make((int)in->family, &in->addr, in->has_addr, in->port, in->scope_id, &ss);
	return sa_str(&ss, buf, len);
}

/* Bind sk to the File's address; a TCP socket with SO_REUSEADDR on
 * (cleared by the caller when the target did not have it). */
static int bind_addr(int sk, const Rtcr__InetSocketFile *in, const struct sk_kind *k)
{
	struct sockaddr_storage ss;
	socklen_t alen;
	char shown[80];
	int one = 1, ret;

	if (!is_bound(in))
		return 0;
	if ((k->mask & SKF_TCP) && setsockopt(sk, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		return pr_perror("SO_REUSEADDR");
	alen = sa_make((int)in->family, &in->addr, in->has_addr, in->port, in->scope_id, &ss);
	if (bind(sk, (struct sockaddr *)&ss, alen) == 0)
		return 0;
	ret = -errno;
	if (ret == -EADDRINUSE)
		pr_err("restore: %s port %u is in use (is the original still running?)",
		       proto_name(k), in->port);
	else if (ret == -EADDRNOTAVAIL)
		pr_err("restore: %s socket: address %s is not available on this machine",
		       proto_name(k), file_addr(in, shown, sizeof(shown)));
	else
		pr_err("restore: bind a %s socket to %s: %s", proto_name(k),
		       file_addr(in, shown, sizeof(shown)), strerror(-ret));
	return ret;
}

static int inet_prepare(struct rst_ctx *r, const Rtcr__File *f)
{
	const Rtcr__InetSocketFile *in = f->inet;
	size_t alen;
	struct sk_kind k;
	int probe, ret;

	if (!in) {
		pr_err("file %u: IP socket without its socket part", f->id);
		return -EINVAL;
	}
	if (!in->has_family || !in->has_type || !in->has_protocol ||
	    !sk_kind_init(&k, (int)in->family, (int)in->type, (int)in->protocol) ||
	    (k.mask & SKF_UNIX)) {
		pr_err("file %u: IP socket of unknown family %u, type %u, protocol %u", f->id,
		       in->family, in->type, in->protocol);
		return -EINVAL;
	}
	alen = in->family == AF_INET ? 4 : 16;
	if (!in->has_state ||
	    ((k.mask & SKF_TCP) && in->state != ST_LISTEN && in->state != ST_CLOSE) ||
	    ((k.mask & SKF_UDP) && in->state != ST_ESTABLISHED && in->state != ST_CLOSE)) {
		pr_err("file %u: %s socket in state %u cannot be restored", f->id, proto_name(&k),
		       in->state);
		return -EINVAL;
	}
	if ((in->has_addr && in->addr.len != alen) || in->port > 65535 || in->backlog > INT_MAX) {
		pr_err("file %u: %s socket with an invalid address, port or backlog", f->id,
		       proto_name(&k));
		return -EINVAL;
	}
	if (in->state == ST_ESTABLISHED && (!in->has_peer_addr || in->peer_addr.len != alen ||
					    !in->peer_port || in->peer_port > 65535)) {
		pr_err("file %u: connected UDP socket with an invalid peer address", f->id);
		return -EINVAL;
	}
	ret = sk_opts_validate(in->opts, &k, f->id);
	if (ret || !is_bound(in))
		return ret;
	/* is the address free here? */
	probe = socket((int)in->family, (int)in->type | SOCK_CLOEXEC, (int)in->protocol);
	if (probe < 0)
		return pr_perror("socket");
	ret = sk_opts_apply(probe, in->opts, &k);
	if (!ret)
		ret = bind_addr(probe, in, &k);
	close(probe);
	return ret;
}

static int inet_open(struct rst_ctx *r, const Rtcr__File *f, int *ourfd, int *tfd)
{
	const Rtcr__InetSocketFile *in = f->inet;
	struct sockaddr_storage ss;
	struct sk_kind k;
	socklen_t alen;
	char shown[80];
	int sk, ret, zero = 0;

	sk_kind_init(&k, (int)in->family, (int)in->type, (int)in->protocol);
	sk = socket((int)in->family, (int)in->type | SOCK_CLOEXEC, (int)in->protocol);
	if (sk < 0)
		return pr_perror("restore: %s socket", proto_name(&k));
	ret = sk_opts_apply(sk, in->opts, &k);
	if (ret)
		goto out;
	ret = bind_addr(sk, in, &k);
	if (ret)
		goto out;
	if (in->state == ST_LISTEN && listen(sk, (int)in->backlog) < 0) {
		ret = -errno;
		if (ret == -EADDRINUSE)
			pr_err("restore: TCP port %u is in use (is the original still running?)",
			       in->port);
		else
			pr_err("restore: listen on %s: %s", file_addr(in, shown, sizeof(shown)),
			       strerror(-ret));
		goto out;
	}
	if ((k.mask & SKF_TCP) && is_bound(in) &&
	    !(in->opts && in->opts->has_reuseaddr && in->opts->reuseaddr) &&
	    setsockopt(sk, SOL_SOCKET, SO_REUSEADDR, &zero, sizeof(zero)) < 0) {
		ret = pr_perror("restore: clear SO_REUSEADDR");
		goto out;
	}
	if (in->state == ST_ESTABLISHED && (k.mask & SKF_UDP)) {
		alen = sa_make((int)in->family, &in->peer_addr, true, in->peer_port,
			       in->peer_scope_id, &ss);
		if (connect(sk, (struct sockaddr *)&ss, alen) < 0) {
			ret = pr_perror("restore: connect a UDP socket to %s",
					sa_str(&ss, shown, sizeof(shown)));
			goto out;
		}
	}
	if ((f->flags & O_NONBLOCK) && fcntl(sk, F_SETFL, O_NONBLOCK) < 0) {
		ret = pr_perror("restore: file %u: set O_NONBLOCK", f->id);
		goto out;
	}
	*ourfd = sk;
	return 0;
out:
	close(sk);
	return ret;
}

const struct fd_ops fd_inet = {
    .name = "IP socket",
    .kind = RTCR__FILE_KIND__FILE_INET,
    .match = inet_match,
    .dump = inet_dump,
    .prepare = inet_prepare,
    .open = inet_open,
};
