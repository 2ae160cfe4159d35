/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * unixstates DIR MODE: unix socket states beyond plain pairs and idle
 * listeners, verified on SIGUSR1 (PASS/FAIL):
 *
 *   pending: a stream listener bound to DIR/pend.sock (backlog 4) with two
 *     clients connected and not accept()ed yet (the second one with
 *     O_NONBLOCK), and a seqpacket listener in the abstract namespace with
 *     one, and a stream listener with one whose path was removed after the
 *     connect. After restore accept() returns them in order, each connected
 *     to its client (data both ways, seqpacket boundaries), then EAGAIN; the
 *     removed path stays removed.
 *   unconn: stream sockets never connected: one unbound (SO_PASSCRED,
 *     SO_RCVBUF set), one bound to DIR/unconn.sock (O_NONBLOCK), a
 *     seqpacket one bound in the abstract namespace. After restore: the
 *     same addresses, options and flags, not listening; they can still
 *     connect, and listen and accept.
 *   dgramgone: datagram sockets connected to a peer that was closed since
 *     (a named socket whose path was removed too, and the other end of a
 *     socketpair, which had sent a datagram first), each twice: the first
 *     copy is probed before the checkpoint (two send()s and a recv(): what
 *     the kernel gives), the second one after the restore, which must give
 *     the same.
 *   flight: pipes and a FIFO in flight (SCM_RIGHTS, not received yet) in a
 *     stream socketpair, with data buffered: a read end whose write end
 *     the process keeps, both ends of one pipe only in flight, a read end
 *     whose write end was closed (data, then EOF), a FIFO (DIR/fifo)
 *     opened O_RDWR only in flight. After restore each is received and its
 *     data read; the kept write end still reaches the received read end.
 *   misc: a socketpair whose sender shut down writing with data queued
 *     (and one whose receiver shut down reading with data queued), a
 *     seqpacket pair with message boundaries both ways, a datagram socket
 *     bound in the abstract namespace with a datagram queued, a datagram
 *     socket and a stream listener bound to paths removed after the bind.
 *
 * Modes a checkpoint must refuse (they print READY and wait):
 *   pendingdata: a client that wrote to a connection not accept()ed yet;
 *   flightother: an eventfd only in flight.
 */
#include <fcntl.h>
#include <stddef.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "tgt.h"

static char dir[200], abs1[64], abs2[64], abs3[64];

static socklen_t addr_of(struct sockaddr_un *sa, const char *name, int abstract)
{
	char path[sizeof(dir) + 64];

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (abstract) {
		memcpy(sa->sun_path + 1, name, strlen(name));
		return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
	}
	if (name[0] == '/')
		snprintf(path, sizeof(path), "%s", name);
	else
		snprintf(path, sizeof(path), "%s/%s", dir, name);
	memcpy(sa->sun_path, path, strnlen(path, sizeof(sa->sun_path) - 1));
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(sa->sun_path) + 1);
}

static int bound(int type, const char *name, int abstract)
{
	struct sockaddr_un sa;
	socklen_t l = addr_of(&sa, name, abstract);
	int sk = socket(AF_UNIX, type, 0);

	SETUP(sk >= 0, "socket");
	SETUP(bind(sk, (struct sockaddr *)&sa, l) == 0, "bind");
	return sk;
}

static int connected(int type, const char *name, int abstract)
{
	struct sockaddr_un sa;
	socklen_t l = addr_of(&sa, name, abstract);
	int sk = socket(AF_UNIX, type, 0);

	SETUP(sk >= 0, "socket");
	SETUP(connect(sk, (struct sockaddr *)&sa, l) == 0, "connect");
	return sk;
}

static int geti(int sk, int level, int opt)
{
	int v = -12345;
	socklen_t l = sizeof(v);

	if (getsockopt(sk, level, opt, &v, &l) < 0)
		return -12345;
	return v;
}

/* The address of sk is (name, abstract). */
static int same_name(int sk, const char *name, int abstract)
{
	struct sockaddr_un sa, want;
	socklen_t l = sizeof(sa), wl = addr_of(&want, name, abstract);

	return getsockname(sk, (struct sockaddr *)&sa, &l) == 0 && l == wl &&
	       !memcmp(&sa, &want, l);
}

/* One message of exactly n bytes equal to want. */
static void expect(int sk, const char *want, size_t n, const char *what)
{
	char buf[256];
	ssize_t r = recv(sk, buf, sizeof(buf), MSG_DONTWAIT);

	if (r < 0) {
		CHECK(0, "%s: recv: %s", what, strerror(errno));
		return;
	}
	CHECK((size_t)r == n && !memcmp(buf, want, n),
	      "%s: got %zd bytes (%.*s), expected %zu (%s)", what, r, (int)(r > 0 ? r : 0), buf, n,
	      want);
}

static void expect_again(int sk, const char *what)
{
	char c;
	ssize_t r = recv(sk, &c, 1, MSG_DONTWAIT);

	CHECK(r < 0 && errno == EAGAIN, "%s: expected nothing queued, recv gave %zd (%s)", what, r,
	      r < 0 ? strerror(errno) : "data");
}

/* ---------- pending ---------- */

static struct {
	int l, c1, c2, q, qc, g, gc;
} pd;

static const char *gone_path(void)
{
	static char path[300];

	snprintf(path, sizeof(path), "%s/gone.sock", dir);
	return path;
}

static void pending_setup(void)
{
	pd.l = bound(SOCK_STREAM, "pend.sock", 0);
	SETUP(listen(pd.l, 4) == 0, "listen");
	pd.c1 = connected(SOCK_STREAM, "pend.sock", 0);
	pd.c2 = connected(SOCK_STREAM, "pend.sock", 0);
	SETUP(fcntl(pd.c2, F_SETFL, O_NONBLOCK) == 0, "O_NONBLOCK");
	pd.q = bound(SOCK_SEQPACKET, abs1, 1);
	SETUP(listen(pd.q, 2) == 0, "listen");
	pd.qc = connected(SOCK_SEQPACKET, abs1, 1);
	pd.g = bound(SOCK_STREAM, "gone.sock", 0);
	SETUP(listen(pd.g, 1) == 0, "listen");
	pd.gc = connected(SOCK_STREAM, "gone.sock", 0);
	SETUP(unlink(pd.gc >= 0 ? gone_path() : "") == 0, "unlink");
}

static void pending_one(int l, int c, const char *tag, const char *what)
{
	int a = accept(l, NULL, NULL);

	if (a < 0) {
		CHECK(0, "%s: accept: %s", what, strerror(errno));
		return;
	}
	CHECK(send(a, tag, strlen(tag), 0) == (ssize_t)strlen(tag), "%s: send: %s", what,
	      strerror(errno));
	CHECK(send(c, "to-server", 9, 0) == 9, "%s: client send: %s", what, strerror(errno));
	tgt_sleep_ms(10);
	expect(c, tag, strlen(tag), what);
	expect(a, "to-server", 9, what);
	close(a);
}

static void pending_verify(void)
{
	CHECK(fcntl(pd.l, F_SETFL, O_NONBLOCK) == 0, "O_NONBLOCK");
	CHECK(fcntl(pd.c2, F_GETFL) & O_NONBLOCK, "client 2 lost O_NONBLOCK");
	CHECK(!(fcntl(pd.c1, F_GETFL) & O_NONBLOCK), "client 1 got O_NONBLOCK");
	pending_one(pd.l, pd.c1, "first", "pending connection 1");
	pending_one(pd.l, pd.c2, "second", "pending connection 2");
	CHECK(accept(pd.l, NULL, NULL) < 0 && errno == EAGAIN,
	      "a third connection was pending on the listener");
	CHECK(same_name(pd.l, "pend.sock", 0), "listener address changed");
	CHECK(fcntl(pd.q, F_SETFL, O_NONBLOCK) == 0, "O_NONBLOCK");
	pending_one(pd.q, pd.qc, "seq", "pending seqpacket connection");
	CHECK(accept(pd.q, NULL, NULL) < 0 && errno == EAGAIN,
	      "a second connection was pending on the seqpacket listener");
	pending_one(pd.g, pd.gc, "gone", "pending connection on a removed path");
	CHECK(access(gone_path(), F_OK) < 0 && errno == ENOENT, "%s exists again", gone_path());
}

/* ---------- unconn ---------- */

static struct {
	int u1, u2, u3, rcvbuf;
} uc;

static void unconn_setup(void)
{
	int one = 1, v = 50000;

	uc.u1 = socket(AF_UNIX, SOCK_STREAM, 0);
	SETUP(uc.u1 >= 0, "socket");
	SETUP(setsockopt(uc.u1, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) == 0, "SO_PASSCRED");
	SETUP(setsockopt(uc.u1, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)) == 0, "SO_RCVBUF");
	uc.rcvbuf = geti(uc.u1, SOL_SOCKET, SO_RCVBUF);
	uc.u2 = bound(SOCK_STREAM, "unconn.sock", 0);
	SETUP(fcntl(uc.u2, F_SETFL, O_NONBLOCK) == 0, "O_NONBLOCK");
	uc.u3 = bound(SOCK_SEQPACKET, abs2, 1);
}

static void unconn_verify(void)
{
	struct sockaddr_un sa, want;
	socklen_t l = sizeof(sa), wl;
	int a, c;

	CHECK(geti(uc.u1, SOL_SOCKET, SO_TYPE) == SOCK_STREAM, "unbound: type");
	CHECK(geti(uc.u1, SOL_SOCKET, SO_PASSCRED) == 1, "unbound: SO_PASSCRED lost");
	CHECK(geti(uc.u1, SOL_SOCKET, SO_RCVBUF) == uc.rcvbuf, "unbound: SO_RCVBUF %d, expected %d",
	      geti(uc.u1, SOL_SOCKET, SO_RCVBUF), uc.rcvbuf);
	CHECK(getsockname(uc.u1, (struct sockaddr *)&sa, &l) == 0 &&
		  l == offsetof(struct sockaddr_un, sun_path),
	      "unbound: it has an address now (%u bytes)", l);
	CHECK(getpeername(uc.u1, (struct sockaddr *)&sa, &l) < 0 && errno == ENOTCONN,
	      "unbound: it has a peer");
	CHECK(geti(uc.u1, SOL_SOCKET, SO_ACCEPTCONN) == 0, "unbound: listening");
	CHECK(same_name(uc.u2, "unconn.sock", 0), "bound: address changed");
	CHECK(fcntl(uc.u2, F_GETFL) & O_NONBLOCK, "bound: O_NONBLOCK lost");
	CHECK(geti(uc.u2, SOL_SOCKET, SO_ACCEPTCONN) == 0, "bound: listening");
	CHECK(same_name(uc.u3, abs2, 1), "abstract seqpacket: address changed");
	CHECK(geti(uc.u3, SOL_SOCKET, SO_TYPE) == SOCK_SEQPACKET, "abstract: type");
	/* u2 listens now, u1 connects to it */
	CHECK(listen(uc.u2, 1) == 0, "bound: listen: %s", strerror(errno));
	wl = addr_of(&want, "unconn.sock", 0);
	CHECK(connect(uc.u1, (struct sockaddr *)&want, wl) == 0, "unbound: connect: %s",
	      strerror(errno));
	a = accept(uc.u2, NULL, NULL);
	CHECK(a >= 0, "bound: accept: %s", strerror(errno));
	if (a >= 0) {
		CHECK(send(uc.u1, "hi", 2, 0) == 2, "unbound: send");
		expect(a, "hi", 2, "unconnected sockets connected after restore");
		close(a);
	}
	CHECK(listen(uc.u3, 1) == 0, "abstract: listen: %s", strerror(errno));
	wl = addr_of(&want, abs2, 1);
	c = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	CHECK(c >= 0 && connect(c, (struct sockaddr *)&want, wl) == 0, "abstract: connect: %s",
	      strerror(errno));
	close(c);
}

/* ---------- dgramgone ---------- */

static struct {
	int named[2], pair[2];
	int probe_named[3], probe_pair[3]; /* send, send, recv: 0 or errno */
} dg;

static int result(ssize_t r)
{
	return r < 0 ? errno : 0;
}

static void probe(int sk, int out[3])
{
	char c;

	out[0] = result(send(sk, "x", 1, MSG_DONTWAIT));
	out[1] = result(send(sk, "y", 1, MSG_DONTWAIT));
	out[2] = result(recv(sk, &c, 1, MSG_DONTWAIT));
}

static void dgramgone_setup(void)
{
	char path[300];
	int p, sv[2];

	snprintf(path, sizeof(path), "%s/gone.sock", dir);
	for (int i = 0; i < 2; i++) {
		p = bound(SOCK_DGRAM, "gone.sock", 0);
		dg.named[i] = connected(SOCK_DGRAM, "gone.sock", 0);
		close(p);
		SETUP(unlink(path) == 0, "unlink");
		SETUP(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0, "socketpair");
		SETUP(send(sv[1], "last", 4, 0) == 4, "send");
		close(sv[1]);
		dg.pair[i] = sv[0];
	}
	probe(dg.named[0], dg.probe_named);
	probe(dg.pair[0], dg.probe_pair);
}

static void dgramgone_verify(void)
{
	int got[3];

	probe(dg.named[1], got);
	for (int i = 0; i < 3; i++)
		CHECK(got[i] == dg.probe_named[i],
		      "dgram connected to a closed named socket: call %d gave %s, the original %s",
		      i, strerror(got[i]), strerror(dg.probe_named[i]));
	probe(dg.pair[1], got);
	for (int i = 0; i < 3; i++)
		CHECK(got[i] == dg.probe_pair[i],
		      "dgram pair with the other end closed: call %d gave %s, the original %s", i,
		      strerror(got[i]), strerror(dg.probe_pair[i]));
}

/* ---------- flight ---------- */

static struct {
	int sv[2], keep_w;
} fl;

static void send_fds(int sk, const char *data, const int *fds, int n)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 2)] __attribute__((aligned(8)));
	struct iovec iov = {(void *)data, strlen(data)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *cm;

	memset(cbuf, 0, sizeof(cbuf));
	mh.msg_control = cbuf;
	mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
	memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)n);
	SETUP(sendmsg(sk, &mh, 0) == (ssize_t)strlen(data), "sendmsg SCM_RIGHTS");
}

/* Receive one message of the given text with n descriptors (into fds). */
static int recv_fds(int sk, const char *want, int *fds, int n, const char *what)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 4)] __attribute__((aligned(8)));
	char buf[64];
	struct iovec iov = {buf, strlen(want)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *cm;
	int got = 0;
	ssize_t r;

	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	r = recvmsg(sk, &mh, MSG_DONTWAIT);
	if (r != (ssize_t)strlen(want) || memcmp(buf, want, strlen(want))) {
		CHECK(0, "%s: recvmsg gave %zd (%s)", what, r, r < 0 ? strerror(errno) : "");
		return -1;
	}
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
			for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++)
				if (got < n)
					memcpy(&fds[got++], CMSG_DATA(cm) + i * sizeof(int),
					       sizeof(int));
	CHECK(got == n, "%s: %d descriptors, expected %d", what, got, n);
	return got == n ? 0 : -1;
}

static void read_is(int fd, const char *want, const char *what)
{
	char buf[64];
	ssize_t r = read(fd, buf, sizeof(buf));

	CHECK(r == (ssize_t)strlen(want) && !memcmp(buf, want, strlen(want)),
	      "%s: read %zd bytes (%.*s), expected %s", what, r, (int)(r > 0 ? r : 0), buf, want);
}

static void flight_setup(void)
{
	char path[300];
	int p[2], fd;

	SETUP(socketpair(AF_UNIX, SOCK_STREAM, 0, fl.sv) == 0, "socketpair");
	/* 1: a read end; the process keeps the write end */
	SETUP(pipe(p) == 0, "pipe");
	SETUP(write(p[1], "kept-writer", 11) == 11, "write");
	send_fds(fl.sv[0], "m1", &p[0], 1);
	close(p[0]);
	fl.keep_w = p[1];
	/* 2: both ends only in flight */
	SETUP(pipe(p) == 0, "pipe");
	SETUP(write(p[1], "both-ends", 9) == 9, "write");
	send_fds(fl.sv[0], "m2", p, 2);
	close(p[0]);
	close(p[1]);
	/* 3: a read end, the write end closed */
	SETUP(pipe(p) == 0, "pipe");
	SETUP(write(p[1], "then-eof", 8) == 8, "write");
	send_fds(fl.sv[0], "m3", &p[0], 1);
	close(p[0]);
	close(p[1]);
	/* 4: a FIFO */
	snprintf(path, sizeof(path), "%s/fifo", dir);
	SETUP(mkfifo(path, 0600) == 0, "mkfifo");
	fd = open(path, O_RDWR);
	SETUP(fd >= 0, "open fifo");
	SETUP(write(fd, "fifo-data", 9) == 9, "write");
	send_fds(fl.sv[0], "m4", &fd, 1);
	close(fd);
}

static void flight_verify(void)
{
	int f[2];
	char c;

	if (!recv_fds(fl.sv[1], "m1", f, 1, "pipe read end in flight")) {
		read_is(f[0], "kept-writer", "pipe read end in flight");
		CHECK(write(fl.keep_w, "more", 4) == 4, "kept write end: %s", strerror(errno));
		read_is(f[0], "more", "pipe read end in flight, after restore");
		close(f[0]);
	}
	if (!recv_fds(fl.sv[1], "m2", f, 2, "both pipe ends in flight")) {
		CHECK((fcntl(f[0], F_GETFL) & O_ACCMODE) == O_RDONLY, "read end is not O_RDONLY");
		CHECK((fcntl(f[1], F_GETFL) & O_ACCMODE) == O_WRONLY, "write end is not O_WRONLY");
		read_is(f[0], "both-ends", "both pipe ends in flight");
		CHECK(write(f[1], "again", 5) == 5, "write end in flight: %s", strerror(errno));
		read_is(f[0], "again", "both pipe ends in flight, after restore");
		close(f[0]);
		close(f[1]);
	}
	if (!recv_fds(fl.sv[1], "m3", f, 1, "pipe without a writer in flight")) {
		read_is(f[0], "then-eof", "pipe without a writer in flight");
		CHECK(read(f[0], &c, 1) == 0, "pipe without a writer: no EOF after the data");
		close(f[0]);
	}
	if (!recv_fds(fl.sv[1], "m4", f, 1, "FIFO in flight")) {
		CHECK((fcntl(f[0], F_GETFL) & O_ACCMODE) == O_RDWR, "FIFO is not O_RDWR");
		read_is(f[0], "fifo-data", "FIFO in flight");
		close(f[0]);
	}
	expect_again(fl.sv[1], "socketpair with descriptors in flight");
}

/* ---------- misc ---------- */

static struct {
	int wr[2], rd[2], sq[2], ad, gd, gl;
} ms;

static void misc_setup(void)
{
	char path[300];
	struct sockaddr_un sa;
	socklen_t l;
	int tmp;

	SETUP(socketpair(AF_UNIX, SOCK_STREAM, 0, ms.wr) == 0, "socketpair");
	SETUP(send(ms.wr[0], "before-shut", 11, 0) == 11, "send");
	SETUP(shutdown(ms.wr[0], SHUT_WR) == 0, "shutdown");
	SETUP(socketpair(AF_UNIX, SOCK_STREAM, 0, ms.rd) == 0, "socketpair");
	SETUP(send(ms.rd[0], "to-shut-reader", 14, 0) == 14, "send");
	SETUP(shutdown(ms.rd[1], SHUT_RD) == 0, "shutdown");
	SETUP(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, ms.sq) == 0, "socketpair");
	SETUP(send(ms.sq[0], "a", 1, 0) == 1 && send(ms.sq[0], "bb", 2, 0) == 2 &&
		  send(ms.sq[0], "ccc", 3, 0) == 3 && send(ms.sq[1], "back", 4, 0) == 4,
	      "send seqpacket");
	ms.ad = bound(SOCK_DGRAM, abs3, 1);
	l = addr_of(&sa, abs3, 1);
	tmp = socket(AF_UNIX, SOCK_DGRAM, 0);
	SETUP(tmp >= 0 && sendto(tmp, "abs-dgram", 9, 0, (struct sockaddr *)&sa, l) == 9, "sendto");
	close(tmp);
	ms.gd = bound(SOCK_DGRAM, "gone-dgram.sock", 0);
	ms.gl = bound(SOCK_STREAM, "gone-listen.sock", 0);
	SETUP(listen(ms.gl, 3) == 0, "listen");
	snprintf(path, sizeof(path), "%s/gone-dgram.sock", dir);
	SETUP(unlink(path) == 0, "unlink");
	snprintf(path, sizeof(path), "%s/gone-listen.sock", dir);
	SETUP(unlink(path) == 0, "unlink");
}

static void misc_verify(void)
{
	char buf[32], path[300];
	struct stat st;
	char c;

	expect(ms.wr[1], "before-shut", 11, "pair shut down for writing");
	CHECK(recv(ms.wr[1], &c, 1, MSG_DONTWAIT) == 0, "pair shut down for writing: no EOF");
	CHECK(send(ms.wr[0], "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE,
	      "a socket shut down for writing can write");
	CHECK(send(ms.wr[1], "back", 4, 0) == 4, "the other way: send");
	expect(ms.wr[0], "back", 4, "pair shut down for writing, the other way");
	expect(ms.rd[1], "to-shut-reader", 14, "pair shut down for reading");
	CHECK(recv(ms.rd[1], &c, 1, MSG_DONTWAIT) == 0,
	      "pair shut down for reading: no EOF after the data");
	CHECK(send(ms.rd[0], "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE,
	      "a peer shut down for reading accepts data");
	expect(ms.sq[1], "a", 1, "seqpacket 1");
	expect(ms.sq[1], "bb", 2, "seqpacket 2");
	expect(ms.sq[1], "ccc", 3, "seqpacket 3");
	expect_again(ms.sq[1], "seqpacket");
	expect(ms.sq[0], "back", 4, "seqpacket back");
	CHECK(recv(ms.sq[1], buf, 1, MSG_DONTWAIT) < 0, "seqpacket: more");
	CHECK(same_name(ms.ad, abs3, 1), "abstract dgram: address changed");
	expect(ms.ad, "abs-dgram", 9, "abstract dgram");
	snprintf(path, sizeof(path), "%s/gone-dgram.sock", dir);
	CHECK(same_name(ms.gd, path, 0), "dgram bound to a removed path: address changed");
	CHECK(stat(path, &st) < 0 && errno == ENOENT, "%s exists again", path);
	snprintf(path, sizeof(path), "%s/gone-listen.sock", dir);
	CHECK(same_name(ms.gl, path, 0), "listener bound to a removed path: address changed");
	CHECK(geti(ms.gl, SOL_SOCKET, SO_ACCEPTCONN) == 1,
	      "listener on a removed path: not listening");
	CHECK(stat(path, &st) < 0 && errno == ENOENT, "%s exists again", path);
}

/* ---------- refused ---------- */

static void refused(const char *mode)
{
	int l, c, e, sv[2];

	if (!strcmp(mode, "pendingdata")) {
		l = bound(SOCK_STREAM, "pd.sock", 0);
		SETUP(listen(l, 2) == 0, "listen");
		c = connected(SOCK_STREAM, "pd.sock", 0);
		SETUP(send(c, "early", 5, 0) == 5, "send");
	} else {
		SETUP(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
		e = eventfd(3, 0);
		SETUP(e >= 0, "eventfd");
		send_fds(sv[0], "ev", &e, 1);
		close(e);
	}
	say("READY");
	tgt_wait_usr1();
	tgt_finish();
}

int main(int argc, char **argv)
{
	const char *mode;

	if (argc < 3) {
		say("ERROR: usage: unixstates DIR pending|unconn|dgramgone|flight|misc|"
		    "pendingdata|flightother");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s", argv[1]);
	mode = argv[2];
	snprintf(abs1, sizeof(abs1), "rtcr-us1-%d-%ld", (int)getpid(), (long)time(NULL));
	snprintf(abs2, sizeof(abs2), "rtcr-us2-%d-%ld", (int)getpid(), (long)time(NULL));
	snprintf(abs3, sizeof(abs3), "rtcr-us3-%d-%ld", (int)getpid(), (long)time(NULL));
	tgt_install_usr1();
	if (!strcmp(mode, "pendingdata") || !strcmp(mode, "flightother"))
		refused(mode);
	if (!strcmp(mode, "pending"))
		pending_setup();
	else if (!strcmp(mode, "unconn"))
		unconn_setup();
	else if (!strcmp(mode, "dgramgone"))
		dgramgone_setup();
	else if (!strcmp(mode, "flight"))
		flight_setup();
	else if (!strcmp(mode, "misc"))
		misc_setup();
	else {
		say("ERROR: unknown mode %s", mode);
		return 2;
	}
	say("READY");
	tgt_wait_usr1();
	if (!strcmp(mode, "pending"))
		pending_verify();
	else if (!strcmp(mode, "unconn"))
		unconn_verify();
	else if (!strcmp(mode, "dgramgone"))
		dgramgone_verify();
	else if (!strcmp(mode, "flight"))
		flight_verify();
	else
		misc_verify();
	tgt_finish();
}
