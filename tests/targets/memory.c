/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * memory [MIB [SEED [DIR]]]: fills memory of every kind with data derived
 * from SEED (default MIB 256, SEED 1, DIR $TMPDIR or /tmp), prints READY,
 * and on SIGUSR1 verifies every byte and every mapping's protection and
 * kind in /proc/self/maps, then prints PASS or FAIL: <what>.
 *
 * Kinds: anonymous private memory (MIB MiB of xorshift data), a sparse
 * anonymous region (every third page written, the rest never touched and
 * so must read as zero), a read-only anonymous region, initialized data
 * and bss arrays, a stack array, a brk heap after thousands of malloc/free
 * of random sizes (a known subset kept with contents; the break itself must
 * not move), a private file mapping of a file created in DIR (some pages
 * written copy-on-write; the file must still hold the original bytes), a
 * read-only view of the same file, a PROT_NONE reservation, a
 * MAP_SHARED|MAP_ANONYMOUS region and a memfd mapped MAP_SHARED (the fd
 * closed: the mapping is its only reference).
 */
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "tgt.h"

#define PAGE 4096UL
#define MIB  (1024UL * 1024UL)

static uint64_t seed;

static uint64_t xs(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static uint64_t mkseed(uint64_t salt)
{
	uint64_t s = (seed + 1) * 0x9e3779b97f4a7c15ULL ^ salt * 0xbf58476d1ce4e5b9ULL;
	return s ? s : 1;
}

static void fill(void *p, size_t len, uint64_t salt)
{
	uint64_t s = mkseed(salt), *w = p;
	for (size_t i = 0; i < len / 8; i++)
		w[i] = xs(&s);
}

/* Number of 64-bit words that differ; *first gets the first bad offset. */
static size_t verify_fill(const void *p, size_t len, uint64_t salt, size_t *first)
{
	uint64_t s = mkseed(salt);
	const uint64_t *w = p;
	size_t bad = 0;
	for (size_t i = 0; i < len / 8; i++) {
		if (w[i] != xs(&s)) {
			if (!bad)
				*first = i * 8;
			bad++;
		}
	}
	return bad;
}

static void check_fill(const char *what, const void *p, size_t len, uint64_t salt)
{
	size_t first = 0, bad = verify_fill(p, len, salt, &first);
	CHECK(bad == 0, "%s: %zu of %zu words differ, first at offset %#zx (%p)", what, bad,
	      len / 8, first, (const char *)p + first);
}

static void check_zero(const char *what, const void *p, size_t len)
{
	const uint64_t *w = p;
	for (size_t i = 0; i < len / 8; i++) {
		if (w[i]) {
			CHECK(0, "%s: never written memory is not zero at offset %#zx", what,
			      i * 8);
			return;
		}
	}
}

/* ---- the memory ---- */
#define DATA_WORDS 8192
#define DATA_INIT  0x0123456789abcdefULL
static uint64_t data_arr[DATA_WORDS] = {[0 ... DATA_WORDS - 1] = DATA_INIT};
#define BSS_SIZE (3 * MIB)
static uint8_t bss_arr[BSS_SIZE];

#define SLOTS 2000
static struct {
	unsigned char *p;
	size_t size;
	uint64_t gen;
} slot[SLOTS];
static void *brk_at_ready;

#define FILE_PAGES 64
static const int cow_pages[] = {0, 3, 10, 11, 40, 63};

struct region {
	const char *what;
	void *addr;
	size_t len;
	const char *perms;
	const char *path; /* "" anonymous, NULL: don't check, else prefix of the path */
};
static struct region regions[16];
static int nregions;

static void add_region(const char *what, void *addr, size_t len, const char *perms,
		       const char *path)
{
	regions[nregions++] = (struct region){what, addr, len, perms, path};
}

static void *map(size_t len, int prot, int flags, int fd, const char *what)
{
	void *p = mmap(NULL, len, prot, flags, fd, 0);
	SETUP(p != MAP_FAILED, what);
	return p;
}

/* ---- /proc/self/maps ---- */
static char maps_buf[1 << 20];

static void check_maps(void)
{
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	SETUP(fd >= 0, "open /proc/self/maps");
	size_t n = 0;
	ssize_t r;
	while ((r = read(fd, maps_buf + n, sizeof(maps_buf) - 1 - n)) > 0)
		n += r;
	close(fd);
	maps_buf[n] = 0;

	for (int i = 0; i < nregions; i++) {
		struct region *rg = &regions[i];
		uintptr_t a = (uintptr_t)rg->addr, e = a + rg->len;
		int found = 0;
		for (char *line = maps_buf; line && *line;) {
			char *nl = strchr(line, '\n');
			if (nl)
				*nl = 0;
			unsigned long s, t, off, ino;
			char perms[8], dev[16];
			int pos = 0;
			if (sscanf(line, "%lx-%lx %7s %lx %15s %lu %n", &s, &t, perms, &off, dev,
				   &ino, &pos) >= 6 &&
			    s <= a && a < t) {
				const char *path = line + pos;
				found = 1;
				CHECK(t >= e, "%s: mapping %lx-%lx does not cover %lx-%lx",
				      rg->what, s, t, (unsigned long)a, (unsigned long)e);
				CHECK(!strcmp(perms, rg->perms), "%s: protection %s, expected %s",
				      rg->what, perms, rg->perms);
				if (rg->path && !*rg->path)
					CHECK(!*path,
					      "%s: expected anonymous memory, maps says '%s'",
					      rg->what, path);
				else if (rg->path)
					CHECK(!strncmp(path, rg->path, strlen(rg->path)),
					      "%s: maps names '%s', expected '%s'", rg->what, path,
					      rg->path);
			}
			if (nl)
				*nl = '\n';
			line = nl ? nl + 1 : NULL;
			if (found)
				break;
		}
		CHECK(found, "%s: no mapping at %p in /proc/self/maps", rg->what, rg->addr);
	}
}

static unsigned char file_byte(size_t i)
{
	return (unsigned char)((i * 131 + (i >> 12) * 7 + seed) & 0xff);
}

int main(int argc, char **argv)
{
	long mib = tgt_arg_long(argc, argv, 1, 256);
	seed = (uint64_t)tgt_arg_long(argc, argv, 2, 1);
	const char *dir = argc > 3 ? argv[3] : getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	if (mib < 1) {
		say("usage: memory [MIB [SEED [DIR]]]");
		return 2;
	}
	tgt_install_usr1();

	/* Keep every allocation on the brk heap, and no trimming. */
	mallopt(M_MMAP_THRESHOLD, 64 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 512 * 1024 * 1024);

	/* Anonymous private: the bulk. */
	size_t big_len = (size_t)mib * MIB;
	uint8_t *big =
	    map(big_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, "mmap anonymous");
	fill(big, big_len, 1);
	add_region("anonymous", big, big_len, "rw-p", "");

	/* Sparse: every third page written. */
	size_t sparse_len = 8 * MIB;
	uint8_t *sparse =
	    map(sparse_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, "mmap sparse");
	for (size_t p = 0; p < sparse_len / PAGE; p += 3)
		fill(sparse + p * PAGE, PAGE, 1000 + p);
	add_region("sparse anonymous", sparse, sparse_len, "rw-p", "");

	/* Read-only anonymous. */
	size_t ro_len = 1 * MIB;
	uint8_t *ro =
	    map(ro_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, "mmap read-only");
	fill(ro, ro_len, 2);
	SETUP(mprotect(ro, ro_len, PROT_READ) == 0, "mprotect");
	add_region("read-only anonymous", ro, ro_len, "r--p", "");

	/* Data and bss. */
	for (size_t i = 0; i < DATA_WORDS; i += 4)
		data_arr[i] = mkseed(3) ^ i;
	fill(bss_arr, 2 * MIB, 4); /* the last MiB stays zero */

	/* Stack. */
	volatile uint64_t stack_arr[32768];
	{
		uint64_t s = mkseed(5);
		for (size_t i = 0; i < 32768; i++)
			stack_arr[i] = xs(&s);
	}

	/* brk heap churn. */
	{
		uint64_t s = mkseed(6);
		for (int op = 0; op < 20000; op++) {
			int k = xs(&s) % SLOTS;
			if (slot[k].p) {
				free(slot[k].p);
				slot[k].p = NULL;
				continue;
			}
			size_t size = 1 + xs(&s) % 20000;
			slot[k].p = malloc(size);
			SETUP(slot[k].p != NULL, "malloc");
			slot[k].size = size;
			slot[k].gen = op;
			for (size_t j = 0; j < size; j++)
				slot[k].p[j] = (unsigned char)(k * 7 + op + j * 13);
		}
	}

	/* Private file mapping: written pages become private copies. */
	char path[4096];
	snprintf(path, sizeof(path), "%s/rtcr-memory-map.XXXXXX", dir);
	int fd = mkstemp(path);
	SETUP(fd >= 0, "mkstemp");
	size_t flen = FILE_PAGES * PAGE;
	{
		static unsigned char fbuf[FILE_PAGES * 4096];
		for (size_t i = 0; i < flen; i++)
			fbuf[i] = file_byte(i);
		SETUP(write(fd, fbuf, flen) == (ssize_t)flen, "write map file");
	}
	uint8_t *fmap = map(flen, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, "mmap file private");
	for (size_t i = 0; i < sizeof(cow_pages) / sizeof(cow_pages[0]); i++)
		fill(fmap + cow_pages[i] * PAGE, PAGE, 100 + cow_pages[i]);
	add_region("private file mapping", fmap, flen, "rw-p", path);
	uint8_t *fro = map(flen, PROT_READ, MAP_PRIVATE, fd, "mmap file read-only");
	add_region("read-only file mapping", fro, flen, "r--p", path);
	close(fd);

	/* PROT_NONE reservation. */
	size_t none_len = 16 * MIB;
	void *none = map(none_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
			 "mmap PROT_NONE");
	add_region("PROT_NONE reservation", none, none_len, "---p", "");

	/* Shared anonymous. */
	size_t shm_len = 4 * MIB;
	uint8_t *shm = map(shm_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
			   "mmap shared anonymous");
	fill(shm, shm_len, 7);
	add_region("shared anonymous", shm, shm_len, "rw-s", "/dev/zero (deleted)");

	/* memfd, shared. */
	size_t mfd_len = 4 * MIB;
	int mfd = memfd_create("rtcr-test-memfd", MFD_CLOEXEC);
	SETUP(mfd >= 0, "memfd_create");
	SETUP(ftruncate(mfd, mfd_len) == 0, "ftruncate memfd");
	uint8_t *mfdmap = map(mfd_len, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, "mmap memfd");
	fill(mfdmap, mfd_len, 8);
	close(mfd);
	add_region("memfd", mfdmap, mfd_len, "rw-s", "/memfd:rtcr-test-memfd (deleted)");

	brk_at_ready = sbrk(0);
	say("memory: %ld MiB anonymous at %p, file %s", mib, (void *)big, path);
	say("READY");
	tgt_wait_usr1();

	/* ---- verify ---- */
	void *brk_now = sbrk(0);
	CHECK(brk_now == brk_at_ready, "program break moved: %p, was %p", brk_now, brk_at_ready);
	check_fill("anonymous", big, big_len, 1);
	for (size_t p = 0; p < sparse_len / PAGE; p++) {
		char what[64];
		snprintf(what, sizeof(what), "sparse page %zu", p);
		if (p % 3 == 0)
			check_fill(what, sparse + p * PAGE, PAGE, 1000 + p);
		else
			check_zero(what, sparse + p * PAGE, PAGE);
	}
	check_fill("read-only anonymous", ro, ro_len, 2);
	for (size_t i = 0; i < DATA_WORDS; i++) {
		uint64_t want = i % 4 == 0 ? mkseed(3) ^ i : DATA_INIT;
		if (data_arr[i] != want) {
			CHECK(0, "data: word %zu is %#llx, expected %#llx", i,
			      (unsigned long long)data_arr[i], (unsigned long long)want);
			break;
		}
	}
	check_fill("bss", bss_arr, 2 * MIB, 4);
	check_zero("bss tail", bss_arr + 2 * MIB, BSS_SIZE - 2 * MIB);
	{
		uint64_t s = mkseed(5);
		size_t bad = 0;
		for (size_t i = 0; i < 32768; i++)
			bad += stack_arr[i] != xs(&s);
		CHECK(bad == 0, "stack: %zu words differ", bad);
	}
	{
		int kept = 0;
		for (int k = 0; k < SLOTS; k++) {
			if (!slot[k].p)
				continue;
			kept++;
			for (size_t j = 0; j < slot[k].size; j++) {
				if (slot[k].p[j] != (unsigned char)(k * 7 + slot[k].gen + j * 13)) {
					CHECK(0,
					      "heap block %d (%zu bytes at %p): byte %zu differs",
					      k, slot[k].size, (void *)slot[k].p, j);
					break;
				}
			}
		}
		CHECK(kept > 100, "heap: only %d blocks kept", kept);
	}
	for (size_t p = 0; p < FILE_PAGES; p++) {
		int cow = 0;
		for (size_t i = 0; i < sizeof(cow_pages) / sizeof(cow_pages[0]); i++)
			cow |= cow_pages[i] == (int)p;
		char what[64];
		snprintf(what, sizeof(what), "private file mapping page %zu", p);
		if (cow) {
			check_fill(what, fmap + p * PAGE, PAGE, 100 + p);
		} else {
			for (size_t i = 0; i < PAGE; i++)
				if (fmap[p * PAGE + i] != file_byte(p * PAGE + i)) {
					CHECK(0, "%s: byte %zu differs from the file", what, i);
					break;
				}
		}
		for (size_t i = 0; i < PAGE; i++)
			if (fro[p * PAGE + i] != file_byte(p * PAGE + i)) {
				CHECK(0, "read-only file mapping page %zu: byte %zu differs", p, i);
				break;
			}
	}
	{
		/* The file must not have been written (copy-on-write pages are private). */
		static unsigned char fbuf[FILE_PAGES * 4096];
		int f = open(path, O_RDONLY | O_CLOEXEC);
		CHECK(f >= 0, "reopen %s: %s", path, strerror(errno));
		if (f >= 0) {
			CHECK(read(f, fbuf, flen) == (ssize_t)flen, "read %s", path);
			for (size_t i = 0; i < flen; i++)
				if (fbuf[i] != file_byte(i)) {
					CHECK(0, "%s: byte %zu of the file was changed", path, i);
					break;
				}
			close(f);
		}
	}
	check_fill("shared anonymous", shm, shm_len, 7);
	check_fill("memfd", mfdmap, mfd_len, 8);
	check_maps();

	/* The allocator must still work on the restored heap. */
	{
		uint64_t s = mkseed(9);
		for (int op = 0; op < 5000; op++) {
			int k = xs(&s) % SLOTS;
			if (slot[k].p) {
				free(slot[k].p);
				slot[k].p = NULL;
			} else {
				slot[k].size = 1 + xs(&s) % 20000;
				slot[k].p = malloc(slot[k].size);
				CHECK(slot[k].p != NULL, "malloc after restore failed");
				if (!slot[k].p)
					break;
				memset(slot[k].p, 0x5a, slot[k].size);
			}
		}
	}
	tgt_finish();
}
