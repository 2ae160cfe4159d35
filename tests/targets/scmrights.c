/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * scmrights DIR: descriptors in flight. A stream socketpair and a datagram
 * socketpair each hold, not received yet, a message carrying two
 * descriptors (SCM_RIGHTS) and a plain message after it:
 *  - stream: the read end of a pipe the process keeps (recorded before the
 *    socket) and DIR/a.txt opened read-only at offset 5, closed after the
 *    send (only in flight);
 *  - dgram: an eventfd (counter 7) the process keeps (recorded after the
 *    socket) and DIR/b.txt opened O_RDWR|O_APPEND at offset 3, only in
 *    flight.
 * On SIGUSR1 it receives both messages of each pair, in order, the two
 * descriptors with the first one, and checks them: the same pipe (written
 * through the kept end, read from the received one), the same eventfd
 * (written through the kept one, read from the received one), each file's
 * path, access mode, flags, offset and contents.
 */
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "tgt.h"

static char dir[256];

static void put_file(const char *name, const char *text)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	SETUP(fd >= 0, "create a file");
	SETUP(write(fd, text, strlen(text)) == (ssize_t)strlen(text), "write a file");
	close(fd);
}

static int open_at(const char *name, int flags, off_t off)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, flags | O_CLOEXEC);
	SETUP(fd >= 0, "open a file");
	SETUP(lseek(fd, off, SEEK_SET) == off, "lseek");
	return fd;
}

static void send_fds(int sk, const char *data, const int *fds, int n)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 2)] __attribute__((aligned(8)));
	struct iovec iov = {(void *)data, strlen(data)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *cm;

	if (n) {
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
	}
	SETUP(sendmsg(sk, &mh, 0) == (ssize_t)strlen(data), "sendmsg");
}

/* Receive one message: its data (NUL-terminated) and descriptors. */
static int recv_fds(int sk, char *buf, size_t len, int *fds, int max)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 8)] __attribute__((aligned(8)));
	struct iovec iov = {buf, len - 1};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *cm;
	ssize_t n;
	int nfd = 0;

	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	n = recvmsg(sk, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	buf[n > 0 ? n : 0] = '\0';
	CHECK(n >= 0, "recvmsg: %s", strerror(errno));
	CHECK(!(mh.msg_flags & (MSG_CTRUNC | MSG_TRUNC)), "message truncated");
	for (cm = CMSG_FIRSTHDR(&mh); n >= 0 && cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (nfd < max)
				fds[nfd++] = fd;
			else
				close(fd);
		}
	}
	return nfd;
}

static void check_file(int fd, const char *name, int flags, off_t off, const char *expect)
{
	char path[512], buf[64];
	struct stat a, b;
	int fl;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	CHECK(fstat(fd, &a) == 0 && S_ISREG(a.st_mode), "%s: received fd is not a regular file",
	      name);
	CHECK(stat(path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev,
	      "%s: received fd is another file", name);
	fl = fcntl(fd, F_GETFL);
	CHECK((fl & O_ACCMODE) == (flags & O_ACCMODE), "%s: access mode 0%o, expected 0%o", name,
	      fl & O_ACCMODE, flags & O_ACCMODE);
	CHECK((fl & O_APPEND) == (flags & O_APPEND), "%s: O_APPEND %s", name,
	      fl & O_APPEND ? "set" : "lost");
	CHECK(lseek(fd, 0, SEEK_CUR) == off, "%s: offset %lld, expected %lld", name,
	      (long long)lseek(fd, 0, SEEK_CUR), (long long)off);
	memset(buf, 0, sizeof(buf));
	CHECK(read(fd, buf, strlen(expect)) == (ssize_t)strlen(expect) && !strcmp(buf, expect),
	      "%s: read '%s', expected '%s'", name, buf, expect);
}

int main(int argc, char **argv)
{
	int pp[2], st[2], dg[2], efd, fds[8], n;
	uint64_t v = 0;
	struct stat a, b;
	char buf[256];

	if (argc < 2) {
		say("ERROR: usage: scmrights DIR");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s", argv[1]);
	tgt_install_usr1();
	put_file("a.txt", "0123456789abcdef");
	put_file("b.txt", "ABCDEFGHIJ");
	SETUP(pipe2(pp, O_CLOEXEC) == 0, "pipe");
	SETUP(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, st) == 0, "socketpair stream");
	SETUP(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, dg) == 0, "socketpair dgram");
	efd = eventfd(7, EFD_CLOEXEC | EFD_NONBLOCK);
	SETUP(efd >= 0, "eventfd");

	fds[0] = pp[0];
	fds[1] = open_at("a.txt", O_RDONLY, 5);
	send_fds(st[0], "hello", fds, 2);
	close(fds[1]);
	send_fds(st[0], "world", NULL, 0);

	fds[0] = efd;
	fds[1] = open_at("b.txt", O_RDWR | O_APPEND, 3);
	send_fds(dg[0], "dgram-one", fds, 2);
	close(fds[1]);
	send_fds(dg[0], "dgram-two", NULL, 0);

	say("READY");
	tgt_wait_usr1();

	/* the stream: "hello" with the pipe and a.txt, then "world" */
	n = recv_fds(st[1], buf, sizeof(buf), fds, 8);
	CHECK(!strcmp(buf, "hello"), "stream: first message '%s', expected 'hello'", buf);
	CHECK(n == 2, "stream: %d descriptors with the first message, expected 2", n);
	if (n == 2) {
		CHECK(fstat(fds[0], &a) == 0 && fstat(pp[0], &b) == 0 && a.st_ino == b.st_ino,
		      "stream: the received pipe is another pipe");
		CHECK(write(pp[1], "x", 1) == 1, "write into the kept pipe end");
		memset(buf, 0, sizeof(buf));
		CHECK(read(fds[0], buf, 1) == 1 && buf[0] == 'x',
		      "stream: what the kept end wrote is not read from the received one");
		check_file(fds[1], "a.txt", O_RDONLY, 5, "567");
	}
	n = recv_fds(st[1], buf, sizeof(buf), fds, 8);
	CHECK(!strcmp(buf, "world"), "stream: second message '%s', expected 'world'", buf);
	CHECK(n == 0, "stream: %d descriptors with the second message", n);
	CHECK(recv(st[1], buf, sizeof(buf), MSG_DONTWAIT) < 0 && errno == EAGAIN,
	      "stream: more data queued");

	/* the datagrams: "dgram-one" with the eventfd and b.txt, then "dgram-two" */
	n = recv_fds(dg[1], buf, sizeof(buf), fds, 8);
	CHECK(!strcmp(buf, "dgram-one"), "dgram: first message '%s', expected 'dgram-one'", buf);
	CHECK(n == 2, "dgram: %d descriptors with the first message, expected 2", n);
	if (n == 2) {
		v = 5;
		CHECK(write(efd, &v, sizeof(v)) == sizeof(v), "write the kept eventfd");
		v = 0;
		CHECK(read(fds[0], &v, sizeof(v)) == sizeof(v) && v == 12,
		      "dgram: the received eventfd counter is %llu, expected 12 (7 + 5)",
		      (unsigned long long)v);
		CHECK(read(efd, &v, sizeof(v)) < 0 && errno == EAGAIN,
		      "dgram: the kept eventfd was not reset by reading the received one");
		check_file(fds[1], "b.txt", O_RDWR | O_APPEND, 3, "DEF");
	}
	n = recv_fds(dg[1], buf, sizeof(buf), fds, 8);
	CHECK(!strcmp(buf, "dgram-two"), "dgram: second message '%s', expected 'dgram-two'", buf);
	CHECK(n == 0, "dgram: %d descriptors with the second message", n);
	tgt_finish();
}
