/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The memory session's restore (see memory.c): the stub's own mappings go,
 * its vDSO/vvar move to the recorded place, every VMA is mapped at its
 * address, contents are written (userfaultfd, or process_vm_writev), then
 * protections, madvise state and mm fields.
 */
#define LOG_PREFIX "memory: "
#include <fcntl.h>
#include <inttypes.h>
#include <linux/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/arch/x86_64/vdso.h"
#include "core/compat.h"
#include "sessions/memory.h"
#include "sessions/ipc.h"
#include "base/log.h"
#include "core/proc.h"

#define PG 4096ULL

static int call(struct rst_ctx *r, long *ret, const char *what, long nr, uint64_t a1, uint64_t a2,
		uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6)
{
	return inject_call(&r->ij, ret, what, nr, a1, a2, a3, a4, a5, a6);
}

/* The contents of kept file v (Vma.keep_shmem_id) into fd. */
static int write_kept_file(struct rst_ctx *r, const Rtcr__Vma *v, int fd)
{
	bool found = false;
	int ret = 0;

	for (size_t i = 0; i < r->img->n_shmem; i++)
		found |= r->img->shmem[i]->id == v->keep_shmem_id && !r->img->shmem[i]->memfd;
	if (!found || v->file_size > MEM_KEEP_FILE_MAX || (v->file_mode & ~07777U)) {
		pr_err("restore: %s: bad saved copy (object %u, %" PRIu64 " bytes, mode 0%o)",
		       v->path, v->keep_shmem_id, v->file_size, v->file_mode);
		return -EINVAL;
	}
	for (size_t i = 0; i < r->img->n_pagemap && !ret; i++) {
		const Rtcr__PageRun *pr = r->img->pagemap[i];
		const void *data;
		size_t len;

		if (pr->shmem_id != v->keep_shmem_id)
			continue;
		ret = img_run_data(r->im, i, !r->verified, &data, &len);
		if (!ret &&
		    (pr->addr > MEM_KEEP_FILE_MAX || len > MEM_KEEP_FILE_MAX + PG - pr->addr)) {
			pr_err("restore: %s: saved contents at 0x%" PRIx64 " beyond its size",
			       v->path, pr->addr);
			ret = -EINVAL;
		}
		if (!ret && pwrite(fd, data, len, (off_t)pr->addr) != (ssize_t)len)
			ret = pr_perror("restore: %s: write its contents", v->path);
	}
	return ret;
}

/*
 * A small shared-mapped file of a sticky world-writable directory whose
 * contents the image keeps (memory.c: keep_small_file): gone, it is made
 * again (never over anything: O_EXCL, O_NOFOLLOW) with its contents, size,
 * mode, owner and modification time. There, it is checked as any mapped
 * file (memory_prepare).
 */
static int recreate_kept_file(struct rst_ctx *r, const Rtcr__Vma *v)
{
	struct timespec ts[2] = {
	    {0, UTIME_OMIT},
	    {(time_t)(v->mtime_ns / 1000000000ULL), (long)(v->mtime_ns % 1000000000ULL)}};
	int fd, ret;

	fd = open(v->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == EEXIST
			   ? 0
			   : pr_perror("restore: %s is gone and cannot be made again", v->path);
	ret = write_kept_file(r, v, fd);
	if (!ret && ftruncate(fd, (off_t)v->file_size) < 0)
		ret = pr_perror("restore: %s: set its size", v->path);
	if (!ret && fchown(fd, v->file_uid, v->file_gid) < 0)
		ret = pr_perror("restore: %s: set its owner %u:%u", v->path, v->file_uid,
				v->file_gid);
	if (!ret && fchmod(fd, v->file_mode) < 0)
		ret = pr_perror("restore: %s: set its mode 0%o", v->path, v->file_mode);
	if (!ret && futimens(fd, ts) < 0)
		ret = pr_perror("restore: %s: set its modification time", v->path);
	close(fd);
	if (ret) {
		unlink(v->path);
		return ret;
	}
	pr_info("restore: %s was gone: made again from the image (%" PRIu64
		" bytes, mode 0%o, owner %u:%u)",
		v->path, v->file_size, v->file_mode, v->file_uid, v->file_gid);
	return 0;
}

int memory_prepare(struct rst_ctx *r)
{
	const Rtcr__Process *p = r->proc;
	struct stat st;

	for (size_t i = 0; i < p->n_vmas; i++) {
		const Rtcr__Vma *v = p->vmas[i];

		if (v->kind != RTCR__VMA_KIND__VMA_FILE_PRIVATE &&
		    v->kind != RTCR__VMA_KIND__VMA_FILE_SHARED)
			continue;
		if (v->has_shmem_id) {
			/* a deleted file, from the image: its directory must exist */
			char dir[4096], *slash;

			snprintf(dir, sizeof(dir), "%s", v->path);
			slash = strrchr(dir, '/');
			if (slash)
				*(slash == dir ? slash + 1 : slash) = '\0';
			if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
				pr_err("restore: %s: its directory %s no longer exists (a deleted "
				       "file "
				       "mapped at 0x%" PRIx64 ")",
				       v->path, dir, v->start);
				return -ENOENT;
			}
			continue;
		}
		if (v->has_keep_shmem_id && v->kind == RTCR__VMA_KIND__VMA_FILE_SHARED) {
			int ret = recreate_kept_file(r, v);

			if (ret)
				return ret;
		}
		if (stat(v->path, &st) < 0) {
			int e = errno;

			pr_err("restore: %s: %s (mapped at 0x%" PRIx64 ")", v->path, strerror(e),
			       v->start);
			return -e;
		}
		if (!S_ISREG(st.st_mode)) {
			pr_err("restore: %s is no longer a regular file (mapped at 0x%" PRIx64 ")",
			       v->path, v->start);
			return -ESTALE;
		}
		if ((uint64_t)st.st_size != v->file_size) {
			pr_err("restore: %s changed since checkpoint (size %" PRIu64 " -> %lld)",
			       v->path, v->file_size, (long long)st.st_size);
			return -ESTALE;
		}
		if ((uint64_t)st.st_mtim.tv_sec * 1000000000ULL + (uint64_t)st.st_mtim.tv_nsec !=
		    v->mtime_ns) {
			pr_err("restore: %s changed since checkpoint (modification time differs)",
			       v->path);
			return -ESTALE;
		}
	}
	return 0;
}

/* Unmap everything the stub brought except vDSO/vvar and our scratch. */
static int unmap_stub(struct rst_ctx *r)
{
	char path[64], *maps = NULL, *line, *save = NULL;
	struct maps_line m;
	int ret = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", r->pid);
	if (read_file(path, &maps) < 0)
		return pr_perror("read %s", path);
	for (line = strtok_r(maps, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (memory_parse_maps_line(line, &m))
			continue;
		if (!strcmp(m.path, "[vdso]") || !strncmp(m.path, "[vvar", 5) ||
		    !strcmp(m.path, "[vsyscall]") || m.start == r->ij.scratch)
			continue;
		ret = call(r, NULL, "unmap the stub", __NR_munmap, m.start, m.end - m.start, 0, 0,
			   0, 0);
		if (ret)
			break;
	}
	free(maps);
	return ret;
}

/*
 * This kernel's vDSO/vvar differ from the image's: keep ours where it does
 * not collide with the image's memory, and fill the old vDSO's place with
 * trampolines into ours (and the old vvar places with empty read-only
 * memory, so that the layout stays as the target knew it).
 */
static int proxy_vdso(struct rst_ctx *r, const Rtcr__Vma **img, int nimg,
		      const struct maps_line *cur, int ncur)
{
	static const uint64_t candidates[] = {
	    0x7ff000000000ULL, 0x7f0000000000ULL, 0x600000000000ULL,
	    0x400000000000ULL, 0x100000000000ULL, 0x20000000ULL,
	};
	const Rtcr__MmInfo *mm = r->proc->mm;
	Rtcr__VdsoSym **now = NULL;
	size_t nnow = 0;
	uint64_t lo = cur[0].start, hi = cur[ncur - 1].end, base = lo, vdso = 0, vend = 0;
	unsigned char *buf = NULL;
	bool clash = false;
	int ret = 0, done;

	if (!mm || !mm->n_vdso_syms) {
		pr_err("restore: the vDSO of this kernel differs from the image's, and the image "
		       "does not name the old vDSO's functions");
		return -ENOTSUP;
	}
	for (size_t i = 0; i < r->proc->n_vmas; i++)
		if (r->proc->vmas[i]->start < hi && lo < r->proc->vmas[i]->end)
			clash = true;
	if (clash) {
		base = 0;
		for (size_t c = 0; c < sizeof(candidates) / sizeof(candidates[0]) && !base; c++) {
			uint64_t s = candidates[c], e = s + (hi - lo);
			bool busy = r->ij.scratch < e && s < r->ij.scratch + r->ij.scratch_len;

			for (size_t i = 0; i < r->proc->n_vmas && !busy; i++)
				if (r->proc->vmas[i]->start < e && s < r->proc->vmas[i]->end)
					busy = true;
			if (!busy)
				base = s;
		}
		if (!base) {
			pr_err("restore: no free place for this kernel's vDSO");
			return -ENOMEM;
		}
		for (int i = 0; i < ncur; i++) {
			ret = call(r, NULL, "move the vDSO", __NR_mremap, cur[i].start,
				   cur[i].end - cur[i].start, cur[i].end - cur[i].start,
				   MREMAP_MAYMOVE | MREMAP_FIXED, base + (cur[i].start - lo), 0);
			if (ret)
				return ret;
		}
		if (r->vdso_ip >= lo && r->vdso_ip < hi)
			r->vdso_ip = r->vdso_ip - lo + base;
	}
	for (int i = 0; i < ncur; i++) {
		if (!strcmp(cur[i].path, "[vdso]")) {
			vdso = base + (cur[i].start - lo);
			vend = base + (cur[i].end - lo);
		}
	}
	ret = vdso_symbols(r->pid, vdso, vend, &now, &nnow);
	if (ret)
		goto out;
	for (int i = 0; i < nimg; i++) {
		const Rtcr__Vma *v = img[i];
		uint64_t len = v->end - v->start;

		ret = call(r, NULL, "map the old vDSO's place", __NR_mmap, v->start, len,
			   PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
			   (uint64_t)-1, 0);
		if (ret)
			goto out;
		if (v->kind != RTCR__VMA_KIND__VMA_VDSO) {
			ret = call(r, NULL, "mprotect", __NR_mprotect, v->start, len, PROT_READ, 0,
				   0, 0);
			if (ret)
				goto out;
			continue;
		}
		buf = malloc(len);
		if (!buf) {
			ret = -ENOMEM;
			goto out;
		}
		done = vdso_trampolines(mm->vdso_syms, mm->n_vdso_syms, now, nnow, vdso, buf, len);
		if (done < 0) {
			ret = done;
			goto out;
		}
		ret = remote_write(r->pid, v->start, buf, len);
		if (ret)
			goto out;
		ret = call(r, NULL, "mprotect", __NR_mprotect, v->start, len, PROT_READ | PROT_EXEC,
			   0, 0, 0);
		if (ret)
			goto out;
		pr_info("vDSO differs from the image's: %d functions redirected to 0x%" PRIx64,
			done, vdso);
	}
out:
	free(buf);
	for (size_t i = 0; i < nnow; i++)
		rtcr__vdso_sym__free_unpacked(now[i], NULL);
	free(now);
	return ret;
}

/* Move the stub's vDSO and vvar areas where the image had them. */
static int move_vdso(struct rst_ctx *r)
{
	const Rtcr__Process *p = r->proc;
	char path[64], *maps = NULL, *line, *save = NULL;
	struct maps_line cur[8];
	int ncur = 0, nimg = 0, ret = 0;
	const Rtcr__Vma *img[8];
	uint64_t lo = 0, hi = 0, tmp;
	long res;

	for (size_t i = 0; i < p->n_vmas && nimg < 8; i++)
		if (p->vmas[i]->kind == RTCR__VMA_KIND__VMA_VDSO ||
		    p->vmas[i]->kind == RTCR__VMA_KIND__VMA_VVAR)
			img[nimg++] = p->vmas[i];
	snprintf(path, sizeof(path), "/proc/%d/maps", r->pid);
	if (read_file(path, &maps) < 0)
		return pr_perror("read %s", path);
	for (line = strtok_r(maps, "\n", &save); line && ncur < 8;
	     line = strtok_r(NULL, "\n", &save)) {
		if (memory_parse_maps_line(line, &cur[ncur]))
			continue;
		if (!strcmp(cur[ncur].path, "[vdso]") || !strncmp(cur[ncur].path, "[vvar", 5))
			ncur++;
	}
	free(maps);
	if (nimg == 0 && ncur == 0)
		return 0;
	if (nimg != ncur)
		goto differs;
	for (int i = 0; i < nimg; i++) {
		if (!img[i]->path || strcmp(img[i]->path, cur[i].path) ||
		    img[i]->end - img[i]->start != cur[i].end - cur[i].start ||
		    img[i]->start - img[0]->start != cur[i].start - cur[0].start)
			goto differs;
	}
	if (getenv("RTCR_VDSO_PROXY"))
		goto differs;
	lo = cur[0].start;
	hi = cur[ncur - 1].end;
	if (img[0]->start == lo)
		return 0;
	/* two hops through a free area, so that old and new places may overlap */
	ret = call(r, &res, "reserve room for the vDSO", __NR_mmap, 0, hi - lo, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0);
	if (ret)
		return ret;
	tmp = (uint64_t)res;
	for (int hop = 0; hop < 2; hop++) {
		for (int i = 0; i < ncur; i++) {
			uint64_t from = hop == 0 ? cur[i].start : tmp + (cur[i].start - lo);
			uint64_t to = hop == 0 ? tmp + (cur[i].start - lo) : img[i]->start;

			ret = call(r, NULL, "move the vDSO", __NR_mremap, from,
				   cur[i].end - cur[i].start, cur[i].end - cur[i].start,
				   MREMAP_MAYMOVE | MREMAP_FIXED, to, 0);
			if (ret) {
				pr_err("cannot move %s from 0x%" PRIx64 " to 0x%" PRIx64,
				       cur[i].path, from, to);
				return ret;
			}
		}
	}
	/* the syscall instruction we end with moved with the vDSO */
	if (r->vdso_ip >= lo && r->vdso_ip < hi)
		r->vdso_ip = r->vdso_ip - lo + img[0]->start;
	return 0;
differs:
	return proxy_vdso(r, img, nimg, cur, ncur);
}

struct tfile {
	const char *path;
	int flags;
	long fd;
};

static int target_open(struct rst_ctx *r, struct tfile *cache, int *ncache, const char *path,
		       int flags, long *fd)
{
	uint64_t addr;
	int ret;

	for (int i = 0; i < *ncache; i++) {
		if (cache[i].flags == flags && !strcmp(cache[i].path, path)) {
			*fd = cache[i].fd;
			return 0;
		}
	}
	ret = rst_scratch_put(r, 0, path, strlen(path) + 1, &addr);
	if (ret)
		return ret;
	ret = call(r, fd, path, __NR_openat, (uint64_t)AT_FDCWD, addr,
		   (uint64_t)(flags | O_CLOEXEC), 0, 0, 0);
	if (ret)
		return ret;
	if (*ncache < 64) {
		cache[*ncache].path = path;
		cache[*ncache].flags = flags;
		cache[*ncache].fd = *fd;
		(*ncache)++;
	}
	/* else: the caller closes it after mapping (see memory_restore) */
	return 0;
}

/*
 * A mapping of a file that was deleted: a new unnamed file (O_TMPFILE) in
 * the same directory, filled from the image, passed into the target; the
 * maps show it as deleted, as before. One per file (cache by shmem id).
 */
static int ghost_target_fd(struct rst_ctx *r, const Rtcr__Vma *v, struct tfile *cache, int *ncache,
			   long *fd)
{
	static const char tag[] = "\x01ghost";
	char dir[4096], *slash;
	int ours, tfd, ret = 0;

	for (int i = 0; i < *ncache; i++) {
		if (cache[i].path == tag && cache[i].flags == (int)v->shmem_id) {
			*fd = cache[i].fd;
			return 0;
		}
	}
	snprintf(dir, sizeof(dir), "%s", v->path);
	slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	ours = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (ours < 0)
		return pr_perror("restore: %s: make a file in %s", v->path, dir);
	for (size_t i = 0; i < r->img->n_pagemap && !ret; i++) {
		const Rtcr__PageRun *pr = r->img->pagemap[i];
		const void *data;
		size_t len;

		if (pr->shmem_id != v->shmem_id)
			continue;
		ret = img_run_data(r->im, i, !r->verified, &data, &len);
		if (!ret && pwrite(ours, data, len, (off_t)pr->addr) != (ssize_t)len)
			ret = pr_perror("restore: %s: write its contents", v->path);
	}
	if (!ret && ftruncate(ours, (off_t)v->file_size) < 0)
		ret = pr_perror("restore: %s: set its size", v->path);
	if (!ret)
		ret = rst_pass_fd(r, ours, &tfd);
	close(ours);
	if (ret)
		return ret;
	*fd = tfd;
	if (*ncache < 64) {
		cache[*ncache].path = tag;
		cache[*ncache].flags = (int)v->shmem_id;
		cache[*ncache].fd = tfd;
		(*ncache)++;
	} else {
		pr_err("too many deleted files mapped");
		return -E2BIG;
	}
	return 0;
}

static bool vma_has_pages(struct rst_ctx *r, const Rtcr__Vma *v)
{
	const Rtcr__Image *img = r->img;

	for (size_t i = 0; i < img->n_pagemap; i++) {
		const Rtcr__PageRun *pr = img->pagemap[i];

		if (pr->shmem_id == 0 && pr->addr < v->end &&
		    pr->addr + (uint64_t)pr->npages * PG > v->start)
			return true;
	}
	return false;
}

/*
 * Filling the target's anonymous memory: a userfaultfd of the target (made
 * by an injected syscall, taken over with pidfd_getfd) lets us install
 * each run with UFFDIO_COPY, which allocates the pages and copies into
 * them in one go, without first zeroing them as a fault would: about 1.8x
 * faster than process_vm_writev here. Anything it cannot do (file-backed
 * private mappings, no userfaultfd) goes through process_vm_writev.
 */
struct uffd_ctx {
	int fd;
	const Rtcr__Vma **regs; /* registered VMAs */
	size_t nregs;
};

static int uffd_setup(struct rst_ctx *r, struct uffd_ctx *u)
{
	const Rtcr__Process *p = r->proc;
	struct uffdio_api api;
	long tfd = -1;
	int pidfd = -1, ret;

	u->fd = -1;
	if (getenv("RTCR_NO_UFFD"))
		return -ENOTSUP;
	ret = inject_syscall(&r->ij, &tfd, __NR_userfaultfd, O_CLOEXEC, 0, 0, 0, 0, 0);
	if (ret)
		return ret;
	if (tfd < 0) {
		pr_debug("no userfaultfd in the target (%s): writing pages directly",
			 strerror((int)-tfd));
		return -ENOTSUP;
	}
	pidfd = (int)syscall(__NR_pidfd_open, r->pid, 0);
	if (pidfd >= 0)
		u->fd = (int)syscall(__NR_pidfd_getfd, pidfd, (int)tfd, 0);
	if (pidfd >= 0)
		close(pidfd);
	call(r, NULL, "close", __NR_close, (uint64_t)tfd, 0, 0, 0, 0, 0);
	if (u->fd < 0) {
		pr_debug("cannot take the target's userfaultfd: %s", strerror(errno));
		return -ENOTSUP;
	}
	memset(&api, 0, sizeof(api));
	api.api = UFFD_API;
	if (ioctl(u->fd, UFFDIO_API, &api) < 0)
		goto fail;
	u->regs = calloc(p->n_vmas + 1, sizeof(*u->regs));
	if (!u->regs)
		goto fail;
	for (size_t i = 0; i < p->n_vmas; i++) {
		const Rtcr__Vma *v = p->vmas[i];
		struct uffdio_register reg;

		if (v->kind != RTCR__VMA_KIND__VMA_ANON || !vma_has_pages(r, v))
			continue;
		memset(&reg, 0, sizeof(reg));
		reg.range.start = v->start;
		reg.range.len = v->end - v->start;
		reg.mode = UFFDIO_REGISTER_MODE_MISSING;
		if (ioctl(u->fd, UFFDIO_REGISTER, &reg) < 0) {
			pr_debug("userfaultfd: cannot register 0x%" PRIx64 ": %s", v->start,
				 strerror(errno));
			continue;
		}
		u->regs[u->nregs++] = v;
	}
	return 0;
fail:
	pr_debug("userfaultfd setup failed: %s", strerror(errno));
	close(u->fd);
	u->fd = -1;
	return -ENOTSUP;
}

static void uffd_teardown(struct uffd_ctx *u)
{
	for (size_t i = 0; i < u->nregs; i++) {
		struct uffdio_range rg = {u->regs[i]->start, u->regs[i]->end - u->regs[i]->start};

		if (ioctl(u->fd, UFFDIO_UNREGISTER, &rg) < 0)
			pr_warn("userfaultfd: cannot unregister 0x%llx: %s",
				(unsigned long long)rg.start, strerror(errno));
	}
	if (u->fd >= 0)
		close(u->fd);
	free(u->regs);
	u->fd = -1;
	u->regs = NULL;
	u->nregs = 0;
}

static bool uffd_covers(const struct uffd_ctx *u, uint64_t addr)
{
	for (size_t i = 0; i < u->nregs; i++)
		if (addr >= u->regs[i]->start && addr < u->regs[i]->end)
			return true;
	return false;
}

static int uffd_copy(struct uffd_ctx *u, uint64_t dst, const void *src, size_t len)
{
	size_t done = 0;

	while (done < len) {
		struct uffdio_copy c;

		memset(&c, 0, sizeof(c));
		c.dst = dst + done;
		c.src = (uint64_t)(uintptr_t)src + done;
		c.len = len - done;
		if (ioctl(u->fd, UFFDIO_COPY, &c) == 0)
			break;
		if (c.copy > 0) {
			done += (size_t)c.copy;
			continue;
		}
		if (errno == EAGAIN || c.copy == -EAGAIN)
			continue;
		return pr_perror("userfaultfd copy of %zu bytes to 0x%" PRIx64, len - done,
				 dst + done);
	}
	return 0;
}

static int write_private_pages(struct rst_ctx *r)
{
	const Rtcr__Image *img = r->img;
	struct iovec liov[256], riov[256];
	struct uffd_ctx u = {.fd = -1};
	size_t cnt = 0;
	ssize_t want = 0, got;
	bool have_uffd;
	int ret = 0;

	have_uffd = uffd_setup(r, &u) == 0;
	for (size_t i = 0; i <= img->n_pagemap; i++) {
		const void *data;
		size_t len;

		if (i < img->n_pagemap) {
			const Rtcr__PageRun *pr = img->pagemap[i];

			if (pr->shmem_id)
				continue;
			if (pr->pid && pr->pid != r->proc->pid)
				continue;
			ret = img_run_data(r->im, i, !r->verified, &data, &len);
			if (ret)
				goto out;
			if (have_uffd &&
			    uffd_covers(&u, pr->addr) != uffd_covers(&u, pr->addr + len - 1)) {
				/* writing it directly could fault on our own registration */
				pr_err("pid %u: page run at 0x%" PRIx64
				       " crosses a mapping boundary",
				       r->proc->pid, pr->addr);
				ret = -EINVAL;
				goto out;
			}
			if (have_uffd && uffd_covers(&u, pr->addr)) {
				ret = uffd_copy(&u, pr->addr, data, len);
				if (ret)
					goto out;
				continue;
			}
			liov[cnt].iov_base = (void *)data;
			liov[cnt].iov_len = len;
			riov[cnt].iov_base = (void *)(uintptr_t)pr->addr;
			riov[cnt].iov_len = len;
			want += (ssize_t)len;
			cnt++;
		}
		if (cnt && (cnt == 256 || i == img->n_pagemap)) {
			got = process_vm_writev(r->pid, liov, cnt, riov, cnt, 0);
			if (got != want) {
				if (got < 0) {
					ret = pr_perror("write memory of pid %u", r->proc->pid);
					goto out;
				}
				pr_err("short write of memory of pid %u (%zd of %zd)", r->proc->pid,
				       got, want);
				ret = -EFAULT;
				goto out;
			}
			cnt = 0;
			want = 0;
		}
	}
out:
	if (have_uffd)
		uffd_teardown(&u);
	return ret;
}

/* A descriptor rtcr keeps in the target during the restore must not sit
 * on a number the image gives to one of the target's own descriptors (the
 * files session would dup3 over it): move it above them all. */
static int move_high(struct rst_ctx *r, long *tfd)
{
	uint64_t min = (uint64_t)r->xfer_fd + 1;
	long hi;
	int ret;

	for (size_t j = 0; j < r->proc->n_fds; j++)
		if (r->proc->fds[j]->fd + 1ULL > min)
			min = r->proc->fds[j]->fd + 1ULL;
	if ((uint64_t)*tfd >= min)
		return 0;
	ret = call(r, &hi, "move a descriptor out of the way", __NR_fcntl, (uint64_t)*tfd,
		   F_DUPFD_CLOEXEC, min, 0, 0, 0);
	call(r, NULL, "close", __NR_close, (uint64_t)*tfd, 0, 0, 0, 0, 0);
	*tfd = ret ? -1 : hi;
	return ret;
}

/* A shared object another process of the image created already: open it
 * here through /proc (the stub's /proc shows its pid namespace) and map it. */
static int attach_shmem(struct rst_ctx *r, const Rtcr__Shmem *sh, int owner)
{
	struct rst_shared *S = r->shared;
	const struct rst_ctx *o = &S->procs[owner];
	char path[128];
	uint64_t addr;
	long tfd = -1;
	int ret;

	if (sh->memfd)
		snprintf(path, sizeof(path), "/proc/%u/fd/%d", o->proc->pid,
			 S->shmem_owner_tfd[sh->id]);
	else
		snprintf(path, sizeof(path), "/proc/%u/map_files/%" PRIx64 "-%" PRIx64,
			 o->proc->pid, S->shmem_owner_start[sh->id], S->shmem_owner_end[sh->id]);
	ret = rst_scratch_put(r, 0, path, strlen(path) + 1, &addr);
	if (ret)
		return ret;
	ret =
	    call(r, &tfd, path, __NR_openat, (uint64_t)AT_FDCWD, addr, O_RDWR | O_CLOEXEC, 0, 0, 0);
	if (ret)
		return ret;
	ret = move_high(r, &tfd);
	if (ret)
		return ret;
	/* the object is whole: every piece at its own offset */
	for (size_t i = 0; i < r->proc->n_vmas && !ret; i++) {
		const Rtcr__Vma *v = r->proc->vmas[i];

		if (v->kind != RTCR__VMA_KIND__VMA_SHMEM || v->shmem_id != sh->id)
			continue;
		ret = call(r, NULL, "map shared memory", __NR_mmap, v->start, v->end - v->start,
			   v->prot, MAP_SHARED | MAP_FIXED, (uint64_t)tfd, v->pgoff);
	}
	if (!ret && sh->memfd && r->shmem_tfd && sh->id <= r->nshmem_tfd)
		r->shmem_tfd[sh->id] = (int)tfd;
	else
		call(r, NULL, "close", __NR_close, (uint64_t)tfd, 0, 0, 0, 0, 0);
	return ret;
}

/* A memfd's owner and permission bits (fchown first: it may clear the
 * set-id bits). Images without them keep memfd_create's. */
static int memfd_owner_mode(struct rst_ctx *r, const Rtcr__Shmem *sh, long tfd)
{
	int ret = 0;

	if (sh->has_uid && sh->has_gid)
		ret = call(r, NULL, "fchown a memfd", __NR_fchown, (uint64_t)tfd, sh->uid, sh->gid,
			   0, 0, 0);
	if (!ret && sh->has_mode)
		ret = call(r, NULL, "fchmod a memfd", __NR_fchmod, (uint64_t)tfd, sh->mode, 0, 0, 0,
			   0);
	if (ret)
		pr_err("pid %u: memfd %s: owner %u:%u mode 0%o not restored", r->proc->pid,
		       sh->name, sh->uid, sh->gid, sh->mode);
	return ret;
}

/*
 * A new shared anonymous object of the size it had (MAP_SHARED|
 * MAP_ANONYMOUS, reached through /proc/self/map_files, the mapping made
 * for that undone): its pieces are then mapped from *tfd at their offsets,
 * as the one object they were.
 */
static int anon_shmem_object(struct rst_ctx *r, const Rtcr__Shmem *sh, long *tfd)
{
	uint64_t size = sh->size, addr;
	char path[96];
	long res;
	int ret;

	for (size_t i = 0; i < r->proc->n_vmas && !size; i++) {
		const Rtcr__Vma *v = r->proc->vmas[i];

		if (v->kind == RTCR__VMA_KIND__VMA_SHMEM && v->shmem_id == sh->id &&
		    v->pgoff + (v->end - v->start) > size)
			size = v->pgoff + (v->end - v->start);
	}
	ret = call(r, &res, "make shared anonymous memory", __NR_mmap, 0, size,
		   PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, (uint64_t)-1, 0);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%" PRIx64, res,
		 (uint64_t)res + size);
	ret = rst_scratch_put(r, 0, path, strlen(path) + 1, &addr);
	if (!ret)
		ret = call(r, tfd, path, __NR_openat, (uint64_t)AT_FDCWD, addr, O_RDWR | O_CLOEXEC,
			   0, 0, 0);
	if (call(r, NULL, "munmap", __NR_munmap, (uint64_t)res, size, 0, 0, 0, 0) && !ret)
		ret = -EFAULT;
	if (!ret)
		ret = move_high(r, tfd);
	return ret;
}

static int restore_shmem(struct rst_ctx *r, const Rtcr__Shmem *sh)
{
	const Rtcr__Process *p = r->proc;
	const Rtcr__Vma *first = NULL;
	struct rst_shared *S = r->shared;
	char path[128];
	uint64_t addr;
	long tfd = -1, res;
	int fd = -1, ret = 0;
	bool mapped = false;

	for (size_t i = 0; i < p->n_vmas; i++)
		if (p->vmas[i]->kind == RTCR__VMA_KIND__VMA_SHMEM && p->vmas[i]->shmem_id == sh->id)
			mapped = true;
	if (!sh->memfd && !mapped)
		return 0;
	if (S && sh->id <= r->img->n_shmem && S->shmem_owner[sh->id] >= 0 &&
	    S->shmem_owner[sh->id] != (int)r->index)
		return attach_shmem(r, sh, S->shmem_owner[sh->id]);
	if (sh->memfd) {
		/* the object itself; kept open for descriptors that name it */
		ret = rst_scratch_put(r, 0, sh->name, strlen(sh->name) + 1, &addr);
		if (ret)
			return ret;
		ret = call(r, &tfd, "memfd_create", __NR_memfd_create, addr,
			   MFD_CLOEXEC | (sh->seals ? MFD_ALLOW_SEALING : 0), 0, 0, 0, 0);
		if (ret)
			return ret;
		ret = move_high(r, &tfd);
		if (ret)
			return ret;
		ret = call(r, NULL, "size a memfd", __NR_ftruncate, (uint64_t)tfd, sh->size, 0, 0,
			   0, 0);
		if (!ret)
			ret = memfd_owner_mode(r, sh, tfd);
		if (ret)
			goto out;
	} else {
		ret = anon_shmem_object(r, sh, &tfd);
		if (ret)
			goto out;
	}
	for (size_t i = 0; i < p->n_vmas; i++) {
		const Rtcr__Vma *v = p->vmas[i];

		if (v->kind != RTCR__VMA_KIND__VMA_SHMEM || v->shmem_id != sh->id)
			continue;
		if (!first)
			first = v;
		ret = call(r, NULL, sh->memfd ? "map a memfd" : "map shared memory", __NR_mmap,
			   v->start, v->end - v->start, v->prot, MAP_SHARED | MAP_FIXED,
			   (uint64_t)tfd, v->pgoff);
		if (ret)
			goto out;
	}
	/* contents: written by us through the object itself */
	snprintf(path, sizeof(path), "/proc/%d/fd/%ld", r->pid, tfd);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		ret = pr_perror("open %s", path);
		goto out;
	}
	for (size_t i = 0; i < r->img->n_pagemap; i++) {
		const Rtcr__PageRun *pr = r->img->pagemap[i];
		const void *data;
		size_t len;

		if (pr->shmem_id != sh->id)
			continue;
		ret = img_run_data(r->im, i, !r->verified, &data, &len);
		if (ret)
			goto out;
		if (pwrite(fd, data, len, (off_t)pr->addr) != (ssize_t)len) {
			ret = pr_perror("write shared memory %s", sh->name);
			goto out;
		}
	}
	if (sh->memfd && sh->seals) {
		if (call(r, &res, "seal a memfd", __NR_fcntl, (uint64_t)tfd, F_ADD_SEALS, sh->seals,
			 0, 0, 0))
			pr_warn("memfd %s: seals 0x%x not restored", sh->name, sh->seals);
	}
out:
	if (fd >= 0)
		close(fd);
	if (!ret && S && sh->id <= r->img->n_shmem) {
		/* the other processes with this object attach to ours */
		S->shmem_owner[sh->id] = (int)r->index;
		S->shmem_owner_tfd[sh->id] = (int)tfd;
		if (first) {
			S->shmem_owner_start[sh->id] = first->start;
			S->shmem_owner_end[sh->id] = first->end;
			S->shmem_owner_pgoff[sh->id] = first->pgoff;
		}
	}
	if (tfd >= 0) {
		if (!ret && sh->memfd && r->shmem_tfd && sh->id <= r->nshmem_tfd)
			r->shmem_tfd[sh->id] = (int)tfd;
		else
			call(r, NULL, "close", __NR_close, (uint64_t)tfd, 0, 0, 0, 0, 0);
	}
	return ret;
}

static int restore_mm(struct rst_ctx *r)
{
	const Rtcr__MmInfo *mm = r->proc->mm;
	struct prctl_mm_map map;
	uint64_t addr, auxv_addr;
	long exe_fd = -1;
	int ret;

	if (!mm)
		return 0;
	if (mm->exe) {
		ret = rst_scratch_put(r, 0, mm->exe, strlen(mm->exe) + 1, &addr);
		if (ret)
			return ret;
		if (call(r, &exe_fd, "open the executable", __NR_openat, (uint64_t)AT_FDCWD, addr,
			 O_RDONLY | O_CLOEXEC, 0, 0, 0))
			exe_fd = -1;
	}
	memset(&map, 0, sizeof(map));
	map.start_code = mm->start_code;
	map.end_code = mm->end_code;
	map.start_data = mm->start_data;
	map.end_data = mm->end_data;
	map.start_brk = mm->start_brk;
	map.brk = mm->brk;
	map.start_stack = mm->start_stack;
	map.arg_start = mm->arg_start;
	map.arg_end = mm->arg_end;
	map.env_start = mm->env_start;
	map.env_end = mm->env_end;
	map.exe_fd = exe_fd >= 0 ? (uint32_t)exe_fd : (uint32_t)-1;
	ret = rst_scratch_put(r, 1024, mm->auxv, mm->n_auxv * 8, &auxv_addr);
	if (ret)
		return ret;
	map.auxv = (__u64 *)(uintptr_t)auxv_addr;
	map.auxv_size = (uint32_t)(mm->n_auxv * 8);
	ret = rst_scratch_put(r, 0, &map, sizeof(map), &addr);
	if (ret)
		return ret;
	ret = call(r, NULL, "PR_SET_MM_MAP (brk, stack, arguments, environment, auxv, exe)",
		   __NR_prctl, PR_SET_MM, PR_SET_MM_MAP, addr, sizeof(map), 0, 0);
	if (exe_fd >= 0)
		call(r, NULL, "close", __NR_close, (uint64_t)exe_fd, 0, 0, 0, 0, 0);
	return ret;
}

/*
 * The madvise/mlock state of v: hints first, then the lock (mlock2 with
 * MLOCK_ONFAULT for "lf"), guard pages, the anonymous name, and the seal
 * last (a sealed VMA cannot be changed any more). A state the kernel does
 * not take fails the restore: the checkpoint saw it set on a kernel that
 * had it.
 */
static int apply_madv(struct rst_ctx *r, const Rtcr__Vma *v)
{
	static const struct {
		uint64_t bit;
		int advice;
		const char *name;
	} tab[] = {
	    {MADVB_HUGEPAGE, MADV_HUGEPAGE, "MADV_HUGEPAGE"},
	    {MADVB_NOHUGEPAGE, MADV_NOHUGEPAGE, "MADV_NOHUGEPAGE"},
	    {MADVB_DONTFORK, MADV_DONTFORK, "MADV_DONTFORK"},
	    {MADVB_DONTDUMP, MADV_DONTDUMP, "MADV_DONTDUMP"},
	    {MADVB_WIPEONFORK, MADV_WIPEONFORK, "MADV_WIPEONFORK"},
	    {MADVB_MERGEABLE, MADV_MERGEABLE, "MADV_MERGEABLE (KSM)"},
	    {MADVB_SEQUENTIAL, MADV_SEQUENTIAL, "MADV_SEQUENTIAL"},
	    {MADVB_RANDOM, MADV_RANDOM, "MADV_RANDOM"},
	};
	uint64_t len = v->end - v->start, addr;
	int ret = 0;

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]) && !ret; i++)
		if (v->madv & tab[i].bit)
			ret = call(r, NULL, tab[i].name, __NR_madvise, v->start, len,
				   (uint64_t)tab[i].advice, 0, 0, 0);
	if (!ret && (v->madv & MADVB_LOCKED))
		ret = call(r, NULL, "mlock2", __NR_mlock2, v->start, len,
			   (v->madv & MADVB_LOCKONFAULT) ? MLOCK_ONFAULT : 0, 0, 0, 0);
	for (size_t g = 0; g + 1 < v->n_guards && !ret; g += 2)
		ret = call(r, NULL, "MADV_GUARD_INSTALL", __NR_madvise, v->guards[g],
			   v->guards[g + 1] - v->guards[g], MADV_GUARD_INSTALL, 0, 0, 0);
	if (!ret && v->anon_name) {
		ret = rst_scratch_put(r, 0, v->anon_name, strlen(v->anon_name) + 1, &addr);
		if (!ret && call(r, NULL, "name an anonymous mapping", __NR_prctl, PR_SET_VMA,
				 PR_SET_VMA_ANON_NAME, v->start, len, addr, 0))
			pr_warn("0x%" PRIx64 ": anonymous name '%s' not restored", v->start,
				v->anon_name);
	}
	if (!ret && (v->madv & MADVB_SEALED))
		ret = call(r, NULL, "mseal", __NR_mseal, v->start, len, 0, 0, 0, 0);
	if (ret)
		pr_err("pid %u: the state of the mapping at 0x%" PRIx64 "-0x%" PRIx64
		       " (madvise/mlock/mseal 0x%" PRIx64 ") cannot be restored",
		       r->proc->pid, v->start, v->end, v->madv);
	return ret;
}

int memory_restore(struct rst_ctx *r)
{
	const Rtcr__Process *p = r->proc;
	struct tfile cache[64];
	int ncache = 0, ret;
	bool *wprot = NULL;

	ret = unmap_stub(r);
	if (ret)
		return ret;
	ret = move_vdso(r);
	if (ret)
		return ret;
	wprot = calloc(p->n_vmas + 1, sizeof(bool));
	if (!wprot)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_vmas; i++) {
		const Rtcr__Vma *v = p->vmas[i];
		uint64_t len = v->end - v->start;
		uint32_t prot = v->prot;
		uint32_t gd = ((v->flags & MAP_GROWSDOWN) ? MAP_GROWSDOWN : 0) |
			      ((v->madv & MADVB_NORESERVE) ? MAP_NORESERVE : 0);
		long fd = -1;

		switch (v->kind) {
		case RTCR__VMA_KIND__VMA_ANON:
			if (vma_has_pages(r, v) &&
			    (prot & (PROT_READ | PROT_WRITE)) != (PROT_READ | PROT_WRITE)) {
				prot |= PROT_READ | PROT_WRITE;
				wprot[i] = true;
			}
			ret = call(r, NULL, "map anonymous memory", __NR_mmap, v->start, len, prot,
				   ((v->madv & MADVB_DROPPABLE) ? MAP_DROPPABLE : MAP_PRIVATE) |
				       MAP_ANONYMOUS | MAP_FIXED | gd,
				   (uint64_t)-1, 0);
			break;
		case RTCR__VMA_KIND__VMA_FILE_PRIVATE:
		case RTCR__VMA_KIND__VMA_FILE_SHARED: {
			bool shared = v->kind == RTCR__VMA_KIND__VMA_FILE_SHARED;
			int oflags = shared && (v->madv & MADVB_MAYWRITE) ? O_RDWR : O_RDONLY;

			if (!shared && vma_has_pages(r, v) &&
			    (prot & (PROT_READ | PROT_WRITE)) != (PROT_READ | PROT_WRITE)) {
				prot |= PROT_READ | PROT_WRITE;
				wprot[i] = true;
			}
			if (v->has_shmem_id)
				ret = ghost_target_fd(r, v, cache, &ncache, &fd);
			else
				ret = target_open(r, cache, &ncache, v->path, oflags, &fd);
			if (ret)
				break;
			ret = call(r, NULL, v->path, __NR_mmap, v->start, len, prot,
				   (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_FIXED | gd,
				   (uint64_t)fd, v->pgoff);
			{
				bool cached = false;

				for (int k = 0; k < ncache; k++)
					cached |= cache[k].fd == fd;
				if (!cached)
					call(r, NULL, "close", __NR_close, (uint64_t)fd, 0, 0, 0, 0,
					     0);
			}
			break;
		}
		case RTCR__VMA_KIND__VMA_SYSV_SHM:
			ret = ipc_shm_attach(r, v, v->madv & MADVB_MAYWRITE);
			break;
		default:
			break; /* vDSO/vvar moved; shmem below; vsyscall is the kernel's */
		}
		if (ret) {
			pr_err("cannot map 0x%" PRIx64 "-0x%" PRIx64 " %s", v->start, v->end,
			       v->path ? v->path : "");
			goto out;
		}
	}
	for (int i = 0; i < ncache; i++)
		call(r, NULL, "close", __NR_close, (uint64_t)cache[i].fd, 0, 0, 0, 0, 0);
	ncache = 0;
	for (size_t i = 0; i < r->img->n_shmem; i++) {
		ret = restore_shmem(r, r->img->shmem[i]);
		if (ret)
			goto out;
	}
	ret = write_private_pages(r);
	if (ret)
		goto out;
	for (size_t i = 0; i < p->n_vmas; i++) {
		const Rtcr__Vma *v = p->vmas[i];

		if (wprot[i]) {
			ret = call(r, NULL, "mprotect", __NR_mprotect, v->start, v->end - v->start,
				   v->prot, 0, 0, 0);
			if (ret)
				goto out;
		}
		if (v->kind != RTCR__VMA_KIND__VMA_VDSO && v->kind != RTCR__VMA_KIND__VMA_VVAR &&
		    v->kind != RTCR__VMA_KIND__VMA_VSYSCALL) {
			ret = apply_madv(r, v);
			if (ret)
				goto out;
		}
	}
	ret = restore_mm(r);
out:
	for (int i = 0; i < ncache; i++)
		call(r, NULL, "close", __NR_close, (uint64_t)cache[i].fd, 0, 0, 0, 0, 0);
	free(wprot);
	return ret;
}
