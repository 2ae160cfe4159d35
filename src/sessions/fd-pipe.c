/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pipes and FIFOs (File.pipe, proto/fd-pipe.proto).
 *
 * Checkpoint: every open file description of a pipe end is one File; its
 * access mode (File.flags) says which end. The pipe's identity is its inode
 * (PipeFile.id, with File.dev), so that the ends of one pipe, in one process
 * or (later) in several, are found again at restore. The bytes sitting in
 * the buffer are read without consuming them: the pipe is taken into the
 * parent (pidfd_getfd for an end that can read, else a new read end opened
 * through /proc/PID/fd/N), tee()d into a pipe of our own of the same
 * capacity and read from there. They are saved once per pipe, with the
 * first File of it that is dumped.
 *
 * Restore: all pipe Files of the image are indexed and checked at prepare
 * (before anything is created). A pipe is made on the first open of one of
 * its Files: pipe2() (FIFO: its path opened O_RDWR, which never blocks and
 * holds both ends), capacity set, the saved bytes written. Each File gets
 * the pipe2 end of its access mode when that one is still free, else a new
 * description opened through /proc/self/fd of our end; then its status
 * flags. Once every File of the pipe has been handed out, the parent closes
 * its own ends, so that an end the target did not hold is gone again (a
 * writer gets EPIPE, a reader sees EOF once the buffer is drained).
 *
 * A FIFO removed while open (PipeFile.deleted) is made anew in the directory
 * it was in, under a unique temporary name that is removed again as soon as
 * the FIFO is open: the target gets an unnamed FIFO, as it had.
 */
#define LOG_PREFIX "pipe: "
#include "sessions/files.h"

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/compat.h"
#include "base/log.h"
#include "sessions/fd-unix.h"

#define PIPE_DATA_MAX (1U << 20) /* unread bytes saved per pipe */
#define PIPE_CAP_MIN  4096U
#define PIPE_CAP_MAX  (1U << 30)
/* status flags restored with F_SETFL (O_DIRECT: packet mode) */
#define PIPE_SETFL_FLAGS (O_NONBLOCK | O_APPEND | O_DIRECT)

static bool is_pipe_kind(Rtcr__FileKind k)
{
	return k == RTCR__FILE_KIND__FILE_PIPE || k == RTCR__FILE_KIND__FILE_FIFO;
}

static const char *kind_word(Rtcr__FileKind k)
{
	return k == RTCR__FILE_KIND__FILE_FIFO ? "FIFO" : "pipe";
}

/* ---------- checkpoint ---------- */

static bool pipe_match(struct ckpt_ctx *c, const struct fd_info *fi)
{
	return S_ISFIFO(fi->st.st_mode) && !strncmp(fi->link, "pipe:[", 6);
}

static bool fifo_match(struct ckpt_ctx *c, const struct fd_info *fi)
{
	return S_ISFIFO(fi->st.st_mode) && fi->link[0] == '/';
}

/* Another File of the image that already holds this pipe's data. */
static const Rtcr__File *data_owner(const struct ckpt_ctx *c, const Rtcr__File *f)
{
	for (size_t i = 0; i < c->img->n_files; i++) {
		const Rtcr__File *g = c->img->files[i];

		if (g != f && g->kind == f->kind && g->dev == f->dev && g->pipe &&
		    g->pipe->id == f->pipe->id && g->pipe->has_data)
			return g;
	}
	return NULL;
}

/* Copy the n unread bytes of the pipe that fd (a read end) reaches,
 * without consuming them, into a new buffer *out. */
static int peek_pipe(int fd, uint32_t cap, size_t n, uint8_t **out)
{
	uint8_t *buf = NULL;
	int tp[2] = {-1, -1};
	size_t got = 0;
	ssize_t k;
	int ret;

	buf = malloc(n);
	if (!buf)
		return -ENOMEM;
	if (pipe2(tp, O_CLOEXEC | O_NONBLOCK) < 0) {
		ret = pr_perror("create a pipe");
		goto out;
	}
	/* as many slots as the target's pipe: tee copies buffer by buffer */
	if (fcntl(tp[1], F_SETPIPE_SZ, (int)cap) < 0) {
		ret = pr_perror("set the capacity of our pipe to %u bytes", cap);
		goto out;
	}
	k = tee(fd, tp[1], n, SPLICE_F_NONBLOCK);
	if (k < 0) {
		ret = pr_perror("tee %zu bytes out of the pipe", n);
		goto out;
	}
	if ((size_t)k != n) {
		pr_err("tee copied %zd of the %zu bytes in the pipe", k, n);
		ret = -EIO;
		goto out;
	}
	while (got < n) {
		k = read(tp[0], buf + got, n - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			ret = k < 0 ? pr_perror("read the copy of the pipe's data") : -EIO;
			if (!k)
				pr_err("the copy of the pipe's data ended after %zu of %zu bytes",
				       got, n);
			goto out;
		}
		got += (size_t)k;
	}
	*out = buf;
	buf = NULL;
	ret = 0;
out:
	if (tp[0] >= 0)
		close(tp[0]);
	if (tp[1] >= 0)
		close(tp[1]);
	free(buf);
	return ret;
}

/* The target's descriptor, taken into the parent (the same open file
 * description). */
static int take_fd(struct ckpt_ctx *c, const struct fd_info *fi, int *fdp)
{
	int pidfd, fd;

	pidfd = (int)syscall(__NR_pidfd_open, c->pid, 0);
	if (pidfd < 0)
		return pr_perror("pidfd_open %d", c->pid);
	fd = (int)syscall(__NR_pidfd_getfd, pidfd, fi->fd, 0);
	close(pidfd);
	if (fd < 0)
		return pr_perror("pid %d: fd %d: pidfd_getfd", c->ns_pid, fi->fd);
	*fdp = fd;
	return 0;
}

/* Save the n unread bytes of the pipe that fd (the parent's copy of the
 * target's end) reaches. */
static int save_data(struct ckpt_ctx *c, const struct fd_info *fi, int fd, Rtcr__PipeFile *pf,
		     size_t n)
{
	char path[64];
	int rd = fd, ret;

	if ((fi->flags & O_ACCMODE) == O_WRONLY) {
		/* tee needs a read end: open a new one on the same pipe */
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		rd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (rd < 0)
			return pr_perror("pid %d: fd %d: open a read end of %s", c->ns_pid, fi->fd,
					 fi->link);
	}
	ret = peek_pipe(rd, pf->capacity, n, &pf->data.data);
	if (ret)
		pr_err("pid %d: fd %d: cannot save the data in %s", c->ns_pid, fi->fd, fi->link);
	else
		pf->data.len = n;
	if (rd != fd)
		close(rd);
	return ret;
}

#define DELETED_SUFFIX " (deleted)"

/* The FIFO's path must still name it, or it was removed (*deleted). */
static int fifo_check_path(struct ckpt_ctx *c, const struct fd_info *fi, bool *deleted)
{
	size_t n = strlen(fi->link), k = strlen(DELETED_SUFFIX);
	struct stat now;

	*deleted = false;
	if (fi->st.st_nlink == 0 && n > k && !strcmp(fi->link + n - k, DELETED_SUFFIX)) {
		*deleted = true;
		return 0;
	}
	if (fi->st.st_nlink == 0 || stat(fi->link, &now) < 0 || now.st_ino != fi->st.st_ino ||
	    now.st_dev != fi->st.st_dev)
		return ckpt_refuse(c,
				   "pid %d: fd %d: FIFO %s was moved or replaced since it was "
				   "opened (its path no longer names it)",
				   c->ns_pid, fi->fd, fi->link);
	return 0;
}

/* The pipe part of File f, from fd: the parent's descriptor of the same
 * open file description (not closed here). */
static int dump_taken(struct ckpt_ctx *c, const struct fd_info *fi, Rtcr__File *f, int fd)
{
	const char *what = kind_word(f->kind);
	const Rtcr__File *owner;
	Rtcr__PipeFile *pf;
	struct stat st;
	bool deleted = false;
	int cap, avail, ret, refusals = c->refusals;

	if (f->kind == RTCR__FILE_KIND__FILE_FIFO) {
		ret = fifo_check_path(c, fi, &deleted);
		if (ret || c->refusals != refusals)
			return ret;
	}
	if (fi->flags & O_ASYNC)
		return ckpt_refuse(c,
				   "pid %d: fd %d: %s: signal-driven I/O (O_ASYNC) on a %s is "
				   "not supported yet",
				   c->ns_pid, fi->fd, fi->link, what);
	pf = calloc(1, sizeof(*pf));
	if (!pf)
		return -ENOMEM;
	rtcr__pipe_file__init(pf);
	f->pipe = pf;
	pf->has_id = 1;
	pf->id = fi->st.st_ino;
	if (deleted) {
		/* the name it had: the new FIFO is made in its directory */
		f->path[strlen(f->path) - strlen(DELETED_SUFFIX)] = '\0';
		pf->has_deleted = 1;
		pf->deleted = true;
	}

	if (fstat(fd, &st) < 0)
		return pr_perror("stat %s", fi->link);
	if (st.st_ino != fi->st.st_ino || st.st_dev != fi->st.st_dev) {
		pr_err("pid %d: fd %d: %s changed while the target was paused", c->ns_pid, fi->fd,
		       fi->link);
		return -ESTALE;
	}
	cap = fcntl(fd, F_GETPIPE_SZ);
	if (cap < 0)
		return pr_perror("pid %d: fd %d: %s: F_GETPIPE_SZ", c->ns_pid, fi->fd, fi->link);
	if ((unsigned)cap < PIPE_CAP_MIN || (unsigned)cap > PIPE_CAP_MAX ||
	    ((unsigned)cap & ((unsigned)cap - 1)))
		return ckpt_refuse(c,
				   "pid %d: fd %d: %s: a %s of capacity %d bytes is not "
				   "supported (a power of two, at most %u)",
				   c->ns_pid, fi->fd, fi->link, what, cap, PIPE_CAP_MAX);
	pf->has_capacity = 1;
	pf->capacity = (uint32_t)cap;

	owner = data_owner(c, f);
	if (owner) {
		/* the data is saved with that File; only check packet mode */
		if ((fi->flags & O_DIRECT) && owner->pipe->data.len)
			return ckpt_refuse(c,
					   "pid %d: fd %d: %s: a %s in packet mode (O_DIRECT) "
					   "with unread data is not supported yet",
					   c->ns_pid, fi->fd, fi->link, what);
		return 0;
	}
	if (ioctl(fd, FIONREAD, &avail) < 0)
		return pr_perror("pid %d: fd %d: %s: FIONREAD", c->ns_pid, fi->fd, fi->link);
	if (avail < 0 || (unsigned)avail > PIPE_DATA_MAX)
		return ckpt_refuse(c,
				   "pid %d: fd %d: %s holds %d unread bytes; at most %u are saved "
				   "per %s",
				   c->ns_pid, fi->fd, fi->link, avail, PIPE_DATA_MAX, what);
	if (avail && (fi->flags & O_DIRECT))
		return ckpt_refuse(c,
				   "pid %d: fd %d: %s: a %s in packet mode (O_DIRECT) with "
				   "unread data is not supported yet",
				   c->ns_pid, fi->fd, fi->link, what);
	pf->has_data = 1;
	if (avail) {
		ret = save_data(c, fi, fd, pf, (size_t)avail);
		if (ret)
			return ret;
	}
	pr_debug("pid %d: fd %d: %s: capacity %d, %d unread bytes", c->ns_pid, fi->fd, fi->link,
		 cap, avail);
	return 0;
}

static int pipe_dump(struct ckpt_ctx *c, const struct fd_info *fi, Rtcr__File *f)
{
	int fd = -1, ret;

	ret = take_fd(c, fi, &fd);
	if (ret)
		return ret;
	ret = dump_taken(c, fi, f, fd);
	close(fd);
	return ret;
}

int pipe_dump_flight(struct ckpt_ctx *c, const struct fd_info *fi, Rtcr__File *f, int fd)
{
	if (f->kind != RTCR__FILE_KIND__FILE_PIPE && f->kind != RTCR__FILE_KIND__FILE_FIFO)
		return -EINVAL;
	return dump_taken(c, fi, f, fd);
}

/* ---------- restore ---------- */

/* One File of a pipe kind. */
struct pipe_ref {
	Rtcr__FileKind kind;
	uint64_t dev, id;
	uint32_t file_id;
	const Rtcr__File *f;
	size_t obj;  /* its pipe in pipe_state.objs */
	size_t uses; /* processes with a descriptor on it (each opens it once) */
	int fd;	     /* the description it got, kept until the pipe is complete (-1) */
};

/* One pipe: refs[first .. first + n). */
struct pipe_obj {
	size_t first, n;
	const Rtcr__File *owner; /* the File with the data */
	size_t uses, opened;	 /* opens to come, opens done */
	int rfd, wfd;		 /* our ends (FIFO: rfd is opened O_RDWR, wfd -1) */
	bool created, rd_given, wr_given;
};

struct pipe_state {
	struct pipe_ref *refs; /* sorted by kind, dev, id, file id */
	size_t nrefs;
	struct pipe_obj *objs;
	size_t nobjs;
	bool ready; /* built and checked */
};

static int cmp_key(Rtcr__FileKind ka, uint64_t da, uint64_t ia, Rtcr__FileKind kb, uint64_t db,
		   uint64_t ib)
{
	if (ka != kb)
		return ka < kb ? -1 : 1;
	if (da != db)
		return da < db ? -1 : 1;
	if (ia != ib)
		return ia < ib ? -1 : 1;
	return 0;
}

static int cmp_ref(const void *a, const void *b)
{
	const struct pipe_ref *x = a, *y = b;
	int d = cmp_key(x->kind, x->dev, x->id, y->kind, y->dev, y->id);

	if (d)
		return d;
	return x->file_id < y->file_id ? -1 : x->file_id > y->file_id;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static struct pipe_ref *find_ref(struct pipe_state *st, const Rtcr__File *f)
{
	struct pipe_ref key = {.kind = f->kind, .dev = f->dev, .file_id = f->id};

	if (!f->pipe)
		return NULL;
	key.id = f->pipe->id;
	return bsearch(&key, st->refs, st->nrefs, sizeof(key), cmp_ref);
}

/* The image's description of one pipe File, before anything is made of it. */
static int check_file(const Rtcr__File *f)
{
	const Rtcr__PipeFile *pf = f->pipe;
	const char *what = kind_word(f->kind);

	if (!pf || !pf->has_id) {
		pr_err("file %u: a %s without its %s", f->id, what, pf ? "id" : "PipeFile");
		return -EINVAL;
	}
	if ((f->flags & O_ACCMODE) == O_ACCMODE) {
		pr_err("file %u: %s end with access mode 3", f->id, what);
		return -EINVAL;
	}
	if (!pf->has_capacity || pf->capacity < PIPE_CAP_MIN || pf->capacity > PIPE_CAP_MAX ||
	    (pf->capacity & (pf->capacity - 1))) {
		pr_err("file %u: %s capacity %u (a power of two from %u to %u)", f->id, what,
		       pf->capacity, PIPE_CAP_MIN, PIPE_CAP_MAX);
		return -EINVAL;
	}
	if (pf->has_data && (pf->data.len > pf->capacity || pf->data.len > PIPE_DATA_MAX ||
			     (pf->data.len && !pf->data.data))) {
		pr_err("file %u: %zu bytes of %s data (its capacity is %u, at most %u)", f->id,
		       pf->data.len, what, pf->capacity, PIPE_DATA_MAX);
		return -EINVAL;
	}
	if (f->kind == RTCR__FILE_KIND__FILE_FIFO && (!f->path || f->path[0] != '/')) {
		pr_err("file %u: a FIFO without an absolute path", f->id);
		return -EINVAL;
	}
	return 0;
}

static void release_obj(struct pipe_state *st, struct pipe_obj *o)
{
	if (o->rfd >= 0)
		close(o->rfd);
	if (o->wfd >= 0)
		close(o->wfd);
	o->rfd = o->wfd = -1;
	for (size_t i = o->first; i < o->first + o->n; i++) {
		if (st->refs[i].fd >= 0)
			close(st->refs[i].fd);
		st->refs[i].fd = -1;
	}
}

static void pipe_cleanup(struct rst_ctx *r)
{
	struct pipe_state *st = r->fd_state[RTCR__FILE_KIND__FILE_PIPE];

	if (!st)
		return;
	for (size_t i = 0; i < st->nobjs; i++)
		release_obj(st, &st->objs[i]);
	free(st->refs);
	free(st->objs);
	free(st);
	r->fd_state[RTCR__FILE_KIND__FILE_PIPE] = NULL;
}

struct id_ref {
	uint32_t file_id;
	size_t ref;
};

static int cmp_id_ref(const void *a, const void *b)
{
	const struct id_ref *x = a, *y = b;

	return x->file_id < y->file_id ? -1 : x->file_id > y->file_id;
}

/* How often each File is opened: once per process that has a descriptor on it. */
static int count_uses(const Rtcr__Image *img, struct pipe_state *st)
{
	struct id_ref *byid;
	uint32_t *ids = NULL;
	size_t idcap = 0;
	int ret = 0;

	byid = malloc((st->nrefs + 1) * sizeof(*byid));
	if (!byid)
		return -ENOMEM;
	for (size_t k = 0; k < st->nrefs; k++)
		byid[k] = (struct id_ref){st->refs[k].file_id, k};
	qsort(byid, st->nrefs, sizeof(*byid), cmp_id_ref);
	for (size_t p = 0; p < img->n_processes; p++) {
		const Rtcr__Process *proc = img->processes[p];

		if (!proc || !proc->n_fds)
			continue;
		if (proc->n_fds > idcap) {
			free(ids);
			idcap = proc->n_fds;
			ids = malloc(idcap * sizeof(*ids));
			if (!ids) {
				ret = -ENOMEM;
				goto out;
			}
		}
		for (size_t j = 0; j < proc->n_fds; j++)
			ids[j] = proc->fds[j] ? proc->fds[j]->file_id : 0;
		qsort(ids, proc->n_fds, sizeof(*ids), cmp_u32);
		for (size_t j = 0; j < proc->n_fds; j++) {
			struct id_ref key = {.file_id = ids[j]}, *hit;

			if (j && ids[j] == ids[j - 1])
				continue;
			hit = bsearch(&key, byid, st->nrefs, sizeof(key), cmp_id_ref);
			if (hit)
				st->refs[hit->ref].uses++;
		}
	}
	/* no process holds it: it is only in flight (SCM_RIGHTS), opened once
	 * to be sent (fd-unix-queue.c) */
	for (size_t k = 0; k < st->nrefs; k++)
		if (!st->refs[k].uses)
			st->refs[k].uses = 1;
out:
	free(ids);
	free(byid);
	return ret;
}

/* Index and check every pipe File of the image (once, at the first prepare). */
static int build_state(struct rst_ctx *r, struct pipe_state **out)
{
	const Rtcr__Image *img = r->img;
	struct pipe_state *st = r->fd_state[RTCR__FILE_KIND__FILE_PIPE];
	size_t n = 0;
	int ret;

	if (st) {
		if (!st->ready)
			return -EINVAL; /* its failure was reported */
		*out = st;
		return 0;
	}
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	r->fd_state[RTCR__FILE_KIND__FILE_PIPE] = st;
	for (size_t i = 0; i < img->n_files; i++)
		if (img->files[i] && is_pipe_kind(img->files[i]->kind))
			n++;
	st->refs = calloc(n + 1, sizeof(*st->refs));
	st->objs = calloc(n + 1, sizeof(*st->objs));
	if (!st->refs || !st->objs)
		return -ENOMEM;
	for (size_t i = 0; i < img->n_files; i++) {
		const Rtcr__File *f = img->files[i];
		struct pipe_ref *e;

		if (!f || !is_pipe_kind(f->kind))
			continue;
		ret = check_file(f);
		if (ret)
			return ret;
		e = &st->refs[st->nrefs++];
		e->kind = f->kind;
		e->dev = f->dev;
		e->id = f->pipe->id;
		e->file_id = f->id;
		e->f = f;
		e->fd = -1;
	}
	qsort(st->refs, st->nrefs, sizeof(*st->refs), cmp_ref);
	/* group the ends of each pipe; check that they agree */
	for (size_t i = 0; i < st->nrefs; i++) {
		struct pipe_ref *e = &st->refs[i];
		struct pipe_obj *o = st->nobjs ? &st->objs[st->nobjs - 1] : NULL;
		const Rtcr__File *f = e->f, *first;

		if (!o || cmp_key(e->kind, e->dev, e->id, st->refs[o->first].kind,
				  st->refs[o->first].dev, st->refs[o->first].id)) {
			o = &st->objs[st->nobjs++];
			o->first = i;
			o->rfd = o->wfd = -1;
		}
		o->n++;
		e->obj = (size_t)(o - st->objs);
		first = st->refs[o->first].f;
		if (f->pipe->capacity != first->pipe->capacity) {
			pr_err("files %u and %u: ends of one %s with capacities %u and %u",
			       first->id, f->id, kind_word(f->kind), first->pipe->capacity,
			       f->pipe->capacity);
			return -EINVAL;
		}
		if (f->pipe->has_data) {
			if (o->owner) {
				pr_err("files %u and %u: both hold the data of %s %" PRIu64,
				       o->owner->id, f->id, kind_word(f->kind), e->id);
				return -EINVAL;
			}
			o->owner = f;
		}
	}
	for (size_t i = 0; i < st->nobjs; i++) {
		if (!st->objs[i].owner) {
			const Rtcr__File *f = st->refs[st->objs[i].first].f;

			pr_err("file %u: no File holds the data of %s %" PRIu64, f->id,
			       kind_word(f->kind), f->pipe->id);
			return -EINVAL;
		}
	}
	ret = count_uses(img, st);
	if (ret)
		return ret;
	for (size_t i = 0; i < st->nrefs; i++)
		st->objs[st->refs[i].obj].uses += st->refs[i].uses;
	st->ready = true;
	*out = st;
	return 0;
}

/* The directory a removed FIFO was in. */
static int fifo_dir(const Rtcr__File *f, char *dir, size_t len)
{
	const char *slash = strrchr(f->path, '/');
	size_t n = (size_t)(slash - f->path);

	if (n + 2 > len) {
		pr_err("restore: FIFO %s: path too long", f->path);
		return -ENAMETOOLONG;
	}
	if (!n) {
		strcpy(dir, "/");
		return 0;
	}
	memcpy(dir, f->path, n);
	dir[n] = '\0';
	return 0;
}

/* A new FIFO for one that was removed while open: made in its directory
 * under a unique name, opened O_RDWR (*fdp), and removed at once. */
static int create_deleted_fifo(const Rtcr__File *f, int *fdp)
{
	char dir[PATH_MAX], name[PATH_MAX];
	uint64_t rnd;
	int fd = -1, ret, n;

	ret = fifo_dir(f, dir, sizeof(dir));
	if (ret)
		return ret;
	for (int tries = 0;; tries++) {
		if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return pr_perror("getrandom");
		n = snprintf(name, sizeof(name), "%s/.rtcr-fifo-%016" PRIx64,
			     strcmp(dir, "/") ? dir : "", rnd);
		if (n < 0 || (size_t)n >= sizeof(name)) {
			pr_err("restore: FIFO %s: path too long", f->path);
			return -ENAMETOOLONG;
		}
		if (!mkfifo(name, 0600))
			break;
		if (errno != EEXIST || tries >= 100)
			return pr_perror("restore: FIFO %s (removed while open): make a FIFO in %s",
					 f->path, dir);
	}
	/* O_RDWR: never blocks; O_NOFOLLOW: it is the one just made */
	fd = open(name, O_RDWR | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		ret = pr_perror("restore: open the new FIFO %s", name);
	if (unlink(name) < 0 && !ret)
		ret = pr_perror("restore: unlink %s", name);
	if (!ret && fchmod(fd, f->mode & 07777) < 0)
		ret = pr_perror("restore: FIFO %s: set mode 0%o", f->path, f->mode & 07777);
	if (ret) {
		if (fd >= 0)
			close(fd);
		return ret;
	}
	*fdp = fd;
	return 0;
}

static int pipe_prepare(struct rst_ctx *r, const Rtcr__File *f)
{
	struct pipe_state *st;
	struct stat sb;
	int ret;

	ret = build_state(r, &st);
	if (ret)
		return ret;
	if (f->kind != RTCR__FILE_KIND__FILE_FIFO)
		return 0;
	if (f->pipe->deleted) {
		char dir[PATH_MAX];

		ret = fifo_dir(f, dir, sizeof(dir));
		if (ret)
			return ret;
		ret = stat(dir, &sb) < 0 ? -errno : S_ISDIR(sb.st_mode) ? 0 : -ENOTDIR;
		if (ret) {
			pr_err("restore: FIFO %s (removed while open) is made anew in %s: %s",
			       f->path, dir, strerror(-ret));
			return ret;
		}
		return 0;
	}
	if (stat(f->path, &sb) < 0) {
		ret = -errno;
		pr_err("restore: FIFO %s: %s (an open file of the target)", f->path,
		       strerror(errno));
		return ret;
	}
	if (!S_ISFIFO(sb.st_mode)) {
		pr_err("restore: %s changed since checkpoint (it is no longer a FIFO)", f->path);
		return -ESTALE;
	}
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	size_t done = 0;
	ssize_t k;

	while (done < n) {
		k = write(fd, p + done, n - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return -EIO;
		done += (size_t)k;
	}
	return 0;
}

/* Make the pipe: ends, capacity, data. */
static int create_obj(struct pipe_state *st, struct pipe_obj *o)
{
	const Rtcr__File *first = st->refs[o->first].f;
	/* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): build_state checked o->owner */
	const Rtcr__PipeFile *data = o->owner->pipe;
	const char *what = kind_word(first->kind);
	uint32_t cap = first->pipe->capacity;
	struct stat sb;
	int fds[2], avail, ret, got;

	if (first->kind == RTCR__FILE_KIND__FILE_FIFO && first->pipe->deleted) {
		ret = create_deleted_fifo(first, &o->rfd);
		if (ret)
			return ret;
	} else if (first->kind == RTCR__FILE_KIND__FILE_FIFO) {
		/* O_RDWR: never blocks, and holds both ends while we work */
		o->rfd = open(first->path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (o->rfd < 0)
			return pr_perror("restore: open FIFO %s", first->path);
		if (fstat(o->rfd, &sb) < 0)
			return pr_perror("stat %s", first->path);
		if (!S_ISFIFO(sb.st_mode)) {
			pr_err("restore: %s changed since checkpoint (it is no longer a FIFO)",
			       first->path);
			return -ESTALE;
		}
		if (ioctl(o->rfd, FIONREAD, &avail) < 0)
			return pr_perror("FIONREAD on FIFO %s", first->path);
		if (avail) {
			/* another process holds it open with data in it: refilling
			 * it would mix the two */
			pr_err("restore: FIFO %s already holds %d unread bytes (is it still open "
			       "in another process, e.g. the checkpointed one?)",
			       first->path, avail);
			return -EBUSY;
		}
	} else {
		if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
			return pr_perror("create a pipe");
		o->rfd = fds[0];
		o->wfd = fds[1];
	}
	got = fcntl(o->rfd, F_SETPIPE_SZ, (int)cap);
	if (got < 0)
		return pr_perror("%s %" PRIu64 ": set its capacity to %u bytes", what,
				 first->pipe->id, cap);
	if ((uint32_t)got != cap) {
		pr_err("%s %" PRIu64 ": capacity %d, not %u", what, first->pipe->id, got, cap);
		return -EIO;
	}
	ret = write_all(o->wfd >= 0 ? o->wfd : o->rfd, data->data.data, data->data.len);
	if (ret) {
		pr_err("%s %" PRIu64 ": cannot write its %zu bytes back: %s", what, first->pipe->id,
		       data->data.len, strerror(-ret));
		return ret;
	}
	o->created = true;
	return 0;
}

/* A new open file description of the pipe for File f. */
static int new_end(struct pipe_obj *o, const Rtcr__File *f, int *fdp)
{
	uint32_t acc = f->flags & O_ACCMODE;
	char path[64];
	int fd;

	if (f->kind == RTCR__FILE_KIND__FILE_PIPE && acc == O_RDONLY && !o->rd_given) {
		fd = fcntl(o->rfd, F_DUPFD_CLOEXEC, 0);
		o->rd_given = true;
	} else if (f->kind == RTCR__FILE_KIND__FILE_PIPE && acc == O_WRONLY && !o->wr_given) {
		fd = fcntl(o->wfd, F_DUPFD_CLOEXEC, 0);
		o->wr_given = true;
	} else {
		/* the same pipe, a new description: open it through our end
		 * (our end reads and, FIFO, writes too: no open blocks or fails) */
		snprintf(path, sizeof(path), "/proc/self/fd/%d", o->rfd);
		fd = open(path, (int)acc | O_NONBLOCK | O_CLOEXEC);
	}
	if (fd < 0)
		return pr_perror("file %u: open an end of %s", f->id, f->path ? f->path : "a pipe");
	if (fcntl(fd, F_SETFL, (int)(f->flags & PIPE_SETFL_FLAGS)) < 0) {
		int ret = pr_perror("file %u: %s: set status flags 0%o", f->id,
				    f->path ? f->path : "pipe", f->flags & PIPE_SETFL_FLAGS);

		close(fd);
		return ret;
	}
	*fdp = fd;
	return 0;
}

static int pipe_open(struct rst_ctx *r, const Rtcr__File *f, int *ourfd, int *tfd)
{
	struct pipe_state *st;
	struct pipe_ref *e;
	struct pipe_obj *o;
	int fd, ret;

	ret = build_state(r, &st);
	if (ret)
		return ret;
	e = find_ref(st, f);
	if (!e) {
		pr_err("file %u: not a known pipe", f->id);
		return -EINVAL;
	}
	o = &st->objs[e->obj];
	if (!o->created) {
		ret = create_obj(st, o);
		if (ret) {
			release_obj(st, o);
			return ret;
		}
	}
	if (e->fd < 0) {
		ret = new_end(o, f, &e->fd);
		if (ret)
			return ret;
	}
	/* files.c closes this one; e->fd stays for the next process using f */
	fd = fcntl(e->fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return pr_perror("dup");
	*ourfd = fd;
	*tfd = -1;
	if (++o->opened >= o->uses)
		release_obj(st, o); /* every end handed out: ours go */
	return 0;
}

const struct fd_ops fd_pipe = {
    .name = "pipe",
    .kind = RTCR__FILE_KIND__FILE_PIPE,
    .match = pipe_match,
    .dump = pipe_dump,
    .prepare = pipe_prepare,
    .open = pipe_open,
    .cleanup = pipe_cleanup,
};

const struct fd_ops fd_fifo = {
    .name = "FIFO",
    .kind = RTCR__FILE_KIND__FILE_FIFO,
    .match = fifo_match,
    .dump = pipe_dump,
    .prepare = pipe_prepare,
    .open = pipe_open,
    .cleanup = pipe_cleanup,
};
