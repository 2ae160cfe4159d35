/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * POSIX message queue descriptors (mq_open). /proc/PID/fd shows them as
 * "/NAME" (a path on the IPC namespace's internal mqueue mount; through a
 * mounted mqueue fs, "/dev/mqueue/NAME"); the object is on the mqueue
 * filesystem (statfs). The queue itself is in the image's IPC namespace
 * part (ipc-mqueue.c, dumped before the descriptors); the descriptor keeps
 * its name (File.path "/NAME") and status flags (O_RDONLY/O_WRONLY/O_RDWR,
 * O_NONBLOCK). Restore: mq_open of the recreated queue by a thread in the
 * target's new IPC namespace, passed into the target.
 *
 * Refused: a descriptor on a queue that was unlinked, or on a queue that is
 * not of the target's IPC namespace. Not kept: a notification registered
 * through the descriptor (the queue is refused, ipc-mqueue.c).
 */
#define LOG_PREFIX "mqueue: "
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>

#include "base/log.h"
#include "sessions/files.h"
#include "sessions/ipc.h"

#define DELETED " (deleted)"

static bool mqueue_match(struct ckpt_ctx *c, const struct fd_info *fi)
{
	char path[64];
	struct statfs sf;

	if (!S_ISREG(fi->st.st_mode) || fi->link[0] != '/' || !c->img->ipc ||
	    !c->img->ipc->n_mqueues)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", c->pid, fi->fd);
	return statfs(path, &sf) == 0 && sf.f_type == IPC_MQUEUE_MAGIC;
}

static int mqueue_dump(struct ckpt_ctx *c, const struct fd_info *fi, Rtcr__File *f)
{
	const char *name = strrchr(fi->link, '/') + 1;
	size_t l = strlen(name), dl = strlen(DELETED);
	const Rtcr__PosixMqueue *q;
	char *path;

	if (fi->st.st_nlink == 0 || (l >= dl && !strcmp(name + l - dl, DELETED)))
		return ckpt_refuse(c,
				   "pid %d: fd %d: POSIX message queue %s was unlinked: not "
				   "supported",
				   c->ns_pid, fi->fd, fi->link);
	q = ipc_mq_find(c->img->ipc, name);
	if (!q || q->ino != (uint64_t)fi->st.st_ino)
		return ckpt_refuse(c,
				   "pid %d: fd %d: POSIX message queue %s is not one of the "
				   "target's IPC namespace",
				   c->ns_pid, fi->fd, fi->link);
	if (asprintf(&path, "/%s", name) < 0)
		return -ENOMEM;
	free(f->path);
	f->path = path;
	return 0;
}

static int mqueue_prepare(struct rst_ctx *r, const Rtcr__File *f)
{
	if (!f->path || f->path[0] != '/' || !ipc_mq_find(r->img->ipc, f->path + 1)) {
		pr_err("file %u: POSIX message queue %s is not in the image", f->id,
		       f->path ? f->path : "(none)");
		return -EINVAL;
	}
	if ((f->flags & O_ACCMODE) == O_ACCMODE) {
		pr_err("file %u: POSIX message queue %s: access mode 3", f->id, f->path);
		return -EINVAL;
	}
	return 0;
}

struct open_arg {
	const Rtcr__File *f;
	int fd;
};

static int open_in_ns(void *a)
{
	struct open_arg *o = a;

	o->fd = mq_open(o->f->path, (int)(o->f->flags & (O_ACCMODE | O_NONBLOCK)) | O_CLOEXEC);
	if (o->fd < 0)
		return pr_perror("open POSIX message queue %s", o->f->path);
	return 0;
}

static int mqueue_open(struct rst_ctx *r, const Rtcr__File *f, int *ourfd, int *tfd)
{
	struct open_arg o = {.f = f, .fd = -1};
	int ret = ipc_in_ns(r->pid, open_in_ns, &o);

	if (ret)
		return ret;
	*ourfd = o.fd;
	*tfd = -1;
	return 0;
}

const struct fd_ops fd_mqueue = {
    .name = "POSIX message queue",
    .kind = RTCR__FILE_KIND__FILE_MQUEUE,
    .match = mqueue_match,
    .dump = mqueue_dump,
    .prepare = mqueue_prepare,
    .open = mqueue_open,
};
