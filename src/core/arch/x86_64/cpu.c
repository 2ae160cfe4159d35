/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define LOG_PREFIX "cpu: "
#include "core/arch/x86_64/cpu.h"

#include <cpuid.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

/* Indexes into the recorded words (see CPU_NR_WORDS). */
enum { W_1_ECX, W_1_EDX, W_7_EBX, W_7_ECX, W_7_EDX, W_D1_EAX, W_X1_ECX, W_X1_EDX };

struct cpu_flag {
	const char *name;
	unsigned char word;
	unsigned char bit;
};

/*
 * The flags user space can act on: instructions a program or its libraries
 * may have chosen to use (ifuncs, JITs) and that fault (#UD) or behave
 * differently when missing, plus the string-copy hints glibc selects its
 * memcpy with. Names follow /proc/cpuinfo where it has one.
 */
static const struct cpu_flag cpu_flags[] = {
    /* leaf 1 ecx */
    {"sse3", W_1_ECX, 0},
    {"pclmulqdq", W_1_ECX, 1},
    {"ssse3", W_1_ECX, 9},
    {"fma", W_1_ECX, 12},
    {"cx16", W_1_ECX, 13},
    {"sse4_1", W_1_ECX, 19},
    {"sse4_2", W_1_ECX, 20},
    {"movbe", W_1_ECX, 22},
    {"popcnt", W_1_ECX, 23},
    {"aes", W_1_ECX, 25},
    {"xsave", W_1_ECX, 26},
    {"avx", W_1_ECX, 28},
    {"f16c", W_1_ECX, 29},
    {"rdrand", W_1_ECX, 30},
    /* leaf 1 edx */
    {"tsc", W_1_EDX, 4},
    {"cx8", W_1_EDX, 8},
    {"cmov", W_1_EDX, 15},
    {"clflush", W_1_EDX, 19},
    {"mmx", W_1_EDX, 23},
    {"fxsr", W_1_EDX, 24},
    {"sse", W_1_EDX, 25},
    {"sse2", W_1_EDX, 26},
    /* leaf 7.0 ebx */
    {"fsgsbase", W_7_EBX, 0},
    {"bmi1", W_7_EBX, 3},
    {"hle", W_7_EBX, 4},
    {"avx2", W_7_EBX, 5},
    {"bmi2", W_7_EBX, 8},
    {"erms", W_7_EBX, 9},
    {"rtm", W_7_EBX, 11},
    {"mpx", W_7_EBX, 14},
    {"avx512f", W_7_EBX, 16},
    {"avx512dq", W_7_EBX, 17},
    {"rdseed", W_7_EBX, 18},
    {"adx", W_7_EBX, 19},
    {"avx512ifma", W_7_EBX, 21},
    {"clflushopt", W_7_EBX, 23},
    {"clwb", W_7_EBX, 24},
    {"avx512pf", W_7_EBX, 26},
    {"avx512er", W_7_EBX, 27},
    {"avx512cd", W_7_EBX, 28},
    {"sha_ni", W_7_EBX, 29},
    {"avx512bw", W_7_EBX, 30},
    {"avx512vl", W_7_EBX, 31},
    /* leaf 7.0 ecx */
    {"prefetchwt1", W_7_ECX, 0},
    {"avx512vbmi", W_7_ECX, 1},
    {"pku", W_7_ECX, 3},
    {"waitpkg", W_7_ECX, 5},
    {"avx512_vbmi2", W_7_ECX, 6},
    {"shstk", W_7_ECX, 7},
    {"gfni", W_7_ECX, 8},
    {"vaes", W_7_ECX, 9},
    {"vpclmulqdq", W_7_ECX, 10},
    {"avx512_vnni", W_7_ECX, 11},
    {"avx512_bitalg", W_7_ECX, 12},
    {"avx512_vpopcntdq", W_7_ECX, 14},
    {"rdpid", W_7_ECX, 22},
    {"cldemote", W_7_ECX, 25},
    {"movdiri", W_7_ECX, 27},
    {"movdir64b", W_7_ECX, 28},
    {"enqcmd", W_7_ECX, 29},
    /* leaf 7.0 edx */
    {"avx512_4vnniw", W_7_EDX, 2},
    {"avx512_4fmaps", W_7_EDX, 3},
    {"fsrm", W_7_EDX, 4},
    {"uintr", W_7_EDX, 5},
    {"avx512_vp2intersect", W_7_EDX, 8},
    {"serialize", W_7_EDX, 14},
    {"tsxldtrk", W_7_EDX, 16},
    {"amx_bf16", W_7_EDX, 22},
    {"avx512_fp16", W_7_EDX, 23},
    {"amx_tile", W_7_EDX, 24},
    {"amx_int8", W_7_EDX, 25},
    /* leaf 0xd.1 eax */
    {"xsaveopt", W_D1_EAX, 0},
    {"xsavec", W_D1_EAX, 1},
    {"xgetbv1", W_D1_EAX, 2},
    {"xsaves", W_D1_EAX, 3},
    {"xfd", W_D1_EAX, 4},
    /* leaf 0x80000001 ecx */
    {"lahf_lm", W_X1_ECX, 0},
    {"lzcnt", W_X1_ECX, 5},
    {"sse4a", W_X1_ECX, 6},
    {"misalignsse", W_X1_ECX, 7},
    {"prefetchw", W_X1_ECX, 8},
    {"xop", W_X1_ECX, 11},
    {"fma4", W_X1_ECX, 16},
    {"tbm", W_X1_ECX, 21},
    /* leaf 0x80000001 edx */
    {"syscall", W_X1_EDX, 11},
    {"mmxext", W_X1_EDX, 22},
    {"rdtscp", W_X1_EDX, 27},
    {"lm", W_X1_EDX, 29},
    {"3dnowext", W_X1_EDX, 30},
    {"3dnow", W_X1_EDX, 31},
};

#define NR_CPU_FLAGS (sizeof(cpu_flags) / sizeof(cpu_flags[0]))

/* XSAVE state components, by XCR0 bit. */
static const char *const xfeature_names[] = {
    "x87",
    "sse",
    "avx",
    "mpx_bndregs",
    "mpx_bndcsr",
    "avx512_opmask",
    "avx512_zmm_hi256",
    "avx512_hi16_zmm",
    "pt",
    "pkru",
    "pasid",
    "cet_user",
    "cet_supervisor",
    "hdc",
    "uintr",
    "lbr",
    "hwp",
    "amx_tilecfg",
    "amx_tiledata",
    "apx",
};

#define NR_XFEATURE_NAMES (sizeof(xfeature_names) / sizeof(xfeature_names[0]))

struct cpu_raw {
	char vendor[13];
	char brand[49];
	uint32_t words[CPU_NR_WORDS];
	bool osxsave;
	uint64_t xcr0;
	uint32_t xsave_size;
};

static uint64_t xgetbv0(void)
{
	uint32_t lo, hi;

	asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}

static void cpu_read(struct cpu_raw *r)
{
	unsigned int a, b, c, d, max, xmax;
	char *s, *e;

	memset(r, 0, sizeof(*r));
	max = __get_cpuid_max(0, NULL);
	if (max == 0)
		return;
	__cpuid(0, a, b, c, d);
	memcpy(r->vendor, &b, 4);
	memcpy(r->vendor + 4, &d, 4);
	memcpy(r->vendor + 8, &c, 4);

	__cpuid(1, a, b, c, d);
	r->words[W_1_ECX] = c;
	r->words[W_1_EDX] = d;
	r->osxsave = c & (1u << 27);
	if (max >= 7) {
		__cpuid_count(7, 0, a, b, c, d);
		r->words[W_7_EBX] = b;
		r->words[W_7_ECX] = c;
		r->words[W_7_EDX] = d;
	}
	if (max >= 0xd) {
		__cpuid_count(0xd, 1, a, b, c, d);
		r->words[W_D1_EAX] = a;
	}
	if (r->osxsave) {
		r->xcr0 = xgetbv0();
		if (max >= 0xd) {
			__cpuid_count(0xd, 0, a, b, c, d);
			r->xsave_size = b;
		}
	}

	xmax = __get_cpuid_max(0x80000000, NULL);
	if (xmax >= 0x80000001) {
		__cpuid(0x80000001, a, b, c, d);
		r->words[W_X1_ECX] = c;
		r->words[W_X1_EDX] = d;
	}
	if (xmax >= 0x80000004) {
		for (unsigned int i = 0; i < 3; i++) {
			__cpuid(0x80000002 + i, a, b, c, d);
			memcpy(r->brand + 16 * i, &a, 4);
			memcpy(r->brand + 16 * i + 4, &b, 4);
			memcpy(r->brand + 16 * i + 8, &c, 4);
			memcpy(r->brand + 16 * i + 12, &d, 4);
		}
		r->brand[48] = '\0';
		/* The brand string is padded with spaces (leading on some Intel parts). */
		s = r->brand;
		while (*s == ' ')
			s++;
		memmove(r->brand, s, strlen(s) + 1);
		e = r->brand + strlen(r->brand);
		while (e > r->brand && e[-1] == ' ')
			*--e = '\0';
	}
}

int cpu_info_fill(Rtcr__CpuInfo *ci)
{
	struct cpu_raw r;
	size_t n = 0;

	rtcr__cpu_info__init(ci);
	cpu_read(&r);

	ci->vendor = strdup(r.vendor);
	ci->model_name = strdup(r.brand);
	ci->cpuid_words = malloc(sizeof(*ci->cpuid_words) * CPU_NR_WORDS);
	ci->flags = calloc(NR_CPU_FLAGS, sizeof(*ci->flags));
	if (!ci->vendor || !ci->model_name || !ci->cpuid_words || !ci->flags)
		goto nomem;
	memcpy(ci->cpuid_words, r.words, sizeof(r.words));
	ci->n_cpuid_words = CPU_NR_WORDS;

	for (size_t i = 0; i < NR_CPU_FLAGS; i++) {
		if (!(r.words[cpu_flags[i].word] & (1u << cpu_flags[i].bit)))
			continue;
		ci->flags[n] = strdup(cpu_flags[i].name);
		if (!ci->flags[n])
			goto nomem;
		ci->n_flags = ++n;
	}

	ci->has_xfeatures_mask = true;
	ci->xfeatures_mask = r.xcr0;
	ci->has_xsave_size = true;
	ci->xsave_size = r.xsave_size;
	return 0;

nomem:
	cpu_info_free_fields(ci);
	pr_err("out of memory recording the CPU features");
	return -ENOMEM;
}

void cpu_info_free_fields(Rtcr__CpuInfo *ci)
{
	free(ci->vendor);
	free(ci->model_name);
	free(ci->cpuid_words);
	if (ci->flags) {
		for (size_t i = 0; i < ci->n_flags; i++)
			free(ci->flags[i]);
		free(ci->flags);
	}
	rtcr__cpu_info__init(ci);
}

/* A comma-separated list in a fixed buffer that ends in "..." when cut. */
struct name_list {
	char *buf;
	size_t len;
	size_t pos;
	bool cut;
};

static void list_add(struct name_list *l, const char *name)
{
	const char *sep = l->pos ? ", " : "";
	size_t need = strlen(sep) + strlen(name);

	if (!l->buf || l->len == 0 || l->cut)
		return;
	if (l->pos + need < l->len) {
		snprintf(l->buf + l->pos, l->len - l->pos, "%s%s", sep, name);
		l->pos += need;
		return;
	}
	/* Does not fit: end with ", ...", dropping whole names to make room. */
	l->cut = true;
	while (l->pos && l->pos + 5 >= l->len) {
		do
			l->pos--;
		while (l->pos && l->buf[l->pos] != ',');
	}
	if (l->pos)
		snprintf(l->buf + l->pos, l->len - l->pos, ", ...");
	else
		snprintf(l->buf, l->len, "%s", l->len >= 4 ? "..." : "");
}

static const struct cpu_flag *flag_by_name(const char *name)
{
	for (size_t i = 0; i < NR_CPU_FLAGS; i++)
		if (strcmp(cpu_flags[i].name, name) == 0)
			return &cpu_flags[i];
	return NULL;
}

/* Hints that change only speed, never correctness: `rep movsb` runs
 * everywhere, HLE prefixes are ignored by CPUs without it. Not refused. */
static bool flag_is_hint(const char *name)
{
	return !strcmp(name, "erms") || !strcmp(name, "fsrm") || !strcmp(name, "hle");
}

int cpu_info_check(const Rtcr__CpuInfo *img, char *missing, size_t len)
{
	struct name_list l = {.buf = missing, .len = len};
	struct cpu_raw r;
	char name[64];
	int n = 0;

	if (missing && len)
		missing[0] = '\0';
	if (!img)
		return 0;
	cpu_read(&r);

	if (img->n_cpuid_words) {
		size_t nw = img->n_cpuid_words < CPU_NR_WORDS ? img->n_cpuid_words : CPU_NR_WORDS;

		for (size_t i = 0; i < NR_CPU_FLAGS; i++) {
			uint32_t bit = 1u << cpu_flags[i].bit;

			if (cpu_flags[i].word >= nw || flag_is_hint(cpu_flags[i].name))
				continue;
			if ((img->cpuid_words[cpu_flags[i].word] & bit) &&
			    !(r.words[cpu_flags[i].word] & bit)) {
				list_add(&l, cpu_flags[i].name);
				n++;
			}
		}
	} else {
		/* No raw words recorded: judge the names we know. */
		for (size_t i = 0; i < img->n_flags; i++) {
			const struct cpu_flag *f =
			    img->flags[i] ? flag_by_name(img->flags[i]) : NULL;

			if (f && !flag_is_hint(f->name) && !(r.words[f->word] & (1u << f->bit))) {
				list_add(&l, f->name);
				n++;
			}
		}
	}

	if (img->has_xfeatures_mask) {
		uint64_t lack = img->xfeatures_mask & ~r.xcr0;

		for (unsigned int b = 0; b < 64; b++) {
			if (!(lack & (1ull << b)))
				continue;
			if (b < NR_XFEATURE_NAMES)
				list_add(&l, xfeature_names[b]);
			else {
				snprintf(name, sizeof(name), "xfeature_%u", b);
				list_add(&l, name);
			}
			n++;
		}
	}

	if (img->has_xsave_size && img->xsave_size > r.xsave_size) {
		snprintf(name, sizeof(name), "xsave area %u > %u bytes", img->xsave_size,
			 r.xsave_size);
		list_add(&l, name);
		n++;
	}
	return n;
}
