/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fpu [ITERATIONS]: keeps values in vector and x87 registers across long
 * inline-asm loops (about a second each) with exactly known results, so a
 * checkpoint almost always lands inside a loop, with the state only in
 * registers:
 *   ymm0 += ymm1 and ymm2 += ymm3 (64-bit lanes, upper halves included),
 *   ymm4 ^= ymm5 (toggles), ymm6/ymm7 and xmm8..xmm15 held untouched,
 *   MXCSR set to round-up: cvtsd2si of 2.5 gives 3 each iteration (2 if the
 *   rounding mode were lost), summed,
 *   x87: control word round-up, st0 += 1.0 counting iterations, and an
 *   80-bit value (1 + 2^-60, not representable as a double) kept in st2,
 *   with AVX-512 also zmm16 += zmm17, zmm18 held and opmask k1 held.
 * Each round is checked and reported ("round N ok"); on SIGUSR1 it prints
 * PASS if every round was exact. Without AVX it prints "SKIP: no AVX" and
 * exits 77.
 */
#include <stdint.h>

#include "tgt.h"

#define MXCSR_UP    0x5f80u /* default 0x1f80 with RC = 10 (round up) */
#define FCW_UP	    0x0b7fu /* default 0x037f with RC = 10 */
#define MXCSR_FLAGS 0x3fu   /* sticky exception flags */

struct io {
	uint64_t ymm_in[8][4]; /* ymm0..ymm7 */
	uint64_t ymm_out[8][4];
	uint64_t xmm_in[8][2];	/* xmm8..xmm15 (xmm10 low lane: the double 2.5) */
	uint64_t xmm_out[8][4]; /* ymm8..ymm15: upper halves must read as zero */
	uint64_t zmm_in[3][8];	/* zmm16..zmm18 */
	uint64_t zmm_out[3][8];
	uint64_t k1_in, k1_out;
	unsigned char ext_in[10], ext_out[10];
	uint64_t iters;
	int64_t cvt_sum;
	int64_t x87_count;
	uint32_t mxcsr, mxcsr_out;
	uint16_t fcw, fcw_out;
	uint16_t fsw_out;
};

#define LOAD_AVX                                                                                   \
	"vmovdqu 0x000(%[io]), %%ymm0\n\t"                                                         \
	"vmovdqu 0x020(%[io]), %%ymm1\n\t"                                                         \
	"vmovdqu 0x040(%[io]), %%ymm2\n\t"                                                         \
	"vmovdqu 0x060(%[io]), %%ymm3\n\t"                                                         \
	"vmovdqu 0x080(%[io]), %%ymm4\n\t"                                                         \
	"vmovdqu 0x0a0(%[io]), %%ymm5\n\t"                                                         \
	"vmovdqu 0x0c0(%[io]), %%ymm6\n\t"                                                         \
	"vmovdqu 0x0e0(%[io]), %%ymm7\n\t"                                                         \
	"vmovdqu 0x200(%[io]), %%xmm8\n\t"                                                         \
	"vmovdqu 0x210(%[io]), %%xmm9\n\t"                                                         \
	"vmovdqu 0x220(%[io]), %%xmm10\n\t"                                                        \
	"vmovdqu 0x230(%[io]), %%xmm11\n\t"                                                        \
	"vmovdqu 0x240(%[io]), %%xmm12\n\t"                                                        \
	"vmovdqu 0x250(%[io]), %%xmm13\n\t"                                                        \
	"vmovdqu 0x260(%[io]), %%xmm14\n\t"                                                        \
	"vmovdqu 0x270(%[io]), %%xmm15\n\t"                                                        \
	"stmxcsr %[mxs]\n\t"                                                                       \
	"ldmxcsr %[mx]\n\t"                                                                        \
	"fninit\n\t"                                                                               \
	"fldcw %[fcw]\n\t"                                                                         \
	"fldt %[ext]\n\t"                                                                          \
	"fld1\n\t"                                                                                 \
	"fldz\n\t"                                                                                 \
	"xorl %%edx, %%edx\n\t"

#define LOOP_BODY                                                                                  \
	"vpaddq %%ymm1, %%ymm0, %%ymm0\n\t"                                                        \
	"vpaddq %%ymm3, %%ymm2, %%ymm2\n\t"                                                        \
	"vpxor %%ymm5, %%ymm4, %%ymm4\n\t"                                                         \
	"vcvtsd2si %%xmm10, %%rax\n\t"                                                             \
	"addq %%rax, %%rdx\n\t"                                                                    \
	"fadd %%st(1), %%st\n\t"

#define STORE_AVX                                                                                  \
	"movq %%rdx, %[sum]\n\t"                                                                   \
	"vmovdqu %%ymm0, 0x100(%[io])\n\t"                                                         \
	"vmovdqu %%ymm1, 0x120(%[io])\n\t"                                                         \
	"vmovdqu %%ymm2, 0x140(%[io])\n\t"                                                         \
	"vmovdqu %%ymm3, 0x160(%[io])\n\t"                                                         \
	"vmovdqu %%ymm4, 0x180(%[io])\n\t"                                                         \
	"vmovdqu %%ymm5, 0x1a0(%[io])\n\t"                                                         \
	"vmovdqu %%ymm6, 0x1c0(%[io])\n\t"                                                         \
	"vmovdqu %%ymm7, 0x1e0(%[io])\n\t"                                                         \
	"vmovdqu %%ymm8, 0x280(%[io])\n\t"                                                         \
	"vmovdqu %%ymm9, 0x2a0(%[io])\n\t"                                                         \
	"vmovdqu %%ymm10, 0x2c0(%[io])\n\t"                                                        \
	"vmovdqu %%ymm11, 0x2e0(%[io])\n\t"                                                        \
	"vmovdqu %%ymm12, 0x300(%[io])\n\t"                                                        \
	"vmovdqu %%ymm13, 0x320(%[io])\n\t"                                                        \
	"vmovdqu %%ymm14, 0x340(%[io])\n\t"                                                        \
	"vmovdqu %%ymm15, 0x360(%[io])\n\t"                                                        \
	"stmxcsr %[mxo]\n\t"                                                                       \
	"ldmxcsr %[mxs]\n\t"                                                                       \
	"fnstcw %[fcwo]\n\t"                                                                       \
	"fistpll %[cnt]\n\t"                                                                       \
	"fstp %%st(0)\n\t"                                                                         \
	"fstpt %[exto]\n\t"                                                                        \
	"fnstsw %[fsw]\n\t"                                                                        \
	"fninit\n\t"                                                                               \
	"vzeroupper\n\t"

#define OPERANDS                                                                                   \
	: [sum] "=m"(io->cvt_sum), [mxo] "=m"(io->mxcsr_out), [mxs] "=m"(saved_mxcsr),             \
	  [fcwo] "=m"(io->fcw_out), [cnt] "=m"(io->x87_count), [exto] "=m"(io->ext_out),           \
	  [fsw] "=m"(io->fsw_out), "+c"(n)                                                         \
	: [io] "r"(io), [mx] "m"(io->mxcsr), [fcw] "m"(io->fcw), [ext] "m"(io->ext_in)

#define CLOBBERS                                                                                   \
	"rax", "rdx", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",      \
	    "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "st", "st(1)", "st(2)",  \
	    "st(3)", "st(4)", "st(5)", "st(6)", "st(7)", "memory", "cc"

_Static_assert(__builtin_offsetof(struct io, ymm_out) == 0x100, "layout");
_Static_assert(__builtin_offsetof(struct io, xmm_in) == 0x200, "layout");
_Static_assert(__builtin_offsetof(struct io, xmm_out) == 0x280, "layout");
_Static_assert(__builtin_offsetof(struct io, zmm_in) == 0x380, "layout");
_Static_assert(__builtin_offsetof(struct io, zmm_out) == 0x440, "layout");
_Static_assert(__builtin_offsetof(struct io, k1_in) == 0x500, "layout");

__attribute__((target("avx"), noinline)) static void run_avx(struct io *io)
{
	uint32_t saved_mxcsr;
	uint64_t n = io->iters;
	__asm__ volatile(LOAD_AVX "1:\n\t" LOOP_BODY "decq %%rcx\n\t"
				  "jnz 1b\n\t" STORE_AVX OPERANDS
			 : CLOBBERS);
}

__attribute__((target("avx512f"), noinline)) static void run_avx512(struct io *io)
{
	uint32_t saved_mxcsr;
	uint64_t n = io->iters;
	__asm__ volatile(LOAD_AVX "vmovdqu64 0x380(%[io]), %%zmm16\n\t"
				  "vmovdqu64 0x3c0(%[io]), %%zmm17\n\t"
				  "vmovdqu64 0x400(%[io]), %%zmm18\n\t"
				  "kmovw 0x500(%[io]), %%k1\n\t"
				  "1:\n\t" LOOP_BODY "vpaddq %%zmm17, %%zmm16, %%zmm16\n\t"
				  "decq %%rcx\n\t"
				  "jnz 1b\n\t"
				  "vmovdqu64 %%zmm16, 0x440(%[io])\n\t"
				  "vmovdqu64 %%zmm17, 0x480(%[io])\n\t"
				  "vmovdqu64 %%zmm18, 0x4c0(%[io])\n\t"
				  "kmovw %%k1, 0x508(%[io])\n\t" STORE_AVX OPERANDS
			 : CLOBBERS, "xmm16", "xmm17", "xmm18", "k1");
}

static uint64_t rs;
static uint64_t rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs;
}

static void check_round(int round, struct io *io, int avx512)
{
	uint64_t n = io->iters;
	int before = tgt_failures;
	for (int l = 0; l < 4; l++) {
		CHECK(io->ymm_out[0][l] == io->ymm_in[0][l] + n * io->ymm_in[1][l],
		      "round %d: ymm0 lane %d = %#llx, expected %#llx", round, l,
		      (unsigned long long)io->ymm_out[0][l],
		      (unsigned long long)(io->ymm_in[0][l] + n * io->ymm_in[1][l]));
		CHECK(io->ymm_out[2][l] == io->ymm_in[2][l] + n * io->ymm_in[3][l],
		      "round %d: ymm2 lane %d = %#llx, expected %#llx", round, l,
		      (unsigned long long)io->ymm_out[2][l],
		      (unsigned long long)(io->ymm_in[2][l] + n * io->ymm_in[3][l]));
		uint64_t t = io->ymm_in[4][l] ^ (n & 1 ? io->ymm_in[5][l] : 0);
		CHECK(io->ymm_out[4][l] == t, "round %d: ymm4 lane %d = %#llx, expected %#llx",
		      round, l, (unsigned long long)io->ymm_out[4][l], (unsigned long long)t);
		static const int held[] = {1, 3, 5, 6, 7};
		for (int i = 0; i < 5; i++) {
			int r = held[i];
			CHECK(io->ymm_out[r][l] == io->ymm_in[r][l],
			      "round %d: ymm%d lane %d changed: %#llx, expected %#llx", round, r, l,
			      (unsigned long long)io->ymm_out[r][l],
			      (unsigned long long)io->ymm_in[r][l]);
		}
	}
	for (int r = 0; r < 8; r++)
		for (int l = 0; l < 4; l++) {
			uint64_t want = l < 2 ? io->xmm_in[r][l] : 0;
			CHECK(io->xmm_out[r][l] == want,
			      "round %d: ymm%d lane %d = %#llx, expected %#llx", round, r + 8, l,
			      (unsigned long long)io->xmm_out[r][l], (unsigned long long)want);
		}
	CHECK(io->cvt_sum == 3 * (int64_t)n,
	      "round %d: sum of cvtsd2si(2.5) = %lld, expected %lld (MXCSR rounding lost?)", round,
	      (long long)io->cvt_sum, 3 * (long long)n);
	CHECK((io->mxcsr_out & ~MXCSR_FLAGS) == MXCSR_UP, "round %d: MXCSR %#x, expected %#x",
	      round, io->mxcsr_out, MXCSR_UP);
	CHECK(io->fcw_out == FCW_UP, "round %d: x87 control word %#x, expected %#x", round,
	      io->fcw_out, FCW_UP);
	CHECK(io->x87_count == (int64_t)n, "round %d: x87 st0 counted %lld, expected %lld", round,
	      (long long)io->x87_count, (long long)n);
	CHECK(!memcmp(io->ext_in, io->ext_out, 10),
	      "round %d: 80-bit x87 value in st2 changed (lost precision?)", round);
	CHECK((io->fsw_out & 0x3800) == 0 && (io->fsw_out & 0x41) == 0,
	      "round %d: x87 status word %#x (stack top moved or stack fault)", round, io->fsw_out);
	if (avx512) {
		for (int l = 0; l < 8; l++) {
			CHECK(io->zmm_out[0][l] == io->zmm_in[0][l] + n * io->zmm_in[1][l],
			      "round %d: zmm16 lane %d = %#llx, expected %#llx", round, l,
			      (unsigned long long)io->zmm_out[0][l],
			      (unsigned long long)(io->zmm_in[0][l] + n * io->zmm_in[1][l]));
			CHECK(io->zmm_out[1][l] == io->zmm_in[1][l] &&
				  io->zmm_out[2][l] == io->zmm_in[2][l],
			      "round %d: zmm17/zmm18 lane %d changed", round, l);
		}
		CHECK((io->k1_out & 0xffff) == (io->k1_in & 0xffff),
		      "round %d: k1 = %#llx, expected %#llx", round,
		      (unsigned long long)(io->k1_out & 0xffff),
		      (unsigned long long)(io->k1_in & 0xffff));
	}
	if (tgt_failures == before)
		say("round %d ok", round);
}

int main(int argc, char **argv)
{
	long iters = tgt_arg_long(argc, argv, 1, 800000000L);
	if (iters < 1) {
		say("usage: fpu [ITERATIONS]");
		return 2;
	}
	__builtin_cpu_init();
	if (!__builtin_cpu_supports("avx")) {
		say("SKIP: no AVX");
		return 77;
	}
	int avx512 = __builtin_cpu_supports("avx512f");
	tgt_install_usr1();
	static struct io io_buf __attribute__((aligned(64)));
	struct io *io = &io_buf;
	say("fpu: %ld iterations per round%s", iters, avx512 ? ", with AVX-512" : "");
	say("READY");
	rs = 0x1234567887654321ULL;
	for (int round = 1; !tgt_usr1; round++) {
		memset(io, 0, sizeof(*io));
		for (int r = 0; r < 8; r++)
			for (int l = 0; l < 4; l++)
				io->ymm_in[r][l] = rnd();
		for (int r = 0; r < 8; r++)
			for (int l = 0; l < 2; l++)
				io->xmm_in[r][l] = rnd();
		double two_and_half = 2.5;
		memcpy(&io->xmm_in[2][0], &two_and_half, 8);
		for (int r = 0; r < 3; r++)
			for (int l = 0; l < 8; l++)
				io->zmm_in[r][l] = rnd();
		io->k1_in = rnd() & 0xffff;
		long double ext = 1.0L + 0x1p-60L; /* 64-bit mantissa: exact in 80 bits only */
		memcpy(io->ext_in, &ext, 10);
		io->iters = iters;
		io->mxcsr = MXCSR_UP;
		io->fcw = FCW_UP;
		if (avx512)
			run_avx512(io);
		else
			run_avx(io);
		check_round(round, io, avx512);
	}
	tgt_finish();
}
