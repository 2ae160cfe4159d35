/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pipes FIFO1 FIFO2: pipes and FIFOs with data in flight.
 *   p1: blocking pipe, 3000 bytes written and not read; its read end dup'd
 *       (dup and fd 100), a second read description opened through
 *       /proc/self/fd with O_NONBLOCK, its write end dup'd
 *   p2: O_NONBLOCK on the read end only, capacity raised to 256 KiB with
 *       F_SETPIPE_SZ, 100000 bytes in it (more than a default pipe holds)
 *   p3: 500 bytes written, then the read end closed: a write gives EPIPE
 *       (SIGPIPE is ignored)
 *   p4: 1234 bytes written, then the write end closed: a reader gets them,
 *       then EOF
 *   p5: empty, O_NONBLOCK|O_DIRECT (packet mode) on the write end, capacity
 *       lowered to two pages
 *   FIFO1 (made here): a reader (O_NONBLOCK) and a writer (dup'd), 2000
 *       bytes in it
 *   FIFO2 (made here): a reader only, 700 bytes in it, writer closed: the
 *       reader gets them, then EOF
 *   FIFO1.del (made here, mode 0640): a reader (O_NONBLOCK) and a writer,
 *       900 bytes in it, then removed while open: it stays one unnamed
 *       FIFO (both ends on the same inode, no link, nothing at its name)
 * A third argument adds one thing rtcr refuses to checkpoint: "async" (a
 * pipe end with O_ASYNC), "packet" (unread packets in a pipe in packet
 * mode, O_DIRECT).
 * On SIGUSR1 every descriptor is checked (status flags, capacity, fd
 * numbers, the bytes in each buffer: exact, once, nothing more), then the
 * pipes are used once more (write and read back, EPIPE, EOF, packets).
 */
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "tgt.h"

#define N1   3000
#define N2   100000
#define N3   500
#define N4   1234
#define NF1  2000
#define NF2  700
#define NF3  900
#define CAP2 (256 * 1024)

static unsigned char pat(int seed, size_t i)
{
	return (unsigned char)((i * 7 + (size_t)seed * 31 + i / 251) & 0xff);
}

static void fill(unsigned char *buf, size_t n, int seed)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = pat(seed, i);
}

/* Open the FIFO at PATH for reading (non-blocking: no writer yet), then for
 * writing; WHAT names it in messages. */
static void fifo_open(const char *path, int *r, int *w, const char *what)
{
	char msg[64];
	*r = open(path, O_RDONLY | O_NONBLOCK);
	snprintf(msg, sizeof(msg), "open %s for reading", what);
	SETUP(*r >= 0, msg);
	*w = open(path, O_WRONLY);
	snprintf(msg, sizeof(msg), "open %s for writing", what);
	SETUP(*w >= 0, msg);
}

static void write_full(int fd, int seed, size_t n, const char *what)
{
	unsigned char *buf = malloc(n);
	size_t done = 0;

	SETUP(buf != NULL, "malloc");
	fill(buf, n, seed);
	while (done < n) {
		ssize_t k = write(fd, buf + done, n - done);
		if (k < 0 && errno == EINTR)
			continue;
		SETUP(k > 0, what);
		done += (size_t)k;
	}
	free(buf);
}

static int nread(int fd)
{
	int n = -1;
	if (ioctl(fd, FIONREAD, &n) < 0)
		return -1;
	return n;
}

static int fl(int fd)
{
	return fcntl(fd, F_GETFL);
}

/* Read exactly n bytes (never blocking for long: poll first) and compare
 * them with the pattern; then there must be nothing more right now. */
static void drain(int fd, size_t n, int seed, const char *what)
{
	unsigned char *buf = malloc(n + 1);
	size_t got = 0;

	SETUP(buf != NULL, "malloc");
	while (got < n) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int pr = poll(&p, 1, 2000);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			break;
		ssize_t k = read(fd, buf + got, n - got);
		if (k < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	CHECK(got == n, "%s: read %zu bytes, expected %zu", what, got, n);
	for (size_t i = 0; i < got; i++) {
		if (buf[i] != pat(seed, i)) {
			CHECK(0, "%s: byte %zu is %u, expected %u", what, i, buf[i], pat(seed, i));
			break;
		}
	}
	free(buf);
}

/* Nothing left to read, and the reader is still open. */
static void empty(int fd, const char *what)
{
	CHECK(nread(fd) == 0, "%s: %d bytes left after the data", what, nread(fd));
}

int main(int argc, char **argv)
{
	int p1[2], p2[2], p3[2], p4[2], p5[2], r1dup, r1b, w1dup, f1r, f1w, f1wdup, f2r, f3r, f3w,
	    w;
	const char *fifo1, *fifo2;
	char path[64], fifo3[4096];
	char c;

	if (argc < 3) {
		say("ERROR: usage: pipes FIFO1 FIFO2 [async|packet]");
		return 2;
	}
	fifo1 = argv[1];
	fifo2 = argv[2];
	SETUP(signal(SIGPIPE, SIG_IGN) != SIG_ERR, "ignore SIGPIPE");
	tgt_install_usr1();

	SETUP(pipe(p1) == 0, "pipe p1");
	write_full(p1[1], 1, N1, "write p1");
	r1dup = dup(p1[0]);
	SETUP(r1dup >= 0, "dup p1 read end");
	SETUP(dup2(p1[0], 100) == 100, "dup2 p1 read end to 100");
	w1dup = dup(p1[1]);
	SETUP(w1dup >= 0, "dup p1 write end");
	snprintf(path, sizeof(path), "/proc/self/fd/%d", p1[0]);
	r1b = open(path, O_RDONLY | O_NONBLOCK);
	SETUP(r1b >= 0, "reopen p1 read end");

	SETUP(pipe(p2) == 0, "pipe p2");
	SETUP(fcntl(p2[0], F_SETFL, O_NONBLOCK) == 0, "O_NONBLOCK on p2");
	SETUP(fcntl(p2[1], F_SETPIPE_SZ, CAP2) == CAP2, "F_SETPIPE_SZ p2");
	write_full(p2[1], 2, N2, "write p2");

	SETUP(pipe(p3) == 0, "pipe p3");
	write_full(p3[1], 3, N3, "write p3");

	SETUP(pipe(p4) == 0, "pipe p4");
	write_full(p4[1], 4, N4, "write p4");

	SETUP(pipe(p5) == 0, "pipe p5");
	SETUP(fcntl(p5[1], F_SETFL, O_NONBLOCK | O_DIRECT) == 0, "O_DIRECT on p5");
	SETUP(fcntl(p5[0], F_SETPIPE_SZ, 8192) == 8192, "F_SETPIPE_SZ p5");

	unlink(fifo1);
	unlink(fifo2);
	SETUP(mkfifo(fifo1, 0600) == 0, "mkfifo 1");
	SETUP(mkfifo(fifo2, 0600) == 0, "mkfifo 2");
	fifo_open(fifo1, &f1r, &f1w, "FIFO1");
	f1wdup = dup(f1w);
	SETUP(f1wdup >= 0, "dup FIFO1 writer");
	write_full(f1w, 5, NF1, "write FIFO1");
	fifo_open(fifo2, &f2r, &w, "FIFO2");
	write_full(w, 6, NF2, "write FIFO2");
	close(w);
	snprintf(fifo3, sizeof(fifo3), "%s.del", fifo1);
	unlink(fifo3);
	SETUP(mkfifo(fifo3, 0640) == 0, "mkfifo 3");
	SETUP(chmod(fifo3, 0640) == 0, "chmod FIFO3");
	fifo_open(fifo3, &f3r, &f3w, "FIFO3");
	write_full(f3w, 7, NF3, "write FIFO3");
	SETUP(unlink(fifo3) == 0, "unlink FIFO3");
	/* last, so that no later descriptor gets their numbers */
	close(p3[0]);
	close(p4[1]);
	if (argc > 3) {
		int x[2];

		SETUP(pipe(x) == 0, "pipe x");
		if (!strcmp(argv[3], "async")) {
			SETUP(fcntl(x[0], F_SETFL, O_ASYNC) == 0, "O_ASYNC");
		} else if (!strcmp(argv[3], "packet")) {
			SETUP(fcntl(x[1], F_SETFL, O_DIRECT) == 0, "O_DIRECT");
			write_full(x[1], 8, 10, "write a packet");
		} else {
			say("ERROR: bad argument '%s'", argv[3]);
			return 2;
		}
	}

	say("READY");
	tgt_wait_usr1();

	/* the state as it was */
	CHECK((fl(p1[0]) & (O_ACCMODE | O_NONBLOCK)) == O_RDONLY, "p1 read end flags 0%o",
	      fl(p1[0]));
	CHECK((fl(p1[1]) & (O_ACCMODE | O_NONBLOCK)) == O_WRONLY, "p1 write end flags 0%o",
	      fl(p1[1]));
	CHECK((fl(r1b) & (O_ACCMODE | O_NONBLOCK)) == (O_RDONLY | O_NONBLOCK),
	      "p1 second read description flags 0%o", fl(r1b));
	CHECK(fl(100) >= 0 && fl(r1dup) >= 0 && fl(w1dup) >= 0, "p1: a dup'd descriptor is gone");
	CHECK(nread(p1[0]) == N1, "p1 holds %d bytes, expected %d", nread(p1[0]), N1);
	CHECK((fl(p2[0]) & (O_ACCMODE | O_NONBLOCK)) == (O_RDONLY | O_NONBLOCK),
	      "p2 read end flags 0%o", fl(p2[0]));
	CHECK((fl(p2[1]) & (O_ACCMODE | O_NONBLOCK)) == O_WRONLY, "p2 write end flags 0%o",
	      fl(p2[1]));
	CHECK(fcntl(p2[0], F_GETPIPE_SZ) == CAP2, "p2 capacity %d, expected %d",
	      fcntl(p2[0], F_GETPIPE_SZ), CAP2);
	CHECK(nread(p2[0]) == N2, "p2 holds %d bytes, expected %d", nread(p2[0]), N2);
	CHECK(fl(p3[0]) < 0 && errno == EBADF, "p3 read end is open again");
	CHECK(fl(p4[1]) < 0 && errno == EBADF, "p4 write end is open again");
	CHECK(nread(p4[0]) == N4, "p4 holds %d bytes, expected %d", nread(p4[0]), N4);
	CHECK((fl(p5[1]) & (O_ACCMODE | O_NONBLOCK | O_DIRECT)) ==
		  (O_WRONLY | O_NONBLOCK | O_DIRECT),
	      "p5 write end flags 0%o", fl(p5[1]));
	CHECK(fcntl(p5[0], F_GETPIPE_SZ) == 8192, "p5 capacity %d", fcntl(p5[0], F_GETPIPE_SZ));
	CHECK(nread(p5[0]) == 0, "p5 holds %d bytes, expected none", nread(p5[0]));
	CHECK(nread(f1r) == NF1, "FIFO1 holds %d bytes, expected %d", nread(f1r), NF1);
	CHECK((fl(f1r) & (O_ACCMODE | O_NONBLOCK)) == (O_RDONLY | O_NONBLOCK),
	      "FIFO1 reader flags 0%o", fl(f1r));
	CHECK((fl(f1w) & (O_ACCMODE | O_NONBLOCK)) == O_WRONLY, "FIFO1 writer flags 0%o", fl(f1w));
	CHECK(nread(f2r) == NF2, "FIFO2 holds %d bytes, expected %d", nread(f2r), NF2);
	{
		struct stat a, b;
		CHECK(fstat(f1r, &a) == 0 && stat(fifo1, &b) == 0 && a.st_ino == b.st_ino &&
			  a.st_dev == b.st_dev && S_ISFIFO(a.st_mode),
		      "FIFO1 reader is not on %s", fifo1);
		CHECK(fstat(f3r, &a) == 0 && fstat(f3w, &b) == 0 && a.st_ino == b.st_ino &&
			  a.st_dev == b.st_dev && S_ISFIFO(a.st_mode),
		      "FIFO3 (removed): its reader and writer are not on one FIFO");
		CHECK(a.st_nlink == 0, "FIFO3 (removed) has %lu links", (unsigned long)a.st_nlink);
		CHECK((a.st_mode & 07777) == 0640, "FIFO3 (removed) has mode 0%o",
		      (unsigned)(a.st_mode & 07777));
		CHECK(stat(fifo3, &b) < 0 && errno == ENOENT, "%s exists again", fifo3);
	}
	CHECK(nread(f3r) == NF3, "FIFO3 holds %d bytes, expected %d", nread(f3r), NF3);
	CHECK((fl(f3r) & (O_ACCMODE | O_NONBLOCK)) == (O_RDONLY | O_NONBLOCK),
	      "FIFO3 reader flags 0%o", fl(f3r));
	CHECK((fl(f3w) & (O_ACCMODE | O_NONBLOCK)) == O_WRONLY, "FIFO3 writer flags 0%o", fl(f3w));

	/* the data: exactly once */
	drain(r1dup, N1, 1, "p1");
	empty(p1[0], "p1");
	CHECK(read(r1b, &c, 1) < 0 && errno == EAGAIN, "p1 second read description: not EAGAIN");
	drain(p2[0], N2, 2, "p2");
	CHECK(read(p2[0], &c, 1) < 0 && errno == EAGAIN, "p2: read after the data: not EAGAIN");
	CHECK(write(p3[1], "x", 1) < 0 && errno == EPIPE, "p3: write without reader: not EPIPE");
	drain(p4[0], N4, 4, "p4");
	CHECK(read(p4[0], &c, 1) == 0, "p4: no EOF after the data");
	drain(f1r, NF1, 5, "FIFO1");
	CHECK(read(f1r, &c, 1) < 0 && errno == EAGAIN, "FIFO1: read after the data: not EAGAIN");
	drain(f2r, NF2, 6, "FIFO2");
	CHECK(read(f2r, &c, 1) == 0, "FIFO2: no EOF after the data");
	drain(f3r, NF3, 7, "FIFO3");
	CHECK(read(f3r, &c, 1) < 0 && errno == EAGAIN, "FIFO3: read after the data: not EAGAIN");

	/* the pipes still work, between the ends that belong together */
	CHECK(write(w1dup, "ab", 2) == 2, "p1: write failed");
	CHECK(read(100, &c, 1) == 1 && c == 'a', "p1: fd 100 did not read the new byte");
	CHECK(read(r1b, &c, 1) == 1 && c == 'b', "p1: second read description did not read");
	CHECK(write(f1wdup, "z", 1) == 1 && read(f1r, &c, 1) == 1 && c == 'z',
	      "FIFO1: write and read back failed");
	CHECK(write(f3w, "y", 1) == 1 && read(f3r, &c, 1) == 1 && c == 'y',
	      "FIFO3: write and read back failed");
	/* packets: two writes are two reads */
	CHECK(write(p5[1], "12", 2) == 2 && write(p5[1], "345", 3) == 3, "p5: write failed");
	{
		char b[8];
		CHECK(read(p5[0], b, sizeof(b)) == 2, "p5: not in packet mode (first read)");
		CHECK(read(p5[0], b, sizeof(b)) == 3, "p5: not in packet mode (second read)");
	}
	tgt_finish();
}
