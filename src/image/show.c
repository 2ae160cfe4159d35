/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rtcr show: what an image holds, for people or (--json) for programs.
 * The image is opened (and so validated) like a restore would, and every
 * page run's checksum is verified.
 */
#define LOG_PREFIX "image: "
#include "base/log.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "image/internal.h"

/* ---- strings ---- */

/* Length of the valid UTF-8 sequence at s (s[0] >= 0x80), or 0. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n;
	uint32_t cp;

	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL */
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* A JSON string (or null): control characters escaped, invalid UTF-8 as U+FFFD. */
static void json_str(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	if (!s) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	while (*s) {
		size_t n;

		if (*s == '"' || *s == '\\') {
			fputc('\\', f);
			fputc(*s++, f);
		} else if (*s == '\n') {
			fputs("\\n", f);
			s++;
		} else if (*s == '\t') {
			fputs("\\t", f);
			s++;
		} else if (*s < 0x20 || *s == 0x7f) {
			fprintf(f, "\\u%04x", *s++);
		} else if (*s < 0x80) {
			fputc(*s++, f);
		} else if ((n = utf8_len(s))) {
			fwrite(s, 1, n, f);
			s += n;
		} else {
			fputs("\\ufffd", f);
			s++;
		}
	}
	fputc('"', f);
}

/* Text for a terminal: control characters and invalid UTF-8 as \xNN. */
static void text_str(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	if (!s) {
		fputc('-', f);
		return;
	}
	while (*s) {
		size_t n;

		if (*s < 0x20 || *s == 0x7f || *s == '\\') {
			if (*s == '\\')
				fputs("\\\\", f);
			else
				fprintf(f, "\\x%02x", *s);
			s++;
		} else if (*s < 0x80) {
			fputc(*s++, f);
		} else if ((n = utf8_len(s))) {
			fwrite(s, 1, n, f);
			s += n;
		} else {
			fprintf(f, "\\x%02x", *s++);
		}
	}
}

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

static const char *vma_kind(int k)
{
	static const char *const n[] = {"anon", "file-private", "file-shared", "shmem",
					"vdso", "vvar",		"vsyscall"};

	return k >= 0 && k < (int)(sizeof(n) / sizeof(n[0])) ? n[k] : "?";
}

static const char *file_kind(int k)
{
	static const char *const n[] = {"reg",	    "dir",   "chr",	"log",	   "pipe",
					"fifo",	    "unix",  "inet",	"eventfd", "timerfd",
					"signalfd", "epoll", "inotify", "memfd",   "ghost"};

	return k >= 0 && k < (int)(sizeof(n) / sizeof(n[0])) ? n[k] : "?";
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

/* "12 KiB", "1.5 MiB" (buf of >= 32 bytes). */
static const char *size_str(uint64_t b, char *buf, size_t len)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double v = (double)b;
	int u = 0;

	while (v >= 1024 && u < 6) {
		v /= 1024;
		u++;
	}
	if (u == 0 || v == (double)(uint64_t)v)
		snprintf(buf, len, "%.0f %s", v, units[u]);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
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

static void json_process(struct jw *w, const struct sctx *sc, const Rtcr__Process *p,
			 const uint64_t *pv)
{
	char sb[32];

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
	jw_u64(w, "ppid", p->ppid);
	jw_u64(w, "pgid", p->pgid);
	jw_u64(w, "sid", p->sid);
	jw_str(w, "comm", p->comm);
	jw_str(w, "exe", p->mm ? p->mm->exe : NULL);
	jw_str(w, "cwd", p->cwd);
	jw_str(w, "root", p->root);
	jw_u64(w, "umask", p->umask);
	jw_hex(w, "personality", p->personality);
	jw_u64(w, "dumpable", p->dumpable);
	jw_u64(w, "pdeathsig", p->pdeathsig);
	jw_i64(w, "oom_score_adj", p->oom_score_adj);
	jw_u64(w, "no_new_privs", p->no_new_privs);
	jw_u64(w, "child_subreaper", p->child_subreaper);
	jw_u64(w, "thp_disable", p->thp_disable);
	jw_u64(w, "timerslack_ns", p->timerslack_ns);
	if (p->creds) {
		const Rtcr__Creds *c = p->creds;

		jw_open(w, "creds", '{');
		jw_u64(w, "uid", c->uid), jw_u64(w, "euid", c->euid), jw_u64(w, "suid", c->suid);
		jw_u64(w, "fsuid", c->fsuid), jw_u64(w, "gid", c->gid), jw_u64(w, "egid", c->egid);
		jw_u64(w, "sgid", c->sgid), jw_u64(w, "fsgid", c->fsgid);
		jw_open(w, "groups", '[');
		for (size_t i = 0; i < c->n_groups; i++)
			jw_u64(w, NULL, c->groups[i]);
		jw_close(w, ']');
		jw_hex(w, "cap_inh", c->cap_inh), jw_hex(w, "cap_prm", c->cap_prm);
		jw_hex(w, "cap_eff", c->cap_eff), jw_hex(w, "cap_bnd", c->cap_bnd);
		jw_hex(w, "cap_amb", c->cap_amb), jw_hex(w, "securebits", c->securebits);
		jw_close(w, '}');
	}
	if (p->mm) {
		const Rtcr__MmInfo *mm = p->mm;

		jw_open(w, "mm", '{');
		jw_hex(w, "start_code", mm->start_code), jw_hex(w, "end_code", mm->end_code);
		jw_hex(w, "start_data", mm->start_data), jw_hex(w, "end_data", mm->end_data);
		jw_hex(w, "start_brk", mm->start_brk), jw_hex(w, "brk", mm->brk);
		jw_hex(w, "start_stack", mm->start_stack);
		jw_hex(w, "arg_start", mm->arg_start), jw_hex(w, "arg_end", mm->arg_end);
		jw_hex(w, "env_start", mm->env_start), jw_hex(w, "env_end", mm->env_end);
		jw_u64(w, "auxv_words", mm->n_auxv);
		jw_close(w, '}');
	}
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
		jw_str(w, "kind", vma_kind(v->kind));
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
	jw_open(w, "threads", '[');
	for (size_t i = 0; i < p->n_threads; i++) {
		const Rtcr__Thread *t = p->threads[i];

		jw_open(w, NULL, '{');
		jw_u64(w, "tid", t->tid);
		jw_str(w, "comm", t->comm);
		json_regs(w, t->regs);
		jw_u64(w, "xsave_bytes", t->has_xsave ? t->xsave.len : 0);
		jw_hex(w, "sigmask", t->sigmask);
		jw_u64(w, "pending_signals", t->n_pending);
		if (t->rseq) {
			jw_open(w, "rseq", '{');
			jw_hex(w, "abi_pointer", t->rseq->abi_pointer);
			jw_u64(w, "abi_size", t->rseq->abi_size);
			jw_hex(w, "signature", t->rseq->signature);
			jw_hex(w, "flags", t->rseq->flags);
			jw_close(w, '}');
		}
		if (t->sigaltstack) {
			jw_open(w, "sigaltstack", '{');
			jw_hex(w, "sp", t->sigaltstack->sp);
			jw_hex(w, "flags", t->sigaltstack->flags);
			jw_u64(w, "size", t->sigaltstack->size);
			jw_close(w, '}');
		}
		jw_hex(w, "robust_list", t->robust_list);
		jw_u64(w, "robust_list_len", t->robust_list_len);
		jw_hex(w, "clear_child_tid", t->clear_child_tid);
		if (t->in_syscall)
			jw_u64(w, "in_syscall", t->in_syscall - 1);
		if (t->sched) {
			jw_open(w, "sched", '{');
			jw_u64(w, "policy", t->sched->policy);
			jw_u64(w, "priority", t->sched->priority);
			jw_i64(w, "nice", t->sched->nice);
			jw_close(w, '}');
		}
		jw_close(w, '}');
	}
	jw_close(w, ']');
	jw_open(w, "fds", '[');
	for (size_t i = 0; i < p->n_fds; i++) {
		const Rtcr__Fd *fd = p->fds[i];
		const Rtcr__File *f = find_file(sc, fd->file_id);

		jw_open(w, NULL, '{');
		jw_u64(w, "fd", fd->fd);
		jw_u64(w, "file_id", fd->file_id);
		jw_bool(w, "cloexec", fd->cloexec);
		if (f) {
			jw_str(w, "kind", file_kind(f->kind));
			jw_str(w, "path", f->path);
			jw_hex(w, "flags", f->flags);
			jw_u64(w, "pos", f->pos);
			if (f->kind == RTCR__FILE_KIND__FILE_LOG)
				jw_str(w, "stream", f->log_stream == 1 ? "stdout" : "stderr");
		}
		jw_close(w, '}');
	}
	jw_close(w, ']');
	jw_open(w, "sigactions", '[');
	for (size_t i = 0; i < p->n_sigactions; i++) {
		const Rtcr__SigAction *sa = p->sigactions[i];

		if (sigaction_default(sa))
			continue;
		jw_open(w, NULL, '{');
		jw_u64(w, "signo", sa->signo);
		jw_str(w, "name", sig_name(sa->signo, sb, sizeof(sb)));
		jw_hex(w, "handler", sa->handler);
		jw_hex(w, "flags", sa->flags);
		jw_hex(w, "mask", sa->mask);
		jw_hex(w, "restorer", sa->restorer);
		jw_close(w, '}');
	}
	jw_close(w, ']');
	jw_u64(w, "shared_pending_signals", p->n_shared_pending);
	jw_open(w, "rlimits", '[');
	for (size_t i = 0; i < p->n_rlimits; i++) {
		const Rtcr__Rlimit *r = p->rlimits[i];

		jw_open(w, NULL, '{');
		jw_str(w, "resource", rlimit_name(r->resource));
		jw_u64(w, "cur", r->cur);
		jw_u64(w, "max", r->max);
		jw_close(w, '}');
	}
	jw_close(w, ']');
	jw_open(w, "itimers", '[');
	for (size_t i = 0; i < p->n_itimers; i++) {
		const Rtcr__Itimer *t = p->itimers[i];

		jw_open(w, NULL, '{');
		jw_str(w, "which", itimer_name(t->which));
		jw_u64(w, "value_us", t->value_us);
		jw_u64(w, "interval_us", t->interval_us);
		jw_close(w, '}');
	}
	jw_close(w, ']');
	jw_close(w, '}');
}

static void show_json(FILE *out, const struct sctx *sc, const char *path, uint64_t **pv,
		      ssize_t bad_run, bool checked)
{
	const Rtcr__Image *m = sc->m;
	const Rtcr__Inventory *inv = m->inventory;
	struct jw w = {.f = out, .first = {true}};
	uint64_t pages = 0;

	jw_open(&w, NULL, '{');
	jw_str(&w, "path", path);
	jw_open(&w, "inventory", '{');
	jw_u64(&w, "format_version", inv->format_version);
	jw_str(&w, "image_id", inv->image_id);
	jw_str(&w, "parent_id", inv->parent_id);
	jw_str(&w, "parent_path", inv->parent_path);
	jw_hex(&w, "parent_meta_sum", inv->parent_meta_sum);
	jw_u64(&w, "chain_depth", inv->chain_depth);
	jw_str(&w, "track_mode", inv->track_mode);
	jw_bool(&w, "live", inv->live);
	jw_str(&w, "name", inv->name);
	jw_u64(&w, "created_ns", inv->created_ns);
	jw_str(&w, "kernel", inv->kernel_release);
	jw_str(&w, "hostname", inv->hostname);
	jw_str(&w, "boot_id", inv->boot_id);
	jw_str(&w, "rtcr_version", inv->rtcr_version);
	jw_u64(&w, "root_pid", inv->root_pid);
	jw_u64(&w, "pause_ns", inv->pause_ns);
	jw_u64(&w, "memory_bytes", inv->memory_bytes);
	jw_open(&w, "argv", '[');
	for (size_t i = 0; i < inv->n_argv; i++)
		jw_str(&w, NULL, inv->argv[i]);
	jw_close(&w, ']');
	if (inv->cpu) {
		jw_open(&w, "cpu", '{');
		jw_str(&w, "vendor", inv->cpu->vendor);
		jw_str(&w, "model", inv->cpu->model_name);
		jw_hex(&w, "xfeatures_mask", inv->cpu->xfeatures_mask);
		jw_u64(&w, "xsave_size", inv->cpu->xsave_size);
		jw_u64(&w, "flags_count", inv->cpu->n_flags);
		jw_open(&w, "flags", '[');
		for (size_t i = 0; i < inv->cpu->n_flags; i++)
			jw_str(&w, NULL, inv->cpu->flags[i]);
		jw_close(&w, ']');
		jw_close(&w, '}');
	}
	if (inv->timens) {
		jw_open(&w, "timens", '{');
		jw_i64(&w, "monotonic_offset_ns", inv->timens->monotonic_offset_ns);
		jw_i64(&w, "boottime_offset_ns", inv->timens->boottime_offset_ns);
		jw_u64(&w, "monotonic_ns", inv->timens->monotonic_ns);
		jw_u64(&w, "boottime_ns", inv->timens->boottime_ns);
		jw_u64(&w, "realtime_ns", inv->timens->realtime_ns);
		jw_close(&w, '}');
	}
	jw_close(&w, '}');
	jw_open(&w, "processes", '[');
	for (size_t i = 0; i < m->n_processes; i++)
		json_process(&w, sc, m->processes[i], pv ? pv[i] : NULL);
	jw_close(&w, ']');
	jw_open(&w, "files", '[');
	for (size_t i = 0; i < m->n_files; i++) {
		const Rtcr__File *f = m->files[i];

		jw_open(&w, NULL, '{');
		jw_u64(&w, "id", f->id);
		jw_str(&w, "kind", file_kind(f->kind));
		jw_str(&w, "path", f->path);
		jw_hex(&w, "flags", f->flags);
		jw_u64(&w, "pos", f->pos);
		jw_hex(&w, "mode", f->mode);
		jw_u64(&w, "size", f->size);
		if (f->kind == RTCR__FILE_KIND__FILE_LOG)
			jw_u64(&w, "log_stream", f->log_stream);
		jw_close(&w, '}');
	}
	jw_close(&w, ']');
	jw_open(&w, "shmem", '[');
	for (size_t i = 0; i < m->n_shmem; i++) {
		const Rtcr__Shmem *s = m->shmem[i];

		jw_open(&w, NULL, '{');
		jw_u64(&w, "id", s->id);
		jw_u64(&w, "size", s->size);
		jw_str(&w, "name", s->name);
		jw_bool(&w, "memfd", s->memfd);
		jw_hex(&w, "seals", s->seals);
		jw_close(&w, '}');
	}
	jw_close(&w, ']');
	jw_open(&w, "pagemap", '{');
	for (size_t i = 0; i < m->n_pagemap; i++)
		pages += m->pagemap[i]->npages;
	jw_u64(&w, "runs", m->n_pagemap);
	jw_u64(&w, "pages", pages);
	jw_u64(&w, "bytes", pages * IMG_PAGE_SIZE);
	jw_open(&w, "entries", '[');
	for (size_t i = 0; i < m->n_pagemap; i++) {
		const Rtcr__PageRun *r = m->pagemap[i];

		jw_open(&w, NULL, '{');
		jw_hex(&w, "addr", r->addr);
		jw_u64(&w, "npages", r->npages);
		jw_hex(&w, "offset", r->offset);
		jw_hex(&w, "xxh64", r->xxh64);
		jw_u64(&w, "shmem_id", r->shmem_id);
		jw_u64(&w, "pid", r->pid);
		jw_close(&w, '}');
	}
	jw_close(&w, ']');
	jw_close(&w, '}');
	jw_open(&w, "checksums", '{');
	jw_str(&w, "status", !checked ? "not checked" : bad_run < 0 ? "ok" : "mismatch");
	if (bad_run >= 0)
		jw_u64(&w, "first_bad_run", (uint64_t)bad_run);
	jw_close(&w, '}');
	jw_close(&w, '}');
	fputc('\n', out);
}

/* ---- text ---- */

static void text_process(FILE *out, const struct sctx *sc, const Rtcr__Process *p,
			 const uint64_t *pv)
{
	char sb[32], prot[5];
	size_t shown;

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
			size_str(inh, sb, sizeof(sb)));
	}
	fprintf(out, "  vmas (%zu):\n", p->n_vmas);
	fprintf(out, "    %-33s %-4s %-12s %10s %7s  %s\n", "range", "prot", "kind", "size",
		"pages", "path");
	for (size_t i = 0; i < p->n_vmas; i++) {
		const Rtcr__Vma *v = p->vmas[i];

		prot_str(v, prot);
		fprintf(out, "    %016" PRIx64 "-%016" PRIx64 " %-4s %-12s %10s %7" PRIu64 "  ",
			v->start, v->end, prot, vma_kind(v->kind),
			size_str(v->end - v->start, sb, sizeof(sb)), pv ? pv[i] : 0);
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

	fprintf(out, "  fds (%zu):\n", p->n_fds);
	for (size_t i = 0; i < p->n_fds; i++) {
		const Rtcr__Fd *fd = p->fds[i];
		const Rtcr__File *f = find_file(sc, fd->file_id);

		fprintf(out, "    %5" PRIu32 " -> ", fd->fd);
		if (!f) {
			fprintf(out, "file %" PRIu32 "?\n", fd->file_id);
			continue;
		}
		fprintf(out, "%s ", file_kind(f->kind));
		if (f->kind == RTCR__FILE_KIND__FILE_LOG)
			fputs(f->log_stream == 1 ? "stdout" : "stderr", out);
		else
			text_str(out, f->path);
		fprintf(out, "  flags 0%" PRIo32 "  pos %" PRIu64 "%s\n", f->flags, f->pos,
			fd->cloexec ? "  cloexec" : "");
	}

	shown = 0;
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
	if (p->n_rlimits) {
		fputs("  rlimits:\n", out);
		for (size_t i = 0; i < p->n_rlimits; i++) {
			const Rtcr__Rlimit *r = p->rlimits[i];

			fprintf(out, "    %-10s ", rlimit_name(r->resource));
			if (r->cur == UINT64_MAX)
				fputs("unlimited", out);
			else
				fprintf(out, "%" PRIu64, r->cur);
			fputs(" / ", out);
			if (r->max == UINT64_MAX)
				fputs("unlimited\n", out);
			else
				fprintf(out, "%" PRIu64 "\n", r->max);
		}
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

static void show_text(FILE *out, const struct sctx *sc, const char *path, uint64_t **pv,
		      ssize_t bad_run, bool checked)
{
	const Rtcr__Image *m = sc->m;
	const Rtcr__Inventory *inv = m->inventory;
	uint64_t pages = 0, shm_pages = 0;
	char sb[32], tb[64];

	fputs("image    ", out);
	text_str(out, path);
	fputs("\n  id       ", out);
	text_str(out, inv->image_id);
	if (inv->parent_id && *inv->parent_id) {
		fputs("\n  parent   ", out);
		text_str(out, inv->parent_id);
		fputs(" in ", out);
		text_str(out, inv->parent_path ? inv->parent_path : "?");
		fprintf(out, "\n  chain    incremental, %u link%s above a full image",
			inv->chain_depth, inv->chain_depth == 1 ? "" : "s");
	}
	if (inv->track_mode && *inv->track_mode) {
		fputs("\n  tracking ", out);
		text_str(out, inv->track_mode);
		if (inv->live)
			fputs(" (live checkpoint)", out);
	}
	fputs("\n  name     ", out);
	text_str(out, inv->name);
	if (inv->created_ns) {
		time_t t = (time_t)(inv->created_ns / 1000000000ULL);
		struct tm tm;

		if (gmtime_r(&t, &tm) && strftime(tb, sizeof(tb), "%Y-%m-%d %H:%M:%S UTC", &tm))
			fprintf(out, "\n  created  %s", tb);
		else
			fprintf(out, "\n  created  %" PRIu64 " ns", inv->created_ns);
	}
	fputs("\n  kernel   ", out);
	text_str(out, inv->kernel_release);
	fputs("\n  host     ", out);
	text_str(out, inv->hostname);
	if (inv->rtcr_version) {
		fputs("\n  rtcr     ", out);
		text_str(out, inv->rtcr_version);
	}
	if (inv->cpu) {
		fputs("\n  cpu      ", out);
		text_str(out, inv->cpu->vendor);
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
		size_str(inv->memory_bytes, sb, sizeof(sb)));

	for (size_t i = 0; i < m->n_processes; i++)
		text_process(out, sc, m->processes[i], pv ? pv[i] : NULL);

	if (m->n_shmem) {
		fprintf(out, "\nshmem (%zu):\n", m->n_shmem);
		for (size_t i = 0; i < m->n_shmem; i++) {
			const Rtcr__Shmem *s = m->shmem[i];

			fprintf(out, "  %4" PRIu32 "  %10s  ", s->id,
				size_str(s->size, sb, sizeof(sb)));
			text_str(out, s->name);
			fprintf(out, "%s", s->memfd ? "  memfd" : "");
			if (s->seals)
				fprintf(out, "  seals 0x%" PRIx32, s->seals);
			fputc('\n', out);
		}
	}
	for (size_t i = 0; i < m->n_pagemap; i++) {
		pages += m->pagemap[i]->npages;
		if (m->pagemap[i]->shmem_id)
			shm_pages += m->pagemap[i]->npages;
	}
	fprintf(out, "\npagemap: %zu runs, %" PRIu64 " pages (%s), %" PRIu64 " of them shmem\n",
		m->n_pagemap, pages, size_str(pages * IMG_PAGE_SIZE, sb, sizeof(sb)), shm_pages);
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
