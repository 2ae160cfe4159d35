/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * creds [--thread] [--split] [--rlimits]: credentials of every kind, as
 * whoever started it (setpriv) left them, and optionally:
 *   --thread   a second thread, started before --split, that keeps the
 *              credentials the process started with (per-thread creds);
 *   --split    the main thread alone (raw system calls) takes supplementary
 *              groups 2000,2001, gids 2001/2002/2003, fsgid 2004, uids
 *              3001/3002/3003, fsuid 3004 (with SECBIT_NO_SETUID_FIXUP it
 *              keeps its capabilities through that), then keeps only
 *              CAP_NET_RAW permitted, effective and ambient,
 *              CAP_NET_RAW|CAP_CHOWN inheritable, and locks
 *              SECBIT_NO_CAP_AMBIENT_RAISE on (needs to start as root);
 *   --rlimits  RLIMIT_NOFILE soft 100, RLIMIT_CORE 0/0.
 * Prints READY, then a number every 20 ms. On SIGUSR1 it compares the
 * credential lines of /proc/self/task/TID/status of both threads, the
 * securebits of the main thread and every rlimit with what they were at
 * READY: PASS or FAIL.
 */
#include <linux/capability.h>
#include <linux/securebits.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "tgt.h"

static const char *const keys[] = {"Uid:",    "Gid:",	 "Groups:", "CapInh:",	   "CapPrm:",
				   "CapEff:", "CapBnd:", "CapAmb:", "NoNewPrivs:", "Seccomp:"};

static pid_t thread_tid;
static volatile int thread_up;

/* The credential lines of a thread's status. */
static void cred_lines(pid_t tid, char *out, size_t len)
{
	char path[64], buf[8192], *line, *save = NULL;
	size_t used = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
	f = fopen(path, "r");
	SETUP(f != NULL, path);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	out[0] = '\0';
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			if (!strncmp(line, keys[i], strlen(keys[i])))
				used += (size_t)snprintf(out + used, len - used, "%s|", line);
		}
	}
}

static void *second(void *arg)
{
	(void)arg;
	thread_tid = (pid_t)syscall(SYS_gettid);
	thread_up = 1;
	for (;;)
		tgt_sleep_ms(1000);
	return NULL;
}

static void set_caps(uint64_t prm, uint64_t eff, uint64_t inh)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	data[0].permitted = (uint32_t)prm;
	data[1].permitted = (uint32_t)(prm >> 32);
	data[0].effective = (uint32_t)eff;
	data[1].effective = (uint32_t)(eff >> 32);
	data[0].inheritable = (uint32_t)inh;
	data[1].inheritable = (uint32_t)(inh >> 32);
	SETUP(syscall(SYS_capset, &hdr, data) == 0, "capset");
}

static void split_ids(void)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];
	uint32_t groups[] = {2000, 2001};
	uint64_t prm, raw = 1ULL << CAP_NET_RAW, chown = 1ULL << CAP_CHOWN;

	SETUP(syscall(SYS_prctl, PR_SET_SECUREBITS, SECBIT_NO_SETUID_FIXUP, 0, 0, 0) == 0,
	      "PR_SET_SECUREBITS");
	SETUP(syscall(SYS_setgroups, 2, groups) == 0, "setgroups");
	SETUP(syscall(SYS_setresgid, 2001, 2002, 2003) == 0, "setresgid");
	syscall(SYS_setfsgid, 2004);
	SETUP(syscall(SYS_setresuid, 3001, 3002, 3003) == 0, "setresuid");
	syscall(SYS_setfsuid, 3004);
	SETUP(syscall(SYS_capget, &hdr, data) == 0, "capget");
	prm = data[0].permitted | (uint64_t)data[1].permitted << 32;
	set_caps(prm, prm, raw | chown);
	SETUP(syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_RAW, 0, 0) == 0,
	      "PR_CAP_AMBIENT_RAISE");
	SETUP(syscall(SYS_prctl, PR_SET_SECUREBITS,
		      SECBIT_NO_SETUID_FIXUP | SECBIT_NO_CAP_AMBIENT_RAISE |
			  SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
		      0, 0, 0) == 0,
	      "PR_SET_SECUREBITS");
	set_caps(raw, raw, raw | chown);
}

int main(int argc, char **argv)
{
	static char main_lines[2048], thread_lines[2048], now[2048];
	struct rlimit rl[RLIM_NLIMITS], r;
	int thread = 0, split = 0, rlimits = 0;
	long bits;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--thread"))
			thread = 1;
		else if (!strcmp(argv[i], "--split"))
			split = 1;
		else if (!strcmp(argv[i], "--rlimits"))
			rlimits = 1;
		else {
			say("ERROR: bad argument '%s'", argv[i]);
			return 2;
		}
	}
	tgt_install_usr1();
	if (thread) {
		pthread_t t;
		sigset_t m, old;

		sigemptyset(&m);
		sigaddset(&m, SIGUSR1);
		pthread_sigmask(SIG_BLOCK, &m, &old);
		SETUP(pthread_create(&t, NULL, second, NULL) == 0, "pthread_create");
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		while (!thread_up)
			tgt_sleep_ms(1);
	}
	if (split)
		split_ids();
	if (rlimits) {
		SETUP(getrlimit(RLIMIT_NOFILE, &r) == 0, "getrlimit");
		r.rlim_cur = 100;
		SETUP(setrlimit(RLIMIT_NOFILE, &r) == 0, "setrlimit NOFILE");
		r.rlim_cur = r.rlim_max = 0;
		SETUP(setrlimit(RLIMIT_CORE, &r) == 0, "setrlimit CORE");
	}
	for (int i = 0; i < RLIM_NLIMITS; i++)
		SETUP(getrlimit(i, &rl[i]) == 0, "getrlimit");
	bits = syscall(SYS_prctl, PR_GET_SECUREBITS, 0, 0, 0, 0);
	cred_lines(getpid(), main_lines, sizeof(main_lines));
	if (thread)
		cred_lines(thread_tid, thread_lines, sizeof(thread_lines));
	say("READY");
	for (long n = 1; !tgt_usr1; n++) {
		say("%ld", n);
		tgt_sleep_ms(20);
	}
	cred_lines(getpid(), now, sizeof(now));
	CHECK(!strcmp(now, main_lines), "main thread: %s, was %s", now, main_lines);
	if (thread) {
		cred_lines(thread_tid, now, sizeof(now));
		CHECK(!strcmp(now, thread_lines), "second thread: %s, was %s", now, thread_lines);
	}
	CHECK(syscall(SYS_prctl, PR_GET_SECUREBITS, 0, 0, 0, 0) == bits, "securebits %ld, was %ld",
	      syscall(SYS_prctl, PR_GET_SECUREBITS, 0, 0, 0, 0), bits);
	for (int i = 0; i < RLIM_NLIMITS; i++) {
		SETUP(getrlimit(i, &r) == 0, "getrlimit");
		CHECK(r.rlim_cur == rl[i].rlim_cur && r.rlim_max == rl[i].rlim_max,
		      "rlimit %d: %llu/%llu, was %llu/%llu", i, (unsigned long long)r.rlim_cur,
		      (unsigned long long)r.rlim_max, (unsigned long long)rl[i].rlim_cur,
		      (unsigned long long)rl[i].rlim_max);
	}
	tgt_finish();
}
