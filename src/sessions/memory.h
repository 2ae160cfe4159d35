/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The memory session's own parts (memory.c: checkpoint, memory-restore.c:
 * restore): the Vma.madv bits and /proc/PID/maps lines.
 */
#ifndef RTCR_SESSIONS_MEMORY_H
#define RTCR_SESSIONS_MEMORY_H

#include <stdint.h>

#include "sessions/session.h"

/* Vma.madv bits */
enum {
	MADVB_HUGEPAGE = 1 << 0,
	MADVB_NOHUGEPAGE = 1 << 1,
	MADVB_DONTFORK = 1 << 2,
	MADVB_DONTDUMP = 1 << 3,
	MADVB_WIPEONFORK = 1 << 4,
	MADVB_MERGEABLE = 1 << 5,
	MADVB_LOCKED = 1 << 6,
	MADVB_MAYWRITE = 1 << 7,  /* shared file mapping whose file is open for writing */
	MADVB_NORESERVE = 1 << 8, /* MAP_NORESERVE */
	MADVB_SEQUENTIAL = 1 << 9,
	MADVB_RANDOM = 1 << 10,
	MADVB_LOCKONFAULT = 1 << 11, /* mlock2(MLOCK_ONFAULT) */
	MADVB_SEALED = 1 << 12,	     /* mseal */
	MADVB_DROPPABLE = 1 << 13,   /* MAP_DROPPABLE */
};

#ifndef __NR_mseal
#define __NR_mseal 462
#endif
#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 0x01
#endif

/* A file mapped MAP_SHARED in a sticky world-writable directory (/tmp,
 * /var/tmp, /dev/shm) and at most this long: its contents go into the
 * image, and a restore recreates the file if it is gone. */
#define MEM_KEEP_FILE_MAX (1ULL << 20)

struct maps_line {
	uint64_t start, end, pgoff, ino;
	char perms[5];
	char path[4096];
};

/* One line of /proc/PID/maps; -EINVAL if it is not one (not logged). */
int memory_parse_maps_line(const char *l, struct maps_line *m);

int memory_prepare(struct rst_ctx *r);
int memory_restore(struct rst_ctx *r);

#endif
