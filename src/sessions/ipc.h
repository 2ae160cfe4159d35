/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The target's IPC namespace (ipc-sysv.c, ipc-mqueue.c, fd-mqueue.c): what
 * the memory session and the mqueue descriptor kind need of it.
 */
#ifndef RTCR_IPC_H
#define RTCR_IPC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "sessions/session.h"

#define IPC_MQUEUE_MAGIC 0x19800202 /* statfs f_type of the mqueue fs */

/* Run fn(arg) in a short-lived thread of ours that joined the IPC
 * namespace of host process pid (setns); returns what fn returned, and
 * its error message becomes this thread's last error. */
int ipc_in_ns(pid_t pid, int (*fn)(void *), void *arg);

/* Checkpoint, memory session: a "/SYSV<key> (deleted)" mapping of shm id
 * ino at start..end (offset pgoff): makes v a VMA_SYSV_SHM of that segment
 * of the target's namespace, or refuses it (returns ckpt_refuse's
 * result). */
int ipc_dump_shm_vma(struct ckpt_ctx *c, Rtcr__Vma *v, uint64_t ino, uint64_t pgoff);
/* Restore, memory session: shmat the recreated segment at v->start with
 * the recorded protection (maywrite: the attachment was not SHM_RDONLY). */
int ipc_shm_attach(struct rst_ctx *r, const Rtcr__Vma *v, bool maywrite);

/* POSIX message queues (ipc-mqueue.c), called by ipc-sysv.c. */
/* A directory descriptor on the root of the mqueue filesystem of the
 * caller's IPC namespace (a detached mount); -ENODEV: no such fs here. */
int ipc_mq_root(void);
/* Close such a descriptor: in the background (the release of the mount
 * waits for an RCU grace period). */
void ipc_mq_release_root(int dir);
/* The queues of the namespace whose mqueue root is dir (-1: none). */
int ipc_mq_dump(struct ckpt_ctx *c, Rtcr__IpcNamespace *ns, int dir);
int ipc_mq_validate(const Rtcr__IpcNamespace *ns);
int ipc_mq_restore(const Rtcr__IpcNamespace *ns);
/* The queue named name of the image (NULL: none). */
const Rtcr__PosixMqueue *ipc_mq_find(const Rtcr__IpcNamespace *ns, const char *name);

#endif
