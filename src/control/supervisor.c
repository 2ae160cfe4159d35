/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The parent of a target (see supervisor.h): the event loop, the target's
 * processes, and the life of the parent from start to end. One thread,
 * one epoll loop; the only other threads are the image writer of a
 * running checkpoint and the worker of a running migration. The parts
 * are listed in sup-internal.h.
 *
 * Signals: SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2
 * are blocked and read from a signalfd. SIGINT, SIGTERM, SIGQUIT and (in
 * the foreground) SIGHUP are forwarded to the target process; a detached
 * parent ignores SIGHUP. SIGUSR1/2 are ignored (reserved). SIGPIPE is
 * ignored once the target runs (writes report EPIPE instead).
 */
#define LOG_PREFIX "supervisor: "
#include "control/sup-internal.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "core/proc.h"
#include "control/rundir.h"

uint64_t sup_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t sup_real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- epoll helpers ---- */

int sup_ep_add(struct sup *s, int fd, struct handle *h, uint32_t ev)
{
	struct epoll_event e = {.events = ev, .data.ptr = h};

	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &e))
		return -errno;
	return 0;
}

int sup_ep_mod(struct sup *s, int fd, struct handle *h, uint32_t ev)
{
	struct epoll_event e = {.events = ev, .data.ptr = h};

	if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, fd, &e))
		return -errno;
	return 0;
}

void sup_ep_del(struct sup *s, int fd)
{
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL);
}

/* ---- the target's processes ---- */

static void target_ended(struct sup *s, int raw, const char *why)
{
	if (s->ended)
		return;
	s->ended = true;
	s->raw_status = raw;
	s->t.exited = true;
	s->t.status = raw;
	s->end_ns = sup_mono_ns();
	if (WIFSIGNALED(raw))
		pr_info("target %s (pid %d) %s: killed by signal %d", s->name, (int)s->t.pid, why,
			WTERMSIG(raw));
	else
		pr_info("target %s (pid %d) %s: exit code %d", s->name, (int)s->t.pid, why,
			WEXITSTATUS(raw));
}

static void ptrace_resume(int req, pid_t pid, int sig)
{
	if (ptrace(req, pid, 0, (void *)(long)sig) && errno != ESRCH)
		pr_warn("ptrace(%d, %d): %s", req, (int)pid, strerror(errno));
}

/* A fault about to be delivered: say where (at debug level), which tells
 * a restore that went wrong from a program's own crash. */
static void report_fault(pid_t tid, int sig)
{
	struct user_regs_struct regs;
	siginfo_t si;

	if (log_get_level() < LOG_DEBUG)
		return;
	if (ptrace(PTRACE_GETSIGINFO, tid, 0, &si) < 0 || ptrace(PTRACE_GETREGS, tid, 0, &regs) < 0)
		return;
	pr_debug("thread %d: %s (code %d) at address %p, rip 0x%llx, rsp 0x%llx", (int)tid,
		 strsignal(sig), si.si_code, si.si_addr, (unsigned long long)regs.rip,
		 (unsigned long long)regs.rsp);
}

static void handle_stop(struct sup *s, pid_t pid, int st)
{
	int event = st >> 16;
	int sig = WSTOPSIG(st);

	switch (event) {
	case 0:
		if (sig == (SIGTRAP | 0x80)) {
			ptrace_resume(PTRACE_CONT, pid, 0); /* syscall stop */
		} else {
			/* signal-delivery-stop: deliver it */
			if (pid == s->t.pid)
				s->group_stopped = false;
			if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE)
				report_fault(pid, sig);
			ptrace_resume(PTRACE_CONT, pid, sig);
		}
		break;
	case PTRACE_EVENT_STOP:
		if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU) {
			if (pid == s->t.pid)
				s->group_stopped = true;
			ptrace_resume(PTRACE_LISTEN, pid, 0); /* group-stop */
		} else {
			if (pid == s->t.pid)
				s->group_stopped = false;
			ptrace_resume(PTRACE_CONT, pid, 0);
		}
		break;
	case PTRACE_EVENT_EXEC:
		/* a new address space: track it from its first instruction */
		if (s->tk && track_arm_process(s->tk, NULL, pid, (uint32_t)proc_ns_pid(pid)))
			pr_warn("pid %d: no dirty tracking after its exec (the next checkpoint "
				"saves it in full): %s",
				(int)pid, log_last_error());
		ptrace_resume(PTRACE_CONT, pid, 0);
		break;
	default: /* CLONE, FORK, VFORK, VFORK_DONE, EXIT, ... */
		ptrace_resume(PTRACE_CONT, pid, 0);
		break;
	}
}

/* When the target's main process exits, another process of its namespace
 * (a child of init that runs: not a zombie, not a checkpoint's stopped
 * memory snapshot) becomes the target's main process; 0 if none. */
static pid_t next_main_process(struct sup *s)
{
	char path[96], *buf = NULL, *p, *end, *stat = NULL;
	pid_t found = 0;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)s->t.init_pid,
		 (int)s->t.init_pid);
	if (read_file(path, &buf) < 0)
		return 0;
	for (p = buf; *p && !found; p = end) {
		long pid = strtol(p, &end, 10);
		char *q;

		if (end == p)
			break;
		if (pid == s->t.pid)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		if (read_file(path, &stat) < 0)
			continue;
		q = strrchr(stat, ')');
		/* a traced stop is a new child not yet let go, or, while an
		 * image is being written, a checkpoint's memory snapshot */
		if (q && q[1] == ' ' && q[2] != 'Z' && q[2] != 'X' &&
		    (q[2] != 't' || !s->ck.running))
			found = (pid_t)pid;
		free(stat);
		stat = NULL;
	}
	free(buf);
	return found;
}

void sup_reap(struct sup *s)
{
	for (;;) {
		int st;
		pid_t pid = waitpid(-1, &st, __WALL | WNOHANG);

		if (pid < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECHILD && !s->init_reaped && s->t.init_pid > 0) {
				/* not ours anymore?! nothing to wait for */
				pr_warn("init (pid %d) is gone", (int)s->t.init_pid);
				s->init_reaped = true;
				s->reaped_ns = sup_mono_ns();
				if (!s->ended)
					target_ended(s, W_EXITCODE(255, 0), "lost");
			}
			return;
		}
		if (pid == 0)
			return;
		if (WIFSTOPPED(st)) {
			handle_stop(s, pid, st);
			continue;
		}
		if (!WIFEXITED(st) && !WIFSIGNALED(st))
			continue;
		if (pid == s->t.init_pid) {
			s->init_reaped = true;
			s->reaped_ns = sup_mono_ns();
			if (!s->ended)
				target_ended(s, st, "ended with its namespace");
		} else if (pid == s->t.pid) {
			/* a main process that exits on its own while other processes of
			 * the namespace run on has daemonized: follow them; one killed
			 * by a signal ends the target (and its namespace) */
			pid_t next = WIFEXITED(st) ? next_main_process(s) : 0;

			if (next > 0) {
				/* a daemon: its parent exited, it goes on */
				pr_info("pid %d exited; the target goes on as pid %d", (int)pid,
					(int)next);
				s->t.pid = next;
				s->t.ns_pid = proc_ns_pid(next);
			} else {
				target_ended(s, st, "exited");
			}
		}
		/* other traced processes (threads, children): nothing to do yet */
	}
}

static void forward_signal(struct sup *s, int sig)
{
	if (s->ended || s->t.pid <= 0)
		return;
	pr_debug("forwarding signal %d to the target (pid %d)", sig, (int)s->t.pid);
	if (kill(s->t.pid, sig) && errno != ESRCH)
		pr_warn("cannot forward signal %d: %s", sig, strerror(errno));
}

static void handle_signals(struct sup *s)
{
	struct signalfd_siginfo si;

	for (;;) {
		ssize_t n = read(s->sigfd, &si, sizeof(si));

		if (n != sizeof(si))
			return;
		switch (si.ssi_signo) {
		case SIGCHLD:
			sup_reap(s);
			break;
		case SIGHUP:
			if (s->detach)
				break;
			/* fall through */
		case SIGINT:
		case SIGTERM:
		case SIGQUIT:
			forward_signal(s, (int)si.ssi_signo);
			break;
		default:
			break;
		}
	}
}

/* ---- the loop ---- */

static bool all_drained(struct sup *s)
{
	for (int i = 1; i <= 2; i++)
		if (s->src[i].fd >= 0 && !s->src[i].eof)
			return false;
	return true;
}

static bool all_flushed(struct sup *s)
{
	for (int i = 0; i < 3; i++)
		if (!s->fwd[i].dead && s->fwd[i].fd >= 0 && sup_fwd_pending(&s->fwd[i]))
			return false;
	return true;
}

static bool loop_done(struct sup *s)
{
	return s->ended && s->init_reaped && all_drained(s) && !s->ck.running && !s->mig.running &&
	       all_flushed(s);
}

/* Deadlines once the target has ended. */
static void check_deadlines(struct sup *s)
{
	uint64_t now = sup_mono_ns();

	if (!s->ended)
		return;
	/* (not while an image is written: the memory snapshot lives in the namespace) */
	if (!s->init_reaped && !s->init_killed && !s->ck.running &&
	    now - s->end_ns > INIT_GRACE_NS) {
		pr_info("init (pid %d) outlived the target; killing it", (int)s->t.init_pid);
		if (kill(s->t.init_pid, SIGKILL) && errno != ESRCH)
			pr_warn("cannot kill init: %s", strerror(errno));
		s->init_killed = true;
	}
	if (s->init_reaped && !all_drained(s) && now - s->reaped_ns > DRAIN_GRACE_NS) {
		/* Someone outside still holds a write end: take what is there. */
		for (int i = 1; i <= 2; i++) {
			while (sup_src_read(s, &s->src[i]) > 0)
				;
			if (!s->src[i].eof) {
				pr_debug("%s of the target did not reach EOF", s->src[i].what);
				s->src[i].eof = true;
				sup_src_update(s, &s->src[i]);
			}
		}
	}
	if (s->detach && all_drained(s) && now - s->end_ns > FWD_GRACE_NS) {
		for (int i = 0; i < 3; i++)
			if (!s->fwd[i].dead && sup_fwd_pending(&s->fwd[i]))
				sup_fwd_kill(s, &s->fwd[i], ETIMEDOUT);
	}
}

/* Drop clients that sent half a request and nothing more for a long time. */
static void check_idle_clients(struct sup *s)
{
	uint64_t now = sup_mono_ns();

	for (struct client *c = s->clients; c; c = c->next)
		if (!c->dead && !c->busy && c->inlen && now - c->last_ns > CLIENT_TIMEOUT_NS)
			sup_client_close(s, c);
}

static int run_loop(struct sup *s)
{
	struct epoll_event evs[32];

	sup_reap(s); /* anything that happened before the signalfd was there */
	while (!loop_done(s)) {
		int timeout = s->ended ? 100 : (s->clients ? 10000 : -1);
		int n;

		for (int i = 1; i <= 2; i++)
			sup_src_update(s, &s->src[i]);
		n = epoll_wait(s->epfd, evs, 32, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return pr_perror("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			struct handle *h = evs[i].data.ptr;
			uint32_t e = evs[i].events;

			switch (h->kind) {
			case H_SIGNAL:
				handle_signals(s);
				break;
			case H_LISTEN:
				sup_accept_clients(s);
				break;
			case H_SRC:
				sup_src_read(s, (struct src *)h);
				break;
			case H_FWD: {
				struct fwd *f = (struct fwd *)h;

				if (e & EPOLLOUT)
					sup_fwd_flush(s, f);
				if (!f->dead && (e & (EPOLLERR | EPOLLHUP)) && !(e & EPOLLOUT))
					sup_fwd_kill(s, f, EPIPE);
				break;
			}
			case H_CLIENT: {
				struct client *c = (struct client *)h;

				if (c->dead)
					break;
				if (e & EPOLLOUT)
					sup_client_flush(s, c);
				if (!c->dead && (e & EPOLLIN))
					sup_client_read(s, c);
				if (!c->dead && (e & (EPOLLHUP | EPOLLERR))) {
					sup_client_close(s, c); /* fully gone */
					break;
				}
				if (!c->dead)
					sup_client_process(s, c);
				break;
			}
			case H_CKPT:
				sup_ckpt_done(s);
				break;
			case H_MIG:
				sup_mig_event(s);
				break;
			}
		}
		sup_free_dead_clients(s, false);
		check_deadlines(s);
		check_idle_clients(s);
		sup_free_dead_clients(s, false);
	}
	return 0;
}

/* ---- start and end ---- */

static void fill_record(struct sup *s, struct rundir_record *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", s->name);
	r->pid = s->t.pid;
	r->ns_pid = s->t.ns_pid;
	r->parent_pid = getpid();
	r->started_ns = s->t.started_ns;
	snprintf(r->command, sizeof(r->command), "%s", s->command);
	snprintf(r->origin, sizeof(r->origin), "%s", s->t.origin);
}

/* Target ended and drained: leave the status, clean up, answer `wait`. */
static void finish(struct sup *s)
{
	struct rundir_record r;

	fill_record(s, &r);
	r.status = rundir_shell_status(s->raw_status);
	r.raw_status = s->raw_status;
	r.ended_ns = sup_real_ns();
	rundir_write_record(s->dir, RUNDIR_STATUS, &r, true);
	if (s->sock_made)
		rundir_remove(s->dir, s->name, RUNDIR_SOCK);
	s->sock_made = false;
	if (s->info_made)
		rundir_remove(s->dir, s->name, RUNDIR_INFO);
	s->info_made = false;
	if (s->lsock >= 0) {
		sup_ep_del(s, s->lsock);
		close(s->lsock);
		s->lsock = -1;
	}

	/* Answer every request still open, then give the replies a moment. */
	for (struct client *c = s->clients; c; c = c->next) {
		if (c->dead)
			continue;
		if (c->waiting)
			sup_reply_wait(s, c);
		if (!c->dead && !c->busy)
			sup_client_process(s, c); /* lines that came after a `wait` */
	}
	for (struct client *c = s->clients; c; c = c->next) {
		uint64_t deadline = sup_mono_ns() + 1000000000ULL;

		while (!c->dead && c->outlen > c->outoff && sup_mono_ns() < deadline) {
			struct pollfd p = {.fd = c->fd, .events = POLLOUT};

			poll(&p, 1, 100);
			sup_client_flush(s, c);
		}
	}
}

/* Something went badly wrong with the target running: end it for good. */
static void teardown(struct sup *s)
{
	if (s->t.init_pid > 0 && !s->init_reaped) {
		kill(s->t.init_pid, SIGKILL);
		kill(s->t.pid, SIGKILL);
		while (!s->init_reaped) {
			int st;
			pid_t pid = waitpid(-1, &st, __WALL);

			if (pid < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			if (WIFSTOPPED(st)) {
				/* An exit stop (PTRACE_EVENT_EXIT) is not ended by
				 * SIGKILL: only we can let it go, and init waits for it. */
				ptrace_resume(PTRACE_CONT, pid, 0);
				continue;
			}
			if (pid == s->t.pid && (WIFEXITED(st) || WIFSIGNALED(st)))
				target_ended(s, st, "was killed");
			if (pid == s->t.init_pid && (WIFEXITED(st) || WIFSIGNALED(st))) {
				s->init_reaped = true;
				target_ended(s, st, "was killed");
			}
		}
	}
	if (!s->ended)
		target_ended(s, W_EXITCODE(0, SIGKILL), "was killed");
	track_free(s->tk);
	s->tk = NULL;
}

static void send_ready(struct sup *s, int ret)
{
	char line[1200];
	int n;

	if (s->ready_fd < 0)
		return;
	if (ret == 0)
		n = snprintf(line, sizeof(line), "ready %s\n", s->name);
	else
		n = snprintf(line, sizeof(line), "error %s\n",
			     *log_last_error() ? log_last_error() : strerror(-ret));
	if (n > (int)sizeof(line) - 1)
		n = sizeof(line) - 1;
	if (write(s->ready_fd, line, (size_t)n) < 0) {
		/* the waiting process is gone: carry on */
	}
	close(s->ready_fd);
	s->ready_fd = -1;
}

/* The state of a parent, every descriptor closed (-1). */
static struct sup *sup_new(bool detach, const char *log_file, int ready_fd)
{
	struct sup *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->detach = detach;
	s->log_file = log_file;
	s->ready_fd = ready_fd;
	s->epfd = s->sigfd = s->lsock = s->logfd = -1;
	s->ck.efd = -1;
	s->mig.efd = -1;
	s->ck.dirfd = -1;
	s->t.init_pid = s->t.pid = -1;
	for (int i = 0; i < 3; i++) {
		s->t.log_rd[i] = -1;
		s->src[i].fd = -1;
		s->fwd[i].fd = -1;
	}
	return s;
}

/* The run directory, epoll, the signalfd of mask and the eventfds of the
 * writer and migration threads. */
static int sup_open_loop(struct sup *s, const sigset_t *mask)
{
	int ret = rundir_locate(s->dir, sizeof(s->dir));

	if (ret)
		return ret;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0)
		return pr_perror("epoll_create1");
	s->sigfd = signalfd(-1, mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (s->sigfd < 0)
		return pr_perror("signalfd");
	s->sig_h.kind = H_SIGNAL;
	s->listen_h.kind = H_LISTEN;
	s->ck.h.kind = H_CKPT;
	s->ck.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	s->mig.h.kind = H_MIG;
	s->mig.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_mutex_init(&s->mig.mu, NULL);
	pthread_cond_init(&s->mig.cv, NULL);
	pthread_mutex_init(&s->mig.pg.mu, NULL);
	if (s->ck.efd < 0 || s->mig.efd < 0)
		return pr_perror("eventfd");
	if ((ret = sup_ep_add(s, s->sigfd, &s->sig_h, EPOLLIN)) ||
	    (ret = sup_ep_add(s, s->ck.efd, &s->ck.h, EPOLLIN)) ||
	    (ret = sup_ep_add(s, s->mig.efd, &s->mig.h, EPOLLIN))) {
		errno = -ret;
		return pr_perror("epoll_ctl");
	}
	return 0;
}

/* The name, its socket and NAME.log (our log too when detached). */
static int sup_open_name(struct sup *s, const struct start *st)
{
	int ret = sup_reserve_name(s, st);

	if (ret)
		return ret;
	ret = sup_open_logs(s);
	if (ret)
		return ret;
	if (s->detach)
		log_set_fd(s->logfd); /* our stderr is /dev/null now */
	if ((ret = sup_ep_add(s, s->lsock, &s->listen_h, EPOLLIN))) {
		errno = -ret;
		return pr_perror("epoll_ctl");
	}
	return 0;
}

/* The target runs: record it, report it, serve until it has ended. */
static void sup_serve_target(struct sup *s)
{
	struct rundir_record rec;

	sup_wire_sources(s);
	fill_record(s, &rec);
	if (rundir_write_record(s->dir, RUNDIR_INFO, &rec, false) == 0)
		s->info_made = true;
	pr_info("target %s started: pid %d (%d in its namespace)", s->name, (int)s->t.pid,
		(int)s->t.ns_pid);
	send_ready(s, 0);

	if (run_loop(s)) {
		s->fatal = true;
		teardown(s);
	}
	finish(s);
}

/* Close and free everything of s. */
static void sup_free(struct sup *s, int ready_fd)
{
	if (s->ck.running) /* only after a fatal loop error */
		pthread_join(s->ck.th, NULL);
	sup_free_dead_clients(s, true);
	for (int i = 0; i < 3; i++) {
		if (s->fwd[i].own && s->fwd[i].fd >= 0)
			close(s->fwd[i].fd);
		free(s->fwd[i].buf);
		if (s->t.log_rd[i] >= 0)
			close(s->t.log_rd[i]);
	}
	if (s->t.argv) {
		for (char **a = s->t.argv; *a; a++)
			free(*a);
		free(s->t.argv);
	}
	if (s->logfd >= 0) {
		if (s->detach)
			log_set_fd(-1);
		close(s->logfd);
	}
	if (s->lsock >= 0)
		close(s->lsock);
	if (s->ck.efd >= 0)
		close(s->ck.efd);
	if (s->mig.efd >= 0)
		close(s->mig.efd);
	if (s->sigfd >= 0)
		close(s->sigfd);
	if (s->epfd >= 0)
		close(s->epfd);
	if (ready_fd >= 0 && s->ready_fd >= 0)
		close(s->ready_fd);
	free(s);
}

int sup_supervise(const struct start *st, bool detach, const char *log_file, int ready_fd)
{
	static const int sigs[] = {SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
	struct sigaction old_pipe;
	sigset_t mask, old;
	struct sup *s;
	int ret, result;
	bool started = false;

	s = sup_new(detach, log_file, ready_fd);
	if (!s) {
		pr_err("out of memory");
		if (ready_fd >= 0)
			close(ready_fd);
		return -ENOMEM;
	}
	sigemptyset(&mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&mask, sigs[i]);
	/* Blocked before the target exists, so that none of them is lost;
	 * launch_target() and restore_target() give their children a clean mask. */
	pthread_sigmask(SIG_BLOCK, &mask, &old);

	ret = sup_open_loop(s, &mask);
	if (!ret)
		ret = sup_open_name(s, st);
	if (!ret)
		ret = sup_start_target(s, st);
	if (ret) {
		send_ready(s, ret);
		if (s->sock_made)
			rundir_remove(s->dir, s->name, RUNDIR_SOCK);
		goto out;
	}
	started = true;
	/* after the target exists: it must not inherit this */
	sigaction(SIGPIPE, &(struct sigaction){.sa_handler = SIG_IGN}, &old_pipe);
	sup_serve_target(s);
out:
	result = ret ? ret : rundir_shell_status(s->raw_status);
	sup_free(s, ready_fd);
	if (started)
		sigaction(SIGPIPE, &old_pipe, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return result;
}
