/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define LOG_PREFIX "" /* its messages are for the user */
#include "control/rundir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"
#include "base/str.h"

int rundir_locate(char *buf, size_t len)
{
	const char *env = getenv("RTCR_RUNDIR");
	struct stat st;
	int n, ret, fd;

	if (env && *env)
		n = snprintf(buf, len, "%s", env);
	else if (geteuid() == 0)
		n = snprintf(buf, len, "/run/rtcr");
	else {
		const char *xdg = getenv("XDG_RUNTIME_DIR");

		if (!xdg || !*xdg) {
			pr_err("XDG_RUNTIME_DIR is not set; set RTCR_RUNDIR to choose a run "
			       "directory");
			return -ENOENT;
		}
		n = snprintf(buf, len, "%s/rtcr", xdg);
	}
	if (n < 0 || (size_t)n >= len) {
		pr_err("run directory path is too long");
		return -ENAMETOOLONG;
	}
	/* drop trailing slashes (keeps "/" as is) */
	while (n > 1 && buf[n - 1] == '/')
		buf[--n] = '\0';
	ret = mkdir_p(buf, 0700);
	if (ret)
		return ret;
	if (stat(buf, &st))
		return pr_perror("cannot stat run directory %s", buf);
	if (!S_ISDIR(st.st_mode)) {
		pr_err("run directory %s is not a directory", buf);
		return -ENOTDIR;
	}
	fd = open(buf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return pr_perror("cannot open run directory %s", buf);
	ret = dir_check_private(fd, "run directory", buf);
	close(fd);
	return ret;
}

bool rundir_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n < 1 || n > RTCR_NAME_MAX || name[0] == '.' || name[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

int rundir_check_name(const char *name)
{
	if (rundir_name_ok(name))
		return 0;
	pr_err("invalid name '%s': use 1 to %d characters of A-Z a-z 0-9 . _ -, not starting "
	       "with '.' or '-'",
	       name ? name : "", RTCR_NAME_MAX);
	return -EINVAL;
}

int rundir_path(char *buf, size_t len, const char *dir, const char *name, const char *suffix)
{
	int n = snprintf(buf, len, "%s/%s%s", dir, name, suffix);

	if (n < 0 || (size_t)n >= len) {
		pr_err("path %s/%s%s is too long", dir, name, suffix);
		return -ENAMETOOLONG;
	}
	return 0;
}

int rundir_lock(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return pr_perror("cannot open run directory %s", dir);
	while (flock(fd, LOCK_EX)) {
		if (errno == EINTR)
			continue;
		int ret = pr_perror("cannot lock run directory %s", dir);
		close(fd);
		return ret;
	}
	return fd;
}

void rundir_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

static int sock_addr(struct sockaddr_un *sa, const char *path)
{
	size_t n = strlen(path);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (n >= sizeof(sa->sun_path)) {
		pr_err("socket path %s is too long (at most %zu bytes; choose a shorter "
		       "RTCR_RUNDIR or name)",
		       path, sizeof(sa->sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sa->sun_path, path, n + 1);
	return 0;
}

int rundir_connect(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct sockaddr_un sa;
	int fd, ret;

	ret = rundir_path(path, sizeof(path), dir, name, RUNDIR_SOCK);
	if (ret)
		return ret;
	ret = sock_addr(&sa, path);
	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return pr_perror("socket");
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		if (errno == EINTR)
			continue;
		if (errno == ENOENT || errno == ECONNREFUSED || errno == ENOTSOCK) {
			close(fd);
			return -ENOENT;
		}
		ret = pr_perror("cannot connect to %s", path);
		close(fd);
		return ret;
	}
	return fd;
}

int rundir_name_taken(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;
	int fd, ret;

	fd = rundir_connect(dir, name);
	if (fd >= 0) {
		close(fd);
		return 1;
	}
	if (fd != -ENOENT)
		return fd;
	/* Stale socket of a dead parent: remove it. */
	ret = rundir_path(path, sizeof(path), dir, name, RUNDIR_SOCK);
	if (ret)
		return ret;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		pr_debug("removing stale socket %s", path);
		if (unlink(path) && errno != ENOENT)
			return pr_perror("cannot remove stale socket %s", path);
	}
	return 0;
}

int rundir_choose_name(const char *dir, const char *want, bool explicit_name, char *out, size_t len)
{
	int ret;

	ret = rundir_check_name(want);
	if (ret)
		return ret;
	ret = rundir_name_taken(dir, want);
	if (ret < 0)
		return ret;
	if (ret == 0) {
		if ((size_t)snprintf(out, len, "%s", want) >= len)
			return -ENAMETOOLONG;
		return 0;
	}
	if (explicit_name) {
		pr_err("the name '%s' is taken (see rtcr ps)", want);
		return -EEXIST;
	}
	for (int i = 2; i < 10000; i++) {
		char cand[RTCR_NAME_MAX + 1];
		char suffix[16];
		size_t sl = (size_t)snprintf(suffix, sizeof(suffix), "-%d", i);
		size_t wl = strlen(want);

		/* Shorten the base rather than exceed the limit. */
		if (wl + sl > RTCR_NAME_MAX)
			wl = RTCR_NAME_MAX - sl;
		snprintf(cand, sizeof(cand), "%.*s%s", (int)wl, want, suffix);
		if (!rundir_name_ok(cand))
			continue;
		ret = rundir_name_taken(dir, cand);
		if (ret < 0)
			return ret;
		if (ret == 0) {
			if ((size_t)snprintf(out, len, "%s", cand) >= len)
				return -ENAMETOOLONG;
			return 0;
		}
	}
	pr_err("no free name for '%s'", want);
	return -EEXIST;
}

int rundir_listen(const char *dir, const char *name)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	struct sockaddr_un sa;
	int fd = -1, ret, n;

	ret = rundir_path(path, sizeof(path), dir, name, RUNDIR_SOCK);
	if (ret)
		return ret;
	ret = sock_addr(&sa, path); /* the final path must fit too */
	if (ret)
		return ret;
	/* Bind and listen under a temporary name, then rename: NAME.sock is
	 * never seen by a client while it does not accept yet. */
	n = snprintf(tmp, sizeof(tmp), "%s/.sock-%d", dir, (int)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		pr_err("path %s is too long", dir);
		return -ENAMETOOLONG;
	}
	ret = sock_addr(&sa, tmp);
	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return pr_perror("socket");
	unlink(tmp);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		ret = pr_perror("cannot bind %s", tmp);
		goto out;
	}
	if (chmod(tmp, 0600)) {
		ret = pr_perror("cannot chmod %s", tmp);
		goto out_unlink;
	}
	if (listen(fd, 16)) {
		ret = pr_perror("cannot listen on %s", tmp);
		goto out_unlink;
	}
	if (rename(tmp, path)) {
		ret = pr_perror("cannot rename %s to %s", tmp, path);
		goto out_unlink;
	}
	return fd;
out_unlink:
	unlink(tmp);
out:
	close(fd);
	return ret;
}

/* ---- records ---- */

void rundir_put_escaped(FILE *f, const char *s, bool space)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\\')
			fputs("\\\\", f);
		else if (c == ' ' && space)
			fputs("\\s", f);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void rundir_get_escaped(char *dst, size_t len, const char *src)
{
	size_t o = 0;

	while (*src && o + 1 < len) {
		char c = *src++;

		if (c == '\\' && *src) {
			char e = *src++;

			if (e == 's')
				c = ' ';
			else if (e == 'n')
				c = '\n';
			else if (e == 'x' && hexval(src[0]) >= 0 && hexval(src[1]) >= 0) {
				c = (char)(hexval(src[0]) * 16 + hexval(src[1]));
				src += 2;
			} else
				c = e;
		}
		dst[o++] = c;
	}
	dst[o] = '\0';
}

int rundir_write_record(const char *dir, const char *suffix, const struct rundir_record *r,
			bool with_status)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	FILE *f = NULL;
	int fd, ret, n;

	ret = rundir_path(path, sizeof(path), dir, r->name, suffix);
	if (ret)
		return ret;
	n = snprintf(tmp, sizeof(tmp), "%s/.%s%s.tmp-%d", dir, r->name, suffix, (int)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		pr_err("path %s is too long", path);
		return -ENAMETOOLONG;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return pr_perror("cannot create %s", tmp);
	f = fdopen(fd, "w");
	if (!f) {
		ret = pr_perror("fdopen");
		close(fd);
		goto out_unlink;
	}
	fprintf(f, "name=%s\npid=%d\nns_pid=%d\nparent_pid=%d\nstarted_ns=%llu\n", r->name,
		(int)r->pid, (int)r->ns_pid, (int)r->parent_pid, (unsigned long long)r->started_ns);
	if (with_status)
		fprintf(f, "status=%d\nraw_status=%d\nended_ns=%llu\n", r->status, r->raw_status,
			(unsigned long long)r->ended_ns);
	fputs("command=", f);
	rundir_put_escaped(f, r->command, false);
	fputs("\norigin=", f);
	rundir_put_escaped(f, r->origin, false);
	fputc('\n', f);
	if (fflush(f) || ferror(f)) {
		ret = pr_perror("cannot write %s", tmp);
		fclose(f);
		goto out_unlink;
	}
	if (fclose(f)) {
		ret = pr_perror("cannot write %s", tmp);
		goto out_unlink;
	}
	if (rename(tmp, path)) {
		ret = pr_perror("cannot rename %s to %s", tmp, path);
		goto out_unlink;
	}
	return 0;
out_unlink:
	unlink(tmp);
	return ret;
}

int rundir_read_record(const char *dir, const char *name, const char *suffix,
		       struct rundir_record *r)
{
	char path[PATH_MAX];
	char line[2048];
	FILE *f;
	int ret, fd;

	memset(r, 0, sizeof(*r));
	ret = rundir_path(path, sizeof(path), dir, name, suffix);
	if (ret)
		return ret;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	f = fd >= 0 ? fdopen(fd, "r") : NULL;
	if (fd >= 0 && !f)
		close(fd);
	if (!f) {
		if (errno == ENOENT)
			return -ENOENT;
		return pr_perror("cannot open %s", path);
	}
	snprintf(r->name, sizeof(r->name), "%s", name);
	while (fgets(line, sizeof(line), f)) {
		char *eq = strchr(line, '=');
		size_t l = strlen(line);

		if (l && line[l - 1] == '\n')
			line[l - 1] = '\0';
		if (!eq)
			continue;
		*eq++ = '\0';
		if (!strcmp(line, "pid"))
			r->pid = (pid_t)strtol(eq, NULL, 10);
		else if (!strcmp(line, "ns_pid"))
			r->ns_pid = (pid_t)strtol(eq, NULL, 10);
		else if (!strcmp(line, "parent_pid"))
			r->parent_pid = (pid_t)strtol(eq, NULL, 10);
		else if (!strcmp(line, "started_ns"))
			r->started_ns = strtoull(eq, NULL, 10);
		else if (!strcmp(line, "ended_ns"))
			r->ended_ns = strtoull(eq, NULL, 10);
		else if (!strcmp(line, "status"))
			r->status = (int)strtol(eq, NULL, 10);
		else if (!strcmp(line, "raw_status"))
			r->raw_status = (int)strtol(eq, NULL, 10);
		else if (!strcmp(line, "command"))
			rundir_get_escaped(r->command, sizeof(r->command), eq);
		else if (!strcmp(line, "origin"))
			rundir_get_escaped(r->origin, sizeof(r->origin), eq);
	}
	if (ferror(f))
		ret = pr_perror("cannot read %s", path);
	fclose(f);
	return ret;
}

int rundir_remove(const char *dir, const char *name, const char *suffix)
{
	char path[PATH_MAX];
	int ret = rundir_path(path, sizeof(path), dir, name, suffix);

	if (ret)
		return ret;
	if (unlink(path) && errno != ENOENT)
		return pr_perror("cannot remove %s", path);
	return 0;
}

void rundir_join_argv(char *const *argv, char *buf, size_t len)
{
	size_t o = 0;

	if (!len)
		return;
	buf[0] = '\0';
	for (size_t i = 0; argv && argv[i]; i++) {
		const char *a = argv[i];
		bool quote = !*a || strpbrk(a, " \t\n'\"\\$") != NULL;
		size_t need = strlen(a) + (quote ? 2 : 0) + (i ? 1 : 0);

		if (o + need >= len) {
			/* Display only: mark the cut instead of hiding it. */
			if (len > 4) {
				size_t at = o + 4 < len ? o : len - 4;
				memcpy(buf + at, "...", 4);
			}
			return;
		}
		o += (size_t)snprintf(buf + o, len - o, "%s%s%s%s", i ? " " : "", quote ? "'" : "",
				      a, quote ? "'" : "");
	}
}

int rundir_shell_status(int raw)
{
	if (WIFEXITED(raw))
		return WEXITSTATUS(raw);
	if (WIFSIGNALED(raw))
		return 128 + WTERMSIG(raw);
	return 255;
}
