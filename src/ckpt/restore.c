/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Restore orchestration:
 *   1. open and validate the image; check this machine (CPU features,
 *      files the target had open or mapped) before creating anything;
 *   2. create the PD (pid + time namespace, init) and an empty child (the
 *      stub) with the recorded pid, stopped under ptrace;
 *   3. the sessions rebuild it phase by phase through injected system
 *      calls: memory, descriptors, process attributes, signals, threads;
 *   4. set the registers and signal mask, let it run.
 * Any failure kills the namespace: nothing half-restored is left.
 */
#define LOG_PREFIX "restore: "
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/arch/x86_64/cpu.h"
#include "sessions/registry.h"
#include "sessions/session.h"
#include "ckpt/ckpt.h"
#include "base/log.h"
#include "core/proc.h"

int rst_pass_fd(struct rst_ctx *r, int ourfd, int *tfd);

int restore_peek_name(const char *dir, char *name_out, size_t len)
{
	struct img *im = NULL;
	const Rtcr__Image *img;
	int ret = img_open(dir, &im);

	if (ret)
		return ret;
	img = img_meta(im);
	if ((size_t)snprintf(name_out, len, "%s", img->inventory->name) >= len)
		ret = -ENAMETOOLONG;
	img_close(im);
	return ret;
}

/*
 * Page checksums are verified by a second thread while the first writes
 * the pages into the target (this VM has two cores); the target runs only
 * once every run has been verified.
 */
struct verifier {
	pthread_t th;
	struct img *im;
	size_t nruns;
	int ret;
	char err[512];
	bool started;
};

static void *verify_thread(void *arg)
{
	struct verifier *v = arg;

	for (size_t i = 0; i < v->nruns; i++) {
		v->ret = img_run_verify(v->im, i);
		if (v->ret) {
			snprintf(v->err, sizeof(v->err), "%s", log_last_error());
			break;
		}
	}
	return NULL;
}

static int verifier_join(struct verifier *v)
{
	if (!v->started)
		return 0;
	pthread_join(v->th, NULL);
	v->started = false;
	if (v->ret && v->err[0])
		log_set_last_error(v->err);
	return v->ret;
}

/* Does [s, e) meet a VMA of any process of the image? */
static bool overlaps(uint64_t s, uint64_t e, const Rtcr__Image *img)
{
	for (size_t k = 0; k < img->n_processes; k++) {
		const Rtcr__Process *p = img->processes[k];

		for (size_t i = 0; i < p->n_vmas; i++)
			if (p->vmas[i]->start < e && s < p->vmas[i]->end)
				return true;
	}
	return false;
}

/* Scratch memory at an address that is free in the image's layout. */
static int map_scratch(struct rst_ctx *r)
{
	static const uint64_t candidates[] = {
	    0x10000000ULL,     0x100000000ULL,	  0x200000000000ULL, 0x300000000000ULL,
	    0x500000000000ULL, 0x680000000000ULL, 0x10000000000ULL,  0x40000000000ULL,
	};

	for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
		if (overlaps(candidates[i], candidates[i] + RST_SCRATCH_LEN, r->img))
			continue;
		if (inject_scratch(&r->ij, RST_SCRATCH_LEN, candidates[i], true) == 0)
			return 0;
	}
	pr_err("no free place for the restore's scratch memory");
	return -ENOMEM;
}

/* Make sure the fd-passing socket does not sit on a number any process of
 * the image uses (the processes forked from the first inherit it). */
static int place_xfer_fd(struct rst_ctx *r)
{
	int x = STUB_SOCK_FD, ret;
	bool used;

	for (;;) {
		used = false;
		for (size_t k = 0; k < r->img->n_processes && !used; k++) {
			const Rtcr__Process *p = r->img->processes[k];

			for (size_t i = 0; i < p->n_fds; i++)
				if ((int)p->fds[i]->fd == x)
					used = true;
		}
		if (!used)
			break;
		x++;
	}
	r->xfer_fd = STUB_SOCK_FD;
	if (x == STUB_SOCK_FD)
		return 0;
	ret = inject_call(&r->ij, NULL, "move the restore socket", __NR_dup3, STUB_SOCK_FD,
			  (uint64_t)x, O_CLOEXEC, 0, 0, 0);
	if (ret)
		return ret;
	ret = inject_call(&r->ij, NULL, "close", __NR_close, STUB_SOCK_FD, 0, 0, 0, 0, 0);
	r->xfer_fd = x;
	return ret;
}

static int alloc_ints(int **a, size_t n, int val)
{
	*a = malloc(sizeof(int) * (n + 1));
	if (!*a)
		return -ENOMEM;
	for (size_t i = 0; i <= n; i++)
		(*a)[i] = val;
	return 0;
}

static int shared_init(struct rst_shared *sh, const Rtcr__Image *img)
{
	size_t nf = 0;

	for (size_t i = 0; i < img->n_files; i++)
		if (img->files[i]->id >= nf)
			nf = img->files[i]->id + 1;
	sh->nfiles = nf;
	sh->fd_state = calloc(fd_nkinds, sizeof(void *));
	if (!sh->fd_state)
		return -ENOMEM;
	if (alloc_ints(&sh->shmem_owner, img->n_shmem, -1) ||
	    alloc_ints(&sh->shmem_owner_tfd, img->n_shmem, -1) ||
	    alloc_ints(&sh->file_ours, nf, -1) || alloc_ints(&sh->file_tfd, nf, -1))
		return -ENOMEM;
	sh->file_tpid = calloc(nf + 1, sizeof(pid_t));
	sh->shmem_owner_start = calloc(img->n_shmem + 1, sizeof(uint64_t));
	sh->shmem_owner_end = calloc(img->n_shmem + 1, sizeof(uint64_t));
	sh->shmem_owner_pgoff = calloc(img->n_shmem + 1, sizeof(uint64_t));
	if (!sh->file_tpid || !sh->shmem_owner_start || !sh->shmem_owner_end ||
	    !sh->shmem_owner_pgoff)
		return -ENOMEM;
	return 0;
}

static void shared_free(struct rst_shared *sh)
{
	if (sh->file_ours)
		for (size_t i = 0; i <= sh->nfiles; i++)
			if (sh->file_ours[i] >= 0)
				close(sh->file_ours[i]);
	free(sh->shmem_owner);
	free(sh->shmem_owner_tfd);
	free(sh->shmem_owner_start);
	free(sh->shmem_owner_end);
	free(sh->shmem_owner_pgoff);
	free(sh->file_ours);
	free(sh->file_tpid);
	free(sh->file_tfd);
	free(sh->fd_state);
}

/* Who creates procs[idx], which shares the descriptor table of another
 * process (CLONE_FILES): its parent if that shares the table, else a
 * sibling that does (with CLONE_PARENT), made before it; or NULL. */
static struct rst_ctx *table_sharer(struct rst_shared *sh, size_t idx)
{
	const Rtcr__Process *p = sh->procs[idx].proc;
	struct rst_ctx *sib = NULL;

	for (size_t i = 0; i < idx; i++) {
		const Rtcr__Process *s = sh->procs[i].proc;
		bool owner = !s->has_fdtable_of && s->pid == p->fdtable_of;

		if (s->zombie || (!owner && (!s->has_fdtable_of || s->fdtable_of != p->fdtable_of)))
			continue;
		if (s->pid == p->ppid)
			return &sh->procs[i];
		if (s->ppid == p->ppid && !sib)
			sib = &sh->procs[i];
	}
	return sib;
}

/* A process of the image that is not the first: forked by its parent's
 * stub (or by the first process with CLONE_PARENT when its parent is init),
 * with its pid, before anything is restored; a session leader calls
 * setsid() before it forks its own children. */
static int create_process(struct rst_shared *sh, size_t idx)
{
	struct rst_ctx *r = &sh->procs[idx], *creator = NULL;
	const Rtcr__Process *p = r->proc;
	struct {
		uint64_t flags, exit_signal;
	} ca;
	int ret;

	for (size_t i = 0; i < idx && !creator; i++)
		if (sh->procs[i].proc->pid == p->ppid && !sh->procs[i].proc->zombie)
			creator = &sh->procs[i];
	memset(&ca, 0, sizeof(ca));
	ca.exit_signal = SIGCHLD;
	if (p->fdtable_of) {
		creator = table_sharer(sh, idx);
		if (!creator) {
			pr_err("pid %u: shares the descriptor table of %u, but neither its parent "
			       "nor a sibling made before it does",
			       p->pid, p->fdtable_of);
			return -EINVAL;
		}
		ca.flags = CLONE_FILES | (creator->proc->pid == p->ppid ? 0 : CLONE_PARENT);
	} else if (!creator) {
		if (p->ppid != 1)
			pr_warn("pid %u: its parent %u is not in the image; init adopts it", p->pid,
				p->ppid);
		creator = &sh->procs[0];
		ca.flags = CLONE_PARENT;
	}
	/* clone3 takes no exit signal with CLONE_PARENT: the new process gets
	 * the exit signal of its creator (restored ones have SIGCHLD) */
	if (ca.flags & CLONE_PARENT)
		ca.exit_signal = 0;
	ret = rst_clone_stopped(creator, ca.flags, ca.exit_signal, p->pid, "process", &r->pid);
	if (ret)
		return ret;
	/* same scratch area, syscall instruction and restore socket as its creator */
	ret = inject_begin(&r->ij, r->pid, creator->ij.syscall_ip);
	if (ret)
		return ret;
	r->ij.scratch = creator->ij.scratch;
	r->ij.scratch_len = creator->ij.scratch_len;
	r->vdso_ip = creator->vdso_ip;
	r->xfer_fd = creator->xfer_fd;
	if (ptrace(PTRACE_SETOPTIONS, r->pid, 0, RTCR_PTRACE_OPTS_ALL | PTRACE_O_SUSPEND_SECCOMP) <
	    0)
		return pr_perror("pid %u: suspend seccomp", p->pid);
	/* a zombie too: it leaves its session and group as they were */
	if (p->sid == p->pid)
		return inject_call(&r->ij, NULL, "setsid", __NR_setsid, 0, 0, 0, 0, 0, 0);
	return 0;
}

/* A zombie: let it exit as it did; the parent has not reaped it. */
static int make_zombie(struct rst_ctx *r)
{
	uint32_t st = r->proc->exit_status;
	int ret;

	if (WIFSIGNALED(st)) {
		uint64_t none = 0;

		ret = ptrace(PTRACE_SETSIGMASK, r->pid, sizeof(uint64_t), &none) < 0 ? -errno : 0;
		if (!ret)
			ret = inject_call(&r->ij, NULL, "kill", __NR_kill, r->proc->pid,
					  (uint64_t)WTERMSIG(st), 0, 0, 0, 0);
		if (ret)
			return ret;
		ptrace(PTRACE_CONT, r->pid, 0, WTERMSIG(st));
	} else {
		long dummy;

		/* it stops at its exit (PTRACE_EVENT_EXIT): let it through */
		inject_syscall(&r->ij, &dummy, __NR_exit_group, WEXITSTATUS(st), 0, 0, 0, 0, 0);
		ptrace(PTRACE_CONT, r->pid, 0, 0);
	}
	ptrace_reap(r->pid);
	r->ij.active = false;
	return 0;
}

/* Process groups once every process exists, before the zombies exit
 * (a zombie may lead a group others are in, or be in another's group):
 * leaders first. */
static int restore_pgids(struct rst_shared *sh)
{
	int ret;

	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < sh->nprocs; i++) {
			struct rst_ctx *r = &sh->procs[i];
			const Rtcr__Process *p = r->proc;
			long cur = 0;

			if (p->sid == p->pid || (pass == 0) != (p->pgid == p->pid))
				continue;
			ret = inject_syscall(&r->ij, &cur, __NR_getpgid, 0, 0, 0, 0, 0, 0);
			if (ret)
				return ret;
			if ((uint32_t)cur == p->pgid)
				continue;
			ret = inject_call(&r->ij, NULL, "setpgid", __NR_setpgid, 0, p->pgid, 0, 0,
					  0, 0);
			if (ret) {
				pr_err("pid %u: cannot join process group %u", p->pid, p->pgid);
				return ret;
			}
		}
	}
	return 0;
}

static int stub_path(char *buf, size_t len)
{
	char self[PATH_MAX], *slash;
	const char *env = getenv("RTCR_STUB");
	ssize_t n;

	if (env && *env) {
		snprintf(buf, len, "%s", env);
		return access(buf, X_OK) == 0 ? 0 : pr_perror("restore stub %s", buf);
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return pr_perror("readlink /proc/self/exe");
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	const char *tries[] = {"%s/rtcr-stub", "%s/../build/rtcr-stub", "%s/../lib/rtcr/rtcr-stub",
			       "%s/../libexec/rtcr/rtcr-stub"};
	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		snprintf(buf, len, tries[i], self);
		if (access(buf, X_OK) == 0)
			return 0;
	}
	pr_err("cannot find rtcr-stub next to %s (set RTCR_STUB)", self);
	return -ENOENT;
}

static int check_machine(const Rtcr__Image *img, bool ignore_cpu)
{
	const Rtcr__Inventory *inv = img->inventory;
	char missing[1024] = "";
	struct utsname u;
	int n;

	if (inv->cpu) {
		n = cpu_info_check(inv->cpu, missing, sizeof(missing));
		if (n > 0 && !ignore_cpu) {
			pr_err("this CPU lacks %d feature%s the image may use: %s (--ignore-cpu "
			       "restores anyway, at the risk of SIGILL)",
			       n, n == 1 ? "" : "s", missing);
			return -ENOTSUP;
		}
		if (n > 0)
			pr_warn("restoring despite missing CPU features: %s", missing);
	}
	uname(&u);
	if (inv->kernel_release && strcmp(inv->kernel_release, u.release))
		pr_info("image from kernel %s, restoring on %s", inv->kernel_release, u.release);
	return 0;
}

static void time_offsets(const Rtcr__Image *img, int64_t *mono, int64_t *boot)
{
	const Rtcr__Inventory *inv = img->inventory;
	char *boot_id = NULL;
	bool same_boot = false;

	*mono = *boot = 0;
	if (!inv->timens)
		return;
	if (read_file("/proc/sys/kernel/random/boot_id", &boot_id) > 0) {
		boot_id[strcspn(boot_id, "\n")] = '\0';
		same_boot = inv->boot_id && !strcmp(boot_id, inv->boot_id);
	}
	free(boot_id);
	if (same_boot) {
		/* the clocks went on meanwhile: keep the same offsets */
		*mono = inv->timens->monotonic_offset_ns;
		*boot = inv->timens->boottime_offset_ns;
		return;
	}
	/* another boot or node: continue from where the clocks were */
	*mono = (int64_t)inv->timens->monotonic_ns - (int64_t)now_ns(CLOCK_MONOTONIC);
	*boot = (int64_t)inv->timens->boottime_ns - (int64_t)now_ns(CLOCK_BOOTTIME);
	if (*mono < 0)
		*mono = 0;
	if (*boot < 0)
		*boot = 0;
}

int restore_thaw(struct target *t)
{
	int ret = 0;

	for (size_t i = 0; i < t->nfrozen; i++) {
		if (ptrace(PTRACE_CONT, t->frozen[i], 0, 0) < 0 && !ret)
			ret = pr_perror("resume thread %d", t->frozen[i]);
	}
	free(t->frozen);
	t->frozen = NULL;
	t->nfrozen = 0;
	return ret;
}

/* One restore: the first process's context while it is being made, what
 * all processes share, and the parent's ends of the stub's socket and of
 * the LOG pipes. */
struct restore {
	const struct restore_req *rq;
	struct target *t;
	const Rtcr__Image *img;
	struct rst_ctx r;
	struct rst_shared sh;
	struct verifier ver;
	int sv[2], outp[2], errp[2];
	bool launched;
};

/* 1. Open the image and check it, and this machine, before creating anything. */
static int restore_check(struct restore *R)
{
	const struct restore_req *rq = R->rq;
	struct rst_ctx *r = &R->r;
	const Rtcr__Image *img;
	int ret;

	if (rq->im) {
		r->im = rq->im;
	} else {
		ret = img_open_chain(rq->dir, NULL, 0, &r->im);
		if (ret)
			return ret;
	}
	img = R->img = r->img = img_meta(r->im);
	r->t = R->t;
	r->ignore_cpu = rq->ignore_cpu;
	r->shared = &R->sh;
	if (!img->n_processes || img->processes[0]->pid != img->inventory->root_pid ||
	    img->processes[0]->zombie) {
		pr_err("image %s: the first process is not the target's main process",
		       rq->dir ? rq->dir : "(received)");
		return -EINVAL;
	}
	r->proc = img->processes[0];
	ret = check_machine(img, rq->ignore_cpu);
	if (!ret)
		ret = shared_init(&R->sh, img);
	if (ret)
		return ret;
	r->fd_state = R->sh.fd_state;
	for (size_t k = 0; k < img->n_processes; k++) {
		r->proc = img->processes[k];
		if (r->proc->zombie)
			continue;
		for (size_t i = 0; i < session_nkinds; i++) {
			if (session_kinds[i].ops->prepare) {
				ret = session_kinds[i].ops->prepare(r);
				if (ret)
					return ret;
			}
		}
	}
	r->proc = img->processes[0];
	return 0;
}

/* From the exec stop into a stop inside get_signal(), where injected
 * syscalls see the registers we set (see inject.h); then injection, the
 * scratch area and the restore socket. */
static int stub_begin(struct rst_ctx *r)
{
	static const unsigned char insn[2] = {0x0f, 0x05};
	struct tstop ts;
	uint64_t sysip;
	int ret;

	if (ptrace(PTRACE_CONT, r->pid, 0, 0) < 0)
		return pr_perror("start the stub");
	ret = ptrace_pause_thread(r->pid, &ts);
	if (ret)
		return ret;
	if (ptrace(PTRACE_SETOPTIONS, r->pid, 0, RTCR_PTRACE_OPTS_ALL | PTRACE_O_SUSPEND_SECCOMP) <
	    0)
		return pr_perror("suspend seccomp of the new process");
	ret = find_syscall_ip(r->pid, &sysip);
	if (ret)
		return ret;
	r->vdso_ip = sysip;
	ret = inject_begin(&r->ij, r->pid, sysip);
	if (!ret)
		ret = map_scratch(r);
	/* syscalls run from a syscall instruction in the scratch area while the
	 * vDSO moves; the scratch area itself goes last, from the vDSO */
	if (!ret)
		ret =
		    rst_scratch_put(r, RST_SCRATCH_LEN - 64, insn, sizeof(insn), &r->ij.syscall_ip);
	if (!ret)
		ret = place_xfer_fd(r);
	if (!ret && r->proc->sid == r->proc->pid)
		ret = inject_call(&r->ij, NULL, "setsid", __NR_setsid, 0, 0, 0, 0, 0, 0);
	return ret;
}

/* 2. The PD (pid and time namespace, init) and the first process: the stub. */
static int restore_launch(struct restore *R)
{
	struct rst_ctx *r = &R->r;
	struct launch_spec spec;
	char stub[PATH_MAX];
	int ret;

	ret = stub_path(stub, sizeof(stub));
	if (ret)
		return ret;
	R->ver.im = r->im;
	R->ver.nruns = R->img->n_pagemap;
	if (R->ver.nruns && pthread_create(&R->ver.th, NULL, verify_thread, &R->ver) == 0)
		R->ver.started = true;
	else
		R->ver.ret = 0;
	r->verified = R->ver.started;
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, R->sv) < 0 ||
	    pipe2(R->outp, O_CLOEXEC) < 0 || pipe2(R->errp, O_CLOEXEC) < 0)
		return pr_perror("create pipes");
	r->sock = R->sv[0];
	r->log_w[1] = R->outp[1];
	r->log_w[2] = R->errp[1];
	memset(&spec, 0, sizeof(spec));
	spec.kind = LAUNCH_STUB;
	spec.stub_path = stub;
	spec.stub_pid = (pid_t)r->proc->pid;
	spec.stub_sock = R->sv[1];
	time_offsets(R->img, &spec.mono_off, &spec.boot_off);
	snprintf(R->t->name, sizeof(R->t->name), "%s",
		 R->rq->name ? R->rq->name : R->img->inventory->name);
	ret = launch_target(&spec, R->t);
	if (ret)
		return ret;
	R->launched = true;
	close(R->sv[1]);
	R->sv[1] = -1;
	r->pid = R->t->pid;
	if (R->t->ns_pid != (pid_t)r->proc->pid) {
		pr_err("the new process got pid %d, not %u", R->t->ns_pid, r->proc->pid);
		return -EEXIST;
	}
	return stub_begin(r);
}

/* 3. One context per process (the first is the one built so far), then
 * the other processes, the zombies, the process groups. */
static int restore_processes(struct restore *R)
{
	struct rst_shared *sh = &R->sh;
	const struct rst_ctx *r = &R->r;
	int ret;

	sh->nprocs = R->img->n_processes;
	sh->procs = calloc(sh->nprocs, sizeof(*sh->procs));
	if (!sh->procs)
		return -ENOMEM;
	for (size_t k = 0; k < sh->nprocs; k++) {
		struct rst_ctx *pr = &sh->procs[k];

		*pr = k == 0 ? *r : (struct rst_ctx){0};
		if (k) {
			pr->im = r->im;
			pr->img = R->img;
			pr->t = R->t;
			pr->sock = r->sock;
			pr->log_w[1] = r->log_w[1];
			pr->log_w[2] = r->log_w[2];
			pr->ignore_cpu = r->ignore_cpu;
			pr->verified = r->verified;
			pr->shared = sh;
			pr->fd_state = sh->fd_state;
			pr->proc = R->img->processes[k];
		}
		pr->index = k;
		pr->nshmem_tfd = R->img->n_shmem;
		ret = alloc_ints(&pr->shmem_tfd, R->img->n_shmem, -1);
		if (ret)
			return ret;
	}
	R->r.ij.active = false; /* it lives on in procs[0] */
	for (size_t k = 1; k < sh->nprocs; k++) {
		ret = create_process(sh, k);
		if (ret)
			return ret;
	}
	ret = restore_pgids(sh);
	for (size_t k = 1; k < sh->nprocs && !ret; k++)
		if (sh->procs[k].proc->zombie)
			ret = make_zombie(&sh->procs[k]);
	return ret;
}

/* 4. The sessions, phase by phase: every process, the kinds of the phase. */
static int restore_phases(struct rst_shared *sh)
{
	int ret;

	for (int phase = 0; phase < RST_NPHASES; phase++) {
		for (size_t k = 0; k < sh->nprocs; k++) {
			struct rst_ctx *pr = &sh->procs[k];

			if (pr->proc->zombie)
				continue;
			for (size_t i = 0; i < session_nkinds; i++) {
				const struct session_kind *sk = &session_kinds[i];
				uint64_t ts;

				if ((int)sk->ops->phase != phase || !sk->ops->restore)
					continue;
				if (sk->per_fdtable && pr->proc->fdtable_of)
					continue; /* the parent's table (CLONE_FILES) */
				ts = now_ns(CLOCK_MONOTONIC);
				ret = sk->ops->restore(pr);
				pr_debug("pid %u: %s: %.3f ms", pr->proc->pid, sk->ops->name,
					 (now_ns(CLOCK_MONOTONIC) - ts) / 1e6);
				if (ret) {
					if (!log_last_error()[0])
						pr_err("pid %u: %s: %s", pr->proc->pid,
						       sk->ops->name, strerror(-ret));
					return ret;
				}
			}
		}
	}
	return 0;
}

/* 5. What the restore put into each process for itself goes: the restore
 * socket, memfd descriptors, the scratch area. */
static int restore_tidy(struct rst_shared *sh)
{
	int ret;

	for (size_t k = 0; k < sh->nprocs; k++) {
		struct rst_ctx *pr = &sh->procs[k];

		if (pr->proc->zombie)
			continue;
		ret = pr->proc->fdtable_of
			  ? 0 /* closed in the shared table already */
			  : inject_call(&pr->ij, NULL, "close the restore socket", __NR_close,
					(uint64_t)pr->xfer_fd, 0, 0, 0, 0, 0);
		if (ret)
			return ret;
		for (size_t i = 0; i <= pr->nshmem_tfd; i++) {
			if (pr->shmem_tfd[i] < 0)
				continue;
			ret = inject_call(&pr->ij, NULL, "close", __NR_close,
					  (uint64_t)pr->shmem_tfd[i], 0, 0, 0, 0, 0);
			if (ret)
				return ret;
			pr->shmem_tfd[i] = -1;
		}
		pr->ij.syscall_ip = pr->vdso_ip;
		ret = inject_scratch_free(&pr->ij);
		if (ret)
			return ret;
		if (!pr->have_final) {
			pr_err("image has no registers for pid %u", pr->proc->pid);
			return -EINVAL;
		}
	}
	return 0;
}

/* 6. The LOG session's pipes and the command line go to t; rtcr's own
 * references to the target's files go before it runs (a pipe's reader
 * must see EOF, a writer EPIPE, as before). */
static void restore_hand_over(struct restore *R)
{
	struct target *t = R->t;
	struct rst_shared *sh = &R->sh;
	const Rtcr__Inventory *inv = R->img->inventory;
	struct stat sb;

	t->log_rd[0] = -1;
	t->log_rd[1] = R->outp[0];
	t->log_rd[2] = R->errp[0];
	t->log_ino[0] = 0;
	t->log_ino[1] = fstat(R->outp[0], &sb) == 0 ? sb.st_ino : 0;
	t->log_ino[2] = fstat(R->errp[0], &sb) == 0 ? sb.st_ino : 0;
	R->outp[0] = R->errp[0] = -1;
	if (!t->argv && inv->n_argv) {
		t->argv = calloc(inv->n_argv + 1, sizeof(char *));
		for (size_t i = 0; t->argv && i < inv->n_argv; i++)
			t->argv[i] = strdup(inv->argv[i]);
	}
	for (size_t i = 0; i <= sh->nfiles; i++) {
		if (sh->file_ours[i] >= 0) {
			close(sh->file_ours[i]);
			sh->file_ours[i] = -1;
		}
	}
	session_kinds_cleanup(&R->r);
}

/* 7. Registers and masks of every thread, then let them all run (or leave
 * them frozen): the other processes and threads first, the main thread
 * last. */
static int restore_run(struct rst_shared *sh, struct target *t, bool frozen)
{
	for (size_t k = 0; k < sh->nprocs; k++) {
		struct rst_ctx *pr = &sh->procs[k];

		if (pr->proc->zombie)
			continue;
		for (size_t i = 0; i < pr->nthr; i++) {
			struct rst_thread *th = &pr->thr[i];
			pid_t tid = i ? th->tid : pr->pid;

			if (ptrace(PTRACE_SETOPTIONS, tid, 0, RTCR_PTRACE_OPTS_ALL) < 0 ||
			    ptrace(PTRACE_SETREGS, tid, 0, &th->final_regs) < 0 ||
			    ptrace(PTRACE_SETSIGMASK, tid, sizeof(uint64_t), &th->final_sigmask) <
				0)
				return pr_perror("set the registers of thread %d", tid);
			th->ij.active = false;
		}
		pr->ij.active = false;
	}
	for (size_t k = sh->nprocs; k-- > 0;) {
		struct rst_ctx *pr = &sh->procs[k];

		if (pr->proc->zombie)
			continue;
		for (size_t i = pr->nthr; i-- > 0;) {
			pid_t tid = i ? pr->thr[i].tid : pr->pid;

			if (frozen) {
				pid_t *nf = realloc(t->frozen, (t->nfrozen + 1) * sizeof(*nf));

				if (!nf)
					return -ENOMEM;
				t->frozen = nf;
				t->frozen[t->nfrozen++] = tid;
				continue;
			}
			if (ptrace(PTRACE_CONT, tid, 0, 0) < 0)
				return pr_perror("resume thread %d", tid);
		}
	}
	return 0;
}

/* Failed after the launch: nothing half-restored is left. */
static void restore_kill(struct restore *R)
{
	struct target *t = R->t;
	int st;

	kill(t->init_pid, SIGKILL);
	kill(t->pid, SIGKILL);
	for (size_t k = 0; k < R->sh.nprocs; k++) {
		struct rst_ctx *pr = &R->sh.procs[k];

		for (size_t i = 1; i < pr->nthr; i++)
			ptrace_reap(pr->thr[i].tid);
		if (pr->pid > 0 && pr->pid != t->pid)
			ptrace_reap(pr->pid);
	}
	ptrace_reap(t->pid);
	while (waitpid(t->init_pid, &st, __WALL) < 0 && errno == EINTR)
		;
}

int restore_target(const struct restore_req *rq, struct target *t)
{
	struct restore R = {.rq = rq, .t = t, .sv = {-1, -1}, .outp = {-1, -1}, .errp = {-1, -1}};
	uint64_t ts;
	int ret;

	log_clear_error();
	ret = restore_check(&R);
	if (!ret)
		ret = restore_launch(&R);
	if (!ret)
		ret = restore_processes(&R);
	if (!ret)
		ret = restore_phases(&R.sh);
	if (!ret)
		ret = restore_tidy(&R.sh);
	if (ret)
		goto out;
	ts = now_ns(CLOCK_MONOTONIC);
	ret = verifier_join(&R.ver);
	pr_debug("waited %.3f ms for the checksums", (now_ns(CLOCK_MONOTONIC) - ts) / 1e6);
	if (ret)
		goto out;
	restore_hand_over(&R);
	ret = restore_run(&R.sh, t, rq->frozen);
out:
	if (R.ver.started)
		verifier_join(&R.ver);
	if (ret && R.launched)
		restore_kill(&R);
	for (size_t k = 0; k < R.sh.nprocs; k++) {
		free(R.sh.procs[k].thr);
		free(R.sh.procs[k].shmem_tfd);
	}
	if (!R.sh.procs)
		free(R.r.thr);
	free(R.sh.procs);
	for (int i = 0; i < 2; i++) {
		if (R.sv[i] >= 0)
			close(R.sv[i]);
		if (R.outp[i] >= 0)
			close(R.outp[i]);
		if (R.errp[i] >= 0)
			close(R.errp[i]);
	}
	session_kinds_cleanup(&R.r);
	shared_free(&R.sh);
	img_close(R.r.im);
	return ret;
}
