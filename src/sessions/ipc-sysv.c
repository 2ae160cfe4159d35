/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The target's IPC namespace: System V shared memory, semaphores and
 * message queues, POSIX message queues (ipc-mqueue.c) and the namespace's
 * limits (sysctls). Every target runs in an IPC namespace of its own
 * (launch.c), so everything in it is the target's; it is saved once per
 * image (Image.ipc), with the first process.
 *
 * Checkpoint: the thread that runs it joins the target's IPC namespace
 * (setns) for the time of the dump and goes back to its own: no thread is
 * started, and what costs to make is made once per target and kept (see
 * "kept across checkpoints" below: the root of the namespace's mqueue
 * filesystem, the files of its limits). In the namespace, the in-use counts of
 * *_INFO say which kinds have objects at all: a namespace without objects
 * costs a few system calls (tens of microseconds). For a kind with objects,
 * *_STAT lists them (every index up to the highest in use), shmat +
 * /proc/self/map_files read a segment's data pages (sparse: SEEK_DATA,
 * into a Shmem object of the image), semctl GETALL the values, msgrcv
 * MSG_COPY the messages without taking them. rtcr's own attach is undone
 * at once (with shm_rmid_forced turned off meanwhile, so that a segment
 * nobody else has attached survives it). Nothing runs in the target,
 * whose threads are all stopped meanwhile.
 *
 * Restore: a short-lived thread of rtcr (ipc_in_ns), in the new
 * namespace (launch.c made it), for each object writes /proc/sys/kernel/{shm,sem,msg}_next_id (the kernel
 * then gives exactly that id), creates it with its key and mode and with
 * the creator's uid/gid as effective ids of this thread only (raw
 * setresuid/setresgid: cuid/cgid cannot be set otherwise), fills it,
 * and sets owner and mode (IPC_SET). The memory session then attaches the
 * segments where the target had them (ipc_shm_attach: shmat at the
 * address); after every process's memory (RST_TASKS) the segments that
 * were marked for removal get IPC_RMID again and shm_rmid_forced its value.
 *
 * Not kept: times (atime, dtime, ctime, otime...), last pids (lpid,
 * sempid, lspid, lrpid). Refused: SEM_UNDO adjustments (the kernel has no
 * way to read them: a process with an undo list while semaphore sets
 * exist is refused), hugetlb segments, a mapping of part of a segment.
 */
#define LOG_PREFIX "ipc: "
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kcmp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/log.h"
#include "core/proc.h"
#include "sessions/ipc.h"

#ifndef MSG_COPY
#define MSG_COPY 040000
#endif
#ifndef SHM_EXEC
#define SHM_EXEC 0100000
#endif
#define HUGETLBFS_MAGIC 0x958458f6
#define PG		4096ULL
#define IPC_MAX_OBJS	32768		      /* per kind (IPCMNI) */
#define IPC_MAX_SEMS	32000		      /* SEMMSL at most */
#define IPC_MAX_MSGSZ	(1u << 24)	      /* one message */
#define IPC_MAX_QBYTES	(1ull << 30)	      /* the bytes of one queue's messages */
#define IPC_MAX_SHM	(1ull << 40)	      /* one segment */
#define SYSV_INO_TAG	(0x53595356ull << 32) /* Shmem.ino of a segment: "SYSV" | id */

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
	struct seminfo *__buf;
};

/* What the *_INFO calls tell of the namespace: the highest index in use
 * and the number of objects of each kind, and the System V limits. */
struct ns_info {
	int shm_max, sem_max, msg_max;
	struct shm_info shm;   /* used_ids */
	struct shminfo shmlim; /* shmmax, shmall, shmmni */
	struct seminfo sem;    /* semusz (sets in use); semmsl, semmns, semopm, semmni */
	struct msginfo msg;    /* msgpool (queues in use); msgmax, msgmnb, msgmni */
};

/* The namespace's limits that are saved and set again; the first
 * NSYSV_LIMITS are read from struct ns_info (the *_INFO calls), the
 * others from their file. */
static const char *const sysctls[] = {
    "kernel/shmmax",
    "kernel/shmall",
    "kernel/shmmni",
    "kernel/msgmax",
    "kernel/msgmnb",
    "kernel/msgmni",
    "kernel/sem",
    "fs/mqueue/queues_max",
    "fs/mqueue/msg_max",
    "fs/mqueue/msgsize_max",
    "fs/mqueue/msg_default",
    "fs/mqueue/msgsize_default",
    "kernel/shm_rmid_forced", /* last: see ipc_finish */
};
#define NSYSCTLS     (sizeof(sysctls) / sizeof(sysctls[0]))
#define NSYSV_LIMITS 7

/* ---------- the helper thread ---------- */

struct ns_call {
	int nsfd;
	int (*fn)(void *);
	void *arg;
	int ret;
	char err[1024];
};

static void *ns_thread(void *a)
{
	struct ns_call *nc = a;

	if (setns(nc->nsfd, CLONE_NEWIPC) < 0)
		nc->ret = pr_perror("join the target's IPC namespace");
	else
		nc->ret = nc->fn(nc->arg);
	snprintf(nc->err, sizeof(nc->err), "%s", log_last_error());
	return NULL;
}

int ipc_in_ns(pid_t pid, int (*fn)(void *), void *arg)
{
	struct ns_call nc = {.fn = fn, .arg = arg, .ret = -EIO};
	char path[64];
	pthread_t th;
	int ret;

	snprintf(path, sizeof(path), "/proc/%d/ns/ipc", pid);
	nc.nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (nc.nsfd < 0)
		return pr_perror("open %s", path);
	ret = pthread_create(&th, NULL, ns_thread, &nc);
	if (ret) {
		close(nc.nsfd);
		errno = ret;
		return pr_perror("start a thread for the IPC namespace");
	}
	pthread_join(th, NULL);
	close(nc.nsfd);
	if (nc.ret && nc.err[0])
		log_set_last_error(nc.err);
	return nc.ret;
}

static int sysctl_read(const char *name, char *buf, size_t len)
{
	char path[96], *s = NULL;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/sys/%s", name);
	n = read_file(path, &s);
	if (n < 0)
		return (int)n;
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
	snprintf(buf, len, "%s", s);
	free(s);
	return 0;
}

static int sysctl_write(const char *name, const char *val)
{
	char path[96];
	int ret;

	snprintf(path, sizeof(path), "/proc/sys/%s", name);
	ret = write_file(path, val);
	if (ret)
		pr_err("set %s to %s in the IPC namespace: %s", path, val, strerror(-ret));
	return ret;
}

static int set_next_id(const char *kind, int32_t id)
{
	char name[32], val[16];

	snprintf(name, sizeof(name), "kernel/%s_next_id", kind);
	snprintf(val, sizeof(val), "%d", id);
	return sysctl_write(name, val);
}

/* ---------- the namespace, kept across checkpoints ---------- */

/*
 * Per target: a descriptor of its IPC namespace (it pins the namespace, so
 * that its inode number, the key, names no other one while kept), the
 * root of its mqueue filesystem (a detached mount: making and releasing
 * one costs a millisecond and an RCU grace period, listing an open one a
 * getdents) and the files of the limits that no *_INFO call shows
 * (the fs/mqueue ones, shm_rmid_forced), opened in it. Made at the target's first
 * checkpoint. A supervisor runs one target, so one entry is kept; another
 * namespace (another target of the same process, or a target that moved
 * to a new namespace) replaces it. It goes with the supervisor, which
 * ends with its target (the kernel closes the descriptors).
 */
static struct ns_keep {
	dev_t dev;
	ino_t ino; /* 0: nothing kept */
	int nsfd;
	int mqdir;	     /* -1: no mqueue filesystem */
	int sysfd[NSYSCTLS]; /* -1: not on this kernel */
} keep;
static pthread_mutex_t keep_lock = PTHREAD_MUTEX_INITIALIZER;
static int home_nsfd = -1; /* our own IPC namespace */

/* This thread into the namespace of nsfd, and back (ns_leave). */
static int ns_enter(int nsfd)
{
	if (home_nsfd < 0) {
		home_nsfd = open("/proc/self/ns/ipc", O_RDONLY | O_CLOEXEC);
		if (home_nsfd < 0)
			return pr_perror("open our own IPC namespace");
	}
	if (setns(nsfd, CLONE_NEWIPC) < 0)
		return pr_perror("join the target's IPC namespace");
	return 0;
}

static int ns_leave(void)
{
	if (setns(home_nsfd, CLONE_NEWIPC) < 0)
		return pr_perror("go back to rtcr's own IPC namespace");
	return 0;
}

static void keep_drop(void)
{
	if (!keep.ino)
		return;
	close(keep.nsfd);
	ipc_mq_release_root(keep.mqdir);
	for (size_t i = 0; i < NSYSCTLS; i++)
		if (keep.sysfd[i] >= 0)
			close(keep.sysfd[i]);
	keep.ino = 0;
}

/* The kept handles of pid's IPC namespace (made if need be); keep_lock held. */
static int keep_get(pid_t pid)
{
	char path[64];
	struct stat st;
	int fd, ret, r2;

	snprintf(path, sizeof(path), "/proc/%d/ns/ipc", pid);
	if (stat(path, &st) < 0)
		return pr_perror("stat %s", path);
	if (keep.ino && keep.ino == st.st_ino && keep.dev == st.st_dev)
		return 0;
	keep_drop();
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		ret = pr_perror("open %s", path);
		if (fd >= 0)
			close(fd);
		return ret;
	}
	keep.nsfd = fd;
	keep.mqdir = -1;
	for (size_t i = 0; i < NSYSCTLS; i++)
		keep.sysfd[i] = -1;
	ret = ns_enter(fd);
	if (ret) {
		close(fd);
		return ret;
	}
	for (size_t i = NSYSV_LIMITS; i < NSYSCTLS; i++) {
		snprintf(path, sizeof(path), "/proc/sys/%s", sysctls[i]);
		keep.sysfd[i] = open(path, O_RDONLY | O_CLOEXEC); /* -1: not on this kernel */
	}
	ret = ipc_mq_root();
	if (ret >= 0)
		keep.mqdir = ret;
	ret = ret == -ENODEV || ret >= 0 ? 0 : ret;
	r2 = ns_leave();
	keep.dev = st.st_dev;
	keep.ino = st.st_ino;
	if (ret || r2)
		keep_drop();
	return ret ? ret : r2;
}

/* ---------- checkpoint ---------- */

static Rtcr__IpcPerm *perm_new(const struct ipc_perm *p, int id)
{
	Rtcr__IpcPerm *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	rtcr__ipc_perm__init(q);
	q->has_key = q->has_id = q->has_uid = q->has_gid = q->has_cuid = q->has_cgid = 1;
	q->has_mode = 1;
	q->key = p->__key;
	q->id = id;
	q->uid = p->uid;
	q->gid = p->gid;
	q->cuid = p->cuid;
	q->cgid = p->cgid;
	q->mode = p->mode & 0777;
	return q;
}

/* The contents of segment id, attached here for the time of the copy. */
static int shm_contents(struct ckpt_ctx *c, Rtcr__SysvShm *s, int id)
{
	char path[96], name[32];
	struct statfs sf;
	uint64_t len = (s->size + PG - 1) & ~(PG - 1);
	void *a;
	int fd = -1, ret;

	a = shmat(id, NULL, SHM_RDONLY);
	if (a == (void *)-1)
		return pr_perror("shm %d (key 0x%x): attach to read it", id, s->perm->key);
	snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", (unsigned long)a,
		 (unsigned long)a + len);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = pr_perror("shm %d (key 0x%x): open %s", id, s->perm->key, path);
		goto out;
	}
	if (fstatfs(fd, &sf) == 0 && sf.f_type == HUGETLBFS_MAGIC) {
		ret = ckpt_refuse(c, "shm %d (key 0x%x): SHM_HUGETLB segments are not supported",
				  id, s->perm->key);
		goto out;
	}
	snprintf(name, sizeof(name), "SYSV%08x", (unsigned)s->perm->key);
	ret = mem_capture_object(c, fd, SYSV_INO_TAG | (uint32_t)id, false, name, &s->shmem_id);
	s->has_shmem_id = !ret;
out:
	if (fd >= 0)
		close(fd);
	shmdt(a);
	return ret;
}

static int dump_shm(struct ckpt_ctx *c, Rtcr__IpcNamespace *ns, const struct ns_info *in)
{
	for (int i = 0; in->shm.used_ids && i <= in->shm_max; i++) {
		struct shmid_ds ds;
		Rtcr__SysvShm *s;
		int id = shmctl(i, SHM_STAT, &ds), ret;

		if (id < 0)
			continue; /* a free index */
		s = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		rtcr__sysv_shm__init(s);
		s->perm = perm_new(&ds.shm_perm, id);
		ret = pb_push((void ***)&ns->shm, &ns->n_shm, s);
		if (ret || !s->perm)
			return -ENOMEM;
		s->has_size = s->has_removed = s->has_locked = 1;
		s->size = ds.shm_segsz;
		s->removed = (ds.shm_perm.mode & SHM_DEST) != 0;
		s->locked = (ds.shm_perm.mode & SHM_LOCKED) != 0;
		if (c->dry_run)
			continue;
		ret = shm_contents(c, s, id);
		if (ret)
			return ret;
	}
	return 0;
}

static int dump_sem(struct ckpt_ctx *c, Rtcr__IpcNamespace *ns, const struct ns_info *in)
{
	union semun arg;

	for (int i = 0; in->sem.semusz && i <= in->sem_max; i++) {
		struct semid_ds ds;
		unsigned short *vals;
		Rtcr__SysvSem *s;
		int id, ret;

		arg.buf = &ds;
		id = semctl(i, 0, SEM_STAT, arg);
		if (id < 0)
			continue;
		s = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		rtcr__sysv_sem__init(s);
		s->perm = perm_new(&ds.sem_perm, id);
		ret = pb_push((void ***)&ns->sem, &ns->n_sem, s);
		s->values = calloc(ds.sem_nsems ? ds.sem_nsems : 1, sizeof(*s->values));
		vals = calloc(ds.sem_nsems ? ds.sem_nsems : 1, sizeof(*vals));
		if (ret || !s->perm || !s->values || !vals) {
			free(vals);
			return -ENOMEM;
		}
		arg.array = vals;
		if (semctl(id, 0, GETALL, arg) < 0) {
			free(vals);
			return pr_perror("semaphore set %d (key 0x%x): GETALL", id,
					 ds.sem_perm.__key);
		}
		s->n_values = ds.sem_nsems;
		for (size_t k = 0; k < s->n_values; k++)
			s->values[k] = vals[k];
		free(vals);
	}
	return 0;
}

/* Every message of queue q (id), in order, left where it is. */
static int msg_contents(Rtcr__SysvMsg *q, int id, const struct msqid_ds *ds)
{
	size_t cap = ds->__msg_cbytes + 1;
	struct {
		long mtype;
		char text[];
	} *buf = malloc(sizeof(long) + cap);
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	for (msgqnum_t k = 0; k < ds->msg_qnum; k++) {
		Rtcr__SysvMsgItem *m;
		ssize_t n = msgrcv(id, buf, cap, (long)k, IPC_NOWAIT | MSG_COPY);

		if (n < 0) {
			ret =
			    pr_perror("message queue %d (key 0x%x): read message %lu with MSG_COPY",
				      id, ds->msg_perm.__key, (unsigned long)k);
			break;
		}
		m = calloc(1, sizeof(*m));
		if (m) {
			rtcr__sysv_msg_item__init(m);
			m->has_mtype = m->has_text = 1;
			m->mtype = buf->mtype;
			m->text.len = (size_t)n;
			m->text.data = malloc((size_t)n + 1);
			if (m->text.data)
				memcpy(m->text.data, buf->text, (size_t)n);
		}
		ret = m ? pb_push((void ***)&q->msgs, &q->n_msgs, m) : -ENOMEM;
		if (ret || !m->text.data) {
			ret = -ENOMEM;
			break;
		}
	}
	free(buf);
	return ret;
}

static int dump_msg(struct ckpt_ctx *c, Rtcr__IpcNamespace *ns, const struct ns_info *in)
{
	for (int i = 0; in->msg.msgpool && i <= in->msg_max; i++) {
		struct msqid_ds ds;
		Rtcr__SysvMsg *q;
		int id = msgctl(i, MSG_STAT, &ds), ret;

		if (id < 0)
			continue;
		q = calloc(1, sizeof(*q));
		if (!q)
			return -ENOMEM;
		rtcr__sysv_msg__init(q);
		q->perm = perm_new(&ds.msg_perm, id);
		ret = pb_push((void ***)&ns->msg, &ns->n_msg, q);
		if (ret || !q->perm)
			return -ENOMEM;
		q->has_qbytes = 1;
		q->qbytes = ds.msg_qbytes;
		if (c->dry_run)
			continue;
		ret = msg_contents(q, id, &ds);
		if (ret == -ENOSYS)
			return ckpt_refuse(c,
					   "message queue %d (key 0x%x): this kernel cannot read "
					   "messages without taking them (MSG_COPY needs "
					   "CONFIG_CHECKPOINT_RESTORE)",
					   id, ds.msg_perm.__key);
		if (ret)
			return ret;
	}
	return 0;
}

static int ns_info_read(struct ns_info *in)
{
	union semun arg = {.__buf = &in->sem};

	in->shm_max = shmctl(0, SHM_INFO, (struct shmid_ds *)&in->shm);
	if (in->shm_max < 0 || shmctl(0, IPC_INFO, (struct shmid_ds *)&in->shmlim) < 0)
		return pr_perror("shmctl SHM_INFO, IPC_INFO");
	in->sem_max = semctl(0, 0, SEM_INFO, arg);
	if (in->sem_max < 0)
		return pr_perror("semctl SEM_INFO");
	in->msg_max = msgctl(0, MSG_INFO, (struct msqid_ds *)&in->msg);
	if (in->msg_max < 0)
		return pr_perror("msgctl MSG_INFO");
	return 0;
}

/* Limit i of sysctls[] as its /proc/sys file shows it (without the
 * newline); 1: not on this kernel. */
static int limit_value(const struct ns_info *in, size_t i, char *val, size_t len)
{
	ssize_t n;

	switch (i) {
	case 0:
		snprintf(val, len, "%lu", (unsigned long)in->shmlim.shmmax);
		return 0;
	case 1:
		snprintf(val, len, "%lu", (unsigned long)in->shmlim.shmall);
		return 0;
	case 2:
		snprintf(val, len, "%lu", (unsigned long)in->shmlim.shmmni);
		return 0;
	case 3:
		snprintf(val, len, "%d", in->msg.msgmax);
		return 0;
	case 4:
		snprintf(val, len, "%d", in->msg.msgmnb);
		return 0;
	case 5:
		snprintf(val, len, "%d", in->msg.msgmni);
		return 0;
	case 6: /* semmsl semmns semopm semmni, as proc_dointvec lists them */
		snprintf(val, len, "%d\t%d\t%d\t%d", in->sem.semmsl, in->sem.semmns, in->sem.semopm,
			 in->sem.semmni);
		return 0;
	}
	if (keep.sysfd[i] < 0)
		return 1; /* not on this kernel */
	n = pread(keep.sysfd[i], val, len - 1, 0);
	if (n < 0)
		return pr_perror("read /proc/sys/%s", sysctls[i]);
	while (n > 0 && (val[n - 1] == '\n' || val[n - 1] == ' '))
		n--;
	val[n] = '\0';
	return 0;
}

/* *forced: the value of shm_rmid_forced ("0" if unknown). */
static int dump_sysctls(Rtcr__IpcNamespace *ns, const struct ns_info *in, char *forced, size_t flen)
{
	snprintf(forced, flen, "0");
	for (size_t i = 0; i < NSYSCTLS; i++) {
		Rtcr__IpcSysctl *s;
		char val[128];
		int ret = limit_value(in, i, val, sizeof(val));

		if (ret < 0)
			return ret;
		if (ret)
			continue;
		if (!strcmp(sysctls[i], "kernel/shm_rmid_forced") && strlen(val) < flen)
			memcpy(forced, val, strlen(val) + 1);
		s = calloc(1, sizeof(*s));
		if (s) {
			rtcr__ipc_sysctl__init(s);
			s->name = xstrdup(sysctls[i]);
			s->value = xstrdup(val);
		}
		if (!s || pb_push((void ***)&ns->sysctls, &ns->n_sysctls, s) || !s->name ||
		    !s->value)
			return -ENOMEM;
	}
	return 0;
}

/* In the namespace: its limits and System V objects. */
static int dump_in_ns(struct ckpt_ctx *c, Rtcr__IpcNamespace *ns)
{
	struct ns_info in;
	char forced[16];
	bool lift;
	int ret, r2;

	ret = ns_info_read(&in);
	if (!ret)
		ret = dump_sysctls(ns, &in, forced, sizeof(forced));
	if (ret)
		return ret;
	/* our attach and detach must not destroy a segment nobody attached:
	 * shm_rmid_forced off meanwhile, if there are segments */
	lift = strcmp(forced, "0") && in.shm.used_ids;
	if (lift && (ret = sysctl_write("kernel/shm_rmid_forced", "0")))
		return ret;
	ret = dump_shm(c, ns, &in);
	if (lift) {
		r2 = sysctl_write("kernel/shm_rmid_forced", forced);
		if (!ret)
			ret = r2;
	}
	if (!ret)
		ret = dump_sem(c, ns, &in);
	if (!ret)
		ret = dump_msg(c, ns, &in);
	return ret;
}

/*
 * SEM_UNDO: the kernel shows no undo list; kcmp tells whether a process has
 * one. It cannot tell one with adjustments from the empty list that
 * creating a thread (CLONE_SYSVSEM) allocates: both are refused.
 */
static int check_undo(struct ckpt_ctx *c)
{
	const Rtcr__IpcNamespace *ns = c->img->ipc;
	char ids[256] = "";
	size_t l = 0;

	long k;

	if (!ns || !ns->n_sem)
		return 0;
	/* the namespace's init has none (single-threaded, its own IPC namespace) */
	k = syscall(SYS_kcmp, c->t->init_pid, c->pid, KCMP_SYSVSEM, 0, 0);
	if (k < 0)
		return pr_perror("pid %d: kcmp KCMP_SYSVSEM", c->ns_pid);
	if (k == 0)
		return 0;
	for (size_t i = 0; i < ns->n_sem && l < sizeof(ids) - 16; i++)
		l += (size_t)snprintf(ids + l, sizeof(ids) - l, "%s%d", i ? ", " : "",
				      ns->sem[i]->perm->id);
	return ckpt_refuse(c,
			   "pid %d: has a System V semaphore undo list (made by semop with "
			   "SEM_UNDO, or by creating threads) while semaphore sets exist (ids "
			   "%s): the kernel shows neither which nor its adjustments, which would "
			   "be lost: not supported",
			   c->ns_pid, ids);
}

/* RTCR_NO_IPC=1 in the supervisor's environment: no IPC part at all (for
 * measuring what the session costs; such an image loses the objects). */
static bool ipc_disabled(void)
{
	static int off = -1;

	if (off < 0) {
		const char *e = getenv("RTCR_NO_IPC");

		off = e && *e && strcmp(e, "0");
	}
	return off;
}

static int ipc_dump(struct ckpt_ctx *c)
{
	Rtcr__IpcNamespace *ns;
	int ret, r2;

	if (c->pid == c->t->pid && !c->img->ipc && !ipc_disabled()) {
		ns = calloc(1, sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		rtcr__ipc_namespace__init(ns);
		c->img->ipc = ns;
		pthread_mutex_lock(&keep_lock);
		ret = keep_get(c->pid);
		if (!ret)
			ret = ns_enter(keep.nsfd);
		if (!ret) {
			ret = dump_in_ns(c, ns);
			r2 = ns_leave();
			if (!ret)
				ret = r2;
		}
		if (!ret)
			ret = ipc_mq_dump(c, ns, keep.mqdir);
		pthread_mutex_unlock(&keep_lock);
		if (ret)
			return ret;
	}
	return check_undo(c);
}

int ipc_dump_shm_vma(struct ckpt_ctx *c, Rtcr__Vma *v, uint64_t ino, uint64_t pgoff)
{
	const Rtcr__IpcNamespace *ns = c->img->ipc;
	const Rtcr__SysvShm *s = NULL;

	for (size_t i = 0; ns && i < ns->n_shm; i++)
		if ((uint64_t)ns->shm[i]->perm->id == ino)
			s = ns->shm[i];
	if (!s)
		return ckpt_refuse(c,
				   "pid %d: System V shared memory at 0x%" PRIx64 " (shm %" PRIu64
				   ") is not a segment of the target's IPC namespace",
				   c->ns_pid, v->start, ino);
	if (pgoff || v->end - v->start != ((s->size + PG - 1) & ~(PG - 1)))
		return ckpt_refuse(
		    c,
		    "pid %d: shm %d (key 0x%x) is mapped in part at 0x%" PRIx64 "-0x%" PRIx64
		    " (offset 0x%" PRIx64 ", segment 0x%" PRIx64 " bytes): not supported",
		    c->ns_pid, s->perm->id, s->perm->key, v->start, v->end, pgoff, s->size);
	v->kind = RTCR__VMA_KIND__VMA_SYSV_SHM;
	v->has_ino = 1;
	v->ino = ino;
	return 0;
}

/* ---------- restore ---------- */

static int perm_check(const Rtcr__IpcPerm *p, const char *what, size_t i)
{
	if (!p || !p->has_id || p->id < 0) {
		pr_err("%s %zu: no valid id", what, i);
		return -EINVAL;
	}
	if (p->mode & ~0777u) {
		pr_err("%s %d: mode 0%o", what, p->id, p->mode);
		return -EINVAL;
	}
	return 0;
}

/* ids and keys (other than IPC_PRIVATE) are unique within a kind */
#define CHECK_UNIQUE(arr, n, what)                                                                 \
	for (size_t j = 0; j < i; j++) {                                                           \
		if (arr[j]->perm->id == arr[i]->perm->id ||                                        \
		    (arr[i]->perm->key && arr[j]->perm->key == arr[i]->perm->key)) {               \
			pr_err(what " %d (key 0x%x): id or key listed twice", arr[i]->perm->id,    \
			       arr[i]->perm->key);                                                 \
			return -EINVAL;                                                            \
		}                                                                                  \
	}

static int validate_shm(const Rtcr__Image *img, const Rtcr__IpcNamespace *ns)
{
	for (size_t i = 0; i < ns->n_shm; i++) {
		const Rtcr__SysvShm *s = ns->shm[i];
		const Rtcr__Shmem *o = NULL;

		if (!s || perm_check(s->perm, "shm", i))
			return -EINVAL;
		CHECK_UNIQUE(ns->shm, ns->n_shm, "shm");
		if (!s->size || s->size > IPC_MAX_SHM) {
			pr_err("shm %d: size %" PRIu64, s->perm->id, s->size);
			return -EINVAL;
		}
		for (size_t k = 0; s->has_shmem_id && k < img->n_shmem; k++)
			if (img->shmem[k] && img->shmem[k]->id == s->shmem_id)
				o = img->shmem[k];
		if (!o || o->size != ((s->size + PG - 1) & ~(PG - 1))) {
			pr_err(
			    "shm %d: its contents (shmem object %u) are missing or of another size",
			    s->perm->id, s->shmem_id);
			return -EINVAL;
		}
	}
	return 0;
}

static int validate_sem_msg(const Rtcr__IpcNamespace *ns)
{
	for (size_t i = 0; i < ns->n_sem; i++) {
		const Rtcr__SysvSem *s = ns->sem[i];

		if (!s || perm_check(s->perm, "semaphore set", i))
			return -EINVAL;
		CHECK_UNIQUE(ns->sem, ns->n_sem, "semaphore set");
		if (!s->n_values || s->n_values > IPC_MAX_SEMS) {
			pr_err("semaphore set %d: %zu semaphores", s->perm->id, s->n_values);
			return -EINVAL;
		}
		for (size_t k = 0; k < s->n_values; k++) {
			if (s->values[k] > 32767) {
				pr_err("semaphore set %d: value %u of semaphore %zu", s->perm->id,
				       s->values[k], k);
				return -EINVAL;
			}
		}
	}
	for (size_t i = 0; i < ns->n_msg; i++) {
		const Rtcr__SysvMsg *q = ns->msg[i];
		uint64_t total = 0;

		if (!q || perm_check(q->perm, "message queue", i))
			return -EINVAL;
		CHECK_UNIQUE(ns->msg, ns->n_msg, "message queue");
		if (q->qbytes > IPC_MAX_QBYTES || q->n_msgs > IPC_MAX_QBYTES) {
			pr_err("message queue %d: %" PRIu64 " bytes, %zu messages", q->perm->id,
			       q->qbytes, q->n_msgs);
			return -EINVAL;
		}
		for (size_t k = 0; k < q->n_msgs; k++) {
			const Rtcr__SysvMsgItem *m = q->msgs[k];

			if (!m || m->mtype < 1 || m->text.len > IPC_MAX_MSGSZ ||
			    (total += m->text.len) > IPC_MAX_QBYTES) {
				pr_err("message queue %d: message %zu: bad type or length",
				       q->perm->id, k);
				return -EINVAL;
			}
		}
	}
	return 0;
}

static int validate_sysctls(const Rtcr__IpcNamespace *ns)
{
	for (size_t i = 0; i < ns->n_sysctls; i++) {
		const Rtcr__IpcSysctl *s = ns->sysctls[i];
		bool known = false;

		for (size_t k = 0; s && s->name && k < NSYSCTLS; k++)
			known |= !strcmp(s->name, sysctls[k]);
		if (!known || !s->value || !s->value[0] || strlen(s->value) > 64 ||
		    strspn(s->value, "0123456789 \t") != strlen(s->value)) {
			pr_err("IPC limit %zu (%s): unknown or bad value", i,
			       s && s->name ? s->name : "?");
			return -EINVAL;
		}
	}
	return 0;
}

static int ipc_prepare(struct rst_ctx *r)
{
	const Rtcr__IpcNamespace *ns = r->img->ipc;
	int ret;

	if (!ns || r->proc != r->img->processes[0])
		return 0;
	if (ns->n_shm > IPC_MAX_OBJS || ns->n_sem > IPC_MAX_OBJS || ns->n_msg > IPC_MAX_OBJS ||
	    ns->n_sysctls > 64) {
		pr_err("image: IPC namespace with %zu segments, %zu semaphore sets, %zu message "
		       "queues, %zu limits: too many",
		       ns->n_shm, ns->n_sem, ns->n_msg, ns->n_sysctls);
		return -EINVAL;
	}
	ret = validate_shm(r->img, ns);
	if (!ret)
		ret = validate_sem_msg(ns);
	if (!ret)
		ret = validate_sysctls(ns);
	if (!ret)
		ret = ipc_mq_validate(ns);
	if (ret)
		pr_err("image: the IPC namespace part is invalid");
	return ret;
}

/* Create an object as its creator: euid/egid of this thread only. */
static int as_creator(const Rtcr__IpcPerm *p, bool on)
{
	if (on) {
		if (syscall(SYS_setresgid, -1, p->cgid, -1) < 0 ||
		    syscall(SYS_setresuid, -1, p->cuid, -1) < 0)
			return pr_perror("take the creator's ids %u/%u", p->cuid, p->cgid);
		return 0;
	}
	if (syscall(SYS_setresuid, -1, 0, -1) < 0 || syscall(SYS_setresgid, -1, 0, -1) < 0)
		return pr_perror("take back root's ids");
	return 0;
}

static int check_id(const char *what, const Rtcr__IpcPerm *p, int got)
{
	if (got < 0)
		return pr_perror("%s %d (key 0x%x): create it", what, p->id, p->key);
	if (got != p->id) {
		pr_err("%s %d (key 0x%x): got id %d", what, p->id, p->key, got);
		return -EEXIST;
	}
	return 0;
}

struct rst_arg {
	struct rst_ctx *r;
	const Rtcr__IpcNamespace *ns;
};

static int fill_shm(struct rst_ctx *r, const Rtcr__SysvShm *s)
{
	uint64_t len = (s->size + PG - 1) & ~(PG - 1);
	char *a = shmat(s->perm->id, NULL, 0);
	int ret = 0;

	if (a == (void *)-1)
		return pr_perror("shm %d (key 0x%x): attach to fill it", s->perm->id, s->perm->key);
	for (size_t i = 0; i < r->img->n_pagemap; i++) {
		const Rtcr__PageRun *pr = r->img->pagemap[i];
		const void *data;
		size_t n;

		if (pr->shmem_id != s->shmem_id)
			continue;
		ret = img_run_data(r->im, i, !r->verified, &data, &n);
		if (ret)
			break;
		if (pr->addr > len || n > len - pr->addr) {
			pr_err("shm %d: contents beyond its size", s->perm->id);
			ret = -EINVAL;
			break;
		}
		memcpy(a + pr->addr, data, n);
	}
	shmdt(a);
	return ret;
}

static int restore_shm(struct rst_ctx *r, const Rtcr__SysvShm *s)
{
	const Rtcr__IpcPerm *p = s->perm;
	struct shmid_ds ds;
	int id, ret;

	ret = set_next_id("shm", p->id);
	if (!ret)
		ret = as_creator(p, true);
	if (ret)
		return ret;
	id = shmget(p->key, s->size, IPC_CREAT | IPC_EXCL | (int)p->mode);
	ret = as_creator(p, false);
	if (!ret)
		ret = check_id("shm", p, id);
	if (!ret)
		ret = fill_shm(r, s);
	if (ret)
		return ret;
	memset(&ds, 0, sizeof(ds));
	ds.shm_perm.uid = p->uid;
	ds.shm_perm.gid = p->gid;
	ds.shm_perm.mode = (unsigned short)p->mode;
	if (shmctl(id, IPC_SET, &ds) < 0)
		return pr_perror("shm %d (key 0x%x): set owner %u/%u, mode 0%o", id, p->key, p->uid,
				 p->gid, p->mode);
	if (s->locked && shmctl(id, SHM_LOCK, NULL) < 0)
		return pr_perror("shm %d (key 0x%x): SHM_LOCK", id, p->key);
	return 0;
}

static int restore_sem(const Rtcr__SysvSem *s)
{
	const Rtcr__IpcPerm *p = s->perm;
	unsigned short *vals = calloc(s->n_values, sizeof(*vals));
	struct semid_ds ds;
	union semun arg;
	int id, ret;

	if (!vals)
		return -ENOMEM;
	ret = set_next_id("sem", p->id);
	if (!ret)
		ret = as_creator(p, true);
	if (ret)
		goto out;
	id = semget(p->key, (int)s->n_values, IPC_CREAT | IPC_EXCL | (int)p->mode);
	ret = as_creator(p, false);
	if (!ret)
		ret = check_id("semaphore set", p, id);
	if (ret)
		goto out;
	for (size_t k = 0; k < s->n_values; k++)
		vals[k] = (unsigned short)s->values[k];
	arg.array = vals;
	if (semctl(id, 0, SETALL, arg) < 0) {
		ret = pr_perror("semaphore set %d (key 0x%x): SETALL", id, p->key);
		goto out;
	}
	memset(&ds, 0, sizeof(ds));
	ds.sem_perm.uid = p->uid;
	ds.sem_perm.gid = p->gid;
	ds.sem_perm.mode = (unsigned short)p->mode;
	arg.buf = &ds;
	if (semctl(id, 0, IPC_SET, arg) < 0)
		ret = pr_perror("semaphore set %d (key 0x%x): set owner and mode", id, p->key);
out:
	free(vals);
	return ret;
}

static int msg_set(int id, const Rtcr__IpcPerm *p, uint64_t qbytes)
{
	struct msqid_ds ds;

	memset(&ds, 0, sizeof(ds));
	ds.msg_perm.uid = p->uid;
	ds.msg_perm.gid = p->gid;
	ds.msg_perm.mode = (unsigned short)p->mode;
	ds.msg_qbytes = qbytes;
	if (msgctl(id, IPC_SET, &ds) < 0)
		return pr_perror("message queue %d (key 0x%x): set owner, mode, qbytes %" PRIu64,
				 id, p->key, qbytes);
	return 0;
}

static int restore_msg(const Rtcr__SysvMsg *q)
{
	const Rtcr__IpcPerm *p = q->perm;
	uint64_t total = 0, room;
	int id, ret;

	ret = set_next_id("msg", p->id);
	if (!ret)
		ret = as_creator(p, true);
	if (ret)
		return ret;
	id = msgget(p->key, IPC_CREAT | IPC_EXCL | (int)p->mode);
	ret = as_creator(p, false);
	if (!ret)
		ret = check_id("message queue", p, id);
	if (ret)
		return ret;
	for (size_t k = 0; k < q->n_msgs; k++)
		total += q->msgs[k]->text.len;
	/* room for every message (the limit may have been lowered since) */
	room = total + q->n_msgs > q->qbytes ? total + q->n_msgs : q->qbytes;
	ret = msg_set(id, p, room);
	for (size_t k = 0; !ret && k < q->n_msgs; k++) {
		const Rtcr__SysvMsgItem *m = q->msgs[k];
		long *buf = malloc(sizeof(long) + m->text.len);

		if (!buf)
			return -ENOMEM;
		buf[0] = m->mtype;
		if (m->text.len)
			memcpy(buf + 1, m->text.data, m->text.len);
		if (msgsnd(id, buf, m->text.len, IPC_NOWAIT) < 0)
			ret = pr_perror("message queue %d (key 0x%x): send message %zu (%zu bytes)",
					id, p->key, k, m->text.len);
		free(buf);
	}
	if (!ret && room != q->qbytes)
		ret = msg_set(id, p, q->qbytes);
	return ret;
}

/* msgmax while the messages are sent: at least the longest one */
static int msgmax_for(const Rtcr__IpcNamespace *ns, char *old, size_t len)
{
	uint64_t longest = 0, cur;
	char val[32];

	for (size_t i = 0; i < ns->n_msg; i++)
		for (size_t k = 0; k < ns->msg[i]->n_msgs; k++)
			if (ns->msg[i]->msgs[k]->text.len > longest)
				longest = ns->msg[i]->msgs[k]->text.len;
	old[0] = '\0';
	if (sysctl_read("kernel/msgmax", old, len))
		return 0;
	cur = strtoull(old, NULL, 10);
	if (longest <= cur) {
		old[0] = '\0';
		return 0;
	}
	snprintf(val, sizeof(val), "%" PRIu64, longest);
	return sysctl_write("kernel/msgmax", val);
}

static int restore_in_ns(void *a)
{
	struct rst_arg *d = a;
	const Rtcr__IpcNamespace *ns = d->ns;
	char cur[128], msgmax[32];
	int ret = 0;

	for (size_t i = 0; i < ns->n_sysctls && !ret; i++) {
		const Rtcr__IpcSysctl *s = ns->sysctls[i];

		if (!strcmp(s->name, "kernel/shm_rmid_forced"))
			continue; /* at the end (ipc_finish) */
		if (sysctl_read(s->name, cur, sizeof(cur)) == 0 && !strcmp(cur, s->value))
			continue;
		ret = sysctl_write(s->name, s->value);
	}
	for (size_t i = 0; i < ns->n_shm && !ret; i++)
		ret = restore_shm(d->r, ns->shm[i]);
	for (size_t i = 0; i < ns->n_sem && !ret; i++)
		ret = restore_sem(ns->sem[i]);
	if (!ret)
		ret = msgmax_for(ns, msgmax, sizeof(msgmax));
	for (size_t i = 0; i < ns->n_msg && !ret; i++)
		ret = restore_msg(ns->msg[i]);
	if (!ret && msgmax[0])
		ret = sysctl_write("kernel/msgmax", msgmax);
	if (!ret)
		ret = ipc_mq_restore(ns);
	return ret;
}

static int ipc_restore(struct rst_ctx *r)
{
	struct rst_arg d = {.r = r, .ns = r->img->ipc};

	if (!d.ns || r->index != 0)
		return 0;
	return ipc_in_ns(r->pid, restore_in_ns, &d);
}

int ipc_shm_attach(struct rst_ctx *r, const Rtcr__Vma *v, bool maywrite)
{
	uint64_t flags = (maywrite ? 0 : SHM_RDONLY) | ((v->prot & PROT_EXEC) ? SHM_EXEC : 0);
	uint32_t got_prot = PROT_READ | (maywrite ? PROT_WRITE : 0) | (v->prot & PROT_EXEC);
	long res = 0;
	int ret;

	ret = inject_call(&r->ij, &res, "shmat", __NR_shmat, v->ino, v->start, flags, 0, 0, 0);
	if (!ret && (uint64_t)res != v->start) {
		pr_err("shm %" PRIu64 ": attached at 0x%lx, not 0x%" PRIx64, v->ino, res, v->start);
		ret = -EINVAL;
	}
	if (ret) {
		pr_err("pid %u: cannot attach shm %" PRIu64 " at 0x%" PRIx64, r->proc->pid, v->ino,
		       v->start);
		return ret;
	}
	if (got_prot != v->prot)
		ret = inject_call(&r->ij, NULL, "mprotect shm", __NR_mprotect, v->start,
				  v->end - v->start, v->prot, 0, 0, 0);
	return ret;
}

/* After every process's memory: removal marks, shm_rmid_forced. */
static int finish_in_ns(void *a)
{
	const Rtcr__IpcNamespace *ns = a;

	for (size_t i = 0; i < ns->n_shm; i++) {
		const Rtcr__SysvShm *s = ns->shm[i];

		if (s->removed && shmctl(s->perm->id, IPC_RMID, NULL) < 0)
			return pr_perror("shm %d: mark it for removal again", s->perm->id);
	}
	for (size_t i = 0; i < ns->n_sysctls; i++)
		if (!strcmp(ns->sysctls[i]->name, "kernel/shm_rmid_forced") &&
		    strcmp(ns->sysctls[i]->value, "0"))
			return sysctl_write(ns->sysctls[i]->name, ns->sysctls[i]->value);
	return 0;
}

static int ipc_finish(struct rst_ctx *r)
{
	if (!r->img->ipc || r->index != 0)
		return 0;
	return ipc_in_ns(r->pid, finish_in_ns, (void *)r->img->ipc);
}

const struct session_ops session_ipc = {
    .name = "ipc",
    .dump = ipc_dump,
    .prepare = ipc_prepare,
    .restore = ipc_restore,
    .phase = RST_MEMORY,
};

/* Restore only: after every process's memory session (attachments). */
const struct session_ops session_ipc_finish = {
    .name = "ipc-finish",
    .restore = ipc_finish,
    .phase = RST_TASKS,
};
