/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Checkpoint orchestration:
 *   0. before the pause: the memory session reads smaps and prepares
 *      (faults in) the parent's buffers, so the pause copies warm;
 *   1. pause every thread (PTRACE_INTERRUPT);
 *   2. every session dumps its state (registers, descriptors, memory...);
 *   3. resume the target (or kill it);
 *   4. later, in any thread: serialize and write (ckpt_write).
 */
#define LOG_PREFIX "checkpoint: "
#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <linux/kcmp.h>
#include <sys/syscall.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "core/arch/x86_64/cpu.h"
#include "sessions/registry.h"
#include "sessions/session.h"
#include "ckpt/ckpt.h"
#include "base/log.h"
#include "core/proc.h"

static void resume_all(struct cproc *ps, int n, bool kill_them);
static void cprocs_free(struct cproc *ps, int n);

int ckpt_release(struct capture *cap, bool kill_it)
{
	struct cproc *ps;

	if (!cap || !cap->paused)
		return 0;
	ps = cap->paused;
	resume_all(ps, cap->npaused, kill_it);
	cprocs_free(ps, cap->npaused);
	cap->paused = NULL;
	cap->npaused = 0;
	return 0;
}

void capture_free(struct capture *cap)
{
	if (!cap)
		return;
	ckpt_release(cap, false); /* never left stopped */
	if (cap->live_tk)
		track_live_cancel(cap->live_tk);
	for (int i = 0; i < cap->nsnaps; i++) {
		kill(cap->snaps[i].pid, SIGKILL);
		free(cap->snaps[i].dscan);
	}
	for (int i = 0; i < cap->nbufs; i++)
		munmap(cap->bufs[i].base, cap->bufs[i].cap);
	free(cap->runs);
	if (cap->img)
		rtcr__image__free_unpacked(cap->img, NULL);
	free(cap);
}

static int list_tasks(pid_t pid, pid_t **tids, int *n)
{
	char path[64];
	pid_t *arr = NULL;
	int cnt = 0, ret;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	ret = dir_numbers(path, &arr, &cnt);
	if (ret) {
		if (ret != -ENOMEM)
			pr_err("open %s: %s", path, strerror(-ret));
		return ret;
	}
	/* main thread first */
	for (int i = 0; i < cnt; i++) {
		if (arr[i] == pid) {
			arr[i] = arr[0];
			arr[0] = pid;
		}
	}
	*tids = arr;
	*n = cnt;
	return 0;
}

static void random_id(char *out)
{
	unsigned char r[16];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		uint64_t t = now_ns(CLOCK_REALTIME) ^ (uint64_t)getpid();

		memcpy(r, &t, 8);
		t = now_ns(CLOCK_MONOTONIC);
		memcpy(r + 8, &t, 8);
	}
	for (int i = 0; i < 16; i++)
		sprintf(out + 2 * i, "%02x", r[i]);
}

static int fill_inventory(struct ckpt_ctx *c, const char *parent_dir)
{
	Rtcr__Inventory *inv = calloc(1, sizeof(*inv));
	Rtcr__CpuInfo *cpu = calloc(1, sizeof(*cpu));
	Rtcr__Timens *tn = calloc(1, sizeof(*tn));
	struct utsname u;
	char id[33], *boot = NULL;
	int ret;

	if (!inv || !cpu || !tn) {
		free(inv);
		free(cpu);
		free(tn);
		return -ENOMEM;
	}
	rtcr__inventory__init(inv);
	rtcr__timens__init(tn);
	c->img->inventory = inv;
	inv->timens = tn;
	inv->has_format_version = 1;
	inv->format_version = IMG_FORMAT_MIN; /* img_write sets what the image needs */
	random_id(id);
	inv->image_id = xstrdup(id);
	inv->name = xstrdup(c->t->name);
	inv->has_created_ns = 1;
	inv->created_ns = now_ns(CLOCK_REALTIME);
	uname(&u);
	inv->kernel_release = xstrdup(u.release);
	inv->hostname = xstrdup(u.nodename);
	if (read_file("/proc/sys/kernel/random/boot_id", &boot) > 0) {
		boot[strcspn(boot, "\n")] = '\0';
		inv->boot_id = boot;
	} else {
		inv->boot_id = xstrdup("");
	}
	inv->rtcr_version = xstrdup(RTCR_VERSION);
	inv->has_root_pid = 1;
	inv->root_pid = (uint32_t)c->ns_pid;
	for (char **a = c->t->argv; a && *a; a++) {
		ret = pb_push((void ***)&inv->argv, &inv->n_argv, xstrdup(*a));
		if (ret) {
			free(cpu);
			return ret;
		}
	}
	tn->has_monotonic_offset_ns = tn->has_boottime_offset_ns = 1;
	tn->monotonic_offset_ns = c->t->mono_off;
	tn->boottime_offset_ns = c->t->boot_off;
	tn->has_monotonic_ns = tn->has_boottime_ns = tn->has_realtime_ns = 1;
	tn->monotonic_ns = now_ns(CLOCK_MONOTONIC) + (uint64_t)c->t->mono_off;
	tn->boottime_ns = now_ns(CLOCK_BOOTTIME) + (uint64_t)c->t->boot_off;
	tn->realtime_ns = now_ns(CLOCK_REALTIME);
	ret = cpu_info_fill(cpu);
	if (ret) {
		free(cpu);
		return ret;
	}
	inv->cpu = cpu;
	if (c->tk) {
		char desc[64];

		track_describe(track_get_opts(c->tk), desc, sizeof(desc));
		inv->track_mode = xstrdup(desc);
	}
	inv->has_chain_depth = 1;
	inv->chain_depth = 0;
	if (c->incremental && c->parent) {
		inv->parent_id = xstrdup(c->parent->id);
		inv->parent_path = xstrdup(parent_dir ? parent_dir : "");
		inv->has_parent_meta_sum = 1;
		inv->parent_meta_sum = c->parent->meta_sum;
		inv->chain_depth = c->parent->depth + 1;
	}
	if (c->live) {
		inv->has_live = 1;
		inv->live = true;
	}
	return 0;
}

/* A process of the target while it is checkpointed. */
struct cproc {
	pid_t pid, ns_pid;
	bool zombie;
	uint32_t exit_status;
	pid_t *tids;
	struct tstop *stops;
	int ntids;
	struct premap *pre;
	size_t npre;
	pid_t fdtable_of; /* ns pid of the process whose descriptor table it shares */
};

static void cproc_clear(struct cproc *p)
{
	free(p->tids);
	free(p->stops);
	free(p->pre);
}

static void cprocs_free(struct cproc *ps, int n)
{
	for (int i = 0; i < n; i++)
		cproc_clear(&ps[i]);
	free(ps);
}

/* Every process of the namespace but init, parents before children, the
 * target's main process first. */
int ckpt_list_processes(struct target *t, pid_t **out, int *n)
{
	pid_t *ps = NULL;
	int np = 0, ret;

	ret = proc_descendants(t->init_pid, &ps, &np);
	if (ret)
		return ret;
	for (int i = 1; i < np; i++) {
		if (ps[i] == t->pid) {
			pid_t x = ps[0];

			ps[0] = ps[i];
			ps[i] = x;
		}
	}
	*out = ps;
	*n = np;
	return 0;
}

static bool proc_is_zombie(pid_t pid, uint32_t *exit_status)
{
	char path[64], *buf = NULL, *p;
	bool z = false;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (read_file(path, &buf) < 0)
		return false;
	p = strrchr(buf, ')');
	if (p && p[1] == ' ' && p[2] == 'Z') {
		/* field 52: exit code, as waitpid reports it */
		int field = 3;

		z = true;
		for (p += 2; *p && field < 52; p++)
			if (*p == ' ')
				field++;
		*exit_status = (uint32_t)strtoul(p, NULL, 10);
	}
	free(buf);
	return z;
}

/* Pause every thread of every process; repeat until nothing new appears
 * (threads and processes made meanwhile are auto-attached). */
static int pause_all(struct ckpt_ctx *c, struct cproc **pps, int *pn)
{
	struct cproc *ps = *pps;
	int n = *pn, ret;

	for (;;) {
		pid_t *pids = NULL;
		int np = 0, added = 0;

		ret = ckpt_list_processes(c->t, &pids, &np);
		if (ret)
			return ret;
		for (int k = 0; k < np; k++) {
			struct cproc *p = NULL;
			pid_t *now = NULL;
			int nnow = 0;

			for (int i = 0; i < n && !p; i++)
				if (ps[i].pid == pids[k])
					p = &ps[i];
			if (!p) {
				struct cproc *nps = realloc(ps, sizeof(*ps) * (size_t)(n + 1));

				if (!nps) {
					free(pids);
					return -ENOMEM;
				}
				ps = nps;
				*pps = ps;
				p = &ps[n++];
				*pn = n;
				memset(p, 0, sizeof(*p));
				p->pid = pids[k];
				p->ns_pid = proc_ns_pid(p->pid);
				p->zombie = proc_is_zombie(p->pid, &p->exit_status);
				added++;
			}
			if (p->zombie)
				continue;
			ret = list_tasks(p->pid, &now, &nnow);
			if (ret == -ENOENT)
				continue;
			if (ret) {
				free(pids);
				return ret;
			}
			for (int j = 0; j < nnow; j++) {
				bool known = false;
				pid_t *nt;
				struct tstop *nst;

				for (int i = 0; i < p->ntids && !known; i++)
					known = p->tids[i] == now[j];
				if (known)
					continue;
				nt = realloc(p->tids, sizeof(pid_t) * (size_t)(p->ntids + 1));
				if (nt)
					p->tids = nt;
				nst = realloc(p->stops, sizeof(*nst) * (size_t)(p->ntids + 1));
				if (nst)
					p->stops = nst;
				if (!nt || !nst) {
					free(now);
					free(pids);
					return -ENOMEM;
				}
				p->tids[p->ntids] = now[j];
				ret = ptrace_pause_thread(now[j], &p->stops[p->ntids]);
				if (ret) {
					free(now);
					free(pids);
					return ret;
				}
				p->ntids++;
				added++;
			}
			free(now);
			/* the main thread first */
			for (int i = 1; i < p->ntids; i++) {
				if (p->tids[i] == p->pid) {
					struct tstop ts = p->stops[0];
					pid_t tt = p->tids[0];

					p->stops[0] = p->stops[i];
					p->stops[i] = ts;
					p->tids[0] = p->tids[i];
					p->tids[i] = tt;
				}
			}
		}
		free(pids);
		if (!added)
			return 0;
	}
}

static void resume_all(struct cproc *ps, int n, bool kill_them)
{
	for (int i = 0; i < n; i++)
		for (int j = 0; j < ps[i].ntids; j++)
			ptrace(PTRACE_SETOPTIONS, ps[i].tids[j], 0, RTCR_PTRACE_OPTS_ALL);
	if (kill_them)
		for (int i = 0; i < n; i++)
			if (!ps[i].zombie)
				kill(ps[i].pid, SIGKILL);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < ps[i].ntids; j++)
			ptrace_resume_thread(&ps[i].stops[j]);
}

/* Dump one paused process into a new Process of c->img. */
static int dump_process(struct ckpt_ctx *c, struct cproc *p)
{
	const struct session_kind *sk;
	uint64_t sysip;
	bool injecting = false;
	int ret, i;

	c->pid = p->pid;
	c->ns_pid = p->ns_pid;
	c->stops = p->stops;
	c->nstops = p->ntids;
	c->pre = p->pre;
	c->npre = p->npre;
	c->proc = calloc(1, sizeof(*c->proc));
	if (!c->proc)
		return -ENOMEM;
	rtcr__process__init(c->proc);
	ret = pb_push((void ***)&c->img->processes, &c->img->n_processes, c->proc);
	if (ret) {
		free(c->proc);
		return ret;
	}
	c->proc->has_pid = 1;
	c->proc->pid = (uint32_t)p->ns_pid;
	if (p->fdtable_of) {
		c->proc->has_fdtable_of = 1;
		c->proc->fdtable_of = (uint32_t)p->fdtable_of;
	}
	if (p->zombie) {
		char path[64], *st = NULL;

		c->proc->has_zombie = c->proc->has_exit_status = 1;
		c->proc->zombie = true;
		c->proc->exit_status = p->exit_status;
		snprintf(path, sizeof(path), "/proc/%d/status", p->pid);
		if (read_file(path, &st) >= 0) {
			proc_dump_ids(c, st); /* best effort: it is gone but for its status */
			free(st);
		}
		return 0;
	}
	for (i = 0; i < p->ntids; i++) {
		if (p->stops[i].group_stop) {
			ret = ckpt_refuse(
			    c, "pid %d: the process is stopped (SIGSTOP); continue it first",
			    c->ns_pid);
			if (ret)
				return ret;
		}
	}
	ret = find_syscall_ip(c->pid, &sysip);
	if (ret)
		return ret;
	ret = inject_begin(&c->ij, c->pid, sysip);
	if (ret)
		return ret;
	injecting = true;
	/* executable: batches of injected calls run from it (inject_batch) */
	ret = inject_scratch(&c->ij, 16 * PAGE_SIZE_4K, 0, true);
	if (ret)
		goto out;
	for (size_t k = 0; (sk = session_dump_kind(k)); k++) {
		uint64_t ts = now_ns(CLOCK_MONOTONIC);

		if (sk->per_fdtable && p->fdtable_of)
			continue; /* the parent's table, dumped with the parent */
		ret = sk->ops->dump(c);
		if (ret)
			goto out;
		pr_debug("pid %d: %s: %.3f ms", c->ns_pid, sk->ops->name,
			 (now_ns(CLOCK_MONOTONIC) - ts) / 1e6);
	}
out:
	if (injecting) {
		int r2 = inject_scratch_free(&c->ij);

		if (!ret)
			ret = r2;
		r2 = inject_end(&c->ij);
		if (!ret)
			ret = r2;
	}
	return ret;
}

static int capture_once(struct target *t, const struct ckpt_opts *o, struct capture **out,
			char **report, struct ckpt_stats *st);

/*
 * A process in the middle of a vfork shares its memory with the child
 * until that execs: a state of a few milliseconds, not one to refuse. The
 * capture resumes the target and tries again, a few times.
 */
int ckpt_capture(struct target *t, const struct ckpt_opts *o, struct capture **out, char **report,
		 struct ckpt_stats *st)
{
	struct ckpt_opts last = *o;
	int ret = -EAGAIN;

	for (int attempt = 0; attempt < 50 && ret == -EAGAIN; attempt++) {
		if (attempt) {
			struct timespec ts = {0, 10 * 1000 * 1000};

			nanosleep(&ts, NULL);
		}
		if (attempt == 49)
			last.no_retry = true; /* the last one says what is wrong */
		ret = capture_once(t, &last, out, report, st);
	}
	if (ret == -EAGAIN)
		pr_err("%s: its processes kept exiting or starting while it was being paused, 50 "
		       "times in a row; try again",
		       t->name);
	return ret;
}

/* Set up c and its (empty) capture for one attempt. */
static int capture_init(struct ckpt_ctx *c, struct target *t, const struct ckpt_opts *o)
{
	memset(c, 0, sizeof(*c));
	c->t = t;
	c->pid = t->pid;
	c->ns_pid = t->ns_pid;
	c->dry_run = o->dry_run;
	c->kill = o->kill || o->keep_paused; /* no snapshot: the target does not run on */
	c->tk = o->dry_run ? NULL : o->tk;
	c->incremental = o->incremental && c->tk;
	c->live = o->live && c->tk && !o->kill;
	c->parent = o->parent;
	c->allow_loss = o->allow_loss;
	if (c->incremental && (!c->parent || !c->parent->valid)) {
		pr_err("an incremental checkpoint needs the image it builds on");
		return -EINVAL;
	}
	if (t->exited) {
		pr_err("target %s has exited", t->name);
		return -ESRCH;
	}
	c->cap = calloc(1, sizeof(*c->cap));
	c->img = calloc(1, sizeof(*c->img));
	if (!c->cap || !c->img) {
		free(c->cap);
		free(c->img);
		c->cap = NULL;
		return -ENOMEM;
	}
	rtcr__image__init(c->img);
	c->cap->img = c->img;
	return fill_inventory(c, o->parent_dir);
}

/* 0. Before the pause: smaps of every process, the capture buffer. */
static int capture_prepare(struct ckpt_ctx *c, struct cproc **pps, int *pn)
{
	pid_t *pids = NULL;
	int npids = 0, ret;
	uint64_t est = 0;
	struct cproc *ps;

	ret = ckpt_list_processes(c->t, &pids, &npids);
	if (ret)
		return ret;
	ps = calloc((size_t)(npids ? npids : 1), sizeof(*ps));
	if (!ps) {
		ret = -ENOMEM;
		goto out;
	}
	*pps = ps;
	for (int i = 0; i < npids; i++) {
		struct cproc *p = &ps[(*pn)++];

		p->pid = pids[i];
		p->ns_pid = proc_ns_pid(pids[i]);
		p->zombie = proc_is_zombie(pids[i], &p->exit_status);
		if (p->zombie)
			continue;
		c->pid = pids[i];
		c->pre = NULL;
		c->npre = 0;
		c->est_bytes = 0;
		if (mem_read_smaps(c) == 0) {
			p->pre = c->pre;
			p->npre = c->npre;
			est += c->est_bytes;
		}
		c->pre = NULL;
	}
	c->est_bytes = est;
	ret = mem_prealloc(c, est);
out:
	free(pids);
	return ret;
}

/* rtcr's own injected calls must not meet the target's seccomp filters. */
static int suspend_seccomp(struct cproc *ps, int nps)
{
	for (int i = 0; i < nps; i++)
		for (int j = 0; j < ps[i].ntids; j++)
			if (ptrace(PTRACE_SETOPTIONS, ps[i].tids[j], 0,
				   RTCR_PTRACE_OPTS_ALL | PTRACE_O_SUSPEND_SECCOMP) < 0)
				return pr_perror("suspend seccomp of thread %d", ps[i].tids[j]);
	return 0;
}

static pid_t parent_of(pid_t pid)
{
	char path[64], *stat = NULL, val[32];
	pid_t pp = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if (read_file(path, &stat) >= 0 && proc_status_field(stat, "PPid", val, sizeof(val)) == 0)
		pp = (pid_t)atoi(val);
	free(stat);
	return pp;
}

/*
 * ps[j] shares the descriptor table of ps[i] (CLONE_FILES), i < j. The
 * table is recorded with the first of its sharers (the owner, in the order
 * the restore creates them); every other one is created sharing it, by its
 * parent when that is a sharer made before it, or else by a sharer made
 * before it whose parent is its parent (CLONE_FILES | CLONE_PARENT).
 */
static int shared_fdtable(struct ckpt_ctx *c, struct cproc *ps, int i, int j)
{
	struct cproc *b = &ps[j];
	pid_t owner = ps[i].fdtable_of ? ps[i].fdtable_of : ps[i].ns_pid, pp;

	if (b->fdtable_of)
		return 0; /* an earlier sharer was found already */
	b->fdtable_of = owner;
	pp = parent_of(b->pid);
	for (int k = 0; k < j; k++) {
		if (ps[k].zombie || (ps[k].ns_pid != owner && ps[k].fdtable_of != owner))
			continue;
		if (ps[k].pid == pp || (pp && parent_of(ps[k].pid) == pp))
			return 0;
	}
	return ckpt_refuse(c,
			   "pid %d shares the descriptor table of pid %d (CLONE_FILES), but "
			   "neither its parent nor a sibling of it shares that table: not "
			   "supported yet",
			   b->ns_pid, owner);
}

/* What processes may share but rtcr does not restore shared yet. */
static int check_sharing(struct ckpt_ctx *c, const struct ckpt_opts *o, struct cproc *ps, int nps)
{
	int ret = 0;

	for (int i = 0; i < nps && !ret; i++) {
		for (int j = i + 1; j < nps && !ret; j++) {
			if (ps[i].zombie || ps[j].zombie)
				continue;
			if (syscall(SYS_kcmp, ps[i].pid, ps[j].pid, KCMP_VM, 0, 0) == 0) {
				/* most often a vfork (posix_spawn, system()) about to
				 * exec: transient, the caller tries again shortly */
				if (c->dry_run || o->no_retry)
					ret = ckpt_refuse(
					    c,
					    "pid %d and pid %d share their memory (vfork "
					    "or CLONE_VM without threads): not supported yet",
					    ps[i].ns_pid, ps[j].ns_pid);
				else
					ret = -EAGAIN;
			} else if (syscall(SYS_kcmp, ps[i].pid, ps[j].pid, KCMP_FILES, 0, 0) == 0) {
				ret = shared_fdtable(c, ps, i, j);
			} else if (syscall(SYS_kcmp, ps[i].pid, ps[j].pid, KCMP_SIGHAND, 0, 0) == 0)
				ret = ckpt_refuse(c,
						  "pid %d and pid %d share their signal handlers "
						  "(CLONE_SIGHAND): not supported yet",
						  ps[i].ns_pid, ps[j].ns_pid);
		}
	}
	return ret;
}

/*
 * Once everything is paused, the set of processes is still not quite the
 * target's state: a process listed before it could be paused may have
 * ended (reaped, or a zombie now, which its paused parent will wait for),
 * and a zombie whose parent is rtcr's init is about to be reaped by it (a
 * memory snapshot of an earlier checkpoint, an orphan): no process of the
 * target can wait for it. Keep exactly the processes a restore must make.
 */
static void settle(struct ckpt_ctx *c, struct cproc *ps, int *pn)
{
	int n = *pn, k = 0;

	for (int i = 0; i < n; i++) {
		struct cproc *p = &ps[i];
		bool keep = true;

		if (!p->zombie && p->ntids == 0)
			p->zombie = proc_is_zombie(p->pid, &p->exit_status);
		if (p->zombie) {
			pid_t pp = parent_of(p->pid); /* 0: reaped meanwhile */

			keep = pp != 0 && pp != c->t->init_pid;
		} else if (p->ntids == 0) {
			keep = false; /* gone since it was listed */
		}
		if (!keep) {
			pr_debug("pid %d: ended while the target was paused; not part of it",
				 p->ns_pid);
			cproc_clear(p);
			continue;
		}
		if (k != i)
			ps[k] = *p;
		k++;
	}
	*pn = k;
}

/* 1. and 2.: pause, check, every process, every session. */
static int capture_paused(struct ckpt_ctx *c, const struct ckpt_opts *o, struct cproc **pps,
			  int *pn, bool *tracking)
{
	int ret;

	ret = pause_all(c, pps, pn);
	if (ret)
		return ret;
	settle(c, *pps, pn);
	/* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): *pps is non-NULL whenever *pn > 0 */
	if (!*pn || (*pps)[0].pid != c->t->pid) {
		pr_err("the target's main process %d is gone", c->t->pid);
		return -ESRCH;
	}
	if (c->tk) {
		track_capture_begin(c->tk);
		*tracking = true;
	}
	ret = suspend_seccomp(*pps, *pn);
	if (!ret)
		ret = check_sharing(c, o, *pps, *pn);
	for (int i = 0; i < *pn && !ret; i++)
		ret = dump_process(c, &(*pps)[i]);
	c->pre = NULL;
	c->stops = NULL;
	return ret;
}

static int capture_once(struct target *t, const struct ckpt_opts *o, struct capture **out,
			char **report, struct ckpt_stats *st)
{
	struct ckpt_ctx c;
	struct capture *cap = NULL;
	struct cproc *ps = NULL;
	int nps = 0, ret;
	uint64_t t0, tp, tr;
	bool tracking = false;

	memset(st, 0, sizeof(*st));
	if (report)
		*report = NULL;
	log_clear_error();
	t0 = now_ns(CLOCK_MONOTONIC);
	ret = capture_init(&c, t, o);
	cap = c.cap;
	if (!cap)
		return ret;
	if (ret)
		goto out;
	if (!c.dry_run) {
		ret = capture_prepare(&c, &ps, &nps);
		if (ret)
			goto out;
	}
	pr_debug("prepare: %.3f ms", (now_ns(CLOCK_MONOTONIC) - t0) / 1e6);
	tp = now_ns(CLOCK_MONOTONIC);
	ret = capture_paused(&c, o, &ps, &nps, &tracking);
	if (tracking) {
		/* re-protect what was written, before the target runs again */
		int r2 = track_capture_end(c.tk, !ret && !c.refusals, c.live ? cap : NULL);

		if (!ret)
			ret = r2;
		if (!ret && c.live)
			cap->live_tk = c.tk;
	}
	/* 3. resume (or kill), or hand the stopped target to the caller */
	if (o->keep_paused && !ret && !c.dry_run && !c.refusals) {
		cap->paused = ps;
		cap->npaused = nps;
		ps = NULL;
		nps = 0;
	} else {
		resume_all(ps, nps, o->kill && !ret && !c.dry_run);
	}
	tr = now_ns(CLOCK_MONOTONIC);
	st->pause_ns = tr - tp; /* kept paused: so far */
	st->capture_ns = tr - t0;
	st->mem_bytes = cap->mem_bytes;
	if (c.dry_run && !ret) {
		if (report) {
			*report = c.report ? c.report : strdup("");
			c.report = NULL;
		}
		goto out;
	}
	if (!ret && c.refusals)
		ret = -ENOTSUP;
	if (!ret) {
		c.img->inventory->has_pause_ns = 1;
		c.img->inventory->pause_ns = st->pause_ns;
		*out = cap;
		cap = NULL;
	}
out:
	if (ret && ret != -EAGAIN && !log_last_error()[0])
		pr_err("checkpoint of %s failed: %s", t->name, strerror(-ret));
	free(c.report);
	free(c.fdrefs);
	cprocs_free(ps, nps);
	capture_free(cap);
	return ret;
}

int ckpt_serialize(struct capture *cap, struct img_blob *out, bool checksums)
{
	int ret = capture_finish_snapshot(cap);

	if (ret)
		return ret;
	return img_serialize(cap->img, cap->runs, cap->nruns, checksums, out);
}

int ckpt_write(struct capture *cap, int dirfd, struct ckpt_stats *st)
{
	struct img_write_stats ws;
	uint64_t t0 = now_ns(CLOCK_MONOTONIC);
	int ret;

	memset(&ws, 0, sizeof(ws));
	ret = capture_finish_snapshot(cap);
	if (cap->live_tk) {
		int r2 = track_live_copy(cap->live_tk);

		cap->live_tk = NULL;
		if (!ret)
			ret = r2;
	}
	if (ret)
		return ret;
	ret = img_write(dirfd, cap->img, cap->runs, cap->nruns, &ws);
	st->write_ns = now_ns(CLOCK_MONOTONIC) - t0;
	st->image_bytes = ws.meta_bytes + ws.pages_bytes;
	st->meta_sum = ws.meta_sum;
	if (cap->img->inventory && cap->img->inventory->image_id)
		snprintf(st->image_id, sizeof(st->image_id), "%s", cap->img->inventory->image_id);
	st->mem_bytes = cap->mem_bytes;
	return ret;
}

int ckpt_arm_tracking(struct target *t, struct tracker *tk)
{
	pid_t *pids = NULL;
	int n = 0, ret;

	ret = ckpt_list_processes(t, &pids, &n);
	for (int i = 0; i < n && !ret; i++) {
		struct tstop ts;
		uint32_t xs;

		if (proc_is_zombie(pids[i], &xs))
			continue;
		ret = ptrace_pause_thread(pids[i], &ts);
		if (ret == -EAGAIN) {
			ret = 0; /* gone meanwhile */
			continue;
		}
		if (ret)
			break;
		ret = track_arm_process(tk, NULL, pids[i], (uint32_t)proc_ns_pid(pids[i]));
		{
			int r2 = ptrace_resume_thread(&ts);

			if (!ret)
				ret = r2;
		}
	}
	free(pids);
	return ret;
}
