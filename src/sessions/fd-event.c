/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers shared by the anonymous-inode descriptor kinds (fd-event.h).
 */
#define LOG_PREFIX "files: "
#include "sessions/fd-event.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/compat.h"
#include "base/log.h"

bool ev_is_anon(const struct fd_info *fi, const char *name)
{
	return !strncmp(fi->link, "anon_inode:", 11) && !strcmp(fi->link + 11, name);
}

const char *ev_field(const char *fdinfo, const char *key)
{
	size_t kl = strlen(key);
	const char *p = fdinfo;

	while (p && *p) {
		if (!strncmp(p, key, kl))
			return p + kl;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

int ev_field_u64(const char *fdinfo, const char *key, int base, uint64_t *v)
{
	const char *p = ev_field(fdinfo, key);
	char *end;

	if (!p)
		return -EINVAL;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '-' || *p == '+')
		return -EINVAL;
	errno = 0;
	*v = strtoull(p, &end, base);
	if (errno || end == p)
		return -EINVAL;
	return 0;
}

int ev_dump_flags(struct ckpt_ctx *c, const struct fd_info *fi, const char *kind)
{
	uint32_t extra = fi->flags & ~(uint32_t)EV_KEPT_FLAGS;

	if (!extra)
		return 0;
	if (extra & O_ASYNC)
		return ckpt_refuse(c,
				   "pid %d: fd %d: %s with O_ASYNC (signal-driven I/O) is not "
				   "supported",
				   c->ns_pid, fi->fd, kind);
	return ckpt_refuse(c, "pid %d: fd %d: %s with status flags 0%o is not supported", c->ns_pid,
			   fi->fd, kind, extra);
}

int ev_take_fd(struct ckpt_ctx *c, int fd)
{
	int pidfd, ours, ret;

	pidfd = (int)syscall(__NR_pidfd_open, c->pid, 0);
	if (pidfd < 0)
		return pr_perror("pidfd_open %d", c->pid);
	ours = (int)syscall(__NR_pidfd_getfd, pidfd, fd, 0);
	if (ours < 0)
		ret = pr_perror("pid %d: take fd %d (pidfd_getfd)", c->ns_pid, fd);
	else
		ret = ours;
	close(pidfd);
	return ret;
}

int ev_prepare_common(const Rtcr__File *f, const void *sub, const char *kind, uint32_t accmode)
{
	if (!sub) {
		pr_err("file %u: %s without its %s part", f->id, kind, kind);
		return -EINVAL;
	}
	if (f->flags & ~(uint32_t)EV_KEPT_FLAGS) {
		pr_err("file %u: %s: status flags 0%o cannot be restored", f->id, kind, f->flags);
		return -EINVAL;
	}
	if ((f->flags & O_ACCMODE) != accmode) {
		pr_err("file %u: %s: access mode %u (a %s is always %s)", f->id, kind,
		       f->flags & O_ACCMODE, kind,
		       accmode == O_RDONLY ? "read-only" : "read-write");
		return -EINVAL;
	}
	return 0;
}

int ev_set_flags(struct rst_ctx *r, const Rtcr__File *f, int ourfd, int tfd, bool force)
{
	uint32_t fl = f->flags & (O_NONBLOCK | O_APPEND | O_NOATIME);

	if (!force && !(fl & (O_APPEND | O_NOATIME)))
		return 0;
	if (ourfd >= 0) {
		if (fcntl(ourfd, F_SETFL, (int)fl) < 0)
			return pr_perror("file %u: set status flags 0%o", f->id, fl);
		return 0;
	}
	return inject_call(&r->ij, NULL, "fcntl F_SETFL", __NR_fcntl, (uint64_t)tfd, F_SETFL, fl, 0,
			   0, 0);
}

int ev_target_close(struct rst_ctx *r, int tfd)
{
	return inject_call(&r->ij, NULL, "close", __NR_close, (uint64_t)tfd, 0, 0, 0, 0, 0);
}
