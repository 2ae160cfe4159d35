/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vanish PATH: a small file made at PATH (in a sticky world-writable
 * directory such as /tmp), mode 0640, 3 pages of data, mapped MAP_SHARED
 * and written through the mapping. The test deletes the file after the
 * checkpoint. On SIGUSR1: the mapping holds the data, the file is at PATH
 * again with its mode, size and data, and the mapping is that file, shared
 * (a write through the mapping is read from the file, a write to the file
 * shows in the mapping). The file is removed at the end.
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "tgt.h"

#define SZ (3 * 4096 + 100)

static unsigned char pat(size_t i)
{
	return (unsigned char)(i * 11 + 3);
}

int main(int argc, char **argv)
{
	unsigned char *m, b = 0;
	struct stat st;
	int fd;

	SETUP(argc > 1, "usage: vanish PATH");
	tgt_install_usr1();
	fd = open(argv[1], O_RDWR | O_CREAT | O_EXCL, 0600);
	SETUP(fd >= 0, "create");
	SETUP(fchmod(fd, 0640) == 0 && ftruncate(fd, SZ) == 0, "fchmod/ftruncate");
	m = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	SETUP(m != MAP_FAILED, "mmap");
	close(fd);
	for (size_t i = 0; i < SZ; i++)
		m[i] = pat(i);
	SETUP(msync(m, SZ, MS_SYNC) == 0, "msync");
	say("READY");
	tgt_wait_usr1();
	for (size_t i = 0; i < SZ; i++)
		if (m[i] != pat(i)) {
			CHECK(0, "mapping byte %zu is %#x, want %#x", i, m[i], pat(i));
			break;
		}
	fd = open(argv[1], O_RDWR | O_NOFOLLOW);
	CHECK(fd >= 0, "open %s: %s", argv[1], strerror(errno));
	if (fd >= 0) {
		CHECK(fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == SZ &&
			  (st.st_mode & 07777) == 0640,
		      "%s: mode 0%o size %lld, want 0640 and %d", argv[1], st.st_mode & 07777,
		      (long long)st.st_size, SZ);
		CHECK(pread(fd, &b, 1, 5000) == 1 && b == pat(5000), "file byte 5000 is %#x", b);
		m[9000] = 0xab;
		CHECK(pread(fd, &b, 1, 9000) == 1 && b == 0xab,
		      "a write through the mapping is not in the file (%#x)", b);
		b = 0xcd;
		CHECK(pwrite(fd, &b, 1, 12300) == 1 && m[12300] == 0xcd,
		      "a write to the file does not show in the mapping");
		close(fd);
	}
	unlink(argv[1]);
	tgt_finish();
}
