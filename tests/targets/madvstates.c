/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * madvstates: the madvise/mlock/mseal state of mappings. For each state a
 * process can set (MADV_SEQUENTIAL, MADV_RANDOM, MADV_DONTFORK,
 * MADV_DONTDUMP, MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_MERGEABLE,
 * MADV_WIPEONFORK, mlock, mlock2(MLOCK_ONFAULT), mseal, and a mix of
 * several) two private anonymous regions of 4 pages with data: one advised
 * whole, one only in its middle two pages (split in three VMAs); one
 * read-only region with data advised in its middle; a MAP_DROPPABLE region
 * (its data not checked: the kernel may drop it). The VmFlags line of
 * every VMA of the regions (/proc/self/smaps) is recorded before READY; on
 * SIGUSR1 they must be the same, VMA for VMA, and the data intact.
 */
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "tgt.h"

#define PAGE 4096UL
#define NP   4

#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif
#ifndef __NR_mseal
#define __NR_mseal 462
#endif

enum { A_MLOCK = 1000, A_ONFAULT, A_SEAL, A_MIX };

static const struct {
	int advice;
	const char *name;
} states[] = {
    {MADV_SEQUENTIAL, "sequential"},
    {MADV_RANDOM, "random"},
    {MADV_DONTFORK, "dontfork"},
    {MADV_DONTDUMP, "dontdump"},
    {MADV_HUGEPAGE, "hugepage"},
    {MADV_NOHUGEPAGE, "nohugepage"},
    {MADV_MERGEABLE, "mergeable"},
    {MADV_WIPEONFORK, "wipeonfork"},
    {A_MLOCK, "mlock"},
    {A_ONFAULT, "mlock-onfault"},
    {A_SEAL, "mseal"},
    {A_MIX, "random+dontdump+dontfork+nohugepage"},
};
#define NSTATES (sizeof(states) / sizeof(states[0]))
#define NREG	(2 * NSTATES + 2)
#define RO	(NREG - 2)
#define DROP	(NREG - 1)
#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif

static char *reg[NREG];
static char before[NREG][2048];

static int advise(char *p, size_t len, int a)
{
	switch (a) {
	case A_MLOCK:
		return mlock(p, len);
	case A_ONFAULT:
		return (int)syscall(__NR_mlock2, p, len, MLOCK_ONFAULT);
	case A_SEAL:
		return (int)syscall(__NR_mseal, p, len, 0);
	case A_MIX:
		return madvise(p, len, MADV_RANDOM) || madvise(p, len, MADV_DONTDUMP) ||
		       madvise(p, len, MADV_DONTFORK) || madvise(p, len, MADV_NOHUGEPAGE);
	default:
		return madvise(p, len, a);
	}
}

/* "start-end flags|" for every VMA inside [p, p + NP pages) */
static void vmflags(const char *p, char *out, size_t outlen)
{
	unsigned long lo = (unsigned long)p, hi = lo + NP * PAGE, s = 0, e = 0, a, b;
	char line[512];
	size_t o = 0;
	bool in = false;
	FILE *f = fopen("/proc/self/smaps", "re");

	out[0] = '\0';
	if (!f) {
		snprintf(out, outlen, "smaps: %s", strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		if (line[0] >= '0' && line[0] <= 'f' && sscanf(line, "%lx-%lx ", &a, &b) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			s = a;
			e = b;
			in = s >= lo && e <= hi;
			continue;
		}
		if (in && !strncmp(line, "VmFlags:", 8) && o < outlen) {
			line[strcspn(line, "\n")] = '\0';
			o += (size_t)snprintf(out + o, outlen - o, "+%lx-%lx %s|", s - lo, e - lo,
					      line + 9);
		}
	}
	fclose(f);
}

int main(void)
{
	size_t n = 0;
	char *area;

	tgt_install_usr1();
	/* one reservation, a free page between regions so that none merge;
	 * at an address whose hex starts with a letter (0xa0...: a smaps
	 * reader once took such a mapping's first line for a field and gave
	 * its flags to the mapping before) */
	area = mmap((void *)0xa000000000UL, NREG * (NP + 1) * PAGE, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	SETUP(area == (void *)0xa000000000UL, "mmap at 0xa000000000");
	for (size_t i = 0; i < NREG; i++) {
		reg[i] = area + i * (NP + 1) * PAGE;
		SETUP(mmap(reg[i], NP * PAGE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == reg[i],
		      "mmap region");
		for (size_t k = 0; k < NP * PAGE; k++)
			reg[i][k] = (char)(i * 7 + k % 251 + 1);
		SETUP(munmap(reg[i] + NP * PAGE, PAGE) == 0, "munmap gap");
	}
	for (size_t s = 0; s < NSTATES; s++) {
		if (advise(reg[2 * s], NP * PAGE, states[s].advice) ||
		    advise(reg[2 * s + 1] + PAGE, 2 * PAGE, states[s].advice)) {
			if (errno == ENOSYS ||
			    (errno == EINVAL && states[s].advice == MADV_MERGEABLE))
				say("note: %s not available here (%s)", states[s].name,
				    strerror(errno));
			else
				SETUP(0, states[s].name);
		}
	}
	SETUP(mprotect(reg[RO], NP * PAGE, PROT_READ) == 0, "mprotect");
	SETUP(madvise(reg[RO] + PAGE, PAGE, MADV_RANDOM) == 0, "madvise read-only");
	if (mmap(reg[DROP], NP * PAGE, PROT_READ | PROT_WRITE,
		 MAP_DROPPABLE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
		say("note: MAP_DROPPABLE not available here (%s)", strerror(errno));
	else
		memset(reg[DROP], 1, NP * PAGE);
	for (size_t i = 0; i < NREG; i++) {
		vmflags(reg[i], before[i], sizeof(before[i]));
		n += strlen(before[i]);
	}
	say("READY %zu", n);
	tgt_wait_usr1();
	for (size_t i = 0; i < NREG; i++) {
		char now[2048];
		const char *what = i < RO    ? states[i / 2].name
				   : i == RO ? "read-only"
					     : "droppable";

		vmflags(reg[i], now, sizeof(now));
		CHECK(!strcmp(now, before[i]), "%s (%s): VmFlags were %s now %s", what,
		      i % 2 ? "middle" : "whole", before[i], now);
		for (size_t k = 0; k < NP * PAGE && i != DROP; k++) {
			if (reg[i][k] != (char)(i * 7 + k % 251 + 1)) {
				CHECK(0, "%s: byte %zu differs", what, k);
				break;
			}
		}
	}
	tgt_finish();
}
