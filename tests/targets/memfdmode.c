/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * memfdmode: memfds whose mode and owner were changed (fchmod/fchown): one
 * 0600, one 0640 owned by 1234:5678, one 0604 mapped MAP_SHARED with its
 * descriptor closed (the mapping is its only reference). On SIGUSR1 each
 * has the same mode and owner (fstat, or stat of /proc/self/map_files)
 * and its data.
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "tgt.h"

static void check(const char *what, const struct stat *st, mode_t mode, uid_t uid, gid_t gid)
{
	CHECK((st->st_mode & 07777) == mode, "%s: mode 0%o, want 0%o", what, st->st_mode & 07777,
	      mode);
	CHECK(st->st_uid == uid && st->st_gid == gid, "%s: owner %u:%u, want %u:%u", what,
	      st->st_uid, st->st_gid, uid, gid);
}

int main(void)
{
	int a = memfd_create("mode-a", 0), b = memfd_create("mode-b", MFD_CLOEXEC);
	int c = memfd_create("mode-c", 0);
	char path[128], buf[8] = {0};
	struct stat st;
	char *m;

	tgt_install_usr1();
	SETUP(a >= 0 && b >= 0 && c >= 0, "memfd_create");
	SETUP(write(a, "aaaa", 4) == 4 && write(b, "bbbb", 4) == 4, "write");
	SETUP(fchmod(a, 0600) == 0 && fchmod(b, 0640) == 0 && fchown(b, 1234, 5678) == 0,
	      "fchmod/fchown");
	SETUP(ftruncate(c, 4096) == 0 && fchmod(c, 0604) == 0, "memfd c");
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, c, 0);
	SETUP(m != MAP_FAILED, "mmap");
	close(c);
	memcpy(m, "cccc", 4);
	say("READY");
	tgt_wait_usr1();
	CHECK(fstat(a, &st) == 0, "fstat a");
	check("memfd a", &st, 0600, 0, 0);
	CHECK(fstat(b, &st) == 0, "fstat b");
	check("memfd b", &st, 0640, 1234, 5678);
	snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", (unsigned long)m,
		 (unsigned long)m + 4096);
	CHECK(stat(path, &st) == 0, "stat %s: %s", path, strerror(errno));
	check("mapped memfd c", &st, 0604, 0, 0);
	CHECK(pread(a, buf, 4, 0) == 4 && !memcmp(buf, "aaaa", 4), "memfd a data");
	CHECK(pread(b, buf, 4, 0) == 4 && !memcmp(buf, "bbbb", 4), "memfd b data");
	CHECK(!memcmp(m, "cccc", 4), "memfd c data");
	tgt_finish();
}
