/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * epoll: the interest list, one EpollEntry per watched file: the number it
 * was added with (tfd), its events (with EPOLLET, EPOLLONESHOT,
 * EPOLLEXCLUSIVE, EPOLLWAKEUP) and data, from fdinfo.
 *
 * An entry is keyed by (file, descriptor number at EPOLL_CTL_ADD) and stays
 * as long as the file lives, even when that number was closed since (the
 * file kept open under another number: dup) or now names another file.
 * kcmp(KCMP_EPOLL_TFD) tells whether descriptor tfd still is the watched
 * file; when not, the process's other descriptors are searched for it, and
 * the one found is recorded as via_fd. A watched file the process no longer
 * has any descriptor for (kept alive by a mapping, or by another process)
 * is refused: nothing could name it at restore.
 *
 * Restore: epoll_create1 in the target; then, when every descriptor is in
 * place (post), EPOLL_CTL_ADD of every entry in the target, through tfd
 * itself or, for an entry whose tfd was closed or reused, through tfd made
 * a copy of via_fd for the time of the call (what held tfd is put back
 * after it), so that the entry keeps its key.
 *
 * Not kept exactly: which ready events were already reported. An
 * edge-triggered entry whose file is ready reports once more after the
 * restore (a spurious wakeup, as epoll allows); a one-shot entry that
 * fired and was not re-armed with EPOLL_CTL_MOD comes back armed for
 * EPOLLERR and EPOLLHUP only (the kernel adds them to any EPOLL_CTL_ADD).
 */
#define LOG_PREFIX "epoll: "
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/kcmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/log.h"
#include "sessions/fd-event.h"

#define EPOLL_MAX_ENTRIES 65536
/* struct epoll_event is packed on x86-64: 12 bytes */
#define EV_SIZE	 sizeof(struct epoll_event)
#define EV_BATCH (2048 / EV_SIZE)

static bool epoll_match(struct ckpt_ctx *c, const struct fd_info *fi)
{
	return ev_is_anon(fi, "[eventpoll]");
}

/* Is descriptor fd of the process the file of the toff-th entry of epoll
 * descriptor efd added as tfd? 1 yes, 0 no, or -errno. */
static int is_watched(struct ckpt_ctx *c, int efd, int tfd, int toff, int fd)
{
	struct kcmp_epoll_slot slot;
	long r;

	slot.efd = (uint32_t)efd;
	slot.tfd = (uint32_t)tfd;
	slot.toff = (uint32_t)toff;
	r = syscall(SYS_kcmp, c->pid, c->pid, KCMP_EPOLL_TFD, fd, &slot);

	if (r == 0)
		return 1;
	if (r > 0 || errno == EBADF)
		return 0;
	return pr_perror("pid %d: kcmp(KCMP_EPOLL_TFD) of fd %d and epoll fd %d entry %d/%d",
			 c->ns_pid, fd, efd, tfd, toff);
}

/* A descriptor of the process on the file of an entry whose tfd no longer is. */
static int find_via(struct ckpt_ctx *c, int efd, int tfd, int toff, int *via)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int ret = 0;

	*via = -1;
	snprintf(path, sizeof(path), "/proc/%d/fd", c->pid);
	d = opendir(path);
	if (!d)
		return pr_perror("open %s", path);
	while ((de = readdir(d))) {
		int fd;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		fd = atoi(de->d_name);
		if (fd == tfd || fd == efd)
			continue;
		ret = is_watched(c, efd, tfd, toff, fd);
		if (ret < 0)
			break;
		if (ret && (*via < 0 || fd < *via))
			*via = fd;
		ret = 0;
	}
	closedir(d);
	return ret;
}

static int refuse_closed(struct ckpt_ctx *c, int efd, int tfd)
{
	return ckpt_refuse(c,
			   "pid %d: fd %d: epoll watches a file added as fd %d that the "
			   "process has closed: no descriptor of it names that file any more",
			   c->ns_pid, efd, tfd);
}

static int epoll_dump(struct ckpt_ctx *c, const struct fd_info *fi, Rtcr__File *f)
{
	Rtcr__EpollFile *ep;
	Rtcr__EpollEntry *e;
	const char *p;
	int ret;

	ret = ev_dump_flags(c, fi, "epoll");
	if (ret)
		return ret;
	ep = calloc(1, sizeof(*ep));
	if (!ep)
		return -ENOMEM;
	rtcr__epoll_file__init(ep);
	f->epoll = ep;
	for (p = ev_field(fi->fdinfo, "tfd:"); p; p = ev_field(p, "tfd:")) {
		unsigned int events;
		unsigned long long data;
		int tfd, toff = 0, via;

		if (sscanf(p, "%d events: %x data: %llx", &tfd, &events, &data) != 3 || tfd < 0) {
			pr_err("pid %d: fd %d: cannot parse its fdinfo line 'tfd:%.60s'", c->ns_pid,
			       fi->fd, p);
			return -EIO;
		}
		if (ep->n_entries >= EPOLL_MAX_ENTRIES)
			return ckpt_refuse(c, "pid %d: fd %d: epoll watching more than %d files",
					   c->ns_pid, fi->fd, EPOLL_MAX_ENTRIES);
		/* the kernel's toff: entries with the same number before this one,
		 * in the order fdinfo lists them (both walk the same tree) */
		for (size_t i = 0; i < ep->n_entries; i++)
			if (ep->entries[i]->tfd == (uint32_t)tfd)
				toff++;
		ret = is_watched(c, fi->fd, tfd, toff, tfd);
		if (ret < 0)
			return ret;
		via = tfd;
		if (!ret) {
			ret = find_via(c, fi->fd, tfd, toff, &via);
			if (ret)
				return ret;
			if (via < 0)
				return refuse_closed(c, fi->fd, tfd);
			pr_info("pid %d: fd %d: epoll entry of fd %d: that number was closed or "
				"reused; the file is fd %d now",
				c->ns_pid, fi->fd, tfd, via);
		}
		e = calloc(1, sizeof(*e));
		if (!e)
			return -ENOMEM;
		rtcr__epoll_entry__init(e);
		e->has_tfd = e->has_events = e->has_data = e->has_via_fd = 1;
		e->tfd = (uint32_t)tfd;
		e->events = events;
		e->data = data;
		e->via_fd = (uint32_t)via;
		ret = pb_push((void ***)&ep->entries, &ep->n_entries, e);
		if (ret) {
			free(e);
			return ret;
		}
	}
	return 0;
}

static const Rtcr__Fd *fd_entry(const Rtcr__Process *p, uint32_t fd)
{
	for (size_t i = 0; i < p->n_fds; i++)
		if (p->fds[i]->fd == fd)
			return p->fds[i];
	return NULL;
}

static int epoll_prepare(struct rst_ctx *r, const Rtcr__File *f)
{
	const Rtcr__EpollFile *ep = f->epoll;
	int ret = ev_prepare_common(f, ep, "epoll", O_RDWR);

	if (ret)
		return ret;
	if (ep->n_entries > EPOLL_MAX_ENTRIES) {
		pr_err("file %u: epoll with %zu entries (at most %d)", f->id, ep->n_entries,
		       EPOLL_MAX_ENTRIES);
		return -EINVAL;
	}
	for (size_t i = 0; i < ep->n_entries; i++) {
		const Rtcr__EpollEntry *e = ep->entries[i];
		const Rtcr__Fd *via;

		if (!e || !e->has_tfd || !e->has_via_fd || e->tfd > INT_MAX) {
			pr_err("file %u: epoll entry %zu: missing or invalid", f->id, i);
			return -EINVAL;
		}
		via = fd_entry(r->proc, e->via_fd);
		if (!via) {
			pr_err("file %u: epoll entry %zu (fd %u): fd %u, its watched file, is not "
			       "in the descriptor table",
			       f->id, i, e->tfd, e->via_fd);
			return -EINVAL;
		}
		if (via->file_id == f->id) {
			pr_err("file %u: epoll entry %zu: the epoll watches itself", f->id, i);
			return -EINVAL;
		}
	}
	return 0;
}

static int epoll_open(struct rst_ctx *r, const Rtcr__File *f, int *ourfd, int *tfd)
{
	long fd;
	int ret;

	ret = inject_call(&r->ij, &fd, "epoll_create1", __NR_epoll_create1, EPOLL_CLOEXEC, 0, 0, 0,
			  0, 0);
	if (ret)
		return ret;
	ret = ev_set_flags(r, f, -1, (int)fd, (f->flags & O_NONBLOCK) != 0);
	if (ret) {
		ev_target_close(r, (int)fd);
		return ret;
	}
	*tfd = (int)fd;
	return 0;
}

static int ctl_add(struct rst_ctx *r, const Rtcr__File *f, int epfd, int fd, uint64_t ev)
{
	long got;
	int ret;

	ret = inject_syscall(&r->ij, &got, __NR_epoll_ctl, (uint64_t)epfd, EPOLL_CTL_ADD,
			     (uint64_t)fd, ev, 0, 0);
	if (ret)
		return ret;
	if (got < 0) {
		pr_err("file %u: epoll_ctl(EPOLL_CTL_ADD) of fd %d: %s", f->id, fd,
		       strerror((int)-got));
		return (int)got;
	}
	return 0;
}

/* Add an entry whose number tfd is closed or names another file now: make
 * tfd the watched file (via) for the call, then put back what it was. */
static int add_through(struct rst_ctx *r, const Rtcr__File *f, int epfd, const Rtcr__EpollEntry *e,
		       uint64_t ev)
{
	int tfd = (int)e->tfd, via = (int)e->via_fd, ret, ret2;
	long fdfl, save = -1;

	ret = inject_syscall(&r->ij, &fdfl, __NR_fcntl, (uint64_t)tfd, F_GETFD, 0, 0, 0, 0);
	if (ret)
		return ret;
	if (fdfl < 0 && fdfl != -EBADF) {
		pr_err("fcntl(%d, F_GETFD): %s", tfd, strerror((int)-fdfl));
		return (int)fdfl;
	}
	if (fdfl >= 0) {
		/* keep what holds tfd under another number meanwhile */
		ret = inject_call(&r->ij, &save, "fcntl F_DUPFD_CLOEXEC", __NR_fcntl, (uint64_t)tfd,
				  F_DUPFD_CLOEXEC, 0, 0, 0, 0);
		if (ret)
			return ret;
		if (epfd == tfd)
			epfd = (int)save;
	}
	ret = inject_call(&r->ij, NULL, "dup3", __NR_dup3, (uint64_t)via, (uint64_t)tfd, O_CLOEXEC,
			  0, 0, 0);
	if (!ret)
		ret = ctl_add(r, f, epfd, tfd, ev);
	if (save >= 0) {
		ret2 = inject_call(&r->ij, NULL, "dup3", __NR_dup3, (uint64_t)save, (uint64_t)tfd,
				   (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0, 0, 0, 0);
		if (!ret2)
			ret2 = ev_target_close(r, (int)save);
	} else {
		ret2 = ev_target_close(r, tfd);
	}
	return ret ? ret : ret2;
}

static int epoll_post(struct rst_ctx *r, const Rtcr__File *f)
{
	const Rtcr__EpollFile *ep = f->epoll;
	struct epoll_event evs[EV_BATCH];
	int epfd = files_target_fd(r, f->id), ret;
	uint64_t base;

	for (size_t i = 0; i < ep->n_entries; i += EV_BATCH) {
		size_t n = ep->n_entries - i < EV_BATCH ? ep->n_entries - i : EV_BATCH;

		for (size_t j = 0; j < n; j++) {
			evs[j].events = ep->entries[i + j]->events;
			evs[j].data.u64 = ep->entries[i + j]->data;
		}
		ret = rst_scratch_put(r, 0, evs, n * EV_SIZE, &base);
		if (ret)
			return ret;
		for (size_t j = 0; j < n; j++) {
			const Rtcr__EpollEntry *e = ep->entries[i + j];
			uint64_t ev = base + j * EV_SIZE;

			if (e->via_fd == e->tfd)
				ret = ctl_add(r, f, epfd, (int)e->tfd, ev);
			else
				ret = add_through(r, f, epfd, e, ev);
			if (ret)
				return ret;
		}
	}
	return 0;
}

const struct fd_ops fd_epoll = {
    .name = "epoll",
    .kind = RTCR__FILE_KIND__FILE_EPOLL,
    .match = epoll_match,
    .dump = epoll_dump,
    .prepare = epoll_prepare,
    .open = epoll_open,
    .post = epoll_post,
};
