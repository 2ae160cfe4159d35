/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Semantic checks of image metadata. Everything in an image is untrusted:
 * the rest of rtcr relies on what is checked here and nothing else, so
 * every rule lives in this file (docs/image-format.md lists them). The
 * first violation found is logged, naming what and where, and the image
 * is refused with -EINVAL.
 */
#define LOG_PREFIX "image: "
#include "base/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "image/internal.h"

#define VERR(c, fmt, ...) pr_err("%s: " fmt, (c)->name, ##__VA_ARGS__)
#define PAGE_MASK_LOW	  (IMG_PAGE_SIZE - 1)

struct id_idx {
	uint32_t id;
	uint32_t idx;
};

struct vctx {
	const char *name;
	uint64_t pages_size;
	const Rtcr__Image *im;
	struct id_idx *files; /* sorted by id */
	struct id_idx *shmem; /* sorted by id */
	struct id_idx *procs; /* sorted by pid */
};

static int cmp_id_idx(const void *a, const void *b)
{
	const struct id_idx *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static const struct id_idx *find_id(const struct id_idx *v, size_t n, uint32_t id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid].id == id)
			return &v[mid];
		if (v[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* First duplicate in a sorted id_idx array, or NULL. */
static const struct id_idx *find_dup(const struct id_idx *v, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (v[i].id == v[i - 1].id)
			return &v[i];
	return NULL;
}

static bool str_too_long(const char *s)
{
	return s && strnlen(s, IMG_MAX_STR) >= IMG_MAX_STR;
}

static bool str_empty(const char *s)
{
	return !s || !*s;
}

bool img_id_valid(const char *s)
{
	size_t i;

	if (!s)
		return false;
	for (i = 0; i < IMG_ID_LEN; i++) {
		char ch = s[i];

		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
		      (ch >= 'A' && ch <= 'F')))
			return false;
	}
	return s[i] == '\0';
}

static bool name_valid(const char *s)
{
	size_t n = strnlen(s, IMG_MAX_NAME + 1);

	if (n == 0 || n > IMG_MAX_NAME || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= 'A' && ch <= 'Z') || ch == '.' || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

#define CHECK_STR(s, fmt, ...)                                                                     \
	do {                                                                                       \
		if (str_too_long(s)) {                                                             \
			VERR(c, fmt ": string of %d bytes or more", ##__VA_ARGS__, IMG_MAX_STR);   \
			return -EINVAL;                                                            \
		}                                                                                  \
	} while (0)

static int validate_inventory(struct vctx *c)
{
	const Rtcr__Inventory *inv = c->im->inventory;

	if (!inv) {
		VERR(c, "no inventory");
		return -EINVAL;
	}
	if (!inv->has_format_version) {
		VERR(c, "inventory: no format_version");
		return -EINVAL;
	}
	if (inv->format_version < IMG_FORMAT_MIN || inv->format_version > IMG_FORMAT_VERSION) {
		VERR(c, "inventory: format version %" PRIu32 ", this rtcr reads versions %d to %d",
		     inv->format_version, IMG_FORMAT_MIN, IMG_FORMAT_VERSION);
		return -EINVAL;
	}
	if (inv->parent_id && inv->parent_id[0] && inv->format_version < 2) {
		VERR(c,
		     "inventory: an incremental image of format version %" PRIu32
		     " (incremental images are version 2)",
		     inv->format_version);
		return -EINVAL;
	}
	CHECK_STR(inv->image_id, "inventory: image_id");
	if (!img_id_valid(inv->image_id)) {
		VERR(c, "inventory: image_id %s%s%s is not %d hex digits",
		     inv->image_id ? "\"" : "", inv->image_id ? inv->image_id : "(missing)",
		     inv->image_id ? "\"" : "", IMG_ID_LEN);
		return -EINVAL;
	}
	CHECK_STR(inv->parent_id, "inventory: parent_id");
	if (inv->parent_id && *inv->parent_id && !img_id_valid(inv->parent_id)) {
		VERR(c, "inventory: parent_id \"%s\" is not %d hex digits", inv->parent_id,
		     IMG_ID_LEN);
		return -EINVAL;
	}
	CHECK_STR(inv->name, "inventory: name");
	if (str_empty(inv->name)) {
		VERR(c, "inventory: no target name");
		return -EINVAL;
	}
	if (!name_valid(inv->name)) {
		VERR(c,
		     "inventory: target name \"%s\" is not 1 to %d characters of "
		     "[A-Za-z0-9._-] (or is . or ..)",
		     inv->name, IMG_MAX_NAME);
		return -EINVAL;
	}
	CHECK_STR(inv->kernel_release, "inventory: kernel_release");
	CHECK_STR(inv->hostname, "inventory: hostname");
	CHECK_STR(inv->boot_id, "inventory: boot_id");
	CHECK_STR(inv->rtcr_version, "inventory: rtcr_version");
	if (inv->n_argv > IMG_MAX_ARGV) {
		VERR(c, "inventory: %zu argv strings (at most %d)", inv->n_argv, IMG_MAX_ARGV);
		return -EINVAL;
	}
	for (size_t i = 0; i < inv->n_argv; i++) {
		if (!inv->argv[i]) {
			VERR(c, "inventory: argv[%zu] missing", i);
			return -EINVAL;
		}
		CHECK_STR(inv->argv[i], "inventory: argv[%zu]", i);
	}
	if (inv->cpu) {
		const Rtcr__CpuInfo *cpu = inv->cpu;

		CHECK_STR(cpu->vendor, "inventory: cpu vendor");
		CHECK_STR(cpu->model_name, "inventory: cpu model_name");
		if (cpu->has_xsave_size && cpu->xsave_size > IMG_MAX_XSAVE) {
			VERR(c, "inventory: cpu xsave_size %" PRIu32 " (at most %d)",
			     cpu->xsave_size, IMG_MAX_XSAVE);
			return -EINVAL;
		}
		if (cpu->n_cpuid_words > IMG_MAX_CPU_WORDS) {
			VERR(c, "inventory: %zu cpuid words (at most %d)", cpu->n_cpuid_words,
			     IMG_MAX_CPU_WORDS);
			return -EINVAL;
		}
		if (cpu->n_flags > IMG_MAX_CPU_FLAGS) {
			VERR(c, "inventory: %zu cpu flags (at most %d)", cpu->n_flags,
			     IMG_MAX_CPU_FLAGS);
			return -EINVAL;
		}
		for (size_t i = 0; i < cpu->n_flags; i++) {
			if (!cpu->flags[i]) {
				VERR(c, "inventory: cpu flag %zu missing", i);
				return -EINVAL;
			}
			CHECK_STR(cpu->flags[i], "inventory: cpu flag %zu", i);
		}
	}
	return 0;
}

static int validate_files(struct vctx *c)
{
	const Rtcr__Image *im = c->im;
	const struct id_idx *dup;

	if (im->n_files > IMG_MAX_FILES) {
		VERR(c, "%zu files (at most %u)", im->n_files, IMG_MAX_FILES);
		return -EINVAL;
	}
	for (size_t i = 0; i < im->n_files; i++) {
		const Rtcr__File *f = im->files[i];

		if (!f) {
			VERR(c, "file %zu missing", i);
			return -EINVAL;
		}
		if (!f->has_id) {
			VERR(c, "file %zu: no id", i);
			return -EINVAL;
		}
		CHECK_STR(f->path, "file %" PRIu32 ": path", f->id);
		switch (f->kind) {
		case RTCR__FILE_KIND__FILE_REG:
		case RTCR__FILE_KIND__FILE_DIR:
		case RTCR__FILE_KIND__FILE_CHR:
			if (str_empty(f->path)) {
				VERR(c, "file %" PRIu32 ": no path", f->id);
				return -EINVAL;
			}
			break;
		case RTCR__FILE_KIND__FILE_LOG:
			if (f->log_stream != 1 && f->log_stream != 2) {
				VERR(c, "file %" PRIu32 ": log stream %" PRIu32 " (1 or 2)", f->id,
				     f->log_stream);
				return -EINVAL;
			}
			break;
		default:
			/* the other kinds validate their own part (fd_ops.prepare) */
			if ((int)f->kind < 0 || (int)f->kind > RTCR__FILE_KIND__FILE_MQUEUE) {
				VERR(c, "file %" PRIu32 ": unknown kind %d", f->id, (int)f->kind);
				return -EINVAL;
			}
			break;
		}
		c->files[i] = (struct id_idx){f->id, (uint32_t)i};
	}
	qsort(c->files, im->n_files, sizeof(*c->files), cmp_id_idx);
	dup = find_dup(c->files, im->n_files);
	if (dup) {
		VERR(c, "file id %" PRIu32 " used twice", dup->id);
		return -EINVAL;
	}
	return 0;
}

static int validate_shmem(struct vctx *c)
{
	const Rtcr__Image *im = c->im;
	const struct id_idx *dup;

	if (im->n_shmem > IMG_MAX_SHMEM) {
		VERR(c, "%zu shmem objects (at most %d)", im->n_shmem, IMG_MAX_SHMEM);
		return -EINVAL;
	}
	for (size_t i = 0; i < im->n_shmem; i++) {
		const Rtcr__Shmem *s = im->shmem[i];

		if (!s) {
			VERR(c, "shmem %zu missing", i);
			return -EINVAL;
		}
		if (!s->has_id || s->id == 0) {
			VERR(c, "shmem %zu: no id (ids are > 0)", i);
			return -EINVAL;
		}
		if (s->size & PAGE_MASK_LOW) {
			VERR(c, "shmem %" PRIu32 ": size 0x%" PRIx64 " not page aligned", s->id,
			     s->size);
			return -EINVAL;
		}
		if (s->size >= IMG_MAX_SHMEM_SIZE) {
			VERR(c, "shmem %" PRIu32 ": size 0x%" PRIx64 " (below 0x%llx)", s->id,
			     s->size, IMG_MAX_SHMEM_SIZE);
			return -EINVAL;
		}
		CHECK_STR(s->name, "shmem %" PRIu32 ": name", s->id);
		if (s->has_mode && (s->mode & ~07777U)) {
			VERR(c, "shmem %" PRIu32 ": mode 0%o has bits other than 07777", s->id,
			     s->mode);
			return -EINVAL;
		}
		c->shmem[i] = (struct id_idx){s->id, (uint32_t)i};
	}
	qsort(c->shmem, im->n_shmem, sizeof(*c->shmem), cmp_id_idx);
	dup = find_dup(c->shmem, im->n_shmem);
	if (dup) {
		VERR(c, "shmem id %" PRIu32 " used twice", dup->id);
		return -EINVAL;
	}
	return 0;
}

static const char *vma_kind_name(int k, char *buf, size_t len)
{
	return img_enum_name(&rtcr__vma_kind__descriptor, "VMA_", k, buf, len);
}

static int validate_siginfo(struct vctx *c, const Rtcr__SigInfo *si, uint32_t pid, uint32_t tid,
			    size_t i)
{
	if (!si || !si->has_raw || si->raw.len != IMG_SIGINFO_SIZE) {
		if (tid)
			VERR(c,
			     "process %" PRIu32 ": thread %" PRIu32
			     ": pending signal %zu: siginfo is not %d bytes",
			     pid, tid, i, IMG_SIGINFO_SIZE);
		else
			VERR(c,
			     "process %" PRIu32
			     ": shared pending signal %zu: siginfo is not %d bytes",
			     pid, i, IMG_SIGINFO_SIZE);
		return -EINVAL;
	}
	return 0;
}

static int validate_vmas(struct vctx *c, const Rtcr__Process *p)
{
	uint64_t prev_end = 0;

	if (p->n_vmas > IMG_MAX_VMAS) {
		VERR(c, "process %" PRIu32 ": %zu vmas (at most %u)", p->pid, p->n_vmas,
		     IMG_MAX_VMAS);
		return -EINVAL;
	}
	for (size_t i = 0; i < p->n_vmas; i++) {
		const Rtcr__Vma *v = p->vmas[i];

		if (!v) {
			VERR(c, "process %" PRIu32 ": vma %zu missing", p->pid, i);
			return -EINVAL;
		}
#define VMA_ERR(fmt, ...)                                                                          \
	VERR(c, "process %" PRIu32 ": vma %zu (0x%" PRIx64 "-0x%" PRIx64 "): " fmt, p->pid, i,     \
	     v->start, v->end, ##__VA_ARGS__)
		if (v->start >= v->end) {
			VMA_ERR("empty or inverted");
			return -EINVAL;
		}
		if ((v->start | v->end) & PAGE_MASK_LOW) {
			VMA_ERR("not page aligned");
			return -EINVAL;
		}
		if (i > 0 && v->start < prev_end) {
			VMA_ERR(
			    "overlaps or is not sorted after the previous vma (ending 0x%" PRIx64
			    ")",
			    prev_end);
			return -EINVAL;
		}
		prev_end = v->end;
		if ((int)v->kind < RTCR__VMA_KIND__VMA_ANON ||
		    (int)v->kind > RTCR__VMA_KIND__VMA_SYSV_SHM) {
			VMA_ERR("unknown kind %d", (int)v->kind);
			return -EINVAL;
		}
		if (v->kind == RTCR__VMA_KIND__VMA_VSYSCALL) {
			if (v->start != IMG_VSYSCALL_ADDR ||
			    v->end != IMG_VSYSCALL_ADDR + IMG_PAGE_SIZE) {
				VMA_ERR("[vsyscall] is not at 0x%llx-0x%llx", IMG_VSYSCALL_ADDR,
					IMG_VSYSCALL_ADDR + IMG_PAGE_SIZE);
				return -EINVAL;
			}
		} else if (v->end > IMG_TASK_SIZE) {
			VMA_ERR("beyond the user address space (0x%llx)", IMG_TASK_SIZE);
			return -EINVAL;
		}
		if (v->prot & ~(uint32_t)(PROT_READ | PROT_WRITE | PROT_EXEC)) {
			VMA_ERR("protection 0x%" PRIx32 " has bits other than PROT_READ|WRITE|EXEC",
				v->prot);
			return -EINVAL;
		}
		CHECK_STR(v->path, "process %" PRIu32 ": vma %zu: path", p->pid, i);
		CHECK_STR(v->anon_name, "process %" PRIu32 ": vma %zu: anon_name", p->pid, i);
		switch (v->kind) {
		case RTCR__VMA_KIND__VMA_FILE_PRIVATE:
		case RTCR__VMA_KIND__VMA_FILE_SHARED:
			if (str_empty(v->path)) {
				{
					char kb[32];

					VMA_ERR("%s mapping without a path",
						vma_kind_name(v->kind, kb, sizeof(kb)));
				}
				return -EINVAL;
			}
			if (v->pgoff & PAGE_MASK_LOW) {
				VMA_ERR("file offset 0x%" PRIx64 " not page aligned", v->pgoff);
				return -EINVAL;
			}
			break;
		case RTCR__VMA_KIND__VMA_SHMEM:
			if (!v->has_shmem_id || !find_id(c->shmem, c->im->n_shmem, v->shmem_id)) {
				VMA_ERR("shmem mapping of unknown shmem object %" PRIu32,
					v->shmem_id);
				return -EINVAL;
			}
			if (v->pgoff & PAGE_MASK_LOW) {
				VMA_ERR("shmem offset 0x%" PRIx64 " not page aligned", v->pgoff);
				return -EINVAL;
			}
			break;
		default:
			break;
		}
#undef VMA_ERR
	}
	return 0;
}

static int validate_threads(struct vctx *c, const Rtcr__Process *p)
{
	uint32_t *tids = NULL;
	int ret = -EINVAL;

	if (p->zombie) {
		if (p->n_threads || p->n_vmas || p->n_fds) {
			VERR(c, "process %" PRIu32 ": a zombie with threads, memory or files",
			     p->pid);
			return -EINVAL;
		}
		return 0;
	}
	if (p->n_threads == 0) {
		VERR(c, "process %" PRIu32 ": no threads", p->pid);
		goto out;
	}
	if (p->n_threads > IMG_MAX_THREADS) {
		VERR(c, "process %" PRIu32 ": %zu threads (at most %d)", p->pid, p->n_threads,
		     IMG_MAX_THREADS);
		goto out;
	}
	tids = malloc(p->n_threads * sizeof(*tids));
	if (!tids) {
		ret = -ENOMEM;
		VERR(c, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < p->n_threads; i++) {
		const Rtcr__Thread *t = p->threads[i];

		if (!t) {
			VERR(c, "process %" PRIu32 ": thread %zu missing", p->pid, i);
			goto out;
		}
		if (!t->has_tid || t->tid == 0) {
			VERR(c, "process %" PRIu32 ": thread %zu: no tid (tids are > 0)", p->pid,
			     i);
			goto out;
		}
		if (!t->regs) {
			VERR(c, "process %" PRIu32 ": thread %" PRIu32 ": no registers", p->pid,
			     t->tid);
			goto out;
		}
		if (t->has_xsave && t->xsave.len > IMG_MAX_XSAVE) {
			VERR(c,
			     "process %" PRIu32 ": thread %" PRIu32 ": xsave area of %zu bytes "
			     "(at most %d)",
			     p->pid, t->tid, t->xsave.len, IMG_MAX_XSAVE);
			goto out;
		}
		if (t->n_pending > IMG_MAX_PENDING) {
			VERR(c,
			     "process %" PRIu32 ": thread %" PRIu32 ": %zu pending signals "
			     "(at most %d)",
			     p->pid, t->tid, t->n_pending, IMG_MAX_PENDING);
			goto out;
		}
		for (size_t j = 0; j < t->n_pending; j++)
			if (validate_siginfo(c, t->pending[j], p->pid, t->tid, j))
				goto out;
		if (str_too_long(t->comm)) {
			VERR(c,
			     "process %" PRIu32 ": thread %" PRIu32 ": comm: string of %d bytes "
			     "or more",
			     p->pid, t->tid, IMG_MAX_STR);
			goto out;
		}
		tids[i] = t->tid;
	}
	qsort(tids, p->n_threads, sizeof(*tids), cmp_u32);
	for (size_t i = 1; i < p->n_threads; i++) {
		if (tids[i] == tids[i - 1]) {
			VERR(c, "process %" PRIu32 ": thread id %" PRIu32 " used twice", p->pid,
			     tids[i]);
			goto out;
		}
	}
	ret = 0;
out:
	free(tids);
	return ret;
}

static int validate_fds(struct vctx *c, const Rtcr__Process *p)
{
	uint32_t *fds = NULL;
	int ret = -EINVAL;

	if (p->n_fds > IMG_MAX_FDS) {
		VERR(c, "process %" PRIu32 ": %zu fds (at most %d)", p->pid, p->n_fds, IMG_MAX_FDS);
		goto out;
	}
	fds = malloc((p->n_fds ? p->n_fds : 1) * sizeof(*fds));
	if (!fds) {
		ret = -ENOMEM;
		VERR(c, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < p->n_fds; i++) {
		const Rtcr__Fd *fd = p->fds[i];

		if (!fd) {
			VERR(c, "process %" PRIu32 ": fd entry %zu missing", p->pid, i);
			goto out;
		}
		if (!fd->has_fd || fd->fd >= IMG_MAX_FD) {
			VERR(c, "process %" PRIu32 ": fd entry %zu: fd %s%" PRIu32 " (below %u)",
			     p->pid, i, fd->has_fd ? "" : "missing, ", fd->fd, IMG_MAX_FD);
			goto out;
		}
		if (!fd->has_file_id || !find_id(c->files, c->im->n_files, fd->file_id)) {
			VERR(c,
			     "process %" PRIu32 ": fd %" PRIu32
			     ": refers to missing file %s%" PRIu32,
			     p->pid, fd->fd, fd->has_file_id ? "" : "(no id) ", fd->file_id);
			goto out;
		}
		fds[i] = fd->fd;
	}
	qsort(fds, p->n_fds, sizeof(*fds), cmp_u32);
	for (size_t i = 1; i < p->n_fds; i++) {
		if (fds[i] == fds[i - 1]) {
			VERR(c, "process %" PRIu32 ": fd %" PRIu32 " appears twice", p->pid,
			     fds[i]);
			goto out;
		}
	}
	ret = 0;
out:
	free(fds);
	return ret;
}

static int validate_mm(struct vctx *c, const Rtcr__Process *p)
{
	const Rtcr__MmInfo *mm = p->mm;
	const struct {
		const char *name;
		uint64_t lo, hi;
	} pairs[] = {
	    {"code", mm->start_code, mm->end_code}, {"data", mm->start_data, mm->end_data},
	    {"brk", mm->start_brk, mm->brk},	    {"arg", mm->arg_start, mm->arg_end},
	    {"env", mm->env_start, mm->env_end},
	};

	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		if (pairs[i].lo > pairs[i].hi || pairs[i].hi > IMG_TASK_SIZE) {
			VERR(c,
			     "process %" PRIu32 ": mm: %s range 0x%" PRIx64 "-0x%" PRIx64
			     " is inverted or beyond the user address space",
			     p->pid, pairs[i].name, pairs[i].lo, pairs[i].hi);
			return -EINVAL;
		}
	}
	if (mm->start_stack > IMG_TASK_SIZE) {
		VERR(c,
		     "process %" PRIu32 ": mm: start_stack 0x%" PRIx64
		     " beyond the user address space",
		     p->pid, mm->start_stack);
		return -EINVAL;
	}
	if (mm->n_auxv > IMG_MAX_AUXV || mm->n_auxv % 2) {
		VERR(c, "process %" PRIu32 ": mm: %zu auxv words (an even number, at most %d)",
		     p->pid, mm->n_auxv, IMG_MAX_AUXV);
		return -EINVAL;
	}
	CHECK_STR(mm->exe, "process %" PRIu32 ": mm: exe", p->pid);
	return 0;
}

static const Rtcr__Vma *find_vma(const Rtcr__Process *p, uint64_t addr);

/* Incremental images: ranges whose pages are the parent's. */
static int validate_inherit(struct vctx *c, const Rtcr__Process *p)
{
	const Rtcr__Inventory *inv = c->im->inventory;
	uint64_t prev = 0;

	if (!p->n_inherit)
		return 0;
	if (!inv || !inv->parent_id || !inv->parent_id[0]) {
		VERR(c, "process %" PRIu32 ": inherits memory but the image has no parent", p->pid);
		return -EINVAL;
	}
	if (p->n_inherit % 2 || p->n_inherit > 2ULL * IMG_MAX_RUNS) {
		VERR(c, "process %" PRIu32 ": %zu inherited range bounds (pairs, at most %u)",
		     p->pid, p->n_inherit, 2 * IMG_MAX_RUNS);
		return -EINVAL;
	}
	for (size_t i = 0; i < p->n_inherit; i += 2) {
		uint64_t s = p->inherit[i], e = p->inherit[i + 1];
		const Rtcr__Vma *v;

		if (s >= e || ((s | e) & PAGE_MASK_LOW) || s < prev) {
			VERR(c,
			     "process %" PRIu32 ": inherited range 0x%" PRIx64 "-0x%" PRIx64
			     " is empty, not page aligned or not after the previous one",
			     p->pid, s, e);
			return -EINVAL;
		}
		prev = e;
		v = find_vma(p, s);
		if (!v || v->end < e ||
		    (v->kind != RTCR__VMA_KIND__VMA_ANON &&
		     v->kind != RTCR__VMA_KIND__VMA_FILE_PRIVATE)) {
			VERR(c,
			     "process %" PRIu32 ": inherited range 0x%" PRIx64 "-0x%" PRIx64
			     " is not inside one private vma",
			     p->pid, s, e);
			return -EINVAL;
		}
	}
	return 0;
}

static int validate_process(struct vctx *c, const Rtcr__Process *p)
{
	uint64_t seen_sig = 0;
	uint32_t seen_timer = 0, seen_rlim = 0;
	int ret;

	CHECK_STR(p->comm, "process %" PRIu32 ": comm", p->pid);
	CHECK_STR(p->cwd, "process %" PRIu32 ": cwd", p->pid);
	CHECK_STR(p->root, "process %" PRIu32 ": root", p->pid);
	if (p->mm) {
		ret = validate_mm(c, p);
		if (ret)
			return ret;
	}
	if (p->creds && p->creds->n_groups > IMG_MAX_GROUPS) {
		VERR(c, "process %" PRIu32 ": %zu supplementary groups (at most %d)", p->pid,
		     p->creds->n_groups, IMG_MAX_GROUPS);
		return -EINVAL;
	}
	ret = validate_vmas(c, p);
	if (ret)
		return ret;
	ret = validate_inherit(c, p);
	if (ret)
		return ret;
	ret = validate_threads(c, p);
	if (ret)
		return ret;
	ret = validate_fds(c, p);
	if (ret)
		return ret;
	if (p->n_sigactions > 64) {
		VERR(c, "process %" PRIu32 ": %zu sigactions (at most 64)", p->pid,
		     p->n_sigactions);
		return -EINVAL;
	}
	for (size_t i = 0; i < p->n_sigactions; i++) {
		const Rtcr__SigAction *sa = p->sigactions[i];

		if (!sa || sa->signo < 1 || sa->signo > 64) {
			VERR(c, "process %" PRIu32 ": sigaction %zu: signal %" PRIu32 " (1 to 64)",
			     p->pid, i, sa ? sa->signo : 0);
			return -EINVAL;
		}
		if (seen_sig & (1ULL << (sa->signo - 1))) {
			VERR(c,
			     "process %" PRIu32 ": sigaction for signal %" PRIu32 " appears twice",
			     p->pid, sa->signo);
			return -EINVAL;
		}
		seen_sig |= 1ULL << (sa->signo - 1);
	}
	if (p->n_shared_pending > IMG_MAX_PENDING) {
		VERR(c, "process %" PRIu32 ": %zu shared pending signals (at most %d)", p->pid,
		     p->n_shared_pending, IMG_MAX_PENDING);
		return -EINVAL;
	}
	for (size_t i = 0; i < p->n_shared_pending; i++)
		if (validate_siginfo(c, p->shared_pending[i], p->pid, 0, i))
			return -EINVAL;
	if (p->n_itimers > 3) {
		VERR(c, "process %" PRIu32 ": %zu itimers (at most 3)", p->pid, p->n_itimers);
		return -EINVAL;
	}
	for (size_t i = 0; i < p->n_itimers; i++) {
		const Rtcr__Itimer *t = p->itimers[i];

		if (!t || t->which > 2) {
			VERR(c, "process %" PRIu32 ": itimer %zu: which %" PRIu32 " (0 to 2)",
			     p->pid, i, t ? t->which : 0);
			return -EINVAL;
		}
		if (seen_timer & (1u << t->which)) {
			VERR(c, "process %" PRIu32 ": itimer %" PRIu32 " appears twice", p->pid,
			     t->which);
			return -EINVAL;
		}
		seen_timer |= 1u << t->which;
	}
	if (p->n_rlimits > 16) {
		VERR(c, "process %" PRIu32 ": %zu rlimits (at most 16)", p->pid, p->n_rlimits);
		return -EINVAL;
	}
	for (size_t i = 0; i < p->n_rlimits; i++) {
		const Rtcr__Rlimit *r = p->rlimits[i];

		if (!r || r->resource >= 16) {
			VERR(c, "process %" PRIu32 ": rlimit %zu: resource %" PRIu32 " (below 16)",
			     p->pid, i, r ? r->resource : 0);
			return -EINVAL;
		}
		if (seen_rlim & (1u << r->resource)) {
			VERR(c, "process %" PRIu32 ": rlimit %" PRIu32 " appears twice", p->pid,
			     r->resource);
			return -EINVAL;
		}
		seen_rlim |= 1u << r->resource;
	}
	return 0;
}

/* The vma of p containing addr, or NULL. vmas are sorted and disjoint. */
static const Rtcr__Vma *find_vma(const Rtcr__Process *p, uint64_t addr)
{
	size_t lo = 0, hi = p->n_vmas;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const Rtcr__Vma *v = p->vmas[mid];

		if (addr < v->start)
			hi = mid;
		else if (addr >= v->end)
			lo = mid + 1;
		else
			return v;
	}
	return NULL;
}

struct run_pos {
	uint64_t off, end;
	size_t idx;
};

static int cmp_run_pos(const void *a, const void *b)
{
	const struct run_pos *x = a, *y = b;

	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

#define RUN_ERR(fmt, ...)                                                                          \
	VERR(c,                                                                                    \
	     "page run %zu (addr 0x%" PRIx64 ", %" PRIu32 " pages at offset 0x%" PRIx64 "): " fmt, \
	     i, r->addr, r->npages, r->offset, ##__VA_ARGS__)

/* Page run i of process memory, of len bytes: inside one vma whose pages
 * are saved. */
static int validate_run_vma(struct vctx *c, size_t i, const Rtcr__PageRun *r, uint64_t len)
{
	const Rtcr__Image *im = c->im;
	const Rtcr__Process *p;
	const Rtcr__Vma *v;
	char kb[32];

	if (r->pid == 0) {
		p = im->processes[0];
	} else {
		const struct id_idx *pi = find_id(c->procs, im->n_processes, r->pid);

		if (!pi) {
			RUN_ERR("unknown process %" PRIu32, r->pid);
			return -EINVAL;
		}
		p = im->processes[pi->idx];
	}
	v = find_vma(p, r->addr);
	if (!v || v->end - r->addr < len) {
		RUN_ERR("not inside one vma of process %" PRIu32, p->pid);
		return -EINVAL;
	}
	switch (v->kind) {
	case RTCR__VMA_KIND__VMA_FILE_SHARED:
	case RTCR__VMA_KIND__VMA_VDSO:
	case RTCR__VMA_KIND__VMA_VVAR:
	case RTCR__VMA_KIND__VMA_VSYSCALL:
		RUN_ERR("inside a %s vma (0x%" PRIx64 "-0x%" PRIx64 ") of process %" PRIu32
			", whose pages are never saved",
			vma_kind_name(v->kind, kb, sizeof(kb)), v->start, v->end, p->pid);
		return -EINVAL;
	default:
		return 0;
	}
}

/* Page run i: its size, checksum, place in pages.img, and what it fills. */
static int validate_run(struct vctx *c, size_t i, const Rtcr__PageRun *r, uint64_t *lenp)
{
	const Rtcr__Image *im = c->im;
	uint64_t len;

	if (!r) {
		VERR(c, "page run %zu missing", i);
		return -EINVAL;
	}
	if (r->npages < 1 || r->npages > IMG_MAX_RUN_PAGES) {
		RUN_ERR("page count not in 1..%d", IMG_MAX_RUN_PAGES);
		return -EINVAL;
	}
	if (!r->has_xxh64) {
		RUN_ERR("no checksum");
		return -EINVAL;
	}
	*lenp = len = (uint64_t)r->npages * IMG_PAGE_SIZE;
	if (r->offset & PAGE_MASK_LOW) {
		RUN_ERR("offset not page aligned");
		return -EINVAL;
	}
	if (r->offset < IMG_PAGES_HDR_SIZE) {
		RUN_ERR("offset inside the pages.img header");
		return -EINVAL;
	}
	if (c->pages_size < len || r->offset > c->pages_size - len) {
		RUN_ERR("beyond the end of pages.img (%" PRIu64 " bytes)", c->pages_size);
		return -EINVAL;
	}
	if (r->addr & PAGE_MASK_LOW) {
		RUN_ERR("address not page aligned");
		return -EINVAL;
	}
	if (r->shmem_id) {
		const struct id_idx *s = find_id(c->shmem, im->n_shmem, r->shmem_id);
		uint64_t size;

		if (!s) {
			RUN_ERR("unknown shmem object %" PRIu32, r->shmem_id);
			return -EINVAL;
		}
		size = im->shmem[s->idx]->size;
		if (size < len || r->addr > size - len) {
			RUN_ERR("outside shmem object %" PRIu32 " (0x%" PRIx64 " bytes)",
				r->shmem_id, size);
			return -EINVAL;
		}
		return 0;
	}
	return validate_run_vma(c, i, r, len);
}
#undef RUN_ERR

static int validate_pagemap(struct vctx *c)
{
	const Rtcr__Image *im = c->im;
	struct run_pos *pos = NULL;
	uint64_t total = 0;
	int ret = -EINVAL;

	if (im->n_pagemap > IMG_MAX_RUNS) {
		VERR(c, "%zu page runs (at most %u)", im->n_pagemap, IMG_MAX_RUNS);
		goto out;
	}
	pos = malloc((im->n_pagemap ? im->n_pagemap : 1) * sizeof(*pos));
	if (!pos) {
		ret = -ENOMEM;
		VERR(c, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < im->n_pagemap; i++) {
		const Rtcr__PageRun *r = im->pagemap[i];
		uint64_t len;

		if (validate_run(c, i, r, &len))
			goto out;
		pos[i] = (struct run_pos){r->offset, r->offset + len, i};
		total += len;
	}
	qsort(pos, im->n_pagemap, sizeof(*pos), cmp_run_pos);
	for (size_t i = 1; i < im->n_pagemap; i++) {
		if (pos[i].off < pos[i - 1].end) {
			VERR(c,
			     "page runs %zu and %zu overlap in pages.img (offsets 0x%" PRIx64
			     " and 0x%" PRIx64 ")",
			     pos[i - 1].idx, pos[i].idx, pos[i - 1].off, pos[i].off);
			goto out;
		}
	}
	if (im->inventory->has_memory_bytes && im->inventory->memory_bytes != total) {
		VERR(c, "inventory says %" PRIu64 " bytes of memory, the page runs hold %" PRIu64,
		     im->inventory->memory_bytes, total);
		goto out;
	}
	ret = 0;
out:
	free(pos);
	return ret;
}

#define IMG_MAX_LOSSES	  65536
#define IMG_MAX_LOSS_TEXT 256 /* Loss.what is shorter than this */

/* Image.losses: what the checkpoint gave up (accepted). Only shown, never
 * acted on, but shown to the user: bounded and well-formed. */
static int validate_losses(struct vctx *c)
{
	const Rtcr__Image *im = c->im;

	if (im->n_losses > IMG_MAX_LOSSES) {
		VERR(c, "%zu losses (at most %d)", im->n_losses, IMG_MAX_LOSSES);
		return -EINVAL;
	}
	for (size_t i = 0; i < im->n_losses; i++) {
		const Rtcr__Loss *l = im->losses[i];
		size_t n;

		if (!l) {
			VERR(c, "loss %zu missing", i);
			return -EINVAL;
		}
		if (!protobuf_c_enum_descriptor_get_value(&rtcr__loss_kind__descriptor,
							  (int)l->kind) ||
		    l->kind == RTCR__LOSS_KIND__LOSS_NONE) {
			VERR(c, "loss %zu: unknown kind %d", i, (int)l->kind);
			return -EINVAL;
		}
		if (!find_id(c->procs, im->n_processes, l->pid)) {
			VERR(c, "loss %zu: pid %" PRIu32 " is not one of the processes", i, l->pid);
			return -EINVAL;
		}
		if (l->fd < -1 || l->fd >= (int32_t)IMG_MAX_FD) {
			VERR(c, "loss %zu: bad fd %" PRId32, i, l->fd);
			return -EINVAL;
		}
		n = l->what ? strnlen(l->what, IMG_MAX_LOSS_TEXT) : 0;
		if (n == 0 || n >= IMG_MAX_LOSS_TEXT) {
			VERR(c, "loss %zu: description empty or of %d bytes or more", i,
			     IMG_MAX_LOSS_TEXT);
			return -EINVAL;
		}
		for (size_t k = 0; k < n; k++)
			if ((unsigned char)l->what[k] < 0x20 || l->what[k] == 0x7f) {
				VERR(c, "loss %zu: control character in the description", i);
				return -EINVAL;
			}
	}
	return 0;
}

static int validate(struct vctx *c)
{
	const Rtcr__Image *im = c->im;
	const struct id_idx *dup;
	const Rtcr__Inventory *inv;
	int ret;

	ret = validate_inventory(c);
	if (ret)
		return ret;
	inv = im->inventory;
	if (im->n_processes == 0) {
		VERR(c, "no processes");
		return -EINVAL;
	}
	if (im->n_processes > IMG_MAX_PROCESSES) {
		VERR(c, "%zu processes (at most %d)", im->n_processes, IMG_MAX_PROCESSES);
		return -EINVAL;
	}
	for (size_t i = 0; i < im->n_processes; i++) {
		const Rtcr__Process *p = im->processes[i];

		if (!p) {
			VERR(c, "process %zu missing", i);
			return -EINVAL;
		}
		if (!p->has_pid || p->pid == 0) {
			VERR(c, "process %zu: no pid (pids are > 0)", i);
			return -EINVAL;
		}
		c->procs[i] = (struct id_idx){p->pid, (uint32_t)i};
	}
	qsort(c->procs, im->n_processes, sizeof(*c->procs), cmp_id_idx);
	dup = find_dup(c->procs, im->n_processes);
	if (dup) {
		VERR(c, "process id %" PRIu32 " used twice", dup->id);
		return -EINVAL;
	}
	if (inv->has_root_pid && inv->root_pid &&
	    !find_id(c->procs, im->n_processes, inv->root_pid)) {
		VERR(c, "inventory: root pid %" PRIu32 " is not one of the processes",
		     inv->root_pid);
		return -EINVAL;
	}
	ret = validate_files(c);
	if (ret)
		return ret;
	ret = validate_shmem(c);
	if (ret)
		return ret;
	ret = validate_losses(c);
	if (ret)
		return ret;
	for (size_t i = 0; i < im->n_processes; i++) {
		ret = validate_process(c, im->processes[i]);
		if (ret)
			return ret;
	}
	return validate_pagemap(c);
}

int img_validate_named(const Rtcr__Image *im, uint64_t pages_size, const char *name)
{
	struct vctx c = {.name = name ? name : "metadata", .pages_size = pages_size, .im = im};
	int ret;

	if (!im) {
		VERR(&c, "no metadata");
		return -EINVAL;
	}
	/* Counts are bounded before anything is allocated from them. */
	if (im->n_files > IMG_MAX_FILES || im->n_shmem > IMG_MAX_SHMEM ||
	    im->n_processes > IMG_MAX_PROCESSES) {
		VERR(&c,
		     "%zu files, %zu shmem objects, %zu processes: too many (at most %u, %d, %d)",
		     im->n_files, im->n_shmem, im->n_processes, IMG_MAX_FILES, IMG_MAX_SHMEM,
		     IMG_MAX_PROCESSES);
		return -EINVAL;
	}
	c.files = malloc((im->n_files + 1) * sizeof(*c.files));
	c.shmem = malloc((im->n_shmem + 1) * sizeof(*c.shmem));
	c.procs = malloc((im->n_processes + 1) * sizeof(*c.procs));
	if (!c.files || !c.shmem || !c.procs) {
		VERR(&c, "out of memory");
		ret = -ENOMEM;
		goto out;
	}
	ret = validate(&c);
out:
	free(c.files);
	free(c.shmem);
	free(c.procs);
	return ret;
}

int img_validate(const Rtcr__Image *im, uint64_t pages_size)
{
	return img_validate_named(im, pages_size, "metadata");
}
