/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rtcr_keygen: the key file that rtcr serve and rtcr migrate share. */
#include "migrate/stream.h"
#include "rtcr/rtcr.h"

int rtcr_keygen(const char *path, bool replace)
{
	return replace ? stream_keygen_replace(path) : stream_keygen(path);
}
