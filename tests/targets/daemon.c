/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * daemon: the classic double step. The started process forks and exits 0;
 * the child calls setsid and counts (one number a line, every 100 ms) in
 * the background. On SIGUSR1 the daemon checks it is its session's leader
 * and a child of init (its parent exited) and prints PASS.
 */
#include "tgt.h"

int main(void)
{
	pid_t pid = fork();

	SETUP(pid >= 0, "fork");
	if (pid > 0)
		return 0;
	SETUP(setsid() == getpid(), "setsid");
	tgt_install_usr1();
	for (long i = 0; !tgt_usr1; i++) {
		say("%ld", i);
		tgt_sleep_ms(100);
	}
	CHECK(getsid(0) == getpid(), "session %d, want %d", getsid(0), getpid());
	CHECK(getppid() == 1, "parent %d, want 1 (init)", getppid());
	tgt_finish();
}
