/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * spawner: runs system("true") in a loop (posix_spawn: vfork, exec, exit,
 * wait) and prints a count every 20 of them; processes start and end all
 * the time, so a checkpoint meets vforks in progress and exiting children.
 */
#include "tgt.h"

int main(void)
{
	for (long i = 0;; i++) {
		if (system("true") != 0) {
			say("FAIL: system() failed at %ld", i);
			return 1;
		}
		if (i % 20 == 0)
			say("%ld", i / 20);
	}
}
