/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * reaper COMMAND [ARGS...]: run COMMAND as a child subreaper, so that
 * processes it leaves behind (detached rtcr parents, namespace inits)
 * become our children instead of PID 1's; on some machines PID 1 does not
 * reap orphans and they would stay zombies. Reaps everything, and once
 * COMMAND has exited kills what is left of its descendants (they are now
 * our children) and reaps them too. Exits with COMMAND's status.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* SIGKILL every process whose parent is us (found in /proc). */
static int kill_children(void)
{
	char path[300], buf[512], *p;
	struct dirent *d;
	int n = 0, ppid;
	FILE *f;
	DIR *dir;

	dir = opendir("/proc");
	if (!dir)
		return 0;
	while ((d = readdir(dir))) {
		if (d->d_name[0] < '0' || d->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", d->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
		fclose(f);
		if (p && sscanf(p, ") %*c %d", &ppid) == 1 && ppid == getpid()) {
			kill(atoi(d->d_name), SIGKILL);
			n++;
		}
	}
	closedir(dir);
	return n;
}

int main(int argc, char **argv)
{
	int status, ret = 1;
	pid_t cmd, pid;

	if (argc < 2) {
		fprintf(stderr, "usage: %s COMMAND [ARGS...]\n", argv[0]);
		return 2;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1)) {
		perror("reaper: PR_SET_CHILD_SUBREAPER");
		return 1;
	}
	cmd = fork();
	if (cmd < 0) {
		perror("reaper: fork");
		return 1;
	}
	if (cmd == 0) {
		execvp(argv[1], argv + 1);
		fprintf(stderr, "reaper: exec %s: %s\n", argv[1], strerror(errno));
		_exit(127);
	}
	/* The command is in our foreground: let it handle ^C; we only reap. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	for (;;) {
		pid = waitpid(-1, &status, 0);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0)
			break; /* ECHILD: nothing left */
		if (pid == cmd) {
			ret = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			cmd = -1;
		}
		if (cmd < 0)
			kill_children();
	}
	return ret;
}
