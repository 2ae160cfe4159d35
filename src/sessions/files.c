/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The capability space: the descriptor table. Each descriptor names an
 * open file description (File, shared between dup'd descriptors); kinds
 * handled here: regular files (path, status flags, offset, and the
 * file's identity, checked again at restore), directories, character
 * devices of the memory class (/dev/null, zero, full, random, urandom),
 * and the LOG pipes to the parent. Everything else is refused at
 * checkpoint with the descriptor number and kind.
 *
 * Restore opens each file in the parent, verifies it is still the file
 * that was checkpointed, positions it, and passes it into the target
 * over a unix socket (SCM_RIGHTS, received by an injected recvmsg), then
 * moves it to its number with dup3.
 */
#define LOG_PREFIX "files: "
#include <dirent.h>
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

#include "core/ctx.h"
#include "core/log.h"
#include "core/proc.h"

#define OPEN_IGNORED_FLAGS (O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY | O_CLOEXEC)

static uint64_t mtime_ns(const struct stat *st)
{
	return (uint64_t)st->st_mtim.tv_sec * 1000000000ULL + (uint64_t)st->st_mtim.tv_nsec;
}

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

static int read_fdinfo(pid_t pid, int fd, uint64_t *pos, uint32_t *flags)
{
	char path[64], *buf = NULL, *p;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
	if (read_file(path, &buf) < 0)
		return pr_perror("read %s", path);
	p = strstr(buf, "pos:");
	*pos = p ? strtoull(p + 4, NULL, 10) : 0;
	p = strstr(buf, "flags:");
	*flags = p ? (uint32_t)strtoul(p + 6, NULL, 8) : 0;
	free(buf);
	return 0;
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

static const char *describe_special(const char *link)
{
	if (!strncmp(link, "socket:", 7))
		return "socket";
	if (!strncmp(link, "pipe:", 5))
		return "pipe";
	if (!strncmp(link, "anon_inode:", 11))
		return link + 11;
	return NULL;
}

/* Is fd the same open file description as an already recorded one? */
static Rtcr__File *find_shared(struct ckpt_ctx *c, int fd, const struct stat *st, int *fds)
{
	for (size_t i = 0; i < c->img->n_files; i++) {
		Rtcr__File *f = c->img->files[i];

		if (f->ino != st->st_ino || f->dev != st->st_dev)
			continue;
		for (size_t j = 0; j < c->proc->n_fds; j++) {
			if (c->proc->fds[j]->file_id != f->id)
				continue;
			if (syscall(SYS_kcmp, c->pid, c->pid, KCMP_FILE, fds[j], fd) == 0)
				return f;
			break;
		}
	}
	return NULL;
}

static int dump_one(struct ckpt_ctx *c, int fd, int *fds)
{
	char path[64], link[4096];
	struct stat st, now;
	Rtcr__File *f;
	Rtcr__Fd *e;
	const char *special;
	uint64_t pos = 0;
	uint32_t flags = 0;
	ssize_t n;
	int ret, stream = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", c->pid, fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return pr_perror("read %s", path);
	link[n] = '\0';
	if (stat(path, &st) < 0)
		return pr_perror("stat %s", path);
	ret = read_fdinfo(c->pid, fd, &pos, &flags);
	if (ret)
		return ret;
	if (S_ISFIFO(st.st_mode)) {
		if (st.st_ino == c->t->log_ino[1] && c->t->log_ino[1])
			stream = 1;
		else if (st.st_ino == c->t->log_ino[2] && c->t->log_ino[2])
			stream = 2;
		else
			return ckpt_refuse(c, "pid %d: fd %d: %s: pipes and FIFOs are not supported yet "
					   "(remedy: let the target use regular files)",
					   c->ns_pid, fd, link);
	} else if (S_ISSOCK(st.st_mode) || (special = describe_special(link))) {
		special = describe_special(link);
		return ckpt_refuse(c, "pid %d: fd %d: %s not supported yet (%s)", c->ns_pid, fd,
				   special ? special : "socket", link);
	} else if (S_ISCHR(st.st_mode)) {
		if (!chr_supported(st.st_rdev))
			return ckpt_refuse(c, "pid %d: fd %d: character device %s (%u:%u) not "
					   "supported (only /dev/null, zero, full, random, urandom)",
					   c->ns_pid, fd, link, major(st.st_rdev), minor(st.st_rdev));
	} else if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
		if (strstr(link, " (deleted)") || st.st_nlink == 0)
			return ckpt_refuse(c, "pid %d: fd %d: %s: open files that were deleted are "
					   "not supported yet", c->ns_pid, fd, link);
		if (link[0] != '/' || stat(link, &now) < 0 || now.st_ino != st.st_ino ||
		    now.st_dev != st.st_dev)
			return ckpt_refuse(c, "pid %d: fd %d: %s was moved or replaced since it was "
					   "opened (its path no longer names it)", c->ns_pid, fd, link);
	} else {
		return ckpt_refuse(c, "pid %d: fd %d: %s: this kind of file is not supported",
				   c->ns_pid, fd, link);
	}
	f = find_shared(c, fd, &st, fds);
	if (!f) {
		f = calloc(1, sizeof(*f));
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
		f->kind = stream ? RTCR__FILE_KIND__FILE_LOG
			  : S_ISREG(st.st_mode) ? RTCR__FILE_KIND__FILE_REG
			  : S_ISDIR(st.st_mode) ? RTCR__FILE_KIND__FILE_DIR
						: RTCR__FILE_KIND__FILE_CHR;
		f->path = xstrdup(link);
		f->flags = flags & ~(uint32_t)O_CLOEXEC;
		f->pos = pos;
		f->dev = st.st_dev;
		f->ino = st.st_ino;
		f->size = (uint64_t)st.st_size;
		f->mtime_ns = mtime_ns(&st);
		f->mode = st.st_mode;
		f->rdev = st.st_rdev;
		if (stream) {
			f->has_log_stream = 1;
			f->log_stream = (uint32_t)stream;
		}
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	rtcr__fd__init(e);
	e->has_fd = e->has_file_id = e->has_cloexec = 1;
	e->fd = (uint32_t)fd;
	e->file_id = f->id;
	e->cloexec = (flags & O_CLOEXEC) != 0;
	return pb_push((void ***)&c->proc->fds, &c->proc->n_fds, e);
}

static int files_dump(struct ckpt_ctx *c)
{
	char path[64];
	struct dirent *de;
	int *fds = NULL, *nf, n = 0, ret = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", c->pid);
	d = opendir(path);
	if (!d)
		return pr_perror("open %s", path);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		nf = realloc(fds, sizeof(int) * (size_t)(n + 1));
		if (!nf) {
			ret = -ENOMEM;
			goto out;
		}
		fds = nf;
		fds[n++] = atoi(de->d_name);
	}
	qsort(fds, (size_t)n, sizeof(int), cmp_int);
	for (int i = 0; i < n; i++) {
		ret = dump_one(c, fds[i], fds);
		if (ret)
			goto out;
	}
out:
	closedir(d);
	free(fds);
	return ret;
}

/* Is the file at f->path still the file that was checkpointed? */
static int check_identity(const Rtcr__File *f, const struct stat *st)
{
	char what[160];

	if ((st->st_mode & S_IFMT) != (f->mode & S_IFMT)) {
		pr_err("restore: %s changed since checkpoint (it is no longer a %s)", f->path,
		       S_ISDIR(f->mode) ? "directory" : S_ISCHR(f->mode) ? "device" : "file");
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

static int files_prepare(struct rst_ctx *r)
{
	struct stat st;
	int ret;

	for (size_t i = 0; i < r->img->n_files; i++) {
		const Rtcr__File *f = r->img->files[i];

		if (f->kind == RTCR__FILE_KIND__FILE_LOG)
			continue;
		if (stat(f->path, &st) < 0) {
			ret = -errno;
			pr_err("restore: %s: %s (an open file of the target)", f->path,
			       strerror(errno));
			return ret;
		}
		ret = check_identity(f, &st);
		if (ret)
			return ret;
	}
	return 0;
}

static int open_file(struct rst_ctx *r, const Rtcr__File *f, int *out)
{
	struct stat st;
	int fd, ret;
	int flags = (int)(f->flags & ~(uint32_t)OPEN_IGNORED_FLAGS) | O_CLOEXEC;

	if (f->kind == RTCR__FILE_KIND__FILE_LOG) {
		int w = r->log_w[f->log_stream == 2 ? 2 : 1];

		fd = fcntl(w, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			return pr_perror("dup log pipe");
		if (fcntl(fd, F_SETFL, (int)f->flags & (O_NONBLOCK | O_APPEND)) < 0)
			pr_warn("log pipe: cannot set flags 0%o", f->flags);
		*out = fd;
		return 0;
	}
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
	*out = fd;
	return 0;
}

static int files_restore(struct rst_ctx *r)
{
	const Rtcr__Process *p = r->proc;
	int ret = 0;

	for (size_t i = 0; i < r->img->n_files; i++) {
		const Rtcr__File *f = r->img->files[i];
		int ours = -1;
		bool used = false;

		for (size_t j = 0; j < p->n_fds; j++)
			if (p->fds[j]->file_id == f->id)
				used = true;
		if (!used)
			continue;
		ret = open_file(r, f, &ours);
		if (ret)
			return ret;
		for (size_t j = 0; j < p->n_fds && !ret; j++) {
			if (p->fds[j]->file_id != f->id)
				continue;
			ret = rst_install_fd(r, ours, (int)p->fds[j]->fd, p->fds[j]->cloexec);
			if (ret)
				pr_err("fd %u: cannot install %s", p->fds[j]->fd, f->path);
		}
		close(ours);
		if (ret)
			return ret;
	}
	return 0;
}

const struct session_ops session_files = {
	.name = "files",
	.dump = files_dump,
	.prepare = files_prepare,
	.restore = files_restore,
	.phase = RST_FILES,
};
