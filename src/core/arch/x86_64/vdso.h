/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The vDSO. Its functions are recorded at checkpoint; a restore on a
 * kernel whose vDSO/vvar differ in size or layout keeps the new vDSO
 * elsewhere and puts, at the old vDSO's address, a page of trampolines:
 * each old entry point jumps to the same function of the new vDSO (the
 * target resolved the old addresses at startup and keeps calling them).
 */
#ifndef RTCR_ARCH_VDSO_H
#define RTCR_ARCH_VDSO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/rtcr.pb-c.h"

/* Read the function symbols of the vDSO mapped at [start, end) in pid. */
int vdso_symbols(pid_t pid, uint64_t start, uint64_t end, Rtcr__VdsoSym ***out, size_t *n);
/* Build the trampoline page contents: for each old symbol found in the new
 * vDSO, a jump at its old offset to its new address. buf has len bytes
 * (the old vDSO's size). Returns the number of symbols redirected. */
int vdso_trampolines(Rtcr__VdsoSym *const *old, size_t nold, Rtcr__VdsoSym *const *cur, size_t ncur,
		     uint64_t new_base, unsigned char *buf, size_t len);

#endif
