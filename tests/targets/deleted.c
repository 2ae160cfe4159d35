/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * deleted: a file mapped MAP_PRIVATE (some pages written) and MAP_SHARED
 * (written through the mapping), then unlinked; a working directory that
 * was removed. On SIGUSR1: the mappings hold the same bytes, a write
 * through the shared one shows through a second shared mapping of the same
 * deleted file, both are still deleted files, and the working directory is
 * still a removed one.
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "tgt.h"

#define SZ (64 * 1024)

static unsigned char pat(size_t i)
{
	return (unsigned char)(i * 13 + 1);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/tmp";
	char path[512], sub[512], link[600];
	unsigned char *priv, *shr, *shr2;
	struct stat st;
	ssize_t n;
	int fd;

	tgt_install_usr1();
	snprintf(path, sizeof(path), "%s/rtcr-deleted.XXXXXX", dir);
	fd = mkstemp(path);
	SETUP(fd >= 0, "mkstemp");
	for (size_t i = 0; i < SZ; i++) {
		unsigned char b = pat(i);

		SETUP(write(fd, &b, 1) == 1, "write");
	}
	priv = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	shr = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	shr2 = mmap(NULL, SZ, PROT_READ, MAP_SHARED, fd, 0);
	SETUP(priv != MAP_FAILED && shr != MAP_FAILED && shr2 != MAP_FAILED, "mmap");
	close(fd);
	SETUP(unlink(path) == 0, "unlink");
	priv[100] = 0xaa;
	shr[8192 + 200] = 0xbb;
	snprintf(sub, sizeof(sub), "%s/rtcr-cwd.XXXXXX", dir);
	SETUP(mkdtemp(sub) != NULL, "mkdtemp");
	SETUP(chdir(sub) == 0 && rmdir(sub) == 0, "chdir+rmdir");
	say("READY");
	tgt_wait_usr1();
	for (size_t i = 0; i < SZ; i++) {
		unsigned char want = i == 100 ? 0xaa : i == 8192 + 200 ? 0xbb : pat(i);

		if (priv[i] != want) {
			CHECK(0, "private mapping byte %zu is %#x, want %#x", i, priv[i], want);
			break;
		}
	}
	CHECK(shr[8192 + 200] == 0xbb && shr2[8192 + 200] == 0xbb, "shared write lost: %#x %#x",
	      shr[8192 + 200], shr2[8192 + 200]);
	CHECK(priv[8192 + 200] == 0xbb,
	      "private copy does not see the shared write to a page it did not "
	      "copy: %#x",
	      priv[8192 + 200]);
	shr[8192 + 300] = 0xcc;
	CHECK(shr2[8192 + 300] == 0xcc, "the two shared mappings are not the same file any more");
	CHECK(priv[8192 + 300] == 0xcc, "the private mapping is not of the same file any more");
	n = readlink("/proc/self/cwd", link, sizeof(link) - 1);
	CHECK(n > 0, "readlink cwd");
	if (n > 0) {
		link[n] = '\0';
		CHECK(strstr(link, "(deleted)") != NULL,
		      "working directory %s is not a removed one", link);
	}
	CHECK(stat(".", &st) == 0 && S_ISDIR(st.st_mode) && st.st_nlink == 0,
	      "the working directory is not an empty removed directory");
	tgt_finish();
}
