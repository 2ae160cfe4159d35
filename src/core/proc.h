/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small helpers to read /proc. */
#ifndef RTCR_PROC_H
#define RTCR_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Read a whole file (NUL-terminated, malloc'd) into *buf; returns length or -errno. */
ssize_t read_file(const char *path, char **buf);
ssize_t read_file_at(int dirfd, const char *path, char **buf);
/* Write a string to a file. */
int write_file(const char *path, const char *s);
/* The pid of host pid `pid` inside its innermost pid namespace (NSpid), or -errno. */
pid_t proc_ns_pid(pid_t pid);
/* Value of "Key:" in /proc/PID/status (the text after the colon, trimmed) into buf. */
int proc_status_field(const char *status, const char *key, char *buf, size_t len);
/* The last (tab or space separated) number of "Key:" in a status text:
 * the innermost namespace's value of NSpid, NSpgid, NSsid... */
int proc_status_last_u32(const char *status, const char *key, uint32_t *out);
uint64_t now_ns(int clock);
/* The numbers a /proc directory lists (/proc/PID/fd, /proc/PID/task), in
 * its order (malloc'd). Not logged: -errno of opendir, or -ENOMEM. */
int dir_numbers(const char *path, int **out, int *n);
/* Every descendant of root (host pids), parents before their children, no
 * duplicates (malloc'd); a process that ends meanwhile is left out. */
int proc_descendants(pid_t root, pid_t **out, int *n);

#endif
