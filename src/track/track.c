/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Dirty tracking with userfaultfd write protection: see track.h.
 *
 * Locking: one mutex guards everything. The handler thread polls the
 * userfaultfds without it, then takes it to read and apply messages and
 * to register new VMAs (the "arm pass", every ARM_PERIOD_MS). The tracer
 * thread takes it for a whole capture (track_capture_begin .. _end), and
 * first reads every queued message itself, so that no message read by the
 * handler is still unapplied while the capture looks at the state. Faults
 * cannot arrive during the capture: every thread of the target is stopped
 * (a thread waiting in a fault leaves it when interrupted and faults again
 * after the resume), and events are read before a thread can stop.
 */
#define LOG_PREFIX "track: "
#include "track/track.h"
#include "track/chunks.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/compat.h"
#include "mem/mem.h"
#include "core/inject.h"
#include "base/log.h"
#include "base/str.h"
#include "core/proc.h"

#define PG		 4096ULL
#define ARM_PERIOD_MS	 100
#define MAX_REGION_BYTES (16ULL << 30) /* larger (sparse reservations) stay untracked */
#define MAX_REGIONS	 65536	       /* per process */

struct tproc {
	pid_t pid;
	uint32_t ns_pid;
	unsigned long long starttime; /* with pid: the identity of the process */
	int uffd;
	int pmfd; /* /proc/PID/pagemap */
	struct region *r;
	size_t nr, cap;
	bool seen;
};

struct tracker {
	struct track_opts o;
	uint64_t gran; /* chunk size in use (async: a page) */
	uint64_t features;
	pthread_mutex_t mu;
	pthread_t th;
	bool th_started;
	int wakefd;
	bool stop;
	struct tproc *p;
	size_t np;
	uint64_t last_arm_ns;
	struct track_stats st;
	/* live checkpoint */
	struct capture *live_cap;
	int live_err;
	char live_msg[256];
	/* the image the dirty state refers to */
	struct track_last last;
	char broken[256];
};

/* ---- options ---- */

const char *track_mode_name(enum track_mode m)
{
	switch (m) {
	case TRACK_FAULT:
		return "fault";
	case TRACK_ASYNC:
		return "async";
	default:
		return "off";
	}
}

void track_describe(const struct track_opts *o, char *buf, size_t len)
{
	char g[32];

	if (o->mode != TRACK_FAULT) {
		snprintf(buf, len, "%s", track_mode_name(o->mode));
		return;
	}
	fmt_size_suffix(o->gran, g, sizeof(g));
	snprintf(buf, len, "fault:%s", g);
}

int track_parse(const char *s, struct track_opts *o)
{
	const char *colon = strchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);

	o->gran = TRACK_DEFAULT_GRAN;
	if (n == 3 && !strncmp(s, "off", 3))
		o->mode = TRACK_OFF;
	else if (n == 5 && !strncmp(s, "async", 5))
		o->mode = TRACK_ASYNC;
	else if (n == 5 && !strncmp(s, "fault", 5))
		o->mode = TRACK_FAULT;
	else {
		pr_err("unknown tracking mode '%.*s' (off, fault[:GRAN] or async)", (int)n, s);
		return -EINVAL;
	}
	if (colon) {
		char *end;
		unsigned long long v;

		if (o->mode != TRACK_FAULT) {
			pr_err("only fault tracking takes a granularity ('%s')", s);
			return -EINVAL;
		}
		errno = 0;
		v = strtoull(colon + 1, &end, 10);
		if (errno || end == colon + 1) {
			pr_err("bad granularity '%s' (e.g. 4K, 64K, 1M)", colon + 1);
			return -EINVAL;
		}
		if (*end == 'K' || *end == 'k')
			v <<= 10, end++;
		else if (*end == 'M' || *end == 'm')
			v <<= 20, end++;
		if (*end == 'B' || *end == 'b' || (*end == 'i' && end[1] == 'B'))
			end += *end == 'i' ? 2 : 1;
		if (*end || v < TRACK_MIN_GRAN || v > TRACK_MAX_GRAN || (v & (v - 1))) {
			pr_err("bad granularity '%s': a power of two from 4K to 16M", colon + 1);
			return -EINVAL;
		}
		o->gran = v;
	}
	return 0;
}

/* ---- regions ---- */

static struct region *region_find(struct tproc *p, uint64_t addr)
{
	size_t lo = 0, hi = p->nr;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (addr < p->r[mid].start)
			hi = mid;
		else if (addr >= p->r[mid].end)
			lo = mid + 1;
		else
			return &p->r[mid];
	}
	return NULL;
}

static int region_insert(struct tproc *p, const struct region *nr)
{
	size_t i = 0;

	if (p->nr >= MAX_REGIONS)
		return -E2BIG;
	if (p->nr == p->cap) {
		size_t nc = p->cap ? p->cap * 2 : 16;
		struct region *n = realloc(p->r, nc * sizeof(*n));

		if (!n)
			return -ENOMEM;
		p->r = n;
		p->cap = nc;
	}
	while (i < p->nr && p->r[i].start < nr->start)
		i++;
	memmove(&p->r[i + 1], &p->r[i], (p->nr - i) * sizeof(*p->r));
	p->r[i] = *nr;
	p->nr++;
	return 0;
}

/* [s, e) is no longer a tracked region of p (unmapped, moved away). */
static int region_cut(struct tracker *tk, struct tproc *p, uint64_t s, uint64_t e)
{
	for (size_t i = 0; i < p->nr;) {
		struct region *r = &p->r[i], left = {0}, right = {0};
		bool has_left, has_right;
		int ret;

		if (r->end <= s || r->start >= e) {
			i++;
			continue;
		}
		has_left = r->start < s;
		has_right = r->end > e;
		if (has_left && (ret = trk_region_sub(tk->gran, r, r->start, s, &left)))
			return ret;
		if (has_right && (ret = trk_region_sub(tk->gran, r, e, r->end, &right))) {
			trk_region_free(&left);
			return ret;
		}
		trk_region_free(r);
		memmove(&p->r[i], &p->r[i + 1], (p->nr - i - 1) * sizeof(*p->r));
		p->nr--;
		if (has_left && region_insert(p, &left))
			trk_region_free(&left);
		if (has_right && region_insert(p, &right))
			trk_region_free(&right);
		/* the parts (if any) were put back in order: look again from i */
		i += has_left;
		i += has_right;
	}
	return 0;
}

static void mark_range(struct tracker *tk, struct tproc *p, uint64_t s, uint64_t e, bool unprot,
		       const char *why)
{
	for (size_t i = 0; i < p->nr; i++) {
		struct region *r = &p->r[i];
		size_t a, b;

		if (r->end <= s || r->start >= e)
			continue;
		trk_chunk_span(tk->gran, r, s, e, &a, &b);
		for (size_t k = a; k < b; k++) {
			trk_bit_set(r->dirty, k);
			if (unprot)
				trk_bit_set(r->unprot, k);
			if (trk_bit_get(r->pending, k) && !tk->live_err) {
				tk->live_err = -EBUSY;
				snprintf(tk->live_msg, sizeof(tk->live_msg),
					 "pid %u %s 0x%" PRIx64 "-0x%" PRIx64
					 " during the live copy, before it was copied",
					 p->ns_pid, why, s, e);
			}
			trk_bit_clr(r->pending, k);
		}
	}
}

static void proc_drop(struct tproc *p)
{
	for (size_t i = 0; i < p->nr; i++)
		trk_region_free(&p->r[i]);
	free(p->r);
	p->r = NULL;
	p->nr = p->cap = 0;
	if (p->uffd >= 0)
		close(p->uffd);
	if (p->pmfd >= 0)
		close(p->pmfd);
	p->uffd = p->pmfd = -1;
}

static struct tproc *proc_find(struct tracker *tk, pid_t pid)
{
	for (size_t i = 0; i < tk->np; i++)
		if (tk->p[i].pid == pid)
			return &tk->p[i];
	return NULL;
}

static void proc_remove(struct tracker *tk, struct tproc *p)
{
	size_t i = (size_t)(p - tk->p);

	proc_drop(p);
	memmove(&tk->p[i], &tk->p[i + 1], (tk->np - i - 1) * sizeof(*tk->p));
	tk->np--;
}

static unsigned long long proc_starttime(pid_t pid)
{
	char path[64], *buf = NULL, *p;
	unsigned long long v = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (read_file(path, &buf) < 0)
		return 0;
	p = strrchr(buf, ')');
	/* field 22 (starttime); p points at field 2's end */
	for (int f = 2; p && f < 22; f++)
		p = strchr(p + 1, ' ');
	if (p)
		v = strtoull(p + 1, NULL, 10);
	free(buf);
	return v;
}

static void set_broken_locked(struct tracker *tk, const char *why);

/* ---- the handler: messages ---- */

static void unprotect(struct tracker *tk, struct tproc *p, uint64_t s, uint64_t e)
{
	struct uffdio_writeprotect wp = {.range = {s, e - s}, .mode = 0};

	if (ioctl(p->uffd, UFFDIO_WRITEPROTECT, &wp) == 0)
		return;
	pr_debug("pid %u: unprotect 0x%" PRIx64 "-0x%" PRIx64 ": %s", p->ns_pid, s, e,
		 strerror(errno));
	/* never leave a thread waiting */
	{
		struct uffdio_range rg = {s, e - s};

		ioctl(p->uffd, UFFDIO_WAKE, &rg);
	}
}

/* copy-before-write of a live checkpoint */
static int live_copy_chunk(struct tracker *tk, struct tproc *p, struct region *r, size_t k)
{
	uint64_t s, e;
	int ret;

	trk_chunk_range(tk->gran, r, k, &s, &e);
	ret = mem_copy_range(tk->live_cap, p->pid, p->ns_pid, p->pmfd, s, e, r->file_backed);
	trk_bit_clr(r->pending, k);
	tk->st.chunks_copied_live++;
	if (ret && !tk->live_err) {
		tk->live_err = ret;
		snprintf(tk->live_msg, sizeof(tk->live_msg),
			 "pid %u: copy of 0x%" PRIx64 "-0x%" PRIx64 " failed: %s", p->ns_pid, s, e,
			 strerror(-ret));
	}
	return ret;
}

static void on_fault(struct tracker *tk, struct tproc *p, uint64_t addr)
{
	struct region *r;
	size_t k;
	uint64_t s, e;

	addr &= ~(PG - 1);
	tk->st.faults++;
	r = region_find(p, addr);
	if (!r) {
		unprotect(tk, p, addr, addr + PG);
		return;
	}
	k = trk_chunk_index(tk->gran, r, addr);
	if (trk_bit_get(r->pending, k))
		live_copy_chunk(tk, p, r, k);
	trk_bit_set(r->dirty, k);
	trk_bit_set(r->unprot, k);
	trk_chunk_range(tk->gran, r, k, &s, &e);
	unprotect(tk, p, s, e);
}

static void on_msg(struct tracker *tk, struct tproc *p, const struct uffd_msg *m)
{
	switch (m->event) {
	case UFFD_EVENT_PAGEFAULT:
		on_fault(tk, p, m->arg.pagefault.address);
		break;
	case UFFD_EVENT_REMOVE:
		tk->st.events++;
		mark_range(tk, p, m->arg.remove.start, m->arg.remove.end, true, "discarded");
		break;
	case UFFD_EVENT_UNMAP:
		tk->st.events++;
		mark_range(tk, p, m->arg.remove.start, m->arg.remove.end, true, "unmapped");
		if (region_cut(tk, p, m->arg.remove.start, m->arg.remove.end))
			set_broken_locked(tk, "out of memory for the regions");
		break;
	case UFFD_EVENT_REMAP: {
		uint64_t from = m->arg.remap.from, to = m->arg.remap.to, len = m->arg.remap.len;

		tk->st.events++;
		mark_range(tk, p, from, from + len, true, "moved away (mremap)");
		if (region_cut(tk, p, from, from + len))
			set_broken_locked(tk, "out of memory for the regions");
		/* the destination: new contents for whatever covered it */
		mark_range(tk, p, to, to + len, true, "overwritten (mremap)");
		break;
	}
	default:
		tk->st.events++;
		pr_debug("pid %u: userfaultfd event %u ignored", p->ns_pid, m->event);
		break;
	}
}

/* Read and apply every queued message of p (tk->mu held). */
static void drain(struct tracker *tk, struct tproc *p)
{
	struct uffd_msg msgs[64];

	for (;;) {
		ssize_t n = read(p->uffd, msgs, sizeof(msgs));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		for (ssize_t i = 0; i < n / (ssize_t)sizeof(msgs[0]); i++)
			on_msg(tk, p, &msgs[i]);
	}
}

/* ---- the handler: arming new VMAs ---- */

static bool trackable(const struct tracker *tk, const char *perms, uint64_t ino, const char *path)
{
	if (perms[3] != 'p')
		return false; /* shared memory is saved whole */
	if (perms[0] != 'r' && perms[1] != 'w')
		return false; /* a PROT_NONE reservation: nothing to save, usually huge */
	if (!path[0] || !strcmp(path, "[heap]") || !strcmp(path, "[stack]") ||
	    !strncmp(path, "[anon:", 6))
		return ino == 0;
	/* a private file mapping: async mode only (fault mode cannot register
	 * it), and only writable ones (read-only text and data are the file's) */
	return tk->o.mode == TRACK_ASYNC && path[0] == '/' && ino != 0 && perms[1] == 'w';
}

static int register_range(struct tracker *tk, struct tproc *p, uint64_t s, uint64_t e,
			  bool file_backed, bool dirty)
{
	struct uffdio_register reg = {.range = {s, e - s}, .mode = UFFDIO_REGISTER_MODE_WP};
	struct uffdio_writeprotect wp = {.range = {s, e - s}, .mode = UFFDIO_WRITEPROTECT_MODE_WP};
	struct region nr;
	int ret;

	if (ioctl(p->uffd, UFFDIO_REGISTER, &reg) < 0)
		return -errno;
	/* dirty from the start (what it held before the protection is unknown),
	 * unless the target is stopped and it was just saved whole */
	ret = trk_region_init(&nr, tk->gran, s, e, dirty);
	if (ret)
		return ret;
	nr.file_backed = file_backed;
	if (ioctl(p->uffd, UFFDIO_WRITEPROTECT, &wp) < 0) {
		ret = -errno;
		trk_region_free(&nr);
		return ret;
	}
	ret = region_insert(p, &nr);
	if (ret)
		trk_region_free(&nr);
	return ret;
}

/* Register what p maps and the tracker does not cover yet: dirty, unless
 * the target is stopped and what is not covered was just saved whole. */
static void arm_proc(struct tracker *tk, struct tproc *p, bool dirty)
{
	char path[64], *maps = NULL, *line, *save = NULL;

	if (p->uffd < 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/maps", p->pid);
	if (read_file(path, &maps) < 0)
		return;
	for (line = strtok_r(maps, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long long s, e, off, ino;
		char perms[8], dev[16], name[512] = "";
		uint64_t pos;

		if (sscanf(line, "%llx-%llx %7s %llx %15s %llu %511[^\n]", &s, &e, perms, &off, dev,
			   &ino, name) < 6)
			continue;
		{
			char *q = name;

			while (*q == ' ')
				q++;
			memmove(name, q, strlen(q) + 1);
		}
		if (!trackable(tk, perms, ino, name) || e - s > MAX_REGION_BYTES)
			continue;
		/* the parts no region covers */
		pos = s;
		while (pos < e) {
			struct region *r = region_find(p, pos);
			uint64_t gap_end = e;

			if (r) {
				pos = r->end;
				continue;
			}
			for (size_t i = 0; i < p->nr; i++) {
				if (p->r[i].start > pos && p->r[i].start < gap_end)
					gap_end = p->r[i].start;
			}
			{
				int rr = register_range(tk, p, pos, gap_end, name[0] == '/', dirty);

				if (rr == 0)
					tk->st.regions++;
				pr_debug("pid %u: track 0x%" PRIx64 "-0x%" PRIx64 " %s: %s",
					 p->ns_pid, pos, gap_end, name, rr ? strerror(-rr) : "ok");
			}
			pos = gap_end;
		}
	}
	free(maps);
}

static uint64_t mono_ms(void)
{
	return now_ns(CLOCK_MONOTONIC) / 1000000;
}

static void *handler(void *arg)
{
	struct tracker *tk = arg;
	struct pollfd *pf = NULL;
	size_t pcap = 0;

	for (;;) {
		size_t n = 0;
		int timeout;

		pthread_mutex_lock(&tk->mu);
		if (tk->stop) {
			pthread_mutex_unlock(&tk->mu);
			break;
		}
		if (pcap < tk->np + 1) {
			struct pollfd *np = realloc(pf, (tk->np + 8) * sizeof(*pf));

			if (np) {
				pf = np;
				pcap = tk->np + 8;
			}
		}
		if (!pf) {
			pthread_mutex_unlock(&tk->mu);
			usleep(10000);
			continue;
		}
		pf[n++] = (struct pollfd){.fd = tk->wakefd, .events = POLLIN};
		for (size_t i = 0; i < tk->np && n < pcap; i++)
			if (tk->p[i].uffd >= 0)
				pf[n++] = (struct pollfd){.fd = tk->p[i].uffd, .events = POLLIN};
		pthread_mutex_unlock(&tk->mu);
		timeout = ARM_PERIOD_MS;
		if (poll(pf, n, timeout) < 0 && errno != EINTR)
			usleep(1000);
		pthread_mutex_lock(&tk->mu);
		if (pf[0].revents & POLLIN) {
			uint64_t v;

			if (read(tk->wakefd, &v, sizeof(v)) < 0) {
				/* nothing to take */
			}
		}
		for (size_t i = 1; i < n; i++) {
			if (!(pf[i].revents & (POLLIN | POLLERR | POLLHUP)))
				continue;
			for (size_t j = 0; j < tk->np; j++)
				if (tk->p[j].uffd == pf[i].fd)
					drain(tk, &tk->p[j]);
		}
		if (mono_ms() - tk->last_arm_ns >= ARM_PERIOD_MS) {
			for (size_t j = 0; j < tk->np; j++)
				arm_proc(tk, &tk->p[j], true);
			tk->last_arm_ns = mono_ms();
		}
		pthread_mutex_unlock(&tk->mu);
	}
	free(pf);
	return NULL;
}

static void wake(struct tracker *tk)
{
	uint64_t one = 1;

	if (write(tk->wakefd, &one, sizeof(one)) < 0) {
		/* it wakes up on its own within ARM_PERIOD_MS */
	}
}

/* ---- set up ---- */

static uint64_t wanted_features(const struct tracker *tk)
{
	uint64_t f =
	    UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP | UFFD_FEATURE_EVENT_REMAP;

	if (tk->o.mode == TRACK_ASYNC)
		f |= UFFD_FEATURE_WP_ASYNC;
	else
		f |= UFFD_FEATURE_WP_UNPOPULATED;
	return f;
}

int track_new(const struct track_opts *o, struct tracker **out)
{
	struct uffdio_api api = {.api = UFFD_API, .features = 0};
	struct tracker *tk;
	uint64_t missing;
	int fd, ret;

	*out = NULL;
	if (o->mode == TRACK_OFF)
		return 0;
	tk = calloc(1, sizeof(*tk));
	if (!tk)
		return -ENOMEM;
	tk->o = *o;
	tk->gran = o->mode == TRACK_ASYNC ? PG : o->gran;
	tk->wakefd = -1;
	/* what this kernel offers: ask a userfaultfd of our own */
	fd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		ret = pr_perror("%s tracking: this kernel gives no userfaultfd",
				track_mode_name(o->mode));
		free(tk);
		return ret;
	}
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		ret = pr_perror("%s tracking: UFFDIO_API", track_mode_name(o->mode));
		close(fd);
		free(tk);
		return ret;
	}
	close(fd);
	missing = wanted_features(tk) & ~(uint64_t)api.features;
	if (missing) {
		pr_err("%s tracking: this kernel's userfaultfd lacks%s%s%s%s%s",
		       track_mode_name(o->mode),
		       missing & UFFD_FEATURE_WP_ASYNC
			   ? " WP_ASYNC (Linux 6.7; fault tracking does without)"
			   : "",
		       missing & UFFD_FEATURE_WP_UNPOPULATED ? " WP_UNPOPULATED (Linux 6.4)" : "",
		       missing & UFFD_FEATURE_EVENT_REMOVE ? " EVENT_REMOVE" : "",
		       missing & UFFD_FEATURE_EVENT_UNMAP ? " EVENT_UNMAP" : "",
		       missing & UFFD_FEATURE_EVENT_REMAP ? " EVENT_REMAP" : "");
		free(tk);
		return -ENOTSUP;
	}
	tk->features = wanted_features(tk);
	pthread_mutex_init(&tk->mu, NULL);
	tk->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (tk->wakefd < 0) {
		ret = pr_perror("eventfd");
		track_free(tk);
		return ret;
	}
	ret = pthread_create(&tk->th, NULL, handler, tk);
	if (ret) {
		pr_err("cannot start the tracking thread: %s", strerror(ret));
		track_free(tk);
		return -ret;
	}
	tk->th_started = true;
	*out = tk;
	return 0;
}

void track_free(struct tracker *tk)
{
	if (!tk)
		return;
	if (tk->th_started) {
		pthread_mutex_lock(&tk->mu);
		tk->stop = true;
		pthread_mutex_unlock(&tk->mu);
		wake(tk);
		pthread_join(tk->th, NULL);
	}
	for (size_t i = 0; i < tk->np; i++)
		proc_drop(&tk->p[i]);
	free(tk->p);
	if (tk->wakefd >= 0)
		close(tk->wakefd);
	pthread_mutex_destroy(&tk->mu);
	free(tk);
}

const struct track_opts *track_get_opts(const struct tracker *tk)
{
	return &tk->o;
}

/* Make a userfaultfd inside the stopped process and take it. */
static int create_uffd(struct tracker *tk, struct inject *ij, pid_t pid, uint32_t ns_pid, int *out)
{
	struct uffdio_api api = {.api = UFFD_API};
	long tfd = -1;
	int pidfd, fd = -1, ret;

	ret = inject_syscall(ij, &tfd, __NR_userfaultfd, O_CLOEXEC | O_NONBLOCK, 0, 0, 0, 0, 0);
	if (ret)
		return ret;
	if (tfd < 0) {
		pr_err("pid %u: userfaultfd() in the target failed: %s", ns_pid,
		       strerror((int)-tfd));
		return (int)tfd;
	}
	pidfd = (int)syscall(__NR_pidfd_open, pid, 0);
	if (pidfd >= 0) {
		fd = (int)syscall(__NR_pidfd_getfd, pidfd, (int)tfd, 0);
		if (fd < 0)
			ret = pr_perror("pid %u: take its userfaultfd", ns_pid);
		close(pidfd);
	} else {
		ret = pr_perror("pidfd_open %d", pid);
	}
	{
		long r2 = 0;

		inject_syscall(ij, &r2, __NR_close, (uint64_t)tfd, 0, 0, 0, 0, 0);
	}
	if (fd < 0)
		return ret ? ret : -EBADF;
	api.features = tk->features;
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		ret = pr_perror("pid %u: userfaultfd features 0x%" PRIx64, ns_pid, tk->features);
		close(fd);
		return ret;
	}
	*out = fd;
	return 0;
}

/* tk->mu held */
static int arm_locked(struct tracker *tk, struct inject *ij, pid_t pid, uint32_t ns_pid)
{
	unsigned long long st = proc_starttime(pid);
	struct tproc *p = proc_find(tk, pid);
	struct inject own;
	bool own_ij = false;
	char path[64];
	int fd = -1, ret;

	if (p && p->starttime == st && p->uffd >= 0)
		return 0;
	if (!ij) {
		uint64_t ip;

		ret = find_syscall_ip(pid, &ip);
		if (ret)
			return ret;
		ret = inject_begin(&own, pid, ip);
		if (ret)
			return ret;
		ij = &own;
		own_ij = true;
	}
	ret = create_uffd(tk, ij, pid, ns_pid, &fd);
	if (own_ij) {
		int r2 = inject_end(&own);

		if (!ret)
			ret = r2;
	}
	if (ret) {
		if (fd >= 0)
			close(fd);
		return ret;
	}
	if (p) {
		proc_drop(p); /* an mm it no longer has */
	} else {
		struct tproc *np = realloc(tk->p, (tk->np + 1) * sizeof(*np));

		if (!np) {
			close(fd);
			return -ENOMEM;
		}
		tk->p = np;
		p = &tk->p[tk->np++];
		memset(p, 0, sizeof(*p));
	}
	p->pid = pid;
	p->ns_pid = ns_pid;
	p->starttime = st;
	p->uffd = fd;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	p->pmfd = open(path, O_RDONLY | O_CLOEXEC);
	p->seen = true;
	wake(tk); /* register its VMAs soon */
	return 0;
}

int track_arm_process(struct tracker *tk, struct inject *ij, pid_t pid, uint32_t ns_pid)
{
	int ret;

	if (!tk)
		return 0;
	pthread_mutex_lock(&tk->mu);
	ret = arm_locked(tk, ij, pid, ns_pid);
	pthread_mutex_unlock(&tk->mu);
	return ret;
}

/* ---- capture ---- */

/*
 * While the target is paused for a capture, the tracker's lock is the
 * capture's, so a fault cannot be handled. A stopped thread writes nothing
 * itself, but the kernel writes the thread's rseq area when it returns
 * from a system call rtcr injects: if that page were protected, the
 * thread would wait for the handler, and the capture for the thread. So
 * the chunks of every thread's rseq area are left unprotected (and
 * dirty: saved by every checkpoint) for the capture.
 */
static void unprotect_rseq(struct tracker *tk, struct tproc *p)
{
	char path[64];
	int *tids = NULL, n = 0;

	if (tk->o.mode != TRACK_FAULT || p->uffd < 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/task", p->pid);
	if (dir_numbers(path, &tids, &n))
		return; /* gone: nothing of it will run */
	for (int i = 0; i < n; i++) {
		struct __ptrace_rseq_configuration rc;
		struct region *r;
		uint64_t a, s, e;
		size_t k;

		memset(&rc, 0, sizeof(rc));
		if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, tids[i], sizeof(rc), &rc) < 0 ||
		    !rc.rseq_abi_pointer)
			continue;
		/* the area may cross a page: both ends */
		for (a = rc.rseq_abi_pointer & ~(PG - 1);
		     a < rc.rseq_abi_pointer + (rc.rseq_abi_size ? rc.rseq_abi_size : 32);
		     a += PG) {
			r = region_find(p, a);
			if (!r)
				continue;
			k = trk_chunk_index(tk->gran, r, a);
			trk_bit_set(r->dirty, k);
			if (trk_bit_get(r->unprot, k))
				continue;
			trk_bit_set(r->unprot, k);
			trk_chunk_range(tk->gran, r, k, &s, &e);
			unprotect(tk, p, s, e);
		}
	}
	free(tids);
}

void track_capture_begin(struct tracker *tk)
{
	pthread_mutex_lock(&tk->mu);
	for (size_t i = 0; i < tk->np; i++) {
		tk->p[i].seen = false;
		if (tk->p[i].uffd >= 0) {
			drain(tk, &tk->p[i]);
			unprotect_rseq(tk, &tk->p[i]);
		}
	}
}

int track_capture_proc(struct tracker *tk, struct inject *ij, pid_t pid, uint32_t ns_pid)
{
	struct tproc *p = proc_find(tk, pid);
	int ret;

	if (p && p->starttime == proc_starttime(pid) && p->uffd >= 0) {
		p->seen = true;
		return 0;
	}
	/* new since the last checkpoint (or after an exec): saved in full this
	 * time, tracked from now on */
	ret = arm_locked(tk, ij, pid, ns_pid);
	p = ret ? NULL : proc_find(tk, pid);
	if (p)
		unprotect_rseq(tk, p);
	return ret;
}

struct written_arg {
	void (*fn)(void *arg, uint64_t s, uint64_t e);
	void *arg;
};

static int each_written(void *arg, const struct page_region *regs, long n)
{
	const struct written_arg *w = arg;

	for (long i = 0; i < n; i++)
		w->fn(w->arg, regs[i].start, regs[i].end);
	return 0;
}

/*
 * The pages written in [s, e) of p (async mode), region by region of the
 * result: with protect, they are protected again in the same walk
 * (PM_SCAN_WP_MATCHING), atomically. fn gets each written range.
 */
static int scan_written(struct tproc *p, uint64_t s, uint64_t e, bool protect,
			void (*fn)(void *arg, uint64_t s, uint64_t e), void *arg)
{
	struct page_region regs[256];
	struct written_arg w = {fn, arg};
	struct mem_scan sc = {
	    .pmfd = p->pmfd,
	    .flags = protect ? PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC : 0,
	    .category_mask = PAGE_IS_WRITTEN,
	    .return_mask = PAGE_IS_WRITTEN,
	    .regs = regs,
	    .nregs = 256,
	};
	int ret = mem_scan_walk(&sc, s, e, each_written, &w);

	if (ret && !protect)
		return ret; /* an estimate: not worth a message */
	if (ret)
		pr_err("pid %u: PAGEMAP_SCAN of 0x%" PRIx64 "-0x%" PRIx64 ": %s", p->ns_pid, sc.pos,
		       e, strerror(-ret));
	return ret;
}

struct mark_arg {
	struct tracker *tk;
	struct region *r;
};

static void mark_written(void *arg, uint64_t s, uint64_t e)
{
	struct mark_arg *m = arg;
	size_t ca, cb;

	trk_chunk_span(m->tk->gran, m->r, s, e, &ca, &cb);
	for (size_t k = ca; k < cb; k++)
		trk_bit_set(m->r->dirty, k);
}

/* async mode: collect the pages written in [s, e) of r and protect them again */
static int collect_async(struct tracker *tk, struct tproc *p, struct region *r, uint64_t s,
			 uint64_t e)
{
	struct mark_arg m = {tk, r};

	return scan_written(p, s, e, true, mark_written, &m);
}

int track_pieces(struct tracker *tk, pid_t pid, uint64_t start, uint64_t end, track_piece_fn fn,
		 void *arg)
{
	struct tproc *p = proc_find(tk, pid);
	uint64_t pos = start;
	int ret;

	while (pos < end) {
		struct region *r = p ? region_find(p, pos) : NULL;
		uint64_t stop;

		if (!r) {
			/* untracked up to the next region */
			stop = end;
			for (size_t i = 0; p && i < p->nr; i++)
				if (p->r[i].start > pos && p->r[i].start < stop)
					stop = p->r[i].start;
			ret = fn(arg, pos, stop, TRK_UNTRACKED, false);
			if (ret)
				return ret;
			pos = stop;
			continue;
		}
		stop = r->end < end ? r->end : end;
		if (tk->o.mode == TRACK_ASYNC) {
			ret = collect_async(tk, p, r, pos, stop);
			if (ret)
				return ret;
		}
		/* runs of chunks in the same state */
		while (pos < stop) {
			bool d;
			uint64_t run_end = trk_dirty_run(tk->gran, r, pos, stop, &d);

			ret = fn(arg, pos, run_end, d ? TRK_DIRTY : TRK_CLEAN, r->file_backed);
			if (ret)
				return ret;
			pos = run_end;
		}
	}
	return 0;
}

int track_defer(struct tracker *tk, pid_t pid, uint64_t start, uint64_t end)
{
	struct tproc *p = proc_find(tk, pid);

	if (!p)
		return -ENOENT;
	for (size_t i = 0; i < p->nr; i++) {
		struct region *r = &p->r[i];
		size_t a, b;

		if (r->end <= start || r->start >= end)
			continue;
		trk_chunk_span(tk->gran, r, start, end, &a, &b);
		for (size_t k = a; k < b; k++)
			trk_bit_set(r->pending, k);
	}
	return 0;
}

/* fault mode: protect again every chunk whose protection was lifted */
static int reprotect(struct tracker *tk, struct tproc *p)
{
	for (size_t i = 0; i < p->nr; i++) {
		struct region *r = &p->r[i];

		for (size_t k = 0; k < r->nchunks;) {
			uint64_t s, e, s2, e2;
			size_t j;

			if (!trk_bit_get(r->unprot, k)) {
				k++;
				continue;
			}
			j = trk_bits_run_last(r->unprot, k, r->nchunks);
			trk_chunk_range(tk->gran, r, k, &s, &e2);
			trk_chunk_range(tk->gran, r, j, &s2, &e);
			{
				struct uffdio_writeprotect wp = {
				    .range = {s, e - s}, .mode = UFFDIO_WRITEPROTECT_MODE_WP};

				if (ioctl(p->uffd, UFFDIO_WRITEPROTECT, &wp) < 0) {
					int ret = -errno;

					pr_err("pid %u: write-protect 0x%" PRIx64 "-0x%" PRIx64
					       " again: %s",
					       p->ns_pid, s, e, strerror(errno));
					return ret;
				}
			}
			for (size_t x = k; x <= j; x++)
				trk_bit_clr(r->unprot, x);
			k = j + 1;
		}
	}
	return 0;
}

int track_capture_end(struct tracker *tk, bool ok, struct capture *live_cap)
{
	int ret = 0;

	if (ok) {
		for (size_t i = 0; i < tk->np && !ret; i++) {
			struct tproc *p = &tk->p[i];

			if (!p->seen)
				continue;
			if (tk->o.mode == TRACK_FAULT)
				ret = reprotect(tk, p);
			/* what appeared since the handler last looked was saved whole
			 * just now: tracked from here, clean (the target is stopped) */
			if (!ret && p->uffd >= 0)
				arm_proc(tk, p, false);
			for (size_t j = 0; j < p->nr; j++) {
				trk_bits_clear(p->r[j].dirty, p->r[j].nchunks);
				if (tk->o.mode == TRACK_ASYNC)
					trk_bits_clear(p->r[j].unprot, p->r[j].nchunks);
			}
		}
		/* processes gone since */
		for (size_t i = 0; i < tk->np;) {
			if (!tk->p[i].seen)
				proc_remove(tk, &tk->p[i]);
			else
				i++;
		}
		if (ret)
			set_broken_locked(tk, "write protection could not be restored");
	}
	if (!ok || !live_cap) {
		/* nothing deferred stays pending */
		for (size_t i = 0; i < tk->np; i++)
			for (size_t j = 0; j < tk->p[i].nr; j++)
				trk_bits_clear(tk->p[i].r[j].pending, tk->p[i].r[j].nchunks);
	}
	tk->live_cap = ok ? live_cap : NULL;
	tk->live_err = 0;
	tk->live_msg[0] = '\0';
	pthread_mutex_unlock(&tk->mu);
	return ret;
}

int track_live_copy(struct tracker *tk)
{
	int ret;

	for (size_t i = 0;; i++) {
		bool more = false;

		pthread_mutex_lock(&tk->mu);
		if (i >= tk->np || tk->live_err) {
			pthread_mutex_unlock(&tk->mu);
			break;
		}
		/* a few chunks at a time, so that faults are served in between */
		{
			struct tproc *p = &tk->p[i];
			uint64_t budget = 2ULL << 20;

			/* (no `budget` here: a region whose last chunk used the budget up
			 * must not end the process with later regions still pending) */
			for (size_t j = 0; j < p->nr && !tk->live_err; j++) {
				struct region *r = &p->r[j];

				for (size_t k = 0; k < r->nchunks && !tk->live_err; k++) {
					if (!trk_bit_get(r->pending, k))
						continue;
					if (!budget) {
						more = true;
						break;
					}
					live_copy_chunk(tk, p, r, k);
					budget = budget > tk->gran ? budget - tk->gran : 0;
				}
				if (more)
					break;
			}
		}
		pthread_mutex_unlock(&tk->mu);
		if (more)
			i--; /* the same process again */
	}
	pthread_mutex_lock(&tk->mu);
	/* nothing deferred may be left: a chunk not copied would be missing */
	for (size_t i = 0; i < tk->np && !tk->live_err; i++)
		for (size_t j = 0; j < tk->p[i].nr && !tk->live_err; j++)
			for (size_t k = 0; k < tk->p[i].r[j].nchunks; k++)
				if (trk_bit_get(tk->p[i].r[j].pending, k)) {
					tk->live_err = -EIO;
					snprintf(tk->live_msg, sizeof(tk->live_msg),
						 "pid %u: a chunk at 0x%" PRIx64 " was not copied",
						 tk->p[i].ns_pid,
						 (tk->p[i].r[j].c0 + k) * tk->gran);
					break;
				}
	ret = tk->live_err;
	if (ret)
		pr_err("live checkpoint: %s: the image would not be the memory of one instant; "
		       "try again, or checkpoint without the live copy",
		       tk->live_msg);
	tk->live_cap = NULL;
	for (size_t i = 0; i < tk->np; i++)
		for (size_t j = 0; j < tk->p[i].nr; j++)
			trk_bits_clear(tk->p[i].r[j].pending, tk->p[i].r[j].nchunks);
	tk->live_err = 0;
	pthread_mutex_unlock(&tk->mu);
	return ret;
}

void track_live_cancel(struct tracker *tk)
{
	pthread_mutex_lock(&tk->mu);
	tk->live_cap = NULL;
	for (size_t i = 0; i < tk->np; i++)
		for (size_t j = 0; j < tk->p[i].nr; j++)
			trk_bits_clear(tk->p[i].r[j].pending, tk->p[i].r[j].nchunks);
	tk->live_err = 0;
	/* what the capture held is lost: the next checkpoint saves everything */
	set_broken_locked(tk, "the last live checkpoint was not written");
	pthread_mutex_unlock(&tk->mu);
}

/* ---- pre-copy ---- */

void track_sync(struct tracker *tk)
{
	pthread_mutex_lock(&tk->mu);
	for (size_t i = 0; i < tk->np; i++) {
		if (tk->p[i].uffd >= 0)
			drain(tk, &tk->p[i]);
		arm_proc(tk, &tk->p[i], true);
	}
	tk->last_arm_ns = mono_ms();
	pthread_mutex_unlock(&tk->mu);
}

static int push_chunk(struct track_chunk **v, size_t *n, size_t *cap, const struct tproc *p,
		      uint64_t s, uint64_t e, bool fb)
{
	if (*n && (*v)[*n - 1].pid == p->pid && (*v)[*n - 1].end == s &&
	    (*v)[*n - 1].file_backed == fb) {
		(*v)[*n - 1].end = e;
		return 0;
	}
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 1024;
		struct track_chunk *nv = realloc(*v, nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = nc;
	}
	(*v)[(*n)++] = (struct track_chunk){p->pid, p->ns_pid, s, e, fb};
	return 0;
}

int track_take_dirty(struct tracker *tk, struct track_chunk **out, size_t *n, uint64_t *bytes)
{
	struct track_chunk *v = NULL;
	size_t nv = 0, cap = 0;
	uint64_t total = 0;
	int ret = 0;

	pthread_mutex_lock(&tk->mu);
	for (size_t i = 0; i < tk->np && !ret; i++) {
		struct tproc *p = &tk->p[i];

		if (p->uffd >= 0)
			drain(tk, p);
		for (size_t j = 0; j < p->nr && !ret; j++) {
			struct region *r = &p->r[j];

			if (tk->o.mode == TRACK_ASYNC)
				ret = collect_async(tk, p, r, r->start, r->end);
			for (size_t k = 0; k < r->nchunks && !ret; k++) {
				uint64_t cs, ce;

				if (!trk_bit_get(r->dirty, k))
					continue;
				trk_chunk_range(tk->gran, r, k, &cs, &ce);
				ret = push_chunk(&v, &nv, &cap, p, cs, ce, r->file_backed);
				total += ce - cs;
				trk_bit_clr(r->dirty, k);
			}
		}
		/* protected again before anything is read */
		if (!ret && tk->o.mode == TRACK_FAULT)
			ret = reprotect(tk, p);
	}
	if (ret)
		set_broken_locked(tk, "a pre-copy round failed");
	pthread_mutex_unlock(&tk->mu);
	if (ret) {
		free(v);
		return ret;
	}
	*out = v;
	*n = nv;
	*bytes = total;
	return 0;
}

static void add_bytes(void *arg, uint64_t s, uint64_t e)
{
	*(uint64_t *)arg += e - s;
}

uint64_t track_dirty_bytes(struct tracker *tk)
{
	uint64_t total = 0;

	pthread_mutex_lock(&tk->mu);
	for (size_t i = 0; i < tk->np; i++) {
		struct tproc *p = &tk->p[i];

		for (size_t j = 0; j < p->nr; j++) {
			struct region *r = &p->r[j];

			/* async: the pages written since, without taking them (a failed
			 * scan only makes the estimate smaller) */
			if (tk->o.mode == TRACK_ASYNC)
				scan_written(p, r->start, r->end, false, add_bytes, &total);
			total += trk_dirty_bytes(tk->gran, r);
		}
	}
	pthread_mutex_unlock(&tk->mu);
	return total;
}

/* ---- the image chain ---- */

static void set_broken_locked(struct tracker *tk, const char *why)
{
	snprintf(tk->broken, sizeof(tk->broken), "%s", why);
	tk->last.valid = false;
}

void track_set_broken(struct tracker *tk, const char *why)
{
	pthread_mutex_lock(&tk->mu);
	set_broken_locked(tk, why);
	pthread_mutex_unlock(&tk->mu);
}

void track_get_last(struct tracker *tk, struct track_last *out, char *why, size_t whylen)
{
	pthread_mutex_lock(&tk->mu);
	*out = tk->last;
	if (why)
		snprintf(why, whylen, "%s",
			 tk->broken[0] ? tk->broken
				       : "no checkpoint of this target was written yet");
	pthread_mutex_unlock(&tk->mu);
}

void track_set_last(struct tracker *tk, const struct track_last *l)
{
	pthread_mutex_lock(&tk->mu);
	tk->last = *l;
	tk->broken[0] = '\0';
	pthread_mutex_unlock(&tk->mu);
}

void track_get_stats(struct tracker *tk, struct track_stats *st)
{
	pthread_mutex_lock(&tk->mu);
	*st = tk->st;
	st->tracked_bytes = 0;
	for (size_t i = 0; i < tk->np; i++)
		for (size_t j = 0; j < tk->p[i].nr; j++)
			st->tracked_bytes += tk->p[i].r[j].end - tk->p[i].r[j].start;
	pthread_mutex_unlock(&tk->mu);
}
