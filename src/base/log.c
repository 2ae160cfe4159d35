/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static int log_level = LOG_WARN;
static int log_fd = 2;
static __thread char last_error[1024];

void log_set_level(int level)
{
	log_level = level;
}

int log_get_level(void)
{
	return log_level;
}

void log_set_fd(int fd)
{
	log_fd = fd;
}

const char *log_last_error(void)
{
	return last_error;
}

void log_clear_error(void)
{
	last_error[0] = '\0';
}

void log_set_last_error(const char *msg)
{
	snprintf(last_error, sizeof(last_error), "%s", msg);
}

void log_msg(int level, const char *file, int line, const char *fmt, ...)
{
	char msg[1024];
	char out[1200];
	va_list ap;
	int n;

	va_start(ap, fmt);
	/* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): started above; clang-tidy 14 FP */
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (level == LOG_ERR)
		snprintf(last_error, sizeof(last_error), "%s", msg);
	if (level > log_level || log_fd < 0)
		return;
	if (log_level >= LOG_DEBUG)
		n = snprintf(out, sizeof(out), "rtcr[%d] %s:%d: %s\n", getpid(), file, line, msg);
	else
		n = snprintf(out, sizeof(out), "rtcr: %s%s\n",
			     level == LOG_ERR	 ? "error: "
			     : level == LOG_WARN ? "warning: "
						 : "",
			     msg);
	if (n > (int)sizeof(out) - 1)
		n = sizeof(out) - 1;
	if (write(log_fd, out, n) < 0) {
		/* nothing sensible to do */
	}
}
