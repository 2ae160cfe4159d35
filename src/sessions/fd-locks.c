/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * File locks (Process.locks, proto/locks.proto): POSIX record locks
 * (fcntl F_SETLK), OFD locks (F_OFD_SETLK) and flock() locks.
 *
 * Checkpoint: /proc/PID/fdinfo/N lists the locks set through descriptor N
 * ("lock:\t1: POSIX  ADVISORY  WRITE 1234 00:2a:5678 100 199"): the POSIX
 * locks the process owns that were taken through that open file
 * description, and the OFD and flock locks of the description itself. Each
 * is recorded once with the File it belongs to (files.c recorded the Files
 * before): a POSIX lock per process (dup'd descriptors show it again), an
 * OFD or flock lock with the first process that has its File. Leases and
 * anything else are refused, naming them.
 *
 * Restore, after the descriptor table (RST_PROCESS): every lock is taken
 * again by a call injected into the process, on the descriptor its File has
 * there: fcntl F_SETLK (the lock belongs to the process) or F_OFD_SETLK,
 * or flock(); never waiting: a lock that someone else holds now fails the
 * restore.
 */
#define LOG_PREFIX "locks: "
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>

#include "sessions/session.h"
#include "base/log.h"
#include "core/proc.h"
#include "sessions/files.h"

static const char *kind_name(Rtcr__LockKind k)
{
	switch (k) {
	case RTCR__LOCK_KIND__LOCK_POSIX:
		return "POSIX";
	case RTCR__LOCK_KIND__LOCK_OFD:
		return "OFD";
	case RTCR__LOCK_KIND__LOCK_FLOCK:
		return "flock";
	default:
		return "unknown";
	}
}

/* ---------- checkpoint ---------- */

/* One "lock:" line of fdinfo, after "lock:". Returns 1 and fills l, or the
 * result of ckpt_refuse() (0 in a dry run). */
static int parse_lock(struct ckpt_ctx *c, int fd, const char *line, Rtcr__FileLock *l)
{
	char kind[16], word2[16], type[16], start[32], end[32];
	int pid;

	/* "1: POSIX  ADVISORY  WRITE 1234 00:2a:5678 100 199" */
	if (sscanf(line, " %*d: %15s %15s %15s %d %*x:%*x:%*u %31s %31s", kind, word2, type, &pid,
		   start, end) != 6)
		return ckpt_refuse(c, "pid %d: fd %d: a file lock rtcr cannot read (lock: %s)",
				   c->ns_pid, fd, line);
	if (!strcmp(kind, "POSIX"))
		l->kind = RTCR__LOCK_KIND__LOCK_POSIX;
	else if (!strcmp(kind, "OFDLCK"))
		l->kind = RTCR__LOCK_KIND__LOCK_OFD;
	else if (!strcmp(kind, "FLOCK"))
		l->kind = RTCR__LOCK_KIND__LOCK_FLOCK;
	else
		return ckpt_refuse(c, "pid %d: fd %d: file leases are not supported yet (lock: %s)",
				   c->ns_pid, fd, line);
	if (strcmp(word2, "ADVISORY"))
		return ckpt_refuse(c,
				   "pid %d: fd %d: a %s lock that is not advisory is not "
				   "supported (lock: %s)",
				   c->ns_pid, fd, kind, line);
	if (!strcmp(type, "WRITE"))
		l->write = true;
	else if (!strcmp(type, "READ"))
		l->write = false;
	else
		return ckpt_refuse(c,
				   "pid %d: fd %d: a %s lock of type %s is not supported "
				   "(lock: %s)",
				   c->ns_pid, fd, kind, type, line);
	l->has_kind = l->has_write = 1;
	if (l->kind == RTCR__LOCK_KIND__LOCK_FLOCK)
		return 1;
	l->has_start = 1;
	l->start = strtoull(start, NULL, 10);
	if (strcmp(end, "EOF")) {
		l->has_end = 1;
		l->end = strtoull(end, NULL, 10);
		if (l->end < l->start)
			return ckpt_refuse(c, "pid %d: fd %d: a %s lock from byte %s to %s",
					   c->ns_pid, fd, kind, start, end);
	}
	return 1;
}

static bool same_lock(const Rtcr__FileLock *a, const Rtcr__FileLock *b)
{
	return a->kind == b->kind && a->write == b->write && a->file_id == b->file_id &&
	       a->has_start == b->has_start && a->start == b->start && a->has_end == b->has_end &&
	       a->end == b->end;
}

/* Was File id recorded with an earlier process (which has its OFD and
 * flock locks then)? */
static bool file_of_earlier_process(const struct ckpt_ctx *c, uint32_t file_id)
{
	for (size_t i = 0; i < c->nfdrefs; i++)
		if (c->fdrefs[i].file_id == file_id && c->fdrefs[i].pid != c->pid)
			return true;
	return false;
}

static int dump_fd_locks(struct ckpt_ctx *c, const Rtcr__Fd *e)
{
	char path[64], *text = NULL, *line, *next;
	Rtcr__FileLock *l = NULL;
	int ret = 0;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%u", c->pid, e->fd);
	if (read_file(path, &text) < 0)
		return pr_perror("read %s", path);
	for (line = text; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (strncmp(line, "lock:", 5))
			continue;
		line += 5 + strspn(line + 5, " \t");
		/* the description's own locks are recorded with the first process that has it */
		if (!strstr(line, " POSIX ") && file_of_earlier_process(c, e->file_id))
			continue;
		l = calloc(1, sizeof(*l));
		if (!l) {
			ret = -ENOMEM;
			goto out;
		}
		rtcr__file_lock__init(l);
		l->has_file_id = 1;
		l->file_id = e->file_id;
		ret = parse_lock(c, (int)e->fd, line, l);
		if (ret < 0)
			goto out;
		if (!ret) /* refused in a dry run: go on */
			goto skip;
		ret = 0;
		for (size_t i = 0; i < c->proc->n_locks; i++)
			if (same_lock(c->proc->locks[i], l))
				goto skip;
		pr_debug("pid %d: fd %u: %s %s lock, bytes %" PRIu64 "-%" PRIu64 "%s", c->ns_pid,
			 e->fd, kind_name(l->kind), l->write ? "write" : "read", l->start, l->end,
			 l->has_end ? "" : " (EOF)");
		ret = pb_push((void ***)&c->proc->locks, &c->proc->n_locks, l);
		if (ret)
			goto out;
		l = NULL;
		continue;
	skip:
		free(l);
		l = NULL;
	}
out:
	free(l);
	free(text);
	return ret;
}

static int locks_dump(struct ckpt_ctx *c)
{
	int ret;

	if (c->proc->fdtable_of)
		return 0; /* the table and its POSIX locks are the parent's, dumped with it */
	for (size_t i = 0; i < c->proc->n_fds; i++) {
		ret = dump_fd_locks(c, c->proc->fds[i]);
		if (ret)
			return ret;
	}
	return 0;
}

/* ---------- restore ---------- */

/* Called for each process (r->proc) before anything is created. */
static int locks_prepare(struct rst_ctx *r)
{
	const Rtcr__Process *p = r->proc;

	for (size_t i = 0; i < p->n_locks; i++) {
		const Rtcr__FileLock *l = p->locks[i];
		bool found = false;

		if (!l || l->kind > RTCR__LOCK_KIND__LOCK_FLOCK ||
		    (l->has_end && (!l->has_start || l->end < l->start)) || l->start > INT64_MAX ||
		    l->end > INT64_MAX) {
			pr_err("pid %u: lock %zu: not a lock rtcr can take", p->pid, i);
			return -EINVAL;
		}
		for (size_t j = 0; j < p->n_fds && !found; j++)
			found = p->fds[j] && p->fds[j]->file_id == l->file_id;
		if (!found) {
			pr_err(
			    "pid %u: a %s lock on file %u, which the process has no descriptor of",
			    p->pid, kind_name(l->kind), l->file_id);
			return -EINVAL;
		}
	}
	return 0;
}

static int take_lock(struct rst_ctx *r, const Rtcr__FileLock *l)
{
	const Rtcr__File *f = files_by_id(r->img, l->file_id);
	const char *name = f && f->path ? f->path : "a file";
	int fd = files_target_fd(r, l->file_id);
	char what[512], range[64];
	struct flock fl;
	uint64_t addr;
	int ret;

	if (fd < 0) {
		pr_err("pid %u: a %s lock on file %u, which has no descriptor", r->proc->pid,
		       kind_name(l->kind), l->file_id);
		return -EINVAL;
	}
	if (l->kind == RTCR__LOCK_KIND__LOCK_FLOCK) {
		snprintf(what, sizeof(what), "restore: pid %u: fd %d: flock %s of %s", r->proc->pid,
			 fd, l->write ? "LOCK_EX" : "LOCK_SH", name);
		return inject_call(&r->ij, NULL, what, __NR_flock, (uint64_t)fd,
				   (l->write ? LOCK_EX : LOCK_SH) | LOCK_NB, 0, 0, 0, 0);
	}
	memset(&fl, 0, sizeof(fl));
	fl.l_type = l->write ? F_WRLCK : F_RDLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = (off_t)l->start;
	fl.l_len = l->has_end ? (off_t)(l->end - l->start + 1) : 0;
	if (l->has_end)
		snprintf(range, sizeof(range), "%" PRIu64 "-%" PRIu64, l->start, l->end);
	else
		snprintf(range, sizeof(range), "%" PRIu64 "-EOF", l->start);
	snprintf(what, sizeof(what),
		 "restore: pid %u: fd %d: %s %s lock on bytes %s of %s (held by another process "
		 "now?)",
		 r->proc->pid, fd, kind_name(l->kind), l->write ? "write" : "read", range, name);
	ret = rst_scratch_put(r, 0, &fl, sizeof(fl), &addr);
	if (ret)
		return ret;
	return inject_call(&r->ij, NULL, what, __NR_fcntl, (uint64_t)fd,
			   l->kind == RTCR__LOCK_KIND__LOCK_OFD ? F_OFD_SETLK : F_SETLK, addr, 0, 0,
			   0);
}

static int locks_restore(struct rst_ctx *r)
{
	int ret;

	for (size_t i = 0; i < r->proc->n_locks; i++) {
		ret = take_lock(r, r->proc->locks[i]);
		if (ret)
			return ret;
	}
	return 0;
}

const struct session_ops session_locks = {
    .name = "locks",
    .dump = locks_dump,
    .prepare = locks_prepare,
    .restore = locks_restore,
    .phase = RST_PROCESS,
};
