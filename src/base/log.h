/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Logging. Every .c file defines LOG_PREFIX ("memory: ") before including
 * this header. Errors are logged once, where the cause is known, and the
 * last error message is kept so that the supervisor can send it back to
 * the client that asked for the operation.
 */
#ifndef RTCR_LOG_H
#define RTCR_LOG_H

#include <errno.h>
#include <string.h>

#ifndef LOG_PREFIX
#define LOG_PREFIX ""
#endif

enum { LOG_ERR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

void log_set_level(int level);
int log_get_level(void);
/* Where messages go (default stderr). fd < 0: nowhere. */
void log_set_fd(int fd);
void log_msg(int level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The last message logged at LOG_ERR by this thread ("" if none). */
const char *log_last_error(void);
void log_clear_error(void);
/* Make msg this thread's last error without printing it (it was printed
 * where it happened, in another thread). */
void log_set_last_error(const char *msg);

#define pr_err(fmt, ...)   log_msg(LOG_ERR, __FILE__, __LINE__, LOG_PREFIX fmt, ##__VA_ARGS__)
#define pr_warn(fmt, ...)  log_msg(LOG_WARN, __FILE__, __LINE__, LOG_PREFIX fmt, ##__VA_ARGS__)
#define pr_info(fmt, ...)  log_msg(LOG_INFO, __FILE__, __LINE__, LOG_PREFIX fmt, ##__VA_ARGS__)
#define pr_debug(fmt, ...) log_msg(LOG_DEBUG, __FILE__, __LINE__, LOG_PREFIX fmt, ##__VA_ARGS__)
/* Log a failed call with errno text; evaluates to -errno. */
#define pr_perror(fmt, ...)                                                                        \
	({                                                                                         \
		int __e = errno;                                                                   \
		log_msg(LOG_ERR, __FILE__, __LINE__, LOG_PREFIX fmt ": %s", ##__VA_ARGS__,         \
			strerror(__e));                                                            \
		errno = __e;                                                                       \
		__e ? -__e : -EIO;                                                                 \
	})

#endif
