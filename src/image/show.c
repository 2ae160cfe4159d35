/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rtcr show: what an image holds, for people or (--json) for programs.
 * The image is opened (and so validated) like a restore would, and every
 * page run's checksum is verified.
 */
#define LOG_PREFIX "image: "
#include "base/log.h"
#include "base/str.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "image/internal.h"

/* ---- a small JSON writer ---- */

#define JW_MAX_DEPTH 16

struct jw {
	FILE *f;
	int depth;
	bool first[JW_MAX_DEPTH];
};

static void jw_key(struct jw *w, const char *k)
{
	if (!w->first[w->depth])
		fputc(',', w->f);
	w->first[w->depth] = false;
	if (k) {
		json_str(w->f, k);
		fputc(':', w->f);
	}
}

static void jw_open(struct jw *w, const char *k, char c)
{
	jw_key(w, k);
	fputc(c, w->f);
	if (w->depth + 1 < JW_MAX_DEPTH) /* the code below nests at most 5 deep */
		w->depth++;
	w->first[w->depth] = true;
}

static void jw_close(struct jw *w, char c)
{
	fputc(c, w->f);
	if (w->depth > 0)
		w->depth--;
}

static void jw_u64(struct jw *w, const char *k, uint64_t v)
{
	jw_key(w, k);
	fprintf(w->f, "%" PRIu64, v);
}

static void jw_i64(struct jw *w, const char *k, int64_t v)
{
	jw_key(w, k);
	fprintf(w->f, "%" PRId64, v);
}

static void jw_hex(struct jw *w, const char *k, uint64_t v)
{
	jw_key(w, k);
	fprintf(w->f, "\"0x%" PRIx64 "\"", v);
}

static void jw_str(struct jw *w, const char *k, const char *s)
{
	jw_key(w, k);
	json_str(w->f, s);
}

static void jw_bool(struct jw *w, const char *k, bool v)
{
	jw_key(w, k);
	fputs(v ? "true" : "false", w->f);
}

/* ---- names ---- */

const char *img_enum_name(const ProtobufCEnumDescriptor *d, const char *prefix, int v, char *buf,
			  size_t len)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);
	size_t plen = strlen(prefix), i;
	const char *n;

	if (!ev || strncmp(ev->name, prefix, plen))
		return "?";
	n = ev->name + plen;
	for (i = 0; n[i] && i + 1 < len; i++)
		buf[i] = n[i] == '_' ? '-'
				     : (char)(n[i] >= 'A' && n[i] <= 'Z' ? n[i] - 'A' + 'a' : n[i]);
	buf[i] = '\0';
	return buf;
}

static const char *vma_kind(int k, char *buf, size_t len)
{
	return img_enum_name(&rtcr__vma_kind__descriptor, "VMA_", k, buf, len);
}

static const char *file_kind(int k, char *buf, size_t len)
{
	return img_enum_name(&rtcr__file_kind__descriptor, "FILE_", k, buf, len);
}

static const char *loss_kind(int k, char *buf, size_t len)
{
	return img_enum_name(&rtcr__loss_kind__descriptor, "LOSS_", k, buf, len);
}

static const char *rlimit_name(uint32_t r)
{
	static const char *const n[] = {
	    "CPU",     "FSIZE", "DATA",	 "STACK",      "CORE",	   "RSS",  "NPROC",  "NOFILE",
	    "MEMLOCK", "AS",	"LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME"};

	return r < sizeof(n) / sizeof(n[0]) ? n[r] : "?";
}

static const char *itimer_name(uint32_t w)
{
	static const char *const n[] = {"REAL", "VIRTUAL", "PROF"};

	return w < 3 ? n[w] : "?";
}

/* "SIGINT", or "signal 40" (buf of >= 16 bytes). */
static const char *sig_name(uint32_t signo, char *buf, size_t len)
{
	const char *abbrev = signo < 65 ? sigabbrev_np((int)signo) : NULL;

	if (abbrev)
		snprintf(buf, len, "SIG%s", abbrev);
	else
		snprintf(buf, len, "signal %" PRIu32, signo);
	return buf;
}

static void prot_str(const Rtcr__Vma *v, char out[5])
{
	out[0] = v->prot & PROT_READ ? 'r' : '-';
	out[1] = v->prot & PROT_WRITE ? 'w' : '-';
	out[2] = v->prot & PROT_EXEC ? 'x' : '-';
	out[3] = v->flags & MAP_SHARED ? 's' : 'p';
	out[4] = '\0';
}

static bool sigaction_default(const Rtcr__SigAction *sa)
{
	return sa->handler == 0 && sa->mask == 0 && (sa->flags & ~0x04000000ULL) == 0;
}

/* ---- helpers over the image ---- */

struct sctx {
	const Rtcr__Image *m;
	/* Files sorted by id, for lookups from fds (NULL if out of memory: linear search). */
	const Rtcr__File **files_by_id;
};

static int cmp_file(const void *a, const void *b)
{
	uint32_t x = (*(const Rtcr__File *const *)a)->id, y = (*(const Rtcr__File *const *)b)->id;

	return x < y ? -1 : x > y;
}

static const Rtcr__File *find_file(const struct sctx *c, uint32_t id)
{
	const Rtcr__File **files_by_id = c->files_by_id;
	const Rtcr__Image *m = c->m;
	size_t lo = 0, hi = m->n_files;

	if (!files_by_id) {
		for (size_t i = 0; i < m->n_files; i++)
			if (m->files[i]->id == id)
				return m->files[i];
		return NULL;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (files_by_id[mid]->id == id)
			return files_by_id[mid];
		if (files_by_id[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static size_t vma_index(const Rtcr__Process *p, uint64_t addr)
{
	size_t lo = 0, hi = p->n_vmas;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr < p->vmas[mid]->start)
			hi = mid;
		else if (addr >= p->vmas[mid]->end)
			lo = mid + 1;
		else
			return mid;
	}
	return SIZE_MAX;
}

struct pid_idx {
	uint32_t pid;
	size_t idx;
};

static int cmp_pid_idx(const void *a, const void *b)
{
	const struct pid_idx *x = a, *y = b;

	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/* Pages saved per VMA: one array per process, NULL if out of memory. */
static uint64_t **pages_per_vma(const Rtcr__Image *m)
{
	uint64_t **pv = calloc(m->n_processes + 1, sizeof(*pv));
	struct pid_idx *pids = malloc((m->n_processes + 1) * sizeof(*pids));

	if (!pv || !pids)
		goto fail;
	for (size_t i = 0; i < m->n_processes; i++) {
		pv[i] = calloc(m->processes[i]->n_vmas + 1, sizeof(**pv));
		if (!pv[i])
			goto fail;
		pids[i] = (struct pid_idx){m->processes[i]->pid, i};
	}
	qsort(pids, m->n_processes, sizeof(*pids), cmp_pid_idx);
	for (size_t i = 0; i < m->n_pagemap; i++) {
		const Rtcr__PageRun *r = m->pagemap[i];
		struct pid_idx key = {r->pid, 0}, *found;
		size_t pi = 0, vi;

		if (r->shmem_id)
			continue;
		if (r->pid) {
			found = bsearch(&key, pids, m->n_processes, sizeof(*pids), cmp_pid_idx);
			if (!found)
				continue;
			pi = found->idx;
		}
		if (pi >= m->n_processes)
			continue;
		vi = vma_index(m->processes[pi], r->addr);
		if (vi != SIZE_MAX)
			pv[pi][vi] += r->npages;
	}
	free(pids);
	return pv;
fail:
	if (pv)
		for (size_t i = 0; i < m->n_processes; i++)
			free(pv[i]);
	free(pv);
	free(pids);
	return NULL;
}

static void free_pv(uint64_t **pv, size_t n)
{
	if (!pv)
		return;
	for (size_t i = 0; i < n; i++)
		free(pv[i]);
	free(pv);
}

/* ---- JSON ---- */

/* A scalar field of a message, printed by jw_fields: unsigned, signed or
 * hex (by the member's size), a string or a boolean. */
enum jf_kind { JF_U, JF_I, JF_HEX, JF_STR, JF_BOOL };

struct jf {
	const char *key;
	uint8_t kind, size;
	uint16_t off;
};

#define JF(kind, key, type, member)                                                                \
	{                                                                                          \
		key, kind, sizeof(((type *)0)->member), offsetof(type, member)                     \
	}

static uint64_t jf_load(const void *msg, const struct jf *f)
{
	const char *p = (const char *)msg + f->off;
	uint32_t v32;
	uint64_t v;

	if (f->size == 8) {
		memcpy(&v, p, 8);
		return v;
	}
	memcpy(&v32, p, 4);
	return f->kind == JF_I ? (uint64_t)(int64_t)(int32_t)v32 : v32;
}

static void jw_fields(struct jw *w, const void *msg, const struct jf *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (f[i].kind == JF_STR) {
			const char *s;

			memcpy(&s, (const char *)msg + f[i].off, sizeof(s));
			jw_str(w, f[i].key, s);
		} else if (f[i].kind == JF_BOOL) {
			jw_bool(w, f[i].key, jf_load(msg, &f[i]) != 0);
		} else if (f[i].kind == JF_HEX) {
			jw_hex(w, f[i].key, jf_load(msg, &f[i]));
		} else if (f[i].kind == JF_I) {
			jw_i64(w, f[i].key, (int64_t)jf_load(msg, &f[i]));
		} else {
			jw_u64(w, f[i].key, jf_load(msg, &f[i]));
		}
	}
}

#define NF(t) (sizeof(t) / sizeof(t[0]))

/* {key: {fields...}} (key NULL: an array element). */
static void jw_object(struct jw *w, const char *key, const void *msg, const struct jf *f, size_t n)
{
	jw_open(w, key, '{');
	jw_fields(w, msg, f, n);
	jw_close(w, '}');
}

static void json_regs(struct jw *w, const Rtcr__UserRegs *r)
{
	jw_open(w, "regs", '{');
#define R(n) jw_hex(w, #n, r->n)
	R(rip), R(rsp), R(rbp), R(rax), R(rbx), R(rcx), R(rdx), R(rsi), R(rdi);
	R(r8), R(r9), R(r10), R(r11), R(r12), R(r13), R(r14), R(r15);
	R(orig_rax), R(eflags), R(cs), R(ss), R(ds), R(es), R(fs), R(gs), R(fs_base), R(gs_base);
#undef R
	jw_close(w, '}');
}

static const struct jf f_creds_ids[] = {
    JF(JF_U, "uid", Rtcr__Creds, uid),	 JF(JF_U, "euid", Rtcr__Creds, euid),
    JF(JF_U, "suid", Rtcr__Creds, suid), JF(JF_U, "fsuid", Rtcr__Creds, fsuid),
    JF(JF_U, "gid", Rtcr__Creds, gid),	 JF(JF_U, "egid", Rtcr__Creds, egid),
    JF(JF_U, "sgid", Rtcr__Creds, sgid), JF(JF_U, "fsgid", Rtcr__Creds, fsgid),
};
static const struct jf f_creds_caps[] = {
    JF(JF_HEX, "cap_inh", Rtcr__Creds, cap_inh), JF(JF_HEX, "cap_prm", Rtcr__Creds, cap_prm),
    JF(JF_HEX, "cap_eff", Rtcr__Creds, cap_eff), JF(JF_HEX, "cap_bnd", Rtcr__Creds, cap_bnd),
    JF(JF_HEX, "cap_amb", Rtcr__Creds, cap_amb), JF(JF_HEX, "securebits", Rtcr__Creds, securebits),
};
static const struct jf f_mm[] = {
    JF(JF_HEX, "start_code", Rtcr__MmInfo, start_code),
    JF(JF_HEX, "end_code", Rtcr__MmInfo, end_code),
    JF(JF_HEX, "start_data", Rtcr__MmInfo, start_data),
    JF(JF_HEX, "end_data", Rtcr__MmInfo, end_data),
    JF(JF_HEX, "start_brk", Rtcr__MmInfo, start_brk),
    JF(JF_HEX, "brk", Rtcr__MmInfo, brk),
    JF(JF_HEX, "start_stack", Rtcr__MmInfo, start_stack),
    JF(JF_HEX, "arg_start", Rtcr__MmInfo, arg_start),
    JF(JF_HEX, "arg_end", Rtcr__MmInfo, arg_end),
    JF(JF_HEX, "env_start", Rtcr__MmInfo, env_start),
    JF(JF_HEX, "env_end", Rtcr__MmInfo, env_end),
    JF(JF_U, "auxv_words", Rtcr__MmInfo, n_auxv),
};
/* After "exe" (from mm), which is between comm and cwd. */
static const struct jf f_proc_ids[] = {
    JF(JF_U, "ppid", Rtcr__Process, ppid),
    JF(JF_U, "pgid", Rtcr__Process, pgid),
    JF(JF_U, "sid", Rtcr__Process, sid),
    JF(JF_STR, "comm", Rtcr__Process, comm),
};
static const struct jf f_proc_attrs[] = {
    JF(JF_STR, "cwd", Rtcr__Process, cwd),
    JF(JF_STR, "root", Rtcr__Process, root),
    JF(JF_U, "umask", Rtcr__Process, umask),
    JF(JF_HEX, "personality", Rtcr__Process, personality),
    JF(JF_U, "dumpable", Rtcr__Process, dumpable),
    JF(JF_U, "pdeathsig", Rtcr__Process, pdeathsig),
    JF(JF_I, "oom_score_adj", Rtcr__Process, oom_score_adj),
    JF(JF_U, "no_new_privs", Rtcr__Process, no_new_privs),
    JF(JF_U, "child_subreaper", Rtcr__Process, child_subreaper),
    JF(JF_U, "thp_disable", Rtcr__Process, thp_disable),
    JF(JF_U, "timerslack_ns", Rtcr__Process, timerslack_ns),
};
static const struct jf f_rseq[] = {
    JF(JF_HEX, "abi_pointer", Rtcr__Rseq, abi_pointer),
    JF(JF_U, "abi_size", Rtcr__Rseq, abi_size),
    JF(JF_HEX, "signature", Rtcr__Rseq, signature),
    JF(JF_HEX, "flags", Rtcr__Rseq, flags),
};
static const struct jf f_sigaltstack[] = {
    JF(JF_HEX, "sp", Rtcr__SigAltStack, sp),
    JF(JF_HEX, "flags", Rtcr__SigAltStack, flags),
    JF(JF_U, "size", Rtcr__SigAltStack, size),
};
static const struct jf f_thread_lists[] = {
    JF(JF_HEX, "robust_list", Rtcr__Thread, robust_list),
    JF(JF_U, "robust_list_len", Rtcr__Thread, robust_list_len),
    JF(JF_HEX, "clear_child_tid", Rtcr__Thread, clear_child_tid),
};
static const struct jf f_sched[] = {
    JF(JF_U, "policy", Rtcr__Sched, policy),
    JF(JF_U, "priority", Rtcr__Sched, priority),
    JF(JF_I, "nice", Rtcr__Sched, nice),
};
static const struct jf f_sigaction[] = {
    JF(JF_HEX, "handler", Rtcr__SigAction, handler),
    JF(JF_HEX, "flags", Rtcr__SigAction, flags),
    JF(JF_HEX, "mask", Rtcr__SigAction, mask),
    JF(JF_HEX, "restorer", Rtcr__SigAction, restorer),
};
static const struct jf f_rlimit[] = {
    JF(JF_U, "cur", Rtcr__Rlimit, cur),
    JF(JF_U, "max", Rtcr__Rlimit, max),
};
static const struct jf f_itimer[] = {
    JF(JF_U, "value_us", Rtcr__Itimer, value_us),
    JF(JF_U, "interval_us", Rtcr__Itimer, interval_us),
};

static void json_creds_mm(struct jw *w, const Rtcr__Process *p)
{
	if (p->creds) {
		jw_open(w, "creds", '{');
		jw_fields(w, p->creds, f_creds_ids, NF(f_creds_ids));
		jw_open(w, "groups", '[');
		for (size_t i = 0; i < p->creds->n_groups; i++)
			jw_u64(w, NULL, p->creds->groups[i]);
		jw_close(w, ']');
		jw_fields(w, p->creds, f_creds_caps, NF(f_creds_caps));
		jw_close(w, '}');
	}
	if (p->mm)
		jw_object(w, "mm", p->mm, f_mm, NF(f_mm));
}

static void json_vmas(struct jw *w, const Rtcr__Process *p, const uint64_t *pv)
{
	char kb[32];

	jw_open(w, "vmas", '[');
	for (size_t i = 0; i < p->n_vmas; i++) {
		const Rtcr__Vma *v = p->vmas[i];
		char prot[5];

		prot_str(v, prot);
		jw_open(w, NULL, '{');
		jw_hex(w, "start", v->start);
		jw_hex(w, "end", v->end);
		jw_str(w, "prot", prot);
		jw_hex(w, "flags", v->flags);
		jw_str(w, "kind", vma_kind(v->kind, kb, sizeof(kb)));
		jw_u64(w, "size", v->end - v->start);
		jw_hex(w, "pgoff", v->pgoff);
		jw_str(w, "path", v->path);
		if (v->anon_name)
			jw_str(w, "anon_name", v->anon_name);
		if (v->kind == RTCR__VMA_KIND__VMA_SHMEM)
			jw_u64(w, "shmem_id", v->shmem_id);
		jw_hex(w, "madv", v->madv);
		jw_u64(w, "pages_saved", pv ? pv[i] : 0);
		jw_close(w, '}');
	}
	jw_close(w, ']');
}

static void json_thread(struct jw *w, const Rtcr__Thread *t)
{
	jw_open(w, NULL, '{');
	jw_u64(w, "tid", t->tid);
	jw_str(w, "comm", t->comm);
	json_regs(w, t->regs);
	jw_u64(w, "xsave_bytes", t->has_xsave ? t->xsave.len : 0);
	jw_hex(w, "sigmask", t->sigmask);
	jw_u64(w, "pending_signals", t->n_pending);
	if (t->rseq)
		jw_object(w, "rseq", t->rseq, f_rseq, NF(f_rseq));
	if (t->sigaltstack)
		jw_object(w, "sigaltstack", t->sigaltstack, f_sigaltstack, NF(f_sigaltstack));
	jw_fields(w, t, f_thread_lists, NF(f_thread_lists));
	if (t->in_syscall)
		jw_u64(w, "in_syscall", t->in_syscall - 1);
	if (t->sched)
		jw_object(w, "sched", t->sched, f_sched, NF(f_sched));
	jw_close(w, '}');
}

static void json_fds(struct jw *w, const struct sctx *sc, const Rtcr__Process *p)
{
	char kb[32];

	jw_open(w, "fds", '[');
	for (size_t i = 0; i < p->n_fds; i++) {
		const Rtcr__Fd *fd = p->fds[i];
		const Rtcr__File *f = find_file(sc, fd->file_id);

		jw_open(w, NULL, '{');
		jw_u64(w, "fd", fd->fd);
		jw_u64(w, "file_id", fd->file_id);
		jw_bool(w, "cloexec", fd->cloexec);
		if (f) {
			jw_str(w, "kind", file_kind(f->kind, kb, sizeof(kb)));
			jw_str(w, "path", f->path);
			jw_hex(w, "flags", f->flags);
			jw_u64(w, "pos", f->pos);
			if (f->kind == RTCR__FILE_KIND__FILE_LOG)
				jw_str(w, "stream", f->log_stream == 1 ? "stdout" : "stderr");
		}
		jw_close(w, '}');
	}
	jw_close(w, ']');
}

/* sigactions, shared_pending_signals, rlimits, itimers */
static void json_signals_limits(struct jw *w, const Rtcr__Process *p)
{
	char sb[32];

	jw_open(w, "sigactions", '[');
	for (size_t i = 0; i < p->n_sigactions; i++) {
		const Rtcr__SigAction *sa = p->sigactions[i];

		if (sigaction_default(sa))
			continue;
		jw_open(w, NULL, '{');
		jw_u64(w, "signo", sa->signo);
		jw_str(w, "name", sig_name(sa->signo, sb, sizeof(sb)));
		jw_fields(w, sa, f_sigaction, NF(f_sigaction));
		jw_close(w, '}');
	}
	jw_close(w, ']');
	jw_u64(w, "shared_pending_signals", p->n_shared_pending);
	jw_open(w, "rlimits", '[');
	for (size_t i = 0; i < p->n_rlimits; i++) {
		jw_open(w, NULL, '{');
		jw_str(w, "resource", rlimit_name(p->rlimits[i]->resource));
		jw_fields(w, p->rlimits[i], f_rlimit, NF(f_rlimit));
		jw_close(w, '}');
	}
	jw_close(w, ']');
	jw_open(w, "itimers", '[');
	for (size_t i = 0; i < p->n_itimers; i++) {
		jw_open(w, NULL, '{');
		jw_str(w, "which", itimer_name(p->itimers[i]->which));
		jw_fields(w, p->itimers[i], f_itimer, NF(f_itimer));
		jw_close(w, '}');
	}
	jw_close(w, ']');
}

static void json_process(struct jw *w, const struct sctx *sc, const Rtcr__Process *p,
			 const uint64_t *pv)
{
	jw_open(w, NULL, '{');
	jw_u64(w, "pid", p->pid);
	jw_open(w, "inherit", '[');
	for (size_t i = 0; i + 1 < p->n_inherit; i += 2) {
		jw_open(w, NULL, '{');
		jw_hex(w, "start", p->inherit[i]);
		jw_hex(w, "end", p->inherit[i + 1]);
		jw_close(w, '}');
	}
	jw_close(w, ']');
	jw_fields(w, p, f_proc_ids, NF(f_proc_ids));
	jw_str(w, "exe", p->mm ? p->mm->exe : NULL);
	jw_fields(w, p, f_proc_attrs, NF(f_proc_attrs));
	json_creds_mm(w, p);
	json_vmas(w, p, pv);
	jw_open(w, "threads", '[');
	for (size_t i = 0; i < p->n_threads; i++)
		json_thread(w, p->threads[i]);
	jw_close(w, ']');
	json_fds(w, sc, p);
	json_signals_limits(w, p);
	jw_close(w, '}');
}

static const struct jf f_inventory[] = {
    JF(JF_U, "format_version", Rtcr__Inventory, format_version),
    JF(JF_STR, "image_id", Rtcr__Inventory, image_id),
    JF(JF_STR, "parent_id", Rtcr__Inventory, parent_id),
    JF(JF_STR, "parent_path", Rtcr__Inventory, parent_path),
    JF(JF_HEX, "parent_meta_sum", Rtcr__Inventory, parent_meta_sum),
    JF(JF_U, "chain_depth", Rtcr__Inventory, chain_depth),
    JF(JF_STR, "track_mode", Rtcr__Inventory, track_mode),
    JF(JF_BOOL, "live", Rtcr__Inventory, live),
    JF(JF_STR, "name", Rtcr__Inventory, name),
    JF(JF_U, "created_ns", Rtcr__Inventory, created_ns),
    JF(JF_STR, "kernel", Rtcr__Inventory, kernel_release),
    JF(JF_STR, "hostname", Rtcr__Inventory, hostname),
    JF(JF_STR, "boot_id", Rtcr__Inventory, boot_id),
    JF(JF_STR, "rtcr_version", Rtcr__Inventory, rtcr_version),
    JF(JF_U, "root_pid", Rtcr__Inventory, root_pid),
    JF(JF_U, "pause_ns", Rtcr__Inventory, pause_ns),
    JF(JF_U, "memory_bytes", Rtcr__Inventory, memory_bytes),
};
static const struct jf f_cpu[] = {
    JF(JF_STR, "vendor", Rtcr__CpuInfo, vendor),
    JF(JF_STR, "model", Rtcr__CpuInfo, model_name),
    JF(JF_HEX, "xfeatures_mask", Rtcr__CpuInfo, xfeatures_mask),
    JF(JF_U, "xsave_size", Rtcr__CpuInfo, xsave_size),
    JF(JF_U, "flags_count", Rtcr__CpuInfo, n_flags),
};
static const struct jf f_timens[] = {
    JF(JF_I, "monotonic_offset_ns", Rtcr__Timens, monotonic_offset_ns),
    JF(JF_I, "boottime_offset_ns", Rtcr__Timens, boottime_offset_ns),
    JF(JF_U, "monotonic_ns", Rtcr__Timens, monotonic_ns),
    JF(JF_U, "boottime_ns", Rtcr__Timens, boottime_ns),
    JF(JF_U, "realtime_ns", Rtcr__Timens, realtime_ns),
};
static const struct jf f_file[] = {
    JF(JF_STR, "path", Rtcr__File, path), JF(JF_HEX, "flags", Rtcr__File, flags),
    JF(JF_U, "pos", Rtcr__File, pos),	  JF(JF_HEX, "mode", Rtcr__File, mode),
    JF(JF_U, "size", Rtcr__File, size),
};
static const struct jf f_shmem[] = {
    JF(JF_U, "id", Rtcr__Shmem, id),	     JF(JF_U, "size", Rtcr__Shmem, size),
    JF(JF_STR, "name", Rtcr__Shmem, name),   JF(JF_BOOL, "memfd", Rtcr__Shmem, memfd),
    JF(JF_HEX, "seals", Rtcr__Shmem, seals),
};
static const struct jf f_run[] = {
    JF(JF_HEX, "addr", Rtcr__PageRun, addr),	   JF(JF_U, "npages", Rtcr__PageRun, npages),
    JF(JF_HEX, "offset", Rtcr__PageRun, offset),   JF(JF_HEX, "xxh64", Rtcr__PageRun, xxh64),
    JF(JF_U, "shmem_id", Rtcr__PageRun, shmem_id), JF(JF_U, "pid", Rtcr__PageRun, pid),
};

static void json_inventory(struct jw *w, const Rtcr__Inventory *inv)
{
	jw_open(w, "inventory", '{');
	jw_fields(w, inv, f_inventory, NF(f_inventory));
	jw_open(w, "argv", '[');
	for (size_t i = 0; i < inv->n_argv; i++)
		jw_str(w, NULL, inv->argv[i]);
	jw_close(w, ']');
	if (inv->cpu) {
		jw_open(w, "cpu", '{');
		jw_fields(w, inv->cpu, f_cpu, NF(f_cpu));
		jw_open(w, "flags", '[');
		for (size_t i = 0; i < inv->cpu->n_flags; i++)
			jw_str(w, NULL, inv->cpu->flags[i]);
		jw_close(w, ']');
		jw_close(w, '}');
	}
	if (inv->timens)
		jw_object(w, "timens", inv->timens, f_timens, NF(f_timens));
	jw_close(w, '}');
}

/* files, shmem, pagemap */
static void json_objects(struct jw *w, const Rtcr__Image *m)
{
	uint64_t pages = 0;
	char kb[32];

	jw_open(w, "files", '[');
	for (size_t i = 0; i < m->n_files; i++) {
		const Rtcr__File *f = m->files[i];

		jw_open(w, NULL, '{');
		jw_u64(w, "id", f->id);
		jw_str(w, "kind", file_kind(f->kind, kb, sizeof(kb)));
		jw_fields(w, f, f_file, NF(f_file));
		if (f->kind == RTCR__FILE_KIND__FILE_LOG)
			jw_u64(w, "log_stream", f->log_stream);
		jw_close(w, '}');
	}
	jw_close(w, ']');
	jw_open(w, "shmem", '[');
	for (size_t i = 0; i < m->n_shmem; i++)
		jw_object(w, NULL, m->shmem[i], f_shmem, NF(f_shmem));
	jw_close(w, ']');
	jw_open(w, "pagemap", '{');
	for (size_t i = 0; i < m->n_pagemap; i++)
		pages += m->pagemap[i]->npages;
	jw_u64(w, "runs", m->n_pagemap);
	jw_u64(w, "pages", pages);
	jw_u64(w, "bytes", pages * IMG_PAGE_SIZE);
	jw_open(w, "entries", '[');
	for (size_t i = 0; i < m->n_pagemap; i++)
		jw_object(w, NULL, m->pagemap[i], f_run, NF(f_run));
	jw_close(w, ']');
	jw_close(w, '}');
}

static void show_json(FILE *out, const struct sctx *sc, const char *path, uint64_t **pv,
		      ssize_t bad_run, bool checked)
{
	const Rtcr__Image *m = sc->m;
	struct jw w = {.f = out, .first = {true}};

	jw_open(&w, NULL, '{');
	jw_str(&w, "path", path);
	json_inventory(&w, m->inventory);
	jw_open(&w, "processes", '[');
	for (size_t i = 0; i < m->n_processes; i++)
		json_process(&w, sc, m->processes[i], pv ? pv[i] : NULL);
	jw_close(&w, ']');
	json_objects(&w, m);
	jw_open(&w, "losses", '[');
	for (size_t i = 0; i < m->n_losses; i++) {
		const Rtcr__Loss *l = m->losses[i];
		char kb[32];

		jw_open(&w, NULL, '{');
		jw_str(&w, "kind", loss_kind(l->kind, kb, sizeof(kb)));
		jw_u64(&w, "pid", l->pid);
		jw_i64(&w, "fd", l->fd);
		jw_u64(&w, "count", l->count);
		jw_u64(&w, "bytes", l->bytes);
		jw_str(&w, "what", l->what);
		jw_close(&w, '}');
	}
	jw_close(&w, ']');
	jw_open(&w, "checksums", '{');
	jw_str(&w, "status", !checked ? "not checked" : bad_run < 0 ? "ok" : "mismatch");
	if (bad_run >= 0)
		jw_u64(&w, "first_bad_run", (uint64_t)bad_run);
	jw_close(&w, '}');
	jw_close(&w, '}');
	fputc('\n', out);
}

/* ---- text ---- */

/* The process line, exe, cwd, creds, process attributes, inherited ranges. */
static void text_process_head(FILE *out, const Rtcr__Process *p)
{
	char sb[32];

	fprintf(out, "\nprocess %" PRIu32 " (", p->pid);
	text_str(out, p->comm);
	fprintf(out, ")  ppid %" PRIu32 "  pgid %" PRIu32 "  sid %" PRIu32 "\n", p->ppid, p->pgid,
		p->sid);
	fputs("  exe      ", out);
	text_str(out, p->mm ? p->mm->exe : NULL);
	fputs("\n  cwd      ", out);
	text_str(out, p->cwd);
	fputc('\n', out);
	if (p->creds) {
		const Rtcr__Creds *c = p->creds;

		fprintf(out,
			"  creds    uid %" PRIu32 "/%" PRIu32 "/%" PRIu32 "/%" PRIu32
			"  gid %" PRIu32 "/%" PRIu32 "/%" PRIu32 "/%" PRIu32 "  groups",
			c->uid, c->euid, c->suid, c->fsuid, c->gid, c->egid, c->sgid, c->fsgid);
		for (size_t i = 0; i < c->n_groups; i++)
			fprintf(out, "%s%" PRIu32, i ? "," : " ", c->groups[i]);
		if (!c->n_groups)
			fputs(" -", out);
		fprintf(out,
			"\n           caps eff 0x%" PRIx64 " prm 0x%" PRIx64 " inh 0x%" PRIx64
			" bnd 0x%" PRIx64 " amb 0x%" PRIx64 "\n",
			c->cap_eff, c->cap_prm, c->cap_inh, c->cap_bnd, c->cap_amb);
	}
	fprintf(out,
		"  umask    %03" PRIo32 "  personality 0x%" PRIx32 "  dumpable %" PRIu32
		"  no_new_privs %" PRIu32 "  oom_score_adj %" PRId32 "\n",
		p->umask, p->personality, p->dumpable, p->no_new_privs, p->oom_score_adj);
	if (p->n_inherit) {
		uint64_t inh = 0;

		for (size_t i = 0; i + 1 < p->n_inherit; i += 2)
			inh += p->inherit[i + 1] - p->inherit[i];
		fprintf(out, "  inherits %zu range%s, %s, from the parent image\n",
			p->n_inherit / 2, p->n_inherit == 2 ? "" : "s",
			fmt_bytes(inh, sb, sizeof(sb)));
	}
}

static void text_vmas(FILE *out, const Rtcr__Process *p, const uint64_t *pv)
{
	char sb[32], kb[32], prot[5];

	fprintf(out, "  vmas (%zu):\n", p->n_vmas);
	fprintf(out, "    %-33s %-4s %-12s %10s %7s  %s\n", "range", "prot", "kind", "size",
		"pages", "path");
	for (size_t i = 0; i < p->n_vmas; i++) {
		const Rtcr__Vma *v = p->vmas[i];

		prot_str(v, prot);
		fprintf(out, "    %016" PRIx64 "-%016" PRIx64 " %-4s %-12s %10s %7" PRIu64 "  ",
			v->start, v->end, prot, vma_kind(v->kind, kb, sizeof(kb)),
			fmt_bytes(v->end - v->start, sb, sizeof(sb)), pv ? pv[i] : 0);
		if (v->path)
			text_str(out, v->path);
		else if (v->anon_name) {
			fputs("[anon:", out);
			text_str(out, v->anon_name);
			fputc(']', out);
		}
		if (v->kind == RTCR__VMA_KIND__VMA_SHMEM)
			fprintf(out, " (shmem %" PRIu32 ")", v->shmem_id);
		fputc('\n', out);
	}
}

static void text_threads(FILE *out, const Rtcr__Process *p)
{
	fprintf(out, "  threads (%zu):\n", p->n_threads);
	for (size_t i = 0; i < p->n_threads; i++) {
		const Rtcr__Thread *t = p->threads[i];

		fprintf(out, "    tid %" PRIu32 " (", t->tid);
		text_str(out, t->comm);
		fprintf(out, ")  rip 0x%" PRIx64 "  rsp 0x%" PRIx64 "  sigmask 0x%" PRIx64,
			t->regs->rip, t->regs->rsp, t->sigmask);
		if (t->rseq && t->rseq->abi_pointer)
			fprintf(out, "  rseq 0x%" PRIx64 "/%" PRIu32, t->rseq->abi_pointer,
				t->rseq->abi_size);
		if (t->in_syscall)
			fprintf(out, "  in syscall %" PRIu32, t->in_syscall - 1);
		if (t->n_pending)
			fprintf(out, "  %zu pending signals", t->n_pending);
		fprintf(out, "  xsave %zu bytes\n", t->has_xsave ? t->xsave.len : 0);
	}
}

static void text_fds(FILE *out, const struct sctx *sc, const Rtcr__Process *p)
{
	char kb[32];

	fprintf(out, "  fds (%zu):\n", p->n_fds);
	for (size_t i = 0; i < p->n_fds; i++) {
		const Rtcr__Fd *fd = p->fds[i];
		const Rtcr__File *f = find_file(sc, fd->file_id);

		fprintf(out, "    %5" PRIu32 " -> ", fd->fd);
		if (!f) {
			fprintf(out, "file %" PRIu32 "?\n", fd->file_id);
			continue;
		}
		fprintf(out, "%s ", file_kind(f->kind, kb, sizeof(kb)));
		if (f->kind == RTCR__FILE_KIND__FILE_LOG)
			fputs(f->log_stream == 1 ? "stdout" : "stderr", out);
		else
			text_str(out, f->path);
		fprintf(out, "  flags 0%" PRIo32 "  pos %" PRIu64 "%s\n", f->flags, f->pos,
			fd->cloexec ? "  cloexec" : "");
	}
}

/* A limit value: a number, or "unlimited". */
static void text_limit(FILE *out, uint64_t v)
{
	if (v == UINT64_MAX)
		fputs("unlimited", out);
	else
		fprintf(out, "%" PRIu64, v);
}

/* Signal handlers, pending signals, rlimits, itimers: what is not default. */
static void text_signals_limits(FILE *out, const Rtcr__Process *p)
{
	char sb[32];
	size_t shown = 0;

	for (size_t i = 0; i < p->n_sigactions; i++) {
		const Rtcr__SigAction *sa = p->sigactions[i];

		if (sigaction_default(sa))
			continue;
		if (!shown++)
			fputs("  signal handlers:\n", out);
		fprintf(out, "    %-10s ", sig_name(sa->signo, sb, sizeof(sb)));
		if (sa->handler == (uint64_t)(uintptr_t)SIG_IGN)
			fputs("ignored", out);
		else if (sa->handler == 0)
			fputs("default", out);
		else
			fprintf(out, "handler 0x%" PRIx64, sa->handler);
		fprintf(out, "  flags 0x%" PRIx64 "  mask 0x%" PRIx64 "\n", sa->flags, sa->mask);
	}
	if (p->n_shared_pending)
		fprintf(out, "  %zu signals pending for the process\n", p->n_shared_pending);
	if (p->n_rlimits)
		fputs("  rlimits:\n", out);
	for (size_t i = 0; i < p->n_rlimits; i++) {
		fprintf(out, "    %-10s ", rlimit_name(p->rlimits[i]->resource));
		text_limit(out, p->rlimits[i]->cur);
		fputs(" / ", out);
		text_limit(out, p->rlimits[i]->max);
		fputc('\n', out);
	}
	shown = 0;
	for (size_t i = 0; i < p->n_itimers; i++) {
		const Rtcr__Itimer *t = p->itimers[i];

		if (!t->value_us && !t->interval_us)
			continue;
		if (!shown++)
			fputs("  itimers:\n", out);
		fprintf(out, "    %-8s value %" PRIu64 " us  interval %" PRIu64 " us\n",
			itimer_name(t->which), t->value_us, t->interval_us);
	}
}

static void text_process(FILE *out, const struct sctx *sc, const Rtcr__Process *p,
			 const uint64_t *pv)
{
	text_process_head(out, p);
	text_vmas(out, p, pv);
	text_threads(out, p);
	text_fds(out, sc, p);
	text_signals_limits(out, p);
}

/* "\n  LABEL" then the string (label padded to 9 columns). */
static void text_field(FILE *out, const char *label, const char *s)
{
	fprintf(out, "\n  %-9s", label);
	text_str(out, s);
}

static void text_inventory(FILE *out, const char *path, const Rtcr__Inventory *inv)
{
	char sb[32], tb[64];

	fputs("image    ", out);
	text_str(out, path);
	text_field(out, "id", inv->image_id);
	if (inv->parent_id && *inv->parent_id) {
		text_field(out, "parent", inv->parent_id);
		fputs(" in ", out);
		text_str(out, inv->parent_path ? inv->parent_path : "?");
		fprintf(out, "\n  chain    incremental, %u link%s above a full image",
			inv->chain_depth, inv->chain_depth == 1 ? "" : "s");
	}
	if (inv->track_mode && *inv->track_mode) {
		text_field(out, "tracking", inv->track_mode);
		if (inv->live)
			fputs(" (live checkpoint)", out);
	}
	text_field(out, "name", inv->name);
	if (inv->created_ns) {
		time_t t = (time_t)(inv->created_ns / 1000000000ULL);
		struct tm tm;

		if (gmtime_r(&t, &tm) && strftime(tb, sizeof(tb), "%Y-%m-%d %H:%M:%S UTC", &tm))
			fprintf(out, "\n  created  %s", tb);
		else
			fprintf(out, "\n  created  %" PRIu64 " ns", inv->created_ns);
	}
	text_field(out, "kernel", inv->kernel_release);
	text_field(out, "host", inv->hostname);
	if (inv->rtcr_version)
		text_field(out, "rtcr", inv->rtcr_version);
	if (inv->cpu) {
		text_field(out, "cpu", inv->cpu->vendor);
		fprintf(out, ", %zu flags, xsave %" PRIu32 " bytes, xcr0 0x%" PRIx64,
			inv->cpu->n_flags, inv->cpu->xsave_size, inv->cpu->xfeatures_mask);
		if (inv->cpu->model_name) {
			fputs(" (", out);
			text_str(out, inv->cpu->model_name);
			fputc(')', out);
		}
	}
	if (inv->n_argv) {
		fputs("\n  command ", out);
		for (size_t i = 0; i < inv->n_argv; i++) {
			fputc(' ', out);
			text_str(out, inv->argv[i]);
		}
	}
	fprintf(out, "\n  pause    %.3f ms", inv->pause_ns / 1e6);
	fprintf(out, "\n  memory   %" PRIu64 " bytes (%s)\n", inv->memory_bytes,
		fmt_bytes(inv->memory_bytes, sb, sizeof(sb)));
}

static void show_text(FILE *out, const struct sctx *sc, const char *path, uint64_t **pv,
		      ssize_t bad_run, bool checked)
{
	const Rtcr__Image *m = sc->m;
	uint64_t pages = 0, shm_pages = 0;
	char sb[32];

	text_inventory(out, path, m->inventory);
	for (size_t i = 0; i < m->n_processes; i++)
		text_process(out, sc, m->processes[i], pv ? pv[i] : NULL);

	if (m->n_shmem)
		fprintf(out, "\nshmem (%zu):\n", m->n_shmem);
	for (size_t i = 0; i < m->n_shmem; i++) {
		const Rtcr__Shmem *s = m->shmem[i];

		fprintf(out, "  %4" PRIu32 "  %10s  ", s->id, fmt_bytes(s->size, sb, sizeof(sb)));
		text_str(out, s->name);
		fprintf(out, "%s", s->memfd ? "  memfd" : "");
		if (s->seals)
			fprintf(out, "  seals 0x%" PRIx32, s->seals);
		fputc('\n', out);
	}
	for (size_t i = 0; i < m->n_pagemap; i++) {
		pages += m->pagemap[i]->npages;
		if (m->pagemap[i]->shmem_id)
			shm_pages += m->pagemap[i]->npages;
	}
	if (m->n_losses)
		fprintf(out, "\nlosses (%zu, accepted at checkpoint: not restored):\n",
			m->n_losses);
	for (size_t i = 0; i < m->n_losses; i++) {
		const Rtcr__Loss *l = m->losses[i];
		char kb[32];

		fprintf(out, "  pid %" PRIu32 "  fd %" PRId32 "  %s  ", l->pid, l->fd,
			loss_kind(l->kind, kb, sizeof(kb)));
		text_str(out, l->what);
		fputc('\n', out);
	}
	fprintf(out, "\npagemap: %zu runs, %" PRIu64 " pages (%s), %" PRIu64 " of them shmem\n",
		m->n_pagemap, pages, fmt_bytes(pages * IMG_PAGE_SIZE, sb, sizeof(sb)), shm_pages);
	if (!checked)
		fputs("checksums: not checked\n", out);
	else if (bad_run < 0)
		fputs("checksums: ok\n", out);
	else
		fprintf(out,
			"checksums: MISMATCH in run %zd (addr 0x%" PRIx64 ", offset 0x%" PRIx64
			")\n",
			bad_run, m->pagemap[bad_run]->addr, m->pagemap[bad_run]->offset);
}

int img_show_meta(const Rtcr__Image *m, struct img *im, const char *path, FILE *out, bool json)
{
	struct sctx sc = {.m = m};
	ssize_t bad_run = -1;
	uint64_t **pv;

	if (im) {
		for (size_t i = 0; i < m->n_pagemap; i++) {
			if (img_run_verify(im, i)) {
				bad_run = (ssize_t)i;
				break;
			}
		}
	}
	pv = pages_per_vma(m); /* NULL (no page counts) if out of memory */
	sc.files_by_id = malloc((m->n_files + 1) * sizeof(*sc.files_by_id));
	if (sc.files_by_id && m->n_files) {
		memcpy(sc.files_by_id, m->files, m->n_files * sizeof(*sc.files_by_id));
		qsort(sc.files_by_id, m->n_files, sizeof(*sc.files_by_id), cmp_file);
	}
	if (json)
		show_json(out, &sc, path, pv, bad_run, im != NULL);
	else
		show_text(out, &sc, path, pv, bad_run, im != NULL);
	free_pv(pv, m->n_processes);
	free(sc.files_by_id);
	if (fflush(out) || ferror(out)) {
		pr_err("%s: cannot write the description", path);
		return -EIO;
	}
	return bad_run >= 0 ? -EBADMSG : 0;
}

int img_show(const char *path, FILE *out, bool json)
{
	struct img *im = NULL;
	int ret;

	ret = img_open(path, &im);
	if (ret)
		return ret;
	ret = img_show_meta(img_meta(im), im, path, out, json);
	img_close(im);
	return ret;
}
