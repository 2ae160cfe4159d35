/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Strings for people and programs: JSON and terminal escaping, sizes and
 * durations, directories. Only libc; no part of rtcr below this one.
 */
#ifndef RTCR_BASE_STR_H
#define RTCR_BASE_STR_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* A JSON string (or null for NULL): ", \ and control characters escaped,
 * invalid UTF-8 as U+FFFD. */
void json_str(FILE *f, const char *s);
/* Text for a terminal ('-' for NULL): control characters and invalid UTF-8
 * as \xNN, a backslash doubled. */
void text_str(FILE *f, const char *s);
/* Copy at most slen bytes of untrusted text (a peer's message) into dst
 * (dlen > 0, NUL-terminated), each control character and DEL as '?': safe
 * to print on a terminal. Returns dst. */
char *str_printable(char *dst, size_t dlen, const char *src, size_t slen);
/* Length of the valid UTF-8 sequence at s (s[0] >= 0x80), or 0. */
size_t utf8_len(const unsigned char *s);

/* "512 B", "12 KiB", "1.5 MiB": one decimal unless the value is whole in
 * its unit. Returns buf. */
const char *fmt_bytes(uint64_t b, char *buf, size_t len);
/* "64K", "2M", "4096": the exact value with the largest suffix that
 * divides it (the form option values take). Returns buf. */
const char *fmt_size_suffix(uint64_t v, char *buf, size_t len);
/* "3.5 ms", "120 ms", "12.5 s" for a duration in ns. Returns buf. */
const char *fmt_duration(uint64_t ns, char *buf, size_t len);
/* A size with an optional suffix K, M, G (powers of 1024): "64K", "4096".
 * -EINVAL on anything else (not logged: the caller knows what it parses). */
int parse_size(const char *s, uint64_t *out);

/* mkdir -p with mode for the directories it creates; logs the cause. */
int mkdir_p(const char *path, mode_t mode);
/* dfd (opened from path) is a directory only the caller can write: owned
 * by the effective uid, not writable by group or others. Else logs why,
 * naming `what` and path, and returns -EPERM: someone else could read,
 * plant or replace files there. */
int dir_check_private(int dfd, const char *what, const char *path);

#endif
