/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define LOG_PREFIX "proc: "
#include "core/proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"

ssize_t read_file_at(int dirfd, const char *path, char **buf)
{
	size_t cap = 4096, len = 0;
	char *b = NULL, *nb;
	ssize_t n;
	int fd, ret;

	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	b = malloc(cap + 1);
	if (!b) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		if (len == cap) {
			cap *= 2;
			nb = realloc(b, cap + 1);
			if (!nb) {
				ret = -ENOMEM;
				goto err;
			}
			b = nb;
		}
		n = read(fd, b + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			goto err;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	b[len] = '\0';
	*buf = b;
	return (ssize_t)len;
err:
	close(fd);
	free(b);
	return ret;
}

ssize_t read_file(const char *path, char **buf)
{
	return read_file_at(AT_FDCWD, path, buf);
}

int write_file(const char *path, const char *s)
{
	size_t len = strlen(s);
	int fd, ret = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, s, len) != (ssize_t)len)
		ret = errno ? -errno : -EIO;
	close(fd);
	return ret;
}

int proc_status_field(const char *status, const char *key, char *buf, size_t len)
{
	size_t kl = strlen(key);
	const char *p = status, *e;

	while (p && *p) {
		if (!strncmp(p, key, kl) && p[kl] == ':') {
			p += kl + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			e = strchr(p, '\n');
			if (!e)
				e = p + strlen(p);
			if ((size_t)(e - p) >= len)
				return -ENAMETOOLONG;
			memcpy(buf, p, (size_t)(e - p));
			buf[e - p] = '\0';
			return 0;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -ENOENT;
}

int proc_status_last_u32(const char *status, const char *key, uint32_t *out)
{
	char val[256], *last;
	int ret = proc_status_field(status, key, val, sizeof(val));

	if (ret)
		return ret;
	last = strrchr(val, '\t');
	if (!last)
		last = strrchr(val, ' ');
	*out = (uint32_t)strtoul(last ? last + 1 : val, NULL, 10);
	return 0;
}

pid_t proc_ns_pid(pid_t pid)
{
	char path[64];
	char *st = NULL;
	uint32_t v = 0;
	ssize_t n;
	int ret;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	n = read_file(path, &st);
	if (n < 0)
		return (pid_t)n;
	ret = proc_status_last_u32(st, "NSpid", &v);
	free(st);
	return ret ? ret : (pid_t)v;
}

uint64_t now_ns(int clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int dir_numbers(const char *path, int **out, int *n)
{
	struct dirent *de;
	int *arr = NULL, *na, cnt = 0, ret = 0;
	DIR *d = opendir(path);

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		na = realloc(arr, sizeof(int) * (size_t)(cnt + 1));
		if (!na) {
			ret = -ENOMEM;
			goto out;
		}
		arr = na;
		arr[cnt++] = atoi(de->d_name);
	}
out:
	closedir(d);
	if (ret) {
		free(arr);
		return ret;
	}
	*out = arr;
	*n = cnt;
	return 0;
}

/* Children of every thread of pid, appended to *out (those already there
 * skipped). A process gone meanwhile has none. */
static int add_children(pid_t pid, pid_t **out, int *n)
{
	char path[96], *buf = NULL, *p, *end;
	int *tids = NULL, ntids = 0, ret;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	ret = dir_numbers(path, &tids, &ntids);
	if (ret == -ENOENT || ret == -ESRCH)
		return 0;
	if (ret) {
		if (ret != -ENOMEM)
			pr_err("open %s: %s", path, strerror(-ret));
		return ret;
	}
	for (int i = 0; i < ntids && !ret; i++) {
		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, tids[i]);
		if (read_file(path, &buf) < 0)
			continue;
		for (p = buf; *p && !ret; p = end) {
			long child = strtol(p, &end, 10);
			bool dup = false;
			pid_t *na;

			if (end == p)
				break;
			for (int k = 0; k < *n && !dup; k++)
				dup = (*out)[k] == (pid_t)child;
			if (dup)
				continue;
			na = realloc(*out, sizeof(pid_t) * (size_t)(*n + 1));
			if (!na) {
				ret = -ENOMEM;
				break;
			}
			*out = na;
			(*out)[(*n)++] = (pid_t)child;
		}
		free(buf);
		buf = NULL;
	}
	free(tids);
	return ret;
}

int proc_descendants(pid_t root, pid_t **out, int *n)
{
	pid_t *ps = NULL;
	int np = 0, ret;

	ret = add_children(root, &ps, &np);
	for (int i = 0; i < np && !ret; i++)
		ret = add_children(ps[i], &ps, &np);
	if (ret) {
		free(ps);
		return ret;
	}
	*out = ps;
	*n = np;
	return 0;
}
