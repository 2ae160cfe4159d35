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
 * the one found is recorded as via_fd. An epoll shared by processes (fork)
 * may watch a descriptor of another process that has it too (added there):
 * that process's table is searched, and recorded as via_pid; the entry is
 * checked against, and added again in, that table. A watched file no
 * process that has the epoll has a descriptor for (kept alive by a
 * mapping, or by another process) is refused: nothing could name it at
 * restore.
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
#include "core/proc.h"
#include "sessions/fd-event.h"

#define EPOLL_MAX_ENTRIES 65536
/* struct epoll_event is packed on x86-64: 12 bytes */
#define EV_SIZE	 sizeof(struct epoll_event)
#define EV_BATCH (2048 / EV_SIZE)

static bool epoll_match(struct ckpt_ctx *c, const struct fd_info *fi)
{
	return ev_is_anon(fi, "[eventpoll]");
}

/* Is descriptor fd of process pid the file of the toff-th entry of epoll
 * descriptor efd (of the process being dumped) added as tfd? 1 yes, 0 no,
 * or -errno. */
static int is_watched(struct ckpt_ctx *c, pid_t pid, int efd, int tfd, int toff, int fd)
{
	struct kcmp_epoll_slot slot;
	long r;

	slot.efd = (uint32_t)efd;
	slot.tfd = (uint32_t)tfd;
	slot.toff = (uint32_t)toff;
	r = syscall(SYS_kcmp, pid, c->pid, KCMP_EPOLL_TFD, fd, &slot);

	if (r == 0)
		return 1;
	if (r > 0 || errno == EBADF || errno == ESRCH || errno == EPERM)
		return 0;
	return pr_perror("pid %d: kcmp(KCMP_EPOLL_TFD) of fd %d (host pid %d) and epoll fd %d "
			 "entry %d/%d",
			 c->ns_pid, fd, pid, efd, tfd, toff);
}

/* A descriptor of process pid on the file of an entry (not tfd itself). */
static int find_via(struct ckpt_ctx *c, pid_t pid, int efd, int tfd, int toff, int *via)
{
	char path[64];
	int *fds = NULL, n = 0, ret;

	*via = -1;
	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	ret = dir_numbers(path, &fds, &n);
	if (ret)
		return ret == -ENOMEM ? ret : 0; /* a zombie, or gone: no table */
	for (int i = 0; i < n; i++) {
		if (fds[i] == tfd || (pid == c->pid && fds[i] == efd))
			continue;
		ret = is_watched(c, pid, efd, tfd, toff, fds[i]);
		if (ret < 0)
			break;
		if (ret && (*via < 0 || fds[i] < *via))
			*via = fds[i];
		ret = 0;
	}
	free(fds);
	return ret;
}

/* Does process pid have the epoll efd (of the process being dumped) in
 * its descriptor table? */
static bool has_epoll(struct ckpt_ctx *c, pid_t pid, int efd)
{
	char path[64];
	int *fds = NULL, n = 0;
	bool found = false;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	if (dir_numbers(path, &fds, &n))
		return false;
	for (int i = 0; i < n && !found; i++)
		found = syscall(SYS_kcmp, pid, c->pid, KCMP_FILE, fds[i], efd) == 0;
	free(fds);
	return found;
}

/* The processes of the target (descendants of init), but the one being
 * dumped and those sharing its descriptor table. */
static int other_processes(struct ckpt_ctx *c, pid_t **out, int *n)
{
	pid_t *ps = NULL;
	int np = 0, ret;

	ret = proc_descendants(c->t->init_pid, &ps, &np);
	if (ret)
		return ret;
	*n = 0;
	for (int i = 0; i < np; i++)
		if (ps[i] != c->pid && syscall(SYS_kcmp, ps[i], c->pid, KCMP_FILES, 0, 0) != 0)
			ps[(*n)++] = ps[i];
	*out = ps;
	return ret;
}

/*
 * The watched file of an entry that no descriptor of the dumped process
 * names: an epoll shared with other processes (fork) may watch a
 * descriptor of another one (added there). That process must have the
 * epoll as well: the entry is added again there.
 */
static int find_elsewhere(struct ckpt_ctx *c, int efd, int tfd, int toff, int *via,
			  uint32_t *via_pid)
{
	pid_t *ps = NULL;
	int n = 0, ret;

	*via = -1;
	ret = other_processes(c, &ps, &n);
	for (int i = 0; i < n && !ret && *via < 0; i++) {
		if (!has_epoll(c, ps[i], efd))
			continue;
		ret = is_watched(c, ps[i], efd, tfd, toff, tfd);
		if (ret > 0) {
			*via = tfd;
			ret = 0;
		} else if (!ret) {
			ret = find_via(c, ps[i], efd, tfd, toff, via);
		}
		if (!ret && *via >= 0)
			*via_pid = (uint32_t)proc_ns_pid(ps[i]);
	}
	free(ps);
	return ret;
}

static int refuse_closed(struct ckpt_ctx *c, int efd, int tfd)
{
	return ckpt_refuse(c,
			   "pid %d: fd %d: epoll watches a file added as fd %d that the "
			   "process has closed: no descriptor of it (or of another process "
			   "that has this epoll) names that file any more",
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
		uint32_t via_pid;

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
		ret = is_watched(c, c->pid, fi->fd, tfd, toff, tfd);
		if (ret < 0)
			return ret;
		via = ret ? tfd : -1;
		via_pid = (uint32_t)c->ns_pid;
		ret = via < 0 ? find_via(c, c->pid, fi->fd, tfd, toff, &via) : 0;
		if (!ret && via < 0)
			ret = find_elsewhere(c, fi->fd, tfd, toff, &via, &via_pid);
		if (ret)
			return ret;
		if (via < 0)
			return refuse_closed(c, fi->fd, tfd);
		if (via != tfd || via_pid != (uint32_t)c->ns_pid)
			pr_info("pid %d: fd %d: epoll entry of fd %d: the watched file is fd %d "
				"of pid %u",
				c->ns_pid, fi->fd, tfd, via, via_pid);
		e = calloc(1, sizeof(*e));
		if (!e)
			return -ENOMEM;
		rtcr__epoll_entry__init(e);
		e->has_tfd = e->has_events = e->has_data = e->has_via_fd = 1;
		e->tfd = (uint32_t)tfd;
		e->events = events;
		e->data = data;
		e->via_fd = (uint32_t)via;
		if (via_pid != (uint32_t)c->ns_pid) {
			e->has_via_pid = 1;
			e->via_pid = via_pid;
		}
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

static const Rtcr__Fd *fd_entry_of(const Rtcr__Process *p, uint32_t file_id)
{
	for (size_t i = 0; i < p->n_fds; i++)
		if (p->fds[i]->file_id == file_id)
			return p->fds[i];
	return NULL;
}

static const Rtcr__Process *proc_by_pid(const Rtcr__Image *img, uint32_t pid)
{
	for (size_t k = 0; k < img->n_processes; k++)
		if (img->processes[k]->pid == pid && !img->processes[k]->zombie)
			return img->processes[k];
	return NULL;
}

/* The first process of the image whose descriptor table has file id. */
static const Rtcr__Process *first_holder(const Rtcr__Image *img, uint32_t id)
{
	for (size_t k = 0; k < img->n_processes; k++) {
		const Rtcr__Process *p = img->processes[k];

		for (size_t i = 0; i < p->n_fds && !p->zombie; i++)
			if (p->fds[i]->file_id == id)
				return p;
	}
	return NULL;
}

/* The process whose descriptor table an entry's numbers are in (where it
 * is added again): via_pid, or the process whose table that one shares
 * (CLONE_FILES); without via_pid, the first that has the epoll (def). */
static const Rtcr__Process *entry_owner(const Rtcr__Image *img, const Rtcr__EpollEntry *e,
					const Rtcr__Process *def)
{
	const Rtcr__Process *p;

	if (!e->has_via_pid)
		return def;
	p = proc_by_pid(img, e->via_pid);
	if (p && p->has_fdtable_of)
		p = proc_by_pid(img, p->fdtable_of);
	return p;
}

static int check_entry(const Rtcr__Image *img, const Rtcr__File *f, size_t i,
		       const Rtcr__Process *def)
{
	const Rtcr__EpollEntry *e = f->epoll->entries[i];
	const Rtcr__Process *owner;
	const Rtcr__Fd *via;

	if (!e || !e->has_tfd || !e->has_via_fd || e->tfd > INT_MAX) {
		pr_err("file %u: epoll entry %zu: missing or invalid", f->id, i);
		return -EINVAL;
	}
	owner = entry_owner(img, e, def);
	if (!owner) {
		pr_err("file %u: epoll entry %zu (fd %u): its process %u is not in the image",
		       f->id, i, e->tfd, e->via_pid);
		return -EINVAL;
	}
	if (!fd_entry_of(owner, f->id)) {
		pr_err("file %u: epoll entry %zu (fd %u): pid %u, where its watched fd is, has "
		       "no descriptor of the epoll",
		       f->id, i, e->tfd, owner->pid);
		return -EINVAL;
	}
	via = fd_entry(owner, e->via_fd);
	if (!via) {
		pr_err("file %u: epoll entry %zu (fd %u): fd %u, its watched file, is not in the "
		       "descriptor table of pid %u",
		       f->id, i, e->tfd, e->via_fd, owner->pid);
		return -EINVAL;
	}
	if (via->file_id == f->id) {
		pr_err("file %u: epoll entry %zu: the epoll watches itself", f->id, i);
		return -EINVAL;
	}
	return 0;
}

static int epoll_prepare(struct rst_ctx *r, const Rtcr__File *f)
{
	const Rtcr__EpollFile *ep = f->epoll;
	const Rtcr__Process *def;
	int ret = ev_prepare_common(f, ep, "epoll", O_RDWR);

	if (ret)
		return ret;
	if (ep->n_entries > EPOLL_MAX_ENTRIES) {
		pr_err("file %u: epoll with %zu entries (at most %d)", f->id, ep->n_entries,
		       EPOLL_MAX_ENTRIES);
		return -EINVAL;
	}
	/* checked once, for the first process (every process prepares every file) */
	if (r->proc != r->img->processes[0])
		return 0;
	def = first_holder(r->img, f->id);
	for (size_t i = 0; i < ep->n_entries && def && !ret; i++)
		ret = check_entry(r->img, f, i, def);
	return ret;
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

/* Every process that has the epoll adds the entries whose numbers are in
 * its descriptor table. */
static int epoll_post(struct rst_ctx *r, const Rtcr__File *f)
{
	const Rtcr__EpollFile *ep = f->epoll;
	const Rtcr__Process *def = first_holder(r->img, f->id);
	struct epoll_event evs[EV_BATCH];
	size_t idx[EV_BATCH];
	int epfd = files_target_fd(r, f->id), ret;
	uint64_t base;

	for (size_t i = 0; i < ep->n_entries;) {
		size_t n = 0;

		for (; i < ep->n_entries && n < EV_BATCH; i++) {
			if (entry_owner(r->img, ep->entries[i], def) != r->proc)
				continue;
			evs[n].events = ep->entries[i]->events;
			evs[n].data.u64 = ep->entries[i]->data;
			idx[n++] = i;
		}
		if (!n)
			break;
		ret = rst_scratch_put(r, 0, evs, n * EV_SIZE, &base);
		if (ret)
			return ret;
		for (size_t j = 0; j < n; j++) {
			const Rtcr__EpollEntry *e = ep->entries[idx[j]];
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
