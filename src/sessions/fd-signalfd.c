/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * signalfd: the set of signals it reads (fdinfo sigmask) and the status
 * flags. A signalfd reads the signals of whoever reads it, not of its
 * creator, so it is made in the parent and passed into the target; the
 * signals themselves are pending signals of the target (signals.c).
 */
#define LOG_PREFIX "signalfd: "
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/log.h"
#include "sessions/fd-event.h"

#define SIGBIT(s) (1ULL << ((s)-1))

static bool signalfd_match(struct ckpt_ctx *c, const struct fd_info *fi)
{
	return ev_is_anon(fi, "[signalfd]");
}

static int signalfd_dump(struct ckpt_ctx *c, const struct fd_info *fi, Rtcr__File *f)
{
	Rtcr__SignalfdFile *s;
	uint64_t mask;
	int ret;

	ret = ev_dump_flags(c, fi, "signalfd");
	if (ret)
		return ret;
	if (ev_field_u64(fi->fdinfo, "sigmask:", 16, &mask)) {
		pr_err("pid %d: fd %d: no sigmask in its fdinfo", c->ns_pid, fi->fd);
		return -EIO;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	rtcr__signalfd_file__init(s);
	s->has_sigmask = 1;
	/* the kernel never lets a signalfd take these */
	s->sigmask = mask & ~(SIGBIT(SIGKILL) | SIGBIT(SIGSTOP));
	f->signalfd = s;
	return 0;
}

static int signalfd_prepare(struct rst_ctx *r, const Rtcr__File *f)
{
	int ret = ev_prepare_common(f, f->signalfd, "signalfd", O_RDWR);

	if (ret)
		return ret;
	if (f->signalfd->sigmask & (SIGBIT(SIGKILL) | SIGBIT(SIGSTOP))) {
		pr_err("file %u: signalfd mask 0x%016" PRIx64 " holds SIGKILL or SIGSTOP", f->id,
		       f->signalfd->sigmask);
		return -EINVAL;
	}
	return 0;
}

static int signalfd_open(struct rst_ctx *r, const Rtcr__File *f, int *ourfd, int *tfd)
{
	uint64_t mask = f->signalfd->sigmask;
	int fd, ret;

	/* the raw call: glibc's sigset functions refuse its own signals 32, 33 */
	fd = (int)syscall(SYS_signalfd4, -1, &mask, sizeof(mask), SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		return pr_perror("file %u: signalfd (mask 0x%016" PRIx64 ")", f->id, mask);
	ret = ev_set_flags(r, f, fd, -1, !(f->flags & O_NONBLOCK));
	if (ret) {
		close(fd);
		return ret;
	}
	*ourfd = fd;
	return 0;
}

const struct fd_ops fd_signalfd = {
    .name = "signalfd",
    .kind = RTCR__FILE_KIND__FILE_SIGNALFD,
    .match = signalfd_match,
    .dump = signalfd_dump,
    .prepare = signalfd_prepare,
    .open = signalfd_open,
};
