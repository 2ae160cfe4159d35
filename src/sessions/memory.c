/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * RAM / RM sessions: the address space. Every VMA (private and shared
 * anonymous, private and shared file mappings, memfd, heap, stack, guard
 * regions, PROT_NONE reservations, vDSO/vvar position), the contents of
 * every page not backed unchanged by a file (pages never touched are
 * skipped), and the mm fields (code/data/brk/stack/arg/env bounds, auxv,
 * exe).
 *
 * Checkpoint: smaps is read and the parent's buffer faulted in before the
 * pause; in the pause, maps + PAGEMAP_SCAN find the pages to save and
 * process_vm_readv copies them. Shared memory objects are read through
 * /proc/PID/map_files, only their data ranges (SEEK_DATA).
 * Restore: the stub's own mappings go, its vDSO/vvar move to the recorded
 * place, every VMA is mapped at its address, contents are written with
 * process_vm_writev, then protections, madvise state and mm fields.
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
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <signal.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include "core/arch/x86_64/vdso.h"
#include "core/compat.h"
#include "sessions/session.h"
#include "sessions/ipc.h"
#include "base/log.h"
#include "core/proc.h"

#define PG	 4096ULL
#define TASK_TOP 0x800000000000ULL

/* Vma.madv bits */
enum {
	MADVB_HUGEPAGE = 1 << 0,
	MADVB_NOHUGEPAGE = 1 << 1,
	MADVB_DONTFORK = 1 << 2,
	MADVB_DONTDUMP = 1 << 3,
	MADVB_WIPEONFORK = 1 << 4,
	MADVB_MERGEABLE = 1 << 5,
	MADVB_LOCKED = 1 << 6,
	MADVB_MAYWRITE = 1 << 7,  /* shared file mapping whose file is open for writing */
	MADVB_NORESERVE = 1 << 8, /* MAP_NORESERVE */
};

struct maps_line {
	uint64_t start, end, pgoff, ino;
	char perms[5];
	char path[4096];
};

static int parse_maps_line(const char *l, struct maps_line *m)
{
	unsigned long long s, e, off, ino;
	unsigned int maj, min;
	char perms[8];
	int n = 0;

	if (sscanf(l, "%llx-%llx %7s %llx %x:%x %llu %n", &s, &e, perms, &off, &maj, &min, &ino,
		   &n) < 7)
		return -EINVAL;
	m->start = s;
	m->end = e;
	m->pgoff = off;
	m->ino = ino;
	memcpy(m->perms, perms, 4);
	m->perms[4] = '\0';
	snprintf(m->path, sizeof(m->path), "%s", l + n);
	m->path[strcspn(m->path, "\n")] = '\0';
	return 0;
}

static uint64_t madv_from_vmflags(const char *f)
{
	uint64_t m = 0;

	for (const char *p = f; p[0] && p[1]; p += 3) {
		if (!strncmp(p, "hg", 2))
			m |= MADVB_HUGEPAGE;
		else if (!strncmp(p, "nh", 2))
			m |= MADVB_NOHUGEPAGE;
		else if (!strncmp(p, "dc", 2))
			m |= MADVB_DONTFORK;
		else if (!strncmp(p, "dd", 2))
			m |= MADVB_DONTDUMP;
		else if (!strncmp(p, "wf", 2))
			m |= MADVB_WIPEONFORK;
		else if (!strncmp(p, "mg", 2))
			m |= MADVB_MERGEABLE;
		else if (!strncmp(p, "lo", 2))
			m |= MADVB_LOCKED;
		else if (!strncmp(p, "mw", 2))
			m |= MADVB_MAYWRITE;
		else if (!strncmp(p, "nr", 2))
			m |= MADVB_NORESERVE;
		if (!p[2])
			break;
	}
	return m;
}

/* ---------- checkpoint ---------- */

/* Before the pause: smaps (VmFlags, sizes) and the parent's buffer. */
static int read_smaps(struct ckpt_ctx *c)
{
	char path[64], *buf = NULL, *line, *save = NULL;
	struct maps_line m;
	struct premap *cur = NULL;
	uint64_t est = 0;
	bool shared = false;
	int ret = 0;

	snprintf(path, sizeof(path), "/proc/%d/smaps", c->pid);
	if (read_file(path, &buf) < 0)
		return pr_perror("read %s", path);
	free(c->pre);
	c->pre = NULL;
	c->npre = 0;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] >= '0' && line[0] <= '9' && strchr(line, '-') &&
		    parse_maps_line(line, &m) == 0 && strchr(line, ' ') > strchr(line, '-')) {
			struct premap *np = realloc(c->pre, sizeof(*np) * (c->npre + 1));

			if (!np) {
				ret = -ENOMEM;
				goto out;
			}
			c->pre = np;
			cur = &c->pre[c->npre++];
			cur->start = m.start;
			cur->end = m.end;
			cur->vmflags[0] = '\0';
			shared = m.perms[3] == 's';
			continue;
		}
		if (!cur)
			continue;
		if (!strncmp(line, "VmFlags:", 8)) {
			snprintf(cur->vmflags, sizeof(cur->vmflags), "%s", line + 9);
		} else if (!shared &&
			   (!strncmp(line, "Anonymous:", 10) || !strncmp(line, "Swap:", 5))) {
			est += strtoull(strchr(line, ':') + 1, NULL, 10) * 1024;
		} else if (shared && !strncmp(line, "Rss:", 4)) {
			est += strtoull(line + 4, NULL, 10) * 1024;
		}
	}
	c->est_bytes = est;
out:
	free(buf);
	return ret;
}

/* Before the pause: smaps of c->pid into c->pre / c->est_bytes. */
int mem_read_smaps(struct ckpt_ctx *c)
{
	return read_smaps(c);
}

/* Before the pause: the parent's buffer for `bytes` of pages, faulted in. */
int mem_prealloc(struct ckpt_ctx *c, uint64_t bytes)
{
	size_t want;
	void *p;

	want = (size_t)(bytes + bytes / 32 + (4ULL << 20));
	want = (want + (2UL << 20) - 1) & ~((2UL << 20) - 1);
	p = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return pr_perror("allocate %zu bytes for the checkpoint", want);
	madvise(p, want, MADV_HUGEPAGE);
	/* fault it in now, not inside the pause */
	if (madvise(p, want, MADV_POPULATE_WRITE) < 0) {
		for (size_t off = 0; off < want; off += PG)
			((volatile char *)p)[off] = 0;
	}
	c->cap->bufs[0].base = p;
	c->cap->bufs[0].cap = want;
	c->cap->bufs[0].used = 0;
	c->cap->nbufs = 1;
	return 0;
}

static int add_run(struct capture *cap, uint64_t addr, uint32_t npages, uint32_t shmem_id,
		   uint32_t pid, const void *data)
{
	struct img_page_src *r;

	if (cap->nruns == cap->runs_cap) {
		size_t nc = cap->runs_cap ? cap->runs_cap * 2 : 256;
		struct img_page_src *nr = realloc(cap->runs, nc * sizeof(*nr));

		if (!nr)
			return -ENOMEM;
		cap->runs = nr;
		cap->runs_cap = nc;
	}
	r = &cap->runs[cap->nruns++];
	r->addr = addr;
	r->npages = npages;
	r->shmem_id = shmem_id;
	r->pid = pid;
	r->data = data;
	cap->mem_bytes += (uint64_t)npages * PG;
	return 0;
}

/* Pending page ranges of one process, copied in one batch. */
struct rangev {
	struct {
		uint64_t start, end;
		bool force; /* not readable: use /proc/PID/mem */
		bool now;   /* copy inside the pause (not through the snapshot) */
	} * v;
	size_t n, cap;
	bool barrier; /* next range starts a new VMA: never merge across VMAs */
};

static int rangev_add(struct rangev *rv, uint64_t s, uint64_t e, bool force)
{
	if (rv->n && !rv->barrier && rv->v[rv->n - 1].end == s && rv->v[rv->n - 1].force == force) {
		rv->v[rv->n - 1].end = e;
		return 0;
	}
	if (rv->n == rv->cap) {
		size_t nc = rv->cap ? rv->cap * 2 : 256;
		void *nv = realloc(rv->v, nc * sizeof(*rv->v));

		if (!nv)
			return -ENOMEM;
		rv->v = nv;
		rv->cap = nc;
	}
	rv->v[rv->n].start = s;
	rv->v[rv->n].end = e;
	rv->v[rv->n].force = force;
	rv->v[rv->n].now = force;
	rv->n++;
	rv->barrier = false;
	return 0;
}

static int scan_pagemap_scan(int pmfd, uint64_t start, uint64_t end, bool file_backed,
			     struct rangev *rv, bool force, Rtcr__Vma *vma)
{
	static int guard_ok = -1;
	struct page_region regs[512];
	struct pm_scan_arg a;
	uint64_t pos = start;
	long n;
	int ret;

	while (pos < end) {
		memset(&a, 0, sizeof(a));
		a.size = sizeof(a);
		a.start = pos;
		a.end = end;
		a.vec = (uint64_t)(uintptr_t)regs;
		a.vec_len = 512;
		a.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED;
		a.return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_FILE | PAGE_IS_PFNZERO;
		if (guard_ok != 0) {
			a.category_anyof_mask |= PAGE_IS_GUARD;
			a.return_mask |= PAGE_IS_GUARD;
		}
		n = ioctl(pmfd, PAGEMAP_SCAN, &a);
		if (n < 0 && errno == EINVAL && guard_ok == -1) {
			guard_ok = 0;
			continue;
		}
		if (n < 0)
			return -errno;
		if (guard_ok == -1)
			guard_ok = 1;
		for (long i = 0; i < n; i++) {
			uint64_t cat = regs[i].categories;

			if ((cat & PAGE_IS_GUARD) && !vma)
				continue; /* recorded by the VMA's own scan */
			if (cat & PAGE_IS_GUARD) {
				size_t k = vma->n_guards;
				uint64_t *ng;

				if (k >= 2 && vma->guards[k - 1] == regs[i].start) {
					vma->guards[k - 1] = regs[i].end;
					continue;
				}
				ng = realloc(vma->guards, sizeof(uint64_t) * (k + 2));
				if (!ng)
					return -ENOMEM;
				vma->guards = ng;
				ng[k] = regs[i].start;
				ng[k + 1] = regs[i].end;
				vma->n_guards = k + 2;
				continue;
			}
			if (!(cat & (PAGE_IS_PRESENT | PAGE_IS_SWAPPED)))
				continue;
			if (cat & PAGE_IS_PFNZERO)
				continue;
			if (file_backed && (cat & PAGE_IS_FILE))
				continue;
			ret = rangev_add(rv, regs[i].start, regs[i].end, force);
			if (ret)
				return ret;
		}
		if (a.walk_end <= pos)
			break;
		pos = a.walk_end;
	}
	return 0;
}

/* Fallback for kernels without PAGEMAP_SCAN: /proc/PID/pagemap. */
static int scan_pagemap_read(int pmfd, uint64_t start, uint64_t end, bool file_backed,
			     struct rangev *rv, bool force)
{
	uint64_t ents[512];
	uint64_t pos = start;
	int ret;

	while (pos < end) {
		size_t cnt = (size_t)((end - pos) / PG);
		ssize_t n;

		if (cnt > 512)
			cnt = 512;
		n = pread(pmfd, ents, cnt * 8, (off_t)(pos / PG * 8));
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		cnt = (size_t)n / 8;
		for (size_t i = 0; i < cnt; i++) {
			uint64_t e = ents[i];
			bool present = e & (1ULL << 63), swapped = e & (1ULL << 62);
			bool file = e & (1ULL << 61);

			if (!(present || swapped) || (file_backed && file && !swapped))
				continue;
			ret = rangev_add(rv, pos + i * PG, pos + (i + 1) * PG, force);
			if (ret)
				return ret;
		}
		pos += cnt * PG;
	}
	return 0;
}

/* process_vm_readv of many (remote, local) pairs, IOV_MAX at a time. */
struct copy_item {
	uint64_t addr, len;
	void *dst;
};

static int readv_batches(pid_t pid, const struct copy_item *d, size_t n)
{
	struct iovec liov[512], riov[512];
	size_t i = 0;

	while (i < n) {
		size_t cnt = 0;
		ssize_t want = 0, got;

		for (; i < n && cnt < 512; i++, cnt++) {
			liov[cnt].iov_base = d[i].dst;
			liov[cnt].iov_len = d[i].len;
			riov[cnt].iov_base = (void *)(uintptr_t)d[i].addr;
			riov[cnt].iov_len = d[i].len;
			want += (ssize_t)d[i].len;
		}
		got = process_vm_readv(pid, liov, cnt, riov, cnt, 0);
		if (got != want) {
			if (got < 0)
				return pr_perror("read memory of %d", pid);
			pr_err("short read of memory of %d (%zd of %zd bytes)", pid, got, want);
			return -EFAULT;
		}
	}
	return 0;
}

/*
 * A copy-on-write snapshot of the target's memory: the target forks (an
 * injected clone, with CLONE_PARENT so that init, not the target, is the
 * child's parent, and CLONE_FILES so that no file gains a reference). The
 * child never runs: it is auto-attached by ptrace and stopped before its
 * first instruction. Copying its pages can then wait until the target
 * runs again; the pause holds only the page-table copy of fork.
 */
static int make_snapshot(struct ckpt_ctx *c)
{
	long ret_pid = 0;
	pid_t child;
	int st, ret;

	c->ij.event_msg = 0;
	ret = inject_syscall(&c->ij, &ret_pid, __NR_clone, CLONE_PARENT | CLONE_FILES | CLONE_FS, 0,
			     0, 0, 0, 0);
	if (ret)
		return ret;
	if (ret_pid < 0 || !c->ij.event_msg) {
		pr_info("pid %d: no snapshot (clone: %s); copying memory in the pause", c->ns_pid,
			ret_pid < 0 ? strerror((int)-ret_pid) : "not traced");
		return -EAGAIN;
	}
	child = (pid_t)c->ij.event_msg;
	/* its first stop: it has not run and will not */
	while (waitpid(child, &st, __WALL) < 0) {
		if (errno != EINTR) {
			ret = pr_perror("wait for the snapshot %d", child);
			kill(child, SIGKILL);
			return ret;
		}
	}
	if (!WIFSTOPPED(st)) {
		pr_err("snapshot %d ended at once", child);
		return -ECHILD;
	}
	if (c->cap->nsnaps == (int)(sizeof(c->cap->snaps) / sizeof(c->cap->snaps[0]))) {
		kill(child, SIGKILL);
		return -EAGAIN;
	}
	c->cap->snaps[c->cap->nsnaps].pid = child;
	c->cap->snaps[c->cap->nsnaps].ns_pid = (uint32_t)c->ns_pid;
	c->cap->snaps[c->cap->nsnaps].dscan = NULL;
	c->cap->snaps[c->cap->nsnaps].ndscan = 0;
	c->cap->nsnaps++;
	return 0;
}

/* Find the pages of one VMA worth saving: PAGEMAP_SCAN, or pagemap. */
static int scan_vma(int pmfd, const struct scan_req *q, struct rangev *rv, bool *have_scan)
{
	int ret;

	rv->barrier = true;
	if (*have_scan) {
		ret =
		    scan_pagemap_scan(pmfd, q->start, q->end, q->file_backed, rv, q->force, q->vma);
		if (ret != -ENOTTY && ret != -EINVAL)
			goto out;
		*have_scan = false;
	}
	ret = scan_pagemap_read(pmfd, q->start, q->end, q->file_backed, rv, q->force);
out:
	if (ret)
		pr_err("scan pages of 0x%" PRIx64 "-0x%" PRIx64 ": %s", q->start, q->end,
		       strerror(-ret));
	return ret;
}

/* Reserve capture memory for every range, record the runs, and copy them
 * from process `pid` (the target, or its snapshot). */
static int copy_ranges(struct capture *cap, pid_t pid, uint32_t ns_pid, struct rangev *rv)
{
	struct copy_item *items = NULL;
	size_t nitems = 0;
	int memfd = -1, ret = 0;

	items = calloc(rv->n ? rv->n : 1, sizeof(*items));
	if (!items)
		return -ENOMEM;
	for (size_t k = 0; k < rv->n; k++) {
		uint64_t s = rv->v[k].start, len = rv->v[k].end - s;
		void *dst = capture_reserve(cap, len);

		if (!dst) {
			pr_err("out of memory for %" PRIu64 " bytes of pages", len);
			ret = -ENOMEM;
			goto out;
		}
		ret = add_run(cap, s, (uint32_t)(len / PG), 0, ns_pid, dst);
		if (ret)
			goto out;
		if (rv->v[k].force) {
			/* not readable (PROT_NONE after use...): through /proc/PID/mem */
			char path[64];

			if (memfd < 0) {
				snprintf(path, sizeof(path), "/proc/%d/mem", pid);
				memfd = open(path, O_RDONLY | O_CLOEXEC);
				if (memfd < 0) {
					ret = pr_perror("open %s", path);
					goto out;
				}
			}
			if (pread(memfd, dst, len, (off_t)s) != (ssize_t)len) {
				ret = pr_perror("read 0x%" PRIx64 "-0x%" PRIx64 " of %d", s,
						s + len, pid);
				goto out;
			}
			continue;
		}
		items[nitems].addr = s;
		items[nitems].len = len;
		items[nitems].dst = dst;
		nitems++;
	}
	ret = readv_batches(pid, items, nitems);
out:
	if (memfd >= 0)
		close(memfd);
	free(items);
	return ret;
}

int mem_copy_range(struct capture *cap, pid_t pid, uint32_t ns_pid, int pmfd, uint64_t start,
		   uint64_t end, bool file_backed)
{
	struct rangev rv = {0};
	int ret;

	rv.barrier = true;
	ret = scan_pagemap_scan(pmfd, start, end, file_backed, &rv, false, NULL);
	if (ret == -ENOTTY || ret == -EINVAL)
		ret = scan_pagemap_read(pmfd, start, end, file_backed, &rv, false);
	if (!ret)
		ret = copy_ranges(cap, pid, ns_pid, &rv);
	free(rv.v);
	return ret;
}

static int finish_one(struct capture *cap, struct snapshot *sn)
{
	struct rangev rv = {0};
	bool have_scan = true;
	char path[64];
	int pmfd, ret = 0;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", sn->pid);
	pmfd = open(path, O_RDONLY | O_CLOEXEC);
	if (pmfd < 0) {
		ret = pr_perror("open %s", path);
		goto out;
	}
	for (size_t i = 0; i < sn->ndscan && !ret; i++)
		ret = scan_vma(pmfd, &sn->dscan[i], &rv, &have_scan);
	close(pmfd);
	if (!ret)
		ret = copy_ranges(cap, sn->pid, sn->ns_pid, &rv);
out:
	free(rv.v);
	return ret;
}

int capture_finish_snapshot(struct capture *cap)
{
	int ret = 0;

	for (int i = 0; i < cap->nsnaps; i++) {
		if (!ret)
			ret = finish_one(cap, &cap->snaps[i]);
		kill(cap->snaps[i].pid, SIGKILL);
		free(cap->snaps[i].dscan);
	}
	cap->nsnaps = 0;
	return ret;
}

int mem_capture_object(struct ckpt_ctx *c, int fd, uint64_t ino, bool memfd, const char *name,
		       uint32_t *shmem_id)
{
	Rtcr__Shmem *sh;
	struct stat st;
	off_t off = 0, hole;
	int ret;

	if (fstat(fd, &st) < 0)
		return pr_perror("stat shared memory %s", name);
	for (size_t i = 0; i < c->img->n_shmem; i++) {
		if (c->img->shmem[i]->ino == ino && c->img->shmem[i]->dev == (uint64_t)st.st_dev) {
			*shmem_id = c->img->shmem[i]->id;
			return 0;
		}
	}
	sh = calloc(1, sizeof(*sh));
	if (!sh)
		return -ENOMEM;
	rtcr__shmem__init(sh);
	ret = pb_push((void ***)&c->img->shmem, &c->img->n_shmem, sh);
	if (ret) {
		free(sh);
		return ret;
	}
	sh->has_id = sh->has_size = sh->has_memfd = sh->has_ino = sh->has_dev = 1;
	sh->dev = (uint64_t)st.st_dev;
	sh->id = (uint32_t)c->img->n_shmem;
	sh->size = ((uint64_t)st.st_size + PG - 1) & ~(PG - 1);
	sh->memfd = memfd;
	sh->ino = ino;
	sh->name = xstrdup(name);
	*shmem_id = sh->id;
	if (c->dry_run)
		return 0;
	if (memfd) {
		int seals = fcntl(fd, F_GET_SEALS);

		if (seals > 0) {
			sh->has_seals = 1;
			sh->seals = (uint32_t)seals;
		}
	}
	while (off < st.st_size) {
		off = lseek(fd, off, SEEK_DATA);
		if (off < 0)
			break; /* ENXIO: no more data */
		hole = lseek(fd, off, SEEK_HOLE);
		if (hole < 0)
			hole = st.st_size;
		off &= ~(off_t)(PG - 1);
		hole = (hole + (off_t)PG - 1) & ~(off_t)(PG - 1);
		while (off < hole) {
			uint64_t len = (uint64_t)(hole - off);
			void *dst;

			if (len > 64 * 1024 * 1024)
				len = 64 * 1024 * 1024;
			dst = capture_reserve(c->cap, len);
			if (!dst)
				return -ENOMEM;
			memset(dst, 0, len);
			if (pread(fd, dst, len, off) < 0)
				return pr_perror("read shared memory %s", name);
			ret = add_run(c->cap, (uint64_t)off, (uint32_t)(len / PG), sh->id,
				      (uint32_t)c->ns_pid, dst);
			if (ret)
				return ret;
			off += (off_t)len;
		}
	}
	return 0;
}

/* Shared memory object (MAP_SHARED anonymous, memfd) behind a VMA. */
static int dump_shmem(struct ckpt_ctx *c, Rtcr__Vma *v, const struct maps_line *m,
		      const struct stat *st, bool memfd, const char *name)
{
	char path[96];
	uint32_t id;
	int fd, ret;

	if (!memfd) {
		for (size_t i = 0; i < c->img->n_shmem; i++) {
			if (c->img->shmem[i]->ino != st->st_ino)
				continue;
			for (size_t j = 0; j < c->proc->n_vmas; j++)
				if (c->proc->vmas[j]->kind == RTCR__VMA_KIND__VMA_SHMEM &&
				    c->proc->vmas[j]->shmem_id == c->img->shmem[i]->id)
					return ckpt_refuse(
					    c,
					    "pid %d: shared anonymous memory at 0x%" PRIx64
					    " mapped in several pieces is not supported yet",
					    c->ns_pid, m->start);
		}
	}
	snprintf(path, sizeof(path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, c->pid, m->start,
		 m->end);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pr_perror("open %s", path);
	ret = mem_capture_object(c, fd, st->st_ino, memfd, name, &id);
	close(fd);
	if (ret)
		return ret;
	v->has_shmem_id = 1;
	v->shmem_id = id;
	return 0;
}

static int dump_mm(struct ckpt_ctx *c)
{
	Rtcr__MmInfo *mm = calloc(1, sizeof(*mm));
	char path[64], *buf = NULL, *p, link[4096];
	unsigned long long f[60];
	struct stat st;
	ssize_t n;
	long brk = 0;
	int i, ret;

	if (!mm)
		return -ENOMEM;
	rtcr__mm_info__init(mm);
	c->proc->mm = mm;
	snprintf(path, sizeof(path), "/proc/%d/stat", c->pid);
	if (read_file(path, &buf) < 0)
		return pr_perror("read %s", path);
	p = strrchr(buf, ')');
	if (!p) {
		free(buf);
		return -EINVAL;
	}
	p += 2;
	/* p points at field 3 (state); fields 4.. are numbers */
	p = strchr(p, ' ');
	for (i = 4; i < 60 && p; i++) {
		f[i] = strtoull(p, &p, 10);
		if (!*p)
			break;
	}
	free(buf);
	if (i < 52) {
		pr_err("pid %d: short /proc stat", c->ns_pid);
		return -EINVAL;
	}
	mm->has_start_code = mm->has_end_code = mm->has_start_stack = 1;
	mm->start_code = f[26];
	mm->end_code = f[27];
	mm->start_stack = f[28];
	mm->has_start_data = mm->has_end_data = mm->has_start_brk = 1;
	mm->start_data = f[45];
	mm->end_data = f[46];
	mm->start_brk = f[47];
	mm->has_arg_start = mm->has_arg_end = mm->has_env_start = mm->has_env_end = 1;
	mm->arg_start = f[48];
	mm->arg_end = f[49];
	mm->env_start = f[50];
	mm->env_end = f[51];
	ret = inject_call(&c->ij, &brk, "brk", __NR_brk, 0, 0, 0, 0, 0, 0);
	if (ret)
		return ret;
	mm->has_brk = 1;
	mm->brk = (uint64_t)brk;
	snprintf(path, sizeof(path), "/proc/%d/auxv", c->pid);
	n = read_file(path, &buf);
	if (n < 0)
		return pr_perror("read %s", path);
	mm->n_auxv = (size_t)n / 8;
	mm->auxv = malloc((size_t)n + 8);
	if (!mm->auxv) {
		free(buf);
		return -ENOMEM;
	}
	memcpy(mm->auxv, buf, mm->n_auxv * 8);
	free(buf);
	snprintf(path, sizeof(path), "/proc/%d/exe", c->pid);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return pr_perror("read %s", path);
	link[n] = '\0';
	mm->exe = xstrdup(link);
	if (stat(path, &st) == 0) {
		mm->has_exe_dev = mm->has_exe_ino = 1;
		mm->exe_dev = st.st_dev;
		mm->exe_ino = st.st_ino;
	}
	return 0;
}

/* What memory_dump does with each piece of a VMA whose pages it saves. */
struct piece_ctx {
	struct ckpt_ctx *c;
	struct scan_req **reqs;
	size_t *nreqs;
	Rtcr__Vma *vma;
	bool file_backed, force, now;
};

static int add_inherit(Rtcr__Process *p, const Rtcr__Vma *v, uint64_t s, uint64_t e)
{
	uint64_t *n;

	/* merged within one VMA only (a range never spans two) */
	if (p->n_inherit >= 2 && p->inherit[p->n_inherit - 1] == s && s > v->start) {
		p->inherit[p->n_inherit - 1] = e;
		return 0;
	}
	n = realloc(p->inherit, (p->n_inherit + 2) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	p->inherit = n;
	n[p->n_inherit] = s;
	n[p->n_inherit + 1] = e;
	p->n_inherit += 2;
	return 0;
}

static int add_piece(void *arg, uint64_t s, uint64_t e, enum track_piece kind, bool file_backed)
{
	struct piece_ctx *pc = arg;
	struct ckpt_ctx *c = pc->c;
	struct scan_req *nq;

	(void)file_backed;
	if (kind == TRK_CLEAN && c->incremental)
		return add_inherit(c->proc, pc->vma, s, e); /* the parent image has it */
	if (kind != TRK_UNTRACKED && c->live && !pc->force)
		return track_defer(c->tk, c->pid, s, e); /* copied after the resume */
	nq = realloc(*pc->reqs, sizeof(**pc->reqs) * (*pc->nreqs + 1));
	if (!nq)
		return -ENOMEM;
	*pc->reqs = nq;
	nq += *pc->nreqs;
	nq->start = s;
	nq->end = e;
	nq->file_backed = pc->file_backed;
	nq->force = pc->force;
	nq->now = pc->now;
	nq->vma = pc->vma;
	(*pc->nreqs)++;
	return 0;
}

static int memory_dump(struct ckpt_ctx *c)
{
	char path[96], *maps = NULL, *line, *save = NULL;
	struct rangev rv = {0};
	struct maps_line m;
	bool have_scan = true;
	struct scan_req *reqs = NULL;
	size_t nreqs = 0;
	int pmfd = -1, ret;

	ret = dump_mm(c);
	if (ret)
		return ret;
	if (c->tk && !c->dry_run) {
		ret = track_capture_proc(c->tk, &c->ij, c->pid, (uint32_t)c->ns_pid);
		if (ret)
			return ret;
	}
	snprintf(path, sizeof(path), "/proc/%d/maps", c->pid);
	if (read_file(path, &maps) < 0)
		return pr_perror("read %s", path);
	snprintf(path, sizeof(path), "/proc/%d/pagemap", c->pid);
	pmfd = open(path, O_RDONLY | O_CLOEXEC);
	if (pmfd < 0) {
		ret = pr_perror("open %s", path);
		goto out;
	}
	for (line = strtok_r(maps, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		Rtcr__Vma *v;
		struct stat st;
		bool scan = false, file_backed = false;
		const char *vmflags = "";

		if (parse_maps_line(line, &m)) {
			pr_err("cannot parse maps line '%s'", line);
			ret = -EINVAL;
			goto out;
		}
		if (c->ij.scratch && m.start >= c->ij.scratch &&
		    m.end <= c->ij.scratch + c->ij.scratch_len)
			continue; /* our own scratch memory */
		v = calloc(1, sizeof(*v));
		if (!v) {
			ret = -ENOMEM;
			goto out;
		}
		rtcr__vma__init(v);
		ret = pb_push((void ***)&c->proc->vmas, &c->proc->n_vmas, v);
		if (ret) {
			free(v);
			goto out;
		}
		v->has_start = v->has_end = v->has_prot = v->has_flags = v->has_kind = 1;
		v->has_pgoff = 1;
		v->start = m.start;
		v->end = m.end;
		v->prot = (m.perms[0] == 'r' ? PROT_READ : 0) |
			  (m.perms[1] == 'w' ? PROT_WRITE : 0) |
			  (m.perms[2] == 'x' ? PROT_EXEC : 0);
		v->flags = m.perms[3] == 's' ? MAP_SHARED : MAP_PRIVATE;
		v->pgoff = m.pgoff;
		for (size_t k = 0; k < c->npre; k++) {
			if (c->pre[k].start == m.start && c->pre[k].end == m.end) {
				vmflags = c->pre[k].vmflags;
				break;
			}
		}
		v->has_madv = 1;
		v->madv = madv_from_vmflags(vmflags);
		if (strstr(vmflags, "gd") || !strcmp(m.path, "[stack]"))
			v->flags |= MAP_GROWSDOWN;
		if (m.path[0])
			v->path = xstrdup(m.path);
		if (!strcmp(m.path, "[vdso]")) {
			v->kind = RTCR__VMA_KIND__VMA_VDSO;
			ret = vdso_symbols(c->pid, m.start, m.end, &c->proc->mm->vdso_syms,
					   &c->proc->mm->n_vdso_syms);
			if (ret)
				pr_warn(
				    "cannot read the vDSO's symbols: restoring on another kernel "
				    "will not be possible");
			ret = 0;
		} else if (!strncmp(m.path, "[vvar", 5)) {
			v->kind = RTCR__VMA_KIND__VMA_VVAR;
		} else if (!strcmp(m.path, "[vsyscall]")) {
			v->kind = RTCR__VMA_KIND__VMA_VSYSCALL;
		} else if (m.ino == 0 &&
			   (!m.path[0] || !strcmp(m.path, "[heap]") || !strcmp(m.path, "[stack]") ||
			    !strncmp(m.path, "[anon:", 6))) {
			if (v->flags & MAP_SHARED) {
				ret = ckpt_refuse(c,
						  "pid %d: shared mapping at 0x%" PRIx64
						  " without backing object",
						  c->ns_pid, m.start);
				if (ret)
					goto out;
			}
			v->kind = RTCR__VMA_KIND__VMA_ANON;
			if (!strncmp(m.path, "[anon:", 6)) {
				v->anon_name = strndup(m.path + 6, strlen(m.path) - 7);
			}
			scan = true;
		} else if (!strncmp(m.path, "[anon_shmem:", 12) || !strncmp(m.path, "/memfd:", 7) ||
			   !strcmp(m.path, "/dev/zero (deleted)") ||
			   !strcmp(m.path, "/ (deleted)")) {
			bool memfd = !strncmp(m.path, "/memfd:", 7);
			char name[4096];

			snprintf(path, sizeof(path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64,
				 c->pid, m.start, m.end);
			if (stat(path, &st) < 0) {
				ret = pr_perror("stat %s", path);
				goto out;
			}
			if (memfd) {
				size_t l = strlen(m.path + 7);
				const char *suf = " (deleted)";

				snprintf(name, sizeof(name), "%s", m.path + 7);
				if (l >= strlen(suf) && !strcmp(name + l - strlen(suf), suf))
					name[l - strlen(suf)] = '\0';
			} else if (!strncmp(m.path, "[anon_shmem:", 12)) {
				snprintf(name, sizeof(name), "%.*s", (int)strlen(m.path) - 13,
					 m.path + 12);
			} else {
				snprintf(name, sizeof(name), "dev/zero");
			}
			if (!(v->flags & MAP_SHARED)) {
				ret = ckpt_refuse(c,
						  "pid %d: private mapping of %s at 0x%" PRIx64
						  " is not supported yet",
						  c->ns_pid, m.path, m.start);
				if (ret)
					goto out;
				continue;
			}
			v->kind = RTCR__VMA_KIND__VMA_SHMEM;
			v->has_ino = 1;
			v->ino = st.st_ino;
			ret = dump_shmem(c, v, &m, &st, memfd, name);
			if (ret)
				goto out;
		} else if (!strncmp(m.path, "/SYSV", 5) && (v->flags & MAP_SHARED)) {
			ret = ipc_dump_shm_vma(c, v, m.ino, m.pgoff); /* System V shm */
			if (ret)
				goto out;
		} else if (m.path[0] == '/') {
			bool deleted = strstr(m.path, " (deleted)") != NULL;

			snprintf(path, sizeof(path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64,
				 c->pid, m.start, m.end);
			if (stat(path, &st) < 0) {
				ret = pr_perror("stat %s", path);
				goto out;
			}
			if (deleted && S_ISREG(st.st_mode)) {
				/* a deleted file: its contents go into the image (once per
				 * file), and the restore maps a new unlinked copy of it */
				int gfd;
				uint32_t id = 0;

				if ((uint64_t)st.st_size > (1ULL << 30)) {
					ret = ckpt_refuse(
					    c,
					    "pid %d: mapping of deleted file %s at 0x%" PRIx64
					    ": %lld bytes, more than 1 GiB",
					    c->ns_pid, m.path, m.start, (long long)st.st_size);
					if (ret)
						goto out;
					continue;
				}
				gfd = open(path, O_RDONLY | O_CLOEXEC);
				if (gfd < 0) {
					ret = pr_perror("open %s", path);
					goto out;
				}
				ret = mem_capture_object(c, gfd, st.st_ino, false, m.path, &id);
				close(gfd);
				if (ret)
					goto out;
				v->has_shmem_id = 1;
				v->shmem_id = id;
			}
			if (!S_ISREG(st.st_mode)) {
				ret = ckpt_refuse(c,
						  "pid %d: mapping of %s at 0x%" PRIx64
						  " (not a regular file) is not supported",
						  c->ns_pid, m.path, m.start);
				if (ret)
					goto out;
				continue;
			}
			v->has_dev = v->has_ino = v->has_file_size = v->has_mtime_ns = 1;
			v->dev = st.st_dev;
			v->ino = st.st_ino;
			v->file_size = (uint64_t)st.st_size;
			v->mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000ULL +
				      (uint64_t)st.st_mtim.tv_nsec;
			if (v->flags & MAP_SHARED) {
				v->kind = RTCR__VMA_KIND__VMA_FILE_SHARED;
			} else {
				v->kind = RTCR__VMA_KIND__VMA_FILE_PRIVATE;
				scan = true;
				file_backed = true;
			}
		} else {
			ret = ckpt_refuse(c, "pid %d: mapping %s at 0x%" PRIx64 " is not supported",
					  c->ns_pid, m.path, m.start);
			if (ret)
				goto out;
			continue;
		}
		if (!scan || c->dry_run)
			continue;
		{
			struct piece_ctx pc = {
			    .c = c,
			    .reqs = &reqs,
			    .nreqs = &nreqs,
			    .vma = v,
			    .file_backed = file_backed,
			    .force = !(v->prot & PROT_READ),
			    /* fork does not give these to the snapshot as they are */
			    .now = (v->madv & (MADVB_DONTFORK | MADVB_WIPEONFORK)) ||
				   !(v->prot & PROT_READ),
			};

			if (c->tk)
				ret = track_pieces(c->tk, c->pid, m.start, m.end, add_piece, &pc);
			else
				ret = add_piece(&pc, m.start, m.end, TRK_UNTRACKED, file_backed);
			if (ret)
				goto out;
		}
	}
	if (!c->dry_run) {
		uint64_t t0 = now_ns(CLOCK_MONOTONIC);
		bool snap = false;

		/* with --kill the target dies right after the capture, and its
		 * namespace with it (the snapshot too): copy now */
		/* The snapshot is a child of the process's parent (CLONE_PARENT), so
		 * only a child of init, which reaps everything, may make one; others
		 * would keep a zombie. */
		/* An incremental checkpoint usually copies little in the pause: the
		 * snapshot's fork, which copies the page tables of everything
		 * (~16 ms/GiB), pays only when much was written (copying costs
		 * ~0.3 ms/MiB here): more than a sixteenth of the memory. A live
		 * checkpoint copies after the resume anyway. */
		uint64_t later = 0;

		for (size_t i = 0; i < nreqs; i++)
			if (!reqs[i].now)
				later += reqs[i].end - reqs[i].start;
		if (c->est_bytes >= (1ULL << 20) && !c->kill && !getenv("RTCR_NO_SNAPSHOT") &&
		    c->proc->ppid == 1 && !c->live &&
		    (!c->incremental || (later >= (8ULL << 20) && later > c->est_bytes / 16)))
			snap = make_snapshot(c) == 0;
		for (size_t i = 0; i < nreqs; i++) {
			if (snap && !reqs[i].now)
				continue;
			ret = scan_vma(pmfd, &reqs[i], &rv, &have_scan);
			if (ret)
				goto out;
		}
		ret = copy_ranges(c->cap, c->pid, (uint32_t)c->ns_pid, &rv);
		if (ret)
			goto out;
		if (snap) {
			/* the rest is found and copied from the snapshot after the resume */
			size_t k = 0;

			for (size_t i = 0; i < nreqs; i++)
				if (!reqs[i].now)
					reqs[k++] = reqs[i];
			c->cap->snaps[c->cap->nsnaps - 1].dscan = reqs;
			c->cap->snaps[c->cap->nsnaps - 1].ndscan = k;
			reqs = NULL;
		}
		pr_debug("memory: %zu ranges in the pause, snapshot %s: %.3f ms", rv.n,
			 snap ? "yes" : "no", (now_ns(CLOCK_MONOTONIC) - t0) / 1e6);
	}
out:
	if (pmfd >= 0)
		close(pmfd);
	free(rv.v);
	free(reqs);
	free(maps);
	return ret;
}

/* ---------- restore ---------- */

static int call(struct rst_ctx *r, long *ret, const char *what, long nr, uint64_t a1, uint64_t a2,
		uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6)
{
	return inject_call(&r->ij, ret, what, nr, a1, a2, a3, a4, a5, a6);
}

static int memory_prepare(struct rst_ctx *r)
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
		if (stat(v->path, &st) < 0) {
			int e = errno;

			pr_err("restore: %s: %s (mapped at 0x%" PRIx64 ")", v->path, strerror(e),
			       v->start);
			return -e;
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
		if (parse_maps_line(line, &m))
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
		if (parse_maps_line(line, &cur[ncur]))
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
	for (size_t i = 0; i < r->proc->n_vmas && !ret; i++) {
		const Rtcr__Vma *v = r->proc->vmas[i];
		uint64_t off = sh->memfd ? v->pgoff : v->pgoff - S->shmem_owner_pgoff[sh->id];

		if (v->kind != RTCR__VMA_KIND__VMA_SHMEM || v->shmem_id != sh->id)
			continue;
		if (!sh->memfd && v->pgoff < S->shmem_owner_pgoff[sh->id]) {
			pr_err("pid %u: shared memory at 0x%" PRIx64 " starts before its other "
			       "mapping; not supported yet",
			       r->proc->pid, v->start);
			ret = -ENOTSUP;
			break;
		}
		ret = call(r, NULL, "map shared memory", __NR_mmap, v->start, v->end - v->start,
			   v->prot, MAP_SHARED | MAP_FIXED, (uint64_t)tfd, off);
	}
	if (!ret && sh->memfd && r->shmem_tfd && sh->id <= r->nshmem_tfd)
		r->shmem_tfd[sh->id] = (int)tfd;
	else
		call(r, NULL, "close", __NR_close, (uint64_t)tfd, 0, 0, 0, 0, 0);
	return ret;
}

static int restore_shmem(struct rst_ctx *r, const Rtcr__Shmem *sh)
{
	const Rtcr__Process *p = r->proc;
	const Rtcr__Vma *first = NULL;
	struct rst_shared *S = r->shared;
	char path[128];
	uint64_t addr, base = 0;
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
		if (ret)
			goto out;
	}
	for (size_t i = 0; i < p->n_vmas; i++) {
		const Rtcr__Vma *v = p->vmas[i];

		if (v->kind != RTCR__VMA_KIND__VMA_SHMEM || v->shmem_id != sh->id)
			continue;
		if (!first)
			first = v;
		if (sh->memfd) {
			ret = call(r, NULL, "map a memfd", __NR_mmap, v->start, v->end - v->start,
				   v->prot, MAP_SHARED | MAP_FIXED, (uint64_t)tfd, v->pgoff);
		} else {
			ret = call(r, NULL, "map shared memory", __NR_mmap, v->start,
				   v->end - v->start, v->prot,
				   MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, (uint64_t)-1, 0);
			base = v->pgoff;
		}
		if (ret)
			goto out;
	}
	/* contents: written by us through the object itself */
	if (sh->memfd)
		snprintf(path, sizeof(path), "/proc/%d/fd/%ld", r->pid, tfd);
	else if (first)
		snprintf(path, sizeof(path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, r->pid,
			 first->start, first->end);
	else
		goto out;
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
		if (pr->addr < base)
			continue;
		ret = img_run_data(r->im, i, !r->verified, &data, &len);
		if (ret)
			goto out;
		if (pwrite(fd, data, len, (off_t)(pr->addr - base)) != (ssize_t)len) {
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
		if (!ret && r->shmem_tfd && sh->id <= r->nshmem_tfd)
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
	    {MADVB_MERGEABLE, MADV_MERGEABLE, "MADV_MERGEABLE"},
	};
	uint64_t len = v->end - v->start, addr;
	int ret;

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		if (!(v->madv & tab[i].bit))
			continue;
		ret = call(r, NULL, tab[i].name, __NR_madvise, v->start, len,
			   (uint64_t)tab[i].advice, 0, 0, 0);
		if (ret)
			pr_warn("0x%" PRIx64 ": %s not restored", v->start, tab[i].name);
	}
	if (v->madv & MADVB_LOCKED) {
		if (call(r, NULL, "mlock", __NR_mlock, v->start, len, 0, 0, 0, 0))
			pr_warn("0x%" PRIx64 ": mlock not restored", v->start);
	}
	for (size_t g = 0; g + 1 < v->n_guards; g += 2) {
		ret = call(r, NULL, "MADV_GUARD_INSTALL", __NR_madvise, v->guards[g],
			   v->guards[g + 1] - v->guards[g], MADV_GUARD_INSTALL, 0, 0, 0);
		if (ret)
			return ret;
	}
	if (v->anon_name) {
		ret = rst_scratch_put(r, 0, v->anon_name, strlen(v->anon_name) + 1, &addr);
		if (ret)
			return ret;
		if (call(r, NULL, "name an anonymous mapping", __NR_prctl, PR_SET_VMA,
			 PR_SET_VMA_ANON_NAME, v->start, len, addr, 0))
			pr_warn("0x%" PRIx64 ": anonymous name '%s' not restored", v->start,
				v->anon_name);
	}
	return 0;
}

static int memory_restore(struct rst_ctx *r)
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
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | gd, (uint64_t)-1, 0);
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

const struct session_ops session_memory = {
    .name = "memory",
    .dump = memory_dump,
    .prepare = memory_prepare,
    .restore = memory_restore,
    .phase = RST_MEMORY,
};
