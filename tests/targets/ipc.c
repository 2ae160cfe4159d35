/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ipc: System V IPC objects and a POSIX message queue in the target's own
 * IPC namespace, verified on SIGUSR1.
 * Usage: ipc [none]
 *   "none": creates nothing; checks it sees no IPC object at all (not the
 *   host's either), before and after the restore.
 * Otherwise:
 *   shm A: key K_SHMA, 3 pages + 100 bytes, mode 0640, pattern in pages 0
 *          and 3 (page 1, 2 never touched), attached at SHMA_ADDR
 *   shm B: IPC_PRIVATE, 2 pages, attached read-only (SHM_RDONLY) at
 *          SHMB_ADDR after being written, then marked IPC_RMID
 *   shm C: key K_SHMC, created with euid 1000 (cuid 1000), owner set to
 *          1001/1002, mode 0604, not attached, written through a temporary
 *          attachment
 *   sem:   key K_SEM, 5 semaphores 0 1 7 300 32767, mode 0600
 *   msg:   key K_MSG, mode 0620, qbytes 4000, messages (type/text)
 *          3 "three", 1 "one", 2 "two, a bit longer", 5 "" (empty), 1 "one again"
 *   mq:    /rtcr-ipc-test, maxmsg 8, msgsize 64, mode 0640, messages
 *          (prio/text) 1 "a", 5 "b", 1 "c", 0 "d"; a descriptor on it
 *          (O_RDWR|O_NONBLOCK)
 * The checks: same ids, keys, modes, owners, sizes; contents; shm A's
 * attachment still shares memory with the segment (a write through it is
 * seen through a second attachment), B is still marked for removal and
 * attached read-only; semaphore values; messages in order; the mqueue's
 * attributes and messages in priority order, through the descriptor.
 */
#include <fcntl.h>
#include <mqueue.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>

#include "tgt.h"

#define K_SHMA	  0x52540001
#define K_SHMC	  0x52540003
#define K_SEM	  0x52540004
#define K_MSG	  0x52540005
#define SHMA_ADDR ((void *)0x610000000000ULL)
#define SHMB_ADDR ((void *)0x620000000000ULL)
#define SHMA_SIZE (3 * 4096 + 100)
#define MQ_NAME	  "/rtcr-ipc-test"

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
	struct seminfo *__buf;
};

static const unsigned short semvals[5] = {0, 1, 7, 300, 32767};
static const struct {
	long type;
	const char *text;
} msgs[] = {{3, "three"}, {1, "one"}, {2, "two, a bit longer"}, {5, ""}, {1, "one again"}};
static const struct {
	unsigned prio;
	const char *text;
} mqmsgs[] = {{1, "a"}, {5, "b"}, {1, "c"}, {0, "d"}};
static const char *const mq_order[] = {"b", "a", "c", "d"};

static int ida, idb, idc, idsem, idmsg;
static mqd_t mqd;

static unsigned char pat(size_t i, int seed)
{
	return (unsigned char)(i * 31 + (size_t)seed * 7 + 1);
}

static void count_objects(int *shm, int *sem, int *msg)
{
	struct shm_info si;
	struct seminfo se;
	struct msginfo mi;
	union semun arg = {.__buf = &se};

	*shm = shmctl(0, SHM_INFO, (struct shmid_ds *)&si) < 0 ? -1 : si.used_ids;
	*sem = semctl(0, 0, SEM_INFO, arg) < 0 ? -1 : se.semusz;
	*msg = msgctl(0, MSG_INFO, (struct msqid_ds *)&mi) < 0 ? -1 : mi.msgpool;
}

static void setup_shm(void)
{
	struct shmid_ds ds;
	unsigned char *a, *b, *c;

	ida = shmget(K_SHMA, SHMA_SIZE, IPC_CREAT | IPC_EXCL | 0640);
	SETUP(ida >= 0, "shmget A");
	a = shmat(ida, SHMA_ADDR, 0);
	SETUP(a == SHMA_ADDR, "shmat A");
	for (size_t i = 0; i < 4096; i++)
		a[i] = pat(i, 1);
	for (size_t i = 3 * 4096; i < SHMA_SIZE; i++)
		a[i] = pat(i, 1);

	idb = shmget(IPC_PRIVATE, 8192, IPC_CREAT | 0600);
	SETUP(idb >= 0, "shmget B");
	b = shmat(idb, NULL, 0);
	SETUP(b != (void *)-1, "shmat B");
	for (size_t i = 0; i < 8192; i++)
		b[i] = pat(i, 2);
	SETUP(shmdt(b) == 0, "shmdt B");
	b = shmat(idb, SHMB_ADDR, SHM_RDONLY);
	SETUP(b == SHMB_ADDR, "shmat B read-only");
	SETUP(shmctl(idb, IPC_RMID, NULL) == 0, "IPC_RMID B");

	SETUP(seteuid(1000) == 0, "seteuid 1000");
	idc = shmget(K_SHMC, 4096, IPC_CREAT | IPC_EXCL | 0666);
	SETUP(seteuid(0) == 0, "seteuid 0");
	SETUP(idc >= 0, "shmget C");
	c = shmat(idc, NULL, 0);
	SETUP(c != (void *)-1, "shmat C");
	memset(c, 0x5c, 4096);
	SETUP(shmdt(c) == 0, "shmdt C");
	memset(&ds, 0, sizeof(ds));
	ds.shm_perm.uid = 1001;
	ds.shm_perm.gid = 1002;
	ds.shm_perm.mode = 0604;
	SETUP(shmctl(idc, IPC_SET, &ds) == 0, "IPC_SET C");
}

static void setup_sem_msg(void)
{
	union semun arg = {.array = (unsigned short *)semvals};
	struct msqid_ds ds;

	idsem = semget(K_SEM, 5, IPC_CREAT | IPC_EXCL | 0600);
	SETUP(idsem >= 0, "semget");
	SETUP(semctl(idsem, 0, SETALL, arg) == 0, "SETALL");
	idmsg = msgget(K_MSG, IPC_CREAT | IPC_EXCL | 0620);
	SETUP(idmsg >= 0, "msgget");
	SETUP(msgctl(idmsg, IPC_STAT, &ds) == 0, "IPC_STAT msg");
	ds.msg_qbytes = 4000;
	SETUP(msgctl(idmsg, IPC_SET, &ds) == 0, "IPC_SET msg");
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		struct {
			long type;
			char text[64];
		} m = {msgs[i].type, ""};
		snprintf(m.text, sizeof(m.text), "%s", msgs[i].text);
		SETUP(msgsnd(idmsg, &m, strlen(msgs[i].text), IPC_NOWAIT) == 0, "msgsnd");
	}
}

static void setup_mq(void)
{
	struct mq_attr attr = {.mq_maxmsg = 8, .mq_msgsize = 64};

	mq_unlink(MQ_NAME);
	mqd = mq_open(MQ_NAME, O_RDWR | O_NONBLOCK | O_CREAT | O_EXCL, 0640, &attr);
	SETUP(mqd >= 0, "mq_open");
	for (size_t i = 0; i < sizeof(mqmsgs) / sizeof(mqmsgs[0]); i++)
		SETUP(mq_send(mqd, mqmsgs[i].text, strlen(mqmsgs[i].text), mqmsgs[i].prio) == 0,
		      "mq_send");
}

static void verify_shm(void)
{
	struct shmid_ds ds;
	unsigned char *a = SHMA_ADDR, *a2, *b = SHMB_ADDR, *c;
	int bad = 0;

	CHECK(shmget(K_SHMA, 0, 0) == ida, "shm A: key 0x%x gives id %d, not %d", K_SHMA,
	      shmget(K_SHMA, 0, 0), ida);
	CHECK(shmctl(ida, IPC_STAT, &ds) == 0, "shm A: IPC_STAT: %s", strerror(errno));
	CHECK((ds.shm_perm.mode & 0777) == 0640 && ds.shm_segsz == SHMA_SIZE,
	      "shm A: mode 0%o size %zu", ds.shm_perm.mode, (size_t)ds.shm_segsz);
	CHECK(ds.shm_nattch == 1, "shm A: %lu attachments", (unsigned long)ds.shm_nattch);
	for (size_t i = 0; i < SHMA_SIZE; i++) {
		unsigned char want = (i < 4096 || i >= 3 * 4096) ? pat(i, 1) : 0;
		bad += a[i] != want;
	}
	CHECK(!bad, "shm A: %d bytes differ", bad);
	a2 = shmat(ida, NULL, 0);
	CHECK(a2 != (void *)-1, "shm A: second attach: %s", strerror(errno));
	if (a2 != (void *)-1) {
		a[5000] = 0xa5;
		CHECK(a2[5000] == 0xa5, "shm A: the attachment at %p does not share the segment",
		      SHMA_ADDR);
		shmdt(a2);
	}
	CHECK(shmctl(idb, IPC_STAT, &ds) == 0, "shm B: IPC_STAT: %s", strerror(errno));
	CHECK(ds.shm_perm.mode & SHM_DEST, "shm B: not marked for removal (mode 0%o)",
	      ds.shm_perm.mode);
	CHECK(ds.shm_nattch == 1 && ds.shm_perm.__key == 0, "shm B: %lu attachments, key 0x%x",
	      (unsigned long)ds.shm_nattch, ds.shm_perm.__key);
	bad = 0;
	for (size_t i = 0; i < 8192; i++)
		bad += b[i] != pat(i, 2);
	CHECK(!bad, "shm B: %d bytes differ", bad);
	CHECK(shmget(K_SHMC, 0, 0) == idc, "shm C: id %d, not %d", shmget(K_SHMC, 0, 0), idc);
	CHECK(shmctl(idc, IPC_STAT, &ds) == 0, "shm C: IPC_STAT: %s", strerror(errno));
	CHECK(ds.shm_perm.cuid == 1000 && ds.shm_perm.uid == 1001 && ds.shm_perm.gid == 1002 &&
		  (ds.shm_perm.mode & 0777) == 0604 && ds.shm_nattch == 0,
	      "shm C: cuid %u uid %u gid %u mode 0%o nattch %lu", ds.shm_perm.cuid, ds.shm_perm.uid,
	      ds.shm_perm.gid, ds.shm_perm.mode, (unsigned long)ds.shm_nattch);
	c = shmat(idc, NULL, SHM_RDONLY);
	CHECK(c != (void *)-1 && c[0] == 0x5c && c[4095] == 0x5c, "shm C: contents");
	if (c != (void *)-1)
		shmdt(c);
}

static void verify_sem_msg(void)
{
	unsigned short v[5] = {0};
	union semun arg = {.array = v};
	struct semid_ds sds;
	struct msqid_ds mds;
	struct {
		long type;
		char text[128];
	} m;

	CHECK(semget(K_SEM, 0, 0) == idsem, "sem: id %d, not %d", semget(K_SEM, 0, 0), idsem);
	arg.buf = &sds;
	CHECK(semctl(idsem, 0, IPC_STAT, arg) == 0 && sds.sem_nsems == 5 &&
		  (sds.sem_perm.mode & 0777) == 0600,
	      "sem: IPC_STAT, nsems or mode");
	arg.array = v;
	CHECK(semctl(idsem, 0, GETALL, arg) == 0, "sem: GETALL: %s", strerror(errno));
	CHECK(!memcmp(v, semvals, sizeof(v)), "sem: values %u %u %u %u %u", v[0], v[1], v[2], v[3],
	      v[4]);
	CHECK(msgget(K_MSG, 0) == idmsg, "msg: id %d, not %d", msgget(K_MSG, 0), idmsg);
	CHECK(msgctl(idmsg, IPC_STAT, &mds) == 0 && mds.msg_qbytes == 4000 &&
		  (mds.msg_perm.mode & 0777) == 0620 && mds.msg_qnum == 5,
	      "msg: qbytes %lu mode 0%o qnum %lu", (unsigned long)mds.msg_qbytes, mds.msg_perm.mode,
	      (unsigned long)mds.msg_qnum);
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		ssize_t n = msgrcv(idmsg, &m, sizeof(m.text), 0, IPC_NOWAIT);

		CHECK(n == (ssize_t)strlen(msgs[i].text) && m.type == msgs[i].type &&
			  !memcmp(m.text, msgs[i].text, (size_t)n),
		      "msg: message %zu: type %ld, %zd bytes", i, m.type, n);
	}
}

static void verify_mq(void)
{
	struct mq_attr attr;
	char buf[64];
	unsigned prio;

	CHECK(mq_getattr(mqd, &attr) == 0, "mq: getattr on the descriptor: %s", strerror(errno));
	CHECK(attr.mq_maxmsg == 8 && attr.mq_msgsize == 64 && attr.mq_curmsgs == 4 &&
		  (attr.mq_flags & O_NONBLOCK),
	      "mq: maxmsg %ld msgsize %ld curmsgs %ld flags 0x%lx", attr.mq_maxmsg, attr.mq_msgsize,
	      attr.mq_curmsgs, attr.mq_flags);
	for (size_t i = 0; i < 4; i++) {
		ssize_t n = mq_receive(mqd, buf, sizeof(buf), &prio);

		CHECK(n == 1 && buf[0] == mq_order[i][0], "mq: message %zu: %zd bytes '%c' prio %u",
		      i, n, n > 0 ? buf[0] : '?', prio);
	}
	CHECK(mq_unlink(MQ_NAME) == 0, "mq: unlink %s: %s", MQ_NAME, strerror(errno));
}

int main(int argc, char **argv)
{
	bool none = argc > 1 && !strcmp(argv[1], "none");
	int shm, sem, msg;

	tgt_install_usr1();
	count_objects(&shm, &sem, &msg);
	SETUP(shm == 0 && sem == 0 && msg == 0, "the IPC namespace is not empty at the start");
	if (!none) {
		setup_shm();
		setup_sem_msg();
		setup_mq();
	}
	say("READY");
	while (!tgt_usr1)
		pause();
	if (none) {
		count_objects(&shm, &sem, &msg);
		CHECK(shm == 0 && sem == 0 && msg == 0, "%d segments, %d semaphore sets, %d queues",
		      shm, sem, msg);
		errno = 0;
		CHECK(mq_open(MQ_NAME, O_RDONLY) < 0 && errno == ENOENT, "an mqueue %s exists",
		      MQ_NAME);
	} else {
		verify_shm();
		verify_sem_msg();
		verify_mq();
	}
	say(tgt_failures ? "FAIL: %d checks failed" : "PASS", tgt_failures);
	return tgt_failures ? 1 : 0;
}
