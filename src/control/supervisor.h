/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The parent of a target: sup_run() and sup_restore() (for rtcr_run() and
 * rtcr_restore() of the public API) start a target and then stay its
 * parent, the "supervisor". Its event loop
 *   - reaps and handles the ptrace stops of every traced process,
 *   - copies the LOG pipes to NAME.log and forwards them (stdout/stderr in
 *     the foreground, --log FILE),
 *   - serves the control socket (protocol: see control.c),
 *   - forwards termination signals to the target,
 * and ends when the target has ended and its output is drained.
 */
#ifndef RTCR_SUPERVISOR_H
#define RTCR_SUPERVISOR_H

#include <stdbool.h>
#include <stddef.h>

struct rtcr_run_opts;
struct rtcr_restore_opts;
struct track_opts;
/* rtcr_run() and rtcr_restore(): track is the parsed o->track (NULL: no
 * dirty tracking), checked before anything starts. */
int sup_run(const struct rtcr_run_opts *o, const struct track_opts *track);
int sup_restore(const struct rtcr_restore_opts *o, const struct track_opts *track);

/* Make a valid default target name out of a program path or image name. */
void sup_default_name(const char *src, char *out, size_t len);

struct img;
/* Restore a received image (rtcr serve) under a detached parent, its
 * threads stopped until 'thaw' (rtcr_thaw). The name is want, or want-2...
 * Takes im. */
int sup_restore_received(struct img *im, const char *want, char *name_out, size_t len);

#endif
