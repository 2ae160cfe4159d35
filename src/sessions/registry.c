/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The registry of resource kinds (registry.h): the only place that names
 * them. A session kind is one line in session_kinds[], a descriptor kind
 * one line in fd_kinds[].
 */
#include "sessions/registry.h"

#include "sessions/files.h"

extern const struct session_ops session_memory, session_tasks, session_files, session_process,
    session_locks, session_timers, session_signals, session_threads, session_seccomp, session_ipc,
    session_ipc_finish;

/* Restore order (see registry.h). Dump order: threads first (their
 * registers as stopped), memory last (it must see the address space after
 * our own scratch mapping is gone from consideration). */
const struct session_kind session_kinds[] = {
    {.ops = &session_ipc, .dump_step = 5}, /* the IPC namespace's objects, before mappings */
    {.ops = &session_memory, .dump_step = 9},
    {.ops = &session_ipc_finish}, /* restore only: removal marks once attached */
    {.ops = &session_tasks},	  /* restore only: threads made while still privileged */
    {.ops = &session_files, .dump_step = 6, .per_fdtable = true},
    {.ops = &session_process, .dump_step = 2},
    {.ops = &session_locks, .dump_step = 7},
    {.ops = &session_timers, .dump_step = 4},
    {.ops = &session_signals, .dump_step = 3},
    {.ops = &session_threads, .dump_step = 1},
    {.ops = &session_seccomp, .dump_step = 8},
};
const size_t session_nkinds = sizeof(session_kinds) / sizeof(session_kinds[0]);

/* Steps are ordered, gaps allowed; equal steps (a unit test refuses them)
 * go in table order. */
const struct session_kind *session_dump_kind(size_t i)
{
	for (size_t k = 0; k < session_nkinds; k++) {
		unsigned s = session_kinds[k].dump_step;
		size_t before = 0;

		if (!s)
			continue;
		for (size_t j = 0; j < session_nkinds; j++) {
			unsigned t = session_kinds[j].dump_step;

			if (t && (t < s || (t == s && j < k)))
				before++;
		}
		if (before == i)
			return &session_kinds[k];
	}
	return NULL;
}

void session_kinds_cleanup(struct rst_ctx *r)
{
	for (size_t k = 0; k < session_nkinds; k++)
		if (session_kinds[k].ops->cleanup)
			session_kinds[k].ops->cleanup(r);
}

extern const struct fd_ops fd_reg, fd_dir, fd_chr, fd_log, fd_pipe, fd_fifo, fd_unix, fd_inet,
    fd_eventfd, fd_timerfd, fd_signalfd, fd_epoll, fd_inotify, fd_memfd, fd_ghost, fd_mqueue;

#define FD_KIND(k, o, ...) [RTCR__FILE_KIND__##k] = {.name = #k, .ops = &(o), ##__VA_ARGS__}

/* By FileKind. Matching a descriptor of the target tries the kinds in this
 * order, the generic ones last. */
const struct fd_kind fd_kinds[] = {
    FD_KIND(FILE_REG, fd_reg, .generic = true),
    FD_KIND(FILE_DIR, fd_dir, .generic = true),
    FD_KIND(FILE_CHR, fd_chr, .generic = true),
    FD_KIND(FILE_LOG, fd_log),
    FD_KIND(FILE_PIPE, fd_pipe),
    FD_KIND(FILE_FIFO, fd_fifo),
    FD_KIND(FILE_UNIX, fd_unix),
    FD_KIND(FILE_INET, fd_inet),
    FD_KIND(FILE_EVENTFD, fd_eventfd),
    FD_KIND(FILE_TIMERFD, fd_timerfd),
    FD_KIND(FILE_SIGNALFD, fd_signalfd),
    FD_KIND(FILE_EPOLL, fd_epoll),
    FD_KIND(FILE_INOTIFY, fd_inotify),
    FD_KIND(FILE_MEMFD, fd_memfd),
    FD_KIND(FILE_GHOST, fd_ghost),
    FD_KIND(FILE_MQUEUE, fd_mqueue),
};
const size_t fd_nkinds = sizeof(fd_kinds) / sizeof(fd_kinds[0]);

const struct fd_ops *fd_kind_ops(Rtcr__FileKind k)
{
	if ((int)k < 0 || (size_t)k >= fd_nkinds)
		return NULL;
	return fd_kinds[k].ops;
}
