/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CPU features of this machine as user space sees them: CPUID words,
 * the XSAVE features the kernel enabled (XCR0) and the size of the XSAVE
 * area. Checkpoint records them in the image (Inventory.cpu); restore
 * refuses an image whose features this machine lacks (unless --ignore-cpu),
 * because the restored program may already have chosen code paths (ifuncs,
 * JIT output) that use them, and its saved FPU state may not fit here.
 */
#ifndef RTCR_ARCH_CPU_H
#define RTCR_ARCH_CPU_H

#include <stddef.h>

#include "proto/rtcr.pb-c.h"

/* Number of CPUID words recorded, in this order: leaf 1 ecx, leaf 1 edx,
 * leaf 7.0 ebx, leaf 7.0 ecx, leaf 7.0 edx, leaf 0xd.1 eax,
 * leaf 0x80000001 ecx, leaf 0x80000001 edx. */
#define CPU_NR_WORDS 8

/*
 * Initialise *ci (rtcr__cpu_info__init) and fill it with this machine's
 * features. Strings and arrays are malloc'd; release them with
 * cpu_info_free_fields(). Returns 0 or -ENOMEM (logged; *ci is then
 * left empty).
 */
int cpu_info_fill(Rtcr__CpuInfo *ci);

/* Free what cpu_info_fill() allocated (not ci itself); leaves *ci empty. */
void cpu_info_free_fields(Rtcr__CpuInfo *ci);

/*
 * Compare the features recorded in an image with this machine. Returns the
 * number of features the image has that this machine lacks (0: compatible):
 * CPUID flags that matter to user space, XSAVE state components missing
 * from XCR0, and an XSAVE area larger than this machine's. Their names are
 * written comma-separated into missing (always NUL-terminated when len > 0,
 * never overflowed; a cut list ends in "..."). missing may be NULL.
 */
int cpu_info_check(const Rtcr__CpuInfo *img, char *missing, size_t len);

#endif
