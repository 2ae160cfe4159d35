/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The PD session: a new PID and time namespace, rtcr's init as PID 1 in
 * it, and the target process, ptrace-seized before it executes the first
 * instruction of its program.
 *
 *   supervisor --clone3(CLONE_NEWPID)--> init (PID 1)
 *                                          | unshare(CLONE_NEWTIME), offsets
 *                                          `--clone3([set_tid])--> target
 * The target reports itself over a socket with SCM_CREDENTIALS (so the
 * supervisor learns its host pid), waits until the supervisor has seized
 * it, then execs. init reaps every orphan of the namespace and exits with
 * the target's status when the target ends.
 */
#define LOG_PREFIX "launch: "
#include "core/target.h"

#include <fcntl.h>
#include <sched.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/compat.h"
#include "core/inject.h"
#include "base/log.h"
#include "base/scm.h"
#include "core/proc.h"

static pid_t raw_clone3(uint64_t flags, pid_t *set_tid, size_t set_tid_size)
{
	struct clone_args args;

	memset(&args, 0, sizeof(args));
	args.flags = flags;
	args.exit_signal = SIGCHLD;
	args.set_tid = (uint64_t)(uintptr_t)set_tid;
	args.set_tid_size = set_tid_size;
	return (pid_t)syscall(__NR_clone3, &args, sizeof(args));
}

static void __attribute__((noreturn)) child_fail(int sock, const char *what, int err)
{
	char msg[256];
	int n = snprintf(msg, sizeof(msg), "%s: %s", what, strerror(err));

	if (n > 0 && send(sock, msg, (size_t)n, MSG_NOSIGNAL) < 0) {
		/* the supervisor sees EOF then */
	}
	_exit(127);
}

/* In the target child: report our pid, wait to be seized, set up stdio, exec. */
static void __attribute__((noreturn))
target_child(const struct launch_spec *spec, int sock, int out_w, int err_w)
{
	struct ucred cred = {.pid = getpid(), .uid = getuid(), .gid = getgid()};
	char cbuf[CMSG_SPACE(sizeof(cred))];
	char c = 'r';
	struct iovec iov = {.iov_base = &c, .iov_len = 1};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	int fd;

	scm_attach(&mh, cbuf, sizeof(cbuf), SCM_CREDENTIALS, &cred, sizeof(cred));
	if (sendmsg(sock, &mh, 0) != 1)
		child_fail(sock, "report to parent", errno);
	if (recv(sock, &c, 1, 0) != 1)
		_exit(127); /* the parent gave up */

	if (spec->kind == LAUNCH_EXEC) {
		fd = open("/dev/null", O_RDONLY);
		if (fd < 0 || dup2(fd, 0) < 0 || dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0)
			child_fail(sock, "set up stdio", errno);
		if (dup2(sock, 3) < 0)
			child_fail(sock, "set up stdio", errno);
		sock = 3;
		syscall(SYS_close_range, 4, ~0U, 0);
		fcntl(sock, F_SETFD, FD_CLOEXEC);
		execvp(spec->argv[0], spec->argv);
		child_fail(sock, spec->argv[0], errno);
	}
	/* LAUNCH_STUB: only the fd-passing socket, at STUB_SOCK_FD, and the
	 * report socket (close-on-exec) right after it */
	{
		int a = fcntl(sock, F_DUPFD_CLOEXEC, 64);
		int b = fcntl(spec->stub_sock, F_DUPFD, 64);

		if (a < 0 || b < 0 || dup2(b, STUB_SOCK_FD) < 0 ||
		    dup3(a, STUB_SOCK_FD + 1, O_CLOEXEC) < 0)
			child_fail(sock, "set up stub socket", errno);
		sock = STUB_SOCK_FD + 1;
		for (fd = 0; fd < 3; fd++)
			close(fd);
		syscall(SYS_close_range, STUB_SOCK_FD + 2, ~0U, 0);
	}
	{
		char *const argv[] = {(char *)"rtcr-stub", NULL};
		char *const envp[] = {NULL};

		execve(spec->stub_path, argv, envp);
	}
	child_fail(sock, spec->stub_path, errno);
}

static int write_timens_offsets(int64_t mono, int64_t boot)
{
	char buf[128];
	int fd, n, ret = 0;
	int64_t ms = mono / 1000000000LL, mn = mono % 1000000000LL;
	int64_t bs = boot / 1000000000LL, bn = boot % 1000000000LL;

	if (mn < 0) {
		mn += 1000000000LL;
		ms -= 1;
	}
	if (bn < 0) {
		bn += 1000000000LL;
		bs -= 1;
	}
	n = snprintf(buf, sizeof(buf), "monotonic %lld %lld\nboottime %lld %lld\n", (long long)ms,
		     (long long)mn, (long long)bs, (long long)bn);
	fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, (size_t)n) != n)
		ret = -errno;
	close(fd);
	return ret;
}

/* PID 1 of the namespace. */
static void __attribute__((noreturn))
init_main(const struct launch_spec *spec, int sock, int out_w, int err_w)
{
	pid_t set_tid[1];
	pid_t child, p;
	int st, ret;
	sigset_t all;
	struct statfs sfs;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 0) {
		/* parent is outside our namespace: expected */
	}
	setsid();
	prctl(PR_SET_NAME, "rtcr-init");
	if (unshare(CLONE_NEWTIME | CLONE_NEWIPC) < 0)
		child_fail(sock, "create time and IPC namespaces", errno);
	/* a /proc that shows this pid namespace, so that /proc/PID and
	 * /proc/self/task/TID mean what the target's getpid()/gettid() say;
	 * everything else is the host's view (mounts keep propagating in) */
	if (unshare(CLONE_NEWNS) < 0)
		child_fail(sock, "create mount namespace", errno);
	if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		child_fail(sock, "make mounts private", errno);
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		child_fail(sock, "mount /proc for the pid namespace", errno);
	if (statfs("/dev/mqueue", &sfs) == 0 &&
	    sfs.f_type == 0x19800202 /* the IPC namespace's own */ &&
	    mount("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		child_fail(sock, "mount /dev/mqueue for the IPC namespace", errno);
	if (spec->mono_off || spec->boot_off) {
		ret = write_timens_offsets(spec->mono_off, spec->boot_off);
		if (ret)
			child_fail(sock, "set time namespace offsets", -ret);
	}
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	if (spec->kind == LAUNCH_STUB) {
		set_tid[0] = spec->stub_pid;
		child = raw_clone3(0, set_tid, 1);
	} else {
		child = raw_clone3(0, NULL, 0);
	}
	if (child < 0) {
		char what[64];

		snprintf(what, sizeof(what), "create process with pid %d", (int)spec->stub_pid);
		child_fail(sock, spec->kind == LAUNCH_STUB ? what : "fork target", errno);
	}
	if (child == 0) {
		sigprocmask(SIG_UNBLOCK, &all, NULL);
		target_child(spec, sock, out_w, err_w);
	}
	close(sock);
	if (out_w >= 0)
		close(out_w);
	if (err_w >= 0)
		close(err_w);
	if (spec->stub_sock >= 0)
		close(spec->stub_sock);
	/* reap everything; leave with the target's status once the namespace
	 * is empty (a checkpoint's memory snapshot may outlive the target by a
	 * moment; the parent kills us, and so the namespace, when it is done) */
	ret = 0;
	for (;;) {
		p = waitpid(-1, &st, __WALL);
		if (p < 0) {
			if (errno == EINTR)
				continue;
			_exit(ret);
		}
		if (p == child)
			ret = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	}
}

static int recv_child_pid(int sock, pid_t *pid, char *err, size_t errlen)
{
	char cbuf[CMSG_SPACE(sizeof(struct ucred))];
	char buf[256];
	struct msghdr mh;
	struct iovec iov;
	struct cmsghdr *cm;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	iov.iov_base = buf;
	iov.iov_len = sizeof(buf) - 1;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	do {
		n = recvmsg(sock, &mh, 0);
	} while (n < 0 && errno == EINTR);
	if (n <= 0) {
		snprintf(err, errlen, "the new process ended before it started");
		return -ECHILD;
	}
	buf[n] = '\0';
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_CREDENTIALS) {
			struct ucred cr;

			memcpy(&cr, CMSG_DATA(cm), sizeof(cr));
			*pid = cr.pid;
			return 0;
		}
	}
	snprintf(err, errlen, "%s", buf);
	return -ECHILD;
}

/* Let the seized child pid go on (over sock) and wait for its exec stop. */
static int release_until_exec(int sock, pid_t pid)
{
	char err[256], c = 'g';
	ssize_t n;
	pid_t w;
	int st;

	if (send(sock, &c, 1, MSG_NOSIGNAL) != 1)
		return pr_perror("release %d", pid);
	/* EOF: exec succeeded (the socket is close-on-exec); data: an error */
	do {
		n = recv(sock, err, sizeof(err) - 1, 0);
	} while (n < 0 && errno == EINTR);
	if (n > 0) {
		err[n] = '\0';
		pr_err("cannot execute %s", err);
		return -ENOEXEC;
	}
	for (;;) {
		w = waitpid(pid, &st, __WALL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return pr_perror("wait for %d", pid);
		}
		if (!WIFSTOPPED(st)) {
			pr_err("target %d ended before it started", pid);
			return -ECHILD;
		}
		if ((st >> 16) == PTRACE_EVENT_EXEC)
			return 0;
		/* anything else before the exec (a stray stop): let it go on */
		ptrace(PTRACE_CONT, pid, 0, 0);
	}
}

/* Close the descriptors of fds[] that are open and mark them closed. */
static void close_fds(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

int launch_target(const struct launch_spec *spec, struct target *t)
{
	int sv[2] = {-1, -1}, outp[2] = {-1, -1}, errp[2] = {-1, -1};
	int one = 1, ret, st;
	pid_t init = -1, pid = -1;
	char err[256] = "";
	struct stat sb;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return pr_perror("socketpair");
	if (setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0) {
		ret = pr_perror("SO_PASSCRED");
		goto out;
	}
	if (spec->kind == LAUNCH_EXEC) {
		if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
			ret = pr_perror("pipe");
			goto out;
		}
	}
	init = raw_clone3(CLONE_NEWPID, NULL, 0);
	if (init < 0) {
		ret = pr_perror("create pid namespace (clone3 CLONE_NEWPID)");
		goto out;
	}
	if (init == 0) {
		close(sv[0]);
		if (outp[0] >= 0)
			close(outp[0]);
		if (errp[0] >= 0)
			close(errp[0]);
		init_main(spec, sv[1], outp[1], errp[1]);
	}
	close_fds(&sv[1], 1);
	close_fds(&outp[1], 1);
	close_fds(&errp[1], 1);
	ret = recv_child_pid(sv[0], &pid, err, sizeof(err));
	if (ret) {
		pr_err("cannot start %s: %s",
		       spec->kind == LAUNCH_EXEC ? spec->argv[0] : "restore stub", err);
		goto out_kill;
	}
	if (ptrace(PTRACE_SEIZE, pid, 0, RTCR_PTRACE_OPTS_ALL) < 0) {
		ret = pr_perror("ptrace seize %d", pid);
		goto out_kill;
	}
	ret = release_until_exec(sv[0], pid);
	if (ret)
		goto out_kill;
	t->init_pid = init;
	t->pid = pid;
	t->ns_pid = proc_ns_pid(pid);
	t->mono_off = spec->mono_off;
	t->boot_off = spec->boot_off;
	t->exited = false;
	if (t->ns_pid <= 0) {
		ret = -ESRCH;
		pr_err("cannot read the namespace pid of %d", pid);
		goto out_kill;
	}
	if (spec->kind == LAUNCH_EXEC) {
		t->log_rd[0] = -1;
		t->log_rd[1] = outp[0];
		t->log_rd[2] = errp[0];
		t->log_ino[0] = 0;
		t->log_ino[1] = fstat(outp[0], &sb) == 0 ? sb.st_ino : 0;
		t->log_ino[2] = fstat(errp[0], &sb) == 0 ? sb.st_ino : 0;
		outp[0] = errp[0] = -1;
		if (spec->at_exec && spec->at_exec(spec->at_exec_arg, pid, t->ns_pid))
			pr_warn("%s", log_last_error());
		if (ptrace(PTRACE_CONT, pid, 0, 0) < 0) {
			ret = pr_perror("resume %d", pid);
			goto out_kill;
		}
	}
	ret = 0;
	goto out;
out_kill:
	if (init > 0) {
		kill(init, SIGKILL);
		if (pid > 0)
			kill(pid, SIGKILL);
		if (pid > 0)
			ptrace_reap(pid);
		while (waitpid(init, &st, __WALL) < 0 && errno == EINTR)
			;
	}
out:
	close_fds(sv, 2);
	close_fds(outp, 2);
	close_fds(errp, 2);
	return ret;
}
