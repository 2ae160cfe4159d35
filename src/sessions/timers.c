/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * POSIX timers (timer_create). /proc/PID/timers lists every timer of the
 * process: its id, signal and sigev_value ("signal: 14/00000000deadbeef"),
 * notification ("notify: signal/tid.123", pids of the parent's namespace)
 * and clock. The time left, the period and the overrun count come from
 * timer_gettime / timer_getoverrun run in the target (its time namespace).
 *
 * Restore: the timers are created again in the target with their ids,
 * clock and sigevent, in id order, with PR_TIMER_CREATE_RESTORE_IDS
 * (Linux 6.16: timer_create then takes the id to use from *timerid); on
 * older kernels ids are handed out in order from 0 in a new process, so
 * timers are created in id order and the ones that got a smaller id than
 * wanted are deleted at the end. They are armed with the time they had
 * left, relative (so the time namespace does not matter), as the last
 * thing before the threads run; every signal stays blocked until then, so
 * a timer that fires early leaves its signal pending.
 *
 * Not restored: the overrun count (the kernel has no way to set it), an
 * absolute CLOCK_REALTIME expiry (armed with TIMER_ABSTIME: restored as
 * the time it had left), and the process's own PR_TIMER_CREATE_RESTORE_IDS
 * setting (left off). A timer whose signal was pending at the checkpoint
 * gets that signal as a queued signal (signals session) and runs on.
 * Unlike an ITIMER_REAL (signals.c), a periodic POSIX timer whose signal is
 * pending never reads 0 time left: timer_gettime moves its expiry forward
 * by intervals (counting overruns), so it is armed again as it was; a
 * one-shot timer whose signal is pending reads 0 and is, rightly, left
 * disarmed (ITIMER_VIRTUAL/PROF are re-armed at expiry, never 0 either).
 */
#define LOG_PREFIX "timers: "
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sessions/session.h"
#include "base/log.h"
#include "core/proc.h"

#ifndef PR_TIMER_CREATE_RESTORE_IDS
#define PR_TIMER_CREATE_RESTORE_IDS	77
#define PR_TIMER_CREATE_RESTORE_IDS_OFF 0
#define PR_TIMER_CREATE_RESTORE_IDS_ON	1
#endif
#ifndef SIGEV_THREAD_ID
#define SIGEV_THREAD_ID 4
#endif

#define NSEC 1000000000ULL
/* without PR_TIMER_CREATE_RESTORE_IDS: at most this many timers made to reach the ids */
#define MAX_FILLERS 4096

/* the kernel's struct sigevent (64 bytes) */
struct ksigevent {
	uint64_t value;
	int32_t signo;
	int32_t notify;
	int32_t tid;
	int32_t pad[11];
};

struct kitimerspec {
	int64_t interval_sec, interval_nsec;
	int64_t value_sec, value_nsec;
};

/* scratch offsets (restore: 0..4095 are ours; checkpoint: 4 pages) */
#define SC_SIGEV 0
#define SC_ID	 128
#define SC_SPEC	 256

static uint64_t spec_ns(int64_t sec, int64_t nsec)
{
	if (sec < 0 || nsec < 0)
		return 0;
	return (uint64_t)sec * NSEC + (uint64_t)nsec;
}

static int parse_notify(const char *s, uint32_t *notify, bool *thread_id)
{
	static const struct {
		const char *name;
		uint32_t v;
	} kinds[] = {
	    {"signal/", SIGEV_SIGNAL},
	    {"none/", SIGEV_NONE},
	    {"thread/", SIGEV_THREAD},
	};

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t l = strlen(kinds[i].name);

		if (strncmp(s, kinds[i].name, l))
			continue;
		if (!strncmp(s + l, "tid.", 4)) {
			*thread_id = true;
			*notify = kinds[i].v | SIGEV_THREAD_ID;
		} else if (!strncmp(s + l, "pid.", 4)) {
			*thread_id = false;
			*notify = kinds[i].v;
		} else {
			return -EINVAL;
		}
		return 0;
	}
	return -EINVAL;
}

/* One timer of /proc/PID/timers, completed with what the target's kernel says. */
static int dump_one(struct ckpt_ctx *c, Rtcr__PosixTimer *t, bool thread_id, long host_tid)
{
	struct kitimerspec sp;
	long ovr;
	int ret;

	if (thread_id) {
		char path[96];
		pid_t ns;

		snprintf(path, sizeof(path), "/proc/%d/task/%ld", c->pid, host_tid);
		if (host_tid <= 0 || access(path, F_OK) < 0)
			return ckpt_refuse(
			    c,
			    "pid %d: POSIX timer %d signals thread %ld, which is gone "
			    "or not a thread of the process",
			    c->ns_pid, t->id, host_tid);
		ns = proc_ns_pid((pid_t)host_tid);
		if (ns <= 0) {
			pr_err("pid %d: POSIX timer %d: no pid of thread %ld in the target's "
			       "namespace",
			       c->ns_pid, t->id, host_tid);
			return ns < 0 ? (int)ns : -ESRCH;
		}
		t->has_tid = 1;
		t->tid = (uint32_t)ns;
	}
	ret = inject_call(&c->ij, NULL, "timer_gettime", __NR_timer_gettime, (uint64_t)t->id,
			  c->ij.scratch + SC_SPEC, 0, 0, 0, 0);
	if (ret)
		return ret;
	ret = remote_read(c->pid, c->ij.scratch + SC_SPEC, &sp, sizeof(sp));
	if (ret)
		return ret;
	ret = inject_call(&c->ij, &ovr, "timer_getoverrun", __NR_timer_getoverrun, (uint64_t)t->id,
			  0, 0, 0, 0, 0);
	if (ret)
		return ret;
	t->has_value_ns = t->has_interval_ns = t->has_overrun = 1;
	t->value_ns = spec_ns(sp.value_sec, sp.value_nsec);
	t->interval_ns = spec_ns(sp.interval_sec, sp.interval_nsec);
	t->overrun = (int32_t)ovr;
	return 0;
}

static int timers_dump(struct ckpt_ctx *c)
{
	char path[64], *buf = NULL, *line, *save = NULL;
	Rtcr__PosixTimer *t = NULL;
	bool thread_id = false;
	long host_tid = 0;
	int have = 0, ret = 0;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/timers", c->pid);
	n = read_file(path, &buf);
	if (n < 0) {
		if (n == -ENOENT)
			return 0; /* a kernel without CONFIG_CHECKPOINT_RESTORE */
		errno = (int)-n;
		return pr_perror("read %s", path);
	}
	/* blocks of four lines: ID, signal, notify, ClockID */
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char notify[32];
		unsigned long long value;
		int id, signo, clock;

		if (sscanf(line, "ID: %d", &id) == 1) {
			if (t) {
				pr_err("%s: timer %d listed incompletely", path, t->id);
				ret = -EINVAL;
				goto out;
			}
			t = calloc(1, sizeof(*t));
			if (!t) {
				ret = -ENOMEM;
				goto out;
			}
			rtcr__posix_timer__init(t);
			t->has_id = 1;
			t->id = id;
			have = 1;
		} else if (t && sscanf(line, "signal: %d/%llx", &signo, &value) == 2) {
			t->has_signo = t->has_value = 1;
			t->signo = (uint32_t)signo;
			t->value = value;
			have |= 2;
		} else if (t && sscanf(line, "notify: %31s", notify) == 1) {
			char *dot = strchr(notify, '.');

			if (parse_notify(notify, &t->notify, &thread_id) || !dot) {
				ret = ckpt_refuse(c,
						  "pid %d: POSIX timer %d: notification \"%s\" not "
						  "supported",
						  c->ns_pid, t->id, notify);
				if (ret)
					goto out;
				rtcr__posix_timer__free_unpacked(t, NULL);
				t = NULL;
				continue;
			}
			t->has_notify = 1;
			host_tid = strtol(dot + 1, NULL, 10);
			have |= 4;
		} else if (t && sscanf(line, "ClockID: %d", &clock) == 1) {
			t->has_clock = 1;
			t->clock = clock;
			if (have != 7) {
				pr_err("%s: timer %d listed incompletely", path, t->id);
				ret = -EINVAL;
				goto out;
			}
			ret = dump_one(c, t, thread_id, host_tid);
			if (!ret)
				ret = pb_push((void ***)&c->proc->posix_timers,
					      &c->proc->n_posix_timers, t);
			if (ret)
				goto out;
			t = NULL; /* the image's now */
		}
	}
	if (t) {
		pr_err("%s: timer %d listed incompletely", path, t->id);
		ret = -EINVAL;
	}
out:
	if (t)
		rtcr__posix_timer__free_unpacked(t, NULL);
	free(buf);
	return ret;
}

static bool is_thread(const Rtcr__Process *p, uint32_t tid)
{
	if (tid == p->pid)
		return true;
	for (size_t i = 0; i < p->n_threads; i++)
		if (p->threads[i] && p->threads[i]->tid == tid)
			return true;
	return false;
}

static int timers_prepare(struct rst_ctx *r)
{
	const Rtcr__Process *p = r->proc;

	for (size_t i = 0; i < p->n_posix_timers; i++) {
		const Rtcr__PosixTimer *t = p->posix_timers[i];
		uint32_t kind;

		if (!t || !t->has_id || t->id < 0) {
			pr_err("POSIX timer %zu: no valid id", i);
			return -EINVAL;
		}
		for (size_t j = 0; j < i; j++) {
			if (p->posix_timers[j]->id == t->id) {
				pr_err("POSIX timer %d listed twice", t->id);
				return -EINVAL;
			}
		}
		kind = t->notify & ~(uint32_t)SIGEV_THREAD_ID;
		if (kind != SIGEV_SIGNAL && kind != SIGEV_NONE && kind != SIGEV_THREAD) {
			pr_err("POSIX timer %d: notification %u not supported", t->id, t->notify);
			return -EINVAL;
		}
		if ((kind != SIGEV_NONE && (t->signo < 1 || t->signo > 64)) || t->signo > 64) {
			pr_err("POSIX timer %d: signal %u", t->id, t->signo);
			return -EINVAL;
		}
		if ((t->notify & SIGEV_THREAD_ID) && (!t->has_tid || !is_thread(p, t->tid))) {
			pr_err("POSIX timer %d: signals thread %u, not a thread of the image",
			       t->id, t->tid);
			return -EINVAL;
		}
	}
	return 0;
}

static int cmp_timer(const void *a, const void *b)
{
	const Rtcr__PosixTimer *x = *(const Rtcr__PosixTimer *const *)a;
	const Rtcr__PosixTimer *y = *(const Rtcr__PosixTimer *const *)b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* timer_create in the target; the id it got in *got. */
static int create_one(struct rst_ctx *r, const Rtcr__PosixTimer *t, int32_t want, int32_t *got)
{
	struct ksigevent sev;
	uint64_t sev_addr, id_addr;
	int ret;

	memset(&sev, 0, sizeof(sev));
	sev.value = t->value;
	sev.signo = (int32_t)t->signo;
	sev.notify = (int32_t)t->notify;
	sev.tid = (t->notify & SIGEV_THREAD_ID) ? (int32_t)t->tid : 0;
	ret = rst_scratch_put(r, SC_SIGEV, &sev, sizeof(sev), &sev_addr);
	if (!ret)
		ret = rst_scratch_put(r, SC_ID, &want, sizeof(want), &id_addr);
	if (ret)
		return ret;
	ret = inject_call(&r->ij, NULL, "timer_create", __NR_timer_create,
			  (uint64_t)(int64_t)t->clock, sev_addr, id_addr, 0, 0, 0);
	if (ret) {
		pr_err("POSIX timer %d (clock %d): cannot create it", t->id, t->clock);
		return ret;
	}
	return remote_read(r->pid, id_addr, got, sizeof(*got));
}

static int delete_one(struct rst_ctx *r, int32_t id)
{
	return inject_call(&r->ij, NULL, "timer_delete", __NR_timer_delete, (uint64_t)id, 0, 0, 0,
			   0, 0);
}

static int arm_one(struct rst_ctx *r, const Rtcr__PosixTimer *t)
{
	struct kitimerspec sp;
	uint64_t addr;
	int ret;

	if (!t->value_ns)
		return 0;
	sp.interval_sec = (int64_t)(t->interval_ns / NSEC);
	sp.interval_nsec = (int64_t)(t->interval_ns % NSEC);
	sp.value_sec = (int64_t)(t->value_ns / NSEC);
	sp.value_nsec = (int64_t)(t->value_ns % NSEC);
	ret = rst_scratch_put(r, SC_SPEC, &sp, sizeof(sp), &addr);
	if (ret)
		return ret;
	ret = inject_call(&r->ij, NULL, "timer_settime", __NR_timer_settime, (uint64_t)t->id, 0,
			  addr, 0, 0, 0);
	if (ret)
		pr_err("POSIX timer %d: cannot arm it", t->id);
	return ret;
}

static int timers_restore(struct rst_ctx *r)
{
	const Rtcr__Process *p = r->proc;
	const Rtcr__PosixTimer **order = NULL;
	int32_t *fillers = NULL;
	size_t nfill = 0;
	bool by_id = false;
	long res;
	int ret;

	if (!p->n_posix_timers)
		return 0;
	order = malloc(p->n_posix_timers * sizeof(*order));
	fillers = malloc(MAX_FILLERS * sizeof(*fillers));
	if (!order || !fillers) {
		ret = -ENOMEM;
		goto out;
	}
	memcpy(order, p->posix_timers, p->n_posix_timers * sizeof(*order));
	qsort(order, p->n_posix_timers, sizeof(*order), cmp_timer);
	ret = inject_syscall(&r->ij, &res, __NR_prctl, PR_TIMER_CREATE_RESTORE_IDS,
			     PR_TIMER_CREATE_RESTORE_IDS_ON, 0, 0, 0, 0);
	if (ret)
		goto out;
	by_id = res == 0;
	if (!by_id)
		pr_debug("no PR_TIMER_CREATE_RESTORE_IDS (%s): timers made in id order",
			 strerror((int)-res));
	for (size_t i = 0; i < p->n_posix_timers; i++) {
		const Rtcr__PosixTimer *t = order[i];
		int32_t got = -1;

		for (;;) {
			ret = create_one(r, t, t->id, &got);
			if (ret)
				goto out;
			if (got == t->id)
				break;
			if (by_id || got > t->id || nfill >= MAX_FILLERS) {
				pr_err("POSIX timer %d: got id %d%s", t->id, got,
				       by_id ? ""
					     : " (this kernel lacks PR_TIMER_CREATE_RESTORE_IDS, "
					       "Linux 6.16, and gives ids in order)");
				delete_one(r, got);
				ret = -EEXIST;
				goto out;
			}
			fillers[nfill++] = got; /* a smaller id: deleted below */
		}
	}
	for (size_t i = 0; i < nfill; i++) {
		ret = delete_one(r, fillers[i]);
		if (ret)
			goto out;
	}
	for (size_t i = 0; i < p->n_posix_timers; i++) {
		ret = arm_one(r, order[i]);
		if (ret)
			goto out;
	}
out:
	if (by_id &&
	    inject_call(&r->ij, NULL, "prctl PR_TIMER_CREATE_RESTORE_IDS off", __NR_prctl,
			PR_TIMER_CREATE_RESTORE_IDS, PR_TIMER_CREATE_RESTORE_IDS_OFF, 0, 0, 0, 0) &&
	    !ret)
		ret = -EIO;
	free(order);
	free(fillers);
	return ret;
}

const struct session_ops session_timers = {
    .name = "timers",
    .dump = timers_dump,
    .prepare = timers_prepare,
    .restore = timers_restore,
    .phase = RST_SIGNALS,
};
