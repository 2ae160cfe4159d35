/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The capability space: the descriptor table. Each descriptor names an
 * open file description (File, shared between dup'd descriptors, found
 * with kcmp). What a File is depends on its kind: one struct fd_ops per
 * kind (files.h), listed in fd_kinds[] (registry.c). The basic kinds live here:
 * regular files (path, status flags, offset, and the file's identity,
 * checked again at restore), directories, character devices of the memory
 * class (/dev/null, zero, full, random, urandom), and the LOG pipes to the
 * parent. A descriptor no kind takes is refused at checkpoint, naming it.
 *
 * Restore: each File is opened in the parent (or created in the target),
 * passed into the target over a unix socket (SCM_RIGHTS, received by an
 * injected recvmsg), and moved to its numbers with dup3; then each kind's
 * post step (epoll interest lists...).
 */
#define LOG_PREFIX "files: "
#include "sessions/files.h"
#include "sessions/fd-socket.h"

#include <fcntl.h>
#include <inttypes.h>
#include <linux/kcmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/compat.h"
#include "base/log.h"
#include "core/proc.h"

#define OPEN_IGNORED_FLAGS (O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY | O_CLOEXEC)

/* Restore done or failed: every descriptor kind's cleanup. */
static void files_cleanup(struct rst_ctx *r)
{
	if (!r->fd_state)
		return; /* the restore stopped before its shared state existed */
	for (size_t i = 0; i < fd_nkinds; i++)
		if (fd_kinds[i].ops && fd_kinds[i].ops->cleanup)
			fd_kinds[i].ops->cleanup(r);
}

/* The kind that takes a descriptor: the first whose match() says yes, the
 * generic kinds last (registry.c). */
static const struct fd_ops *match_kind(struct ckpt_ctx *c, const struct fd_info *fi)
{
	for (int generic = 0; generic < 2; generic++)
		for (size_t i = 0; i < fd_nkinds; i++)
			if (fd_kinds[i].ops && fd_kinds[i].generic == generic &&
			    fd_kinds[i].ops->match(c, fi))
				return fd_kinds[i].ops;
	return NULL;
}

const Rtcr__File *files_by_id(const Rtcr__Image *img, uint32_t id)
{
	for (size_t i = 0; i < img->n_files; i++)
		if (img->files[i]->id == id)
			return img->files[i];
	return NULL;
}

int files_target_fd(const struct rst_ctx *r, uint32_t file_id)
{
	for (size_t j = 0; j < r->proc->n_fds; j++)
		if (r->proc->fds[j]->file_id == file_id)
			return (int)r->proc->fds[j]->fd;
	return -1;
}

static uint64_t mtime_ns(const struct stat *st)
{
	return (uint64_t)st->st_mtim.tv_sec * 1000000000ULL + (uint64_t)st->st_mtim.tv_nsec;
}

/* ---------- the basic kinds ---------- */

static bool chr_supported(dev_t rdev)
{
	if (major(rdev) != 1)
		return false;
	switch (minor(rdev)) {
	case 3: /* null */
	case 5: /* zero */
	case 7: /* full */
	case 8: /* random */
	case 9: /* urandom */
		return true;
	default:
		return false;
	}
}

static bool log_match(struct ckpt_ctx *c, const struct fd_info *fi)
{
	return S_ISFIFO(fi->st.st_mode) && fi->st.st_ino &&
	       (fi->st.st_ino == c->t->log_ino[1] || fi->st.st_ino == c->t->log_ino[2]);
}

static int log_dump(struct ckpt_ctx *c, const struct fd_info *fi, Rtcr__File *f)
{
	f->has_log_stream = 1;
	f->log_stream = fi->st.st_ino == c->t->log_ino[2] ? 2 : 1;
	return 0;
}

static int log_open(struct rst_ctx *r, const Rtcr__File *f, int *ourfd, int *tfd)
{
	int w = r->log_w[f->log_stream == 2 ? 2 : 1];
	int fd = fcntl(w, F_DUPFD_CLOEXEC, 0);

	if (fd < 0)
		return pr_perror("dup log pipe");
	if (fcntl(fd, F_SETFL, (int)f->flags & (O_NONBLOCK | O_APPEND)) < 0)
		pr_warn("log pipe: cannot set flags 0%o", f->flags);
	*ourfd = fd;
	return 0;
}

const struct fd_ops fd_log = {
    .name = "log",
    .kind = RTCR__FILE_KIND__FILE_LOG,
    .match = log_match,
    .dump = log_dump,
    .open = log_open,
};

/* ---------- removed directories ---------- */

#define DELETED_SUFFIX " (deleted)"

int dir_remake(const char *path, struct dir_remade *dr)
{
	size_t len = strlen(path);
	char *slash;
	int ret;

	memset(dr, 0, sizeof(*dr));
	if (path[0] != '/' || len < 2 || len >= sizeof(dr->path)) {
		pr_err("the removed directory %s: not an absolute path", path);
		return -EINVAL;
	}
	memcpy(dr->path, path, len + 1);
	while (len > 1 && dr->path[len - 1] == '/')
		dr->path[--len] = '\0';
	memcpy(dr->parents, dr->path, len + 1);
	/* the missing parents, outermost first */
	for (char *p = strchr(dr->path + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdir(dr->path, 0700) == 0) {
			if (dr->nmade == (int)(sizeof(dr->made) / sizeof(dr->made[0]))) {
				*p = '/';
				pr_err("the removed directory %s: more than %d parents are missing",
				       path, dr->nmade);
				dir_unmake(dr);
				return -ENAMETOOLONG;
			}
			dr->made[dr->nmade++] = (size_t)(p - dr->path);
		} else if (errno != EEXIST) {
			ret = -errno;
			pr_err("the removed directory %s: cannot make its parent %s: %s", path,
			       dr->path, strerror(errno));
			*p = '/';
			dr->path[0] = '\0'; /* nothing at the path itself */
			dir_unmake(dr);
			return ret;
		}
		*p = '/';
	}
	if (mkdir(dr->path, 0700) == 0)
		return 0;
	ret = -errno;
	if (ret == -EEXIST) {
		slash = strrchr(dr->path, '/');
		snprintf(slash + 1, sizeof(dr->path) - (size_t)(slash + 1 - dr->path),
			 ".rtcr-dir-XXXXXX");
		if (mkdtemp(dr->path)) {
			pr_warn("the removed directory %s: its path is taken now; made again as %s "
				"(it reads as that name, deleted)",
				path, dr->path);
			return 0;
		}
		ret = -errno;
	}
	pr_err("the removed directory %s: cannot make it again: %s", path, strerror(-ret));
	dr->path[0] = '\0';
	dir_unmake(dr);
	return ret;
}

int dir_unmake(struct dir_remade *dr)
{
	int ret = 0;

	if (dr->path[0] && rmdir(dr->path) < 0)
		ret = pr_perror("remove %s again", dr->path);
	dr->path[0] = '\0';
	while (dr->nmade > 0) {
		dr->parents[dr->made[--dr->nmade]] = '\0';
		if (rmdir(dr->parents) < 0 && !ret)
			ret = pr_perror("remove %s again (made for a removed directory)",
					dr->parents);
	}
	return ret;
}

/* regular files, directories: the path must still name the same object */
static int path_dump(struct ckpt_ctx *c, const struct fd_info *fi, Rtcr__File *f)
{
	struct stat now;

	if (f->kind == RTCR__FILE_KIND__FILE_DIR &&
	    (strstr(fi->link, DELETED_SUFFIX) || fi->st.st_nlink == 0)) {
		size_t n = strlen(fi->link);

		/* restored as a directory made again, opened and removed */
		if (n > strlen(DELETED_SUFFIX) &&
		    !strcmp(fi->link + n - strlen(DELETED_SUFFIX), DELETED_SUFFIX))
			f->path[n - strlen(DELETED_SUFFIX)] = '\0';
		if (f->path[0] != '/')
			return ckpt_refuse(c, "pid %d: fd %d: removed directory %s: no path",
					   c->ns_pid, fi->fd, fi->link);
		f->has_deleted = 1;
		f->deleted = true;
		return 0;
	}
	if (strstr(fi->link, " (deleted)") || fi->st.st_nlink == 0)
		return ckpt_refuse(c,
				   "pid %d: fd %d: %s: open files that were deleted are not "
				   "supported yet",
				   c->ns_pid, fi->fd, fi->link);
	if (fi->link[0] != '/' || stat(fi->link, &now) < 0 || now.st_ino != fi->st.st_ino ||
	    now.st_dev != fi->st.st_dev)
		return ckpt_refuse(c,
				   "pid %d: fd %d: %s was moved or replaced since it was opened "
				   "(its path no longer names it)",
				   c->ns_pid, fi->fd, fi->link);
	return 0;
}

static bool reg_match(struct ckpt_ctx *c, const struct fd_info *fi)
{
	return S_ISREG(fi->st.st_mode);
}

static bool dir_match(struct ckpt_ctx *c, const struct fd_info *fi)
{
	return S_ISDIR(fi->st.st_mode);
}

static bool chr_match(struct ckpt_ctx *c, const struct fd_info *fi)
{
	return S_ISCHR(fi->st.st_mode);
}

static int chr_dump(struct ckpt_ctx *c, const struct fd_info *fi, Rtcr__File *f)
{
	if (!chr_supported(fi->st.st_rdev))
		return ckpt_refuse(c,
				   "pid %d: fd %d: character device %s (%u:%u) not supported "
				   "(only /dev/null, zero, full, random, urandom)",
				   c->ns_pid, fi->fd, fi->link, major(fi->st.st_rdev),
				   minor(fi->st.st_rdev));
	return 0;
}

/* Is the file at f->path still the file that was checkpointed? */
static int check_identity(const Rtcr__File *f, const struct stat *st)
{
	char what[160];

	if ((st->st_mode & S_IFMT) != (f->mode & S_IFMT)) {
		pr_err("restore: %s changed since checkpoint (it is no longer a %s)", f->path,
		       S_ISDIR(f->mode)	  ? "directory"
		       : S_ISCHR(f->mode) ? "device"
					  : "file");
		return -ESTALE;
	}
	if (f->kind == RTCR__FILE_KIND__FILE_CHR) {
		if (st->st_rdev != f->rdev) {
			pr_err("restore: %s changed since checkpoint (device %u:%u -> %u:%u)",
			       f->path, major(f->rdev), minor(f->rdev), major(st->st_rdev),
			       minor(st->st_rdev));
			return -ESTALE;
		}
		return 0;
	}
	if (f->kind != RTCR__FILE_KIND__FILE_REG)
		return 0;
	if ((uint64_t)st->st_size != f->size) {
		snprintf(what, sizeof(what), "size %" PRIu64 " -> %lld", f->size,
			 (long long)st->st_size);
	} else if (mtime_ns(st) != f->mtime_ns) {
		snprintf(what, sizeof(what), "modified at %llu.%09llu, now %lld.%09ld",
			 (unsigned long long)(f->mtime_ns / 1000000000ULL),
			 (unsigned long long)(f->mtime_ns % 1000000000ULL),
			 (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
	} else {
		return 0;
	}
	pr_err("restore: %s changed since checkpoint (%s)", f->path, what);
	return -ESTALE;
}

static int path_prepare(struct rst_ctx *r, const Rtcr__File *f)
{
	struct stat st;
	int ret;

	if (!f->path || !f->path[0]) {
		pr_err("file %u: no path", f->id);
		return -EINVAL;
	}
	if (f->deleted) {
		if (f->kind != RTCR__FILE_KIND__FILE_DIR || f->path[0] != '/' ||
		    strlen(f->path) >= sizeof(((struct dir_remade *)0)->path)) {
			pr_err("file %u: a removed %s: not a directory with an absolute path",
			       f->id, f->path);
			return -EINVAL;
		}
		return 0; /* made again when opened */
	}
	if (stat(f->path, &st) < 0) {
		ret = -errno;
		pr_err("restore: %s: %s (an open file of the target)", f->path, strerror(errno));
		return ret;
	}
	return check_identity(f, &st);
}

/* A removed directory: made again, opened by the target, removed. */
static int deleted_dir_open(struct rst_ctx *r, const Rtcr__File *f, int *tfd)
{
	int flags = (int)(f->flags & ~(uint32_t)OPEN_IGNORED_FLAGS) | O_DIRECTORY | O_CLOEXEC;
	struct dir_remade dr;
	uint64_t addr;
	long fd = -1;
	int ret, r2;

	ret = dir_remake(f->path, &dr);
	if (ret)
		return ret;
	ret = rst_scratch_put(r, 0, dr.path, strlen(dr.path) + 1, &addr);
	if (!ret)
		ret = inject_call(&r->ij, &fd, "openat", __NR_openat, (uint64_t)AT_FDCWD, addr,
				  (uint64_t)flags, 0, 0, 0);
	if (ret)
		pr_err("pid %u: cannot open the removed directory %s again", r->proc->pid, f->path);
	r2 = dir_unmake(&dr);
	if (!ret && r2) {
		inject_call(&r->ij, NULL, "close", __NR_close, (uint64_t)fd, 0, 0, 0, 0, 0);
		ret = r2;
	}
	if (!ret)
		*tfd = (int)fd;
	return ret;
}

static int path_open(struct rst_ctx *r, const Rtcr__File *f, int *ourfd, int *tfd)
{
	struct stat st;
	int fd, ret;
	int flags = (int)(f->flags & ~(uint32_t)OPEN_IGNORED_FLAGS) | O_CLOEXEC;

	if (f->deleted)
		return deleted_dir_open(r, f, tfd);
	fd = open(f->path, flags);
	if (fd < 0) {
		ret = -errno;
		pr_err("restore: cannot open %s: %s", f->path, strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = pr_perror("stat %s", f->path);
		close(fd);
		return ret;
	}
	ret = check_identity(f, &st);
	if (ret) {
		close(fd);
		return ret;
	}
	if ((f->kind == RTCR__FILE_KIND__FILE_REG || f->kind == RTCR__FILE_KIND__FILE_DIR) &&
	    f->pos && lseek(fd, (off_t)f->pos, SEEK_SET) < 0) {
		ret = pr_perror("restore: %s: seek to %" PRIu64, f->path, f->pos);
		close(fd);
		return ret;
	}
	*ourfd = fd;
	return 0;
}

const struct fd_ops fd_reg = {
    .name = "file",
    .kind = RTCR__FILE_KIND__FILE_REG,
    .match = reg_match,
    .dump = path_dump,
    .prepare = path_prepare,
    .open = path_open,
};

const struct fd_ops fd_dir = {
    .name = "directory",
    .kind = RTCR__FILE_KIND__FILE_DIR,
    .match = dir_match,
    .dump = path_dump,
    .prepare = path_prepare,
    .open = path_open,
};

const struct fd_ops fd_chr = {
    .name = "device",
    .kind = RTCR__FILE_KIND__FILE_CHR,
    .match = chr_match,
    .dump = chr_dump,
    .prepare = path_prepare,
    .open = path_open,
};

/* ---------- the descriptor table ---------- */

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/*
 * c->fdrefs holds one descriptor of every open file description recorded
 * so far (any process), sorted by kcmp's order of the kernel's file
 * objects, so that finding whether a descriptor shares one is a binary
 * search: O(log n) kcmp calls, not one per recorded file (a target with a
 * thousand eventfds has a thousand files on one anonymous inode).
 */
static int kcmp_file(pid_t p1, int fd1, pid_t p2, int fd2)
{
	return (int)syscall(SYS_kcmp, p1, p2, KCMP_FILE, fd1, fd2);
}

/* Index of fd's file in c->fdrefs (>= 0), or -(insertion point) - 1. */
static long find_ref(struct ckpt_ctx *c, int fd)
{
	size_t lo = 0, hi = c->nfdrefs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = kcmp_file(c->pid, fd, c->fdrefs[mid].pid, c->fdrefs[mid].fd);

		if (r == 0)
			return (long)mid;
		if (r == 1)
			hi = mid;
		else if (r == 2)
			lo = mid + 1;
		else
			goto linear; /* no order from this kernel */
	}
	return -(long)lo - 1;
linear:
	for (size_t i = 0; i < c->nfdrefs; i++)
		if (kcmp_file(c->pid, fd, c->fdrefs[i].pid, c->fdrefs[i].fd) == 0)
			return (long)i;
	return -(long)c->nfdrefs - 1;
}

/* Is fd the same open file description as one already recorded (in this
 * process or another one)? */
static Rtcr__File *find_shared(struct ckpt_ctx *c, int fd, long *pos)
{
	long i = find_ref(c, fd);
	uint32_t id;

	*pos = i;
	if (i < 0)
		return NULL;
	id = c->fdrefs[i].file_id;
	/* File ids are their index in img->files, plus one */
	if (id >= 1 && id <= c->img->n_files && c->img->files[id - 1]->id == id)
		return c->img->files[id - 1];
	for (size_t k = 0; k < c->img->n_files; k++)
		if (c->img->files[k]->id == id)
			return c->img->files[k];
	return NULL;
}

static int add_fdref(struct ckpt_ctx *c, uint32_t file_id, int fd, long pos)
{
	struct fdref *nr;
	size_t at;

	if (pos >= 0)
		return 0; /* this open file description is recorded already */
	at = (size_t)(-pos - 1);
	nr = realloc(c->fdrefs, sizeof(*nr) * (c->nfdrefs + 1));
	if (!nr)
		return -ENOMEM;
	c->fdrefs = nr;
	memmove(&nr[at + 1], &nr[at], sizeof(*nr) * (c->nfdrefs - at));
	nr[at].file_id = file_id;
	nr[at].pid = c->pid;
	nr[at].fd = fd;
	c->nfdrefs++;
	return 0;
}

int files_add(struct ckpt_ctx *c, Rtcr__FileKind kind, const char *path, uint32_t flags,
	      uint64_t pos, const struct stat *st, Rtcr__File **out)
{
	Rtcr__File *f = calloc(1, sizeof(*f));
	int ret;

	if (!f)
		return -ENOMEM;
	rtcr__file__init(f);
	ret = pb_push((void ***)&c->img->files, &c->img->n_files, f);
	if (ret) {
		free(f);
		return ret;
	}
	f->has_id = f->has_kind = f->has_flags = f->has_pos = 1;
	f->has_dev = f->has_ino = f->has_size = f->has_mtime_ns = f->has_mode = f->has_rdev = 1;
	f->id = (uint32_t)c->img->n_files;
	f->kind = kind;
	f->path = xstrdup(path);
	f->flags = flags;
	f->pos = pos;
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	f->size = (uint64_t)st->st_size;
	f->mtime_ns = mtime_ns(st);
	f->mode = st->st_mode;
	f->rdev = st->st_rdev;
	*out = f;
	return f->path ? 0 : -ENOMEM;
}

static const char *describe(const struct fd_info *fi)
{
	if (!strncmp(fi->link, "socket:", 7) || S_ISSOCK(fi->st.st_mode))
		return "socket";
	if (!strncmp(fi->link, "pipe:", 5))
		return "pipe";
	if (S_ISFIFO(fi->st.st_mode))
		return "FIFO";
	if (!strncmp(fi->link, "anon_inode:", 11))
		return fi->link + 11;
	if (S_ISBLK(fi->st.st_mode))
		return "block device";
	return "file of this kind";
}

static int dump_one(struct ckpt_ctx *c, int fd)
{
	char path[64], link[4096];
	char *fdinfo = NULL, *p;
	const struct fd_ops *ops = NULL;
	struct fd_info fi;
	Rtcr__File *f;
	Rtcr__Fd *e;
	ssize_t n;
	long pos;
	bool cloexec;
	int ret;

	memset(&fi, 0, sizeof(fi));
	fi.fd = fd;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", c->pid, fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return pr_perror("read %s", path);
	link[n] = '\0';
	fi.link = link;
	if (stat(path, &fi.st) < 0)
		return pr_perror("stat %s", path);
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", c->pid, fd);
	if (read_file(path, &fdinfo) < 0)
		return pr_perror("read %s", path);
	fi.fdinfo = fdinfo;
	p = strstr(fdinfo, "pos:");
	fi.pos = p ? strtoull(p + 4, NULL, 10) : 0;
	p = strstr(fdinfo, "flags:");
	fi.flags = p ? (uint32_t)strtoul(p + 6, NULL, 8) : 0;
	cloexec = (fi.flags & O_CLOEXEC) != 0;
	fi.flags &= ~(uint32_t)O_CLOEXEC;

	f = find_shared(c, fd, &pos);
	if (!f) {
		ops = match_kind(c, &fi);
		if (!ops) {
			char sk[160];

			if (!S_ISSOCK(fi.st.st_mode) || sk_describe(c->pid, fd, sk, sizeof(sk)))
				snprintf(sk, sizeof(sk), "%s", describe(&fi));
			ret = ckpt_refuse(c, "pid %d: fd %d: %s not supported yet (%s)", c->ns_pid,
					  fd, sk, link);
			goto out;
		}
		ret = files_add(c, ops->kind, link, fi.flags, fi.pos, &fi.st, &f);
		if (!ret && ops->dump)
			ret = ops->dump(c, &fi, f);
		if (ret)
			goto out;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		ret = -ENOMEM;
		goto out;
	}
	rtcr__fd__init(e);
	e->has_fd = e->has_file_id = e->has_cloexec = 1;
	e->fd = (uint32_t)fd;
	e->file_id = f->id;
	e->cloexec = cloexec;
	ret = pb_push((void ***)&c->proc->fds, &c->proc->n_fds, e);
	if (!ret)
		ret = add_fdref(c, f->id, fd, pos);
out:
	free(fdinfo);
	return ret;
}

static int files_dump(struct ckpt_ctx *c)
{
	char path[64];
	int *fds = NULL, n = 0, ret;

	snprintf(path, sizeof(path), "/proc/%d/fd", c->pid);
	ret = dir_numbers(path, &fds, &n);
	if (ret) {
		if (ret != -ENOMEM)
			pr_err("open %s: %s", path, strerror(-ret));
		return ret;
	}
	if (n)
		qsort(fds, (size_t)n, sizeof(int), cmp_int);
	for (int i = 0; i < n && !ret; i++)
		ret = dump_one(c, fds[i]);
	free(fds);
	return ret;
}

static int files_prepare(struct rst_ctx *r)
{
	int ret;

	for (size_t i = 0; i < r->img->n_files; i++) {
		const Rtcr__File *f = r->img->files[i];
		const struct fd_ops *ops = fd_kind_ops(f->kind);

		if (!ops) {
			pr_err("file %u: this rtcr cannot restore %s descriptors", f->id,
			       f->path ? f->path : "such");
			return -ENOTSUP;
		}
		if (ops->prepare) {
			ret = ops->prepare(r, f);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/* Move a descriptor that exists in the target as tfd to number fd. */
static int target_move_fd(struct rst_ctx *r, int tfd, int fd, bool cloexec, bool keep)
{
	int ret;

	if (tfd == fd)
		return inject_call(&r->ij, NULL, "fcntl F_SETFD", __NR_fcntl, (uint64_t)fd, F_SETFD,
				   cloexec ? FD_CLOEXEC : 0, 0, 0, 0);
	ret = inject_call(&r->ij, NULL, "dup3", __NR_dup3, (uint64_t)tfd, (uint64_t)fd,
			  cloexec ? O_CLOEXEC : 0, 0, 0, 0);
	if (ret || keep)
		return ret;
	return inject_call(&r->ij, NULL, "close", __NR_close, (uint64_t)tfd, 0, 0, 0, 0, 0);
}

static int files_restore(struct rst_ctx *r)
{
	const Rtcr__Process *p = r->proc;
	int ret = 0;

	for (size_t i = 0; i < r->img->n_files; i++) {
		const Rtcr__File *f = r->img->files[i];
		const struct fd_ops *ops = fd_kind_ops(f->kind);
		int ours = -1, tfd = -1;
		size_t users = 0, done = 0;

		for (size_t j = 0; j < p->n_fds; j++)
			if (p->fds[j]->file_id == f->id)
				users++;
		struct rst_shared *S = r->shared;
		bool cached = false;

		if (!users || !ops)
			continue;
		if (S && f->id < S->nfiles && S->file_ours[f->id] >= 0) {
			/* another process has this open file description too */
			ours = S->file_ours[f->id];
			cached = true;
		} else if (S && f->id < S->nfiles && S->file_tpid[f->id] > 0) {
			int pidfd = (int)syscall(__NR_pidfd_open, S->file_tpid[f->id], 0);

			ours = pidfd >= 0
				   ? (int)syscall(__NR_pidfd_getfd, pidfd, S->file_tfd[f->id], 0)
				   : -1;
			if (pidfd >= 0)
				close(pidfd);
			if (ours < 0)
				return pr_perror("file %u: take it from pid %d", f->id,
						 S->file_tpid[f->id]);
		} else {
			ret = ops->open(r, f, &ours, &tfd);
			if (ret)
				return ret;
			if (ours >= 0 && S && f->id < S->nfiles) {
				S->file_ours[f->id] = ours;
				cached = true;
			}
		}
		for (size_t j = 0; j < p->n_fds && !ret; j++) {
			const Rtcr__Fd *e = p->fds[j];

			if (e->file_id != f->id)
				continue;
			done++;
			if (ours >= 0)
				ret = rst_install_fd(r, ours, (int)e->fd, e->cloexec);
			else
				ret = target_move_fd(r, tfd, (int)e->fd, e->cloexec, done < users);
			if (ret)
				pr_err("fd %u: cannot install %s", e->fd,
				       f->path ? f->path : ops->name);
			if (!ret && tfd >= 0 && S && f->id < S->nfiles && !S->file_tpid[f->id]) {
				S->file_tpid[f->id] = r->pid;
				S->file_tfd[f->id] = (int)e->fd;
			}
		}
		if (ours >= 0 && !cached)
			close(ours);
		if (ret)
			return ret;
	}
	for (size_t i = 0; i < r->img->n_files; i++) {
		const Rtcr__File *f = r->img->files[i];
		const struct fd_ops *ops = fd_kind_ops(f->kind);

		if (ops && ops->post && files_target_fd(r, f->id) >= 0) {
			ret = ops->post(r, f);
			if (ret)
				return ret;
		}
	}
	return 0;
}

const struct session_ops session_files = {
    .name = "files",
    .dump = files_dump,
    .prepare = files_prepare,
    .restore = files_restore,
    .phase = RST_FILES,
    .cleanup = files_cleanup,
};
