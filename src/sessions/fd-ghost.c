/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Descriptors on objects that have no name in the file system any more:
 *
 * memfd ("/memfd:NAME (deleted)"): the object is a Shmem of the image,
 * saved by mem_capture_object() (one Shmem per inode, shared with the
 * mappings of the same memfd; its seals go with it). The memory session
 * recreates every memfd in the target and keeps its descriptor there
 * (r->shmem_tfd[id]); a descriptor is a new open of that object through
 * /proc/PID/fd, with the recorded access mode and status flags, moved to
 * the recorded offset. The object is sized to the exact recorded size
 * (Shmem sizes are whole pages) unless its seals forbid it.
 *
 * deleted regular files ("/dir/name (deleted)", st_nlink 0): the contents
 * (data ranges found with SEEK_DATA/SEEK_HOLE, up to 1 GiB) are a Shmem of
 * the image too (memfd = false, never mapped: mappings of deleted files are
 * refused by the memory session). At restore a new file is created in the
 * same directory under a unique temporary name, unlinked at once, filled
 * from the image's runs, given the recorded size, owner, mode and times;
 * every open file description of it is a new open through /proc/self/fd
 * with the recorded flags and offset. Several descriptions of one deleted
 * file share one new file. A deleted file that still has other names
 * (hard links) is refused, and so are deleted directories (fd_dir).
 */
#define LOG_PREFIX "fd-ghost: "
#include "sessions/files.h"

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "base/log.h"

#define GHOST_MAX_SIZE	 (1ULL << 30) /* deleted files larger than this are refused */
#define MEMFD_MAX_SIZE	 (1ULL << 40) /* what an image's Shmem may hold */
#define GHOST_PAGE	 4096ULL
#define DELETED_SUFFIX	 " (deleted)"
#define MEMFD_PREFIX	 "/memfd:"
#define TMPFS_MAGIC_	 0x01021994
#define HUGETLBFS_MAGIC_ 0x958458f6
#define OPEN_IGNORED	 (O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY | O_CLOEXEC)

static uint64_t page_up(uint64_t v)
{
	return (v + GHOST_PAGE - 1) & ~(GHOST_PAGE - 1);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls >= lx && !strcmp(s + ls - lx, suffix);
}

static uint64_t ts_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000ULL + (uint64_t)ts->tv_nsec;
}

static const Rtcr__Shmem *shmem_by_id(const Rtcr__Image *img, uint32_t id)
{
	for (size_t i = 0; i < img->n_shmem; i++)
		if (img->shmem[i] && img->shmem[i]->id == id)
			return img->shmem[i];
	return NULL;
}

/*
 * A new open file description of the target's descriptor, for reading its
 * contents: reading through the target's own description would move its
 * offset. Checked to be the same inode.
 */
static int open_target_file(struct ckpt_ctx *c, const struct fd_info *fi, int *out)
{
	char path[64];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", c->pid, fi->fd);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pr_perror("pid %d: fd %d: open %s", c->ns_pid, fi->fd, path);
	if (fstat(fd, &st) < 0) {
		int ret = pr_perror("pid %d: fd %d: stat", c->ns_pid, fi->fd);

		close(fd);
		return ret;
	}
	if (st.st_ino != fi->st.st_ino || st.st_dev != fi->st.st_dev) {
		pr_err("pid %d: fd %d: %s changed while it was read", c->ns_pid, fi->fd, fi->link);
		close(fd);
		return -ESTALE;
	}
	*out = fd;
	return 0;
}

/* ---------- memfd ---------- */

/* st_dev of memfds on this kernel (its internal shmem mount), 0: unknown. */
static dev_t memfd_dev(void)
{
	static dev_t dev;
	static bool known;
	struct stat st;
	int fd;

	if (known)
		return dev;
	fd = memfd_create("rtcr-probe", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) == 0) {
		dev = st.st_dev;
		known = true;
	}
	close(fd);
	return dev;
}

static bool memfd_match(struct ckpt_ctx *c, const struct fd_info *fi)
{
	return S_ISREG(fi->st.st_mode) && fi->st.st_nlink == 0 &&
	       !strncmp(fi->link, MEMFD_PREFIX, strlen(MEMFD_PREFIX));
}

static int memfd_dump(struct ckpt_ctx *c, const struct fd_info *fi, Rtcr__File *f)
{
	const Rtcr__Shmem *sh;
	Rtcr__MemfdFile *m;
	char name[NAME_MAX + 16];
	struct statfs sfs;
	uint32_t id = 0;
	int fd = -1, ret;
	size_t l;

	if (fi->st.st_dev != memfd_dev()) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/fd/%d", c->pid, fi->fd);
		if (statfs(path, &sfs) == 0 && sfs.f_type == HUGETLBFS_MAGIC_)
			return ckpt_refuse(c, "pid %d: fd %d: %s: hugetlb memfds are not supported",
					   c->ns_pid, fi->fd, fi->link);
		return ckpt_refuse(c,
				   "pid %d: fd %d: %s: a deleted file that is not a memfd of "
				   "this kernel is not supported",
				   c->ns_pid, fi->fd, fi->link);
	}
	if ((uint64_t)fi->st.st_size >= MEMFD_MAX_SIZE)
		return ckpt_refuse(c, "pid %d: fd %d: %s: memfd of %lld bytes (at most 1 TiB)",
				   c->ns_pid, fi->fd, fi->link, (long long)fi->st.st_size);
	snprintf(name, sizeof(name), "%s", fi->link + strlen(MEMFD_PREFIX));
	l = strlen(name);
	if (ends_with(name, DELETED_SUFFIX))
		name[l - strlen(DELETED_SUFFIX)] = '\0';
	ret = open_target_file(c, fi, &fd);
	if (ret)
		return ret;
	ret = fstatfs(fd, &sfs) < 0 ? pr_perror("statfs %s", fi->link) : 0;
	if (ret)
		goto out;
	if (sfs.f_type != TMPFS_MAGIC_) {
		ret = ckpt_refuse(c, "pid %d: fd %d: %s: memfd on an unknown file system (0x%lx)",
				  c->ns_pid, fi->fd, fi->link, (unsigned long)sfs.f_type);
		goto out;
	}
	ret = mem_capture_object(c, fd, fi->st.st_ino, true, name, &id);
	if (ret)
		goto out;
	sh = shmem_by_id(c->img, id);
	if (!sh || !sh->memfd) {
		/* the Shmem of that inode number is some other object */
		ret = ckpt_refuse(c,
				  "pid %d: fd %d: %s: inode %llu is also the number of another "
				  "saved object; not supported",
				  c->ns_pid, fi->fd, fi->link, (unsigned long long)fi->st.st_ino);
		goto out;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		ret = -ENOMEM;
		goto out;
	}
	rtcr__memfd_file__init(m);
	m->has_shmem_id = 1;
	m->shmem_id = id;
	f->memfd = m;
out:
	close(fd);
	return ret;
}

static int memfd_prepare(struct rst_ctx *r, const Rtcr__File *f)
{
	const Rtcr__MemfdFile *m = f->memfd;
	const Rtcr__Shmem *sh;

	if (!m || !m->has_shmem_id) {
		pr_err("file %u: memfd without its object", f->id);
		return -EINVAL;
	}
	sh = shmem_by_id(r->img, m->shmem_id);
	if (!sh || !sh->memfd) {
		pr_err("file %u: memfd object %u is not a memfd of the image", f->id, m->shmem_id);
		return -EINVAL;
	}
	if (m->shmem_id > r->img->n_shmem) {
		pr_err("file %u: memfd object id %u out of range (1..%zu)", f->id, m->shmem_id,
		       r->img->n_shmem);
		return -EINVAL;
	}
	if (f->size > sh->size) {
		pr_err("file %u: memfd %s of %" PRIu64 " bytes, its object holds %" PRIu64, f->id,
		       sh->name, f->size, sh->size);
		return -EINVAL;
	}
	return 0;
}

static int memfd_open(struct rst_ctx *r, const Rtcr__File *f, int *ourfd, int *tfd)
{
	const Rtcr__MemfdFile *m = f->memfd;
	const Rtcr__Shmem *sh = shmem_by_id(r->img, m->shmem_id);
	int flags = (int)(f->flags & ~(uint32_t)OPEN_IGNORED) | O_CLOEXEC;
	char path[64], link[PATH_MAX];
	struct stat st;
	int fd = -1, wfd, ret = 0, t;
	ssize_t n;

	if (!sh || !r->shmem_tfd || m->shmem_id > r->nshmem_tfd || r->shmem_tfd[m->shmem_id] < 0) {
		pr_err("memfd %s: the object was not created in the target", sh ? sh->name : "?");
		return -ENOENT;
	}
	t = r->shmem_tfd[m->shmem_id];
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", r->pid, t);
	/* still the object the memory session made? */
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return pr_perror("memfd %s: read %s", sh->name, path);
	link[n] = '\0';
	if (strncmp(link, MEMFD_PREFIX, strlen(MEMFD_PREFIX)) ||
	    strncmp(link + strlen(MEMFD_PREFIX), sh->name, strlen(sh->name))) {
		pr_err("memfd %s: its descriptor %d in the target is now %s", sh->name, t, link);
		return -ESTALE;
	}
	fd = open(path, flags);
	if (fd < 0)
		return pr_perror("memfd %s: open with flags 0%o", sh->name, f->flags);
	if (fstat(fd, &st) < 0) {
		ret = pr_perror("memfd %s: stat", sh->name);
		goto out;
	}
	if ((uint64_t)st.st_size != f->size) {
		/* the object was made whole pages long */
		wfd = open(path, O_RDWR | O_CLOEXEC);
		if (wfd < 0) {
			ret = pr_perror("memfd %s: open to resize", sh->name);
			goto out;
		}
		if (ftruncate(wfd, (off_t)f->size) < 0) {
			if (errno != EPERM) {
				ret = pr_perror("memfd %s: resize to %" PRIu64, sh->name, f->size);
				close(wfd);
				goto out;
			}
			pr_warn("memfd %s: %lld bytes long instead of %" PRIu64
				" (its seals 0x%x forbid resizing)",
				sh->name, (long long)st.st_size, f->size, sh->seals);
		}
		close(wfd);
	}
	if (f->pos && !(flags & O_PATH) && lseek(fd, (off_t)f->pos, SEEK_SET) < 0) {
		ret = pr_perror("memfd %s: seek to %" PRIu64, sh->name, f->pos);
		goto out;
	}
	/* (the tail every opener here has, memfd_open and ghost_create: hand fd
	 * out, one cleanup path) */
	*ourfd = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	return ret;
}

const struct fd_ops fd_memfd = {
    .name = "memfd",
    .kind = RTCR__FILE_KIND__FILE_MEMFD,
    .match = memfd_match,
    .dump = memfd_dump,
    .prepare = memfd_prepare,
    .open = memfd_open,
};

/* ---------- deleted files ---------- */

static bool ghost_match(struct ckpt_ctx *c, const struct fd_info *fi)
{
	return S_ISREG(fi->st.st_mode) &&
	       (fi->st.st_nlink == 0 || ends_with(fi->link, DELETED_SUFFIX));
}

/* Was File g (already recorded) a description of the same deleted file? */
static bool ghost_of_same_file(const Rtcr__File *g, uint64_t dev, uint64_t ino, uint32_t shmem_id)
{
	return g->kind == RTCR__FILE_KIND__FILE_GHOST && g->ghost && g->dev == dev &&
	       g->ino == ino && g->ghost->shmem_id == shmem_id;
}

static int ghost_dump(struct ckpt_ctx *c, const struct fd_info *fi, Rtcr__File *f)
{
	const Rtcr__Shmem *sh;
	Rtcr__GhostFile *g;
	uint32_t id = 0;
	int fd = -1, ret;

	if (fi->link[0] != '/')
		return ckpt_refuse(c, "pid %d: fd %d: %s: deleted file without a path", c->ns_pid,
				   fi->fd, fi->link);
	if (fi->st.st_nlink > 0)
		return ckpt_refuse(c,
				   "pid %d: fd %d: %s: deleted, but the file still has %lu other "
				   "name(s) (hard links); not supported",
				   c->ns_pid, fi->fd, fi->link, (unsigned long)fi->st.st_nlink);
	if ((uint64_t)fi->st.st_size > GHOST_MAX_SIZE)
		return ckpt_refuse(c,
				   "pid %d: fd %d: %s: deleted file of %lld bytes; at most 1 GiB "
				   "of deleted files is saved",
				   c->ns_pid, fi->fd, fi->link, (long long)fi->st.st_size);
	/* one Shmem per inode: shared only with other descriptions of this file */
	for (size_t i = 0; i < c->img->n_shmem; i++) {
		const Rtcr__Shmem *o = c->img->shmem[i];
		bool ours = false;

		if (o->ino != fi->st.st_ino)
			continue;
		for (size_t j = 0; j < c->img->n_files && !ours; j++)
			ours = c->img->files[j] != f &&
			       ghost_of_same_file(c->img->files[j], fi->st.st_dev, fi->st.st_ino,
						  o->id);
		if (!ours)
			return ckpt_refuse(c,
					   "pid %d: fd %d: %s: inode %llu is also the number of "
					   "another saved object; not supported",
					   c->ns_pid, fi->fd, fi->link,
					   (unsigned long long)fi->st.st_ino);
	}
	ret = open_target_file(c, fi, &fd);
	if (ret)
		return ret;
	ret = mem_capture_object(c, fd, fi->st.st_ino, false, fi->link, &id);
	close(fd);
	if (ret)
		return ret;
	sh = shmem_by_id(c->img, id);
	if (!sh || sh->size > page_up((uint64_t)fi->st.st_size))
		return ckpt_refuse(c, "pid %d: fd %d: %s: the deleted file grew while it was saved",
				   c->ns_pid, fi->fd, fi->link);
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	rtcr__ghost_file__init(g);
	g->has_shmem_id = g->has_uid = g->has_gid = g->has_atime_ns = 1;
	g->shmem_id = id;
	g->uid = fi->st.st_uid;
	g->gid = fi->st.st_gid;
	g->atime_ns = ts_ns(&fi->st.st_atim);
	f->ghost = g;
	return 0;
}

/* The directory the file was in: f->path without " (deleted)" and its last part. */
static int ghost_dir(const Rtcr__File *f, char *buf, size_t len)
{
	char *slash;
	size_t l;

	if (!f->path || f->path[0] != '/') {
		pr_err("file %u: deleted file without a path", f->id);
		return -EINVAL;
	}
	l = strlen(f->path);
	if (ends_with(f->path, DELETED_SUFFIX))
		l -= strlen(DELETED_SUFFIX);
	if (l >= len) {
		pr_err("file %u: path too long", f->id);
		return -ENAMETOOLONG;
	}
	memcpy(buf, f->path, l);
	buf[l] = '\0';
	slash = strrchr(buf, '/');
	if (!slash[1]) {
		pr_err("file %u: %s: no file name", f->id, f->path);
		return -EINVAL;
	}
	if (slash == buf)
		slash[1] = '\0'; /* "/" */
	else
		*slash = '\0';
	return 0;
}

static int ghost_prepare(struct rst_ctx *r, const Rtcr__File *f)
{
	const Rtcr__GhostFile *g = f->ghost;
	const Rtcr__Shmem *sh;
	char dir[PATH_MAX];
	struct stat st;
	int ret;

	if (!g || !g->has_shmem_id) {
		pr_err("file %u: deleted file without its contents", f->id);
		return -EINVAL;
	}
	sh = shmem_by_id(r->img, g->shmem_id);
	if (!sh || sh->memfd) {
		pr_err("file %u: the contents of deleted file %s are not in the image (object %u)",
		       f->id, f->path ? f->path : "?", g->shmem_id);
		return -EINVAL;
	}
	if (!S_ISREG(f->mode)) {
		pr_err("file %u: deleted file %s is not a regular file (mode 0%o)", f->id,
		       f->path ? f->path : "?", f->mode);
		return -EINVAL;
	}
	if (f->size > GHOST_MAX_SIZE || sh->size > page_up(f->size)) {
		pr_err("file %u: deleted file %s: size %" PRIu64 ", contents %" PRIu64
		       " bytes (at most 1 GiB, within its size)",
		       f->id, f->path ? f->path : "?", f->size, sh->size);
		return -EINVAL;
	}
	ret = ghost_dir(f, dir, sizeof(dir));
	if (ret)
		return ret;
	if (stat(dir, &st) < 0) {
		ret = -errno;
		if (errno == ENOENT)
			pr_err(
			    "restore: %s: the directory %s of this deleted file no longer exists",
			    f->path, dir);
		else
			pr_err("restore: %s: directory %s: %s", f->path, dir, strerror(errno));
		return ret;
	}
	if (!S_ISDIR(st.st_mode)) {
		pr_err("restore: %s: %s is no longer a directory", f->path, dir);
		return -ENOTDIR;
	}
	return 0;
}

/* Restore state: the new files, one per Shmem, open in the parent. */
struct ghost_obj {
	uint32_t shmem_id;
	int fd;
};
struct ghost_state {
	struct ghost_obj *v;
	size_t n;
};

static int write_full(int fd, const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;

	while (len) {
		ssize_t w = pwrite(fd, p, len, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		len -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* Make a new, unlinked file in dir with the contents and attributes of f. */
static int ghost_create(struct rst_ctx *r, const Rtcr__File *f, int *out)
{
	const Rtcr__GhostFile *g = f->ghost;
	struct timespec times[2];
	char dir[PATH_MAX], name[PATH_MAX];
	uint64_t rnd;
	int fd = -1, ret, n;

	ret = ghost_dir(f, dir, sizeof(dir));
	if (ret)
		return ret;
	for (int tries = 0; fd < 0; tries++) {
		if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return pr_perror("getrandom");
		n = snprintf(name, sizeof(name), "%s/.rtcr-ghost-%016" PRIx64,
			     strcmp(dir, "/") ? dir : "", rnd);
		if (n < 0 || (size_t)n >= sizeof(name)) {
			pr_err("restore: %s: path too long", f->path);
			return -ENAMETOOLONG;
		}
		fd = open(name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && (errno != EEXIST || tries >= 100))
			return pr_perror("restore: %s: create a file in %s", f->path, dir);
	}
	/* unlinked at once: nothing is left behind, whatever happens next */
	if (unlink(name) < 0) {
		ret = pr_perror("restore: unlink %s", name);
		goto out;
	}
	for (size_t i = 0; i < r->img->n_pagemap; i++) {
		const Rtcr__PageRun *pr = r->img->pagemap[i];
		const void *data;
		size_t len;

		if (pr->shmem_id != g->shmem_id)
			continue;
		ret = img_run_data(r->im, i, !r->verified, &data, &len);
		if (ret)
			goto out;
		ret = write_full(fd, data, len, pr->addr);
		if (ret) {
			pr_err("restore: %s: write %zu bytes at %" PRIu64
			       " into the new file in %s: %s",
			       f->path, len, pr->addr, dir, strerror(-ret));
			goto out;
		}
	}
	if (ftruncate(fd, (off_t)f->size) < 0) {
		ret = pr_perror("restore: %s: set size %" PRIu64, f->path, f->size);
		goto out;
	}
	if (fchown(fd, g->uid, g->gid) < 0) {
		ret = pr_perror("restore: %s: set owner %u:%u", f->path, g->uid, g->gid);
		goto out;
	}
	/* after chown, which clears set-id bits */
	if (fchmod(fd, f->mode & 07777) < 0) {
		ret = pr_perror("restore: %s: set mode 0%o", f->path, f->mode & 07777);
		goto out;
	}
	times[0].tv_sec = (time_t)(g->atime_ns / 1000000000ULL);
	times[0].tv_nsec = (long)(g->atime_ns % 1000000000ULL);
	times[1].tv_sec = (time_t)(f->mtime_ns / 1000000000ULL);
	times[1].tv_nsec = (long)(f->mtime_ns % 1000000000ULL);
	if (futimens(fd, times) < 0) {
		ret = pr_perror("restore: %s: set times", f->path);
		goto out;
	}
	*out = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	return ret;
}

static int ghost_obj_fd(struct rst_ctx *r, const Rtcr__File *f, int *out)
{
	struct ghost_state *gs = r->fd_state[RTCR__FILE_KIND__FILE_GHOST];
	struct ghost_obj *nv;
	int fd = -1, ret; /* set by ghost_create when it returns 0 */

	if (gs) {
		for (size_t i = 0; i < gs->n; i++) {
			if (gs->v[i].shmem_id == f->ghost->shmem_id) {
				*out = gs->v[i].fd;
				return 0;
			}
		}
	} else {
		gs = calloc(1, sizeof(*gs));
		if (!gs)
			return -ENOMEM;
		r->fd_state[RTCR__FILE_KIND__FILE_GHOST] = gs;
	}
	nv = realloc(gs->v, (gs->n + 1) * sizeof(*gs->v));
	if (!nv)
		return -ENOMEM;
	gs->v = nv;
	ret = ghost_create(r, f, &fd);
	if (ret)
		return ret;
	gs->v[gs->n].shmem_id = f->ghost->shmem_id;
	gs->v[gs->n].fd = fd;
	gs->n++;
	*out = fd;
	return 0;
}

static int ghost_open(struct rst_ctx *r, const Rtcr__File *f, int *ourfd, int *tfd)
{
	int flags = (int)(f->flags & ~(uint32_t)OPEN_IGNORED) | O_CLOEXEC;
	char path[64];
	int obj, fd, ret;

	ret = ghost_obj_fd(r, f, &obj);
	if (ret)
		return ret;
	/* a new open file description of the unlinked file */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", obj);
	fd = open(path, flags);
	if (fd < 0)
		return pr_perror("restore: %s: open with flags 0%o", f->path, f->flags);
	if (f->pos && !(flags & O_PATH) && lseek(fd, (off_t)f->pos, SEEK_SET) < 0) {
		ret = pr_perror("restore: %s: seek to %" PRIu64, f->path, f->pos);
		close(fd);
		return ret;
	}
	*ourfd = fd;
	return 0;
}

static void ghost_cleanup(struct rst_ctx *r)
{
	struct ghost_state *gs = r->fd_state[RTCR__FILE_KIND__FILE_GHOST];

	if (!gs)
		return;
	for (size_t i = 0; i < gs->n; i++)
		close(gs->v[i].fd);
	free(gs->v);
	free(gs);
	r->fd_state[RTCR__FILE_KIND__FILE_GHOST] = NULL;
}

const struct fd_ops fd_ghost = {
    .name = "deleted file",
    .kind = RTCR__FILE_KIND__FILE_GHOST,
    .match = ghost_match,
    .dump = ghost_dump,
    .prepare = ghost_prepare,
    .open = ghost_open,
    .cleanup = ghost_cleanup,
};
