/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * POSIX message queues of the target's IPC namespace (called by
 * ipc-sysv.c in its helper thread, which is in that namespace).
 *
 * The queues are listed on a detached mount of the namespace's mqueue
 * filesystem (fsopen("mqueue") takes the namespace of the caller; nothing
 * is mounted anywhere), made once per target (ipc_mq_root, at its first
 * checkpoint, by ipc-sysv.c) and kept: a checkpoint lists it with getdents
 * on the open directory. Each queue: mode, owner and inode (fstat), its
 * attributes (mq_getattr), whether a process is registered for
 * notification (the QSIZE/NOTIFY/SIGNO/NOTIFY_PID line a read of the queue
 * returns). The kernel has no way to read a message without taking it, so
 * the messages are received (highest priority first, FIFO within a
 * priority) and sent back at once in the same order, which rebuilds the
 * same queue; the target's threads are all stopped meanwhile, so none of
 * them is waiting in mq_receive. A queue with a notification registered is
 * refused: refilling an empty queue would fire it.
 *
 * Restore: mq_open(O_CREAT|O_EXCL) with the attributes, fchown/fchmod,
 * the messages sent in order.
 */
#define LOG_PREFIX "ipc: "
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <mqueue.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/log.h"
#include "sessions/ipc.h"

#define MQ_MAX_MSGS	     65536	/* HARD_MSGMAX */
#define MQ_MAX_MSGSIZE	     (1u << 24) /* HARD_MSGSIZEMAX */
#define MQ_MAX_QUEUES	     65536
#define FSOPEN_CLOEXEC_	     1
#define FSMOUNT_CLOEXEC_     1
#define FSCONFIG_CMD_CREATE_ 6

/* Releasing a detached mount waits for an RCU grace period (tens of ms):
 * done by a thread of its own, not in anybody's pause. */
static void *close_later(void *a)
{
	close((int)(intptr_t)a);
	return NULL;
}

void ipc_mq_release_root(int dir)
{
	pthread_attr_t at;
	pthread_t th;

	if (dir < 0)
		return;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &at, close_later, (void *)(intptr_t)dir))
		close(dir);
	pthread_attr_destroy(&at);
}

int ipc_mq_root(void)
{
	int fs, mnt = -1, dir;

	fs = (int)syscall(SYS_fsopen, "mqueue", FSOPEN_CLOEXEC_);
	if (fs < 0)
		return errno == ENODEV ? -ENODEV : pr_perror("fsopen mqueue");
	if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE_, NULL, NULL, 0) < 0 ||
	    (mnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC_, 0)) < 0) {
		dir = pr_perror("mount the IPC namespace's mqueue filesystem");
		goto out;
	}
	dir = openat(mnt, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		dir = pr_perror("open the mqueue filesystem");
out:
	close(fs);
	if (mnt >= 0)
		close(mnt); /* dir keeps the mount: no release here */
	return dir;
}

/* Take every message of the queue and put them back in the same order. */
static int mq_messages(int fd, Rtcr__PosixMqueue *q, long cur)
{
	char *buf = malloc(q->msgsize ? q->msgsize : 1);
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	for (long k = 0; k < cur; k++) {
		Rtcr__MqItem *m;
		unsigned prio;
		ssize_t n = mq_receive(fd, buf, q->msgsize, &prio);

		if (n < 0) {
			if (errno == EAGAIN)
				break; /* fewer than mq_curmsgs said */
			ret = pr_perror("mqueue /%s: receive message %ld", q->name, k);
			break;
		}
		m = calloc(1, sizeof(*m));
		if (m) {
			rtcr__mq_item__init(m);
			m->has_prio = m->has_data = 1;
			m->prio = prio;
			m->data.len = (size_t)n;
			m->data.data = malloc((size_t)n + 1);
			if (m->data.data)
				memcpy(m->data.data, buf, (size_t)n);
		}
		if (!m || pb_push((void ***)&q->msgs, &q->n_msgs, m) || !m->data.data) {
			ret = -ENOMEM;
			break;
		}
	}
	/* put back what was taken, even after a failure */
	for (size_t k = 0; k < q->n_msgs; k++) {
		const Rtcr__MqItem *m = q->msgs[k];

		if (mq_send(fd, (const char *)m->data.data, m->data.len, m->prio) < 0) {
			pr_perror("mqueue /%s: put message %zu of %zu back: the target LOST it",
				  q->name, k, q->n_msgs);
			ret = ret ? ret : -EIO;
		}
	}
	free(buf);
	return ret;
}

static int mq_dump_one(struct ckpt_ctx *c, Rtcr__IpcNamespace *ns, int dir, const char *name)
{
	Rtcr__PosixMqueue *q;
	struct mq_attr attr;
	struct stat st;
	char status[160];
	const char *np;
	int fd, ret;
	ssize_t n;

	fd = openat(dir, name, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return pr_perror("mqueue /%s: open", name);
	n = read(fd, status, sizeof(status) - 1);
	if (n < 0 || fstat(fd, &st) < 0 || mq_getattr(fd, &attr) < 0) {
		ret = pr_perror("mqueue /%s: read its state", name);
		goto out;
	}
	status[n] = '\0';
	np = strstr(status, "NOTIFY_PID:");
	if (np && atoi(np + 11) != 0) {
		ret = ckpt_refuse(c,
				  "mqueue /%s: a process is registered for notification "
				  "(mq_notify): not supported",
				  name);
		goto out;
	}
	q = calloc(1, sizeof(*q));
	if (q) {
		rtcr__posix_mqueue__init(q);
		q->name = xstrdup(name);
	}
	ret = q ? pb_push((void ***)&ns->mqueues, &ns->n_mqueues, q) : -ENOMEM;
	if (ret || !q->name) {
		ret = -ENOMEM;
		goto out;
	}
	q->has_mode = q->has_uid = q->has_gid = q->has_maxmsg = q->has_msgsize = q->has_ino = 1;
	q->mode = st.st_mode & 0777;
	q->uid = st.st_uid;
	q->gid = st.st_gid;
	q->ino = st.st_ino;
	q->maxmsg = (uint64_t)attr.mq_maxmsg;
	q->msgsize = (uint64_t)attr.mq_msgsize;
	ret = c->dry_run ? 0 : mq_messages(fd, q, attr.mq_curmsgs);
out:
	close(fd);
	return ret;
}

int ipc_mq_dump(struct ckpt_ctx *c, Rtcr__IpcNamespace *ns, int dir)
{
	/* struct linux_dirent64 records */
	char buf[4096] __attribute__((aligned(8)));
	long n;
	int ret = 0;

	if (dir < 0)
		return 0; /* no mqueue filesystem on this kernel */
	if (lseek(dir, 0, SEEK_SET) < 0)
		return pr_perror("rewind the mqueue filesystem's directory");
	while (!ret && (n = syscall(SYS_getdents64, dir, buf, sizeof(buf))) > 0) {
		for (long off = 0; !ret && off < n;) {
			const struct dirent64 *de = (const void *)(buf + off);

			off += de->d_reclen;
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			ret = mq_dump_one(c, ns, dir, de->d_name);
		}
	}
	if (!ret && n < 0)
		ret = pr_perror("list the mqueue filesystem");
	return ret;
}

const Rtcr__PosixMqueue *ipc_mq_find(const Rtcr__IpcNamespace *ns, const char *name)
{
	for (size_t i = 0; ns && i < ns->n_mqueues; i++)
		if (ns->mqueues[i]->name && !strcmp(ns->mqueues[i]->name, name))
			return ns->mqueues[i];
	return NULL;
}

int ipc_mq_validate(const Rtcr__IpcNamespace *ns)
{
	if (ns->n_mqueues > MQ_MAX_QUEUES) {
		pr_err("%zu POSIX message queues: too many", ns->n_mqueues);
		return -EINVAL;
	}
	for (size_t i = 0; i < ns->n_mqueues; i++) {
		const Rtcr__PosixMqueue *q = ns->mqueues[i];

		if (!q || !q->name || !q->name[0] || strlen(q->name) > NAME_MAX ||
		    strchr(q->name, '/') || !strcmp(q->name, ".") || !strcmp(q->name, "..")) {
			pr_err("mqueue %zu: bad name", i);
			return -EINVAL;
		}
		if (ipc_mq_find(ns, q->name) != q) {
			pr_err("mqueue /%s listed twice", q->name);
			return -EINVAL;
		}
		if (q->mode & ~0777u || !q->maxmsg || q->maxmsg > MQ_MAX_MSGS || !q->msgsize ||
		    q->msgsize > MQ_MAX_MSGSIZE || q->n_msgs > q->maxmsg) {
			pr_err("mqueue /%s: mode 0%o, %" PRIu64 " messages of %" PRIu64
			       " bytes, %zu queued: out of range",
			       q->name, q->mode, q->maxmsg, q->msgsize, q->n_msgs);
			return -EINVAL;
		}
		for (size_t k = 0; k < q->n_msgs; k++) {
			if (!q->msgs[k] || q->msgs[k]->data.len > q->msgsize ||
			    q->msgs[k]->prio >= 32768) {
				pr_err("mqueue /%s: message %zu: bad length or priority", q->name,
				       k);
				return -EINVAL;
			}
		}
	}
	return 0;
}

static int mq_restore_one(const Rtcr__PosixMqueue *q)
{
	struct mq_attr attr = {.mq_maxmsg = (long)q->maxmsg, .mq_msgsize = (long)q->msgsize};
	char path[NAME_MAX + 2];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "/%s", q->name);
	fd = mq_open(path, O_RDWR | O_NONBLOCK | O_CREAT | O_EXCL | O_CLOEXEC, q->mode, &attr);
	if (fd < 0)
		return pr_perror("mqueue %s: create it (%" PRIu64 " messages of %" PRIu64 " bytes)",
				 path, q->maxmsg, q->msgsize);
	if (fchown(fd, q->uid, q->gid) < 0 || fchmod(fd, q->mode) < 0) {
		ret = pr_perror("mqueue %s: set owner %u/%u and mode 0%o", path, q->uid, q->gid,
				q->mode);
		goto out;
	}
	for (size_t k = 0; k < q->n_msgs; k++) {
		const Rtcr__MqItem *m = q->msgs[k];

		if (mq_send(fd, (const char *)m->data.data, m->data.len, m->prio) < 0) {
			ret = pr_perror("mqueue %s: send message %zu", path, k);
			goto out;
		}
	}
out:
	close(fd);
	return ret;
}

int ipc_mq_restore(const Rtcr__IpcNamespace *ns)
{
	for (size_t i = 0; i < ns->n_mqueues; i++) {
		int ret = mq_restore_one(ns->mqueues[i]);

		if (ret)
			return ret;
	}
	return 0;
}
