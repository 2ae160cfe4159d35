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
 * The pages themselves are found and copied by src/mem (pages.c). Restore:
 * memory-restore.c.
 */
#define LOG_PREFIX "memory: "
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <signal.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include "core/arch/x86_64/vdso.h"
#include "core/compat.h"
#include "sessions/memory.h"
#include "sessions/ipc.h"
#include "base/log.h"
#include "core/proc.h"

#define PG 4096ULL

int memory_parse_maps_line(const char *l, struct maps_line *m)
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

/* VmFlags (smaps) a process sets itself and the restore sets again */
static const struct {
	char vf[3];
	uint64_t bit;
} vmflag_bits[] = {
    {"hg", MADVB_HUGEPAGE},   {"nh", MADVB_NOHUGEPAGE}, {"dc", MADVB_DONTFORK},
    {"dd", MADVB_DONTDUMP},   {"wf", MADVB_WIPEONFORK}, {"mg", MADVB_MERGEABLE},
    {"lo", MADVB_LOCKED},     {"mw", MADVB_MAYWRITE},	{"nr", MADVB_NORESERVE},
    {"sr", MADVB_SEQUENTIAL}, {"rr", MADVB_RANDOM},	{"lf", MADVB_LOCKONFAULT},
    {"sl", MADVB_SEALED},     {"dp", MADVB_DROPPABLE},
};

static uint64_t madv_from_vmflags(const char *f)
{
	uint64_t m = 0;

	for (const char *p = f; p[0] && p[1]; p += 3) {
		for (size_t i = 0; i < sizeof(vmflag_bits) / sizeof(vmflag_bits[0]); i++)
			if (!strncmp(p, vmflag_bits[i].vf, 2))
				m |= vmflag_bits[i].bit;
		if (!p[2])
			break;
	}
	return m;
}

static bool vmflag_set(const char *f, const char *vf)
{
	for (const char *p = f; p[0] && p[1]; p += 3) {
		if (!strncmp(p, vf, 2))
			return true;
		if (!p[2])
			break;
	}
	return false;
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
		/* a mapping's first line starts with its address in lower-case
		 * hex (0x1000 or 0xa688900000: not only digits); the fields'
		 * lines start with an upper-case name */
		if (((line[0] >= '0' && line[0] <= '9') || (line[0] >= 'a' && line[0] <= 'f')) &&
		    strchr(line, '-') && memory_parse_maps_line(line, &m) == 0 &&
		    strchr(line, ' ') > strchr(line, '-')) {
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
	return capture_prealloc(c->cap, bytes);
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

		sh->has_mode = sh->has_uid = sh->has_gid = 1;
		sh->mode = st.st_mode & 07777;
		sh->uid = st.st_uid;
		sh->gid = st.st_gid;

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
			ret = capture_add_run(c->cap, (uint64_t)off, (uint32_t)(len / PG), sh->id,
					      (uint32_t)c->ns_pid, dst);
			if (ret)
				return ret;
			off += (off_t)len;
		}
	}
	return 0;
}

/* Shared memory object (MAP_SHARED anonymous, memfd) behind a VMA; the
 * pieces of one object (split by mprotect, madvise, a partial munmap)
 * share it, each at its offset (Vma.pgoff). */
static int dump_shmem(struct ckpt_ctx *c, Rtcr__Vma *v, const struct maps_line *m,
		      const struct stat *st, bool memfd, const char *name)
{
	char path[96];
	uint32_t id;
	int fd, ret;

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

/* A new Vma of c->proc for maps line m: place, protection, sharing,
 * madvise state (from smaps, read before the pause), path. */
static int vma_new(struct ckpt_ctx *c, const struct maps_line *m, Rtcr__Vma **out)
{
	const char *vmflags = "";
	Rtcr__Vma *v;
	int ret;

	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	rtcr__vma__init(v);
	ret = pb_push((void ***)&c->proc->vmas, &c->proc->n_vmas, v);
	if (ret) {
		free(v);
		return ret;
	}
	*out = v;
	v->has_start = v->has_end = v->has_prot = v->has_flags = v->has_kind = 1;
	v->has_pgoff = 1;
	v->start = m->start;
	v->end = m->end;
	v->prot = (m->perms[0] == 'r' ? PROT_READ : 0) | (m->perms[1] == 'w' ? PROT_WRITE : 0) |
		  (m->perms[2] == 'x' ? PROT_EXEC : 0);
	v->flags = m->perms[3] == 's' ? MAP_SHARED : MAP_PRIVATE;
	v->pgoff = m->pgoff;
	for (size_t k = 0; k < c->npre; k++) {
		if (c->pre[k].start == m->start && c->pre[k].end == m->end) {
			vmflags = c->pre[k].vmflags;
			break;
		}
	}
	v->has_madv = 1;
	v->madv = madv_from_vmflags(vmflags);
	if (vmflag_set(vmflags, "ht"))
		return ckpt_refuse(c,
				   "pid %d: hugetlb mapping %s at 0x%" PRIx64 " is not supported",
				   c->ns_pid, m->path, m->start);
	if (strstr(vmflags, "gd") || !strcmp(m->path, "[stack]"))
		v->flags |= MAP_GROWSDOWN;
	if (m->path[0])
		v->path = xstrdup(m->path);
	*out = v;
	return 0;
}

/* A mapping of a shared memory object: anonymous shared memory, memfd,
 * /dev/zero. A private one is refused (a dry run goes on without it). */
static int dump_vma_shmem(struct ckpt_ctx *c, Rtcr__Vma *v, const struct maps_line *m)
{
	bool memfd = !strncmp(m->path, "/memfd:", 7);
	char path[96], name[4096];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, c->pid, m->start,
		 m->end);
	if (stat(path, &st) < 0)
		return pr_perror("stat %s", path);
	if (memfd) {
		size_t l = strlen(m->path + 7);
		const char *suf = " (deleted)";

		snprintf(name, sizeof(name), "%s", m->path + 7);
		if (l >= strlen(suf) && !strcmp(name + l - strlen(suf), suf))
			name[l - strlen(suf)] = '\0';
	} else if (!strncmp(m->path, "[anon_shmem:", 12)) {
		snprintf(name, sizeof(name), "%.*s", (int)strlen(m->path) - 13, m->path + 12);
	} else {
		snprintf(name, sizeof(name), "dev/zero");
	}
	if (!(v->flags & MAP_SHARED))
		return ckpt_refuse(
		    c, "pid %d: private mapping of %s at 0x%" PRIx64 " is not supported yet",
		    c->ns_pid, m->path, m->start);
	v->kind = RTCR__VMA_KIND__VMA_SHMEM;
	v->has_ino = 1;
	v->ino = st.st_ino;
	return dump_shmem(c, v, m, &st, memfd, name);
}

/* A deleted file mapped at m: its contents go into the image (once per
 * file), and the restore maps a new unlinked copy of it. *skip: refused,
 * a dry run goes on without it. */
static int dump_deleted_file(struct ckpt_ctx *c, Rtcr__Vma *v, const struct maps_line *m,
			     const char *path, const struct stat *st, bool *skip)
{
	uint32_t id = 0;
	int gfd, ret;

	if ((uint64_t)st->st_size > (1ULL << 30)) {
		*skip = true;
		return ckpt_refuse(c,
				   "pid %d: mapping of deleted file %s at 0x%" PRIx64
				   ": %lld bytes, more than 1 GiB",
				   c->ns_pid, m->path, m->start, (long long)st->st_size);
	}
	gfd = open(path, O_RDONLY | O_CLOEXEC);
	if (gfd < 0)
		return pr_perror("open %s", path);
	ret = mem_capture_object(c, gfd, st->st_ino, false, m->path, &id);
	close(gfd);
	if (ret)
		return ret;
	v->has_shmem_id = 1;
	v->shmem_id = id;
	return 0;
}

/*
 * A shared mapping of a small file in a sticky world-writable directory
 * (/tmp, /var/tmp, /dev/shm: another program may delete it, e.g. a second
 * JVM's /tmp/hsperfdata_root/2, pid 2 in every namespace): its contents,
 * mode and owner go into the image, for a restore that finds it gone.
 */
static int keep_small_file(struct ckpt_ctx *c, Rtcr__Vma *v, const struct maps_line *m,
			   const char *mf, const struct stat *st)
{
	char dir[4096], *slash;
	struct stat ds;
	uint32_t id = 0;
	int fd, ret;

	if ((uint64_t)st->st_size > MEM_KEEP_FILE_MAX)
		return 0;
	snprintf(dir, sizeof(dir), "%s", m->path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (stat(dir, &ds) < 0 || !S_ISDIR(ds.st_mode) || !(ds.st_mode & S_ISVTX) ||
	    !(ds.st_mode & S_IWOTH))
		return 0;
	fd = open(mf, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pr_perror("pid %d: open %s (mapped at 0x%" PRIx64 ")", c->ns_pid, m->path,
				 m->start);
	ret = mem_capture_object(c, fd, st->st_ino, false, m->path, &id);
	close(fd);
	if (ret)
		return ret;
	v->has_keep_shmem_id = v->has_file_mode = v->has_file_uid = v->has_file_gid = 1;
	v->keep_shmem_id = id;
	v->file_mode = st->st_mode & 07777;
	v->file_uid = st->st_uid;
	v->file_gid = st->st_gid;
	return 0;
}

/* A mapping of a file. *scan: a private one, whose pages that are no
 * longer the file's are saved. */
static int dump_vma_file(struct ckpt_ctx *c, Rtcr__Vma *v, const struct maps_line *m, bool *scan)
{
	bool deleted = strstr(m->path, " (deleted)") != NULL, skip = false;
	char path[96];
	struct stat st;
	int ret;

	snprintf(path, sizeof(path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, c->pid, m->start,
		 m->end);
	if (stat(path, &st) < 0)
		return pr_perror("stat %s", path);
	if (deleted && S_ISREG(st.st_mode)) {
		ret = dump_deleted_file(c, v, m, path, &st, &skip);
		if (ret || skip)
			return ret;
	}
	if (!S_ISREG(st.st_mode))
		return ckpt_refuse(c,
				   "pid %d: mapping of %s at 0x%" PRIx64
				   " (not a regular file) is not supported",
				   c->ns_pid, m->path, m->start);
	v->has_dev = v->has_ino = v->has_file_size = v->has_mtime_ns = 1;
	v->dev = st.st_dev;
	v->ino = st.st_ino;
	v->file_size = (uint64_t)st.st_size;
	v->mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000ULL + (uint64_t)st.st_mtim.tv_nsec;
	if (v->flags & MAP_SHARED) {
		v->kind = RTCR__VMA_KIND__VMA_FILE_SHARED;
		if (!v->has_shmem_id)
			return keep_small_file(c, v, m, path, &st);
	} else {
		v->kind = RTCR__VMA_KIND__VMA_FILE_PRIVATE;
		*scan = true;
	}
	return 0;
}

/* The VMA of maps line m: recorded in c->proc. *scan: its pages are
 * saved (*file_backed: only those no longer the file's). */
static int dump_vma(struct ckpt_ctx *c, const struct maps_line *m, Rtcr__Vma **vp, bool *scan,
		    bool *file_backed)
{
	Rtcr__Vma *v;
	int ret;

	ret = vma_new(c, m, &v);
	if (ret)
		return ret;
	*vp = v;
	if (!strcmp(m->path, "[vdso]")) {
		v->kind = RTCR__VMA_KIND__VMA_VDSO;
		ret = vdso_symbols(c->pid, m->start, m->end, &c->proc->mm->vdso_syms,
				   &c->proc->mm->n_vdso_syms);
		if (ret)
			pr_warn("cannot read the vDSO's symbols: restoring on another kernel "
				"will not be possible");
		return 0;
	}
	if (!strncmp(m->path, "[vvar", 5)) {
		v->kind = RTCR__VMA_KIND__VMA_VVAR;
		return 0;
	}
	if (!strcmp(m->path, "[vsyscall]")) {
		v->kind = RTCR__VMA_KIND__VMA_VSYSCALL;
		return 0;
	}
	if (m->ino == 0 && (!m->path[0] || !strcmp(m->path, "[heap]") ||
			    !strcmp(m->path, "[stack]") || !strncmp(m->path, "[anon:", 6))) {
		if (v->flags & MAP_SHARED) {
			ret = ckpt_refuse(
			    c, "pid %d: shared mapping at 0x%" PRIx64 " without backing object",
			    c->ns_pid, m->start);
			if (ret)
				return ret;
		}
		v->kind = RTCR__VMA_KIND__VMA_ANON;
		if (!strncmp(m->path, "[anon:", 6))
			v->anon_name = strndup(m->path + 6, strlen(m->path) - 7);
		*scan = true;
		return 0;
	}
	if (!strncmp(m->path, "[anon_shmem:", 12) || !strncmp(m->path, "/memfd:", 7) ||
	    !strcmp(m->path, "/dev/zero (deleted)") || !strcmp(m->path, "/ (deleted)"))
		return dump_vma_shmem(c, v, m);
	if (!strncmp(m->path, "/SYSV", 5) && (v->flags & MAP_SHARED))
		return ipc_dump_shm_vma(c, v, m->ino, m->pgoff); /* System V shm */
	if (m->path[0] == '/') {
		ret = dump_vma_file(c, v, m, scan);
		*file_backed = *scan;
		return ret;
	}
	return ckpt_refuse(c, "pid %d: mapping %s at 0x%" PRIx64 " is not supported", c->ns_pid,
			   m->path, m->start);
}

/* The pages of v (maps line m) to save, by the tracker's pieces: queued
 * in *reqs, left to the parent image, or deferred (live). */
static int queue_vma_pages(struct ckpt_ctx *c, Rtcr__Vma *v, const struct maps_line *m,
			   bool file_backed, struct scan_req **reqs, size_t *nreqs)
{
	struct piece_ctx pc = {
	    .c = c,
	    .reqs = reqs,
	    .nreqs = nreqs,
	    .vma = v,
	    .file_backed = file_backed,
	    .force = !(v->prot & PROT_READ),
	    /* fork does not give these to the snapshot as they are */
	    .now = (v->madv & (MADVB_DONTFORK | MADVB_WIPEONFORK | MADVB_DROPPABLE)) ||
		   !(v->prot & PROT_READ),
	};

	if (c->tk)
		return track_pieces(c->tk, c->pid, m->start, m->end, add_piece, &pc);
	return add_piece(&pc, m->start, m->end, TRK_UNTRACKED, file_backed);
}

/*
 * In the pause: copy the queued pages, or, when a snapshot is made, only
 * those fork does not pass on as they are (the rest is found and copied
 * from the snapshot after the resume: it takes *reqs).
 */
static int copy_in_pause(struct ckpt_ctx *c, int pmfd, struct scan_req **reqs, size_t nreqs)
{
	uint64_t t0 = now_ns(CLOCK_MONOTONIC);
	struct mem_ranges rv = {0};
	bool have_scan = true, snap = false;
	uint64_t later = 0;
	int ret = 0;

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
	for (size_t i = 0; i < nreqs; i++)
		if (!(*reqs)[i].now)
			later += (*reqs)[i].end - (*reqs)[i].start;
	if (c->est_bytes >= (1ULL << 20) && !c->kill && !getenv("RTCR_NO_SNAPSHOT") &&
	    c->proc->ppid == 1 && !c->live &&
	    (!c->incremental || (later >= (8ULL << 20) && later > c->est_bytes / 16)))
		snap = make_snapshot(c) == 0;
	for (size_t i = 0; i < nreqs; i++) {
		if (snap && !(*reqs)[i].now)
			continue;
		ret = mem_scan_vma(pmfd, &(*reqs)[i], &rv, &have_scan);
		if (ret)
			goto out;
	}
	ret = mem_copy_ranges(c->cap, c->pid, (uint32_t)c->ns_pid, &rv);
	if (ret)
		goto out;
	if (snap) {
		/* the rest is found and copied from the snapshot after the resume */
		size_t k = 0;

		for (size_t i = 0; i < nreqs; i++)
			if (!(*reqs)[i].now)
				(*reqs)[k++] = (*reqs)[i];
		c->cap->snaps[c->cap->nsnaps - 1].dscan = *reqs;
		c->cap->snaps[c->cap->nsnaps - 1].ndscan = k;
		*reqs = NULL;
	}
	pr_debug("memory: %zu ranges in the pause, snapshot %s: %.3f ms", rv.n, snap ? "yes" : "no",
		 (now_ns(CLOCK_MONOTONIC) - t0) / 1e6);
out:
	free(rv.v);
	return ret;
}

/*
 * The VmFlags (madvise state, and which mappings fork does not pass on as
 * they are) come from smaps read before the pause. A mapping made, cut or
 * merged since has no exact entry there: then smaps is read again, in the
 * pause, so no mapping goes with stale or missing flags (a runtime such as
 * V8 maps and advises its heap all the time). Our scratch area is ours.
 */
static bool layout_changed(const struct ckpt_ctx *c, const char *maps)
{
	const char *line = maps;
	size_t k = 0; /* both lists are in address order: one walk */

	while (line && *line) {
		struct maps_line m;
		char one[512];
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		bool found = false;

		snprintf(one, sizeof(one), "%.*s", (int)len, line);
		line = nl ? nl + 1 : NULL;
		if (memory_parse_maps_line(one, &m))
			continue; /* memory_dump reports it */
		if (c->ij.scratch && m.start >= c->ij.scratch &&
		    m.end <= c->ij.scratch + c->ij.scratch_len)
			continue;
		while (k < c->npre && c->pre[k].start < m.start)
			k++;
		found = k < c->npre && c->pre[k].start == m.start && c->pre[k].end == m.end;
		if (!found)
			return true;
	}
	return false;
}

static int memory_dump(struct ckpt_ctx *c)
{
	char path[96], *maps = NULL, *line, *save = NULL;
	struct maps_line m;
	struct scan_req *reqs = NULL;
	size_t nreqs = 0;
	struct premap *old_pre = NULL;
	bool reread = false;
	size_t old_npre = 0;
	uint64_t old_est = 0;
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
	if (layout_changed(c, maps)) {
		/* c->pre belongs to the driver: read into a fresh list */
		old_pre = c->pre;
		old_npre = c->npre;
		old_est = c->est_bytes;
		c->pre = NULL;
		c->npre = 0;
		reread = true;
		ret = read_smaps(c);
		pr_debug("pid %d: mappings changed since smaps was read; read again", c->ns_pid);
		if (ret)
			goto out;
	}
	snprintf(path, sizeof(path), "/proc/%d/pagemap", c->pid);
	pmfd = open(path, O_RDONLY | O_CLOEXEC);
	if (pmfd < 0) {
		ret = pr_perror("open %s", path);
		goto out;
	}
	for (line = strtok_r(maps, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		Rtcr__Vma *v = NULL;
		bool scan = false, file_backed = false;

		if (memory_parse_maps_line(line, &m)) {
			pr_err("cannot parse maps line '%s'", line);
			ret = -EINVAL;
			goto out;
		}
		if (c->ij.scratch && m.start >= c->ij.scratch &&
		    m.end <= c->ij.scratch + c->ij.scratch_len)
			continue; /* our own scratch memory */
		ret = dump_vma(c, &m, &v, &scan, &file_backed);
		if (ret)
			goto out;
		if (!scan || c->dry_run)
			continue;
		ret = queue_vma_pages(c, v, &m, file_backed, &reqs, &nreqs);
		if (ret)
			goto out;
	}
	if (!c->dry_run)
		ret = copy_in_pause(c, pmfd, &reqs, nreqs);
out:
	if (reread) {
		free(c->pre);
		c->pre = old_pre;
		c->npre = old_npre;
		c->est_bytes = old_est;
	}
	if (pmfd >= 0)
		close(pmfd);
	free(reqs);
	free(maps);
	return ret;
}

const struct session_ops session_memory = {
    .name = "memory",
    .dump = memory_dump,
    .prepare = memory_prepare,
    .restore = memory_restore,
    .phase = RST_MEMORY,
};
