/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "core/arch/x86_64/regs.h"

#include <stdlib.h>

#define ERESTARTSYS	      512
#define ERESTARTNOINTR	      513
#define ERESTARTNOHAND	      514
#define ERESTART_RESTARTBLOCK 516

#define REGS_FIELDS(X)                                                                             \
	X(r15)                                                                                     \
	X(r14)                                                                                     \
	X(r13) X(r12) X(rbp) X(rbx) X(r11) X(r10) X(r9) X(r8) X(rax) X(rcx) X(rdx) X(rsi) X(rdi)   \
	    X(orig_rax) X(rip) X(cs) X(eflags) X(rsp) X(ss) X(fs_base) X(gs_base) X(ds) X(es)      \
		X(fs) X(gs)

Rtcr__UserRegs *regs_to_image(const struct user_regs_struct *r)
{
	Rtcr__UserRegs *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	rtcr__user_regs__init(o);
#define X(f)                                                                                       \
	o->has_##f = 1;                                                                            \
	o->f = r->f;
	REGS_FIELDS(X)
#undef X
	return o;
}

void regs_from_image(const Rtcr__UserRegs *in, struct user_regs_struct *r)
{
#define X(f) r->f = in->f;
	REGS_FIELDS(X)
#undef X
}

void regs_fixup_restart(struct user_regs_struct *r)
{
	long rax = (long)r->rax;

	if ((long)r->orig_rax >= 0) {
		switch (-rax) {
		case ERESTARTSYS:
		case ERESTARTNOINTR:
		case ERESTARTNOHAND:
		case ERESTART_RESTARTBLOCK:
			r->rax = r->orig_rax;
			r->rip -= 2;
			break;
		default:
			break;
		}
	}
	r->orig_rax = (unsigned long long)-1;
}
