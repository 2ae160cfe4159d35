/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The run directory: where the parents of running targets keep their
 * control sockets and the files that outlive them.
 *
 *   NAME.sock    control socket of a live parent (0600)
 *   NAME.log     everything the target printed (0600)
 *   NAME.info    pid, ns pid, parent pid, command, origin, start time;
 *                written at start, removed at the end (for `ps`)
 *   NAME.status  exit status of an exited target and the same info;
 *                written at the end, consumed by `rtcr wait`
 *
 * .info and .status are "key=value" lines (values escaped with
 * rundir_escape()); unknown keys are ignored when read.
 *
 * A name is taken while its socket accepts connections. Names are chosen
 * under an exclusive flock of the directory, so two parents never bind
 * the same name.
 */
#ifndef RTCR_RUNDIR_H
#define RTCR_RUNDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>

#include "rtcr/rtcr.h"

#define RUNDIR_SOCK   ".sock"
#define RUNDIR_LOG    ".log"
#define RUNDIR_INFO   ".info"
#define RUNDIR_STATUS ".status"

/* rtcr_rundir(): $RTCR_RUNDIR, else /run/rtcr (root) or
 * $XDG_RUNTIME_DIR/rtcr, created 0700, into buf. */
int rundir_locate(char *buf, size_t len);

/* 0 if name is a valid target name, else -EINVAL (logged). */
int rundir_check_name(const char *name);
bool rundir_name_ok(const char *name);

/* dir/NAME.suffix into buf; -ENAMETOOLONG (logged) if it does not fit. */
int rundir_path(char *buf, size_t len, const char *dir, const char *name, const char *suffix);

/* Lock the run directory (exclusive flock); returns the fd to pass to rundir_unlock. */
int rundir_lock(const char *dir);
void rundir_unlock(int fd);

/*
 * Connect to NAME's control socket. Returns the connected fd, or
 * -ENOENT when there is no live parent of that name (a stale socket file
 * is removed), or another -errno (logged).
 */
int rundir_connect(const char *dir, const char *name);

/* 1 if NAME is taken (its socket accepts), 0 if free, <0 on error. */
int rundir_name_taken(const char *dir, const char *name);

/*
 * Pick a free name: want itself if explicit (error -EEXIST if taken), else
 * want, want-2, want-3, ... Call with the directory locked.
 */
int rundir_choose_name(const char *dir, const char *want, bool explicit_name, char *out,
		       size_t len);

/*
 * Bind and listen on NAME.sock (0600, non-blocking, close-on-exec). Call
 * with the directory locked, after rundir_choose_name().
 */
int rundir_listen(const char *dir, const char *name);

/* What .info and .status files hold. */
struct rundir_record {
	char name[RTCR_NAME_MAX + 1];
	pid_t pid, ns_pid, parent_pid;
	uint64_t started_ns;
	uint64_t ended_ns; /* .status only */
	int status;	   /* .status only: code or 128+signal */
	int raw_status;	   /* .status only: the wait status */
	char command[256];
	char origin[256];
};

/* Write dir/NAME.suffix atomically (temporary file + rename), mode 0600. */
int rundir_write_record(const char *dir, const char *suffix, const struct rundir_record *r,
			bool with_status);
/* Read a record; -ENOENT (not logged) if the file is missing. */
int rundir_read_record(const char *dir, const char *name, const char *suffix,
		       struct rundir_record *r);
/* Remove dir/NAME.suffix; a missing file is not an error. */
int rundir_remove(const char *dir, const char *name, const char *suffix);

/* One-line text values (records, control replies): backslash, newline and
 * control bytes escaped, and spaces too when `space` (space-separated
 * replies); rundir_get_escaped undoes either (dst may be src). */
void rundir_put_escaped(FILE *f, const char *s, bool space);
void rundir_get_escaped(char *dst, size_t len, const char *src);

/* Join argv into one line for display ("" when argv is NULL); never overflows. */
void rundir_join_argv(char *const *argv, char *buf, size_t len);

/* Wait status -> what a shell reports (code, or 128+signal). */
int rundir_shell_status(int raw);

#endif
