/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The rtcr command line tool: one file per subcommand, each a thin layer
 * over the library (parse with getopt_long, call, print).
 *
 * Exit status: 0 success, 1 failure ("rtcr: error: ..." on stderr), 2
 * usage error. `run` (foreground) and `wait` exit with the target's status.
 */
#ifndef RTCR_CLI_H
#define RTCR_CLI_H

#include <stdio.h>

#ifndef RTCR_VERSION
#define RTCR_VERSION "unknown"
#endif

#define EXIT_OK	   0
#define EXIT_FAIL  1
#define EXIT_USAGE 2

int cmd_run(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_checkpoint(int argc, char **argv);
int cmd_ps(int argc, char **argv);
int cmd_kill(int argc, char **argv);
int cmd_wait(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_image(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_serve(int argc, char **argv);

/* Print "rtcr: error: ..." and "Try 'rtcr CMD --help'."; returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A library call failed with ret (-errno): make sure the cause was printed; returns EXIT_FAIL. */
int cli_fail(int ret);
/* getopt_long's answer for an unknown option or missing argument: EXIT_USAGE. */
int cli_bad_option(const char *cmd);
/* Print s as a JSON string (with quotes). */
void cli_json_str(FILE *f, const char *s);
/* Parse a signal: name with or without SIG (TERM, SIGKILL, RTMIN+2) or number; -1 if invalid. */
int cli_parse_signal(const char *s);

#endif
