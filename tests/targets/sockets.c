/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sockets DIR: unix and IP sockets of every supported kind, with data
 * queued, verified on SIGUSR1:
 *   a TCP listener on 127.0.0.1 (ephemeral port, backlog 7, SO_REUSEADDR,
 *   TCP_NODELAY, SO_KEEPALIVE, SO_RCVBUF), a TCP listener on [::1] with
 *   IPV6_V6ONLY (when the machine has IPv6 loopback), a UDP socket bound to
 *   127.0.0.1 and one connected to it;
 *   a stream socketpair with 100000 bytes queued one way and 3000 the other
 *   (SO_SNDBUF on one end, SO_PEEK_OFF 5 on the other), a datagram
 *   socketpair with 3 messages of different sizes queued one way and an
 *   empty one plus a 1-byte one the other way, a seqpacket pair with 2
 *   messages queued to an end with SO_PASSCRED (their sender credentials
 *   are checked), a stream pair whose one end is closed after writing (the
 *   other reads the data, then EOF), a stream pair shut down for writing on
 *   one side;
 *   a unix stream listener bound to DIR/listen.sock (O_NONBLOCK, backlog
 *   5), a seqpacket listener in the abstract namespace (unique name), a
 *   datagram socket bound to DIR/dgram.sock with 2 datagrams queued.
 * The checks: every byte and message boundary, addresses and ports as
 * before, clients can connect to the listeners and accept() works, options
 * and flags as set.
 *
 * Targets a checkpoint must refuse (they print READY and wait):
 *   sockets DIR established: an established TCP connection over loopback
 *   (both ends);
 *   sockets DIR outside: a unix stream socket connected to DIR/out.stream
 *   and a datagram socket connected to DIR/out.dgram, both bound by a
 *   program outside the target;
 *   sockets DIR rights: a unix socket in flight (SCM_RIGHTS) in a socketpair
 *   that no process holds any more (refused: only regular files, pipes and
 *   FIFOs may be only in flight; see scmrights.c and unixstates.c for what
 *   is restored).
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "tgt.h"

#define BIG  100000
#define BACK 3000

static char big[BIG], back[BACK], abstract_name[64];
static int dsizes[3] = {7, 1500, 40000};
static char dmsg[3][40000];

static struct {
	int tcp, tcp6, udp, udpc;
	int sp[2], dp[2], qp[2], ep[2], hp[2];
	int lpath, labs, dgpath;
} s = {.tcp6 = -1};
static struct sockaddr_in tcp_addr, udp_addr;
static struct sockaddr_in6 tcp6_addr;
static int tcp_rcvbuf, sp_sndbuf;
static char dir[200];

static void fill(char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (char)(seed >> 16);
	}
}

static int geti(int sk, int level, int opt)
{
	int v = -12345;
	socklen_t l = sizeof(v);

	if (getsockopt(sk, level, opt, &v, &l) < 0)
		return -12345;
	return v;
}

static void seti(int sk, int level, int opt, int v, const char *what)
{
	SETUP(setsockopt(sk, level, opt, &v, sizeof(v)) == 0, what);
}

static void send_all(int sk, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(sk, p, n, MSG_NOSIGNAL);

		SETUP(w > 0, "send");
		p += w;
		n -= (size_t)w;
	}
}

static socklen_t unix_addr(struct sockaddr_un *sa, const char *path, int abstract)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (abstract) {
		memcpy(sa->sun_path + 1, path, strlen(path));
		return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(path));
	}
	snprintf(sa->sun_path, sizeof(sa->sun_path), "%s", path);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
}

static int listener(int type, const char *path, int abstract, int backlog)
{
	struct sockaddr_un sa;
	socklen_t l = unix_addr(&sa, path, abstract);
	int sk = socket(AF_UNIX, type, 0);

	SETUP(sk >= 0, "unix socket");
	SETUP(bind(sk, (struct sockaddr *)&sa, l) == 0, "bind unix listener");
	SETUP(listen(sk, backlog) == 0, "listen unix");
	return sk;
}

static void setup_ip(void)
{
	socklen_t l;
	int one = 1;

	/* TCP listener first: the lowest descriptor (its "in use" message
	 * comes first when the original still runs) */
	s.tcp = socket(AF_INET, SOCK_STREAM, 0);
	SETUP(s.tcp >= 0, "tcp socket");
	seti(s.tcp, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
	seti(s.tcp, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
	seti(s.tcp, SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE");
	seti(s.tcp, SOL_SOCKET, SO_RCVBUF, 100000, "SO_RCVBUF");
	memset(&tcp_addr, 0, sizeof(tcp_addr));
	tcp_addr.sin_family = AF_INET;
	tcp_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	SETUP(bind(s.tcp, (struct sockaddr *)&tcp_addr, sizeof(tcp_addr)) == 0, "bind tcp");
	SETUP(listen(s.tcp, 7) == 0, "listen tcp");
	l = sizeof(tcp_addr);
	SETUP(getsockname(s.tcp, (struct sockaddr *)&tcp_addr, &l) == 0, "getsockname tcp");
	tcp_rcvbuf = geti(s.tcp, SOL_SOCKET, SO_RCVBUF);

	s.tcp6 = socket(AF_INET6, SOCK_STREAM, 0);
	if (s.tcp6 >= 0) {
		memset(&tcp6_addr, 0, sizeof(tcp6_addr));
		tcp6_addr.sin6_family = AF_INET6;
		tcp6_addr.sin6_addr = in6addr_loopback;
		setsockopt(s.tcp6, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		l = sizeof(tcp6_addr);
		if (bind(s.tcp6, (struct sockaddr *)&tcp6_addr, sizeof(tcp6_addr)) < 0 ||
		    listen(s.tcp6, 3) < 0 ||
		    getsockname(s.tcp6, (struct sockaddr *)&tcp6_addr, &l) < 0) {
			close(s.tcp6); /* no IPv6 loopback here */
			s.tcp6 = -1;
		}
	}

	s.udp = socket(AF_INET, SOCK_DGRAM, 0);
	SETUP(s.udp >= 0, "udp socket");
	memset(&udp_addr, 0, sizeof(udp_addr));
	udp_addr.sin_family = AF_INET;
	udp_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	SETUP(bind(s.udp, (struct sockaddr *)&udp_addr, sizeof(udp_addr)) == 0, "bind udp");
	l = sizeof(udp_addr);
	SETUP(getsockname(s.udp, (struct sockaddr *)&udp_addr, &l) == 0, "getsockname udp");
	s.udpc = socket(AF_INET, SOCK_DGRAM, 0);
	SETUP(s.udpc >= 0, "udp socket");
	SETUP(connect(s.udpc, (struct sockaddr *)&udp_addr, sizeof(udp_addr)) == 0, "connect udp");
}

static void setup_unix(void)
{
	char path[300];
	struct sockaddr_un sa;
	socklen_t l;
	int tmp;

	fill(big, BIG, 1);
	fill(back, BACK, 2);
	for (int i = 0; i < 3; i++)
		fill(dmsg[i], (size_t)dsizes[i], 10u + (unsigned)i);

	SETUP(socketpair(AF_UNIX, SOCK_STREAM, 0, s.sp) == 0, "socketpair stream");
	seti(s.sp[0], SOL_SOCKET, SO_SNDBUF, 150000, "SO_SNDBUF");
	sp_sndbuf = geti(s.sp[0], SOL_SOCKET, SO_SNDBUF);
	send_all(s.sp[0], big, BIG);
	send_all(s.sp[1], back, BACK);
	seti(s.sp[1], SOL_SOCKET, SO_PEEK_OFF, 5, "SO_PEEK_OFF");

	SETUP(socketpair(AF_UNIX, SOCK_DGRAM, 0, s.dp) == 0, "socketpair dgram");
	for (int i = 0; i < 3; i++)
		SETUP(send(s.dp[0], dmsg[i], (size_t)dsizes[i], 0) == dsizes[i], "send dgram");
	SETUP(send(s.dp[1], "", 0, 0) == 0, "send empty dgram");
	SETUP(send(s.dp[1], "x", 1, 0) == 1, "send dgram");

	SETUP(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, s.qp) == 0, "socketpair seqpacket");
	seti(s.qp[1], SOL_SOCKET, SO_PASSCRED, 1, "SO_PASSCRED");
	SETUP(send(s.qp[0], "seq-one", 7, 0) == 7, "send seqpacket");
	SETUP(send(s.qp[0], "seq-two-longer", 14, 0) == 14, "send seqpacket");

	SETUP(socketpair(AF_UNIX, SOCK_STREAM, 0, s.ep) == 0, "socketpair");
	send_all(s.ep[0], "bye", 3);
	close(s.ep[0]);
	s.ep[0] = -1;

	SETUP(socketpair(AF_UNIX, SOCK_STREAM, 0, s.hp) == 0, "socketpair");
	send_all(s.hp[0], "half", 4);
	SETUP(shutdown(s.hp[0], SHUT_WR) == 0, "shutdown");

	snprintf(path, sizeof(path), "%s/listen.sock", dir);
	s.lpath = listener(SOCK_STREAM, path, 0, 5);
	SETUP(fcntl(s.lpath, F_SETFL, O_NONBLOCK) == 0, "O_NONBLOCK");
	snprintf(abstract_name, sizeof(abstract_name), "rtcr-test-%d-%ld", (int)getpid(),
		 (long)time(NULL));
	s.labs = listener(SOCK_SEQPACKET, abstract_name, 1, 4);

	snprintf(path, sizeof(path), "%s/dgram.sock", dir);
	s.dgpath = socket(AF_UNIX, SOCK_DGRAM, 0);
	SETUP(s.dgpath >= 0, "socket");
	l = unix_addr(&sa, path, 0);
	SETUP(bind(s.dgpath, (struct sockaddr *)&sa, l) == 0, "bind dgram");
	tmp = socket(AF_UNIX, SOCK_DGRAM, 0);
	SETUP(tmp >= 0, "socket");
	SETUP(sendto(tmp, "to-path-1", 9, 0, (struct sockaddr *)&sa, l) == 9, "sendto");
	SETUP(sendto(tmp, "to-path-2!", 10, 0, (struct sockaddr *)&sa, l) == 10, "sendto");
	close(tmp);
}

/* Read exactly n bytes that must equal want. */
static void expect_stream(int sk, const char *want, size_t n, const char *what)
{
	static char buf[BIG];
	size_t got = 0;

	while (got < n) {
		ssize_t r = recv(sk, buf + got, n - got, MSG_DONTWAIT);

		if (r <= 0) {
			CHECK(0, "%s: got %zu of %zu bytes (%s)", what, got, n,
			      r ? strerror(errno) : "EOF");
			return;
		}
		got += (size_t)r;
	}
	CHECK(!memcmp(buf, want, n), "%s: data differs", what);
}

static void expect_empty(int sk, const char *what)
{
	char c;
	ssize_t r = recv(sk, &c, 1, MSG_DONTWAIT);

	CHECK(r < 0 && errno == EAGAIN, "%s: more queued than expected (recv %zd)", what, r);
}

static void expect_eof(int sk, const char *what)
{
	char c;
	ssize_t r = recv(sk, &c, 1, MSG_DONTWAIT);

	CHECK(r == 0, "%s: expected EOF, recv gave %zd (%s)", what, r,
	      r < 0 ? strerror(errno) : "");
}

static void expect_msg(int sk, const char *want, int n, const char *what, int creds)
{
	static char buf[65536];
	char cbuf[CMSG_SPACE(sizeof(struct ucred))];
	struct iovec iov = {buf, sizeof(buf)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *cm;
	int seen = 0;
	ssize_t r;

	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	r = recvmsg(sk, &mh, MSG_DONTWAIT);
	if (r < 0) {
		CHECK(0, "%s: recv: %s", what, strerror(errno));
		return;
	}
	CHECK(r == n && !memcmp(buf, want, (size_t)n), "%s: got %zd bytes, expected %d", what, r,
	      n);
	CHECK(!(mh.msg_flags & MSG_TRUNC), "%s: truncated", what);
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		struct ucred cr;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_CREDENTIALS)
			continue;
		memcpy(&cr, CMSG_DATA(cm), sizeof(cr));
		seen = 1;
		CHECK(cr.pid == getpid() && cr.uid == getuid() && cr.gid == getgid(),
		      "%s: credentials pid %d uid %d gid %d, expected %d %d %d", what, cr.pid,
		      cr.uid, cr.gid, getpid(), getuid(), getgid());
	}
	if (creds)
		CHECK(seen, "%s: no SCM_CREDENTIALS", what);
}

/* A client connects, the listener accepts, a byte goes through. */
static void try_accept(int lsk, int family, int type, const struct sockaddr *sa, socklen_t l,
		       const char *what)
{
	int c = socket(family, type, 0), a = -1;
	char b = 0;

	if (c < 0) {
		CHECK(0, "%s: socket: %s", what, strerror(errno));
		return;
	}
	if (connect(c, sa, l) < 0) {
		CHECK(0, "%s: connect: %s", what, strerror(errno));
		goto out;
	}
	for (int i = 0; i < 50 && a < 0; i++) {
		a = accept(lsk, NULL, NULL);
		if (a < 0 && errno == EAGAIN)
			tgt_sleep_ms(20);
		else if (a < 0)
			break;
	}
	if (a < 0) {
		CHECK(0, "%s: accept: %s", what, strerror(errno));
		goto out;
	}
	CHECK(send(c, "!", 1, 0) == 1 && recv(a, &b, 1, 0) == 1 && b == '!',
	      "%s: no data through the accepted connection", what);
	close(c);
	c = -1;
	close(a);
out:
	if (c >= 0)
		close(c);
}

static void verify_ip(void)
{
	struct sockaddr_in sa;
	struct sockaddr_in6 sa6;
	socklen_t l = sizeof(sa);
	char b[16];

	CHECK(getsockname(s.tcp, (struct sockaddr *)&sa, &l) == 0 &&
		  sa.sin_port == tcp_addr.sin_port &&
		  sa.sin_addr.s_addr == tcp_addr.sin_addr.s_addr,
	      "TCP listener address changed");
	CHECK(geti(s.tcp, SOL_SOCKET, SO_ACCEPTCONN) == 1, "TCP socket does not listen");
	CHECK(geti(s.tcp, SOL_SOCKET, SO_REUSEADDR) == 1, "TCP SO_REUSEADDR lost");
	CHECK(geti(s.tcp, IPPROTO_TCP, TCP_NODELAY) == 1, "TCP_NODELAY lost");
	CHECK(geti(s.tcp, SOL_SOCKET, SO_KEEPALIVE) == 1, "SO_KEEPALIVE lost");
	CHECK(geti(s.tcp, SOL_SOCKET, SO_RCVBUF) == tcp_rcvbuf, "TCP SO_RCVBUF %d, expected %d",
	      geti(s.tcp, SOL_SOCKET, SO_RCVBUF), tcp_rcvbuf);
	try_accept(s.tcp, AF_INET, SOCK_STREAM, (struct sockaddr *)&tcp_addr, sizeof(tcp_addr),
		   "TCP listener");
	if (s.tcp6 >= 0) {
		l = sizeof(sa6);
		CHECK(getsockname(s.tcp6, (struct sockaddr *)&sa6, &l) == 0 &&
			  sa6.sin6_port == tcp6_addr.sin6_port,
		      "TCP6 listener address changed");
		CHECK(geti(s.tcp6, IPPROTO_IPV6, IPV6_V6ONLY) == 1, "IPV6_V6ONLY lost");
		try_accept(s.tcp6, AF_INET6, SOCK_STREAM, (struct sockaddr *)&tcp6_addr,
			   sizeof(tcp6_addr), "TCP6 listener");
	}
	l = sizeof(sa);
	CHECK(getsockname(s.udp, (struct sockaddr *)&sa, &l) == 0 &&
		  sa.sin_port == udp_addr.sin_port,
	      "UDP address changed");
	l = sizeof(sa);
	CHECK(getpeername(s.udpc, (struct sockaddr *)&sa, &l) == 0 &&
		  sa.sin_port == udp_addr.sin_port,
	      "connected UDP socket lost its peer");
	CHECK(send(s.udpc, "udp!", 4, 0) == 4, "UDP send: %s", strerror(errno));
	tgt_sleep_ms(20);
	CHECK(recv(s.udp, b, sizeof(b), MSG_DONTWAIT) == 4 && !memcmp(b, "udp!", 4),
	      "UDP datagram did not arrive");
}

static void verify_unix(void)
{
	struct sockaddr_un sa, want;
	socklen_t l = sizeof(sa), wl;
	char path[300], c;

	/* stream pair */
	CHECK(geti(s.sp[1], SOL_SOCKET, SO_PEEK_OFF) == 5, "SO_PEEK_OFF %d, expected 5",
	      geti(s.sp[1], SOL_SOCKET, SO_PEEK_OFF));
	CHECK(recv(s.sp[1], &c, 1, MSG_PEEK | MSG_DONTWAIT) == 1 && c == big[5],
	      "peek at offset 5 does not see byte 5");
	CHECK(geti(s.sp[0], SOL_SOCKET, SO_SNDBUF) == sp_sndbuf, "SO_SNDBUF %d, expected %d",
	      geti(s.sp[0], SOL_SOCKET, SO_SNDBUF), sp_sndbuf);
	expect_stream(s.sp[1], big, BIG, "stream pair 0->1");
	expect_empty(s.sp[1], "stream pair 0->1");
	expect_stream(s.sp[0], back, BACK, "stream pair 1->0");
	expect_empty(s.sp[0], "stream pair 1->0");
	send_all(s.sp[0], "more", 4);
	expect_stream(s.sp[1], "more", 4, "stream pair after restore");

	/* datagram pair */
	for (int i = 0; i < 3; i++)
		expect_msg(s.dp[1], dmsg[i], dsizes[i], "dgram pair 0->1", 0);
	expect_empty(s.dp[1], "dgram pair 0->1");
	expect_msg(s.dp[0], "", 0, "dgram pair 1->0 (empty)", 0);
	expect_msg(s.dp[0], "x", 1, "dgram pair 1->0", 0);
	expect_empty(s.dp[0], "dgram pair 1->0");

	/* seqpacket pair, with credentials */
	CHECK(geti(s.qp[1], SOL_SOCKET, SO_PASSCRED) == 1, "SO_PASSCRED lost");
	CHECK(geti(s.qp[0], SOL_SOCKET, SO_PASSCRED) == 0, "SO_PASSCRED where it was not");
	expect_msg(s.qp[1], "seq-one", 7, "seqpacket", 1);
	expect_msg(s.qp[1], "seq-two-longer", 14, "seqpacket", 1);
	expect_empty(s.qp[1], "seqpacket");

	/* peer closed */
	expect_stream(s.ep[1], "bye", 3, "closed peer");
	expect_eof(s.ep[1], "closed peer");
	CHECK(send(s.ep[1], "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE,
	      "writing to a closed peer does not give EPIPE");

	/* half shut down */
	expect_stream(s.hp[1], "half", 4, "shut down pair");
	expect_eof(s.hp[1], "shut down pair");
	CHECK(send(s.hp[0], "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE,
	      "a socket shut down for writing can write");
	send_all(s.hp[1], "back", 4);
	expect_stream(s.hp[0], "back", 4, "shut down pair, other way");

	/* path listener */
	snprintf(path, sizeof(path), "%s/listen.sock", dir);
	wl = unix_addr(&want, path, 0);
	CHECK(getsockname(s.lpath, (struct sockaddr *)&sa, &l) == 0 && l == wl &&
		  !strcmp(sa.sun_path, path),
	      "path listener address changed");
	CHECK(fcntl(s.lpath, F_GETFL) & O_NONBLOCK, "O_NONBLOCK lost");
	CHECK(geti(s.lpath, SOL_SOCKET, SO_ACCEPTCONN) == 1, "path socket does not listen");
	CHECK(accept(s.lpath, NULL, NULL) < 0 && errno == EAGAIN,
	      "accept on an idle non-blocking listener did not give EAGAIN");
	try_accept(s.lpath, AF_UNIX, SOCK_STREAM, (struct sockaddr *)&want, wl, "path listener");

	/* abstract listener */
	wl = unix_addr(&want, abstract_name, 1);
	l = sizeof(sa);
	CHECK(getsockname(s.labs, (struct sockaddr *)&sa, &l) == 0 && l == wl &&
		  !memcmp(&sa, &want, wl),
	      "abstract listener address changed");
	CHECK(geti(s.labs, SOL_SOCKET, SO_TYPE) == SOCK_SEQPACKET, "abstract listener type");
	try_accept(s.labs, AF_UNIX, SOCK_SEQPACKET, (struct sockaddr *)&want, wl,
		   "abstract listener");

	/* bound datagram socket */
	expect_msg(s.dgpath, "to-path-1", 9, "bound dgram", 0);
	expect_msg(s.dgpath, "to-path-2!", 10, "bound dgram", 0);
	expect_empty(s.dgpath, "bound dgram");
}

static void established(void)
{
	struct sockaddr_in sa;
	socklen_t l = sizeof(sa);
	int lsk = socket(AF_INET, SOCK_STREAM, 0), c, a;

	SETUP(lsk >= 0, "socket");
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	SETUP(bind(lsk, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind");
	SETUP(listen(lsk, 1) == 0, "listen");
	SETUP(getsockname(lsk, (struct sockaddr *)&sa, &l) == 0, "getsockname");
	c = socket(AF_INET, SOCK_STREAM, 0);
	SETUP(c >= 0 && connect(c, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect");
	a = accept(lsk, NULL, NULL);
	SETUP(a >= 0, "accept");
	say("READY port %u", ntohs(sa.sin_port));
	tgt_wait_usr1();
	tgt_finish();
}

static void outside(void)
{
	struct sockaddr_un sa;
	char path[300];
	socklen_t l;
	int st = socket(AF_UNIX, SOCK_STREAM, 0), dg = socket(AF_UNIX, SOCK_DGRAM, 0);

	SETUP(st >= 0 && dg >= 0, "socket");
	snprintf(path, sizeof(path), "%s/out.stream", dir);
	l = unix_addr(&sa, path, 0);
	SETUP(connect(st, (struct sockaddr *)&sa, l) == 0, "connect out.stream");
	snprintf(path, sizeof(path), "%s/out.dgram", dir);
	l = unix_addr(&sa, path, 0);
	SETUP(connect(dg, (struct sockaddr *)&sa, l) == 0, "connect out.dgram");
	say("READY");
	tgt_wait_usr1();
	tgt_finish();
}

static void rights(void)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {"r", 1};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *cm;
	int sv[2], pp[2], fd;

	SETUP(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	SETUP(socketpair(AF_UNIX, SOCK_STREAM, 0, pp) == 0, "socketpair");
	fd = pp[0];
	/* by hand, not src/base/scm.h: a target shares no code with rtcr, which it tests */
	memset(cbuf, 0, sizeof(cbuf));
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	SETUP(sendmsg(sv[0], &mh, 0) == 1, "sendmsg SCM_RIGHTS");
	close(pp[0]);
	close(pp[1]); /* the socket is only in flight now */
	say("READY");
	tgt_wait_usr1();
	tgt_finish();
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		say("ERROR: usage: sockets DIR [established|outside|rights]");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s", argv[1]);
	tgt_install_usr1();
	if (argc > 2 && !strcmp(argv[2], "established"))
		established();
	if (argc > 2 && !strcmp(argv[2], "outside"))
		outside();
	if (argc > 2 && !strcmp(argv[2], "rights"))
		rights();
	setup_ip();
	setup_unix();
	say("READY");
	tgt_wait_usr1();
	verify_ip();
	verify_unix();
	tgt_finish();
}
