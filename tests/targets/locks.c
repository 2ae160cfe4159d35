/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * locks FILE1 FILE2: file locks of every kind, held across checkpoint and
 * restore.
 *   FILE1 (8 KiB, made here), through fd a (and its dup):
 *     POSIX write lock on bytes 100-199, POSIX read locks on 1000-1499 and
 *     from 5000 to EOF;
 *   FILE1 through a second open file description b: an OFD write lock on
 *     bytes 3000-3099;
 *   FILE2 (made here): flock LOCK_EX.
 * On SIGUSR1 a child (forked only then: it is not part of the checkpoint)
 * opens both files anew and asks: F_GETLK sees each POSIX lock with its
 * type, range and our pid, and nothing on the bytes between; F_OFD_GETLK
 * sees the OFD lock (pid -1); a read lock does not stop a reader; flock
 * LOCK_SH|LOCK_NB on FILE2 fails with EWOULDBLOCK. Then the parent drops
 * its flock and the child's flock succeeds: the lock was the parent's.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tgt.h"

struct want {
	const char *what;
	short type;	  /* F_RDLCK / F_WRLCK */
	off_t start, len; /* len 0: to EOF */
	bool ofd;
};

static const struct want wants[] = {
    {"POSIX write lock 100-199", F_WRLCK, 100, 100, false},
    {"POSIX read lock 1000-1499", F_RDLCK, 1000, 500, false},
    {"POSIX read lock 5000-EOF", F_RDLCK, 5000, 0, false},
    {"OFD write lock 3000-3099", F_WRLCK, 3000, 100, true},
};
#define NWANTS (sizeof(wants) / sizeof(wants[0]))

static void set_lock(int fd, int cmd, short type, off_t start, off_t len, const char *what)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};

	SETUP(fcntl(fd, cmd, &fl) == 0, what);
}

/* In a child: what does another process see of our locks? */
static void check_from_child(const char *file1, const char *file2, pid_t owner)
{
	int c1 = open(file1, O_RDWR), c2 = open(file2, O_RDWR);

	CHECK(c1 >= 0 && c2 >= 0, "child: open the files: %s", strerror(errno));
	if (c1 < 0 || c2 < 0)
		return;
	for (size_t i = 0; i < NWANTS; i++) {
		const struct want *w = &wants[i];
		struct flock fl = {
		    .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = w->start, .l_len = w->len};

		CHECK(fcntl(c1, w->ofd ? F_OFD_GETLK : F_GETLK, &fl) == 0, "%s: F_GETLK: %s",
		      w->what, strerror(errno));
		CHECK(fl.l_type == w->type, "%s: is %s", w->what,
		      fl.l_type == F_UNLCK   ? "gone"
		      : fl.l_type == F_RDLCK ? "a read lock"
					     : "a write lock");
		if (fl.l_type == F_UNLCK)
			continue;
		CHECK(fl.l_start == w->start && fl.l_len == w->len,
		      "%s: covers %lld+%lld, expected %lld+%lld", w->what, (long long)fl.l_start,
		      (long long)fl.l_len, (long long)w->start, (long long)w->len);
		CHECK(fl.l_pid == (w->ofd ? -1 : owner), "%s: owner %d, expected %d", w->what,
		      (int)fl.l_pid, w->ofd ? -1 : (int)owner);
		/* a reader is not stopped by a read lock */
		fl = (struct flock){.l_type = F_RDLCK,
				    .l_whence = SEEK_SET,
				    .l_start = w->start,
				    .l_len = w->len ? w->len : 1};
		CHECK(fcntl(c1, F_OFD_GETLK, &fl) == 0 &&
			  fl.l_type == (w->type == F_RDLCK ? F_UNLCK : F_WRLCK),
		      "%s: a read lock over it gets type %d", w->what, fl.l_type);
	}
	/* nothing around them */
	{
		static const off_t gaps[][2] = {{0, 100}, {200, 800}, {1500, 1500}, {3100, 1900}};

		for (size_t i = 0; i < sizeof(gaps) / sizeof(gaps[0]); i++) {
			struct flock fl = {.l_type = F_WRLCK,
					   .l_whence = SEEK_SET,
					   .l_start = gaps[i][0],
					   .l_len = gaps[i][1]};

			CHECK(fcntl(c1, F_OFD_GETLK, &fl) == 0 && fl.l_type == F_UNLCK,
			      "bytes %lld+%lld are locked (type %d, at %lld+%lld, pid %d)",
			      (long long)gaps[i][0], (long long)gaps[i][1], fl.l_type,
			      (long long)fl.l_start, (long long)fl.l_len, (int)fl.l_pid);
		}
	}
	CHECK(flock(c2, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK,
	      "flock LOCK_SH on FILE2 from another open: not EWOULDBLOCK (%s)", strerror(errno));
}

int main(int argc, char **argv)
{
	char buf[8192];
	int a, adup, b, f2, st;
	pid_t pid;

	if (argc < 3) {
		say("ERROR: usage: locks FILE1 FILE2");
		return 2;
	}
	tgt_install_usr1();
	memset(buf, 'x', sizeof(buf));
	a = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0600);
	SETUP(a >= 0, "create FILE1");
	SETUP(write(a, buf, sizeof(buf)) == (ssize_t)sizeof(buf), "fill FILE1");
	adup = dup(a);
	SETUP(adup >= 0, "dup FILE1");
	b = open(argv[1], O_RDWR);
	SETUP(b >= 0, "open FILE1 again");
	f2 = open(argv[2], O_RDWR | O_CREAT | O_TRUNC, 0600);
	SETUP(f2 >= 0, "create FILE2");
	for (size_t i = 0; i < NWANTS; i++)
		set_lock(wants[i].ofd ? b : a, wants[i].ofd ? F_OFD_SETLK : F_SETLK, wants[i].type,
			 wants[i].start, wants[i].len, wants[i].what);
	SETUP(flock(f2, LOCK_EX | LOCK_NB) == 0, "flock FILE2");

	say("READY");
	tgt_wait_usr1();

	pid = fork();
	SETUP(pid >= 0, "fork");
	if (!pid) {
		check_from_child(argv[1], argv[2], getppid());
		_exit(tgt_failures ? 1 : 0);
	}
	SETUP(waitpid(pid, &st, 0) == pid, "waitpid");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the checks in the child failed (status 0x%x)",
	      st);

	/* the flock was ours: once dropped, another open gets it */
	SETUP(flock(f2, LOCK_UN) == 0, "flock LOCK_UN");
	pid = fork();
	SETUP(pid >= 0, "fork");
	if (!pid) {
		int c2 = open(argv[2], O_RDWR);

		_exit(c2 >= 0 && flock(c2, LOCK_EX | LOCK_NB) == 0 ? 0 : 1);
	}
	SETUP(waitpid(pid, &st, 0) == pid, "waitpid");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "FILE2 stays locked after LOCK_UN");
	tgt_finish();
}
