/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* x86_64 registers <-> image, and the syscall restart fix-up. */
#ifndef RTCR_ARCH_REGS_H
#define RTCR_ARCH_REGS_H

#include <sys/user.h>

#include "proto/rtcr.pb-c.h"

Rtcr__UserRegs *regs_to_image(const struct user_regs_struct *r);
void regs_from_image(const Rtcr__UserRegs *in, struct user_regs_struct *r);
/*
 * A thread stopped inside an interrupted system call has rax = -ERESTART*
 * and rip after the syscall instruction; the kernel would restart it when
 * the thread continues. A restored thread has no kernel-side restart
 * state, so do the restart here: re-execute the same syscall with the
 * same arguments (for -ERESTART_RESTARTBLOCK too: relative sleeps then
 * sleep their full time again, absolute ones are exact).
 */
void regs_fixup_restart(struct user_regs_struct *r);

#endif
