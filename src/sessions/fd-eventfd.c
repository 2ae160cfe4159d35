/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * eventfd: the counter and EFD_SEMAPHORE (fdinfo eventfd-count, in hex, and
 * eventfd-semaphore), and the status flags. Restored in the parent: an
 * eventfd made with the same mode, the counter written into it (eventfd()
 * takes only 32 bits), passed into the target. The eventfd-id (a number
 * the kernel hands out) is not kept.
 */
#define LOG_PREFIX "eventfd: "
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/log.h"
#include "sessions/fd-event.h"

static bool eventfd_match(struct ckpt_ctx *c, const struct fd_info *fi)
{
	return ev_is_anon(fi, "[eventfd]");
}

static int eventfd_dump(struct ckpt_ctx *c, const struct fd_info *fi, Rtcr__File *f)
{
	Rtcr__EventfdFile *e;
	uint64_t count, sem;
	int ret;

	ret = ev_dump_flags(c, fi, "eventfd");
	if (ret)
		return ret;
	if (ev_field_u64(fi->fdinfo, "eventfd-count:", 16, &count)) {
		pr_err("pid %d: fd %d: no eventfd-count in its fdinfo", c->ns_pid, fi->fd);
		return -EIO;
	}
	if (ev_field_u64(fi->fdinfo, "eventfd-semaphore:", 10, &sem))
		return ckpt_refuse(c,
				   "pid %d: fd %d: eventfd: this kernel does not tell whether it "
				   "is a semaphore (no eventfd-semaphore in fdinfo; Linux 6.5+)",
				   c->ns_pid, fi->fd);
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	rtcr__eventfd_file__init(e);
	e->has_count = e->has_semaphore = 1;
	e->count = count;
	e->semaphore = sem != 0;
	f->eventfd = e;
	return 0;
}

static int eventfd_prepare(struct rst_ctx *r, const Rtcr__File *f)
{
	int ret = ev_prepare_common(f, f->eventfd, "eventfd", O_RDWR);

	if (ret)
		return ret;
	if (f->eventfd->count == UINT64_MAX) {
		pr_err("file %u: eventfd counter %" PRIu64 " (at most 2^64-2)", f->id,
		       f->eventfd->count);
		return -EINVAL;
	}
	return 0;
}

static int eventfd_open(struct rst_ctx *r, const Rtcr__File *f, int *ourfd, int *tfd)
{
	const Rtcr__EventfdFile *e = f->eventfd;
	int fd, ret;

	fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK | (e->semaphore ? EFD_SEMAPHORE : 0));
	if (fd < 0)
		return pr_perror("file %u: eventfd", f->id);
	if (e->count && write(fd, &e->count, sizeof(e->count)) != sizeof(e->count)) {
		ret = pr_perror("file %u: set the eventfd counter to %" PRIu64, f->id, e->count);
		goto out;
	}
	ret = ev_set_flags(r, f, fd, -1, !(f->flags & O_NONBLOCK));
	if (ret)
		goto out;
	*ourfd = fd;
	return 0;
out:
	close(fd);
	return ret;
}

const struct fd_ops fd_eventfd = {
    .name = "eventfd",
    .kind = RTCR__FILE_KIND__FILE_EVENTFD,
    .match = eventfd_match,
    .dump = eventfd_dump,
    .prepare = eventfd_prepare,
    .open = eventfd_open,
};
