/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the image format (src/image/): a round trip through
 * img_write / img_open, and corrupt images, each of which must be refused
 * with an error (never a crash). Prints "ok - ..." / "not ok - ..." per
 * check; exits 1 if any failed.
 */
#define LOG_PREFIX "test: "
#include "base/log.h"
#include "tests/unit/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "image/image.h"
#include "rtcr/rtcr.h"

static char tmproot[] = "/tmp/rtcr-test-image-XXXXXX";

#define NEW(type, init)                                                                            \
	({                                                                                         \
		type *__p = t_calloc(sizeof(type));                                                \
		init(__p);                                                                         \
		__p;                                                                               \
	})

#define HEAP	 0x600000ULL
#define STACK	 0x7ffffffde000ULL
#define SHM_ADDR 0x7f0000000000ULL

static Rtcr__Vma *vma(uint64_t start, uint64_t end, uint32_t prot, Rtcr__VmaKind kind,
		      const char *path)
{
	Rtcr__Vma *v = NEW(Rtcr__Vma, rtcr__vma__init);

	v->has_start = v->has_end = v->has_prot = v->has_kind = v->has_flags = 1;
	v->start = start;
	v->end = end;
	v->prot = prot;
	v->kind = kind;
	v->flags = kind == RTCR__VMA_KIND__VMA_SHMEM || kind == RTCR__VMA_KIND__VMA_FILE_SHARED
		       ? MAP_SHARED
		       : MAP_PRIVATE;
	if (path)
		v->path = t_strdup(path);
	return v;
}

/* A realistic single-process image, every field malloc'd (img_meta_free frees it). */
static Rtcr__Image *build_meta(void)
{
	Rtcr__Image *m = NEW(Rtcr__Image, rtcr__image__init);
	Rtcr__Inventory *inv = NEW(Rtcr__Inventory, rtcr__inventory__init);
	Rtcr__Process *p = NEW(Rtcr__Process, rtcr__process__init);
	Rtcr__Thread *t = NEW(Rtcr__Thread, rtcr__thread__init);
	Rtcr__Shmem *shm = NEW(Rtcr__Shmem, rtcr__shmem__init);

	m->inventory = inv;
	inv->name = t_strdup("unit-test");
	inv->kernel_release = t_strdup("6.18.0-test");
	inv->hostname = t_strdup("host\x01\"quoted\"");
	inv->has_created_ns = 1;
	inv->created_ns = 1700000000123456789ULL;
	inv->has_root_pid = 1;
	inv->root_pid = 100;
	inv->n_argv = 2;
	inv->argv = t_calloc(2 * sizeof(char *));
	inv->argv[0] = t_strdup("/bin/test");
	inv->argv[1] = t_strdup("--flag");

	m->n_processes = 1;
	m->processes = t_calloc(sizeof(*m->processes));
	m->processes[0] = p;
	p->has_pid = p->has_ppid = p->has_pgid = p->has_sid = 1;
	p->pid = 100;
	p->ppid = 1;
	p->pgid = p->sid = 100;
	p->comm = t_strdup("test");
	p->cwd = t_strdup("/tmp");
	p->n_vmas = 7;
	p->vmas = t_calloc(7 * sizeof(*p->vmas));
	p->vmas[0] = vma(0x400000, 0x401000, PROT_READ | PROT_EXEC,
			 RTCR__VMA_KIND__VMA_FILE_PRIVATE, "/bin/test");
	p->vmas[1] = vma(HEAP, HEAP + 512 * 4096, PROT_READ | PROT_WRITE, RTCR__VMA_KIND__VMA_ANON,
			 "[heap]");
	p->vmas[2] = vma(SHM_ADDR, SHM_ADDR + 16 * 4096, PROT_READ | PROT_WRITE,
			 RTCR__VMA_KIND__VMA_SHMEM, "/memfd:shm (deleted)");
	p->vmas[2]->has_shmem_id = 1;
	p->vmas[2]->shmem_id = 1;
	p->vmas[3] =
	    vma(0x7ffff7fc1000, 0x7ffff7fc5000, PROT_READ, RTCR__VMA_KIND__VMA_VVAR, "[vvar]");
	p->vmas[4] = vma(0x7ffff7fc5000, 0x7ffff7fc7000, PROT_READ | PROT_EXEC,
			 RTCR__VMA_KIND__VMA_VDSO, "[vdso]");
	p->vmas[5] = vma(STACK, STACK + 33 * 4096, PROT_READ | PROT_WRITE, RTCR__VMA_KIND__VMA_ANON,
			 "[stack]");
	p->vmas[6] = vma(0xffffffffff600000ULL, 0xffffffffff601000ULL, PROT_EXEC,
			 RTCR__VMA_KIND__VMA_VSYSCALL, "[vsyscall]");

	p->n_threads = 1;
	p->threads = t_calloc(sizeof(*p->threads));
	p->threads[0] = t;
	t->has_tid = 1;
	t->tid = 100;
	t->regs = NEW(Rtcr__UserRegs, rtcr__user_regs__init);
	t->regs->has_rip = t->regs->has_rsp = 1;
	t->regs->rip = 0x401234;
	t->regs->rsp = STACK + 32 * 4096;
	t->has_xsave = 1;
	t->xsave.len = 1024;
	t->xsave.data = t_calloc(1024);
	for (int i = 0; i < 1024; i++)
		t->xsave.data[i] = (uint8_t)i;
	t->has_sigmask = 1;
	t->sigmask = 0x10002;
	t->comm = t_strdup("test");

	m->n_files = 2;
	m->files = t_calloc(2 * sizeof(*m->files));
	m->files[0] = NEW(Rtcr__File, rtcr__file__init);
	m->files[0]->has_id = m->files[0]->has_kind = 1;
	m->files[0]->id = 1;
	m->files[0]->kind = RTCR__FILE_KIND__FILE_CHR;
	m->files[0]->path = t_strdup("/dev/null");
	m->files[1] = NEW(Rtcr__File, rtcr__file__init);
	m->files[1]->has_id = m->files[1]->has_kind = m->files[1]->has_log_stream = 1;
	m->files[1]->id = 2;
	m->files[1]->kind = RTCR__FILE_KIND__FILE_LOG;
	m->files[1]->log_stream = 1;

	p->n_fds = 3;
	p->fds = t_calloc(3 * sizeof(*p->fds));
	for (int i = 0; i < 3; i++) {
		p->fds[i] = NEW(Rtcr__Fd, rtcr__fd__init);
		p->fds[i]->has_fd = p->fds[i]->has_file_id = 1;
		p->fds[i]->fd = i;
		p->fds[i]->file_id = i == 0 ? 1 : 2;
	}

	m->n_shmem = 1;
	m->shmem = t_calloc(sizeof(*m->shmem));
	m->shmem[0] = shm;
	shm->has_id = shm->has_size = shm->has_memfd = 1;
	shm->id = 1;
	shm->size = 16 * 4096;
	shm->name = t_strdup("memfd:shm");
	shm->memfd = 1;
	return m;
}

/* Page data for the runs: heap 300 pages (two blocks), stack 2 pages, shmem 4 pages. */
#define NRUNS 3
static uint8_t *heap_data, *stack_data, *shm_data;
static struct img_page_src runs[NRUNS];

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + seed + (i >> 12));
}

static void make_runs(void)
{
	heap_data = t_calloc(300 * 4096);
	stack_data = t_calloc(2 * 4096);
	shm_data = t_calloc(4 * 4096);
	fill(heap_data, 300 * 4096, 1);
	fill(stack_data, 2 * 4096, 2);
	fill(shm_data, 4 * 4096, 3);
	runs[0] = (struct img_page_src){HEAP, 300, 0, 0, heap_data};
	runs[1] = (struct img_page_src){STACK + 31 * 4096, 2, 0, 100, stack_data};
	runs[2] = (struct img_page_src){2 * 4096, 4, 1, 0, shm_data};
}

static char *dir_path(const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", tmproot, name) < 0)
		exit(1);
	mkdir(p, 0700);
	return p;
}

static char *file_path(const char *dir, const char *file)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, file) < 0)
		exit(1);
	return p;
}

/* Write the good image into tmproot/name; returns its directory and the meta used. */
static char *write_good(const char *name, Rtcr__Image **metap)
{
	char *dir = dir_path(name);
	Rtcr__Image *m = build_meta();
	struct img_write_stats st;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY), ret;

	ret = img_write(dfd, m, runs, NRUNS, &st);
	close(dfd);
	if (ret) {
		printf("not ok - writing image %s: %s\n", dir, log_last_error());
		exit(1);
	}
	if (metap)
		*metap = m;
	else
		img_meta_free(m);
	return dir;
}

/* rtcr.img from meta, as is (no validation), with a correct header. */
static void write_raw_meta(const char *dir, const Rtcr__Image *m, uint32_t version)
{
	size_t n = rtcr__image__get_packed_size(m);
	uint8_t *buf = t_calloc(32 + n);
	char *path = file_path(dir, IMG_META_FILE);
	FILE *f;

	rtcr__image__pack(m, buf + 32);
	memcpy(buf, "RTCRIMG", 8);
	memcpy(buf + 8, &version, 4); /* x86_64: little-endian */
	*(uint32_t *)(buf + 12) = 32;
	*(uint64_t *)(buf + 16) = n;
	*(uint64_t *)(buf + 24) = XXH3_64bits(buf + 32, n);
	f = fopen(path, "w");
	if (!f || fwrite(buf, 1, 32 + n, f) != 32 + n || fclose(f)) {
		perror(path);
		exit(1);
	}
	free(buf);
	free(path);
}

static off_t file_size(const char *dir, const char *file)
{
	char *p = file_path(dir, file);
	struct stat st;

	if (stat(p, &st))
		st.st_size = -1;
	free(p);
	return st.st_size;
}

static void truncate_file(const char *dir, const char *file, off_t size)
{
	char *p = file_path(dir, file);

	if (truncate(p, size)) {
		perror(p);
		exit(1);
	}
	free(p);
}

static void poke(const char *dir, const char *file, off_t off, const void *data, size_t len)
{
	char *p = file_path(dir, file);
	int fd = open(p, O_RDWR);

	if (fd < 0 || pwrite(fd, data, len, off) != (ssize_t)len) {
		perror(p);
		exit(1);
	}
	close(fd);
	free(p);
}

static void flip(const char *dir, const char *file, off_t off)
{
	char *p = file_path(dir, file);
	int fd = open(p, O_RDWR);
	uint8_t b;

	if (fd < 0 || pread(fd, &b, 1, off) != 1) {
		perror(p);
		exit(1);
	}
	b ^= 0x40;
	if (pwrite(fd, &b, 1, off) != 1) {
		perror(p);
		exit(1);
	}
	close(fd);
	free(p);
}

/* img_open must refuse dir with ret (0: any error) and a message containing msg. */
static void expect_refused(const char *dir, int ret, const char *msg, const char *what)
{
	struct img *im = NULL;
	int r = img_open(dir, &im);

	check(r < 0 && (!ret || r == ret) && !im && strstr(log_last_error(), msg),
	      "%s refused (%d)", what, r);
	img_close(im);
}

static void test_round_trip(void)
{
	Rtcr__Image *m;
	char *dir = write_good("good", &m);
	struct img *im = NULL;
	const Rtcr__Image *r;
	const Rtcr__Process *p;
	int ret;
	bool same = true;
	size_t off[NRUNS] = {0};

	check(file_size(dir, IMG_PAGES_FILE) == 4096 + 306 * 4096,
	      "pages.img is header + 306 pages");
	check(file_size(dir, ".pages.img.tmp") < 0 && file_size(dir, ".rtcr.img.tmp") < 0,
	      "no temporary files left");
	check(m->n_pagemap == 4, "writer split the 300-page run: %zu blocks", m->n_pagemap);
	ret = img_open(dir, &im);
	check(ret == 0 && im, "img_open of a fresh image");
	if (ret)
		goto out;
	r = img_meta(im);
	p = r->processes[0];
	check(!strcmp(r->inventory->name, "unit-test") &&
		  !strcmp(r->inventory->image_id, m->inventory->image_id) &&
		  r->inventory->format_version == 1 /* a full image */ &&
		  r->inventory->memory_bytes == 306 * 4096 && r->inventory->n_argv == 2 &&
		  !strcmp(r->inventory->argv[1], "--flag"),
	      "inventory round trip");
	check(p->pid == 100 && p->n_vmas == 7 && p->vmas[1]->start == HEAP &&
		  p->vmas[2]->kind == RTCR__VMA_KIND__VMA_SHMEM && p->vmas[2]->shmem_id == 1 &&
		  !strcmp(p->vmas[0]->path, "/bin/test") && p->n_fds == 3 &&
		  p->fds[2]->file_id == 2,
	      "process, vmas and fds round trip");
	check(p->n_threads == 1 && p->threads[0]->regs->rip == 0x401234 &&
		  p->threads[0]->xsave.len == 1024 &&
		  !memcmp(p->threads[0]->xsave.data, m->processes[0]->threads[0]->xsave.data, 1024),
	      "thread registers and xsave round trip");
	check(r->n_pagemap == 4 && r->pagemap[0]->npages == 256 && r->pagemap[1]->npages == 44 &&
		  r->pagemap[1]->addr == HEAP + 256 * 4096 && r->pagemap[3]->shmem_id == 1 &&
		  r->pagemap[2]->pid == 100,
	      "pagemap: 256 + 44 + 2 + 4 pages");
	for (size_t i = 0; i < r->n_pagemap; i++) {
		const Rtcr__PageRun *pr = r->pagemap[i];
		size_t src = pr->shmem_id ? 2 : pr->pid ? 1 : 0;
		const void *data;
		size_t len;

		ret = img_run_data(im, i, true, &data, &len);
		if (ret || len != pr->npages * 4096ULL ||
		    memcmp(data, (const uint8_t *)runs[src].data + off[src], len))
			same = false;
		off[src] += len;
		if (img_run_verify(im, i))
			same = false;
	}
	check(same, "page contents round trip, checksums verify");
	check(img_run_data(im, 4, false, &(const void *){NULL}, &(size_t){0}) == -EINVAL,
	      "img_run_data of a run past the end");
	{
		FILE *f = fopen("/dev/null", "w");

		check(img_show(dir, f, false) == 0, "img_show (text)");
		check(img_show(dir, f, true) == 0, "img_show (json)");
		fclose(f);
	}
out:
	img_close(im);
	img_meta_free(m);
	free(dir);
}

struct verifier {
	struct img *im;
	int bad;
};

static void *verify_all(void *arg)
{
	struct verifier *v = arg;

	for (int round = 0; round < 20; round++)
		for (size_t i = 0; i < img_meta(v->im)->n_pagemap; i++)
			if (img_run_verify(v->im, i))
				v->bad++;
	return NULL;
}

static void test_concurrent_verify(void)
{
	char *dir = write_good("concurrent", NULL);
	struct verifier v = {0};
	pthread_t th;
	uint64_t sum = 0;
	int ret = img_open(dir, &v.im);

	check(ret == 0, "img_open for the concurrency test");
	if (ret)
		goto out;
	pthread_create(&th, NULL, verify_all, &v);
	for (int round = 0; round < 20; round++) {
		for (size_t i = 0; i < img_meta(v.im)->n_pagemap; i++) {
			const void *data;
			size_t len;

			if (img_run_data(v.im, i, false, &data, &len))
				v.bad++;
			else
				sum += ((const uint8_t *)data)[len - 1];
		}
	}
	pthread_join(th, NULL);
	check(v.bad == 0, "img_run_verify in a second thread beside img_run_data (sum %llu)",
	      (unsigned long long)sum);
out:
	img_close(v.im);
	free(dir);
}

static void test_corruption(void)
{
	Rtcr__Image *m;
	char *dir;
	uint32_t v32;

	dir = write_good("trunc-meta", NULL);
	truncate_file(dir, IMG_META_FILE, file_size(dir, IMG_META_FILE) - 10);
	expect_refused(dir, -EINVAL, "truncated", "truncated rtcr.img");
	truncate_file(dir, IMG_META_FILE, 20);
	expect_refused(dir, -EINVAL, "truncated header", "rtcr.img shorter than its header");
	truncate_file(dir, IMG_META_FILE, 0);
	expect_refused(dir, -EINVAL, "truncated header", "empty rtcr.img");
	free(dir);

	dir = write_good("trunc-pages", NULL);
	truncate_file(dir, IMG_PAGES_FILE, file_size(dir, IMG_PAGES_FILE) - 4096);
	expect_refused(dir, -EINVAL, "beyond the end of pages.img", "truncated pages.img");
	truncate_file(dir, IMG_PAGES_FILE, 100);
	expect_refused(dir, -EINVAL, "beyond the end of pages.img", "pages.img of 100 bytes");
	free(dir);

	dir = write_good("flip-meta", NULL);
	flip(dir, IMG_META_FILE, 40);
	expect_refused(dir, -EBADMSG, "checksum mismatch", "flipped payload byte");
	free(dir);

	dir = write_good("flip-page", NULL);
	flip(dir, IMG_PAGES_FILE, 4096 + 256 * 4096 + 5000); /* run 1 */
	{
		struct img *im = NULL;
		const void *data;
		size_t len;
		int ret = img_open(dir, &im);
		FILE *f = fopen("/dev/null", "w");

		check(ret == 0, "img_open with a flipped page byte (pages are checked on use)");
		if (!ret) {
			check(img_run_data(im, 0, true, &data, &len) == 0, "run 0 still verifies");
			check(img_run_data(im, 1, true, &data, &len) == -EBADMSG &&
				  strstr(log_last_error(), "checksum mismatch in run 1"),
			      "flipped page byte: run 1 checksum mismatch");
			check(img_run_verify(im, 1) == -EBADMSG, "img_run_verify of run 1 fails");
			check(img_run_data(im, 1, false, &data, &len) == 0,
			      "unverified access still possible");
		}
		img_close(im);
		check(img_show(dir, f, true) == -EBADMSG, "img_show reports the bad run");
		fclose(f);
	}
	free(dir);

	dir = write_good("magic", NULL);
	poke(dir, IMG_META_FILE, 0, "RTCRIMX", 7);
	expect_refused(dir, -EINVAL, "bad magic", "wrong magic");
	free(dir);

	dir = write_good("version", NULL);
	v32 = 7;
	poke(dir, IMG_META_FILE, 8, &v32, 4);
	expect_refused(dir, -EINVAL, "format version 7, this rtcr reads versions 1 to 2",
		       "wrong version");
	free(dir);

	dir = write_good("pages-magic", NULL);
	poke(dir, IMG_PAGES_FILE, 0, "XXXX", 4);
	expect_refused(dir, -EINVAL, "pages.img: bad magic", "wrong pages.img magic");
	free(dir);

	dir = write_good("pages-id", NULL);
	{
		/* another hex digit than the one there (which may be '0' already) */
		char *p = file_path(dir, IMG_PAGES_FILE);
		int fd = open(p, O_RDWR);
		char ch = 0;

		if (fd < 0 || pread(fd, &ch, 1, 12) != 1) {
			perror(p);
			exit(1);
		}
		close(fd);
		free(p);
		poke(dir, IMG_PAGES_FILE, 12, ch == '0' ? "1" : "0", 1);
	}
	expect_refused(dir, -EINVAL, "belongs to another image", "pages.img of another image");
	free(dir);

	dir = write_good("no-pages", NULL);
	{
		char *p = file_path(dir, IMG_PAGES_FILE);

		unlink(p);
		free(p);
	}
	expect_refused(dir, -ENOENT, "no pages.img", "missing pages.img");
	free(dir);

	expect_refused("/nonexistent/rtcr-image", -ENOENT, "cannot open", "missing directory");

	/* Metadata edits below are written as is, with a valid header and checksum. */
	dir = write_good("offset-eof", &m);
	m->pagemap[3]->offset = 1ULL << 40;
	write_raw_meta(dir, m, 1);
	expect_refused(dir, -EINVAL, "beyond the end of pages.img", "run offset past EOF");
	m->pagemap[3]->offset = UINT64_MAX & ~4095ULL;
	write_raw_meta(dir, m, 1);
	expect_refused(dir, -EINVAL, "beyond the end of pages.img", "run offset near 2^64");
	m->pagemap[3]->offset = m->pagemap[0]->offset + 4096;
	write_raw_meta(dir, m, 1);
	expect_refused(dir, -EINVAL, "overlap in pages.img", "runs overlapping in pages.img");
	m->pagemap[3]->offset = 0;
	write_raw_meta(dir, m, 1);
	expect_refused(dir, -EINVAL, "inside the pages.img header", "run in the pages.img header");
	img_meta_free(m);
	free(dir);

	dir = write_good("overlap", &m);
	m->processes[0]->vmas[1]->start = 0x400000; /* the heap over the text */
	write_raw_meta(dir, m, 1);
	expect_refused(dir, -EINVAL, "overlaps", "overlapping VMAs");
	img_meta_free(m);
	free(dir);

	dir = write_good("outside", &m);
	m->pagemap[1]->addr = HEAP + 500 * 4096; /* 44 pages from page 500 of 512 */
	write_raw_meta(dir, m, 1);
	expect_refused(dir, -EINVAL, "not inside one vma", "run outside its VMA");
	m->pagemap[1]->addr = 0x7ffff7fc5000; /* the vdso */
	m->pagemap[1]->npages = 1;
	write_raw_meta(dir, m, 1);
	expect_refused(dir, -EINVAL, "vdso", "run inside the vdso");
	img_meta_free(m);
	free(dir);

	dir = write_good("shmem-run", &m);
	m->pagemap[3]->addr = 14 * 4096; /* 4 pages from 14 of 16 */
	write_raw_meta(dir, m, 1);
	expect_refused(dir, -EINVAL, "outside shmem object 1", "shmem run past the object");
	m->pagemap[3]->addr = 0;
	m->pagemap[3]->shmem_id = 9;
	write_raw_meta(dir, m, 1);
	expect_refused(dir, -EINVAL, "unknown shmem object 9", "run of a missing shmem object");
	img_meta_free(m);
	free(dir);

	dir = write_good("fd", &m);
	m->processes[0]->fds[1]->file_id = 99;
	write_raw_meta(dir, m, 1);
	expect_refused(dir, -EINVAL, "refers to missing file 99", "fd referring to a missing file");
	m->processes[0]->fds[1]->file_id = 2;
	m->processes[0]->fds[1]->fd = 0;
	write_raw_meta(dir, m, 1);
	expect_refused(dir, -EINVAL, "fd 0 appears twice", "duplicate fd");
	img_meta_free(m);
	free(dir);

	dir = write_good("misc", &m);
	m->processes[0]->vmas[1]->kind = 42;
	write_raw_meta(dir, m, 1);
	expect_refused(dir, -EINVAL, "unknown kind 42", "unknown VMA kind");
	m->processes[0]->vmas[1]->kind = RTCR__VMA_KIND__VMA_ANON;
	m->processes[0]->vmas[1]->prot = 0x10;
	write_raw_meta(dir, m, 1);
	expect_refused(dir, -EINVAL, "protection 0x10", "bad VMA protection");
	img_meta_free(m);
	free(dir);

	dir = write_good("misc2", &m);
	{
		Rtcr__Thread *t = m->processes[0]->threads[0];
		Rtcr__UserRegs *regs = t->regs;
		char *name = m->inventory->name;

		t->regs = NULL;
		write_raw_meta(dir, m, 1);
		expect_refused(dir, -EINVAL, "no registers", "thread without registers");
		t->regs = regs;
		m->inventory->name = "../etc";
		write_raw_meta(dir, m, 1);
		expect_refused(dir, -EINVAL, "target name", "bad target name");
		m->inventory->name = name;
		m->inventory->format_version = 3;
		write_raw_meta(dir, m, 1);
		expect_refused(dir, -EINVAL, "format version 3", "inventory format_version 3");
		m->inventory->format_version = 1;
		m->processes[0]->vmas[6]->start -= 4096;
		write_raw_meta(dir, m, 1);
		expect_refused(dir, -EINVAL, "[vsyscall] is not at", "misplaced vsyscall");
		m->processes[0]->vmas[6]->start += 4096;
		write_raw_meta(dir, m, 7);
		expect_refused(dir, -EINVAL, "format version 7",
			       "header version 7 with a valid checksum");
	}
	img_meta_free(m);
	free(dir);
}

static void test_write_refuses(void)
{
	Rtcr__Image *m = build_meta();
	char *dir = dir_path("refuse");
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	struct img_page_src bad = {0x10000000, 1, 0, 0, heap_data};
	int ret;

	m->processes[0]->vmas[1]->start = 0x400000;
	ret = img_write(dfd, m, runs, NRUNS, NULL);
	check(ret == -EINVAL && m->n_pagemap == 0, "img_write refuses overlapping VMAs");
	check(file_size(dir, IMG_META_FILE) < 0 && file_size(dir, IMG_PAGES_FILE) < 0 &&
		  file_size(dir, ".pages.img.tmp") < 0,
	      "nothing written");
	m->processes[0]->vmas[1]->start = HEAP;
	ret = img_write(dfd, m, &bad, 1, NULL);
	check(ret == -EINVAL, "img_write refuses a run outside every VMA");
	ret = img_write(dfd, m, runs, NRUNS, NULL);
	check(ret == 0, "img_write after fixing");
	ret = img_write(dfd, m, runs, NRUNS, NULL);
	check(ret == 0 && m->n_pagemap == 4, "img_write again over the same image and meta");
	close(dfd);
	img_meta_free(m);
	free(dir);
}

/* Image.losses: validated (kind, pid, fd, a bounded description). */
static void test_losses(void)
{
	Rtcr__Image *m;
	char *dir = write_good("losses", &m);
	uint64_t psize = (uint64_t)file_size(dir, IMG_PAGES_FILE);
	Rtcr__Loss *l = t_calloc(sizeof(*l));
	char long_what[300];
	char *good;

	rtcr__loss__init(l);
	l->has_kind = l->has_pid = l->has_fd = l->has_count = l->has_bytes = 1;
	l->kind = RTCR__LOSS_KIND__LOSS_UDP_QUEUE;
	l->pid = m->processes[0]->pid;
	l->fd = 5;
	l->count = 3;
	l->bytes = 120;
	l->what = good = t_strdup("UDP socket 127.0.0.1:5000: 3 queued datagrams, 120 bytes");
	m->losses = t_calloc(sizeof(*m->losses));
	m->losses[0] = l;
	m->n_losses = 1;
	check(img_validate(m, psize) == 0, "an image with a loss is valid");
	l->pid = 4242;
	check(img_validate(m, psize) == -EINVAL, "a loss of a pid not in the image is refused");
	l->pid = m->processes[0]->pid;
	l->kind = (Rtcr__LossKind)99;
	check(img_validate(m, psize) == -EINVAL, "a loss of an unknown kind is refused");
	l->kind = RTCR__LOSS_KIND__LOSS_NONE;
	check(img_validate(m, psize) == -EINVAL, "a loss of kind none is refused");
	l->kind = RTCR__LOSS_KIND__LOSS_INOTIFY_QUEUE;
	l->fd = -2;
	check(img_validate(m, psize) == -EINVAL, "a loss with fd -2 is refused");
	l->fd = 6;
	memset(long_what, 'x', sizeof(long_what) - 1);
	long_what[sizeof(long_what) - 1] = '\0';
	l->what = long_what;
	check(img_validate(m, psize) == -EINVAL, "a loss described in 299 bytes is refused");
	l->what = (char *)"3 events\x1b[2J";
	check(img_validate(m, psize) == -EINVAL, "a control character in a loss is refused");
	l->what = NULL;
	check(img_validate(m, psize) == -EINVAL, "a loss without a description is refused");
	l->what = good;
	m->losses[0] = NULL;
	check(img_validate(m, psize) == -EINVAL, "a missing loss is refused");
	m->losses[0] = l;
	check(img_validate(m, psize) == 0, "valid again");
	log_clear_error();
	img_meta_free(m);
	free(dir);
}

static void test_parse_garbage(void)
{
	uint8_t buf[4096];
	Rtcr__Image *out = NULL;
	int refused = 0;
	unsigned seed = 12345;

	for (int i = 0; i < 2000; i++) {
		size_t n = (size_t)(rand_r(&seed) % sizeof(buf));

		for (size_t j = 0; j < n; j++)
			buf[j] = (uint8_t)rand_r(&seed);
		if (n >= 32) {
			memcpy(buf, "RTCRIMG", 8);
			*(uint32_t *)(buf + 8) = 1;
			*(uint32_t *)(buf + 12) = 32;
			*(uint64_t *)(buf + 16) = n - 32;
			*(uint64_t *)(buf + 24) = XXH3_64bits(buf + 32, n - 32);
		}
		if (img_parse(buf, n, 1 << 20, &out) < 0)
			refused++;
		else
			rtcr__image__free_unpacked(out, NULL);
	}
	log_clear_error();
	check(refused == 2000, "random payloads with valid headers are refused (%d/2000)", refused);
}

/* rtcr.img contents for m with a correct header; buf[32..] is the payload. */
static uint8_t *encode(const Rtcr__Image *m, size_t *len)
{
	size_t n = rtcr__image__get_packed_size(m);
	uint8_t *buf = t_calloc(32 + n);

	rtcr__image__pack(m, buf + 32);
	memcpy(buf, "RTCRIMG", 8);
	*(uint32_t *)(buf + 8) = 1;
	*(uint32_t *)(buf + 12) = 32;
	*(uint64_t *)(buf + 16) = n;
	*len = 32 + n;
	return buf;
}

static void reseal(uint8_t *buf, size_t len)
{
	*(uint64_t *)(buf + 24) = XXH3_64bits(buf + 32, len - 32);
}

static int parse(uint8_t *buf, size_t len)
{
	Rtcr__Image *out = NULL;
	int ret;

	reseal(buf, len);
	ret = img_parse(buf, len, 1ULL << 30, &out);
	if (out)
		rtcr__image__free_unpacked(out, NULL);
	return ret;
}

/* What protobuf-c would accept but the wire-format check refuses. */
static void test_wire(void)
{
	Rtcr__Image *m = build_meta(), big = RTCR__IMAGE__INIT;
	Rtcr__PageRun run = RTCR__PAGE_RUN__INIT, **many;
	char *old = m->inventory->hostname, *longs = t_calloc(5001), *hit;
	size_t len;
	uint8_t *buf;

	m->inventory->image_id = t_strdup("00112233445566778899aabbccddeeff");
	m->inventory->has_format_version = 1;
	m->inventory->format_version = 1;
	m->inventory->hostname = t_strdup("hostXname");
	free(old);
	buf = encode(m, &len);
	check(parse(buf, len) == 0, "img_parse of an encoded image");
	hit = memmem(buf, len, "hostXname", 9);
	hit[4] = '\0';
	check(parse(buf, len) == -EINVAL && strstr(log_last_error(), "NUL byte"),
	      "string with a NUL byte refused");
	free(buf);

	memset(longs, 'a', 5000);
	free(m->inventory->hostname);
	m->inventory->hostname = longs;
	buf = encode(m, &len);
	check(parse(buf, len) == -EINVAL && strstr(log_last_error(), "string of 5000 bytes"),
	      "string of 5000 bytes refused");
	free(buf);
	free(m->inventory->hostname);
	m->inventory->hostname = t_strdup("host");

	buf = encode(m, &len);
	check(parse(buf, len - 1) == -EINVAL && strstr(log_last_error(), "truncated"),
	      "payload cut by one byte");
	*(uint64_t *)(buf + 16) = len - 33;
	check(parse(buf, len - 1) == -EINVAL && strstr(log_last_error(), "malformed"),
	      "payload cut by one byte, header length fixed: malformed");
	free(buf);

	/* 2^20 + 1 empty page runs: refused before protobuf-c allocates them. */
	big.inventory = m->inventory;
	big.n_pagemap = (1u << 20) + 1;
	many = t_calloc(big.n_pagemap * sizeof(*many));
	for (size_t i = 0; i < big.n_pagemap; i++)
		many[i] = &run;
	big.pagemap = many;
	buf = encode(&big, &len);
	check(parse(buf, len) == -EINVAL && strstr(log_last_error(), "more than 1048576 elements"),
	      "2^20 + 1 page runs refused by the wire check");
	free(buf);
	free(many);
	img_meta_free(m);
}

static void rm_rf(const char *path)
{
	char *cmd;

	if (asprintf(&cmd, "rm -rf '%s'", path) >= 0) {
		if (system(cmd)) {
			/* left behind in /tmp */
		}
		free(cmd);
	}
}

int main(void)
{
	if (!mkdtemp(tmproot)) {
		perror("mkdtemp");
		return 1;
	}
	log_set_fd(-1); /* errors are expected: shown from log_last_error() */
	make_runs();
	test_round_trip();
	test_concurrent_verify();
	test_corruption();
	test_write_refuses();
	test_parse_garbage();
	test_losses();
	test_wire();
	rm_rf(tmproot);
	free(heap_data);
	free(stack_data);
	free(shm_data);
	return tap_done();
}
