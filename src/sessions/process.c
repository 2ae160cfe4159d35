/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Process-wide attributes: session and process group, cwd, umask,
 * credentials and capabilities, rlimits, personality, prctl state
 * (dumpable, parent-death signal, child subreaper, THP disable, timer
 * slack, no_new_privs) and oom_score_adj.
 */
#define LOG_PREFIX "process: "
#include <inttypes.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sessions/session.h"
#include "base/log.h"
#include "core/proc.h"

static const char *const rlimit_names[RLIM_NLIMITS] = {
    "cpu",     "fsize", "data",	 "stack",      "core",	   "rss",  "nproc",  "nofile",
    "memlock", "as",	"locks", "sigpending", "msgqueue", "nice", "rtprio", "rttime",
};

/* Process group, session and parent (in the target's namespace; init is 1)
 * from the process's status text. */
int proc_dump_ids(struct ckpt_ctx *c, const char *status)
{
	Rtcr__Process *p = c->proc;
	uint32_t v;
	int ret;

	ret = proc_status_last_u32(status, "NSpgid", &v);
	if (ret)
		return ret;
	p->has_pgid = 1;
	p->pgid = v;
	ret = proc_status_last_u32(status, "NSsid", &v);
	if (ret)
		return ret;
	p->has_sid = 1;
	p->sid = v;
	ret = proc_status_last_u32(status, "PPid", &v);
	if (ret)
		return ret;
	p->has_ppid = 1;
	p->ppid = (pid_t)v == c->t->init_pid ? 1 : (uint32_t)proc_ns_pid((pid_t)v);
	return 0;
}

static int four_u32(const char *status, const char *key, uint32_t v[4])
{
	char val[256];
	int ret = proc_status_field(status, key, val, sizeof(val));

	if (ret)
		return ret;
	if (sscanf(val, "%u %u %u %u", &v[0], &v[1], &v[2], &v[3]) != 4)
		return -EINVAL;
	return 0;
}

static uint64_t hex_field(const char *status, const char *key)
{
	char val[64];

	if (proc_status_field(status, key, val, sizeof(val)))
		return 0;
	return strtoull(val, NULL, 16);
}

/* Credentials of one task from its status text; securebits through ij. */
int proc_dump_creds(struct inject *ij, const char *status, Rtcr__Creds **out)
{
	Rtcr__Creds *cr = calloc(1, sizeof(*cr));
	uint32_t u[4], g[4];
	char val[4096], *tok, *save = NULL;
	long r = 0;
	int ret;

	if (!cr)
		return -ENOMEM;
	rtcr__creds__init(cr);
	*out = cr;
	if (four_u32(status, "Uid", u) || four_u32(status, "Gid", g)) {
		pr_err("thread %d: cannot parse credentials", ij->tid);
		return -EINVAL;
	}
	cr->has_uid = cr->has_euid = cr->has_suid = cr->has_fsuid = 1;
	cr->has_gid = cr->has_egid = cr->has_sgid = cr->has_fsgid = 1;
	cr->uid = u[0], cr->euid = u[1], cr->suid = u[2], cr->fsuid = u[3];
	cr->gid = g[0], cr->egid = g[1], cr->sgid = g[2], cr->fsgid = g[3];
	if (proc_status_field(status, "Groups", val, sizeof(val)) == 0) {
		for (tok = strtok_r(val, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
			uint32_t *ng = realloc(cr->groups, sizeof(uint32_t) * (cr->n_groups + 1));

			if (!ng)
				return -ENOMEM;
			cr->groups = ng;
			cr->groups[cr->n_groups++] = (uint32_t)strtoul(tok, NULL, 10);
		}
	}
	cr->has_cap_inh = cr->has_cap_prm = cr->has_cap_eff = cr->has_cap_bnd = cr->has_cap_amb = 1;
	cr->cap_inh = hex_field(status, "CapInh");
	cr->cap_prm = hex_field(status, "CapPrm");
	cr->cap_eff = hex_field(status, "CapEff");
	cr->cap_bnd = hex_field(status, "CapBnd");
	cr->cap_amb = hex_field(status, "CapAmb");
	ret =
	    inject_call(ij, &r, "PR_GET_SECUREBITS", __NR_prctl, PR_GET_SECUREBITS, 0, 0, 0, 0, 0);
	if (ret)
		return ret;
	cr->has_securebits = 1;
	cr->securebits = (uint32_t)r;
	return 0;
}

/* Working directory (a deleted one is remembered as such), root, comm. */
static int dump_paths(struct ckpt_ctx *c)
{
	Rtcr__Process *p = c->proc;
	char path[64], link[4096], *buf = NULL;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/comm", c->pid);
	if (read_file(path, &buf) >= 0) {
		buf[strcspn(buf, "\n")] = '\0';
		p->comm = buf;
	}
	snprintf(path, sizeof(path), "/proc/%d/cwd", c->pid);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return pr_perror("read %s", path);
	link[n] = '\0';
	if (strstr(link, " (deleted)")) {
		/* restored as a new empty directory, removed again (see below) */
		p->has_cwd_deleted = 1;
		p->cwd_deleted = true;
		link[strlen(link) - strlen(" (deleted)")] = '\0';
	}
	p->cwd = xstrdup(link);
	snprintf(path, sizeof(path), "/proc/%d/root", c->pid);
	n = readlink(path, link, sizeof(link) - 1);
	if (n >= 0) {
		link[n] = '\0';
		p->root = xstrdup(link);
		if (strcmp(link, "/"))
			return ckpt_refuse(c, "pid %d: chroot to %s is not supported yet",
					   c->ns_pid, link);
	}
	return 0;
}

/* A number from a one-line /proc/PID file. */
static int proc_number(pid_t pid, const char *name, int base, long *v)
{
	char path[64], *buf = NULL;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
	n = read_file(path, &buf);
	if (n < 0)
		return (int)n;
	*v = strtol(buf, NULL, base);
	free(buf);
	return 0;
}

/* personality, oom_score_adj, coredump_filter: optional /proc files */
static void dump_proc_numbers(struct ckpt_ctx *c)
{
	Rtcr__Process *p = c->proc;
	long v;

	if (proc_number(c->pid, "personality", 16, &v) == 0) {
		p->has_personality = 1;
		p->personality = (uint32_t)v;
	}
	if (proc_number(c->pid, "oom_score_adj", 10, &v) == 0) {
		p->has_oom_score_adj = 1;
		p->oom_score_adj = (int32_t)v;
	}
	if (proc_number(c->pid, "coredump_filter", 16, &v) == 0) {
		p->has_coredump_filter = 1;
		p->coredump_filter = (uint32_t)v;
	}
}

/* The rlimits, asked of the target itself (prlimit64 on itself needs no
 * privilege; from here, a target of another uid would need CAP_SYS_RESOURCE). */
static int dump_rlimits(struct ckpt_ctx *c)
{
	Rtcr__Process *p = c->proc;
	struct inject_call calls[RLIM_NLIMITS];
	struct rlimit64 rl[RLIM_NLIMITS];
	uint64_t out = c->ij.scratch + 8192;
	int ret;

	memset(calls, 0, sizeof(calls));
	for (int res = 0; res < RLIM_NLIMITS; res++) {
		calls[res].nr = __NR_prlimit64;
		calls[res].a[1] = (uint64_t)res;
		calls[res].a[3] = out + sizeof(rl[0]) * (uint64_t)res;
	}
	ret = inject_batch(&c->ij, calls, RLIM_NLIMITS);
	if (!ret)
		ret = remote_read(c->pid, out, rl, sizeof(rl));
	if (ret)
		return ret;
	for (int res = 0; res < RLIM_NLIMITS; res++) {
		Rtcr__Rlimit *r;

		if (calls[res].ret < 0) {
			pr_err("pid %d: read rlimit %s: %s", c->ns_pid, rlimit_names[res],
			       strerror((int)-calls[res].ret));
			return (int)calls[res].ret;
		}
		r = calloc(1, sizeof(*r));
		if (!r)
			return -ENOMEM;
		rtcr__rlimit__init(r);
		r->has_resource = r->has_cur = r->has_max = 1;
		r->resource = (uint32_t)res;
		r->cur = rl[res].rlim_cur;
		r->max = rl[res].rlim_max;
		ret = pb_push((void ***)&p->rlimits, &p->n_rlimits, r);
		if (ret)
			return ret;
	}
	return 0;
}

/* the prctl state, in one batch of injected calls */
static int dump_prctl(struct ckpt_ctx *c)
{
	enum { DUMP, PDEATH, SUBREAP, THP, SLACK, MCE, TSC, MERGE, CPUID, NCALLS };
	static const struct {
		long nr, a0;
		bool ptr;      /* result through an int at out + 4 * index */
		bool optional; /* may be missing on older kernels */
	} q[NCALLS] = {
	    [DUMP] = {__NR_prctl, PR_GET_DUMPABLE, false, false},
	    [PDEATH] = {__NR_prctl, PR_GET_PDEATHSIG, true, false},
	    [SUBREAP] = {__NR_prctl, PR_GET_CHILD_SUBREAPER, true, false},
	    [THP] = {__NR_prctl, PR_GET_THP_DISABLE, false, false},
	    [SLACK] = {__NR_prctl, PR_GET_TIMERSLACK, false, false},
	    [MCE] = {__NR_prctl, PR_MCE_KILL_GET, false, false},
	    [TSC] = {__NR_prctl, PR_GET_TSC, true, false},
	    [MERGE] = {__NR_prctl, 68 /* PR_GET_MEMORY_MERGE, 6.4 */, false, true},
	    [CPUID] = {__NR_arch_prctl, 0x1011 /* ARCH_GET_CPUID */, false, true},
	};
	Rtcr__Process *p = c->proc;
	struct inject_call calls[NCALLS];
	uint64_t out = c->ij.scratch + 8192;
	int32_t vals[NCALLS];
	int64_t v[NCALLS];
	int ret;

	memset(calls, 0, sizeof(calls));
	for (int i = 0; i < NCALLS; i++) {
		calls[i].nr = (uint64_t)q[i].nr;
		calls[i].a[0] = (uint64_t)q[i].a0;
		if (q[i].ptr)
			calls[i].a[1] = out + 4 * (uint64_t)i;
	}
	ret = inject_batch(&c->ij, calls, NCALLS);
	if (!ret)
		ret = remote_read(c->pid, out, vals, sizeof(vals));
	if (ret)
		return ret;
	for (int i = 0; i < NCALLS; i++) {
		if (calls[i].ret < 0 && !q[i].optional) {
			ret = (int)calls[i].ret;
			pr_err("pid %d: prctl option %ld failed: %s", c->ns_pid, q[i].a0,
			       strerror(-ret));
			return ret;
		}
		v[i] = q[i].ptr ? vals[i] : calls[i].ret;
	}
	p->has_dumpable = p->has_pdeathsig = p->has_child_subreaper = 1;
	p->has_thp_disable = p->has_timerslack_ns = p->has_mce_kill = p->has_tsc_mode = 1;
	p->dumpable = (uint32_t)v[DUMP];
	p->pdeathsig = (uint32_t)v[PDEATH];
	p->child_subreaper = (uint32_t)v[SUBREAP];
	p->thp_disable = (uint32_t)v[THP];
	p->timerslack_ns = (uint64_t)v[SLACK];
	p->mce_kill = (uint32_t)v[MCE];
	p->tsc_mode = (uint32_t)v[TSC];
	if (calls[MERGE].ret >= 0) {
		p->has_memory_merge = 1;
		p->memory_merge = (uint32_t)v[MERGE];
	}
	if (calls[CPUID].ret >= 0) {
		p->has_cpuid_enabled = 1;
		p->cpuid_enabled = (uint32_t)v[CPUID];
	}
	return 0;
}

static int process_dump(struct ckpt_ctx *c)
{
	Rtcr__Process *p = c->proc;
	char path[64], *status = NULL, val[32];
	int ret;

	snprintf(path, sizeof(path), "/proc/%d/status", c->pid);
	if (read_file(path, &status) < 0)
		return pr_perror("read %s", path);
	p->has_pid = 1;
	p->pid = (uint32_t)c->ns_pid;
	ret = proc_dump_ids(c, status);
	if (ret)
		goto out;
	if (proc_status_field(status, "Umask", val, sizeof(val)) == 0) {
		p->has_umask = 1;
		p->umask = (uint32_t)strtoul(val, NULL, 8);
	}
	p->has_no_new_privs = 1;
	p->no_new_privs = (uint32_t)hex_field(status, "NoNewPrivs");
	ret = proc_dump_creds(&c->ij, status, &c->proc->creds);
	if (!ret)
		ret = dump_paths(c);
	if (ret)
		goto out;
	dump_proc_numbers(c);
	ret = dump_rlimits(c);
	if (!ret)
		ret = dump_prctl(c);
out:
	free(status);
	return ret;
}

static int call(struct rst_ctx *r, const char *what, long nr, uint64_t a1, uint64_t a2, uint64_t a3,
		uint64_t a4, uint64_t a5)
{
	return inject_call(&r->ij, NULL, what, nr, a1, a2, a3, a4, a5, 0);
}

int proc_restore_creds(struct rst_ctx *r, const Rtcr__Creds *cr)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];
	uint64_t addr, all = (1ULL << (CAP_LAST_CAP + 1)) - 1;
	bool full = cr->uid == 0 && cr->euid == 0 && cr->suid == 0 && cr->fsuid == 0 &&
		    cr->gid == 0 && cr->egid == 0 && cr->sgid == 0 && cr->fsgid == 0 &&
		    (cr->cap_eff & all) == all && (cr->cap_prm & all) == all &&
		    (cr->cap_bnd & all) == all && cr->cap_inh == 0 && cr->cap_amb == 0 &&
		    cr->securebits == 0;
	int ret;

	if (full && cr->n_groups == 0)
		return 0;
	/* bounding set first, while we still have CAP_SETPCAP */
	for (int cap = 0; cap <= CAP_LAST_CAP; cap++) {
		if (!(cr->cap_bnd & (1ULL << cap))) {
			ret = call(r, "drop a capability from the bounding set", __NR_prctl,
				   PR_CAPBSET_DROP, (uint64_t)cap, 0, 0, 0);
			if (ret)
				return ret;
		}
	}
	if (cr->n_groups) {
		ret = rst_scratch_put(r, 0, cr->groups, cr->n_groups * sizeof(uint32_t), &addr);
		if (ret)
			return ret;
	} else {
		addr = 0;
	}
	ret = call(r, "setgroups", __NR_setgroups, cr->n_groups, addr, 0, 0, 0);
	if (ret)
		return ret;
	ret = call(r, "setresgid", __NR_setresgid, cr->gid, cr->egid, cr->sgid, 0, 0);
	if (ret)
		return ret;
	call(r, "setfsgid", __NR_setfsgid, cr->fsgid, 0, 0, 0, 0);
	/* keep capabilities across the uid change; securebits set below decide after */
	ret = call(r, "PR_SET_KEEPCAPS", __NR_prctl, PR_SET_KEEPCAPS, 1, 0, 0, 0);
	if (ret)
		return ret;
	ret = call(r, "setresuid", __NR_setresuid, cr->uid, cr->euid, cr->suid, 0, 0);
	if (ret)
		return ret;
	call(r, "setfsuid", __NR_setfsuid, cr->fsuid, 0, 0, 0, 0);
	memset(data, 0, sizeof(data));
	data[0].effective = (uint32_t)cr->cap_eff;
	data[1].effective = (uint32_t)(cr->cap_eff >> 32);
	data[0].permitted = (uint32_t)cr->cap_prm;
	data[1].permitted = (uint32_t)(cr->cap_prm >> 32);
	data[0].inheritable = (uint32_t)cr->cap_inh;
	data[1].inheritable = (uint32_t)(cr->cap_inh >> 32);
	ret = rst_scratch_put(r, 0, &hdr, sizeof(hdr), &addr);
	if (ret)
		return ret;
	ret = rst_scratch_put(r, 64, data, sizeof(data), NULL);
	if (ret)
		return ret;
	ret = call(r, "capset", __NR_capset, addr, addr + 64, 0, 0, 0);
	if (ret)
		return ret;
	for (int cap = 0; cap <= CAP_LAST_CAP; cap++) {
		if (cr->cap_amb & (1ULL << cap)) {
			ret = call(r, "raise an ambient capability", __NR_prctl, PR_CAP_AMBIENT,
				   PR_CAP_AMBIENT_RAISE, (uint64_t)cap, 0, 0);
			if (ret)
				return ret;
		}
	}
	/* securebits last: it also holds keep-caps */
	{
		long cur = 0;

		inject_syscall(&r->ij, &cur, __NR_prctl, PR_GET_SECUREBITS, 0, 0, 0, 0, 0);
		if ((uint32_t)cur != cr->securebits) {
			ret = call(r, "PR_SET_SECUREBITS", __NR_prctl, PR_SET_SECUREBITS,
				   cr->securebits, 0, 0, 0);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/* A deleted working directory: a new directory next to where it was,
 * entered, then removed (a removed directory is empty). */
static int restore_deleted_cwd(struct rst_ctx *r, const char *cwd)
{
	char tmpl[4200], *slash;
	uint64_t addr;
	int ret;

	snprintf(tmpl, sizeof(tmpl), "%s", cwd);
	slash = strrchr(tmpl, '/');
	if (!slash) {
		pr_err("restore: working directory %s is not absolute", cwd);
		return -EINVAL;
	}
	snprintf(slash + 1, sizeof(tmpl) - (size_t)(slash + 1 - tmpl), ".rtcr-cwd-XXXXXX");
	if (!mkdtemp(tmpl)) {
		ret = -errno;
		pr_err("restore: the deleted working directory %s: cannot make a directory "
		       "next to it: %s",
		       cwd, strerror(errno));
		return ret;
	}
	ret = rst_scratch_put(r, 0, tmpl, strlen(tmpl) + 1, &addr);
	if (!ret)
		ret = call(r, "chdir", __NR_chdir, addr, 0, 0, 0, 0);
	if (rmdir(tmpl) < 0 && !ret)
		ret = pr_perror("restore: remove %s", tmpl);
	return ret;
}

static int restore_cwd(struct rst_ctx *r)
{
	const Rtcr__Process *p = r->proc;
	uint64_t addr;
	int ret;

	if (!p->cwd)
		return 0;
	if (p->cwd_deleted)
		return restore_deleted_cwd(r, p->cwd);
	ret = rst_scratch_put(r, 0, p->cwd, strlen(p->cwd) + 1, &addr);
	if (ret)
		return ret;
	ret = call(r, "chdir", __NR_chdir, addr, 0, 0, 0, 0);
	if (ret)
		pr_err("restore: cannot enter the working directory %s", p->cwd);
	return ret;
}

static int restore_rlimits(struct rst_ctx *r)
{
	const Rtcr__Process *p = r->proc;

	for (size_t i = 0; i < p->n_rlimits; i++) {
		struct rlimit rl = {p->rlimits[i]->cur, p->rlimits[i]->max}, cur;
		int res = (int)p->rlimits[i]->resource;

		if (res >= RLIM_NLIMITS)
			continue;
		if (prlimit(r->pid, (enum __rlimit_resource)res, &rl, NULL) == 0)
			continue;
		if (errno != EPERM)
			return pr_perror("pid %u: set rlimit %s", p->pid, rlimit_names[res]);
		/* raising a hard limit needs CAP_SYS_RESOURCE: keep what we may */
		prlimit(r->pid, (enum __rlimit_resource)res, NULL, &cur);
		if (rl.rlim_max > cur.rlim_max)
			rl.rlim_max = cur.rlim_max;
		if (rl.rlim_cur > rl.rlim_max)
			rl.rlim_cur = rl.rlim_max;
		pr_warn(
		    "pid %u: rlimit %s lowered to %llu/%llu (raising it needs CAP_SYS_RESOURCE)",
		    p->pid, rlimit_names[res], (unsigned long long)rl.rlim_cur,
		    (unsigned long long)rl.rlim_max);
		if (prlimit(r->pid, (enum __rlimit_resource)res, &rl, NULL) < 0)
			return pr_perror("pid %u: set rlimit %s", p->pid, rlimit_names[res]);
	}
	return 0;
}

static int restore_prctl(struct rst_ctx *r)
{
	const Rtcr__Process *p = r->proc;
	int ret;

	ret = call(r, "PR_SET_PDEATHSIG", __NR_prctl, PR_SET_PDEATHSIG, p->pdeathsig, 0, 0, 0);
	if (!ret)
		ret = call(r, "PR_SET_CHILD_SUBREAPER", __NR_prctl, PR_SET_CHILD_SUBREAPER,
			   p->child_subreaper, 0, 0, 0);
	if (!ret)
		ret = call(r, "PR_SET_THP_DISABLE", __NR_prctl, PR_SET_THP_DISABLE, p->thp_disable,
			   0, 0, 0);
	if (!ret && p->has_timerslack_ns && p->timerslack_ns)
		ret = call(r, "PR_SET_TIMERSLACK", __NR_prctl, PR_SET_TIMERSLACK, p->timerslack_ns,
			   0, 0, 0);
	if (!ret && p->has_mce_kill && p->mce_kill != 2 /* PR_MCE_KILL_DEFAULT */)
		ret = call(r, "PR_MCE_KILL", __NR_prctl, PR_MCE_KILL, PR_MCE_KILL_SET, p->mce_kill,
			   0, 0);
	if (!ret && p->has_tsc_mode && p->tsc_mode && p->tsc_mode != PR_TSC_ENABLE)
		ret = call(r, "PR_SET_TSC", __NR_prctl, PR_SET_TSC, p->tsc_mode, 0, 0, 0);
	if (!ret && p->has_memory_merge && p->memory_merge)
		ret = call(r, "PR_SET_MEMORY_MERGE", __NR_prctl, 67, 1, 0, 0, 0);
	if (!ret && p->has_cpuid_enabled && !p->cpuid_enabled)
		ret = call(r, "arch_prctl ARCH_SET_CPUID", __NR_arch_prctl, 0x1012, 0, 0, 0, 0);
	return ret;
}

/* coredump_filter (best effort) and oom_score_adj, written from here */
static int restore_proc_files(struct rst_ctx *r)
{
	const Rtcr__Process *p = r->proc;
	char path[64], val[32];
	int ret;

	if (p->has_coredump_filter) {
		snprintf(path, sizeof(path), "/proc/%d/coredump_filter", r->pid);
		snprintf(val, sizeof(val), "0x%x", p->coredump_filter);
		ret = write_file(path, val);
		if (ret)
			pr_warn("pid %u: coredump_filter not restored: %s", p->pid, strerror(-ret));
	}
	snprintf(path, sizeof(path), "/proc/%d/oom_score_adj", r->pid);
	snprintf(val, sizeof(val), "%d", p->oom_score_adj);
	ret = write_file(path, val);
	if (ret)
		pr_err("pid %u: cannot set oom_score_adj %d: %s", p->pid, p->oom_score_adj,
		       strerror(-ret));
	return ret;
}

static int process_restore(struct rst_ctx *r)
{
	const Rtcr__Process *p = r->proc;
	int ret;

	/* session and process group: set when the process tree is made (restore.c) */
	ret = restore_cwd(r);
	if (!ret)
		ret = call(r, "umask", __NR_umask, p->umask, 0, 0, 0, 0);
	if (!ret)
		ret = call(r, "personality", __NR_personality, p->personality, 0, 0, 0, 0);
	if (!ret)
		ret = restore_rlimits(r);
	if (!ret)
		ret = restore_prctl(r);
	if (!ret)
		ret = restore_proc_files(r);
	if (!ret && p->creds)
		ret = proc_restore_creds(r, p->creds);
	if (ret)
		return ret;
	/* after the credentials: changing them resets it */
	ret = call(r, "PR_SET_DUMPABLE", __NR_prctl, PR_SET_DUMPABLE, p->dumpable, 0, 0, 0);
	if (!ret && p->no_new_privs)
		ret = call(r, "PR_SET_NO_NEW_PRIVS", __NR_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	return ret;
}

/*
 * membarrier registrations cannot be read back from the kernel; register
 * the private expedited commands this kernel offers, so that a target that
 * had registered keeps working (one that had not is not harmed: the
 * commands only cost when called). Called before the process has more
 * than one thread: with one user of the mm the kernel needs no
 * synchronize_rcu() (measured: 29 ms with two threads, 0.1 ms with one).
 */
void process_register_membarrier(struct rst_ctx *r)
{
	long mask = 0;

	if (inject_syscall(&r->ij, &mask, __NR_membarrier, 0 /* QUERY */, 0, 0, 0, 0, 0) == 0 &&
	    mask > 0) {
		static const struct {
			long cmd, reg;
		} m[] = {
		    {1 << 3, 1 << 4}, /* PRIVATE_EXPEDITED */
		    {1 << 5, 1 << 6}, /* PRIVATE_EXPEDITED_SYNC_CORE */
		    {1 << 7, 1 << 8}, /* PRIVATE_EXPEDITED_RSEQ */
		};

		for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
			long rr;

			if ((mask & m[i].cmd) && (mask & m[i].reg))
				inject_syscall(&r->ij, &rr, __NR_membarrier, (uint64_t)m[i].reg, 0,
					       0, 0, 0, 0);
		}
	}
}

const struct session_ops session_process = {
    .name = "process",
    .dump = process_dump,
    .restore = process_restore,
    .phase = RST_PROCESS,
};
