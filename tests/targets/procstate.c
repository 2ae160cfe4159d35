/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * procstate [DIR]: sets process-wide kernel state, prints READY, and on
 * SIGUSR1 verifies all of it: session leadership (setsid), umask 027, cwd
 * DIR (default: a new temporary directory), every rlimit (NOFILE soft
 * lowered, CORE 0, STACK soft lowered), nice 5, SCHED_BATCH, personality
 * ADDR_NO_RANDOMIZE (only matters at exec: harmless), prctl PR_SET_NAME
 * "procstate-x", PDEATHSIG SIGUSR2, DUMPABLE 0, NO_NEW_PRIVS 1,
 * CHILD_SUBREAPER 1, THP_DISABLE 1, TIMERSLACK 123457 ns, oom_score_adj 300,
 * the ids (pid, ppid, pgrp, sid, tid; printed at start), glibc's rseq
 * registration (the kernel must keep updating cpu_id in the rseq area: it
 * is checked against getcpu on every CPU the process may run on), the
 * robust futex list head (get_robust_list) and clear_child_tid
 * (PR_GET_TID_ADDRESS).
 */
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/rseq.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "tgt.h"

#define NICE	   5
#define TIMERSLACK 123457UL
#define OOM_ADJ	   300
#define PERSONA	   (PER_LINUX | ADDR_NO_RANDOMIZE)

static volatile sig_atomic_t usr2s;
static void on_usr2(int sig)
{
	(void)sig;
	usr2s++;
}

static struct {
	pid_t pid, ppid, pgrp, sid, tid;
	int leader;
	struct rlimit rl[RLIM_NLIMITS];
	char cwd[4096];
	void *robust_head;
	size_t robust_len;
	void *tid_addr;
	cpu_set_t affinity;
} rec;

static int read_oom(void)
{
	char buf[32] = {0};
	int fd = open("/proc/self/oom_score_adj", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -10000;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? atoi(buf) : -10000;
}

static void get_robust(void **head, size_t *len)
{
	*head = NULL;
	*len = 0;
	syscall(SYS_get_robust_list, 0, head, len);
}

static void *get_tid_addr(void)
{
	void *a = NULL;
	prctl(PR_GET_TID_ADDRESS, &a, 0, 0, 0);
	return a;
}

static volatile struct rseq *rseq_area(void)
{
	if (__rseq_size == 0)
		return NULL;
	return (volatile struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset);
}

/* The kernel updates rseq cpu_id when the thread moves: pin it to each
 * allowed CPU in turn and compare with the getcpu syscall. */
static void check_rseq(void)
{
	volatile struct rseq *rs = rseq_area();
	if (!rs) {
		say("note: glibc rseq registration disabled, not checked");
		return;
	}
	int tried = 0;
	for (int cpu = 0; cpu < CPU_SETSIZE && tried < 4; cpu++) {
		if (!CPU_ISSET(cpu, &rec.affinity))
			continue;
		cpu_set_t one;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		if (sched_setaffinity(0, sizeof(one), &one) < 0)
			continue;
		tried++;
		sched_yield();
		unsigned int now = ~0u;
		syscall(SYS_getcpu, &now, NULL, NULL);
		CHECK(now == (unsigned)cpu, "getcpu says %u after pinning to %d", now, cpu);
		CHECK(rs->cpu_id == now, "rseq cpu_id %u, getcpu %u: registration lost?",
		      rs->cpu_id, now);
		CHECK(rs->cpu_id_start == now, "rseq cpu_id_start %u, getcpu %u", rs->cpu_id_start,
		      now);
	}
	sched_setaffinity(0, sizeof(rec.affinity), &rec.affinity);
}

int main(int argc, char **argv)
{
	char tmpl[] = "/tmp/rtcr-procstate.XXXXXX";
	const char *dir = argc > 1 ? argv[1] : mkdtemp(tmpl);
	SETUP(dir != NULL, "mkdtemp");
	mkdir(dir, 0755);
	tgt_install_usr1();
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr2;
	SETUP(sigaction(SIGUSR2, &sa, NULL) == 0, "sigaction(SIGUSR2)");

	rec.leader = setsid() >= 0 || getsid(0) == getpid();
	if (!rec.leader)
		say("note: setsid: %s (not a session leader; ids still checked)", strerror(errno));
	umask(027);
	SETUP(chdir(dir) == 0, "chdir");
	SETUP(getcwd(rec.cwd, sizeof(rec.cwd)) != NULL, "getcwd");

	struct rlimit r;
	SETUP(getrlimit(RLIMIT_NOFILE, &r) == 0, "getrlimit");
	r.rlim_cur = 200;
	SETUP(setrlimit(RLIMIT_NOFILE, &r) == 0, "setrlimit NOFILE");
	r.rlim_cur = r.rlim_max = 0;
	SETUP(setrlimit(RLIMIT_CORE, &r) == 0, "setrlimit CORE");
	SETUP(getrlimit(RLIMIT_STACK, &r) == 0, "getrlimit");
	r.rlim_cur = 6 * 1024 * 1024 + 4096;
	if (r.rlim_max != RLIM_INFINITY && r.rlim_max < r.rlim_cur)
		r.rlim_cur = r.rlim_max;
	SETUP(setrlimit(RLIMIT_STACK, &r) == 0, "setrlimit STACK");
	for (int i = 0; i < RLIM_NLIMITS; i++)
		SETUP(getrlimit(i, &rec.rl[i]) == 0, "getrlimit");

	struct sched_param sp = {0};
	SETUP(sched_setscheduler(0, SCHED_BATCH, &sp) == 0, "SCHED_BATCH");
	SETUP(setpriority(PRIO_PROCESS, 0, NICE) == 0, "setpriority");
	SETUP(personality(PERSONA) != -1, "personality");

	int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	SETUP(fd >= 0, "open oom_score_adj");
	SETUP(write(fd, "300", 3) == 3, "write oom_score_adj");
	close(fd);

	SETUP(prctl(PR_SET_NAME, "procstate-x", 0, 0, 0) == 0, "PR_SET_NAME");
	SETUP(prctl(PR_SET_PDEATHSIG, SIGUSR2, 0, 0, 0) == 0, "PR_SET_PDEATHSIG");
	SETUP(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0, "PR_SET_DUMPABLE");
	SETUP(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "PR_SET_NO_NEW_PRIVS");
	SETUP(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0, "PR_SET_CHILD_SUBREAPER");
	SETUP(prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0, "PR_SET_THP_DISABLE");
	SETUP(prctl(PR_SET_TIMERSLACK, TIMERSLACK, 0, 0, 0) == 0, "PR_SET_TIMERSLACK");

	rec.pid = getpid();
	rec.ppid = getppid();
	rec.pgrp = getpgrp();
	rec.sid = getsid(0);
	rec.tid = gettid();
	get_robust(&rec.robust_head, &rec.robust_len);
	rec.tid_addr = get_tid_addr();
	SETUP(sched_getaffinity(0, sizeof(rec.affinity), &rec.affinity) == 0, "sched_getaffinity");
	SETUP(rec.robust_head != NULL && rec.tid_addr != NULL, "robust list / tid address unset");

	say("ids: pid %d ppid %d pgrp %d sid %d tid %d; cwd %s", rec.pid, rec.ppid, rec.pgrp,
	    rec.sid, rec.tid, rec.cwd);
	say("READY");
	tgt_wait_usr1();

	/* ---- verify ---- */
	CHECK(getpid() == rec.pid, "pid %d, was %d", getpid(), rec.pid);
	CHECK(getppid() == rec.ppid, "ppid %d, was %d", getppid(), rec.ppid);
	CHECK(getpgrp() == rec.pgrp, "pgrp %d, was %d", getpgrp(), rec.pgrp);
	CHECK(getsid(0) == rec.sid, "sid %d, was %d", getsid(0), rec.sid);
	CHECK(gettid() == rec.tid, "tid %d, was %d", gettid(), rec.tid);
	CHECK(syscall(SYS_gettid) == rec.tid, "gettid syscall %ld, was %d", syscall(SYS_gettid),
	      rec.tid);
	CHECK(!rec.leader || getsid(0) == getpid(), "no longer a session leader");
	mode_t um = umask(027);
	CHECK(um == 027, "umask %03o, expected 027", um);
	char cwd[4096];
	CHECK(getcwd(cwd, sizeof(cwd)) && !strcmp(cwd, rec.cwd), "cwd '%s', expected '%s'", cwd,
	      rec.cwd);
	for (int i = 0; i < RLIM_NLIMITS; i++) {
		struct rlimit now;
		getrlimit(i, &now);
		CHECK(now.rlim_cur == rec.rl[i].rlim_cur && now.rlim_max == rec.rl[i].rlim_max,
		      "rlimit %d: %llu/%llu, expected %llu/%llu", i,
		      (unsigned long long)now.rlim_cur, (unsigned long long)now.rlim_max,
		      (unsigned long long)rec.rl[i].rlim_cur,
		      (unsigned long long)rec.rl[i].rlim_max);
	}
	CHECK(rec.rl[RLIMIT_NOFILE].rlim_cur == 200 && rec.rl[RLIMIT_CORE].rlim_cur == 0,
	      "rlimits were not set as asked");
	errno = 0;
	int nice = getpriority(PRIO_PROCESS, 0);
	CHECK(errno == 0 && nice == NICE, "nice %d, expected %d", nice, NICE);
	int pol = sched_getscheduler(0);
	CHECK(pol == SCHED_BATCH, "scheduling policy %d, expected SCHED_BATCH (%d)", pol,
	      SCHED_BATCH);
	int pers = personality(0xffffffff);
	CHECK(pers == PERSONA, "personality %#x, expected %#x", pers, PERSONA);
	int oom = read_oom();
	CHECK(oom == OOM_ADJ, "oom_score_adj %d, expected %d", oom, OOM_ADJ);

	char name[32] = {0};
	prctl(PR_GET_NAME, name, 0, 0, 0);
	CHECK(!strcmp(name, "procstate-x"), "PR_GET_NAME '%s', expected 'procstate-x'", name);
	int v = 0;
	prctl(PR_GET_PDEATHSIG, &v, 0, 0, 0);
	CHECK(v == SIGUSR2, "PR_GET_PDEATHSIG %d, expected SIGUSR2", v);
	CHECK(usr2s == 0, "SIGUSR2 (the parent death signal) arrived %d times", (int)usr2s);
	CHECK((v = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0)) == 0, "PR_GET_DUMPABLE %d, expected 0", v);
	CHECK((v = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)) == 1,
	      "PR_GET_NO_NEW_PRIVS %d, expected 1", v);
	v = 0;
	prctl(PR_GET_CHILD_SUBREAPER, &v, 0, 0, 0);
	CHECK(v == 1, "PR_GET_CHILD_SUBREAPER %d, expected 1", v);
	CHECK((v = prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0)) == 1, "PR_GET_THP_DISABLE %d, expected 1",
	      v);
	long slack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
	CHECK(slack == (long)TIMERSLACK, "PR_GET_TIMERSLACK %ld, expected %lu", slack, TIMERSLACK);

	void *head;
	size_t len;
	get_robust(&head, &len);
	CHECK(head == rec.robust_head && len == rec.robust_len,
	      "robust list %p (len %zu), expected %p (len %zu)", head, len, rec.robust_head,
	      rec.robust_len);
	void *ta = get_tid_addr();
	CHECK(ta == rec.tid_addr, "clear_child_tid %p, expected %p", ta, rec.tid_addr);
	cpu_set_t aff;
	sched_getaffinity(0, sizeof(aff), &aff);
	CHECK(CPU_EQUAL(&aff, &rec.affinity), "CPU affinity changed");
	check_rseq();
	tgt_finish();
}
