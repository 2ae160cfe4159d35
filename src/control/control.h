/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control protocol between clients (rtcr checkpoint, kill, wait, ps)
 * and a target's parent. The protocol is described at the top of
 * control.c; these helpers are shared by both sides.
 */
#ifndef RTCR_CONTROL_H
#define RTCR_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Longest request line the parent accepts (including the newline). */
#define CTL_REQ_MAX 4096
/* Longest reply line a client accepts (including the newline). */
#define CTL_REPLY_MAX (256 * 1024)

/* Write s to f escaped for a reply field value (no spaces or control chars). */
void ctl_put_value(FILE *f, const char *s);
/* Undo ctl_put_value in place. */
void ctl_unescape(char *s);
/*
 * Find " key=VALUE" in a reply line and copy its unescaped value into val.
 * Returns 0, -ENOENT if the key is missing, -ENAMETOOLONG if it does not fit.
 */
int ctl_get_field(const char *reply, const char *key, char *val, size_t len);
int ctl_get_u64(const char *reply, const char *key, uint64_t *v);
int ctl_get_int(const char *reply, const char *key, int *v);

/*
 * Send one request line (without the newline; with send_fd >= 0 it goes
 * along as SCM_RIGHTS) and read one reply line into reply (without the
 * newline). timeout_ms <= 0: wait as long as it takes. Returns 0 when an
 * "ok" reply came, -EIO (logged with the parent's message) for an "error"
 * reply, -ECONNRESET (not logged) when the parent closed the connection
 * without a reply, -ETIMEDOUT (not logged) on timeout, or -errno.
 */
int ctl_request(int fd, const char *req, int send_fd, char *reply, size_t len, int timeout_ms);

#endif
