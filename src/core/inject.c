/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define LOG_PREFIX "inject: "
#include "core/inject.h"

#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"
#include "core/proc.h"

/* RTCR_TRACE=1 logs every injected syscall (at debug level). */
static bool trace_syscalls(void)
{
	static int on = -1;

	if (on < 0)
		on = getenv("RTCR_TRACE") != NULL;
	return on;
}

static int wait_tid(pid_t tid, int *st)
{
	for (;;) {
		if (waitpid(tid, st, __WALL) == tid)
			return 0;
		if (errno != EINTR)
			return pr_perror("wait for thread %d", tid);
	}
}

static bool is_group_stop_sig(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

/*
 * While we wait for one thread to stop, other traced threads and processes
 * may sit in a stop nobody lets go of: the supervisor's loop is not
 * running during a checkpoint. The case that matters: a process in vfork
 * cannot stop until its new child execs, and that child waits in its first
 * ptrace stop. Let such stops go the way the loop would (signals are
 * delivered, group-stops stay stopped); stops of threads we already paused
 * are consumed already and not seen here.
 */
static void release_other_stops(pid_t except)
{
	for (;;) {
		siginfo_t si;
		int st, event, sig;

		memset(&si, 0, sizeof(si));
		if (waitid(P_ALL, 0, &si, WSTOPPED | WNOHANG | WNOWAIT | __WALL) < 0 ||
		    !si.si_pid || si.si_pid == except)
			return;
		if (waitpid(si.si_pid, &st, __WALL | WNOHANG) != si.si_pid || !WIFSTOPPED(st))
			return;
		event = st >> 16;
		sig = WSTOPSIG(st);
		if (event == PTRACE_EVENT_STOP && is_group_stop_sig(sig))
			ptrace(PTRACE_LISTEN, si.si_pid, 0, 0);
		else if (event || sig == (SIGTRAP | 0x80))
			ptrace(PTRACE_CONT, si.si_pid, 0, 0);
		else
			ptrace(PTRACE_CONT, si.si_pid, 0, sig);
	}
}

/* Wait for tid's next stop, letting others go meanwhile; -EAGAIN after
 * about two seconds without one (the caller tries again later). */
static int wait_stop(pid_t tid, int *st)
{
	for (int i = 0; i < 4000; i++) {
		pid_t w = waitpid(tid, st, __WALL | WNOHANG);

		if (w == tid)
			return 0;
		if (w < 0 && errno != EINTR)
			return pr_perror("wait for thread %d", tid);
		release_other_stops(tid);
		usleep(i < 100 ? 50 : 500);
	}
	return -EAGAIN;
}

int ptrace_pause_thread(pid_t tid, struct tstop *ts)
{
	int st, event, sig, ret;

	memset(ts, 0, sizeof(*ts));
	ts->tid = tid;
	if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) < 0) {
		if (errno == ESRCH)
			return -EAGAIN; /* gone since it was listed: list again */
		return pr_perror("interrupt thread %d", tid);
	}
	for (;;) {
		ret = wait_stop(tid, &st);
		if (ret)
			return ret;
		if (WIFEXITED(st) || WIFSIGNALED(st))
			return -EAGAIN; /* ended meanwhile: the caller lists again */
		event = st >> 16;
		sig = WSTOPSIG(st);
		if (event == PTRACE_EVENT_STOP) {
			if (is_group_stop_sig(sig))
				ts->group_stop = true;
			return 0;
		}
		if (event == PTRACE_EVENT_EXIT) {
			/* exiting: let it go, and the caller lists the threads again */
			ptrace(PTRACE_CONT, tid, 0, 0);
			return -EAGAIN;
		}
		if (event) {
			/* exec/clone/fork event: let it finish; the interrupt is still pending */
			if (ptrace(PTRACE_CONT, tid, 0, 0) < 0)
				return pr_perror("continue thread %d", tid);
			continue;
		}
		if (sig == (SIGTRAP | 0x80)) {
			if (ptrace(PTRACE_CONT, tid, 0, 0) < 0)
				return pr_perror("continue thread %d", tid);
			continue;
		}
		/* signal-delivery-stop: keep the signal aside (it is re-queued by the
		 * caller), suppress it now and take the interrupt stop that follows */
		if (ts->sig) {
			pr_err("thread %d: two signals in flight during the pause", tid);
			return -EAGAIN;
		}
		ts->sig = sig;
		if (ptrace(PTRACE_GETSIGINFO, tid, 0, &ts->si) < 0)
			return pr_perror("siginfo of thread %d", tid);
		if (ptrace(PTRACE_CONT, tid, 0, 0) < 0)
			return pr_perror("continue thread %d", tid);
	}
}

int ptrace_resume_thread(const struct tstop *ts)
{
	if (ts->group_stop) {
		if (ptrace(PTRACE_LISTEN, ts->tid, 0, 0) < 0 && errno != ESRCH)
			return pr_perror("listen thread %d", ts->tid);
		return 0;
	}
	if (ptrace(PTRACE_CONT, ts->tid, 0, 0) < 0 && errno != ESRCH)
		return pr_perror("resume thread %d", ts->tid);
	return 0;
}

void ptrace_reap(pid_t pid)
{
	int st;

	for (;;) {
		if (waitpid(pid, &st, __WALL) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (!WIFSTOPPED(st))
			return;
		/* PTRACE_EVENT_EXIT (or a stop that raced the kill): go on */
		ptrace(PTRACE_CONT, pid, 0, 0);
	}
}

/* process_vm_readv/writev of exactly len bytes at addr of pid. */
static int remote_rw(pid_t pid, uint64_t addr, void *buf, size_t len, bool write)
{
	struct iovec l = {buf, len}, r = {(void *)(uintptr_t)addr, len};
	const char *what = write ? "write" : "read";
	ssize_t n = write ? process_vm_writev(pid, &l, 1, &r, 1, 0)
			  : process_vm_readv(pid, &l, 1, &r, 1, 0);

	if (n < 0)
		return pr_perror("%s %zu bytes at 0x%" PRIx64 " of %d", what, len, addr, pid);
	if ((size_t)n != len) {
		pr_err("short %s at 0x%" PRIx64 " of %d (%zd of %zu)", what, addr, pid, n, len);
		return -EFAULT;
	}
	return 0;
}

int remote_read(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	return remote_rw(pid, addr, buf, len, false);
}

int remote_write(pid_t pid, uint64_t addr, const void *buf, size_t len)
{
	return remote_rw(pid, addr, (void *)buf, len, true);
}

static int scan_for_syscall(pid_t pid, uint64_t start, uint64_t end, uint64_t *ip)
{
	size_t len = end - start;
	unsigned char *buf;
	int ret = -ENOENT;

	if (len > (64 << 20))
		len = 64 << 20;
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	if (remote_read(pid, start, buf, len) == 0) {
		for (size_t i = 0; i + 1 < len; i++) {
			if (buf[i] == 0x0f && buf[i + 1] == 0x05) {
				*ip = start + i;
				ret = 0;
				break;
			}
		}
	}
	free(buf);
	return ret;
}

int find_syscall_ip(pid_t pid, uint64_t *ip)
{
	char path[64], *maps = NULL, *line, *save = NULL;
	unsigned long long s, e;
	char perms[8];
	int pass, ret = -ENOENT;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	if (read_file(path, &maps) < 0)
		return pr_perror("read %s", path);
	for (pass = 0; pass < 2 && ret; pass++) {
		char *copy = strdup(maps);

		if (!copy) {
			ret = -ENOMEM;
			break;
		}
		for (line = strtok_r(copy, "\n", &save); line && ret;
		     line = strtok_r(NULL, "\n", &save)) {
			if (sscanf(line, "%llx-%llx %7s", &s, &e, perms) != 3 || perms[2] != 'x' ||
			    perms[0] != 'r')
				continue;
			if (pass == 0 && !strstr(line, "[vdso]"))
				continue;
			if (s >= 0x800000000000ULL)
				continue;
			ret = scan_for_syscall(pid, s, e, ip);
		}
		free(copy);
	}
	free(maps);
	if (ret)
		pr_err("no syscall instruction found in process %d", pid);
	return ret;
}

int inject_begin(struct inject *ij, pid_t tid, uint64_t syscall_ip)
{
	uint64_t all = ~0ULL & ~((1ULL << (SIGKILL - 1)) | (1ULL << (SIGSTOP - 1)));

	memset(ij, 0, sizeof(*ij));
	ij->tid = tid;
	ij->syscall_ip = syscall_ip;
	if (ptrace(PTRACE_GETREGS, tid, 0, &ij->orig) < 0)
		return pr_perror("registers of %d", tid);
	if (ptrace(PTRACE_GETSIGMASK, tid, sizeof(uint64_t), &ij->orig_sigmask) < 0)
		return pr_perror("signal mask of %d", tid);
	if (ptrace(PTRACE_SETSIGMASK, tid, sizeof(uint64_t), &all) < 0)
		return pr_perror("block signals of %d", tid);
	ij->active = true;
	return 0;
}

int inject_syscall(struct inject *ij, long *ret, long nr, uint64_t a1, uint64_t a2, uint64_t a3,
		   uint64_t a4, uint64_t a5, uint64_t a6)
{
	struct user_regs_struct r = ij->orig;
	int st, tries;

	r.rip = ij->syscall_ip;
	r.rax = (uint64_t)nr;
	r.orig_rax = (uint64_t)-1;
	r.rdi = a1;
	r.rsi = a2;
	r.rdx = a3;
	r.r10 = a4;
	r.r8 = a5;
	r.r9 = a6;
	if (ptrace(PTRACE_SETREGS, ij->tid, 0, &r) < 0)
		return pr_perror("set registers of %d", ij->tid);
	for (tries = 0; tries < 16; tries++) {
		if (ptrace(PTRACE_SINGLESTEP, ij->tid, 0, 0) < 0)
			return pr_perror("step thread %d", ij->tid);
		if (wait_tid(ij->tid, &st))
			return -ECHILD;
		if (!WIFSTOPPED(st)) {
			pr_err("thread %d ended during syscall %ld", ij->tid, nr);
			return -ESRCH;
		}
		{
			int ev = st >> 16;

			if (ev == PTRACE_EVENT_FORK || ev == PTRACE_EVENT_VFORK ||
			    ev == PTRACE_EVENT_CLONE) {
				/* the new process is auto-attached; finish the syscall */
				if (ptrace(PTRACE_GETEVENTMSG, ij->tid, 0, &ij->event_msg) < 0)
					return pr_perror("new process of %d", ij->tid);
				tries--;
				continue;
			}
		}
		if (ptrace(PTRACE_GETREGS, ij->tid, 0, &r) < 0)
			return pr_perror("registers of %d", ij->tid);
		if (r.rip == ij->syscall_ip + 2) {
			*ret = (long)r.rax;
			if (trace_syscalls())
				pr_debug("%d: syscall %ld(%#" PRIx64 ", %#" PRIx64 ", %#" PRIx64
					 ") = %ld",
					 ij->tid, nr, a1, a2, a3, *ret);
			return 0;
		}
		if (r.rip != ij->syscall_ip) {
			pr_err("thread %d: syscall %ld stopped at unexpected 0x%llx (signal %d)",
			       ij->tid, nr, r.rip, WSTOPSIG(st));
			return -EIO;
		}
		/* stopped before the instruction (a pending trap): step again */
	}
	pr_err("thread %d: syscall %ld did not complete", ij->tid, nr);
	return -EIO;
}

int inject_call(struct inject *ij, long *ret, const char *what, long nr, uint64_t a1, uint64_t a2,
		uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6)
{
	long r = 0;
	int err = inject_syscall(ij, &r, nr, a1, a2, a3, a4, a5, a6);

	if (err)
		return err;
	if (ret)
		*ret = r;
	if (r < 0 && r > -4096) {
		pr_err("%s: %s", what, strerror((int)-r));
		return (int)r;
	}
	return 0;
}

/*
 * The batch blob: r12 points at an array of struct inject_call, r13 holds
 * their count; each is run in turn, its rax stored back; int3 at the end.
 * Only registers, no stack: it is copied as bytes into the target.
 */
extern const unsigned char rtcr_batch_blob[], rtcr_batch_blob_end[];
__asm__(".pushsection .rodata\n"
	".globl rtcr_batch_blob\n"
	".globl rtcr_batch_blob_end\n"
	"rtcr_batch_blob:\n"
	"1:	test %r13, %r13\n"
	"	jz 2f\n"
	"	mov 0(%r12), %rax\n"
	"	mov 8(%r12), %rdi\n"
	"	mov 16(%r12), %rsi\n"
	"	mov 24(%r12), %rdx\n"
	"	mov 32(%r12), %r10\n"
	"	mov 40(%r12), %r8\n"
	"	mov 48(%r12), %r9\n"
	"	syscall\n"
	"	mov %rax, 56(%r12)\n"
	"	add $64, %r12\n"
	"	dec %r13\n"
	"	jmp 1b\n"
	"2:	int3\n"
	"rtcr_batch_blob_end:\n"
	".popsection\n");

int inject_batch(struct inject *ij, struct inject_call *calls, size_t n)
{
	size_t blob = (size_t)((uintptr_t)rtcr_batch_blob_end -
			       (uintptr_t)rtcr_batch_blob); /* two labels of one asm blob */
	uint64_t code = ij->scratch, table = ij->scratch + 512;
	struct user_regs_struct r = ij->orig;
	int st, ret;

	_Static_assert(sizeof(struct inject_call) == 64, "the blob's stride");
	if (!n)
		return 0;
	if (!ij->scratch || blob > 512 || INJECT_BATCH_SPACE(n) > ij->scratch_len) {
		pr_err("batch of %zu calls does not fit the scratch area", n);
		return -E2BIG;
	}
	ret = remote_write(ij->tid, code, rtcr_batch_blob, blob);
	if (!ret)
		ret = remote_write(ij->tid, table, calls, n * sizeof(*calls));
	if (ret)
		return ret;
	r.rip = code;
	r.orig_rax = (uint64_t)-1;
	r.r12 = table;
	r.r13 = n;
	if (ptrace(PTRACE_SETREGS, ij->tid, 0, &r) < 0)
		return pr_perror("set registers of %d", ij->tid);
	if (ptrace(PTRACE_CONT, ij->tid, 0, 0) < 0)
		return pr_perror("run a batch in thread %d", ij->tid);
	if (wait_tid(ij->tid, &st))
		return -ECHILD;
	if (!WIFSTOPPED(st) || WSTOPSIG(st) != SIGTRAP || (st >> 16)) {
		pr_err("thread %d: batch of %zu calls stopped with status %#x", ij->tid, n, st);
		return -EIO;
	}
	if (ptrace(PTRACE_GETREGS, ij->tid, 0, &r) < 0)
		return pr_perror("registers of %d", ij->tid);
	if (r.rip != code + blob) {
		pr_err("thread %d: batch stopped at 0x%llx, not at its end", ij->tid, r.rip);
		return -EIO;
	}
	return remote_read(ij->tid, table, calls, n * sizeof(*calls));
}

int inject_scratch(struct inject *ij, uint64_t len, uint64_t hint, bool exec)
{
	long r;
	int ret;

	ret = inject_call(ij, &r, "map scratch memory in the target", __NR_mmap, hint, len,
			  PROT_READ | PROT_WRITE | (exec ? PROT_EXEC : 0),
			  MAP_PRIVATE | MAP_ANONYMOUS | (hint ? MAP_FIXED_NOREPLACE : 0),
			  (uint64_t)-1, 0);
	if (ret)
		return ret;
	if (hint && (uint64_t)r != hint) {
		pr_err("scratch memory landed at 0x%lx, not 0x%" PRIx64, r, hint);
		return -EFAULT;
	}
	ij->scratch = (uint64_t)r;
	ij->scratch_len = len;
	return 0;
}

int inject_scratch_free(struct inject *ij)
{
	int ret;

	if (!ij->scratch)
		return 0;
	ret = inject_call(ij, NULL, "unmap scratch memory", __NR_munmap, ij->scratch,
			  ij->scratch_len, 0, 0, 0, 0);
	ij->scratch = 0;
	return ret;
}

int inject_end(struct inject *ij)
{
	int ret = 0;

	if (!ij->active)
		return 0;
	if (ptrace(PTRACE_SETREGS, ij->tid, 0, &ij->orig) < 0)
		ret = pr_perror("restore registers of %d", ij->tid);
	if (ptrace(PTRACE_SETSIGMASK, ij->tid, sizeof(uint64_t), &ij->orig_sigmask) < 0 && !ret)
		ret = pr_perror("restore signal mask of %d", ij->tid);
	ij->active = false;
	return ret;
}
