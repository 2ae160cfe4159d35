/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Writes the seed corpus of fuzz_image: the rtcr.img of a few realistic
 * images built with the protobuf-c API and written by img_write (so they
 * pass validation). Usage: gen_seeds DIR (DIR/NAME.img are written).
 * `make fuzz-seeds` regenerates tests/fuzz/seeds/.
 */
#define LOG_PREFIX "gen_seeds: "
#include "base/log.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/image.h"

static void *zalloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);

	if (!p)
		abort();
	return p;
}

static char *sdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		abort();
	return p;
}

#define NEW(type, init)                                                                            \
	({                                                                                         \
		type *__p = zalloc(sizeof(type));                                                  \
		init(__p);                                                                         \
		__p;                                                                               \
	})

/* Append an element to a repeated field: arr (T **), n (size_t). */
#define PUSH(arr, n, v)                                                                            \
	do {                                                                                       \
		void *__a = realloc((arr), ((n) + 1) * sizeof(*(arr)));                            \
		if (!__a)                                                                          \
			abort();                                                                   \
		(arr) = __a;                                                                       \
		(arr)[(n)++] = (v);                                                                \
	} while (0)

static Rtcr__Vma *vma(uint64_t start, uint64_t end, const char *prot, Rtcr__VmaKind kind,
		      const char *path, uint64_t pgoff)
{
	Rtcr__Vma *v = NEW(Rtcr__Vma, rtcr__vma__init);

	v->has_start = v->has_end = v->has_prot = v->has_kind = v->has_flags = 1;
	v->start = start;
	v->end = end;
	v->prot = (prot[0] == 'r' ? PROT_READ : 0) | (prot[1] == 'w' ? PROT_WRITE : 0) |
		  (prot[2] == 'x' ? PROT_EXEC : 0);
	v->flags = prot[3] == 's' ? MAP_SHARED : MAP_PRIVATE;
	v->kind = kind;
	if (path)
		v->path = sdup(path);
	if (pgoff) {
		v->has_pgoff = 1;
		v->pgoff = pgoff;
	}
	if (kind == RTCR__VMA_KIND__VMA_FILE_PRIVATE || kind == RTCR__VMA_KIND__VMA_FILE_SHARED) {
		v->has_dev = v->has_ino = v->has_file_size = v->has_mtime_ns = v->has_open_flags =
		    1;
		v->dev = 0xfe01;
		v->ino = 131072 + (start >> 12) % 1000;
		v->file_size = 2 << 20;
		v->mtime_ns = 1690000000000000000ULL;
		v->open_flags = O_RDONLY;
	}
	return v;
}

static Rtcr__SigInfo *siginfo(int signo, bool shared)
{
	Rtcr__SigInfo *si = NEW(Rtcr__SigInfo, rtcr__sig_info__init);

	si->has_raw = si->has_shared = 1;
	si->raw.len = 128;
	si->raw.data = zalloc(128);
	si->raw.data[0] = (uint8_t)signo;
	si->shared = shared;
	return si;
}

static Rtcr__Thread *thread(uint32_t tid, uint64_t rip, uint64_t rsp, size_t xsave_len)
{
	Rtcr__Thread *t = NEW(Rtcr__Thread, rtcr__thread__init);
	Rtcr__UserRegs *r = NEW(Rtcr__UserRegs, rtcr__user_regs__init);

	t->has_tid = 1;
	t->tid = tid;
	t->regs = r;
	r->has_rip = r->has_rsp = r->has_rax = r->has_orig_rax = r->has_eflags = 1;
	r->has_cs = r->has_ss = r->has_fs_base = r->has_rdi = r->has_rsi = 1;
	r->rip = rip;
	r->rsp = rsp;
	r->rax = (uint64_t)-4; /* -EINTR */
	r->orig_rax = 230;     /* clock_nanosleep */
	r->eflags = 0x246;
	r->cs = 0x33;
	r->ss = 0x2b;
	r->fs_base = 0x7ffff7d7f740;
	r->rdi = 0;
	r->rsi = rsp + 16;
	if (xsave_len) {
		t->has_xsave = 1;
		t->xsave.len = xsave_len;
		t->xsave.data = zalloc(xsave_len);
		t->xsave.data[0] = 0x7f; /* fcw 0x037f */
		t->xsave.data[1] = 0x03;
		t->xsave.data[24] = 0x80; /* mxcsr 0x1f80 */
		t->xsave.data[25] = 0x1f;
		t->xsave.data[512] = 0x07; /* xstate_bv: x87, sse, avx */
		for (size_t i = 160; i < 200 && i < xsave_len; i++)
			t->xsave.data[i] = (uint8_t)(i * 7);
	}
	t->has_sigmask = 1;
	t->sigmask = 1ULL << (17 - 1);
	t->rseq = NEW(Rtcr__Rseq, rtcr__rseq__init);
	t->rseq->has_abi_pointer = t->rseq->has_abi_size = t->rseq->has_signature = 1;
	t->rseq->abi_pointer = 0x7ffff7d7fe00;
	t->rseq->abi_size = 32;
	t->rseq->signature = 0x53053053;
	t->has_robust_list = t->has_robust_list_len = t->has_clear_child_tid = 1;
	t->robust_list = 0x7ffff7d7fa20;
	t->robust_list_len = 24;
	t->clear_child_tid = 0x7ffff7d7fa10;
	t->sigaltstack = NEW(Rtcr__SigAltStack, rtcr__sig_alt_stack__init);
	t->sigaltstack->has_flags = 1;
	t->sigaltstack->flags = 2; /* SS_DISABLE */
	t->comm = sdup("sleep");
	t->sched = NEW(Rtcr__Sched, rtcr__sched__init);
	t->sched->has_policy = t->sched->has_nice = 1;
	t->has_in_syscall = 1;
	t->in_syscall = 231;
	return t;
}

static Rtcr__File *file(uint32_t id, Rtcr__FileKind kind, const char *path, uint32_t flags)
{
	Rtcr__File *f = NEW(Rtcr__File, rtcr__file__init);

	f->has_id = f->has_kind = f->has_flags = 1;
	f->id = id;
	f->kind = kind;
	f->flags = flags;
	if (path)
		f->path = sdup(path);
	if (kind == RTCR__FILE_KIND__FILE_LOG) {
		f->has_log_stream = 1;
		f->log_stream = id == 2 ? 1 : 2;
	}
	if (kind == RTCR__FILE_KIND__FILE_REG) {
		f->has_pos = f->has_size = f->has_mode = 1;
		f->pos = 1234;
		f->size = 4096;
		f->mode = 0100644;
	}
	return f;
}

static Rtcr__Fd *fd(uint32_t n, uint32_t file_id, bool cloexec)
{
	Rtcr__Fd *d = NEW(Rtcr__Fd, rtcr__fd__init);

	d->has_fd = d->has_file_id = d->has_cloexec = 1;
	d->fd = n;
	d->file_id = file_id;
	d->cloexec = cloexec;
	return d;
}

static Rtcr__Process *process(uint32_t pid, uint32_t ppid, size_t nvma_extra, size_t xsave_len)
{
	Rtcr__Process *p = NEW(Rtcr__Process, rtcr__process__init);
	Rtcr__MmInfo *mm = NEW(Rtcr__MmInfo, rtcr__mm_info__init);
	Rtcr__Creds *c = NEW(Rtcr__Creds, rtcr__creds__init);
	static const uint64_t auxv[] = {33, 0x7ffff7fc5000,
					16, 0x178bfbff,
					6,  4096,
					17, 100,
					3,  0x555555554040,
					4,  56,
					5,  13,
					7,  0x7ffff7fc7000,
					9,  0x555555556b00,
					23, 0,
					25, 0x7fffffffe3b9,
					0,  0};
	uint64_t base = 0x555555554000;

	p->has_pid = p->has_ppid = p->has_pgid = p->has_sid = 1;
	p->pid = pid;
	p->ppid = ppid;
	p->pgid = p->sid = pid;
	p->comm = sdup("sleep");
	p->cwd = sdup("/home/user");
	p->root = sdup("/");
	p->has_umask = p->has_dumpable = p->has_oom_score_adj = p->has_timerslack_ns = 1;
	p->umask = 022;
	p->dumpable = 1;
	p->timerslack_ns = 50000;
	p->mm = mm;
	mm->has_start_code = mm->has_end_code = mm->has_start_data = mm->has_end_data = 1;
	mm->has_start_brk = mm->has_brk = mm->has_start_stack = 1;
	mm->has_arg_start = mm->has_arg_end = mm->has_env_start = mm->has_env_end = 1;
	mm->start_code = base + 0x2000;
	mm->end_code = base + 0x6000;
	mm->start_data = base + 0x8000;
	mm->end_data = base + 0x9000;
	mm->start_brk = mm->brk = base + 0x9000;
	mm->start_stack = 0x7fffffffe0a0;
	mm->arg_start = 0x7fffffffe3a0;
	mm->arg_end = 0x7fffffffe3b0;
	mm->env_start = 0x7fffffffe3b0;
	mm->env_end = 0x7fffffffefe0;
	mm->n_auxv = sizeof(auxv) / sizeof(auxv[0]);
	mm->auxv = zalloc(sizeof(auxv));
	memcpy(mm->auxv, auxv, sizeof(auxv));
	mm->exe = sdup("/usr/bin/sleep");
	p->creds = c;
	c->has_uid = c->has_euid = c->has_suid = c->has_fsuid = c->has_cap_bnd = 1;
	c->has_gid = c->has_egid = c->has_sgid = c->has_fsgid = 1;
	c->uid = c->euid = c->suid = c->fsuid = 1000;
	c->gid = c->egid = c->sgid = c->fsgid = 1000;
	c->cap_bnd = 0x1ffffffffffULL;
	PUSH(c->groups, c->n_groups, 1000);
	PUSH(c->groups, c->n_groups, 27);

	PUSH(p->vmas, p->n_vmas, vma(base, base + 0x2000, "r--p", 1, "/usr/bin/sleep", 0));
	PUSH(p->vmas, p->n_vmas,
	     vma(base + 0x2000, base + 0x6000, "r-xp", 1, "/usr/bin/sleep", 0x2000));
	PUSH(p->vmas, p->n_vmas,
	     vma(base + 0x6000, base + 0x8000, "r--p", 1, "/usr/bin/sleep", 0x6000));
	PUSH(p->vmas, p->n_vmas,
	     vma(base + 0x8000, base + 0x9000, "rw-p", 1, "/usr/bin/sleep", 0x7000));
	PUSH(p->vmas, p->n_vmas, vma(base + 0x9000, base + 0x2a000, "rw-p", 0, "[heap]", 0));
	for (size_t i = 0; i < nvma_extra; i++) {
		uint64_t s = 0x7ff000000000 + i * 0x3000;

		PUSH(p->vmas, p->n_vmas, vma(s, s + 0x2000, "rw-p", 0, NULL, 0));
	}
	PUSH(p->vmas, p->n_vmas,
	     vma(0x7ffff7d80000, 0x7ffff7da6000, "r--p", 1, "/usr/lib/x86_64-linux-gnu/libc.so.6",
		 0));
	PUSH(p->vmas, p->n_vmas,
	     vma(0x7ffff7da6000, 0x7ffff7efb000, "r-xp", 1, "/usr/lib/x86_64-linux-gnu/libc.so.6",
		 0x26000));
	PUSH(p->vmas, p->n_vmas,
	     vma(0x7ffff7f50000, 0x7ffff7f54000, "rw-p", 1, "/usr/lib/x86_64-linux-gnu/libc.so.6",
		 0x1d0000));
	PUSH(p->vmas, p->n_vmas, vma(0x7ffff7f54000, 0x7ffff7f61000, "rw-p", 0, NULL, 0));
	PUSH(p->vmas, p->n_vmas,
	     vma(0x7ffff7fc0000, 0x7ffff7fc1000, "rw-s", 3, "/memfd:state (deleted)", 0));
	p->vmas[p->n_vmas - 1]->has_shmem_id = 1;
	p->vmas[p->n_vmas - 1]->shmem_id = 1;
	PUSH(p->vmas, p->n_vmas, vma(0x7ffff7fc1000, 0x7ffff7fc5000, "r--p", 5, "[vvar]", 0));
	PUSH(p->vmas, p->n_vmas, vma(0x7ffff7fc5000, 0x7ffff7fc7000, "r-xp", 4, "[vdso]", 0));
	PUSH(p->vmas, p->n_vmas, vma(0x7ffffffde000, 0x7ffffffff000, "rw-p", 0, "[stack]", 0));
	PUSH(p->vmas, p->n_vmas,
	     vma(0xffffffffff600000, 0xffffffffff601000, "--xp", 6, "[vsyscall]", 0));

	PUSH(p->threads, p->n_threads, thread(pid, 0x7ffff7e8e5c3, 0x7fffffffdf48, xsave_len));
	PUSH(p->threads[0]->pending, p->threads[0]->n_pending, siginfo(10, false));
	PUSH(p->fds, p->n_fds, fd(0, 1, false));
	PUSH(p->fds, p->n_fds, fd(1, 2, false));
	PUSH(p->fds, p->n_fds, fd(2, 3, false));
	PUSH(p->fds, p->n_fds, fd(3, 4, true));
	PUSH(p->fds, p->n_fds, fd(5, 5, true));
	for (uint32_t sig = 1; sig <= 3; sig++) {
		Rtcr__SigAction *sa = NEW(Rtcr__SigAction, rtcr__sig_action__init);

		sa->has_signo = sa->has_handler = sa->has_flags = sa->has_restorer = 1;
		sa->signo = sig == 3 ? 13 : sig;
		sa->handler = sig == 3 ? 1 : 0x555555557a30;
		sa->flags = 0x04000000 | 0x10000000;
		sa->restorer = 0x7ffff7dbe050;
		PUSH(p->sigactions, p->n_sigactions, sa);
	}
	PUSH(p->shared_pending, p->n_shared_pending, siginfo(12, true));
	for (uint32_t r = 0; r < 16; r++) {
		Rtcr__Rlimit *rl = NEW(Rtcr__Rlimit, rtcr__rlimit__init);

		rl->has_resource = rl->has_cur = rl->has_max = 1;
		rl->resource = r;
		rl->cur = r == 7 ? 1024 : UINT64_MAX;
		rl->max = r == 7 ? 524288 : UINT64_MAX;
		PUSH(p->rlimits, p->n_rlimits, rl);
	}
	{
		Rtcr__Itimer *it = NEW(Rtcr__Itimer, rtcr__itimer__init);

		it->has_which = it->has_value_us = it->has_interval_us = 1;
		it->value_us = 250000;
		it->interval_us = 1000000;
		PUSH(p->itimers, p->n_itimers, it);
	}
	return p;
}

static Rtcr__Image *image(const char *name, size_t nproc, size_t nvma_extra, size_t xsave_len)
{
	Rtcr__Image *m = NEW(Rtcr__Image, rtcr__image__init);
	Rtcr__Inventory *inv = NEW(Rtcr__Inventory, rtcr__inventory__init);
	Rtcr__CpuInfo *cpu = NEW(Rtcr__CpuInfo, rtcr__cpu_info__init);
	static const char *const flags[] = {"fpu",    "sse", "sse2",   "ssse3",	   "sse4_1",
					    "sse4_2", "avx", "avx2",   "bmi1",	   "bmi2",
					    "fma",    "aes", "pclmul", "xsave",	   "rdrand",
					    "rdseed", "adx", "sha_ni", "fsgsbase", "erms"};

	m->inventory = inv;
	inv->image_id = sdup("0123456789abcdef0123456789abcdef");
	inv->name = sdup(name);
	inv->has_created_ns = inv->has_root_pid = inv->has_pause_ns = 1;
	inv->created_ns = 1735689600000000000ULL;
	inv->root_pid = 1;
	inv->pause_ns = 1234567;
	inv->kernel_release = sdup("6.18.0-amd64");
	inv->hostname = sdup("builder");
	inv->boot_id = sdup("5c1f6d5e-8a3c-4b7e-9d2a-1f0e3c4b5a69");
	inv->rtcr_version = sdup("0.1.0");
	PUSH(inv->argv, inv->n_argv, sdup("sleep"));
	PUSH(inv->argv, inv->n_argv, sdup("1000"));
	inv->cpu = cpu;
	cpu->vendor = sdup("GenuineIntel");
	cpu->model_name = sdup("Intel(R) Xeon(R) CPU");
	cpu->has_xfeatures_mask = cpu->has_xsave_size = 1;
	cpu->xfeatures_mask = 0x2e7;
	cpu->xsave_size = 2696;
	for (int i = 0; i < 8; i++)
		PUSH(cpu->cpuid_words, cpu->n_cpuid_words, 0x7ffafbff ^ (uint32_t)i);
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		PUSH(cpu->flags, cpu->n_flags, sdup(flags[i]));
	inv->timens = NEW(Rtcr__Timens, rtcr__timens__init);
	inv->timens->has_monotonic_ns = inv->timens->has_boottime_ns = 1;
	inv->timens->has_realtime_ns = 1;
	inv->timens->monotonic_ns = 123456789012;
	inv->timens->boottime_ns = 123456789999;
	inv->timens->realtime_ns = 1735689600000000000ULL;

	for (size_t i = 0; i < nproc; i++)
		PUSH(m->processes, m->n_processes,
		     process((uint32_t)(1 + i), i ? 1 : 0, nvma_extra, xsave_len));
	PUSH(m->files, m->n_files, file(1, RTCR__FILE_KIND__FILE_CHR, "/dev/null", O_RDONLY));
	PUSH(m->files, m->n_files, file(2, RTCR__FILE_KIND__FILE_LOG, NULL, O_WRONLY));
	PUSH(m->files, m->n_files, file(3, RTCR__FILE_KIND__FILE_LOG, NULL, O_WRONLY));
	PUSH(m->files, m->n_files,
	     file(4, RTCR__FILE_KIND__FILE_REG, "/home/user/out.log", O_WRONLY | O_APPEND));
	PUSH(m->files, m->n_files, file(5, RTCR__FILE_KIND__FILE_DIR, "/home/user", O_RDONLY));
	{
		Rtcr__Shmem *s = NEW(Rtcr__Shmem, rtcr__shmem__init);

		s->has_id = s->has_size = s->has_memfd = s->has_seals = 1;
		s->id = 1;
		s->size = 4096;
		s->name = sdup("memfd:state");
		s->memfd = 1;
		s->seals = 1;
		PUSH(m->shmem, m->n_shmem, s);
	}
	return m;
}

static int write_seed(const char *outdir, const char *seed, Rtcr__Image *m,
		      const struct img_page_src *runs, size_t nruns)
{
	char tmpl[] = "/tmp/gen-seeds-XXXXXX", path[4096];
	int dfd, ret;

	if (!mkdtemp(tmpl))
		return 1;
	dfd = open(tmpl, O_RDONLY | O_DIRECTORY);
	ret = img_write(dfd, m, runs, nruns, NULL);
	close(dfd);
	if (ret) {
		fprintf(stderr, "%s: %s\n", seed, log_last_error());
		return 1;
	}
	snprintf(path, sizeof(path), "cp %s/rtcr.img %s/%s && rm -rf %s", tmpl, outdir, seed, tmpl);
	return system(path) != 0;
}

int main(int argc, char **argv)
{
	static uint8_t pages[64 * 4096];
	struct img_page_src runs[600];
	size_t n = 0;
	Rtcr__Image *m;
	int bad = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	for (size_t i = 0; i < sizeof(pages); i++)
		pages[i] = (uint8_t)(i * 13 + (i >> 12));

	/* full: one process, 15 vmas, every kind of run. */
	m = image("sleep", 1, 0, 1088);
	runs[n++] = (struct img_page_src){0x55555555c000, 1, 0, 0, pages};
	runs[n++] = (struct img_page_src){0x55555555d000, 3, 0, 0, pages};
	runs[n++] = (struct img_page_src){0x7ffff7f50000, 4, 0, 0, pages};
	runs[n++] = (struct img_page_src){0x7ffff7f54000, 13, 0, 0, pages};
	runs[n++] = (struct img_page_src){0, 1, 1, 0, pages};
	runs[n++] = (struct img_page_src){0x7fffffffa000, 5, 0, 0, pages};
	bad |= write_seed(argv[1], "full.img", m, runs, n);
	img_meta_free(m);

	/* minimal: the least a valid image has. */
	m = NEW(Rtcr__Image, rtcr__image__init);
	m->inventory = NEW(Rtcr__Inventory, rtcr__inventory__init);
	m->inventory->name = sdup("x");
	m->inventory->image_id = sdup("ffffffffffffffffffffffffffffffff");
	PUSH(m->processes, m->n_processes, NEW(Rtcr__Process, rtcr__process__init));
	m->processes[0]->has_pid = 1;
	m->processes[0]->pid = 1;
	PUSH(m->processes[0]->threads, m->processes[0]->n_threads,
	     NEW(Rtcr__Thread, rtcr__thread__init));
	m->processes[0]->threads[0]->has_tid = 1;
	m->processes[0]->threads[0]->tid = 1;
	m->processes[0]->threads[0]->regs = NEW(Rtcr__UserRegs, rtcr__user_regs__init);
	bad |= write_seed(argv[1], "minimal.img", m, NULL, 0);
	img_meta_free(m);

	/* multi: three processes, runs naming their pid. */
	m = image("tree", 3, 0, 576);
	n = 0;
	for (uint32_t pid = 1; pid <= 3; pid++) {
		runs[n++] = (struct img_page_src){0x55555555d000, 2, 0, pid, pages};
		runs[n++] = (struct img_page_src){0x7ffffffde000 + pid * 4096, 1, 0, pid, pages};
	}
	runs[n++] = (struct img_page_src){0, 1, 1, 0, pages};
	bad |= write_seed(argv[1], "multi.img", m, runs, n);
	img_meta_free(m);

	/* many: 200 small anonymous vmas with a run each, and a 33-page heap run. */
	m = image("many", 1, 200, 0);
	n = 0;
	for (size_t i = 0; i < 200; i++)
		runs[n++] = (struct img_page_src){0x7ff000000000 + i * 0x3000, 1, 0, 0, pages};
	runs[n++] = (struct img_page_src){0x55555555d000, 33, 0, 0, pages};
	bad |= write_seed(argv[1], "many.img", m, runs, n);
	img_meta_free(m);
	return bad;
}
