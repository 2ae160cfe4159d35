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
#include <linux/securebits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sessions/files.h"
#include "sessions/session.h"
#include "base/log.h"
#include "core/proc.h"

#ifndef MEMBARRIER_CMD_GET_REGISTRATIONS
#define MEMBARRIER_CMD_GET_REGISTRATIONS (1 << 9) /* Linux 6.3 */
#endif

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
	enum { DUMP, PDEATH, SUBREAP, THP, SLACK, MCE, TSC, MERGE, CPUID, MEMB, NCALLS };
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
	    [MEMB] = {__NR_membarrier, MEMBARRIER_CMD_GET_REGISTRATIONS, false, true},
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
	if (calls[MEMB].ret >= 0) {
		p->has_membarrier_registrations = 1;
		p->membarrier_registrations = (uint32_t)v[MEMB];
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

/* The credentials thread ij->tid has now (its status file, its securebits). */
static int creds_now(struct inject *ij, pid_t pid, Rtcr__Creds **out)
{
	char path[96], *status = NULL;
	ssize_t n;
	int ret;

	*out = NULL;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, ij->tid);
	n = read_file(path, &status);
	if (n < 0) {
		pr_err("read %s: %s", path, strerror((int)-n));
		return (int)n;
	}
	ret = proc_dump_creds(ij, status, out);
	free(status);
	return ret;
}

/* The first field in which two sets of credentials differ, or NULL. */
static const char *creds_differ(const Rtcr__Creds *a, const Rtcr__Creds *b)
{
	if (a->uid != b->uid || a->euid != b->euid || a->suid != b->suid)
		return "uid";
	if (a->fsuid != b->fsuid)
		return "fsuid";
	if (a->gid != b->gid || a->egid != b->egid || a->sgid != b->sgid)
		return "gid";
	if (a->fsgid != b->fsgid)
		return "fsgid";
	if (a->n_groups != b->n_groups ||
	    (a->n_groups && memcmp(a->groups, b->groups, a->n_groups * sizeof(uint32_t))))
		return "supplementary groups";
	if (a->cap_inh != b->cap_inh)
		return "inheritable capabilities";
	if (a->cap_prm != b->cap_prm)
		return "permitted capabilities";
	if (a->cap_eff != b->cap_eff)
		return "effective capabilities";
	if (a->cap_bnd != b->cap_bnd)
		return "bounding set";
	if (a->cap_amb != b->cap_amb)
		return "ambient capabilities";
	if (a->securebits != b->securebits)
		return "securebits";
	return NULL;
}

#define CAPBIT(c) (1ULL << (c))

/* What the steps of restore_creds_steps need: the capabilities asked for
 * are ones the thread (rtcr's own) has, and it may change ids and bits. */
static int creds_check(pid_t tid, const Rtcr__Creds *cur, const Rtcr__Creds *cr)
{
	uint64_t need = CAPBIT(CAP_SETUID) | CAPBIT(CAP_SETGID) | CAPBIT(CAP_SETPCAP);
	uint64_t lack;

	if ((cur->cap_prm & need) != need) {
		pr_err("thread %d: changing credentials needs CAP_SETUID, CAP_SETGID and "
		       "CAP_SETPCAP; it has only permitted capabilities %#" PRIx64,
		       tid, cur->cap_prm);
		return -EPERM;
	}
	lack = (cr->cap_prm | cr->cap_eff | cr->cap_amb) & ~cur->cap_prm;
	if (lack) {
		pr_err("thread %d: capabilities %#" PRIx64 " of the image are not in rtcr's own "
		       "permitted set %#" PRIx64 ": they cannot be given back",
		       tid, lack, cur->cap_prm);
		return -EPERM;
	}
	lack = cr->cap_bnd & ~cur->cap_bnd;
	if (!lack)
		lack = cr->cap_inh & ~(cur->cap_inh | cur->cap_bnd);
	if (lack) {
		pr_err("thread %d: capabilities %#" PRIx64
		       " of the image's bounding or inheritable "
		       "set are not in rtcr's bounding set %#" PRIx64,
		       tid, lack, cur->cap_bnd);
		return -EPERM;
	}
	return 0;
}

static int capset_in(struct rst_ctx *r, uint64_t eff, uint64_t prm, uint64_t inh)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];
	uint64_t addr;
	int ret;

	memset(data, 0, sizeof(data));
	data[0].effective = (uint32_t)eff;
	data[1].effective = (uint32_t)(eff >> 32);
	data[0].permitted = (uint32_t)prm;
	data[1].permitted = (uint32_t)(prm >> 32);
	data[0].inheritable = (uint32_t)inh;
	data[1].inheritable = (uint32_t)(inh >> 32);
	ret = rst_scratch_put(r, 0, &hdr, sizeof(hdr), &addr);
	if (!ret)
		ret = rst_scratch_put(r, 64, data, sizeof(data), NULL);
	if (!ret)
		ret = call(r, "capset", __NR_capset, addr, addr + 64, 0, 0, 0);
	return ret;
}

/* setfs[ug]id returns the previous id and no error: ask again to check. */
static int set_fsid(struct rst_ctx *r, long nr, const char *what, uint32_t id)
{
	long old, got = -1;
	int ret;

	ret = inject_syscall(&r->ij, &old, nr, id, 0, 0, 0, 0, 0);
	if (!ret)
		ret = inject_syscall(&r->ij, &got, nr, (uint64_t)-1, 0, 0, 0, 0, 0);
	if (ret)
		return ret;
	if ((uint32_t)got != id) {
		pr_err("thread %d: %s %u: it stays %ld", r->ij.tid, what, id, got);
		return -EPERM;
	}
	return 0;
}

/*
 * From rtcr's own credentials (cur) to the image's, each step while the
 * thread still has the privilege it needs:
 *  1. effective = all permitted (CAP_SETUID/SETGID/SETPCAP from here on),
 *     inheritable as in the image (before the bounding set shrinks: adding
 *     to it needs the capability in the bounding set);
 *  2. groups, res[gu]id, fs[gu]id, with SECBIT_NO_SETUID_FIXUP set for a
 *     while so that the uid change leaves the capabilities (and the
 *     ambient set) alone (keep-caps would still clear the effective set);
 *  3. bounding set drops (CAP_SETPCAP);
 *  4. ambient raises (the capability in permitted and inheritable, and
 *     before SECBIT_NO_CAP_AMBIENT_RAISE may be set);
 *  5. securebits as in the image (CAP_SETPCAP, still effective);
 *  6. capset to the image's permitted/effective/inheritable sets (the
 *     ambient set stays: it is within permitted and inheritable).
 * no_new_privs and dumpable come after, from the callers.
 */
static int restore_creds_steps(struct rst_ctx *r, const Rtcr__Creds *cur, const Rtcr__Creds *cr)
{
	uint32_t temp_bits = cur->securebits | SECBIT_NO_SETUID_FIXUP;
	uint64_t addr = 0;
	int ret;

	ret = capset_in(r, cur->cap_prm, cur->cap_prm, cr->cap_inh);
	if (!ret && cr->n_groups)
		ret = rst_scratch_put(r, 0, cr->groups, cr->n_groups * sizeof(uint32_t), &addr);
	if (!ret)
		ret = call(r, "setgroups", __NR_setgroups, cr->n_groups, addr, 0, 0, 0);
	if (!ret)
		ret = call(r, "setresgid", __NR_setresgid, cr->gid, cr->egid, cr->sgid, 0, 0);
	if (!ret)
		ret = set_fsid(r, __NR_setfsgid, "setfsgid", cr->fsgid);
	if (!ret && temp_bits != cur->securebits)
		ret = call(r, "PR_SET_SECUREBITS (no setuid fixup, for now)", __NR_prctl,
			   PR_SET_SECUREBITS, temp_bits, 0, 0, 0);
	if (!ret)
		ret = call(r, "setresuid", __NR_setresuid, cr->uid, cr->euid, cr->suid, 0, 0);
	if (!ret)
		ret = set_fsid(r, __NR_setfsuid, "setfsuid", cr->fsuid);
	for (int cap = 0; !ret && cap <= CAP_LAST_CAP; cap++)
		if ((cur->cap_bnd & ~cr->cap_bnd) & CAPBIT(cap))
			ret = call(r, "drop a capability from the bounding set", __NR_prctl,
				   PR_CAPBSET_DROP, (uint64_t)cap, 0, 0, 0);
	if (!ret && cur->cap_amb)
		ret = call(r, "clear the ambient set", __NR_prctl, PR_CAP_AMBIENT,
			   PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	for (int cap = 0; !ret && cap <= CAP_LAST_CAP; cap++)
		if (cr->cap_amb & CAPBIT(cap))
			ret = call(r, "raise an ambient capability", __NR_prctl, PR_CAP_AMBIENT,
				   PR_CAP_AMBIENT_RAISE, (uint64_t)cap, 0, 0);
	if (!ret && cr->securebits != temp_bits)
		ret = call(r, "PR_SET_SECUREBITS", __NR_prctl, PR_SET_SECUREBITS, cr->securebits, 0,
			   0, 0);
	if (!ret)
		ret = capset_in(r, cr->cap_eff, cr->cap_prm, cr->cap_inh);
	return ret;
}

/* Give thread r->ij.tid the credentials cr exactly (checked afterwards). */
int proc_restore_creds(struct rst_ctx *r, const Rtcr__Creds *cr)
{
	Rtcr__Creds *cur = NULL, *now = NULL;
	const char *diff;
	int ret;

	ret = creds_now(&r->ij, r->pid, &cur);
	if (ret || !creds_differ(cur, cr))
		goto out;
	ret = creds_check(r->ij.tid, cur, cr);
	if (!ret)
		ret = restore_creds_steps(r, cur, cr);
	if (!ret)
		ret = creds_now(&r->ij, r->pid, &now);
	if (ret)
		goto out;
	diff = creds_differ(now, cr);
	if (diff) {
		pr_err("thread %d: credentials restored, but its %s differ from the image's",
		       r->ij.tid, diff);
		ret = -EIO;
	}
out:
	if (cur)
		rtcr__creds__free_unpacked(cur, NULL);
	if (now)
		rtcr__creds__free_unpacked(now, NULL);
	return ret;
}

/* A deleted working directory: made again at its path (with the parents
 * that are missing), entered, then removed again with those parents: the
 * process reads it as "path (deleted)", as before. */
static int restore_deleted_cwd(struct rst_ctx *r, const char *cwd)
{
	struct dir_remade dr;
	uint64_t addr;
	int ret, r2;

	ret = dir_remake(cwd, &dr);
	if (ret)
		return ret;
	ret = rst_scratch_put(r, 0, dr.path, strlen(dr.path) + 1, &addr);
	if (!ret)
		ret = call(r, "chdir", __NR_chdir, addr, 0, 0, 0, 0);
	if (ret)
		pr_err("pid %u: cannot enter the deleted working directory %s again", r->proc->pid,
		       cwd);
	r2 = dir_unmake(&dr);
	return ret ? ret : r2;
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

/*
 * The rlimits, set by the target itself (one batch of prlimit64 on itself),
 * before its credentials change: from here, or once it is another uid,
 * setting them would need CAP_SYS_RESOURCE. Raising a hard limit above the
 * current one needs CAP_SYS_RESOURCE in any case: a limit that cannot be
 * given back is an error that names it.
 */
static int restore_rlimits(struct rst_ctx *r)
{
	const Rtcr__Process *p = r->proc;
	struct inject_call calls[RLIM_NLIMITS];
	struct rlimit64 rl[RLIM_NLIMITS], cur[RLIM_NLIMITS];
	uint64_t in, out;
	size_t n = 0;
	int ret;

	memset(calls, 0, sizeof(calls));
	memset(rl, 0, sizeof(rl));
	for (size_t i = 0; i < p->n_rlimits && n < RLIM_NLIMITS; i++) {
		if (p->rlimits[i]->resource >= RLIM_NLIMITS)
			continue;
		rl[n].rlim_cur = p->rlimits[i]->cur;
		rl[n].rlim_max = p->rlimits[i]->max;
		calls[n].nr = __NR_prlimit64;
		calls[n].a[1] = p->rlimits[i]->resource;
		n++;
	}
	ret = rst_scratch_put(r, 8192, rl, sizeof(rl), &in);
	if (ret)
		return ret;
	out = in + sizeof(rl);
	for (size_t i = 0; i < n; i++) {
		calls[i].a[2] = in + sizeof(rl[0]) * i;
		calls[i].a[3] = out + sizeof(cur[0]) * i; /* the limit it had, if set */
	}
	ret = inject_batch(&r->ij, calls, n);
	if (ret)
		return ret;
	for (size_t i = 0; i < n; i++) {
		const char *name = rlimit_names[calls[i].a[1]];

		if (calls[i].ret == 0)
			continue;
		ret = (int)calls[i].ret;
		if (ret == -EPERM &&
		    inject_call(&r->ij, NULL, "prlimit64", __NR_prlimit64, 0, calls[i].a[1], 0,
				calls[i].a[3], 0, 0) == 0 &&
		    remote_read(r->pid, calls[i].a[3], &cur[i], sizeof(cur[i])) == 0)
			pr_err("pid %u: rlimit %s: the hard limit cannot be raised from %llu to "
			       "%llu: that needs CAP_SYS_RESOURCE, which rtcr lacks",
			       p->pid, name, (unsigned long long)cur[i].rlim_max,
			       (unsigned long long)rl[i].rlim_max);
		else
			pr_err("pid %u: set rlimit %s to %llu/%llu: %s", p->pid, name,
			       (unsigned long long)rl[i].rlim_cur,
			       (unsigned long long)rl[i].rlim_max, strerror(-ret));
		return ret;
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
 * The membarrier commands the process had registered: exactly those read
 * at the checkpoint (MEMBARRIER_CMD_GET_REGISTRATIONS, Linux 6.3). An image
 * without them (an older rtcr, an older kernel): the private expedited
 * commands this kernel offers, so that a target that had registered keeps
 * working (one that had not is not harmed: the commands only cost when
 * called). Called before the process has more than one thread: with one
 * user of the mm the kernel needs no synchronize_rcu() (measured: 29 ms
 * with two threads, 0.1 ms with one).
 */
int process_register_membarrier(struct rst_ctx *r)
{
	static const struct {
		long cmd, reg;
	} m[] = {
	    {1 << 0, 1 << 1}, /* GLOBAL_EXPEDITED */
	    {1 << 3, 1 << 4}, /* PRIVATE_EXPEDITED */
	    {1 << 5, 1 << 6}, /* PRIVATE_EXPEDITED_SYNC_CORE */
	    {1 << 7, 1 << 8}, /* PRIVATE_EXPEDITED_RSEQ */
	};
	const Rtcr__Process *p = r->proc;
	long mask = 0, rr;
	int ret = 0;

	if (p->has_membarrier_registrations) {
		for (size_t i = 0; i < sizeof(m) / sizeof(m[0]) && !ret; i++)
			if (p->membarrier_registrations & m[i].reg)
				ret =
				    inject_call(&r->ij, NULL, "membarrier register",
						__NR_membarrier, (uint64_t)m[i].reg, 0, 0, 0, 0, 0);
		if (ret)
			pr_err("pid %u: membarrier registrations %#x cannot be restored", p->pid,
			       p->membarrier_registrations);
		return ret;
	}
	if (inject_syscall(&r->ij, &mask, __NR_membarrier, 0 /* QUERY */, 0, 0, 0, 0, 0) ||
	    mask <= 0)
		return 0;
	for (size_t i = 1; i < sizeof(m) / sizeof(m[0]); i++)
		if ((mask & m[i].cmd) && (mask & m[i].reg))
			inject_syscall(&r->ij, &rr, __NR_membarrier, (uint64_t)m[i].reg, 0, 0, 0, 0,
				       0);
	return 0;
}

const struct session_ops session_process = {
    .name = "process",
    .dump = process_dump,
    .restore = process_restore,
    .phase = RST_PROCESS,
};
