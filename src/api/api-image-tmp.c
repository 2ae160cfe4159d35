// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * TEMPORARY (branch `image`): the public names of rtcr show, rtcr image
 * merge and rtcr check, so this branch links until src/api/ defines them
 * as calls to the same functions. Delete at the merge.
 */
#include "core/features.h"
#include "image/image.h"
#include "rtcr/rtcr.h"

int rtcr_show(const char *dir, FILE *out, bool json)
{
	return img_show(dir, out, json);
}

int rtcr_image_merge(const char *const *dirs, int n, const char *out_dir)
{
	return img_merge(dirs, n, out_dir);
}

int rtcr_check(FILE *out, bool json)
{
	return feat_check(out, json);
}
