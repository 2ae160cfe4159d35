/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * deldir: a deleted working directory and an open descriptor (fd 20) of
 * another deleted directory, both in a tree that was removed whole
 * (/tmp/rtcr-deldir.ID/sub/cwd and /tmp/rtcr-deldir.ID/fddir). On
 * SIGUSR1: /proc/self/cwd and /proc/self/fd/20 read exactly as before
 * ("PATH (deleted)"), both have no link (st_nlink 0), fd 20 is a directory
 * with its status flags, and the restore left nothing behind at those
 * paths; PASS.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "tgt.h"

static void link_of(const char *path, char *buf, size_t len)
{
	ssize_t n = readlink(path, buf, len - 1);

	buf[n < 0 ? 0 : n] = '\0';
}

int main(void)
{
	char base[64], p[128], cwd0[256], fd0[256], now[256];
	struct stat st;
	int fd, fl0;

	tgt_install_usr1();
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts); /* pids repeat in every namespace */
	snprintf(base, sizeof(base), "/tmp/rtcr-deldir.%d.%ld", getpid(), ts.tv_nsec);
	SETUP(mkdir(base, 0755) == 0, "mkdir base");
	snprintf(p, sizeof(p), "%s/sub", base);
	SETUP(mkdir(p, 0755) == 0, "mkdir sub");
	snprintf(p, sizeof(p), "%s/sub/cwd", base);
	SETUP(mkdir(p, 0755) == 0 && chdir(p) == 0, "mkdir cwd");
	snprintf(p, sizeof(p), "%s/fddir", base);
	SETUP(mkdir(p, 0755) == 0, "mkdir fddir");
	fd = open(p, O_RDONLY | O_DIRECTORY | O_NONBLOCK);
	SETUP(fd >= 0 && dup2(fd, 20) == 20, "open fddir");
	close(fd);
	SETUP(rmdir(p) == 0, "rmdir fddir");
	snprintf(p, sizeof(p), "%s/sub/cwd", base);
	SETUP(rmdir(p) == 0, "rmdir cwd");
	snprintf(p, sizeof(p), "%s/sub", base);
	SETUP(rmdir(p) == 0 && rmdir(base) == 0, "rmdir sub, base");
	link_of("/proc/self/cwd", cwd0, sizeof(cwd0));
	link_of("/proc/self/fd/20", fd0, sizeof(fd0));
	fl0 = fcntl(20, F_GETFL);
	SETUP(strstr(cwd0, " (deleted)") && strstr(fd0, " (deleted)"), "deleted links");
	say("READY");
	tgt_wait_usr1();
	link_of("/proc/self/cwd", now, sizeof(now));
	CHECK(!strcmp(now, cwd0), "cwd reads '%s', want '%s'", now, cwd0);
	link_of("/proc/self/fd/20", now, sizeof(now));
	CHECK(!strcmp(now, fd0), "fd 20 reads '%s', want '%s'", now, fd0);
	CHECK(stat(".", &st) == 0 && S_ISDIR(st.st_mode) && st.st_nlink == 0,
	      "cwd: not a removed directory (nlink %lu)", (unsigned long)st.st_nlink);
	CHECK(fstat(20, &st) == 0 && S_ISDIR(st.st_mode) && st.st_nlink == 0,
	      "fd 20: not a removed directory (nlink %lu)", (unsigned long)st.st_nlink);
	CHECK(fcntl(20, F_GETFL) == fl0, "fd 20: flags %#x, want %#x", fcntl(20, F_GETFL), fl0);
	CHECK(access(base, F_OK) < 0, "%s exists after the restore", base);
	tgt_finish();
}
