/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dirtier MODE MIB [SEED]: a self-verifying memory writer for incremental
 * checkpoints (dirty page tracking) and migration.
 *
 * It maps MIB MiB of anonymous private memory and fills every page. Every
 * page has an identity (ident, fixed when the page is created, kept when the
 * page is moved by mremap) and a generation (gen, incremented each time the
 * page is written); both live in a table in ordinary anonymous memory, apart
 * from the pages. A page holds:
 *     word 0 = gen, word 1 = ident, word w >= 2 = mix(SEED, ident, gen, w)
 * so a page that is stale (an older generation: a write an incremental
 * checkpoint missed), misplaced (another page's content) or corrupted is
 * found. Generations start at 1; a page discarded with MADV_DONTNEED is
 * marked in the table and must read as zero.
 *
 * Output (one write(2) per line; fd 1):
 *   READY                      set up (once)
 *   STEP n                     a step (SIGUSR2) begins; n counts from 1
 *   W 0x<start>-0x<end>        pages written (or newly mapped, or moved to
 *                              there) in this step: virtual addresses, end
 *                              exclusive, sorted, adjacent ranges merged
 *   Z 0x<start>-0x<end>        (churn) pages discarded with MADV_DONTNEED in
 *                              this step: they read as zero now
 *   U 0x<start>-0x<end>        (churn) pages unmapped in this step
 *   M 0x<s>-0x<e> 0x<d>-0x<f>  (churn) pages moved by mremap from s..e to
 *                              d..f (f - d may be larger: the rest is new
 *                              and zero); d..f is also given as a W range
 *   DONE n                     the step is over
 *   PASS | FAIL: <region, page, expected gen, what was found>  on SIGUSR1
 *                              (at most 20 FAIL lines, then
 *                              "FAIL: N check(s) failed"); exit 0 or 1
 * What an incremental checkpoint taken after step n must store again, on
 * top of the one taken before it, is at least the union of the W and Z
 * ranges of step n (U ranges are gone).
 *
 * MODES (each step is run by the main loop when SIGUSR2 came; the signal
 * handlers only count signals):
 *   sweep    each step writes the next 1/8 of the region (wrapping)
 *   random   each step writes 64 random pages (seeded PRNG)
 *   hot      each step writes the same page (the middle one) 1000 times
 *   churn    each step unmaps a part of a region (splitting it), maps and
 *            fills a new region, moves a part of a region with mremap
 *            (MREMAP_MAYMOVE|MREMAP_FIXED, growing it by 2 zero pages),
 *            discards two short runs of pages (MADV_DONTNEED) and writes
 *            16 random pages. Verification covers every live region, the
 *            discarded pages (zero) and the unmapped ranges (must stay
 *            unmapped, checked with mincore).
 *   brk      there is also a 1 MiB heap made with sbrk; each step grows it
 *            by 1 MiB with sbrk, fills the new part and writes 8 random old
 *            heap pages. The program calls no malloc.
 *   fork     like sweep, and the first step also forks a child that runs
 *            the same sweep on its copy, from the other half of the region
 *            and with other generations (gen += 2^32 + 1), so parent and
 *            child memory differ. The parent forwards every later SIGUSR2
 *            to the child. Child lines: "child STEP n", "child W ...",
 *            "child DONE n", "PASS child" or "FAIL child: ...". On SIGUSR1
 *            the parent sends SIGUSR1 to the child, verifies itself, waits
 *            for the child and fails if the child failed or was killed; its
 *            own verdict (PASS or FAIL) is the last line. The child has
 *            PR_SET_PDEATHSIG SIGKILL.
 *   furious  after READY, writes random pages as fast as it can (in the
 *            main thread, no output) until SIGUSR1; then verifies. It says
 *            how many pages it wrote ("furious: N pages written") before
 *            the verdict. SIGUSR2 is ignored.
 *
 * For tests of the test: DIRTIER_CORRUPT=byte|1 (flip a byte of a page),
 * =stale (put back the content of the previous generation of a page: a lost
 * write), =zero (a byte into a discarded page; churn), =unmapped (map a page
 * in an unmapped range; churn) just before verifying; in fork mode the child
 * reads DIRTIER_CORRUPT_CHILD instead. All of these must give FAIL.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "tgt.h"

#define PAGE	  4096UL
#define WORDS	  (PAGE / 8)
#define ZERO_BIT  (1ULL << 63)
#define MAXREG	  512
#define CROWDED	  48
#define MAXHOLES  1024
#define MAXRANGES 4096

enum mode { SWEEP, RANDOM, HOT, CHURN, BRK, FORK, FURIOUS };
static const char *const mode_names[] = {"sweep", "random", "hot",    "churn",
					 "brk",	  "fork",   "furious"};

struct pinfo {
	uint64_t ident;
	uint64_t gen; /* ZERO_BIT: discarded, must read zero */
};

struct region {
	int live;
	int is_brk;
	char name[32];
	uint8_t *addr;
	size_t npages;
	size_t cap;	    /* entries allocated in info */
	struct pinfo *info; /* mmap'd, apart from the pages */
};

static enum mode mode;
static uint64_t seed;
static struct region reg[MAXREG];
static int nreg; /* slots used (some may be dead) */
static uint64_t region_serial;
static size_t init_pages;

/* The page being written (index in its region, and its address), -1 when
 * none: a debugger or a checkpoint taken by surprise sees what is half done.
 * Compiler barriers keep the page's stores between the two updates. */
static volatile long writing = -1;
static volatile uintptr_t writing_addr;
/* The last page written by write_page (for DIRTIER_CORRUPT=stale). */
static struct region *last_r;
static size_t last_i;

static volatile sig_atomic_t usr2_count;
static sig_atomic_t usr2_handled;
static long step_no;
static uint64_t gen_step = 1;

static int is_child;
static pid_t child_pid;
static const char *prefix = ""; /* "child " in the child of fork mode */

static uint64_t rng_state;

/* ---- hashing and content ---- */
/* mix64: tgt.h */
static uint64_t page_base(uint64_t ident, uint64_t gen)
{
	return mix64(seed * 0x9e3779b97f4a7c15ULL ^ mix64(ident * 0xd6e8feb86659fd93ULL + gen));
}

static uint64_t word_at(uint64_t base, size_t w)
{
	return mix64(base + w * 0x9e3779b97f4a7c15ULL);
}

static void fill_page(uint8_t *p, uint64_t ident, uint64_t gen)
{
	uint64_t *w = (uint64_t *)p, base = page_base(ident, gen);
	w[0] = gen;
	w[1] = ident;
	for (size_t i = 2; i < WORDS; i++)
		w[i] = word_at(base, i);
}

static uint64_t rnd(void)
{
	/* xorshift64* */
	uint64_t x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static size_t rnd_below(size_t n)
{
	return n ? (size_t)(rnd() % n) : 0;
}

/* ---- output ---- */
#define out(fmt, ...) say("%s" fmt, prefix, ##__VA_ARGS__)

static void failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void failf(const char *fmt, ...)
{
	char buf[900];
	va_list ap;
	if (tgt_failures++ >= 20)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	say("FAIL%s: %s", is_child ? " child" : "", buf);
}

/* Ranges written / discarded / unmapped in the current step. */
struct range {
	uintptr_t s, e;
};
static struct range wr[MAXRANGES];
static int nwr;

static void merge_written(void);

static void mark_written(const void *addr, size_t len)
{
	uintptr_t s = (uintptr_t)addr;
	if (nwr && wr[nwr - 1].e == s) { /* sequential writes */
		wr[nwr - 1].e += len;
		return;
	}
	if (nwr == MAXRANGES)
		merge_written();
	SETUP(nwr < MAXRANGES, "too many written ranges in one step");
	wr[nwr].s = s;
	wr[nwr].e = s + len;
	nwr++;
}

/* Shell sort by start: qsort may call malloc, and brk mode owns the heap. */
static void sort_ranges(struct range *r, int n)
{
	static const int gaps[] = {701, 301, 132, 57, 23, 10, 4, 1};
	for (size_t g = 0; g < sizeof(gaps) / sizeof(gaps[0]); g++) {
		for (int i = gaps[g]; i < n; i++) {
			struct range t = r[i];
			int j = i;
			for (; j >= gaps[g] && r[j - gaps[g]].s > t.s; j -= gaps[g])
				r[j] = r[j - gaps[g]];
			r[j] = t;
		}
	}
}

/* Sort and merge overlapping or adjacent ranges, in place. */
static void merge_written(void)
{
	int n = 0;
	sort_ranges(wr, nwr);
	for (int i = 0; i < nwr;) {
		uintptr_t s = wr[i].s, e = wr[i].e;
		int j = i + 1;
		while (j < nwr && wr[j].s <= e) {
			if (wr[j].e > e)
				e = wr[j].e;
			j++;
		}
		wr[n].s = s;
		wr[n].e = e;
		n++;
		i = j;
	}
	nwr = n;
}

static void flush_written(void)
{
	merge_written();
	for (int i = 0; i < nwr; i++)
		out("W %#lx-%#lx", (unsigned long)wr[i].s, (unsigned long)wr[i].e);
	nwr = 0;
}

/* ---- holes: ranges unmapped by churn, which must stay unmapped ---- */
static struct range holes[MAXHOLES];
static int nholes;

static void hole_add(uintptr_t s, uintptr_t e)
{
	if (nholes < MAXHOLES)
		holes[nholes++] = (struct range){s, e};
}

/* A new mapping at [s, e) (any: pages, tables): forget the holes it
 * overlaps. */
static void holes_forget(const void *p, size_t len)
{
	uintptr_t s = (uintptr_t)p, e = s + len;
	for (int i = 0; i < nholes;) {
		if (holes[i].s < e && s < holes[i].e)
			holes[i] = holes[--nholes];
		else
			i++;
	}
}

/* ---- regions ---- */
static void *xmap(size_t len, int prot, const char *what)
{
	void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	SETUP(p != MAP_FAILED, what);
	holes_forget(p, len);
	return p;
}

static void info_reserve(struct region *r, size_t n)
{
	if (n <= r->cap)
		return;
	size_t cap = r->cap ? r->cap : 16;
	while (cap < n)
		cap *= 2;
	size_t bytes = (cap * sizeof(struct pinfo) + PAGE - 1) & ~(PAGE - 1);
	void *p;
	if (r->info)
		p = mremap(r->info, (r->cap * sizeof(struct pinfo) + PAGE - 1) & ~(PAGE - 1), bytes,
			   MREMAP_MAYMOVE);
	else
		p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	SETUP(p != MAP_FAILED, "map the page table");
	holes_forget(p, bytes);
	r->info = p;
	r->cap = bytes / sizeof(struct pinfo);
}

static struct region *region_add(const char *kind, uint8_t *addr, size_t npages)
{
	int k;
	for (k = 0; k < nreg; k++)
		if (!reg[k].live && !reg[k].info)
			break;
	if (k == nreg) {
		SETUP(nreg < MAXREG, "too many regions");
		nreg++;
	}
	struct region *r = &reg[k];
	memset(r, 0, sizeof(*r));
	r->live = 1;
	snprintf(r->name, sizeof(r->name), "%s#%llu", kind, (unsigned long long)region_serial++);
	r->addr = addr;
	r->npages = npages;
	info_reserve(r, npages);
	return r;
}

static void region_drop(struct region *r)
{
	if (r->info)
		munmap(r->info, (r->cap * sizeof(struct pinfo) + PAGE - 1) & ~(PAGE - 1));
	memset(r, 0, sizeof(*r));
}

static int live_regions(void)
{
	int n = 0;
	for (int k = 0; k < nreg; k++)
		n += reg[k].live;
	return n;
}

static uint64_t new_ident(uint64_t region_id, size_t page)
{
	return (region_id << 32) | page;
}

/* Fill new pages [from, to) of r with fresh identities, generation 1. */
static void fill_new(struct region *r, size_t from, size_t to)
{
	uint64_t rid = region_serial++;
	for (size_t i = from; i < to; i++) {
		r->info[i].ident = new_ident(rid, i);
		r->info[i].gen = 1;
		writing_addr = (uintptr_t)(r->addr + i * PAGE);
		writing = (long)i;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		fill_page(r->addr + i * PAGE, r->info[i].ident, 1);
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		writing = -1;
	}
}

/* Write page i of r: next generation, whole page rewritten. */
static void write_page(struct region *r, size_t i)
{
	struct pinfo *pi = &r->info[i];
	writing_addr = (uintptr_t)(r->addr + i * PAGE);
	writing = (long)i;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	pi->gen = (pi->gen & ~ZERO_BIT) + gen_step;
	fill_page(r->addr + i * PAGE, pi->ident, pi->gen);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	writing = -1;
	last_r = r;
	last_i = i;
}

static struct region *map_region(const char *kind, size_t npages)
{
	uint8_t *p = xmap(npages * PAGE, PROT_READ | PROT_WRITE, "mmap region");
	struct region *r = region_add(kind, p, npages);
	fill_new(r, 0, npages);
	return r;
}

/* Pages [a, b) of r become a region of their own (the table entries are
 * copied). Returns NULL when empty. */
static struct region *region_piece(struct region *r, const char *kind, size_t a, size_t b)
{
	if (a >= b)
		return NULL;
	struct region *n = region_add(kind, r->addr + a * PAGE, b - a);
	memcpy(n->info, r->info + a, (b - a) * sizeof(struct pinfo));
	return n;
}

/* ---- one region picked at random among the live ones ---- */
/* The pages [*a, *b) of R to change: all of them when crowded, else an
 * eighth (at least a page) at a random place; INNER: not at either end, so
 * that R is split in two. */
static void pick_chunk(const struct region *r, int crowded, int inner, size_t *a, size_t *b)
{
	size_t chunk = r->npages / 8 ? r->npages / 8 : 1;
	if (crowded) {
		*a = 0;
		*b = r->npages;
		return;
	}
	*a = inner ? 1 + rnd_below(r->npages - chunk - 1) : rnd_below(r->npages - chunk + 1);
	*b = *a + chunk;
}

static struct region *pick_region(size_t min_pages, const struct region *except)
{
	int cand[MAXREG], n = 0;
	for (int k = 0; k < nreg; k++)
		if (reg[k].live && !reg[k].is_brk && reg[k].npages >= min_pages &&
		    &reg[k] != except)
			cand[n++] = k;
	return n ? &reg[cand[rnd_below(n)]] : NULL;
}

/* ---- the steps ---- */
static size_t sweep_cursor;

static void step_sweep(void)
{
	struct region *r = &reg[0];
	size_t k = r->npages / 8 ? r->npages / 8 : 1;
	for (size_t n = 0; n < k; n++) {
		size_t i = sweep_cursor;
		write_page(r, i);
		mark_written(r->addr + i * PAGE, PAGE);
		sweep_cursor = (sweep_cursor + 1) % r->npages;
	}
}

static void step_random(void)
{
	struct region *r = &reg[0];
	for (int n = 0; n < 64; n++) {
		size_t i = rnd_below(r->npages);
		write_page(r, i);
		mark_written(r->addr + i * PAGE, PAGE);
	}
}

static void step_hot(void)
{
	struct region *r = &reg[0];
	size_t i = r->npages / 2;
	for (int n = 0; n < 1000; n++)
		write_page(r, i);
	mark_written(r->addr + i * PAGE, PAGE);
}

static void write_random_pages(int count, int brk_only)
{
	for (int n = 0; n < count; n++) {
		struct region *r;
		if (brk_only) {
			r = NULL;
			for (int k = 0; k < nreg; k++)
				if (reg[k].live && reg[k].is_brk)
					r = &reg[k];
		} else {
			r = pick_region(1, NULL);
		}
		if (!r)
			return;
		size_t i = rnd_below(r->npages);
		write_page(r, i);
		mark_written(r->addr + i * PAGE, PAGE);
	}
}

static void step_churn(void)
{
	int crowded = live_regions() >= CROWDED;

	/* 1. unmap: a chunk from the middle of a region (splitting it), or a
	 * whole region when there are many. */
	struct region *r = crowded ? pick_region(1, &reg[0]) : pick_region(8, NULL);
	if (r) {
		size_t a, b;
		pick_chunk(r, crowded, 1, &a, &b);
		uintptr_t s = (uintptr_t)(r->addr + a * PAGE), e = (uintptr_t)(r->addr + b * PAGE);
		SETUP(munmap((void *)s, e - s) == 0, "munmap");
		out("U %#lx-%#lx", (unsigned long)s, (unsigned long)e);
		hole_add(s, e);
		region_piece(r, "split", b, r->npages);
		r->npages = a;
		if (!a)
			region_drop(r);
	}

	/* 2. a new region. */
	size_t nnew = init_pages / 32 > 16 ? init_pages / 32 : 16;
	struct region *nr = map_region("new", nnew);
	mark_written(nr->addr, nnew * PAGE);

	/* 3. mremap a part of a region (a whole region when crowded) to a new
	 * place, 2 pages larger. */
	r = crowded ? pick_region(1, nr) : pick_region(4, nr);
	if (r) {
		size_t a, b;
		pick_chunk(r, crowded, 0, &a, &b);
		size_t n = b - a, grow = 2;
		uint8_t *src = r->addr + a * PAGE;
		uint8_t *dst = xmap((n + grow) * PAGE, PROT_NONE, "mmap mremap target");
		void *got =
		    mremap(src, n * PAGE, (n + grow) * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
		SETUP(got == dst, "mremap");
		out("M %#lx-%#lx %#lx-%#lx", (unsigned long)src, (unsigned long)(src + n * PAGE),
		    (unsigned long)dst, (unsigned long)(dst + (n + grow) * PAGE));
		hole_add((uintptr_t)src, (uintptr_t)(src + n * PAGE));
		struct region *m = region_add("moved", dst, n + grow);
		memcpy(m->info, r->info + a, n * sizeof(struct pinfo));
		uint64_t rid = region_serial++;
		for (size_t i = n; i < n + grow; i++) {
			m->info[i].ident = new_ident(rid, i);
			m->info[i].gen = ZERO_BIT;
		}
		mark_written(dst, (n + grow) * PAGE);
		region_piece(r, "split", b, r->npages);
		r->npages = a;
		if (!a)
			region_drop(r);
	}

	/* 4. discard two short runs of pages. */
	for (int t = 0; t < 2; t++) {
		r = pick_region(1, NULL);
		if (!r)
			break;
		size_t len = 1 + rnd_below(4);
		if (len > r->npages)
			len = r->npages;
		size_t a = rnd_below(r->npages - len + 1);
		SETUP(madvise(r->addr + a * PAGE, len * PAGE, MADV_DONTNEED) == 0, "madvise");
		for (size_t i = a; i < a + len; i++)
			r->info[i].gen |= ZERO_BIT;
		out("Z %#lx-%#lx", (unsigned long)(r->addr + a * PAGE),
		    (unsigned long)(r->addr + (a + len) * PAGE));
	}

	/* 5. a few writes anywhere (discarded pages included). */
	write_random_pages(16, 0);
}

#define HEAP_STEP (1024UL * 1024UL)

static struct region *heap_region(void)
{
	for (int k = 0; k < nreg; k++)
		if (reg[k].live && reg[k].is_brk)
			return &reg[k];
	return NULL;
}

static void heap_grow(void)
{
	struct region *h = heap_region();
	uint8_t *p = sbrk(HEAP_STEP);
	SETUP(p != (void *)-1, "sbrk");
	SETUP(p == h->addr + h->npages * PAGE, "sbrk: the break moved behind our back");
	size_t old = h->npages, n = old + HEAP_STEP / PAGE;
	info_reserve(h, n);
	h->npages = n;
	fill_new(h, old, n);
	mark_written(p, HEAP_STEP);
}

static void heap_setup(void)
{
	uintptr_t cur = (uintptr_t)sbrk(0);
	SETUP(cur != (uintptr_t)-1, "sbrk(0)");
	uintptr_t pad = ((cur + PAGE - 1) & ~(PAGE - 1)) - cur;
	if (pad)
		SETUP(sbrk(pad) != (void *)-1, "sbrk (align)");
	struct region *h = region_add("heap", (uint8_t *)cur + pad, 0);
	h->is_brk = 1;
	heap_grow();
	nwr = 0;
}

static void step_brk(void)
{
	struct region *h = heap_region();
	size_t old = h->npages;
	heap_grow();
	for (int n = 0; n < 8; n++) {
		size_t i = rnd_below(old);
		write_page(h, i);
		mark_written(h->addr + i * PAGE, PAGE);
	}
}

static void do_step(void)
{
	step_no++;
	if (mode == FORK && !is_child) {
		if (!child_pid) {
			sigset_t block, old;
			sigemptyset(&block);
			sigaddset(&block, SIGUSR1);
			sigaddset(&block, SIGUSR2);
			sigprocmask(SIG_BLOCK, &block, &old);
			pid_t parent = getpid(), pid = fork();
			SETUP(pid >= 0, "fork");
			if (pid == 0) {
				prctl(PR_SET_PDEATHSIG, SIGKILL);
				is_child = 1;
				prefix = "child ";
				gen_step = (1ULL << 32) + 1;
				sweep_cursor = (sweep_cursor + reg[0].npages / 2) % reg[0].npages;
				rng_state = mix64(seed + 0x5eed) | 1;
				usr2_count = 0;
				usr2_handled = 0;
				tgt_usr1 = 0;
				if (getppid() != parent) /* the parent is already gone */
					_exit(1);
			} else {
				child_pid = pid;
			}
			sigprocmask(SIG_SETMASK, &old, NULL);
		} else {
			kill(child_pid, SIGUSR2);
		}
	}
	out("STEP %ld", step_no);
	switch (mode) {
	case SWEEP:
	case FORK:
		step_sweep();
		break;
	case RANDOM:
		step_random();
		break;
	case HOT:
		step_hot();
		break;
	case CHURN:
		step_churn();
		break;
	case BRK:
		step_brk();
		break;
	case FURIOUS:
		break;
	}
	flush_written();
	out("DONE %ld", step_no);
}

/* ---- verification ---- */
static void verify_region(const struct region *r)
{
	for (size_t i = 0; i < r->npages; i++) {
		const uint64_t *w = (const uint64_t *)(r->addr + i * PAGE);
		uint64_t gen = r->info[i].gen, ident = r->info[i].ident;
		unsigned long pa = (unsigned long)(uintptr_t)w;
		if (gen & ZERO_BIT) {
			for (size_t j = 0; j < WORDS; j++) {
				if (w[j]) {
					failf("region %s page %zu (%#lx): expected a zero page "
					      "(discarded), word %zu is %#llx",
					      r->name, i, pa, j, (unsigned long long)w[j]);
					break;
				}
			}
			continue;
		}
		if (w[0] != gen || w[1] != ident) {
			failf("region %s page %zu (%#lx): expected gen %llu ident %#llx, found "
			      "word0 %#llx (gen) word1 %#llx (ident)",
			      r->name, i, pa, (unsigned long long)gen, (unsigned long long)ident,
			      (unsigned long long)w[0], (unsigned long long)w[1]);
			continue;
		}
		uint64_t base = page_base(ident, gen);
		for (size_t j = 2; j < WORDS; j++) {
			uint64_t want = word_at(base, j);
			if (w[j] != want) {
				failf(
				    "region %s page %zu (%#lx): expected gen %llu, found word %zu "
				    "= %#llx, expected %#llx (word0 %#llx)",
				    r->name, i, pa, (unsigned long long)gen, j,
				    (unsigned long long)w[j], (unsigned long long)want,
				    (unsigned long long)w[0]);
				break;
			}
		}
	}
}

static void verify_holes(void)
{
	unsigned char v;
	for (int h = 0; h < nholes; h++) {
		for (uintptr_t a = holes[h].s; a < holes[h].e; a += PAGE) {
			if (mincore((void *)a, PAGE, &v) == 0 || errno != ENOMEM) {
				failf("unmapped range %#lx-%#lx: page %#lx is mapped",
				      (unsigned long)holes[h].s, (unsigned long)holes[h].e,
				      (unsigned long)a);
				break;
			}
		}
	}
}

/* Deliberate damage, to show that verification can fail. */
static void corrupt(void)
{
	const char *how = getenv(is_child ? "DIRTIER_CORRUPT_CHILD" : "DIRTIER_CORRUPT");
	if (!how || !*how || !strcmp(how, "0"))
		return;
	struct region *r = &reg[0];
	if (!r->live)
		r = pick_region(1, NULL);
	size_t i = r->npages / 2;
	uint8_t *p = r->addr + i * PAGE;
	if (!strcmp(how, "zero") || !strcmp(how, "unmapped")) {
		if (!strcmp(how, "unmapped") && nholes) {
			void *got = mmap((void *)holes[0].s, PAGE, PROT_READ,
					 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
			out("corrupt: mapped a page at %#lx in an unmapped range (%s)",
			    (unsigned long)holes[0].s, got == MAP_FAILED ? strerror(errno) : "ok");
			return;
		}
		for (int k = 0; k < nreg; k++)
			for (size_t j = 0; reg[k].live && j < reg[k].npages; j++)
				if (reg[k].info[j].gen & ZERO_BIT) {
					reg[k].addr[j * PAGE + 100] = 0x42;
					out("corrupt: wrote a byte into discarded page %zu of %s",
					    j, reg[k].name);
					return;
				}
		out("corrupt: no discarded or unmapped page, flipping a byte instead");
		how = "byte";
	}
	if (!strcmp(how, "stale")) {
		if (last_r && last_r->live && last_i < last_r->npages &&
		    !(last_r->info[last_i].gen & ZERO_BIT)) {
			r = last_r;
			i = last_i;
			p = r->addr + i * PAGE;
		}
		uint64_t g = r->info[i].gen & ~ZERO_BIT;
		fill_page(p, r->info[i].ident, g > gen_step ? g - gen_step : g - 1);
		out("corrupt: page %zu of %s holds its previous generation", i, r->name);
		return;
	}
	p[1234] ^= 0x10;
	out("corrupt: flipped a bit of page %zu of %s", i, r->name);
}

static void verify_and_exit(void)
{
	if (mode == FORK && child_pid)
		kill(child_pid, SIGUSR1);
	corrupt();
	for (int k = 0; k < nreg; k++)
		if (reg[k].live)
			verify_region(&reg[k]);
	verify_holes();
	if (mode == BRK) {
		struct region *h = heap_region();
		void *end = sbrk(0);
		if (end != h->addr + h->npages * PAGE)
			failf("the program break is %p, expected %p", end,
			      (void *)(h->addr + h->npages * PAGE));
	}
	if (mode == FORK && child_pid) {
		int st;
		pid_t w;
		while ((w = waitpid(child_pid, &st, 0)) < 0 && errno == EINTR)
			;
		if (w < 0)
			failf("waitpid(child %d): %s", (int)child_pid, strerror(errno));
		else if (WIFSIGNALED(st))
			failf("the child was killed by signal %d", WTERMSIG(st));
		else if (WEXITSTATUS(st) != 0)
			failf("the child exited with status %d", WEXITSTATUS(st));
	}
	if (tgt_failures) {
		say("FAIL%s: %d check(s) failed", is_child ? " child" : "", tgt_failures);
		exit(1);
	}
	say("PASS%s", is_child ? " child" : "");
	exit(0);
}

static void on_usr2(int sig)
{
	(void)sig;
	usr2_count++;
}

static void furious(void)
{
	struct region *r = &reg[0];
	unsigned long long n = 0;
	while (!tgt_usr1) {
		write_page(r, rnd_below(r->npages));
		n++;
	}
	say("furious: %llu pages written", n);
	verify_and_exit();
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4) {
		say("usage: dirtier sweep|random|hot|churn|brk|fork|furious MIB [SEED]");
		return 2;
	}
	int m;
	for (m = 0; m <= FURIOUS; m++)
		if (!strcmp(argv[1], mode_names[m]))
			break;
	if (m > FURIOUS) {
		say("ERROR: unknown mode '%s'", argv[1]);
		return 2;
	}
	mode = (enum mode)m;
	long mib = tgt_arg_long(argc, argv, 2, 64);
	seed = (uint64_t)tgt_arg_long(argc, argv, 3, 1);
	if (mib < 1 || mib > (1L << 20)) {
		say("ERROR: MIB must be at least 1");
		return 2;
	}
	rng_state = mix64(seed) | 1;

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = tgt_on_usr1;
	SETUP(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction(SIGUSR1)");
	sa.sa_handler = mode == FURIOUS ? SIG_IGN : on_usr2;
	SETUP(sigaction(SIGUSR2, &sa, NULL) == 0, "sigaction(SIGUSR2)");

	init_pages = (size_t)mib * (1024 * 1024 / PAGE);
	struct region *r = map_region("main", init_pages);
	if (mode == BRK)
		heap_setup();
	say("dirtier: %s, %ld MiB at %p, seed %llu", mode_names[mode], mib, (void *)r->addr,
	    (unsigned long long)seed);
	say("READY");

	if (mode == FURIOUS)
		furious();
	for (;;) {
		if (usr2_count != usr2_handled) {
			usr2_handled++;
			do_step();
			continue;
		}
		if (tgt_usr1)
			verify_and_exit();
		tgt_sleep_ms(5);
	}
}
