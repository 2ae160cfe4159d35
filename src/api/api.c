/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The public API (include/rtcr/rtcr.h), the calls that are not a request
 * to a target's parent (those are in client.c): logging, the run
 * directory, starting and restoring targets, images, the kernel check and
 * the migration daemon. Each calls the internal module that does the work.
 */
#define LOG_PREFIX ""
#include <signal.h>

#include "base/log.h"
#include "control/rundir.h"
#include "control/supervisor.h"
#include "core/features.h"
#include "image/image.h"
#include "migrate/mig.h"
#include "rtcr/rtcr.h"
#include "track/track.h"

void rtcr_set_verbosity(int level)
{
	log_set_level(level);
}

const char *rtcr_last_error(void)
{
	return log_last_error();
}

int rtcr_rundir(char *buf, size_t len)
{
	return rundir_locate(buf, len);
}

/* ---- starting and restoring targets ---- */

/* o->track parsed before anything starts (track: NULL for no tracking). */
static int parse_track(const char *s, struct track_opts *to, const struct track_opts **track)
{
	int ret;

	*track = NULL;
	if (!s)
		return 0;
	ret = track_parse(s, to);
	if (ret)
		return ret;
	*track = to;
	return 0;
}

int rtcr_run(const struct rtcr_run_opts *o)
{
	const struct track_opts *track;
	struct track_opts to;
	int ret;

	ret = parse_track(o ? o->track : NULL, &to, &track);
	if (ret)
		return ret;
	return sup_run(o, track);
}

int rtcr_restore(const struct rtcr_restore_opts *o)
{
	const struct track_opts *track;
	struct track_opts to;
	int ret;

	ret = parse_track(o ? o->track : NULL, &to, &track);
	if (ret)
		return ret;
	return sup_restore(o, track);
}

/* ---- images ---- */

int rtcr_show(const char *dir, FILE *out, bool json)
{
	return img_show(dir, out, json);
}

int rtcr_image_merge(const char *const *dirs, int n, const char *out_dir)
{
	return img_merge(dirs, n, out_dir);
}

/* ---- this kernel ---- */

int rtcr_check(FILE *out, bool json)
{
	return feat_check(out, json);
}

/* ---- rtcr serve: the receiving side's hooks into the targets' parents ---- */

static int serve_discard(const char *name)
{
	return rtcr_kill(name, SIGKILL);
}

static const struct mig_recv_hooks serve_hooks = {
    .check_name = rundir_check_name,
    .restore = sup_restore_received,
    .thaw = rtcr_thaw,
    .discard = serve_discard,
};

int rtcr_serve(const struct rtcr_serve_opts *o)
{
	return mig_serve(o, &serve_hooks);
}
