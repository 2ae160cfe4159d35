/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Run-time probes of the kernel interfaces rtcr uses, and `rtcr check`.
 *
 * Every probe exercises the interface itself. Probes that change process
 * state (namespaces, ptrace, memory protections, clear_refs) run in a
 * forked child that reports back through a pipe; children are always
 * waited for by pid, and killed after PROBE_TIMEOUT_MS (a probe must never
 * hang the caller, e.g. if a userfaultfd write-protect fault were left
 * unresolved). Grandchildren only make syscalls and exit at once.
 */
#define LOG_PREFIX "check: "
#include "core/features.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/compat.h"
#include "base/log.h"
#include "base/str.h"
#include "rtcr/rtcr.h"

#define PROBE_TIMEOUT_MS 5000
#define PG		 4096UL
#define PM_SOFT_DIRTY	 (1ULL << 55)
#define PM_UFFD_WP	 (1ULL << 57)

/* ---- the feature table ---- */

enum group {
	G_PRIV,
	G_PIDNS,
	G_TIMENS,
	G_PTRACE,
	G_CLONE3,
	G_MM_MAP,
	G_PIDFD,
	G_PROCESS_VM,
	G_UFFD,
	G_UFFD_WP,
	G_UFFD_WP_ASYNC,
	G_UFFD_WP_UNPOP,
	G_PAGEMAP_SCAN,
	G_GUARD,
	G_SOFT_DIRTY,
	G__COUNT
};

enum feat_kind {
	K_OPTIONAL, /* some functions of rtcr need it */
	K_BASIC,    /* rtcr cannot checkpoint/restore without it */
	K_INFO,	    /* not used by rtcr; shown for information */
};

struct feat_desc {
	const char *name;
	enum group group;
	enum feat_kind kind;
	const char *enables;
};

/* clang-format off */
static const struct feat_desc feats[FEAT__COUNT] = {
	[FEAT_PRIVILEGES]          = {"root", G_PRIV, K_BASIC,
		"ptrace, namespaces, chosen pids, memory layout (CAP_SYS_ADMIN + CAP_CHECKPOINT_RESTORE)"},
	[FEAT_PID_NS]              = {"pid_ns", G_PIDNS, K_BASIC,
		"targets in their own pid namespace, same pids after restore"},
	[FEAT_TIME_NS]             = {"time_ns", G_TIMENS, K_OPTIONAL,
		"CLOCK_MONOTONIC/BOOTTIME continue across restore"},
	[FEAT_PTRACE_SEIZE]        = {"ptrace_seize", G_PTRACE, K_BASIC,
		"stopping targets and following clone/fork/exec"},
	[FEAT_PTRACE_SIGMASK]      = {"ptrace_sigmask", G_PTRACE, K_OPTIONAL,
		"saving and restoring blocked signals"},
	[FEAT_PTRACE_PEEKSIGINFO]  = {"ptrace_peeksiginfo", G_PTRACE, K_OPTIONAL,
		"saving queued signals"},
	[FEAT_PTRACE_RSEQ]         = {"ptrace_rseq_config", G_PTRACE, K_OPTIONAL,
		"saving the rseq registration of each thread"},
	[FEAT_CLONE3_SET_TID]      = {"clone3_set_tid", G_CLONE3, K_BASIC,
		"restoring processes and threads with their pids"},
	[FEAT_MM_MAP]              = {"prctl_mm_map", G_MM_MAP, K_BASIC,
		"restoring brk, argv/env bounds and auxv (PR_SET_MM_MAP)"},
	[FEAT_PIDFD_OPEN]          = {"pidfd_open", G_PIDFD, K_OPTIONAL,
		"race-free signalling and waiting"},
	[FEAT_PIDFD_GETFD]         = {"pidfd_getfd", G_PIDFD, K_OPTIONAL,
		"copying the target's file descriptors"},
	[FEAT_PROCESS_VM]          = {"process_vm_rw", G_PROCESS_VM, K_BASIC,
		"reading and writing target memory (process_vm_readv/writev)"},
	[FEAT_UFFD]                = {"userfaultfd", G_UFFD, K_OPTIONAL,
		"filling memory at restore (UFFDIO_COPY), dirty tracking"},
	[FEAT_UFFD_WP]             = {"uffd_wp", G_UFFD_WP, K_OPTIONAL,
		"dirty tracking: rtcr run --track=fault"},
	[FEAT_UFFD_WP_ASYNC]       = {"uffd_wp_async", G_UFFD_WP_ASYNC, K_OPTIONAL,
		"dirty tracking without faults in rtcr: --track=async"},
	[FEAT_UFFD_WP_UNPOPULATED] = {"uffd_wp_unpopulated", G_UFFD_WP_UNPOP, K_OPTIONAL,
		"--track=fault: writes to memory never touched yet"},
	[FEAT_UFFD_EVENTS]         = {"uffd_events", G_UFFD, K_OPTIONAL,
		"tracking across munmap, mremap, MADV_DONTNEED/FREE"},
	[FEAT_PAGEMAP_SCAN]        = {"pagemap_scan", G_PAGEMAP_SCAN, K_OPTIONAL,
		"finding present and written pages quickly (PAGEMAP_SCAN)"},
	[FEAT_GUARD_REGIONS]       = {"guard_regions", G_GUARD, K_OPTIONAL,
		"restoring MADV_GUARD_INSTALL guard pages"},
	[FEAT_PAGEMAP_GUARD]       = {"pagemap_guard", G_GUARD, K_OPTIONAL,
		"finding guard pages at checkpoint (PAGE_IS_GUARD)"},
	[FEAT_SOFT_DIRTY]          = {"soft_dirty", G_SOFT_DIRTY, K_INFO,
		"older dirty-page tracking (not used by rtcr)"},
};
/* clang-format on */

static pthread_mutex_t feat_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static bool group_done[G__COUNT];
static bool present[FEAT__COUNT];
static char detail[FEAT__COUNT][192];
static uint64_t uffd_mask;
static unsigned int mm_map_size;

static void set_feat(enum feat_id id, bool yes, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_feat(enum feat_id id, bool yes, const char *fmt, ...)
{
	va_list ap;

	present[id] = yes;
	va_start(ap, fmt);
	/* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): started above; clang-tidy 14 FP */
	vsnprintf(detail[id], sizeof(detail[id]), fmt, ap);
	va_end(ap);
	pr_debug("%s: %s%s%s", feats[id].name, yes ? "yes" : "no", detail[id][0] ? ", " : "",
		 detail[id]);
}

/* ---- children ---- */

/* What a probe child reports: fail is NULL on success, else the step that
 * failed (a string literal: the child is a fork, so the address is valid
 * in the parent too) with its errno. */
struct probe_res {
	const char *fail;
	int err;
	uint64_t val[4];
};

typedef void (*probe_fn)(struct probe_res *r);

#define FAIL(r, what)                                                                              \
	do {                                                                                       \
		(r)->fail = (what);                                                                \
		(r)->err = errno;                                                                  \
		return;                                                                            \
	} while (0)

static void sleep_us(long us)
{
	struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};

	nanosleep(&ts, NULL);
}

/*
 * Wait for a child (any state change waitpid reports with these flags),
 * killing it after timeout_ms. Returns 0 with *status, -ETIMEDOUT once the
 * killed child has been reaped, or -errno of waitpid.
 */
static int wait_child(pid_t pid, int *status, int flags, int timeout_ms)
{
	long waited = 0, step = 100;
	pid_t r;

	for (;;) {
		r = waitpid(pid, status, flags | WNOHANG);
		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
		if (waited >= (long)timeout_ms * 1000)
			break;
		sleep_us(step);
		waited += step;
		if (step < 10000)
			step *= 2;
	}
	kill(pid, SIGKILL);
	while ((r = waitpid(pid, status, __WALL)) >= 0 || errno == EINTR) {
		if (r == pid && (WIFEXITED(*status) || WIFSIGNALED(*status)))
			break;
	}
	return -ETIMEDOUT;
}

/* Blocking wait for a grandchild, used inside probe children only. */
static int wait_exit(pid_t pid, int *status)
{
	pid_t r;

	while ((r = waitpid(pid, status, __WALL)) < 0 && errno == EINTR)
		;
	return r == pid ? 0 : -1;
}

/* Run fn in a forked child and collect its report in *r. */
static void run_child(probe_fn fn, struct probe_res *r)
{
	struct probe_res cr;
	int p[2], status = 0, ret;
	ssize_t n;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK)) {
		r->fail = "pipe2";
		r->err = errno;
		return;
	}
	pid = fork();
	if (pid < 0) {
		r->fail = "fork";
		r->err = errno;
		close(p[0]);
		close(p[1]);
		return;
	}
	if (pid == 0) {
		close(p[0]);
		memset(&cr, 0, sizeof(cr));
		fn(&cr);
		if (write(p[1], &cr, sizeof(cr)) != sizeof(cr))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	ret = wait_child(pid, &status, 0, PROBE_TIMEOUT_MS);
	n = read(p[0], r, sizeof(*r));
	close(p[0]);
	if (ret == -ETIMEDOUT) {
		memset(r, 0, sizeof(*r));
		r->fail = "the probe hung and was killed";
	} else if (ret < 0) {
		memset(r, 0, sizeof(*r));
		r->fail = "waitpid";
		r->err = -ret;
	} else if (n != sizeof(*r)) {
		memset(r, 0, sizeof(*r));
		r->fail = WIFSIGNALED(status) ? "the probe was killed by a signal"
					      : "the probe exited without a report";
		r->err = 0;
		r->val[0] = status;
	}
}

/* "step: error" for a failed probe. */
static const char *res_str(const struct probe_res *r, char *buf, size_t len)
{
	if (!r->fail)
		snprintf(buf, len, "ok");
	else if (r->err)
		snprintf(buf, len, "%s: %s", r->fail, strerror(r->err));
	else
		snprintf(buf, len, "%s", r->fail);
	return buf;
}

/* ---- privileges ---- */

static void probe_priv(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2];
	uint64_t eff;
	bool admin, cr, ptr;

	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &h, d)) {
		set_feat(FEAT_PRIVILEGES, false, "capget: %s", strerror(errno));
		return;
	}
	eff = d[0].effective | (uint64_t)d[1].effective << 32;
	admin = eff & (1ULL << CAP_SYS_ADMIN);
	cr = eff & (1ULL << CAP_CHECKPOINT_RESTORE);
	ptr = eff & (1ULL << CAP_SYS_PTRACE);
	set_feat(FEAT_PRIVILEGES, admin && cr,
		 "euid %u; CAP_SYS_ADMIN %s, CAP_CHECKPOINT_RESTORE %s, CAP_SYS_PTRACE %s",
		 (unsigned int)geteuid(), admin ? "yes" : "no", cr ? "yes" : "no",
		 ptr ? "yes" : "no");
}

/* ---- pid namespace ---- */

static void child_pidns(struct probe_res *r)
{
	int status;
	pid_t pid;

	if (unshare(CLONE_NEWPID))
		FAIL(r, "unshare(CLONE_NEWPID)");
	pid = fork();
	if (pid < 0)
		FAIL(r, "fork into the new pid namespace");
	if (pid == 0)
		_exit(syscall(SYS_getpid) == 1 ? 0 : 1);
	if (wait_exit(pid, &status))
		FAIL(r, "waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		errno = 0;
		FAIL(r, "the first child in the namespace is not pid 1");
	}
}

/* ---- time namespace ---- */

#define TIMENS_MONO_OFF 86400
#define TIMENS_BOOT_OFF 172800

static void child_timens(struct probe_res *r)
{
	static const char offs[] = "monotonic 86400 0\nboottime 172800 0\n";
	struct timespec m0, b0, m1, b1;
	int fd, status, code;
	pid_t pid;

	if (unshare(CLONE_NEWTIME))
		FAIL(r, "unshare(CLONE_NEWTIME)");
	fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		FAIL(r, "open /proc/self/timens_offsets");
	if (write(fd, offs, sizeof(offs) - 1) != (ssize_t)sizeof(offs) - 1)
		FAIL(r, "write /proc/self/timens_offsets");
	close(fd);
	clock_gettime(CLOCK_MONOTONIC, &m0);
	clock_gettime(CLOCK_BOOTTIME, &b0);
	pid = fork();
	if (pid < 0)
		FAIL(r, "fork into the new time namespace");
	if (pid == 0) {
		clock_gettime(CLOCK_MONOTONIC, &m1);
		clock_gettime(CLOCK_BOOTTIME, &b1);
		code = 0;
		if (m1.tv_sec - m0.tv_sec < TIMENS_MONO_OFF ||
		    m1.tv_sec - m0.tv_sec > TIMENS_MONO_OFF + 60)
			code |= 1;
		if (b1.tv_sec - b0.tv_sec < TIMENS_BOOT_OFF ||
		    b1.tv_sec - b0.tv_sec > TIMENS_BOOT_OFF + 60)
			code |= 2;
		_exit(code);
	}
	if (wait_exit(pid, &status))
		FAIL(r, "waitpid");
	errno = 0;
	if (!WIFEXITED(status))
		FAIL(r, "the child in the time namespace died");
	if (WEXITSTATUS(status) & 1)
		FAIL(r, "a child in the time namespace does not see the CLOCK_MONOTONIC offset");
	if (WEXITSTATUS(status) & 2)
		FAIL(r, "a child in the time namespace does not see the CLOCK_BOOTTIME offset");
}

/* ---- ptrace ---- */

static void probe_ptrace(void)
{
	const long opts = PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
			  PTRACE_O_TRACEEXEC | PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL;
	struct __ptrace_peeksiginfo_args psa = {
	    .off = 0, .flags = PTRACE_PEEKSIGINFO_SHARED, .nr = 1};
	struct __ptrace_rseq_configuration rc;
	uint64_t m0 = 0, m1, m2 = 0;
	bool sigmask = false;
	siginfo_t si;
	int status, ret;
	long n;
	pid_t pid;

	pid = fork();
	if (pid < 0) {
		set_feat(FEAT_PTRACE_SEIZE, false, "fork: %s", strerror(errno));
		goto skip_rest;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}

	if (ptrace(PTRACE_SEIZE, pid, NULL, (void *)opts)) {
		set_feat(FEAT_PTRACE_SEIZE, false, "PTRACE_SEIZE: %s", strerror(errno));
		goto kill;
	}
	if (ptrace(PTRACE_INTERRUPT, pid, NULL, NULL)) {
		set_feat(FEAT_PTRACE_SEIZE, false, "PTRACE_INTERRUPT: %s", strerror(errno));
		goto kill;
	}
	ret = wait_child(pid, &status, __WALL, PROBE_TIMEOUT_MS);
	if (ret) {
		set_feat(FEAT_PTRACE_SEIZE, false, "waiting for the PTRACE_INTERRUPT stop: %s",
			 strerror(-ret));
		if (ret == -ETIMEDOUT)
			goto skip_rest; /* killed and reaped */
		goto kill;
	}
	if (!WIFSTOPPED(status) || (status >> 16) != PTRACE_EVENT_STOP) {
		set_feat(FEAT_PTRACE_SEIZE, false, "PTRACE_INTERRUPT: unexpected wait status %#x",
			 status);
		goto kill;
	}
	set_feat(FEAT_PTRACE_SEIZE, true, "%s", "");

	/* Block SIGUSR1 through SETSIGMASK, then find it queued with PEEKSIGINFO. */
	if (ptrace(PTRACE_GETSIGMASK, pid, (void *)sizeof(m0), &m0))
		set_feat(FEAT_PTRACE_SIGMASK, false, "PTRACE_GETSIGMASK: %s", strerror(errno));
	else if (m1 = m0 | 1ULL << (SIGUSR1 - 1),
		 ptrace(PTRACE_SETSIGMASK, pid, (void *)sizeof(m1), &m1))
		set_feat(FEAT_PTRACE_SIGMASK, false, "PTRACE_SETSIGMASK: %s", strerror(errno));
	else if (ptrace(PTRACE_GETSIGMASK, pid, (void *)sizeof(m2), &m2) || m2 != m1)
		set_feat(FEAT_PTRACE_SIGMASK, false, "PTRACE_SETSIGMASK: mask not applied");
	else
		set_feat(FEAT_PTRACE_SIGMASK, sigmask = true, "%s", "");

	if (sigmask && kill(pid, SIGUSR1) == 0) {
		memset(&si, 0, sizeof(si));
		n = ptrace(PTRACE_PEEKSIGINFO, pid, &psa, &si);
		if (n < 0)
			set_feat(FEAT_PTRACE_PEEKSIGINFO, false, "PTRACE_PEEKSIGINFO: %s",
				 strerror(errno));
		else if (n != 1 || si.si_signo != SIGUSR1)
			set_feat(FEAT_PTRACE_PEEKSIGINFO, false,
				 "PTRACE_PEEKSIGINFO: queued SIGUSR1 not found (%ld entries)", n);
		else
			set_feat(FEAT_PTRACE_PEEKSIGINFO, true, "%s", "");
	} else {
		/* Nothing can be queued: the call must still work and find nothing. */
		n = ptrace(PTRACE_PEEKSIGINFO, pid, &psa, &si);
		set_feat(FEAT_PTRACE_PEEKSIGINFO, n == 0, "%s%s",
			 n < 0 ? "PTRACE_PEEKSIGINFO: " : "",
			 n < 0 ? strerror(errno) : "not checked with a queued signal");
	}

	memset(&rc, 0, sizeof(rc));
	n = ptrace(PTRACE_GET_RSEQ_CONFIGURATION, pid, (void *)sizeof(rc), &rc);
	if (n <= 0)
		set_feat(FEAT_PTRACE_RSEQ, false, "PTRACE_GET_RSEQ_CONFIGURATION: %s",
			 n < 0 ? strerror(errno) : "returned 0");
	else
		set_feat(FEAT_PTRACE_RSEQ, true, "%s",
			 rc.rseq_abi_pointer ? "" : "(this libc does not register rseq)");

kill:
	kill(pid, SIGKILL);
	while ((ret = waitpid(pid, &status, __WALL)) >= 0 || errno == EINTR) {
		if (ret == pid && (WIFEXITED(status) || WIFSIGNALED(status)))
			break;
	}
skip_rest:
	for (int id = FEAT_PTRACE_SEIZE + 1; id <= FEAT_PTRACE_RSEQ; id++)
		if (!present[id] && !detail[id][0])
			set_feat(id, false, "needs ptrace_seize");
}

/* ---- clone3 with set_tid ---- */

/* struct clone_args up to set_tid_size (CLONE_ARGS_SIZE_VER1). */
struct clone_args_v1 {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
	uint64_t set_tid, set_tid_size;
};

#define WANT_TID 42

static void child_clone3(struct probe_res *r)
{
	struct clone_args_v1 ca;
	pid_t init, want = WANT_TID;
	long p;
	int status, code;

	if (unshare(CLONE_NEWPID))
		FAIL(r, "unshare(CLONE_NEWPID)");
	init = fork();
	if (init < 0)
		FAIL(r, "fork");
	if (init == 0) {
		/* pid 1 of the new namespace asks for a child with pid 42. */
		memset(&ca, 0, sizeof(ca));
		ca.exit_signal = SIGCHLD;
		ca.set_tid = (uintptr_t)&want;
		ca.set_tid_size = 1;
		p = syscall(__NR_clone3, &ca, sizeof(ca));
		if (p < 0)
			_exit(errno < 150 ? 100 + errno : 100);
		if (p == 0)
			_exit(syscall(SYS_getpid) == WANT_TID ? 0 : 1);
		if (wait_exit(p, &status))
			_exit(3);
		_exit(p == WANT_TID && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 2);
	}
	if (wait_exit(init, &status))
		FAIL(r, "waitpid");
	errno = 0;
	if (!WIFEXITED(status))
		FAIL(r, "the namespace init died");
	code = WEXITSTATUS(status);
	if (code >= 100) {
		errno = code - 100;
		FAIL(r, "clone3(set_tid = {42})");
	}
	if (code == 2)
		FAIL(r, "clone3(set_tid = {42}): the child did not get pid 42");
	if (code)
		FAIL(r, "waitpid in the namespace");
}

/* ---- PR_SET_MM_MAP ---- */

static int read_small(const char *path, char *buf, size_t len)
{
	ssize_t n, got = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while ((size_t)got < len - 1 && (n = read(fd, buf + got, len - 1 - got)) > 0)
		got += n;
	close(fd);
	buf[got] = '\0';
	return got > 0 ? 0 : -1;
}

static void child_mm_map(struct probe_res *r)
{
	struct prctl_mm_map m;
	unsigned long long f[53];
	unsigned int size = 0;
	char buf[2048], *s;
	int i;

	if (prctl(PR_SET_MM, PR_SET_MM_MAP_SIZE, (unsigned long)&size, 0, 0))
		FAIL(r, "prctl(PR_SET_MM, PR_SET_MM_MAP_SIZE)");
	r->val[0] = size;
	if (size != sizeof(m)) {
		errno = 0;
		FAIL(r, "PR_SET_MM_MAP_SIZE: unexpected struct size");
	}

	/* Set the layout to what it is: /proc/self/stat fields 26-28, 45-51. */
	if (read_small("/proc/self/stat", buf, sizeof(buf)))
		FAIL(r, "read /proc/self/stat");
	s = strrchr(buf, ')');
	if (!s) {
		errno = 0;
		FAIL(r, "parse /proc/self/stat");
	}
	s += 2; /* field 3, the state */
	memset(f, 0, sizeof(f));
	for (i = 3; i <= 52 && *s; i++) {
		if (i > 3)
			f[i] = strtoull(s, NULL, 10);
		s = strchr(s, ' ');
		if (!s)
			break;
		s++;
	}
	if (i < 51) {
		errno = 0;
		FAIL(r, "parse /proc/self/stat");
	}
	memset(&m, 0, sizeof(m));
	m.start_code = f[26];
	m.end_code = f[27];
	m.start_stack = f[28];
	m.start_data = f[45];
	m.end_data = f[46];
	m.start_brk = f[47];
	m.brk = syscall(SYS_brk, 0);
	m.arg_start = f[48];
	m.arg_end = f[49];
	m.env_start = f[50];
	m.env_end = f[51];
	m.auxv = NULL;
	m.auxv_size = 0;
	m.exe_fd = (__u32)-1;
	if (prctl(PR_SET_MM, PR_SET_MM_MAP, (unsigned long)&m, sizeof(m), 0))
		FAIL(r, "prctl(PR_SET_MM, PR_SET_MM_MAP) with the current layout");
}

/* ---- pidfd ---- */

static void probe_pidfd(void)
{
	struct stat a, b;
	int pfd, nfd = -1, got;

	pfd = syscall(__NR_pidfd_open, getpid(), 0);
	if (pfd < 0) {
		set_feat(FEAT_PIDFD_OPEN, false, "pidfd_open: %s", strerror(errno));
		set_feat(FEAT_PIDFD_GETFD, false, "needs pidfd_open");
		return;
	}
	set_feat(FEAT_PIDFD_OPEN, true, "%s", "");

	nfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (nfd < 0) {
		set_feat(FEAT_PIDFD_GETFD, false, "open /dev/null: %s", strerror(errno));
		goto out;
	}
	got = syscall(__NR_pidfd_getfd, pfd, nfd, 0);
	if (got < 0) {
		set_feat(FEAT_PIDFD_GETFD, false, "pidfd_getfd: %s", strerror(errno));
		goto out;
	}
	if (fstat(got, &a) == 0 && fstat(nfd, &b) == 0 && a.st_ino == b.st_ino &&
	    a.st_dev == b.st_dev)
		set_feat(FEAT_PIDFD_GETFD, true, "%s", "");
	else
		set_feat(FEAT_PIDFD_GETFD, false, "pidfd_getfd returned a different file");
	close(got);
out:
	if (nfd >= 0)
		close(nfd);
	close(pfd);
}

/* ---- process_vm_readv / writev ---- */

static void probe_process_vm(void)
{
	char src[64], dst[64];
	struct iovec l = {.iov_base = dst, .iov_len = sizeof(dst)};
	struct iovec rm = {.iov_base = src, .iov_len = sizeof(src)};
	ssize_t n;

	memset(src, 0x5a, sizeof(src));
	memset(dst, 0, sizeof(dst));
	n = process_vm_readv(getpid(), &l, 1, &rm, 1, 0);
	if (n != (ssize_t)sizeof(src) || memcmp(src, dst, sizeof(src))) {
		set_feat(FEAT_PROCESS_VM, false, "process_vm_readv: %s",
			 n < 0 ? strerror(errno) : "short or wrong read");
		return;
	}
	memset(dst, 0xa5, sizeof(dst));
	n = process_vm_writev(getpid(), &l, 1, &rm, 1, 0);
	if (n != (ssize_t)sizeof(src) || memcmp(src, dst, sizeof(src))) {
		set_feat(FEAT_PROCESS_VM, false, "process_vm_writev: %s",
			 n < 0 ? strerror(errno) : "short or wrong write");
		return;
	}
	set_feat(FEAT_PROCESS_VM, true, "%s", "");
}

/* ---- userfaultfd ---- */

/* A new userfaultfd: the syscall (user-mode faults only, which is all rtcr
 * needs and what vm.unprivileged_userfaultfd=0 still allows), else
 * /dev/userfaultfd. */
static int uffd_open(const char **how)
{
	int fd, dev, e;

	fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd >= 0) {
		*how = "userfaultfd(UFFD_USER_MODE_ONLY)";
		return fd;
	}
	e = errno;
	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		errno = e;
		return -1;
	}
	fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	e = errno;
	close(dev);
	errno = e;
	*how = "/dev/userfaultfd";
	return fd;
}

static int uffd_api(int fd, uint64_t features, uint64_t *out)
{
	struct uffdio_api api = {.api = UFFD_API, .features = features};

	if (ioctl(fd, UFFDIO_API, &api))
		return -1;
	if (out)
		*out = api.features;
	return 0;
}

static void probe_uffd(void)
{
	const uint64_t ev = UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP |
			    UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP;
	static const struct {
		uint64_t bit;
		const char *name;
	} evn[] = {{UFFD_FEATURE_EVENT_FORK, "fork"},
		   {UFFD_FEATURE_EVENT_REMAP, "remap"},
		   {UFFD_FEATURE_EVENT_REMOVE, "remove"},
		   {UFFD_FEATURE_EVENT_UNMAP, "unmap"}};
	const char *how = "", *err = NULL;
	char lack[64] = "";
	int fd;

	fd = uffd_open(&how);
	if (fd < 0)
		err = "userfaultfd and /dev/userfaultfd";
	else if (uffd_api(fd, 0, &uffd_mask))
		err = "UFFDIO_API";
	if (err) {
		set_feat(FEAT_UFFD, false, "%s: %s", err, strerror(errno));
		set_feat(FEAT_UFFD_EVENTS, false, "needs %s", feats[FEAT_UFFD].name);
		if (fd >= 0)
			close(fd);
		return;
	}
	close(fd);
	set_feat(FEAT_UFFD, true, "via %s, features %#llx", how, (unsigned long long)uffd_mask);

	for (size_t i = 0; i < sizeof(evn) / sizeof(evn[0]); i++)
		if (!(uffd_mask & evn[i].bit))
			snprintf(lack + strlen(lack), sizeof(lack) - strlen(lack), "%s%s",
				 lack[0] ? ", " : "", evn[i].name);
	if (lack[0]) {
		set_feat(FEAT_UFFD_EVENTS, false, "not offered: %s", lack);
		return;
	}
	/* Ask for all four (EVENT_FORK needs CAP_SYS_PTRACE). */
	fd = uffd_open(&how);
	if (fd < 0 || uffd_api(fd, ev, NULL))
		set_feat(FEAT_UFFD_EVENTS, false,
			 "UFFDIO_API with fork/remap/remove/unmap events: %s", strerror(errno));
	else
		set_feat(FEAT_UFFD_EVENTS, true, "fork, remap, remove, unmap");
	if (fd >= 0)
		close(fd);
}

static int pagemap_entry(int pm, const void *addr, uint64_t *e)
{
	return pread(pm, e, sizeof(*e), (uintptr_t)addr / PG * sizeof(*e)) == sizeof(*e) ? 0 : -1;
}

/* Register [mem, mem + len) for write-protect tracking and protect it. */
static int uffd_wp_range(int fd, void *mem, size_t len, const char **what)
{
	struct uffdio_register reg = {
	    .range = {.start = (uintptr_t)mem, .len = len},
	    .mode = UFFDIO_REGISTER_MODE_WP,
	};
	struct uffdio_writeprotect wp = {
	    .range = {.start = (uintptr_t)mem, .len = len},
	    .mode = UFFDIO_WRITEPROTECT_MODE_WP,
	};

	if (ioctl(fd, UFFDIO_REGISTER, &reg)) {
		*what = "UFFDIO_REGISTER (MODE_WP)";
		return -1;
	}
	if (!(reg.ioctls & (1ULL << _UFFDIO_WRITEPROTECT))) {
		*what = "UFFDIO_REGISTER: no UFFDIO_WRITEPROTECT for anonymous memory";
		errno = 0;
		return -1;
	}
	if (ioctl(fd, UFFDIO_WRITEPROTECT, &wp)) {
		*what = "UFFDIO_WRITEPROTECT";
		return -1;
	}
	return 0;
}

static void child_uffd_wp(struct probe_res *r)
{
	struct uffdio_writeprotect wp;
	const char *how, *what;
	uint64_t e;
	char *mem;
	int fd, pm;

	fd = uffd_open(&how);
	if (fd < 0)
		FAIL(r, "userfaultfd");
	if (uffd_api(fd, UFFD_FEATURE_PAGEFAULT_FLAG_WP, NULL))
		FAIL(r, "UFFDIO_API with UFFD_FEATURE_PAGEFAULT_FLAG_WP");
	pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pm < 0)
		FAIL(r, "open /proc/self/pagemap");
	mem = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		FAIL(r, "mmap");
	memset(mem, 1, 4 * PG);
	if (uffd_wp_range(fd, mem, 4 * PG, &what))
		FAIL(r, what);
	errno = 0;
	if (pagemap_entry(pm, mem, &e) || !(e & PM_UFFD_WP))
		FAIL(r, "UFFDIO_WRITEPROTECT: pagemap does not show the page protected");
	/* Sync mode: a write now would wait for a handler. Unprotect instead. */
	wp.range.start = (uintptr_t)mem;
	wp.range.len = 4 * PG;
	wp.mode = 0;
	if (ioctl(fd, UFFDIO_WRITEPROTECT, &wp))
		FAIL(r, "UFFDIO_WRITEPROTECT (unprotect)");
	errno = 0;
	if (pagemap_entry(pm, mem, &e) || (e & PM_UFFD_WP))
		FAIL(r, "UFFDIO_WRITEPROTECT: the page stays protected after unprotect");
	mem[0] = 2;
	munmap(mem, 4 * PG);
	close(pm);
	close(fd);
}

static long pm_scan(int pm, void *start, size_t len, uint64_t flags, uint64_t mask,
		    struct page_region *vec, size_t nvec, uint64_t *walk_end)
{
	struct pm_scan_arg a = {
	    .size = sizeof(a),
	    .flags = flags,
	    .start = (uintptr_t)start,
	    .end = (uintptr_t)start + len,
	    .vec = (uintptr_t)vec,
	    .vec_len = nvec,
	    .category_mask = mask,
	    .return_mask = mask,
	};
	long n = ioctl(pm, PAGEMAP_SCAN, &a);

	if (walk_end)
		*walk_end = a.walk_end;
	return n;
}

/* val[0]: 1 when PAGEMAP_SCAN confirmed the written page; val[1]: 1 when
 * PM_SCAN_WP_MATCHING re-protected it. */
static void child_uffd_wp_async(struct probe_res *r)
{
	struct page_region reg[4];
	const char *how, *what;
	volatile char *mem;
	uint64_t e;
	long n;
	int fd, pm;

	fd = uffd_open(&how);
	if (fd < 0)
		FAIL(r, "userfaultfd");
	if (uffd_api(fd, UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_WP_ASYNC, NULL))
		FAIL(r, "UFFDIO_API with UFFD_FEATURE_WP_ASYNC");
	pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pm < 0)
		FAIL(r, "open /proc/self/pagemap");
	mem = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		FAIL(r, "mmap");
	memset((char *)mem, 1, 4 * PG);
	if (uffd_wp_range(fd, (char *)mem, 4 * PG, &what))
		FAIL(r, what);
	/* Async: this write resolves in the kernel (the parent kills us if not). */
	mem[2 * PG] = 2;
	errno = 0;
	if (pagemap_entry(pm, (char *)mem + 2 * PG, &e) || (e & PM_UFFD_WP))
		FAIL(r, "the written page is still write-protected");
	if (pagemap_entry(pm, (char *)mem + PG, &e) || !(e & PM_UFFD_WP))
		FAIL(r, "an untouched page is not write-protected");

	n = pm_scan(pm, (char *)mem, 4 * PG, 0, PAGE_IS_WRITTEN, reg, 4, NULL);
	if (n < 0 && (errno == ENOTTY || errno == EINVAL))
		goto out; /* no PAGEMAP_SCAN: reported separately */
	if (n != 1 || reg[0].start != (uintptr_t)mem + 2 * PG ||
	    reg[0].end != (uintptr_t)mem + 3 * PG)
		FAIL(r, "PAGEMAP_SCAN does not report exactly the written page");
	r->val[0] = 1;
	n = pm_scan(pm, (char *)mem, 4 * PG, PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
		    PAGE_IS_WRITTEN, reg, 4, NULL);
	if (n != 1)
		FAIL(r, "PAGEMAP_SCAN with PM_SCAN_WP_MATCHING");
	if (pagemap_entry(pm, (char *)mem + 2 * PG, &e) || !(e & PM_UFFD_WP))
		FAIL(r, "PM_SCAN_WP_MATCHING did not protect the page again");
	r->val[1] = 1;
out:
	munmap((char *)mem, 4 * PG);
	close(pm);
	close(fd);
}

static void child_uffd_wp_unpop(struct probe_res *r)
{
	const char *how, *what;
	uint64_t e;
	char *mem;
	int fd, pm;

	fd = uffd_open(&how);
	if (fd < 0)
		FAIL(r, "userfaultfd");
	if (uffd_api(fd, UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_WP_UNPOPULATED, NULL))
		FAIL(r, "UFFDIO_API with UFFD_FEATURE_WP_UNPOPULATED");
	pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pm < 0)
		FAIL(r, "open /proc/self/pagemap");
	mem = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		FAIL(r, "mmap");
	/* Nothing touched: only WP_UNPOPULATED protects these pages. */
	if (uffd_wp_range(fd, mem, 4 * PG, &what))
		FAIL(r, what);
	errno = 0;
	if (pagemap_entry(pm, mem + PG, &e) || !(e & PM_UFFD_WP))
		FAIL(r, "an unpopulated page was not write-protected");
	munmap(mem, 4 * PG);
	close(pm);
	close(fd);
}

/* ---- PAGEMAP_SCAN, guard regions, soft-dirty ---- */

static void child_pagemap_scan(struct probe_res *r)
{
	struct page_region reg[8];
	uint64_t walk_end;
	char *mem;
	long n;
	int pm;

	pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pm < 0)
		FAIL(r, "open /proc/self/pagemap");
	mem = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		FAIL(r, "mmap");
	mem[0] = mem[PG] = mem[5 * PG] = 1;
	n = pm_scan(pm, mem, 8 * PG, 0, PAGE_IS_PRESENT, reg, 8, &walk_end);
	if (n < 0)
		FAIL(r, "ioctl(PAGEMAP_SCAN)");
	errno = 0;
	if (n != 2 || reg[0].start != (uintptr_t)mem || reg[0].end != (uintptr_t)mem + 2 * PG ||
	    reg[1].start != (uintptr_t)mem + 5 * PG || reg[1].end != (uintptr_t)mem + 6 * PG ||
	    walk_end != (uintptr_t)mem + 8 * PG)
		FAIL(r, "PAGEMAP_SCAN: wrong present pages");
	munmap(mem, 8 * PG);
	close(pm);
}

/* val[0]: 1 when PAGEMAP_SCAN reported the guard page; val[1]: scan errno. */
static void child_guard(struct probe_res *r)
{
	struct page_region reg[4];
	char *mem;
	long n;
	int pm;

	mem = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		FAIL(r, "mmap");
	mem[0] = 1;
	if (madvise(mem + PG, PG, MADV_GUARD_INSTALL))
		FAIL(r, "madvise(MADV_GUARD_INSTALL)");
	pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pm >= 0) {
		n = pm_scan(pm, mem, 4 * PG, 0, PAGE_IS_GUARD, reg, 4, NULL);
		if (n == 1 && reg[0].start == (uintptr_t)mem + PG &&
		    reg[0].end == (uintptr_t)mem + 2 * PG)
			r->val[0] = 1;
		else
			r->val[1] = n < 0 ? errno : 0;
		close(pm);
	}
	if (madvise(mem + PG, PG, MADV_GUARD_REMOVE))
		FAIL(r, "madvise(MADV_GUARD_REMOVE)");
	mem[PG] = 1; /* readable and writable again */
	munmap(mem, 4 * PG);
}

/* val[0]: the pagemap entry of the page written after clear_refs 4. */
static void child_soft_dirty(struct probe_res *r)
{
	volatile char *mem;
	uint64_t e;
	int fd, pm;

	mem = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		FAIL(r, "mmap");
	mem[0] = 1;
	fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		FAIL(r, "open /proc/self/clear_refs");
	if (write(fd, "4", 1) != 1)
		FAIL(r, "write 4 to /proc/self/clear_refs");
	close(fd);
	mem[0] = 2;
	pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pm < 0)
		FAIL(r, "open /proc/self/pagemap");
	if (pagemap_entry(pm, (char *)mem, &e))
		FAIL(r, "read /proc/self/pagemap");
	r->val[0] = e;
	close(pm);
	munmap((char *)mem, PG);
}

/* ---- the probes: one per group ---- */

struct probe;
typedef void (*verdict_fn)(const struct probe *p, const struct probe_res *r);

/*
 * A group's probe: either run (in rtcr itself; it sets the group's
 * features), or child, run in a forked child to decide feature id once
 * needs is present and uffd_feature offered by UFFDIO_API. Its report
 * sets id present with the detail ok, or absent with the failed step;
 * verdict, when set, reads the report instead. When id is found missing,
 * also (if set) is marked "needs <id>" too.
 */
struct probe {
	void (*run)(void);
	probe_fn child;
	enum feat_id id;
	bool has_needs, has_also;
	enum feat_id needs, also;
	uint64_t uffd_feature;
	const char *uffd_feature_name;
	const char *ok;
	verdict_fn verdict;
};

/* Sets p->id (and p->also) missing when the child failed; true then. */
static bool probe_failed(const struct probe *p, const struct probe_res *r)
{
	char b[160];

	if (!r->fail)
		return false;
	set_feat(p->id, false, "%s", res_str(r, b, sizeof(b)));
	if (p->has_also)
		set_feat(p->also, false, "needs %s", feats[p->id].name);
	return true;
}

static void verdict_mm_map(const struct probe *p, const struct probe_res *r)
{
	mm_map_size = r->val[0];
	if (!probe_failed(p, r))
		set_feat(p->id, true, "struct prctl_mm_map: %u bytes", mm_map_size);
}

static void verdict_uffd_wp_async(const struct probe *p, const struct probe_res *r)
{
	if (!probe_failed(p, r))
		set_feat(p->id, true, "%s",
			 r->val[1] ? "writes seen and re-protected by PAGEMAP_SCAN"
				   : "writes resolve (no PAGEMAP_SCAN to read them)");
}

static void verdict_guard(const struct probe *p, const struct probe_res *r)
{
	if (probe_failed(p, r))
		return;
	set_feat(FEAT_GUARD_REGIONS, true, "%s", "");
	if (r->val[0])
		set_feat(FEAT_PAGEMAP_GUARD, true, "%s", "");
	else
		set_feat(FEAT_PAGEMAP_GUARD, false,
			 "PAGEMAP_SCAN does not report the guard page%s%s", r->val[1] ? ": " : "",
			 r->val[1] ? strerror((int)r->val[1]) : "");
}

static void verdict_soft_dirty(const struct probe *p, const struct probe_res *r)
{
	if (probe_failed(p, r))
		return;
	if (!(r->val[0] & PM_SOFT_DIRTY))
		set_feat(
		    p->id, false,
		    "bit 55 not set by a write after clear_refs 4 (CONFIG_MEM_SOFT_DIRTY off)");
	else
		set_feat(p->id, true, "%s", "");
}

#define NEEDS(f)     .has_needs = true, .needs = (f)
#define ALSO(f)	     .has_also = true, .also = (f)
#define UFFD_FEAT(b) .uffd_feature = (b), .uffd_feature_name = #b

static const struct probe probes[G__COUNT] = {
    [G_PRIV] = {.run = probe_priv},
    [G_PIDNS] = {.child = child_pidns, .id = FEAT_PID_NS},
    [G_TIMENS] = {.child = child_timens,
		  .id = FEAT_TIME_NS,
		  .ok = "monotonic and boottime offsets seen"},
    [G_PTRACE] = {.run = probe_ptrace},
    [G_CLONE3] = {.child = child_clone3,
		  .id = FEAT_CLONE3_SET_TID,
		  .ok = "got pid 42 in a new pid namespace"},
    [G_MM_MAP] = {.child = child_mm_map, .id = FEAT_MM_MAP, .verdict = verdict_mm_map},
    [G_PIDFD] = {.run = probe_pidfd},
    [G_PROCESS_VM] = {.run = probe_process_vm},
    [G_UFFD] = {.run = probe_uffd},
    [G_UFFD_WP] = {.child = child_uffd_wp,
		   .id = FEAT_UFFD_WP,
		   NEEDS(FEAT_UFFD),
		   UFFD_FEAT(UFFD_FEATURE_PAGEFAULT_FLAG_WP)},
    [G_UFFD_WP_ASYNC] = {.child = child_uffd_wp_async,
			 .id = FEAT_UFFD_WP_ASYNC,
			 NEEDS(FEAT_UFFD_WP),
			 UFFD_FEAT(UFFD_FEATURE_WP_ASYNC),
			 .verdict = verdict_uffd_wp_async},
    [G_UFFD_WP_UNPOP] = {.child = child_uffd_wp_unpop,
			 .id = FEAT_UFFD_WP_UNPOPULATED,
			 NEEDS(FEAT_UFFD_WP),
			 UFFD_FEAT(UFFD_FEATURE_WP_UNPOPULATED)},
    [G_PAGEMAP_SCAN] = {.child = child_pagemap_scan, .id = FEAT_PAGEMAP_SCAN},
    [G_GUARD] = {.child = child_guard,
		 .id = FEAT_GUARD_REGIONS,
		 ALSO(FEAT_PAGEMAP_GUARD),
		 .verdict = verdict_guard},
    [G_SOFT_DIRTY] = {.child = child_soft_dirty,
		      .id = FEAT_SOFT_DIRTY,
		      .verdict = verdict_soft_dirty},
};

static void run_probe(const struct probe *p)
{
	struct probe_res r;

	if (p->run) {
		p->run();
		return;
	}
	if (p->has_needs && !feat_present(p->needs)) {
		set_feat(p->id, false, "needs %s", feats[p->needs].name);
		return;
	}
	if (p->uffd_feature && !(uffd_mask & p->uffd_feature)) {
		set_feat(p->id, false, "%s not offered", p->uffd_feature_name);
		return;
	}
	run_child(p->child, &r);
	if (p->verdict)
		p->verdict(p, &r);
	else if (!probe_failed(p, &r))
		set_feat(p->id, true, "%s", p->ok ? p->ok : "");
}

/* ---- cache ---- */

static void run_group(enum group g)
{
	int e = errno;

	pthread_mutex_lock(&feat_lock);
	if (!group_done[g]) {
		run_probe(&probes[g]);
		group_done[g] = true;
	}
	pthread_mutex_unlock(&feat_lock);
	errno = e;
}

bool feat_present(enum feat_id id)
{
	if ((unsigned int)id >= FEAT__COUNT)
		return false;
	run_group(feats[id].group);
	return present[id];
}

const char *feat_name(enum feat_id id)
{
	return (unsigned int)id < FEAT__COUNT ? feats[id].name : "?";
}

const char *feat_enables(enum feat_id id)
{
	return (unsigned int)id < FEAT__COUNT ? feats[id].enables : "";
}

const char *feat_detail(enum feat_id id)
{
	if ((unsigned int)id >= FEAT__COUNT)
		return "";
	run_group(feats[id].group);
	return detail[id];
}

void feat_probe_all(void)
{
	for (int g = 0; g < G__COUNT; g++)
		run_group(g);
}

uint64_t feat_uffd_features(void)
{
	run_group(G_UFFD);
	return uffd_mask;
}

unsigned int feat_mm_map_size(void)
{
	run_group(G_MM_MAP);
	return mm_map_size;
}

/* ---- rtcr check ---- */

static void json_entry(FILE *out, bool first, const char *name, bool yes, const char *enables,
		       const char *det)
{
	fprintf(out, "%s\n  {\"name\": ", first ? "" : ",");
	json_str(out, name);
	fprintf(out, ", \"present\": %s, \"enables\": ", yes ? "true" : "false");
	json_str(out, enables);
	fprintf(out, ", \"detail\": ");
	json_str(out, det);
	fputc('}', out);
}

/* Append "name (enables)" to a list in buf. */
static void list_append(char *buf, size_t len, const struct feat_desc *f)
{
	size_t n = strlen(buf);

	if (n < len)
		snprintf(buf + n, len - n, "%s%s (%s)", n ? ", " : "", f->name, f->enables);
}

int feat_check(FILE *out, bool json)
{
	char missing[2048] = "", optional[2048] = "";
	bool verbose = log_get_level() >= LOG_INFO;
	struct utsname u;
	const char *rel;
	int ret = 0;

	feat_probe_all();
	rel = uname(&u) == 0 ? u.release : "unknown";

	if (json) {
		fputc('[', out);
		json_entry(out, true, "kernel", true, "kernel release", rel);
	} else {
		fprintf(out, "%-20s %s\n", "kernel", rel);
	}
	for (int i = 0; i < FEAT__COUNT; i++) {
		const char *det = detail[i];

		if (json) {
			json_entry(out, false, feats[i].name, present[i], feats[i].enables, det);
		} else {
			fprintf(out, "%-20s %-3s  %s", feats[i].name, present[i] ? "yes" : "no",
				feats[i].enables);
			if (det[0] && (!present[i] || verbose))
				fprintf(out, " [%s]", det);
			fputc('\n', out);
		}
		if (present[i] || feats[i].kind == K_INFO)
			continue;
		if (feats[i].kind == K_BASIC)
			list_append(missing, sizeof(missing), &feats[i]);
		else
			list_append(optional, sizeof(optional), &feats[i]);
	}
	if (json)
		fputs("\n]\n", out);

	if (missing[0]) {
		ret = -EOPNOTSUPP;
		if (!json)
			fprintf(out, "summary: checkpoint/restore will not work; missing: %s\n",
				missing);
		pr_err("missing basic kernel features (see rtcr check)");
	} else if (!json) {
		fprintf(out, "summary: all basic features present");
		if (optional[0])
			fprintf(out, "; missing optional: %s", optional);
		fputc('\n', out);
	}
	fflush(out);
	return ret;
}
