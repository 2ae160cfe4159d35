/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The source side of a migration (see mig.h): run by a worker thread of the
 * target's parent; the pause and the end of the target go through hooks to
 * the parent's tracer thread.
 */
#define LOG_PREFIX "migrate: "
#include "migrate/mig.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "core/compat.h"
#include "mem/mem.h"
#include "base/le.h"
#include "base/log.h"
#include "base/str.h"
#include "core/proc.h"
#include "ckpt/ckpt.h"
#include "image/image.h"
#include "track/track.h"

#define PG	 4096ULL
#define MSG_DATA (4ULL << 20) /* page bytes per PAGES / FINAL_PAGES message */

static void set_phase(struct mig_progress *pg, enum mig_phase ph)
{
	pthread_mutex_lock(&pg->mu);
	pg->phase = ph;
	pthread_mutex_unlock(&pg->mu);
}

/* ---- the files the destination must have ---- */

struct strset {
	char **v;
	size_t n, cap;
};

static bool strset_add(struct strset *s, const char *p)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i], p))
			return false;
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 64;
		char **nv = realloc(s->v, nc * sizeof(*nv));

		if (!nv)
			return false;
		s->v = nv;
		s->cap = nc;
	}
	s->v[s->n] = strdup(p);
	if (!s->v[s->n])
		return false;
	s->n++;
	return true;
}

static void add_file(FILE *m, struct strset *seen, const char *path)
{
	struct stat st;

	if (path[0] != '/' || strstr(path, " (deleted)") || !strncmp(path, "/memfd:", 7) ||
	    !strncmp(path, "/dev/", 5) || !strncmp(path, "/proc/", 6))
		return;
	if (stat(path, &st) || !S_ISREG(st.st_mode) || !strset_add(seen, path))
		return;
	fprintf(m, "%s\t%lld\t%lld\n", path, (long long)st.st_size,
		(long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec);
}

static void files_of(pid_t pid, FILE *m, struct strset *seen)
{
	char path[96], *maps = NULL, *line, *save = NULL, link[PATH_MAX];
	DIR *d;
	struct dirent *e;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	if (read_file(path, &maps) >= 0) {
		for (line = strtok_r(maps, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			char *p = strchr(line, '/');

			if (p)
				add_file(m, seen, p);
		}
		free(maps);
	}
	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	while (d && (e = readdir(d))) {
		char fp[384];
		ssize_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(fp, sizeof(fp), "/proc/%d/fd/%s", pid, e->d_name);
		n = readlink(fp, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		add_file(m, seen, link);
	}
	if (d)
		closedir(d);
}

int mig_file_list(struct target *t, char **out, size_t *len)
{
	struct strset seen = {0};
	pid_t *pids = NULL;
	int n = 0, ret;
	FILE *m = open_memstream(out, len);

	if (!m)
		return -ENOMEM;
	ret = ckpt_list_processes(t, &pids, &n);
	for (int i = 0; !ret && i < n; i++)
		files_of(pids[i], m, &seen);
	free(pids);
	for (size_t i = 0; i < seen.n; i++)
		free(seen.v[i]);
	free(seen.v);
	if (fclose(m) && !ret)
		ret = -ENOMEM;
	return ret;
}

/* ---- messages ---- */

static int expect(struct stream *s, uint32_t want, const void **buf, size_t *len, const char *what)
{
	uint32_t type;
	int ret = stream_recv(s, &type, buf, len);

	if (ret)
		return ret;
	if (type == MIG_ERROR || type == MIG_ABORT) {
		char text[4001]; /* the peer's words: no control characters reach a terminal */

		pr_err("%s refused %s: %s", stream_peer(s), what,
		       str_printable(text, sizeof(text), (const char *)*buf, *len));
		return -ECONNABORTED;
	}
	if (type != want) {
		pr_err("%s answered %s with message %u (expected %u)", stream_peer(s), what, type,
		       want);
		return -EPROTO;
	}
	return 0;
}

/* ---- pre-copy rounds ---- */

struct sender {
	struct stream *s;
	bool async; /* dirty chunks are written pages: no need to look for present ones */
	struct mig_progress *pg;
	int pmfd;
	pid_t pmpid;
	struct page_region regs[512];
	/* the message being built */
	uint32_t pid;
	uint8_t *ranges, *runs, *data;
	size_t nranges, nruns, ndata;
};

static int open_pagemap(struct sender *sd, pid_t pid)
{
	char path[64];

	if (sd->pmpid == pid && sd->pmfd >= 0)
		return 0;
	if (sd->pmfd >= 0)
		close(sd->pmfd);
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	sd->pmfd = open(path, O_RDONLY | O_CLOEXEC);
	sd->pmpid = pid;
	if (sd->pmfd < 0)
		return pr_perror("open %s", path);
	return 0;
}

static int flush(struct sender *sd)
{
	uint8_t hdr[MIG_PAGES_HDR];
	struct iovec iov[4];
	int ret;

	if (!sd->nranges)
		return 0;
	le_put32(hdr, sd->pid);
	le_put32(hdr + 4, (uint32_t)sd->nranges);
	le_put32(hdr + 8, (uint32_t)sd->nruns);
	le_put32(hdr + 12, 0);
	iov[0] = (struct iovec){hdr, sizeof(hdr)};
	iov[1] = (struct iovec){sd->ranges, sd->nranges * MIG_RANGE_SIZE};
	iov[2] = (struct iovec){sd->runs, sd->nruns * MIG_RUN_SIZE};
	iov[3] = (struct iovec){sd->data, sd->ndata};
	ret = stream_sendv(sd->s, MIG_PAGES, iov, 4);
	if (!ret) {
		pthread_mutex_lock(&sd->pg->mu);
		sd->pg->round_bytes += sd->ndata;
		sd->pg->bytes_sent = stream_bytes_sent(sd->s);
		pthread_mutex_unlock(&sd->pg->mu);
	}
	sd->nranges = sd->nruns = sd->ndata = 0;
	return ret;
}

static void add_run(struct sender *sd, uint64_t a, uint64_t len)
{
	uint8_t *r = sd->runs + sd->nruns * MIG_RUN_SIZE;

	le_put64(r, a);
	le_put32(r + 8, (uint32_t)(len / PG));
	le_put32(r + 12, 0);
	sd->nruns++;
}

struct present_arg {
	struct sender *sd;
	bool file_backed;
};

static int add_present(void *arg, const struct page_region *regs, long n)
{
	struct present_arg *pa = arg;

	for (long i = 0; i < n; i++) {
		uint64_t cat = regs[i].categories;

		if (cat & PAGE_IS_PFNZERO)
			continue;
		if (pa->file_backed && (cat & PAGE_IS_FILE) && !(cat & PAGE_IS_SWAPPED))
			continue;
		add_run(pa->sd, regs[i].start, regs[i].end - regs[i].start);
	}
	return 0;
}

/* The runs of the present pages of [s, e) of a process. -ESRCH (gone)
 * is not logged. */
static int scan_present(struct sender *sd, const struct track_chunk *ch, uint64_t s, uint64_t e)
{
	struct present_arg pa = {sd, ch->file_backed};
	struct mem_scan sc = {
	    .pmfd = sd->pmfd,
	    .category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
	    .return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_FILE | PAGE_IS_PFNZERO,
	    .regs = sd->regs,
	    .nregs = 512,
	};
	int ret = mem_scan_walk(&sc, s, e, add_present, &pa);

	if (ret && ret != -ESRCH)
		pr_err("pid %u: scan 0x%" PRIx64 "-0x%" PRIx64 ": %s", ch->ns_pid, sc.pos, e,
		       strerror(-ret));
	return ret;
}

/* Read the bytes of runs nruns0.. of the message. An unmapped or gone
 * range leaves them out of the message (*left_out). */
static int read_runs(struct sender *sd, const struct track_chunk *ch, size_t nruns0, size_t ndata0,
		     bool *left_out)
{
	struct iovec liov[512], riov[512];
	int cnt = 0;

	for (size_t i = nruns0; i < sd->nruns; i++) {
		const uint8_t *r = sd->runs + i * MIG_RUN_SIZE;
		uint64_t addr = le_get64(r), len = (uint64_t)le_get32(r + 8) * PG;

		liov[cnt] = (struct iovec){sd->data + sd->ndata, len};
		riov[cnt] = (struct iovec){(void *)(uintptr_t)addr, len};
		sd->ndata += len;
		cnt++;
		if (cnt == 512 || i + 1 == sd->nruns) {
			size_t want = 0;
			ssize_t got;

			for (int k = 0; k < cnt; k++)
				want += liov[k].iov_len;
			got = process_vm_readv(ch->pid, liov, (unsigned long)cnt, riov,
					       (unsigned long)cnt, 0);
			if (got != (ssize_t)want) {
				/* unmapped meanwhile (an event marked it) or gone: the
				 * final capture has what is there; leave it out */
				sd->nruns = nruns0;
				sd->ndata = ndata0;
				*left_out = true;
				if (got < 0 && errno != EFAULT && errno != ESRCH)
					return pr_perror("pid %u: read 0x%" PRIx64, ch->ns_pid,
							 addr);
				return 0;
			}
			cnt = 0;
		}
	}
	return 0;
}

/* Add [s, e) of a process (e - s <= MSG_DATA) to the message: its present
 * pages, read now. */
static int add_range(struct sender *sd, const struct track_chunk *ch, uint64_t s, uint64_t e)
{
	size_t nruns0, ndata0 = sd->ndata;
	bool left_out = false;
	int ret;

	if (sd->nranges && (sd->pid != ch->ns_pid || sd->nranges == MIG_MAX_RANGES ||
			    sd->ndata + (e - s) > MSG_DATA)) {
		ret = flush(sd);
		if (ret)
			return ret;
		ndata0 = 0;
	}
	sd->pid = ch->ns_pid;
	nruns0 = sd->nruns;
	if (sd->async) {
		add_run(sd, s, e - s);
	} else {
		ret = scan_present(sd, ch, s, e);
		if (ret) {
			sd->nruns = nruns0;
			return ret == -ESRCH ? 0 : ret; /* gone: the final capture knows */
		}
	}
	ret = read_runs(sd, ch, nruns0, ndata0, &left_out);
	if (ret || left_out)
		return ret;
	le_put64(sd->ranges + sd->nranges * MIG_RANGE_SIZE, s);
	le_put64(sd->ranges + sd->nranges * MIG_RANGE_SIZE + 8, e);
	sd->nranges++;
	return 0;
}

static int send_chunks(struct sender *sd, const struct track_chunk *v, size_t n)
{
	int ret = 0;

	for (size_t i = 0; i < n && !ret; i++) {
		ret = open_pagemap(sd, v[i].pid);
		if (ret)
			break;
		for (uint64_t s = v[i].start; s < v[i].end && !ret; s += MSG_DATA) {
			uint64_t e = s + MSG_DATA < v[i].end ? s + MSG_DATA : v[i].end;

			ret = add_range(sd, &v[i], s, e);
		}
	}
	if (!ret)
		ret = flush(sd);
	return ret;
}

static int precopy(const struct mig_opts *o, struct sender *sd, struct tracker *tk,
		   struct mig_progress *pg, struct mig_result *res, bool *converged)
{
	uint64_t prev_dirty = UINT64_MAX;
	unsigned stalled = 0;
	uint64_t rate = 0;
	int ret;

	track_sync(tk);
	for (unsigned round = 0;; round++) {
		struct track_chunk *v = NULL;
		size_t n = 0;
		uint64_t bytes = 0, t0 = now_ns(CLOCK_MONOTONIC), w0 = stream_bytes_sent(sd->s), dt,
			 dirty, predicted;
		uint8_t r4[4];

		pthread_mutex_lock(&pg->mu);
		pg->round = round;
		pg->round_bytes = 0;
		pthread_mutex_unlock(&pg->mu);
		ret = track_take_dirty(tk, &v, &n, &bytes);
		if (ret)
			return ret;
		ret = send_chunks(sd, v, n);
		free(v);
		if (ret)
			return ret;
		le_put32(r4, round);
		ret = stream_send(sd->s, MIG_ROUND_END, r4, 4);
		if (ret)
			return ret;
		dt = now_ns(CLOCK_MONOTONIC) - t0;
		if (dt < 1000000)
			dt = 1000000;
		/* the link rate: bytes on the wire over the round's time (the
		 * first, big round measures it best; later ones refine it) */
		{
			uint64_t wire = stream_bytes_sent(sd->s) - w0;
			uint64_t r = wire * 1000000000ULL / dt;

			if (wire >= (1u << 20) || !rate)
				rate = rate ? (rate + r) / 2 : r;
		}
		if (rate < (1u << 20))
			rate = 1u << 20;
		dirty = track_dirty_bytes(tk);
		predicted = dirty * 1000000000ULL / rate;
		res->rounds = round + 1;
		res->predicted_downtime_ns = predicted;
		pthread_mutex_lock(&pg->mu);
		pg->rate_bps = rate;
		pg->dirty_bytes = dirty;
		pg->dirty_rate_bps = dirty * 1000000000ULL / dt;
		pthread_mutex_unlock(&pg->mu);
		pr_info("round %u: %" PRIu64 " KiB in %.1f ms, %" PRIu64
			" KiB dirty since, predicted downtime %.1f ms",
			round, bytes >> 10, dt / 1e6, dirty >> 10, predicted / 1e6);
		if (predicted <= (uint64_t)o->max_downtime_ms * 1000000ULL) {
			*converged = true;
			return 0;
		}
		/* not getting smaller (by a tenth) twice in a row: it will not */
		stalled =
		    prev_dirty != UINT64_MAX && dirty * 10 >= prev_dirty * 9 ? stalled + 1 : 0;
		if (dirty < prev_dirty)
			prev_dirty = dirty;
		if (round + 1 >= o->max_rounds || stalled >= 2) {
			*converged = false;
			if (o->abort_on_no_converge) {
				pr_err("pre-copy does not converge: after %u rounds %" PRIu64
				       " KiB are dirty again each round (%" PRIu64
				       " KiB/s written, link %" PRIu64
				       " KiB/s), a pause of %.0f ms, more than the maximum "
				       "downtime of "
				       "%u ms; the target runs on here (stopping it when pre-copy "
				       "does "
				       "not converge would migrate anyway)",
				       round + 1, dirty >> 10,
				       (uint64_t)(dirty * 1000000000ULL / dt) >> 10, rate >> 10,
				       predicted / 1e6, o->max_downtime_ms);
				return -ETIME;
			}
			pr_warn("pre-copy does not converge after %u rounds (%" PRIu64
				" KiB dirty per round); stopping anyway (predicted pause %.0f ms)",
				round + 1, dirty >> 10, predicted / 1e6);
			return 0;
		}
	}
}

/* ---- the final step ---- */

static int send_final(struct sender *sd, const struct img_blob *b)
{
	uint8_t e8[8];
	size_t i = 0;
	int ret;

	le_put64(e8, b->pages_size);
	ret = stream_send(sd->s, MIG_FINAL_SIZE, e8, 8);
	if (!ret)
		ret = stream_send(sd->s, MIG_FINAL_META, b->meta, b->meta_len);
	if (ret)
		return ret;
	while (i < b->nblocks) {
		/* adjacent blocks (back to back in pages.img) in one message */
		struct iovec iov[65];
		uint8_t off8[8];
		size_t cnt = 0, bytes = 0;

		le_put64(off8, 0);
		iov[cnt++] = (struct iovec){off8, 8};
		for (; i < b->nblocks && cnt < 65; i++) {
			size_t len = b->lens[i];

			if (cnt > 1 && (bytes + len > MSG_DATA ||
					b->offs[i] != b->offs[i - 1] + b->lens[i - 1]))
				break;
			if (cnt == 1)
				le_put64(off8, b->offs[i]);
			iov[cnt++] = (struct iovec){(void *)b->blocks[i], len};
			bytes += len;
		}
		ret = stream_sendv(sd->s, MIG_FINAL_PAGES, iov, (int)cnt);
		if (ret)
			return ret;
	}
	le_put64(e8, b->pages_size);
	return stream_send(sd->s, MIG_FINAL_END, e8, 8);
}

static void random_hex(char *out, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t r[32];

	randombytes_buf(r, sizeof(r));
	for (size_t i = 0; i + 1 < n && i < 64; i++)
		out[i] = hex[(r[i / 2] >> (i % 2 ? 0 : 4)) & 15];
	out[n - 1] = '\0';
}

/* HELLO: who we are (name, mode, session) and the files the target needs
 * at the destination; the destination answers when it has them. */
static int send_hello(struct sender *sd, struct target *t, const char *mode, const char *session)
{
	char *files = NULL, *hello = NULL;
	size_t flen = 0, hlen = 0, len;
	const void *buf;
	FILE *m;
	int ret;

	ret = mig_file_list(t, &files, &flen);
	if (ret)
		goto out;
	m = open_memstream(&hello, &hlen);
	if (!m) {
		ret = -ENOMEM;
		goto out;
	}
	fprintf(m, "rtcr-migrate %d\nname %s\nmode %s\nsession %s\nfiles\n%s", MIG_VERSION, t->name,
		mode, session, files ? files : "");
	if (fclose(m)) {
		ret = -ENOMEM;
		goto out;
	}
	ret = stream_send(sd->s, MIG_HELLO, hello, hlen);
	if (!ret)
		ret = expect(sd->s, MIG_HELLO_OK, &buf, &len, "the migration");
out:
	free(files);
	free(hello);
	return ret;
}

/* In the pause: the capture (cap, st) serialized into *blob and sent.
 * *tpause moves back to where the pause began inside the capture. */
static int send_rest(struct sender *sd, struct capture *cap, const struct ckpt_stats *st,
		     struct img_blob *blob, uint64_t *tpause)
{
	uint64_t t1 = now_ns(CLOCK_MONOTONIC), t2, t3;
	int ret;

	/* the pause began inside the capture (after its preparation) */
	if (st->pause_ns && st->pause_ns < t1 - *tpause)
		*tpause = t1 - st->pause_ns;
	ret = ckpt_serialize(cap, blob, false);
	t2 = now_ns(CLOCK_MONOTONIC);
	if (!ret)
		ret = send_final(sd, blob);
	t3 = now_ns(CLOCK_MONOTONIC);
	pr_info("final: pause %.1f ms, serialize %.1f ms, send %.1f ms "
		"(%" PRIu64 " KiB)",
		st->pause_ns / 1e6, (t2 - t1) / 1e6, (t3 - t2) / 1e6, blob->pages_size >> 10);
	return ret;
}

int mig_send(const struct mig_opts *o, struct target *t, struct tracker *tk,
	     const struct mig_hooks *h, struct mig_progress *pg, struct mig_result *res)
{
	uint8_t key[STREAM_KEY_BYTES];
	struct sender sd = {.pmfd = -1, .pg = pg};
	struct capture *cap = NULL;
	struct ckpt_stats st;
	struct img_blob blob = {0};
	char session[33];
	const void *buf;
	size_t len;
	uint64_t t0 = now_ns(CLOCK_MONOTONIC), tpause = 0;
	bool converged = true, committed = false;
	int ret;

	memset(res, 0, sizeof(*res));
	snprintf(res->mode, sizeof(res->mode), "%s", o->precopy ? "precopy" : "stop");
	ret = stream_key_load(o->key_path, key);
	if (ret)
		return ret;
	set_phase(pg, MIG_CONNECTING);
	ret = stream_connect(o->to, key, o->timeout_ms, &sd.s);
	sodium_memzero(key, sizeof(key));
	if (ret)
		return ret;
	stream_set_timeout(sd.s, o->timeout_ms);
	sd.ranges = malloc(MIG_MAX_RANGES * MIG_RANGE_SIZE);
	sd.runs = malloc((MSG_DATA / PG) * MIG_RUN_SIZE);
	sd.data = malloc(MSG_DATA);
	if (!sd.ranges || !sd.runs || !sd.data) {
		ret = -ENOMEM;
		goto out;
	}
	sd.async = tk && track_get_opts(tk)->mode == TRACK_ASYNC;
	/* 1. who we are, and the files the target needs there */
	set_phase(pg, MIG_CHECKING);
	random_hex(session, sizeof(session));
	ret = send_hello(&sd, t, res->mode, session);
	if (ret)
		goto out;
	/* 2. pre-copy */
	if (o->precopy) {
		set_phase(pg, MIG_PRECOPY);
		ret = precopy(o, &sd, tk, pg, res, &converged);
		if (ret)
			goto out;
	}
	/* 3. pause, the rest */
	set_phase(pg, MIG_FINAL);
	tpause = now_ns(CLOCK_MONOTONIC);
	ret = h->capture(h->arg, o->precopy ? session : NULL, &cap, &st);
	if (ret)
		goto out;
	ret = send_rest(&sd, cap, &st, &blob, &tpause);
	if (ret)
		goto out;
	res->memory_bytes = blob.pages_size;
	/* 4. the destination restores: it may take a while for big targets */
	set_phase(pg, MIG_RESTORING);
	stream_set_timeout(sd.s, o->timeout_ms * 4);
	ret = expect(sd.s, MIG_READY, &buf, &len, "the restore");
	if (ret)
		goto out;
	snprintf(res->dest_name, sizeof(res->dest_name), "%.*s", (int)(len < 63 ? len : 63),
		 (const char *)buf);
	pr_info("the destination restored it %.1f ms after the pause",
		(now_ns(CLOCK_MONOTONIC) - tpause) / 1e6);
	stream_set_timeout(sd.s, o->timeout_ms);
	ret = stream_send(sd.s, MIG_COMMIT, NULL, 0);
	if (ret)
		goto out;
	committed = true;
	ret = expect(sd.s, MIG_COMMITTED, &buf, &len, "the hand-over");
	if (ret) {
		/* COMMIT left; whether it arrived is unknown. Two running copies
		 * are better than none: this one runs on, and says so. */
		pr_err("the hand-over to %s is in doubt: COMMIT was sent but not confirmed; the "
		       "target runs on here, and may also run there (check 'rtcr ps' on %s)",
		       o->to, o->to);
		goto out;
	}
	res->downtime_ns = now_ns(CLOCK_MONOTONIC) - tpause;
	h->release(h->arg, cap, true);
	cap = NULL;
	ret = 0;
out:
	if (ret && sd.s && !committed) {
		/* best effort; the first error is the one to report */
		char first[1024];

		snprintf(first, sizeof(first), "%s", log_last_error());
		stream_shutdown(sd.s);
		log_set_last_error(first);
	}
	if (cap)
		h->release(h->arg, cap, false); /* runs on where it was */
	res->total_ns = now_ns(CLOCK_MONOTONIC) - t0;
	res->converged = converged;
	if (sd.s)
		res->bytes_sent = stream_bytes_sent(sd.s);
	set_phase(pg, ret ? MIG_FAILED : MIG_DONE);
	img_blob_free(&blob);
	if (sd.pmfd >= 0)
		close(sd.pmfd);
	free(sd.ranges);
	free(sd.runs);
	free(sd.data);
	stream_close(sd.s);
	return ret;
}
