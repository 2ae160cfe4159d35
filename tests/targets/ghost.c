/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ghost DIR: objects without a name in the file system.
 *   - a file DIR/ghost.dat of 100 KiB + 77 bytes with a hole in the middle
 *     (data 0..40 KiB and 60 KiB..end), mode 0640 and a known mtime,
 *     opened O_RDWR and seeked to 12345, opened again O_RDONLY|O_APPEND
 *     at 777 (a second open file description), then unlinked;
 *   - memfd "tgt-mapped" of 3 pages, mapped MAP_SHARED and held as a
 *     descriptor at offset 5000;
 *   - memfd "tgt-fdonly" of 10000 bytes only as descriptors: O_RDWR with
 *     O_NONBLOCK at its end, and a second open O_RDONLY at 100;
 *   - memfd "tgt-sealed" of 8192 bytes sealed with F_SEAL_GROW|SHRINK.
 * Prints READY; on SIGUSR1 checks contents, sizes, offsets, flags, seals,
 * modes, times, that the file is still deleted (st_nlink 0) and that the
 * descriptions and mapping still share their objects; PASS or FAIL.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "tgt.h"

#define GSIZE	  (100 * 1024 + 77)
#define HOLE_LO	  (40 * 1024)
#define HOLE_HI	  (60 * 1024)
#define GMTIME	  1234567890L
#define GMTIME_NS 123456789L
#define MAPPED_SZ (3 * 4096)
#define FDONLY_SZ 10000
#define SEALED_SZ 8192
#define SEALS	  (F_SEAL_GROW | F_SEAL_SHRINK)

static unsigned char pat(uint64_t off, unsigned seed)
{
	return (unsigned char)((off * 31 + seed + off / 4096) & 0xff);
}

static void fill(unsigned char *buf, size_t len, uint64_t base, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = pat(base + i, seed);
}

static void write_all(int fd, const void *buf, size_t len, off_t off)
{
	SETUP(pwrite(fd, buf, len, off) == (ssize_t)len, "pwrite");
}

/* contents of fd from 0 to len follow the pattern (zero where hole) */
static int check_pattern(int fd, size_t len, unsigned seed, int hole, const char *what)
{
	static unsigned char buf[GSIZE + 4096];
	ssize_t n = pread(fd, buf, len + 100, 0);

	if (n != (ssize_t)len) {
		say("FAIL: %s: read %zd bytes, expected %zu", what, n, len);
		return 0;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char want = hole && i >= HOLE_LO && i < HOLE_HI ? 0 : pat(i, seed);

		if (buf[i] != want) {
			say("FAIL: %s: byte %zu is %u, expected %u", what, i, buf[i], want);
			return 0;
		}
	}
	return 1;
}

/* the descriptor numbers the process has, as a string "0 1 2 5 ..." */
static void fd_list(char *out, size_t len)
{
	int fds[256], n = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	size_t used = 0;

	SETUP(d != NULL, "opendir /proc/self/fd");
	while ((de = readdir(d)) && n < 256)
		if (de->d_name[0] != '.' && atoi(de->d_name) != dirfd(d))
			fds[n++] = atoi(de->d_name);
	closedir(d);
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (fds[j] < fds[i]) {
				int t = fds[i];
				fds[i] = fds[j];
				fds[j] = t;
			}
	out[0] = '\0';
	for (int i = 0; i < n && used + 12 < len; i++)
		used += (size_t)snprintf(out + used, len - used, "%s%d", i ? " " : "", fds[i]);
}

static int flags_of(int fd)
{
	return fcntl(fd, F_GETFL) & (O_ACCMODE | O_APPEND | O_NONBLOCK);
}

/* A memfd NAME (FLAGS) that holds LEN bytes of pattern SEED. */
static int memfd_filled(const char *name, unsigned flags, size_t len, unsigned seed)
{
	static unsigned char b[FDONLY_SZ > SEALED_SZ ? FDONLY_SZ : SEALED_SZ];
	int fd = memfd_create(name, flags);
	SETUP(fd >= 0, "memfd_create");
	fill(b, len, 0, seed);
	SETUP(write(fd, b, len) == (ssize_t)len, "write");
	return fd;
}

static off_t pos_of(int fd)
{
	return lseek(fd, 0, SEEK_CUR);
}

int main(int argc, char **argv)
{
	static unsigned char buf[GSIZE];
	char path[4096], link[4096], proc[64], fds_before[1024], fds_after[1024];
	struct timespec times[2];
	struct stat st, st2;
	int g1, g2, m1, f1, f2, s1;
	unsigned char *map;
	ssize_t n;

	if (argc < 2) {
		say("ERROR: usage: ghost DIR");
		return 2;
	}
	tgt_install_usr1();

	/* the deleted file */
	snprintf(path, sizeof(path), "%s/ghost.dat", argv[1]);
	g1 = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	SETUP(g1 >= 0, "create ghost.dat");
	fill(buf, HOLE_LO, 0, 1);
	write_all(g1, buf, HOLE_LO, 0);
	fill(buf, GSIZE - HOLE_HI, HOLE_HI, 1);
	write_all(g1, buf, GSIZE - HOLE_HI, HOLE_HI);
	SETUP(fchmod(g1, 0640) == 0, "fchmod");
	times[0].tv_sec = GMTIME - 1000;
	times[0].tv_nsec = 0;
	times[1].tv_sec = GMTIME;
	times[1].tv_nsec = GMTIME_NS;
	SETUP(futimens(g1, times) == 0, "futimens");
	SETUP(lseek(g1, 12345, SEEK_SET) == 12345, "lseek");
	g2 = open(path, O_RDONLY | O_APPEND);
	SETUP(g2 >= 0, "open ghost.dat again");
	SETUP(lseek(g2, 777, SEEK_SET) == 777, "lseek");
	SETUP(unlink(path) == 0, "unlink ghost.dat");

	/* memfd, mapped and a descriptor */
	m1 = memfd_create("tgt-mapped", 0);
	SETUP(m1 >= 0, "memfd_create");
	SETUP(ftruncate(m1, MAPPED_SZ) == 0, "ftruncate");
	map = mmap(NULL, MAPPED_SZ, PROT_READ | PROT_WRITE, MAP_SHARED, m1, 0);
	SETUP(map != MAP_FAILED, "mmap memfd");
	fill(map, MAPPED_SZ, 0, 2);
	SETUP(lseek(m1, 5000, SEEK_SET) == 5000, "lseek");

	/* memfd only as descriptors */
	f1 = memfd_filled("tgt-fdonly", MFD_CLOEXEC, FDONLY_SZ, 3);
	SETUP(fcntl(f1, F_SETFL, O_NONBLOCK) == 0, "F_SETFL");
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", f1);
	f2 = open(proc, O_RDONLY);
	SETUP(f2 >= 0, "reopen memfd");
	SETUP(lseek(f2, 100, SEEK_SET) == 100, "lseek");

	/* sealed memfd */
	s1 = memfd_filled("tgt-sealed", MFD_ALLOW_SEALING, SEALED_SZ, 4);
	SETUP(fcntl(s1, F_ADD_SEALS, SEALS) == 0, "F_ADD_SEALS");

	fd_list(fds_before, sizeof(fds_before));
	say("READY");
	tgt_wait_usr1();

	fd_list(fds_after, sizeof(fds_after));
	CHECK(!strcmp(fds_before, fds_after), "descriptors were %s, now %s", fds_before, fds_after);
	CHECK(fstat(0, &st) == 0 && S_ISCHR(st.st_mode), "stdin is no longer /dev/null");

	/* the deleted file */
	CHECK(fstat(g1, &st) == 0, "fstat ghost");
	CHECK(st.st_nlink == 0, "ghost has %lu links, expected 0 (deleted)",
	      (unsigned long)st.st_nlink);
	CHECK(st.st_size == GSIZE, "ghost size %lld, expected %d", (long long)st.st_size, GSIZE);
	CHECK((st.st_mode & 07777) == 0640, "ghost mode 0%o, expected 0640", st.st_mode & 07777);
	CHECK(st.st_mtim.tv_sec == GMTIME && st.st_mtim.tv_nsec == GMTIME_NS,
	      "ghost mtime %lld.%09ld, expected %ld.%09ld", (long long)st.st_mtim.tv_sec,
	      st.st_mtim.tv_nsec, GMTIME, GMTIME_NS);
	CHECK(pos_of(g1) == 12345, "ghost offset %lld, expected 12345", (long long)pos_of(g1));
	CHECK(flags_of(g1) == O_RDWR, "ghost flags 0%o, expected O_RDWR", flags_of(g1));
	CHECK(pos_of(g2) == 777, "ghost 2nd offset %lld, expected 777", (long long)pos_of(g2));
	CHECK(flags_of(g2) == (O_RDONLY | O_APPEND), "ghost 2nd flags 0%o, expected 0%o",
	      flags_of(g2), O_RDONLY | O_APPEND);
	CHECK(check_pattern(g1, GSIZE, 1, 1, "ghost contents"), "ghost contents");
	CHECK(lseek(g1, HOLE_LO, SEEK_DATA) == HOLE_HI, "ghost: the hole is gone (data at %lld)",
	      (long long)lseek(g1, HOLE_LO, SEEK_DATA));
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", g1);
	n = readlink(proc, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = '\0';
	CHECK(n > 0 && strstr(link, " (deleted)"), "ghost link is %s", link);
	CHECK(fstat(g2, &st2) == 0 && st2.st_ino == st.st_ino && st2.st_dev == st.st_dev,
	      "the two descriptions of the ghost are different files");
	CHECK(pwrite(g1, "XY", 2, 50) == 2, "write to ghost");
	CHECK(pread(g2, buf, 2, 50) == 2 && !memcmp(buf, "XY", 2),
	      "a write through one description is not seen through the other");

	/* mapped memfd */
	CHECK(fstat(m1, &st) == 0 && st.st_size == MAPPED_SZ, "mapped memfd size %lld",
	      (long long)st.st_size);
	CHECK(pos_of(m1) == 5000, "mapped memfd offset %lld, expected 5000", (long long)pos_of(m1));
	CHECK(flags_of(m1) == O_RDWR, "mapped memfd flags 0%o", flags_of(m1));
	CHECK(check_pattern(m1, MAPPED_SZ, 2, 0, "mapped memfd contents"), "mapped memfd");
	map[100] = 0xAB;
	CHECK(pread(m1, buf, 1, 100) == 1 && buf[0] == 0xAB,
	      "the mapping and the descriptor are different objects");
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", m1);
	n = readlink(proc, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = '\0';
	CHECK(!strcmp(link, "/memfd:tgt-mapped (deleted)"), "mapped memfd is %s", link);

	/* memfd as descriptors only */
	CHECK(fstat(f1, &st) == 0 && st.st_size == FDONLY_SZ, "fd-only memfd size %lld",
	      (long long)st.st_size);
	CHECK(pos_of(f1) == FDONLY_SZ, "fd-only memfd offset %lld", (long long)pos_of(f1));
	CHECK(flags_of(f1) == (O_RDWR | O_NONBLOCK), "fd-only memfd flags 0%o", flags_of(f1));
	CHECK(fcntl(f1, F_GETFD) == FD_CLOEXEC, "fd-only memfd lost FD_CLOEXEC");
	CHECK(pos_of(f2) == 100, "fd-only memfd 2nd offset %lld", (long long)pos_of(f2));
	CHECK(flags_of(f2) == O_RDONLY, "fd-only memfd 2nd flags 0%o", flags_of(f2));
	CHECK(write(f2, "x", 1) < 0 && errno == EBADF, "fd-only memfd 2nd is writable");
	CHECK(check_pattern(f1, FDONLY_SZ, 3, 0, "fd-only memfd contents"), "fd-only memfd");
	CHECK(fstat(f2, &st2) == 0 && st2.st_ino == st.st_ino,
	      "the two descriptions of the fd-only memfd are different objects");

	/* sealed memfd */
	CHECK(fcntl(s1, F_GET_SEALS) == SEALS, "seals 0x%x, expected 0x%x", fcntl(s1, F_GET_SEALS),
	      SEALS);
	CHECK(ftruncate(s1, 100) < 0 && errno == EPERM, "sealed memfd could shrink");
	CHECK(fstat(s1, &st) == 0 && st.st_size == SEALED_SZ, "sealed memfd size %lld",
	      (long long)st.st_size);
	CHECK(pos_of(s1) == SEALED_SZ, "sealed memfd offset %lld", (long long)pos_of(s1));
	CHECK(check_pattern(s1, SEALED_SZ, 4, 0, "sealed memfd contents"), "sealed memfd");

	tgt_finish();
}
