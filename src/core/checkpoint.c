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
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86_64/cpu.h"
#include "core/ctx.h"
#include "core/log.h"
#include "core/proc.h"

/* Dump order: threads first (their registers as stopped), memory last
 * (it must see the address space after our own scratch mapping is gone
 * from consideration). */
static const struct session_ops *const dump_order[] = {
	&session_threads, &session_process, &session_signals, &session_timers,
	&session_files,	  &session_seccomp, &session_memory,
};

int mem_prepare(struct ckpt_ctx *c);

int pb_push(void ***arr, size_t *n, void *item)
{
	void **na;

	if (!item)
		return -ENOMEM;
	/* grow at powers of two */
	if ((*n & (*n - 1)) == 0) {
		na = realloc(*arr, sizeof(void *) * (*n ? *n * 2 : 1));
		if (!na)
			return -ENOMEM;
		*arr = na;
	}
	(*arr)[(*n)++] = item;
	return 0;
}

char *xstrdup(const char *s)
{
	return strdup(s ? s : "");
}

int ckpt_refuse(struct ckpt_ctx *c, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	size_t l;
	char *nr;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	c->refusals++;
	if (!c->dry_run) {
		pr_err("%s", line);
		return -ENOTSUP;
	}
	l = strlen(line);
	nr = realloc(c->report, c->report_len + l + 2);
	if (!nr)
		return -ENOMEM;
	c->report = nr;
	memcpy(c->report + c->report_len, line, l);
	c->report_len += l;
	c->report[c->report_len++] = '\n';
	c->report[c->report_len] = '\0';
	return 0;
}

void *capture_reserve(struct capture *cap, size_t len)
{
	struct pagebuf *b = cap->nbufs ? &cap->bufs[cap->nbufs - 1] : NULL;
	void *p;

	if (!b || b->cap - b->used < len) {
		size_t sz = len > (64UL << 20) ? len : (64UL << 20);

		if (cap->nbufs == (int)(sizeof(cap->bufs) / sizeof(cap->bufs[0])))
			return NULL;
		/* rounded to 2 MiB so that it can be backed by huge pages */
		sz = (sz + (2UL << 20) - 1) & ~((2UL << 20) - 1);
		p = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return NULL;
		madvise(p, sz, MADV_HUGEPAGE);
		b = &cap->bufs[cap->nbufs++];
		b->base = p;
		b->cap = sz;
		b->used = 0;
	}
	p = b->base + b->used;
	b->used += len;
	return p;
}

void capture_free(struct capture *cap)
{
	if (!cap)
		return;
	if (cap->snap_pid)
		kill(cap->snap_pid, SIGKILL);
	for (int i = 0; i < cap->nbufs; i++)
		munmap(cap->bufs[i].base, cap->bufs[i].cap);
	free(cap->runs);
	free(cap->dscan);
	if (cap->img)
		rtcr__image__free_unpacked(cap->img, NULL);
	free(cap);
}

static int list_tasks(pid_t pid, pid_t **tids, int *n)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	pid_t *arr = NULL, *na;
	int cnt = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return pr_perror("open %s", path);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		na = realloc(arr, sizeof(pid_t) * (size_t)(cnt + 1));
		if (!na) {
			free(arr);
			closedir(d);
			return -ENOMEM;
		}
		arr = na;
		arr[cnt++] = atoi(de->d_name);
	}
	closedir(d);
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

/* Every process of the namespace but init and the target is refused for
 * now: a checkpoint must never silently leave one out. */
static int check_no_children(struct ckpt_ctx *c, pid_t *tids, int ntids)
{
	char path[96], *buf = NULL, *p, *end;
	int ret = 0;

	for (int i = -1; i < ntids && !ret; i++) {
		pid_t owner = i < 0 ? c->t->init_pid : c->pid, tid = i < 0 ? c->t->init_pid : tids[i];

		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", owner, tid);
		if (read_file(path, &buf) < 0)
			continue;
		for (p = buf; *p && !ret; p = end) {
			long child = strtol(p, &end, 10);

			if (end == p)
				break;
			if (child == c->pid)
				continue;
			ret = ckpt_refuse(c, "pid %d: process %d (ns pid %d) is part of the target: "
					  "process trees are not supported yet (remedy: checkpoint a "
					  "program that does not fork, or wait for it to reap its "
					  "children)", c->ns_pid, (int)child, (int)proc_ns_pid((pid_t)child));
		}
		free(buf);
		buf = NULL;
	}
	return ret;
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

static int fill_inventory(struct ckpt_ctx *c)
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
	inv->format_version = IMG_FORMAT_VERSION;
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
		if (ret)
			return ret;
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
	return 0;
}

int ckpt_capture(struct target *t, const struct ckpt_opts *o, struct capture **out, char **report,
		 struct ckpt_stats *st)
{
	struct ckpt_ctx c;
	struct capture *cap = NULL;
	pid_t *tids = NULL;
	int ntids = 0, ret, i, paused = 0;
	uint64_t t0, tp = 0, tr, sysip;
	bool injecting = false;

	memset(&c, 0, sizeof(c));
	memset(st, 0, sizeof(*st));
	if (report)
		*report = NULL;
	log_clear_error();
	t0 = now_ns(CLOCK_MONOTONIC);
	c.t = t;
	c.pid = t->pid;
	c.ns_pid = t->ns_pid;
	c.dry_run = o->dry_run;
	c.kill = o->kill;
	if (t->exited) {
		pr_err("target %s has exited", t->name);
		return -ESRCH;
	}
	cap = calloc(1, sizeof(*cap));
	c.img = calloc(1, sizeof(*c.img));
	c.proc = calloc(1, sizeof(*c.proc));
	if (!cap || !c.img || !c.proc) {
		free(cap);
		free(c.img);
		free(c.proc);
		return -ENOMEM;
	}
	rtcr__image__init(c.img);
	rtcr__process__init(c.proc);
	cap->img = c.img;
	c.cap = cap;
	ret = pb_push((void ***)&c.img->processes, &c.img->n_processes, c.proc);
	if (ret) {
		free(c.proc);
		goto out;
	}
	ret = fill_inventory(&c);
	if (ret)
		goto out;
	ret = find_syscall_ip(c.pid, &sysip);
	if (ret)
		goto out;
	/* 0. prepare before the pause */
	if (!c.dry_run) {
		ret = mem_prepare(&c);
		if (ret)
			goto out;
	}
	/* 1. pause */
	tp = now_ns(CLOCK_MONOTONIC);
	/* pause every thread; threads made meanwhile are auto-attached and
	 * found by the next listing: repeat until no new one shows up */
	for (;;) {
		pid_t *now = NULL;
		int nnow = 0, added = 0;

		ret = list_tasks(c.pid, &now, &nnow);
		if (ret)
			goto out_resume;
		for (int k = 0; k < nnow; k++) {
			bool known = false;

			for (i = 0; i < ntids && !known; i++)
				known = tids[i] == now[k];
			if (known)
				continue;
			{
				pid_t *nt = realloc(tids, sizeof(pid_t) * (size_t)(ntids + 1));
				struct tstop *ns = realloc(c.stops, sizeof(*ns) * (size_t)(ntids + 1));

				if (nt)
					tids = nt;
				if (ns)
					c.stops = ns;
				if (!nt || !ns) {
					free(now);
					ret = -ENOMEM;
					goto out_resume;
				}
			}
			tids[ntids] = now[k];
			ret = ptrace_pause_thread(now[k], &c.stops[ntids]);
			if (ret) {
				free(now);
				goto out_resume;
			}
			ntids++;
			paused++;
			added++;
		}
		free(now);
		if (!added)
			break;
	}
	c.nstops = ntids;
	/* the main thread first */
	for (i = 1; i < ntids; i++) {
		if (tids[i] == c.pid) {
			struct tstop tmp = c.stops[0];
			pid_t tt = tids[0];

			c.stops[0] = c.stops[i];
			c.stops[i] = tmp;
			tids[0] = tids[i];
			tids[i] = tt;
		}
	}
	ret = check_no_children(&c, tids, ntids);
	if (ret)
		goto out_resume;
	for (i = 0; i < ntids; i++) {
		if (c.stops[i].group_stop) {
			ret = ckpt_refuse(&c, "pid %d: the target is stopped (SIGSTOP); continue it first",
					  c.ns_pid);
			if (ret)
				goto out_resume;
		}
	}
	/* rtcr's own injected calls must not meet the target's seccomp filters */
	for (i = 0; i < ntids; i++) {
		if (ptrace(PTRACE_SETOPTIONS, tids[i], 0, RTCR_PTRACE_OPTS_ALL | PTRACE_O_SUSPEND_SECCOMP) <
		    0) {
			ret = pr_perror("suspend seccomp of thread %d", tids[i]);
			goto out_resume;
		}
	}
	ret = inject_begin(&c.ij, c.pid, sysip);
	if (ret)
		goto out_resume;
	injecting = true;
	ret = inject_scratch(&c.ij, 4 * PAGE_SIZE_4K, 0, false);
	if (ret)
		goto out_resume;
	/* 2. every session */
	for (i = 0; i < (int)(sizeof(dump_order) / sizeof(dump_order[0])); i++) {
		uint64_t ts = now_ns(CLOCK_MONOTONIC);

		if (!dump_order[i])
			continue;
		ret = dump_order[i]->dump(&c);
		if (ret)
			goto out_resume;
		pr_debug("%s: %.3f ms", dump_order[i]->name, (now_ns(CLOCK_MONOTONIC) - ts) / 1e6);
	}
	ret = 0;
out_resume:
	/* 3. resume (or kill) */
	if (injecting) {
		int r2 = inject_scratch_free(&c.ij);

		if (!ret)
			ret = r2;
		r2 = inject_end(&c.ij);
		if (!ret)
			ret = r2;
	}
	for (i = 0; i < paused; i++)
		ptrace(PTRACE_SETOPTIONS, tids[i], 0, RTCR_PTRACE_OPTS_ALL);
	if (o->kill && !ret && !c.dry_run) {
		kill(c.pid, SIGKILL);
		for (i = 0; i < paused; i++)
			ptrace_resume_thread(&c.stops[i]);
	} else {
		for (i = 0; i < paused; i++)
			ptrace_resume_thread(&c.stops[i]);
	}
	tr = now_ns(CLOCK_MONOTONIC);
	if (paused)
		st->pause_ns = tr - tp;
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
	if (ret && !log_last_error()[0])
		pr_err("checkpoint of %s failed: %s", t->name, strerror(-ret));
	free(c.report);
	free(c.stops);
	free(c.pre);
	free(tids);
	capture_free(cap);
	return ret;
}

int ckpt_write(struct capture *cap, int dirfd, struct ckpt_stats *st)
{
	struct img_write_stats ws;
	uint64_t t0 = now_ns(CLOCK_MONOTONIC);
	int ret;

	memset(&ws, 0, sizeof(ws));
	ret = capture_finish_snapshot(cap);
	if (ret)
		return ret;
	ret = img_write(dirfd, cap->img, cap->runs, cap->nruns, &ws);
	st->write_ns = now_ns(CLOCK_MONOTONIC) - t0;
	st->image_bytes = ws.meta_bytes + ws.pages_bytes;
	st->mem_bytes = cap->mem_bytes;
	return ret;
}
