/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * timerfd: clock, time left, period, expirations not read yet, settime
 * flags (TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET), status flags.
 *
 * Checkpoint: a periodic timer that expired and was not read since is not
 * re-armed by the kernel until someone reads it or asks for the time left
 * (fdinfo then shows it_value 0 and one tick for any number of periods);
 * timerfd_gettime() on our copy of the descriptor (pidfd_getfd) counts the
 * overruns into the ticks and re-arms it, exactly as the target's next read
 * would, and fdinfo read after that gives the time left and the ticks in
 * one consistent snapshot.
 *
 * Restore: made in the target (injected timerfd_create + timerfd_settime)
 * so that an absolute time means the same as for the target (its time
 * namespace). A relative timer gets the time it had left, so it keeps its
 * phase relative to what the target runs (the first expiry comes at most
 * one period after the restore). A TFD_TIMER_ABSTIME timer keeps its
 * absolute expiry on its clock as the target sees it: after a restore on
 * the same boot, that clock went on meanwhile, and the timer may have
 * expired (with its overruns counted) as for a stopped program. The
 * expirations not read yet are set with TFD_IOC_SET_TICKS (Linux with
 * CONFIG_CHECKPOINT_RESTORE), adding any that came between the settime and
 * the ioctl. Not kept: a TFD_TIMER_CANCEL_ON_SET timer that was already
 * cancelled by a clock change reads normally again.
 */
#define LOG_PREFIX "timerfd: "
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "core/proc.h"
#include "sessions/fd-event.h"

#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t)
#endif
#ifndef CLOCK_REALTIME_ALARM
#define CLOCK_REALTIME_ALARM 8
#endif
#ifndef CLOCK_BOOTTIME_ALARM
#define CLOCK_BOOTTIME_ALARM 9
#endif
#define TFD_SETTIME_MASK (TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET)
#define NSEC		 1000000000ULL

static bool timerfd_match(struct ckpt_ctx *c, const struct fd_info *fi)
{
	return ev_is_anon(fi, "[timerfd]");
}

static bool clock_ok(int64_t clk)
{
	return clk == CLOCK_REALTIME || clk == CLOCK_MONOTONIC || clk == CLOCK_BOOTTIME ||
	       clk == CLOCK_REALTIME_ALARM || clk == CLOCK_BOOTTIME_ALARM;
}

/* "it_value: (sec, nsec)" */
static int field_ts(const char *fdinfo, const char *key, uint64_t *ns)
{
	const char *p = ev_field(fdinfo, key);
	unsigned long long s, n;

	if (!p || sscanf(p, " (%llu, %llu)", &s, &n) != 2 || n >= NSEC || s > INT64_MAX / NSEC - 1)
		return -EINVAL;
	*ns = s * NSEC + n;
	return 0;
}

struct tfd_state {
	uint64_t clockid, ticks, flags, value, interval;
};

static int read_state(struct ckpt_ctx *c, int fd, struct tfd_state *s)
{
	char path[64], *fdinfo = NULL;
	int ret;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", c->pid, fd);
	if (read_file(path, &fdinfo) < 0)
		return pr_perror("read %s", path);
	if (ev_field_u64(fdinfo, "clockid:", 10, &s->clockid) ||
	    ev_field_u64(fdinfo, "ticks:", 10, &s->ticks) ||
	    ev_field_u64(fdinfo, "settime flags:", 8, &s->flags) ||
	    field_ts(fdinfo, "it_value:", &s->value) ||
	    field_ts(fdinfo, "it_interval:", &s->interval)) {
		pr_err("pid %d: fd %d: cannot parse its fdinfo:\n%s", c->ns_pid, fd, fdinfo);
		ret = -EIO;
	} else {
		ret = 0;
	}
	free(fdinfo);
	return ret;
}

/* The clock as the target sees it (its time namespace), in ns. */
static uint64_t target_now(struct ckpt_ctx *c, int clk)
{
	switch (clk) {
	case CLOCK_MONOTONIC:
		return now_ns(CLOCK_MONOTONIC) + (uint64_t)c->t->mono_off;
	case CLOCK_BOOTTIME:
	case CLOCK_BOOTTIME_ALARM:
		return now_ns(CLOCK_BOOTTIME) + (uint64_t)c->t->boot_off;
	default:
		return now_ns(CLOCK_REALTIME);
	}
}

static int timerfd_dump(struct ckpt_ctx *c, const struct fd_info *fi, Rtcr__File *f)
{
	struct tfd_state s = {0}; /* filled by read_state when it returns 0 */
	struct itimerspec its;
	Rtcr__TimerfdFile *t;
	int ours, ret, tries;
	bool armed;

	ret = ev_dump_flags(c, fi, "timerfd");
	if (ret)
		return ret;
	ours = ev_take_fd(c, fi->fd);
	if (ours < 0)
		return ours;
	for (tries = 0;; tries++) {
		/* counts the overruns of an expired periodic timer, re-arms it */
		if (timerfd_gettime(ours, &its) < 0) {
			ret = pr_perror("pid %d: fd %d: timerfd_gettime", c->ns_pid, fi->fd);
			goto out;
		}
		ret = read_state(c, fi->fd, &s);
		if (ret)
			goto out;
		/* armed (after the re-arming, time left is never 0), but it
		 * expired again before fdinfo was read: once more */
		armed = its.it_value.tv_sec || its.it_value.tv_nsec;
		if (!armed || !s.interval || s.value || tries == 5)
			break;
	}
	if (!clock_ok((int64_t)s.clockid) || (s.flags & ~(uint64_t)TFD_SETTIME_MASK)) {
		ret = ckpt_refuse(c,
				  "pid %d: fd %d: timerfd on clock %" PRIu64 " with settime flags "
				  "0%" PRIo64 " not supported",
				  c->ns_pid, fi->fd, s.clockid, s.flags);
		goto out;
	}
	if (armed && s.interval && !s.value) {
		/* keeps expiring faster than we can look: next expiry one period on */
		pr_warn("pid %d: fd %d: timerfd with a %" PRIu64 " ns period keeps expiring; its "
			"phase is approximate",
			c->ns_pid, fi->fd, s.interval);
		s.value = s.interval;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		ret = -ENOMEM;
		goto out;
	}
	rtcr__timerfd_file__init(t);
	t->has_clockid = t->has_ticks = t->has_settime_flags = 1;
	t->has_value_ns = t->has_interval_ns = 1;
	t->clockid = (int32_t)s.clockid;
	t->ticks = s.ticks;
	t->settime_flags = (uint32_t)s.flags;
	t->value_ns = s.value;
	t->interval_ns = s.interval;
	if ((s.flags & TFD_TIMER_ABSTIME) && s.value) {
		t->has_deadline_ns = 1;
		t->deadline_ns = target_now(c, (int)s.clockid) + s.value;
	}
	f->timerfd = t;
	ret = 0;
out:
	close(ours);
	return ret;
}

static int timerfd_prepare(struct rst_ctx *r, const Rtcr__File *f)
{
	const Rtcr__TimerfdFile *t = f->timerfd;
	int ret = ev_prepare_common(f, t, "timerfd", O_RDWR);

	if (ret)
		return ret;
	if (!t->has_clockid || !clock_ok(t->clockid)) {
		pr_err("file %u: timerfd clock %d is not one a timerfd can have", f->id,
		       t->clockid);
		return -EINVAL;
	}
	if (t->settime_flags & ~(uint32_t)TFD_SETTIME_MASK) {
		pr_err("file %u: timerfd settime flags 0%o", f->id, t->settime_flags);
		return -EINVAL;
	}
	if (t->value_ns > INT64_MAX || t->interval_ns > INT64_MAX || t->deadline_ns > INT64_MAX) {
		pr_err("file %u: timerfd times out of range (%" PRIu64 ", %" PRIu64 ", %" PRIu64
		       " ns)",
		       f->id, t->value_ns, t->interval_ns, t->deadline_ns);
		return -EINVAL;
	}
	if ((t->settime_flags & TFD_TIMER_ABSTIME) && t->value_ns && !t->deadline_ns) {
		pr_err("file %u: absolute timerfd without its expiry time", f->id);
		return -EINVAL;
	}
	return 0;
}

static struct timespec ts_of(uint64_t ns)
{
	return (struct timespec){.tv_sec = (time_t)(ns / NSEC), .tv_nsec = (long)(ns % NSEC)};
}

/* Make the expirations not read yet `ticks`, plus any the new timer had. */
static int set_ticks(struct rst_ctx *r, const Rtcr__File *f, int tfd)
{
	uint64_t ticks = f->timerfd->ticks, more = 0, addr;
	long got;
	int ret;

	ret = rst_scratch_put(r, 64, NULL, 0, &addr);
	if (ret)
		return ret;
	/* the timer is nonblocking for now: -EAGAIN if it did not expire */
	ret = inject_syscall(&r->ij, &got, __NR_read, (uint64_t)tfd, addr, sizeof(more), 0, 0, 0);
	if (ret)
		return ret;
	if (got == (long)sizeof(more)) {
		ret = remote_read(r->pid, addr, &more, sizeof(more));
		if (ret)
			return ret;
	} else if (got != -EAGAIN) {
		pr_err("file %u: read the new timerfd: %s", f->id,
		       got < 0 ? strerror((int)-got) : "short read");
		return got < 0 ? (int)got : -EIO;
	}
	if (more > UINT64_MAX - ticks) {
		pr_err("file %u: timerfd ticks overflow (%" PRIu64 " + %" PRIu64 ")", f->id, ticks,
		       more);
		return -EOVERFLOW;
	}
	ticks += more;
	ret = rst_scratch_put(r, 64, &ticks, sizeof(ticks), NULL);
	if (ret)
		return ret;
	ret = inject_syscall(&r->ij, &got, __NR_ioctl, (uint64_t)tfd, TFD_IOC_SET_TICKS, addr, 0, 0,
			     0);
	if (ret)
		return ret;
	if (got == -ENOTTY || got == -EINVAL) {
		pr_err("file %u: the timerfd has %" PRIu64 " expirations not read yet and this "
		       "kernel cannot set them (TFD_IOC_SET_TICKS needs CONFIG_CHECKPOINT_RESTORE)",
		       f->id, ticks);
		return -ENOTSUP;
	}
	if (got < 0) {
		pr_err("file %u: TFD_IOC_SET_TICKS %" PRIu64 ": %s", f->id, ticks,
		       strerror((int)-got));
		return (int)got;
	}
	return 0;
}

static int timerfd_open(struct rst_ctx *r, const Rtcr__File *f, int *ourfd, int *tfd)
{
	const Rtcr__TimerfdFile *t = f->timerfd;
	struct itimerspec its;
	uint64_t addr;
	long fd;
	int ret;

	ret = inject_call(&r->ij, &fd, "timerfd_create", __NR_timerfd_create, (uint64_t)t->clockid,
			  TFD_CLOEXEC | TFD_NONBLOCK, 0, 0, 0, 0);
	if (ret)
		return ret;
	memset(&its, 0, sizeof(its));
	its.it_interval = ts_of(t->interval_ns);
	if (t->value_ns)
		its.it_value =
		    ts_of(t->settime_flags & TFD_TIMER_ABSTIME ? t->deadline_ns : t->value_ns);
	ret = rst_scratch_put(r, 0, &its, sizeof(its), &addr);
	if (ret)
		goto out;
	ret = inject_call(&r->ij, NULL, "timerfd_settime", __NR_timerfd_settime, (uint64_t)fd,
			  t->settime_flags, addr, 0, 0, 0);
	if (ret)
		goto out;
	if (t->ticks) {
		ret = set_ticks(r, f, (int)fd);
		if (ret)
			goto out;
	}
	ret = ev_set_flags(r, f, -1, (int)fd, !(f->flags & O_NONBLOCK));
	if (ret)
		goto out;
	*tfd = (int)fd;
	return 0;
out:
	ev_target_close(r, (int)fd);
	return ret;
}

const struct fd_ops fd_timerfd = {
    .name = "timerfd",
    .kind = RTCR__FILE_KIND__FILE_TIMERFD,
    .match = timerfd_match,
    .dump = timerfd_dump,
    .prepare = timerfd_prepare,
    .open = timerfd_open,
};
