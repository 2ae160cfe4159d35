/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * events: eventfd, timerfd, signalfd, epoll and inotify descriptors,
 * verified on SIGUSR1. Usage: events DIR (a directory to create and watch).
 *   e1: eventfd, count 5, O_NONBLOCK; e2: semaphore eventfd, count 3
 *   t1: CLOCK_MONOTONIC, 200 ms period, never read (ticks pile up)
 *   t2: CLOCK_MONOTONIC one-shot 10 s ahead; t3: one-shot 50 ms, expired, not read
 *   t4: CLOCK_MONOTONIC TFD_TIMER_ABSTIME 30 s ahead
 *   t5: CLOCK_REALTIME TFD_TIMER_ABSTIME|TFD_TIMER_CANCEL_ON_SET 60 s ahead
 *   t6: CLOCK_BOOTTIME disarmed, with a 300 ms period set
 *   sfd: signalfd for SIGUSR2 (blocked), one SIGUSR2 queued with value 77
 *   ep: epoll over t1 (IN), e1 (IN|ET), e2 (IN), e6 (an empty eventfd,
 *       IN|ONESHOT), a socketpair end (IN|RDHUP) and a pipe's read end (IN),
 *       both with data to read, and a stale entry: an eventfd added as fd X, kept as a
 *       dup, X closed and reused by sfd (OUT); distinct data values
 *   in: inotify with watches 1 (DIR), 2 (DIR/f, renamed DIR/f2 since,
 *       IN_ONESHOT) and 4 (DIR/h; 3 was removed)
 * The checks: counters and semaphore mode; the periodic timer has pending
 * ticks, at most 200 ms left, and expires every 200 ms; the one-shots are
 * armed with no more time left than they had, the expired one has its
 * tick; absolute timers keep their absolute expiry; the queued signal is
 * read through the signalfd; the epoll interest list (fdinfo) is the same,
 * the right entries are ready, EPOLLET holds, the stale entry still
 * watches the eventfd; the inotify watches (fdinfo) are the same and
 * report events with their descriptors.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>

#include "tgt.h"

#define MS 1000000LL

static int64_t now(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t ns_of(struct timespec ts)
{
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static struct itimerspec its_ms(int64_t value_ns, int64_t interval_ns)
{
	struct itimerspec its = {
	    .it_interval = {interval_ns / 1000000000LL, interval_ns % 1000000000LL},
	    .it_value = {value_ns / 1000000000LL, value_ns % 1000000000LL},
	};
	return its;
}

static char *fdinfo(int fd)
{
	static char buf[3][8192];
	static int next;
	char path[64];
	char *b = buf[next++ % 3];
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	int f = open(path, O_RDONLY | O_CLOEXEC);
	SETUP(f >= 0, "open fdinfo");
	ssize_t n = read(f, b, sizeof(buf[0]) - 1);
	SETUP(n >= 0, "read fdinfo");
	b[n] = '\0';
	close(f);
	return b;
}

/* The lines of fdinfo that start with `key`, up to `upto` (exclusive) on
 * each line, sorted (the kernel lists epoll entries in an order that
 * depends on addresses). */
static void lines(const char *info, const char *key, const char *upto, char *out, size_t len)
{
	char ls[64][160];
	int n = 0;
	const char *p = info;
	while (p && *p && n < 64) {
		if (!strncmp(p, key, strlen(key))) {
			const char *e = strchr(p, '\n');
			size_t l = e ? (size_t)(e - p) : strlen(p);
			if (upto) {
				const char *u = strstr(p, upto);
				if (u && u < p + l)
					l = (size_t)(u - p);
			}
			if (l >= sizeof(ls[0]))
				l = sizeof(ls[0]) - 1;
			memcpy(ls[n], p, l);
			ls[n][l] = '\0';
			n++;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	qsort(ls, n, sizeof(ls[0]), (int (*)(const void *, const void *))strcmp);
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		strncat(out, ls[i], len - strlen(out) - 2);
		strcat(out, "|");
	}
}

static const char *field(const char *info, const char *key)
{
	const char *p = strstr(info, key);
	return p ? p + strlen(key) : "";
}

static int is_nonblock(int fd)
{
	return (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0;
}

/* The data values epoll_wait reports now, as a sorted string. */
static void ready(int ep, char *out, size_t len)
{
	struct epoll_event evs[16];
	unsigned long long d[16];
	int n = epoll_wait(ep, evs, 16, 0);
	for (int i = 0; i < n; i++)
		d[i] = evs[i].data.u64;
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (d[j] < d[i]) {
				unsigned long long x = d[i];
				d[i] = d[j];
				d[j] = x;
			}
	out[0] = '\0';
	for (int i = 0; i < n; i++)
		snprintf(out + strlen(out), len - strlen(out), "%llx ", d[i]);
}

/* What epoll reports ready must be WANT (WHEN: the step, for messages). */
static void expect_ready(int ep, const char *want, const char *when)
{
	char got[256];
	ready(ep, got, sizeof(got));
	CHECK(!strcmp(got, want), "epoll: %s: ready %s, expected %s", when, got, want);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		say("ERROR: usage: events DIR");
		return 2;
	}
	const char *dir = argv[1];
	char path[4096], p2[4096];
	tgt_install_usr1();

	/* eventfds */
	int e1 = eventfd(5, EFD_NONBLOCK);
	int e2 = eventfd(3, EFD_SEMAPHORE);
	int e6 = eventfd(0, EFD_NONBLOCK);
	SETUP(e1 >= 0 && e2 >= 0 && e6 >= 0, "eventfd");

	/* timerfds */
	int t1 = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	int t2 = timerfd_create(CLOCK_MONOTONIC, 0);
	int t3 = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	int t4 = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	int t5 = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK);
	int t6 = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK);
	SETUP(t1 >= 0 && t2 >= 0 && t3 >= 0 && t4 >= 0 && t5 >= 0 && t6 >= 0, "timerfd_create");
	struct itimerspec its = its_ms(200 * MS, 200 * MS);
	int64_t t1_armed = now(CLOCK_MONOTONIC);
	SETUP(timerfd_settime(t1, 0, &its, NULL) == 0, "timerfd_settime t1");
	its = its_ms(10000 * MS, 0);
	SETUP(timerfd_settime(t2, 0, &its, NULL) == 0, "timerfd_settime t2");
	its = its_ms(50 * MS, 0);
	SETUP(timerfd_settime(t3, 0, &its, NULL) == 0, "timerfd_settime t3");
	int64_t t4_at = now(CLOCK_MONOTONIC) + 30000 * MS;
	its = its_ms(t4_at, 0);
	SETUP(timerfd_settime(t4, TFD_TIMER_ABSTIME, &its, NULL) == 0, "timerfd_settime t4");
	int64_t t5_at = now(CLOCK_REALTIME) + 60000 * MS;
	its = its_ms(t5_at, 0);
	SETUP(timerfd_settime(t5, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL) == 0,
	      "timerfd_settime t5");
	its = its_ms(0, 300 * MS);
	SETUP(timerfd_settime(t6, 0, &its, NULL) == 0, "timerfd_settime t6");

	/* epoll, with a stale entry: fd x closed, its file kept as xdup,
	 * the number reused by the signalfd */
	int ep = epoll_create1(EPOLL_CLOEXEC);
	SETUP(ep >= 0, "epoll_create1");
	struct epoll_event ev;
	ev = (struct epoll_event){EPOLLIN, {.u64 = 0x1111}};
	SETUP(epoll_ctl(ep, EPOLL_CTL_ADD, t1, &ev) == 0, "epoll_ctl t1");
	ev = (struct epoll_event){EPOLLIN | EPOLLET, {.u64 = 0x2222}};
	SETUP(epoll_ctl(ep, EPOLL_CTL_ADD, e1, &ev) == 0, "epoll_ctl e1");
	ev = (struct epoll_event){EPOLLIN, {.u64 = 0x3333}};
	SETUP(epoll_ctl(ep, EPOLL_CTL_ADD, e2, &ev) == 0, "epoll_ctl e2");
	ev = (struct epoll_event){EPOLLIN | EPOLLONESHOT, {.u64 = 0x6666}};
	SETUP(epoll_ctl(ep, EPOLL_CTL_ADD, e6, &ev) == 0, "epoll_ctl e6");
	int sp[2], pp[2];
	SETUP(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0, "socketpair");
	SETUP(write(sp[1], "hi", 2) == 2, "write to the socketpair");
	ev = (struct epoll_event){EPOLLIN | EPOLLRDHUP, {.u64 = 0x4444}};
	SETUP(epoll_ctl(ep, EPOLL_CTL_ADD, sp[0], &ev) == 0, "epoll_ctl sp[0]");
	SETUP(pipe2(pp, O_NONBLOCK) == 0, "pipe");
	SETUP(write(pp[1], "p", 1) == 1, "write to the pipe");
	ev = (struct epoll_event){EPOLLIN, {.u64 = 0x7777}};
	SETUP(epoll_ctl(ep, EPOLL_CTL_ADD, pp[0], &ev) == 0, "epoll_ctl pp[0]");
	int x = eventfd(0, EFD_NONBLOCK);
	SETUP(x >= 0, "eventfd x");
	ev = (struct epoll_event){EPOLLOUT, {.u64 = 0x5555}};
	SETUP(epoll_ctl(ep, EPOLL_CTL_ADD, x, &ev) == 0, "epoll_ctl x");
	int xdup = fcntl(x, F_DUPFD_CLOEXEC, 100);
	SETUP(xdup >= 0, "dup x");
	close(x);

	/* signalfd, taking number x */
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR2);
	SETUP(sigprocmask(SIG_BLOCK, &m, NULL) == 0, "sigprocmask");
	int sfd = signalfd(-1, &m, SFD_NONBLOCK | SFD_CLOEXEC);
	SETUP(sfd == x, "signalfd did not take the number of the closed eventfd");
	SETUP(sigqueue(getpid(), SIGUSR2, (union sigval){.sival_int = 77}) == 0, "sigqueue");

	/* inotify: watches 1, 2, 4 */
	SETUP(mkdir(dir, 0700) == 0 || errno == EEXIST, "mkdir DIR");
	snprintf(path, sizeof(path), "%s/f", dir);
	int f = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	SETUP(f >= 0, "create DIR/f");
	close(f);
	snprintf(path, sizeof(path), "%s/g", dir);
	f = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	SETUP(f >= 0, "create DIR/g");
	close(f);
	snprintf(path, sizeof(path), "%s/h", dir);
	f = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	SETUP(f >= 0, "create DIR/h");
	close(f);
	int in = inotify_init1(IN_NONBLOCK);
	SETUP(in >= 0, "inotify_init1");
	int w1 = inotify_add_watch(in, dir, IN_CREATE | IN_DELETE);
	snprintf(path, sizeof(path), "%s/f", dir);
	int w2 = inotify_add_watch(in, path, IN_MODIFY | IN_ONESHOT);
	snprintf(path, sizeof(path), "%s/g", dir);
	int w3 = inotify_add_watch(in, path, IN_MODIFY);
	SETUP(w3 > 0 && inotify_rm_watch(in, w3) == 0, "inotify watch 3");
	snprintf(path, sizeof(path), "%s/h", dir);
	int w4 = inotify_add_watch(in, path, IN_ATTRIB | IN_EXCL_UNLINK);
	SETUP(w1 == 1 && w2 == 2 && w4 == 4, "inotify watch descriptors are not 1, 2, 4");
	snprintf(path, sizeof(path), "%s/f", dir);
	snprintf(p2, sizeof(p2), "%s/f2", dir);
	SETUP(rename(path, p2) == 0, "rename DIR/f");
	char evbuf[4096] __attribute__((aligned(8)));
	while (read(in, evbuf, sizeof(evbuf)) > 0)
		; /* IN_IGNORED of watch 3 */

	/* what the checks compare with */
	tgt_sleep_ms(100); /* t3 expires */
	static char ep_before[4096], in_before[4096];
	/* (without the watched inode: sockets and pipes are new ones after a restore) */
	lines(fdinfo(ep), "tfd:", "  pos:", ep_before, sizeof(ep_before));
	lines(fdinfo(in), "inotify wd:", NULL, in_before, sizeof(in_before));

	say("READY");
	tgt_wait_usr1();

	/* ---- epoll first: the reads below change what is ready ---- */
	static char ep_after[4096], in_after[4096];
	char got[256];
	lines(fdinfo(ep), "tfd:", "  pos:", ep_after, sizeof(ep_after));
	CHECK(!strcmp(ep_before, ep_after), "epoll interest list: was %s now %s", ep_before,
	      ep_after);
	expect_ready(ep, "1111 2222 3333 4444 5555 7777 ", "after the restore");
	expect_ready(ep, "1111 3333 4444 5555 7777 ", "then (EPOLLET on 2222)");
	uint64_t one = 1;
	SETUP(write(e6, &one, sizeof(one)) == sizeof(one), "write e6");
	expect_ready(ep, "1111 3333 4444 5555 6666 7777 ", "after a write to e6");
	expect_ready(ep, "1111 3333 4444 5555 7777 ", "then (EPOLLONESHOT on 6666)");
	errno = 0;
	CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, x, NULL) < 0 && errno == ENOENT,
	      "epoll: fd %d (the signalfd now) is in the interest list", x);
	close(xdup); /* the last reference: its entry goes away */
	ready(ep, got, sizeof(got));
	CHECK(!strcmp(got, "1111 3333 4444 7777 "),
	      "epoll: after closing the stale eventfd, ready %s", got);
	CHECK(!strstr(fdinfo(ep), "data:             5555"),
	      "epoll: the stale entry stayed after its file was closed");

	/* ---- eventfd ---- */
	uint64_t v = 0;
	CHECK(is_nonblock(e1) && !is_nonblock(e2), "eventfd O_NONBLOCK: e1 %d e2 %d (1 0)",
	      is_nonblock(e1), is_nonblock(e2));
	CHECK(!strncmp(field(fdinfo(e2), "eventfd-semaphore:"), " 1", 2), "e2: not a semaphore");
	CHECK(!strncmp(field(fdinfo(e1), "eventfd-semaphore:"), " 0", 2), "e1: a semaphore");
	CHECK(read(e1, &v, sizeof(v)) == sizeof(v) && v == 5, "e1: read %llu, expected 5",
	      (unsigned long long)v);
	CHECK(read(e1, &v, sizeof(v)) < 0 && errno == EAGAIN, "e1: not empty after a read");
	for (int i = 0; i < 3; i++) {
		v = 0;
		CHECK(read(e2, &v, sizeof(v)) == sizeof(v) && v == 1, "e2: read %d gave %llu", i,
		      (unsigned long long)v);
	}
	struct pollfd pf = {.fd = e2, .events = POLLIN};
	CHECK(poll(&pf, 1, 0) == 0, "e2: still readable after 3 reads");

	/* ---- timerfd ---- */
	struct itimerspec g;
	CHECK(is_nonblock(t1) && !is_nonblock(t2), "timerfd O_NONBLOCK: t1 %d t2 %d (1 0)",
	      is_nonblock(t1), is_nonblock(t2));
	/* t3: expired before the checkpoint, its tick not read */
	v = 0;
	CHECK(read(t3, &v, sizeof(v)) == sizeof(v) && v == 1, "t3: read %llu ticks, expected 1",
	      (unsigned long long)v);
	SETUP(timerfd_gettime(t3, &g) == 0, "timerfd_gettime t3");
	CHECK(!ns_of(g.it_value) && !ns_of(g.it_interval), "t3: armed again");
	/* t2: one-shot, armed, no more than 10 s left */
	SETUP(timerfd_gettime(t2, &g) == 0, "timerfd_gettime t2");
	CHECK(ns_of(g.it_value) > 1000 * MS && ns_of(g.it_value) <= 10000 * MS &&
		  !ns_of(g.it_interval),
	      "t2: %lld ns left, period %lld, expected (1 s, 10 s] and 0",
	      (long long)ns_of(g.it_value), (long long)ns_of(g.it_interval));
	/* t4, t5: absolute, same expiry */
	SETUP(timerfd_gettime(t4, &g) == 0, "timerfd_gettime t4");
	int64_t off = now(CLOCK_MONOTONIC) + ns_of(g.it_value) - t4_at;
	CHECK(ns_of(g.it_value) > 0 && off > -50 * MS && off < 50 * MS,
	      "t4: expires %lld ms away from its absolute time", (long long)(off / MS));
	CHECK(!strncmp(field(fdinfo(t4), "settime flags:"), " 01", 3), "t4: settime flags %.4s",
	      field(fdinfo(t4), "settime flags:"));
	SETUP(timerfd_gettime(t5, &g) == 0, "timerfd_gettime t5");
	off = now(CLOCK_REALTIME) + ns_of(g.it_value) - t5_at;
	CHECK(ns_of(g.it_value) > 0 && off > -50 * MS && off < 50 * MS,
	      "t5: expires %lld ms away from its absolute time", (long long)(off / MS));
	CHECK(!strncmp(field(fdinfo(t5), "settime flags:"), " 03", 3), "t5: settime flags %.4s",
	      field(fdinfo(t5), "settime flags:"));
	CHECK(!strncmp(field(fdinfo(t5), "clockid:"), " 0", 2), "t5: clock %.3s",
	      field(fdinfo(t5), "clockid:"));
	/* t6: disarmed, with a period */
	SETUP(timerfd_gettime(t6, &g) == 0, "timerfd_gettime t6");
	CHECK(!ns_of(g.it_value) && ns_of(g.it_interval) == 300 * MS,
	      "t6: %lld ns left, period %lld ns, expected disarmed with a 300 ms period",
	      (long long)ns_of(g.it_value), (long long)ns_of(g.it_interval));
	CHECK(!strncmp(field(fdinfo(t6), "clockid:"), " 7", 2), "t6: clock %.3s",
	      field(fdinfo(t6), "clockid:"));
	/* t1: ticks piled up (never more than its age allows), at most one
	 * period left, then it expires every 200 ms */
	int64_t age = now(CLOCK_MONOTONIC) - t1_armed;
	v = 0;
	CHECK(read(t1, &v, sizeof(v)) == sizeof(v) && v >= 1 && (int64_t)v <= age / (200 * MS),
	      "t1: %llu ticks pending, expected 1..%lld", (unsigned long long)v,
	      (long long)(age / (200 * MS)));
	SETUP(timerfd_gettime(t1, &g) == 0, "timerfd_gettime t1");
	CHECK(ns_of(g.it_value) > 0 && ns_of(g.it_value) <= 200 * MS &&
		  ns_of(g.it_interval) == 200 * MS,
	      "t1: %lld ns left, period %lld ns, expected (0, 200 ms] and 200 ms",
	      (long long)ns_of(g.it_value), (long long)ns_of(g.it_interval));
	int64_t first = now(CLOCK_MONOTONIC) + ns_of(g.it_value), prev = 0;
	for (int i = 0; i < 4; i++) {
		pf = (struct pollfd){.fd = t1, .events = POLLIN};
		CHECK(poll(&pf, 1, 1000) == 1, "t1: no expiry within 1 s");
		int64_t t = now(CLOCK_MONOTONIC);
		v = 0;
		CHECK(read(t1, &v, sizeof(v)) == sizeof(v) && v == 1, "t1: %llu ticks at once",
		      (unsigned long long)v);
		if (i == 0)
			CHECK(t - first > -5 * MS && t - first < 100 * MS,
			      "t1: first expiry %lld ms after it was due",
			      (long long)((t - first) / MS));
		else
			CHECK(t - prev > 100 * MS && t - prev < 300 * MS,
			      "t1: %lld ms between expiries, expected 200",
			      (long long)((t - prev) / MS));
		prev = t;
	}

	/* ---- signalfd ---- */
	struct signalfd_siginfo si;
	CHECK(!strncmp(field(fdinfo(sfd), "sigmask:"), "\t0000000000000800", 17),
	      "signalfd mask %.17s", field(fdinfo(sfd), "sigmask:"));
	memset(&si, 0, sizeof(si));
	CHECK(read(sfd, &si, sizeof(si)) == sizeof(si) && si.ssi_signo == SIGUSR2 &&
		  si.ssi_int == 77 && si.ssi_code == SI_QUEUE,
	      "signalfd: read signal %u value %d code %d, expected SIGUSR2 77 SI_QUEUE",
	      si.ssi_signo, si.ssi_int, si.ssi_code);
	CHECK(read(sfd, &si, sizeof(si)) < 0 && errno == EAGAIN, "signalfd: a second signal");

	/* ---- inotify ---- */
	lines(fdinfo(in), "inotify wd:", NULL, in_after, sizeof(in_after));
	CHECK(!strcmp(in_before, in_after), "inotify watches: were %s now %s", in_before, in_after);
	CHECK(is_nonblock(in), "inotify: O_NONBLOCK lost");
	snprintf(path, sizeof(path), "%s/new.%lld", dir, (long long)now(CLOCK_REALTIME));
	f = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	SETUP(f >= 0, "create a file in DIR");
	close(f);
	f = open(p2, O_WRONLY | O_CLOEXEC);
	SETUP(f >= 0 && write(f, "x", 1) == 1, "write DIR/f2");
	close(f);
	snprintf(path, sizeof(path), "%s/h", dir);
	SETUP(chmod(path, 0644) == 0, "chmod DIR/h");
	ssize_t n = read(in, evbuf, sizeof(evbuf));
	int seen1 = 0, seen2 = 0, seen4 = 0, other = 0;
	for (char *q = evbuf; n > 0 && q < evbuf + n;) {
		struct inotify_event *ie = (struct inotify_event *)q;
		if (ie->wd == 1 && (ie->mask & IN_CREATE) && !strncmp(ie->name, "new.", 4))
			seen1++;
		else if (ie->wd == 2 && (ie->mask & (IN_MODIFY | IN_IGNORED)))
			seen2++;
		else if (ie->wd == 4 && (ie->mask & IN_ATTRIB))
			seen4++;
		else
			other++;
		q += sizeof(*ie) + ie->len;
	}
	CHECK(seen1 == 1 && seen2 == 2 && seen4 == 1 && !other,
	      "inotify events: create %d (1), modify+ignored %d (2), attrib %d (1), other %d",
	      seen1, seen2, seen4, other);
	snprintf(path, sizeof(path), "%s/g", dir);
	int w5 = inotify_add_watch(in, path, IN_MODIFY);
	CHECK(w5 == 5, "inotify: next watch descriptor %d, expected 5", w5);

	tgt_finish();
}
