/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * file INPUT OUTPUT [INTERVAL_MS]: copies INPUT to OUTPUT in pieces of 7
 * bytes every INTERVAL_MS (default 50) ms, reading from one descriptor and
 * appending to another (O_WRONLY|O_APPEND). It also holds, at fixed fd
 * numbers: INPUT again O_RDWR at offset 13, INPUT's directory O_DIRECTORY
 * with FD_CLOEXEC, /dev/null O_WRONLY|O_NONBLOCK and /dev/zero with
 * FD_CLOEXEC.
 *
 * On SIGUSR1, or when INPUT is consumed, it checks: OUTPUT holds exactly
 * the bytes of INPUT consumed so far, every offset (lseek SEEK_CUR), the
 * status flags (F_GETFL) and fd flags (F_GETFD) of every descriptor, that
 * each descriptor still refers to the same file (inode, device numbers),
 * and that the process has exactly the descriptors it had (nothing more,
 * nothing less); then prints PASS or FAIL: <what>.
 */
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "tgt.h"

enum { FD_IN = 10, FD_OUT, FD_RW, FD_DIR, FD_NULL, FD_ZERO };
#define RW_OFFSET 13
#define PIECE	  7

struct fdrec {
	int fd;
	const char *what;
	int fl, fdfl;
	struct stat st;
};
static struct fdrec fds[] = {
    {0, "stdin", 0, 0, {0}},
    {1, "stdout", 0, 0, {0}},
    {2, "stderr", 0, 0, {0}},
    {FD_IN, "input (O_RDONLY)", 0, 0, {0}},
    {FD_OUT, "output (O_WRONLY|O_APPEND)", 0, 0, {0}},
    {FD_RW, "input (O_RDWR)", 0, 0, {0}},
    {FD_DIR, "directory", 0, 0, {0}},
    {FD_NULL, "/dev/null", 0, 0, {0}},
    {FD_ZERO, "/dev/zero", 0, 0, {0}},
};
#define NFDS ((int)(sizeof(fds) / sizeof(fds[0])))

static const char *in_path, *out_path;
static char dir_path[4096], base_name[4096];
static off_t consumed;

static void place(const char *path, int flags, int at, const char *what)
{
	int fd = open(path, flags, 0644);
	SETUP(fd >= 0, what);
	SETUP(dup3(fd, at, flags & O_CLOEXEC) == at, "dup3");
	close(fd);
}

/* The set of open descriptors, as a bitmap of the first 1024. */
static void fd_set_now(unsigned char *bits)
{
	memset(bits, 0, 128);
	DIR *d = opendir("/proc/self/fd");
	SETUP(d != NULL, "opendir /proc/self/fd");
	int self = dirfd(d);
	struct dirent *e;
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name);
		if (e->d_name[0] == '.' || fd == self || fd >= 1024)
			continue;
		bits[fd / 8] |= 1 << (fd % 8);
	}
	closedir(d);
}
static unsigned char fds_at_start[128];

static void verify(void)
{
	/* descriptors: the same set */
	unsigned char now[128];
	fd_set_now(now);
	for (int fd = 0; fd < 1024; fd++) {
		int was = !!(fds_at_start[fd / 8] & (1 << (fd % 8)));
		int is = !!(now[fd / 8] & (1 << (fd % 8)));
		CHECK(was == is, "fd %d %s", fd, was ? "is gone" : "appeared");
	}
	/* flags and identity */
	for (int i = 0; i < NFDS; i++) {
		struct fdrec *r = &fds[i];
		int fl = fcntl(r->fd, F_GETFL), fdfl = fcntl(r->fd, F_GETFD);
		CHECK(fl == r->fl, "fd %d (%s): F_GETFL %#o, expected %#o", r->fd, r->what, fl,
		      r->fl);
		CHECK(fdfl == r->fdfl, "fd %d (%s): F_GETFD %#x, expected %#x", r->fd, r->what,
		      fdfl, r->fdfl);
		struct stat st;
		if (fstat(r->fd, &st) < 0) {
			CHECK(0, "fd %d (%s): fstat: %s", r->fd, r->what, strerror(errno));
			continue;
		}
		CHECK((st.st_mode & S_IFMT) == (r->st.st_mode & S_IFMT),
		      "fd %d (%s): file type %#o, was %#o", r->fd, r->what, st.st_mode & S_IFMT,
		      r->st.st_mode & S_IFMT);
		/* A pipe (stdout/stderr to rtcr's parent) is a new pipe after a restore:
		 * only its kind is kept. Everything else must be the very same file. */
		if (S_ISFIFO(r->st.st_mode))
			continue;
		CHECK(st.st_dev == r->st.st_dev && st.st_ino == r->st.st_ino &&
			  st.st_rdev == r->st.st_rdev,
		      "fd %d (%s): now %u:%u inode %lu rdev %u:%u, was %u:%u inode %lu rdev %u:%u",
		      r->fd, r->what, major(st.st_dev), minor(st.st_dev), (unsigned long)st.st_ino,
		      major(st.st_rdev), minor(st.st_rdev), major(r->st.st_dev),
		      minor(r->st.st_dev), (unsigned long)r->st.st_ino, major(r->st.st_rdev),
		      minor(r->st.st_rdev));
	}
	/* the flags asked for, explicitly */
	CHECK((fcntl(FD_OUT, F_GETFL) & (O_ACCMODE | O_APPEND)) == (O_WRONLY | O_APPEND),
	      "output: not O_WRONLY|O_APPEND");
	CHECK((fcntl(FD_IN, F_GETFL) & O_ACCMODE) == O_RDONLY, "input: not O_RDONLY");
	CHECK((fcntl(FD_RW, F_GETFL) & O_ACCMODE) == O_RDWR, "second input: not O_RDWR");
	CHECK(fcntl(FD_NULL, F_GETFL) & O_NONBLOCK, "/dev/null: O_NONBLOCK lost");
	CHECK(fcntl(FD_DIR, F_GETFD) & FD_CLOEXEC, "directory: FD_CLOEXEC lost");
	CHECK(fcntl(FD_ZERO, F_GETFD) & FD_CLOEXEC, "/dev/zero: FD_CLOEXEC lost");
	CHECK(!(fcntl(FD_IN, F_GETFD) & FD_CLOEXEC), "input: FD_CLOEXEC appeared");
	/* offsets */
	off_t o;
	CHECK((o = lseek(FD_IN, 0, SEEK_CUR)) == consumed, "input offset %lld, expected %lld",
	      (long long)o, (long long)consumed);
	CHECK((o = lseek(FD_OUT, 0, SEEK_CUR)) == consumed, "output offset %lld, expected %lld",
	      (long long)o, (long long)consumed);
	CHECK((o = lseek(FD_RW, 0, SEEK_CUR)) == RW_OFFSET, "O_RDWR input offset %lld, expected %d",
	      (long long)o, RW_OFFSET);
	/* the objects work */
	char z[16];
	memset(z, 1, sizeof(z));
	CHECK(read(FD_ZERO, z, sizeof(z)) == (ssize_t)sizeof(z) &&
		  !memcmp(z, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16),
	      "/dev/zero: read failed or not zero");
	CHECK(write(FD_NULL, "x", 1) == 1, "/dev/null: write failed");
	int f = openat(FD_DIR, base_name, O_RDONLY | O_CLOEXEC);
	struct stat st;
	CHECK(f >= 0 && fstat(f, &st) == 0 && st.st_ino == fds[3].st.st_ino,
	      "openat(directory fd, %s) does not find the input", base_name);
	if (f >= 0)
		close(f);
	/* contents: output == input[0, consumed) */
	static char a[1 << 20], b[1 << 20];
	int fi = open(in_path, O_RDONLY | O_CLOEXEC), fo = open(out_path, O_RDONLY | O_CLOEXEC);
	CHECK(fi >= 0, "open %s: %s", in_path, strerror(errno));
	CHECK(fo >= 0, "open %s: %s", out_path, strerror(errno));
	if (fi >= 0 && fo >= 0) {
		ssize_t na = pread(fi, a, sizeof(a), 0), nb = pread(fo, b, sizeof(b), 0);
		CHECK(nb == consumed, "output has %zd bytes, expected %lld", nb,
		      (long long)consumed);
		CHECK(na >= consumed && nb >= 0 && !memcmp(a, b, nb < consumed ? nb : consumed),
		      "output differs from the input");
	}
	if (fi >= 0)
		close(fi);
	if (fo >= 0)
		close(fo);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		say("usage: file INPUT OUTPUT [INTERVAL_MS]");
		return 2;
	}
	in_path = argv[1];
	out_path = argv[2];
	long interval = tgt_arg_long(argc, argv, 3, 50);
	{
		char tmp[4096];
		snprintf(tmp, sizeof(tmp), "%s", in_path);
		snprintf(dir_path, sizeof(dir_path), "%s", dirname(tmp));
		snprintf(tmp, sizeof(tmp), "%s", in_path);
		snprintf(base_name, sizeof(base_name), "%s", basename(tmp));
	}
	tgt_install_usr1();

	place(in_path, O_RDONLY, FD_IN, in_path);
	place(out_path, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC, FD_OUT, out_path);
	place(in_path, O_RDWR, FD_RW, in_path);
	SETUP(lseek(FD_RW, RW_OFFSET, SEEK_SET) == RW_OFFSET, "lseek");
	place(dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, FD_DIR, dir_path);
	place("/dev/null", O_WRONLY | O_NONBLOCK, FD_NULL, "/dev/null");
	place("/dev/zero", O_RDONLY | O_CLOEXEC, FD_ZERO, "/dev/zero");
	for (int i = 0; i < NFDS; i++) {
		fds[i].fl = fcntl(fds[i].fd, F_GETFL);
		fds[i].fdfl = fcntl(fds[i].fd, F_GETFD);
		SETUP(fds[i].fl >= 0 && fstat(fds[i].fd, &fds[i].st) == 0, fds[i].what);
	}
	fd_set_now(fds_at_start);
	say("READY");

	for (int pieces = 0;; pieces++) {
		if (tgt_usr1)
			break;
		char buf[PIECE];
		ssize_t n = read(FD_IN, buf, PIECE);
		if (n < 0 && errno == EINTR)
			continue;
		SETUP(n >= 0, "read input");
		if (n == 0)
			break;
		ssize_t w = write(FD_OUT, buf, n);
		SETUP(w == n, "write output");
		consumed += n;
		if (pieces % 10 == 9)
			say("progress %lld", (long long)consumed);
		tgt_sleep_ms(interval);
	}
	say("consumed %lld bytes", (long long)consumed);
	verify();
	tgt_finish();
}
