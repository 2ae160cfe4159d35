/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The rtcr command line tool: one file per subcommand, each a thin layer
 * over the library (an option table for cli_parse, call, print).
 *
 * Exit status: 0 success, 1 failure ("rtcr: error: ..." on stderr), 2
 * usage error. `run` (foreground) and `wait` exit with the target's status.
 */
#ifndef RTCR_CLI_H
#define RTCR_CLI_H

#include <stdbool.h>
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

/* ---- options (opt.c) ----
 * Each command describes its options in a table and parses them with
 * cli_parse(): -h/--help, unknown options, missing and extra arguments and
 * bad values are handled there, with the messages and exit codes of every
 * command. */
enum cli_opt_type {
	CLI_FLAG,   /* no value; sets the bool *dest */
	CLI_STR,    /* sets the const char **dest to the value */
	CLI_INT,    /* a decimal number in [min, max] into the int *dest */
	CLI_UINT,   /* a decimal number in [min, max] into the unsigned *dest */
	CLI_SIZE,   /* 4096, 64K, 2M, 1G (parse_size) in [min, max] into the uint64_t *dest */
	CLI_SIGNAL, /* a signal (cli_parse_signal) into the int *dest */
	CLI_FN,	    /* fn(value, dest): 0, or -EINVAL for a bad value */
};

struct cli_opt {
	const char *name; /* the long name, without "--"; NULL ends the table */
	char short_name;  /* 0: only the long name */
	enum cli_opt_type type;
	void *dest;
	long long min, max; /* CLI_INT, CLI_UINT, CLI_SIZE: the range allowed */
	int (*fn)(const char *value, void *dest);
	/* a bad value: "bad --NAME 'VALUE'" then this (e.g. " (precopy or stop)") */
	const char *hint;
	/* when set, the option must be given; this is the message if it is not */
	const char *missing;
};

struct cli_cmd {
	const char *name;	    /* "show": for "Try 'rtcr show --help'." */
	const char *usage;	    /* printed on stdout for -h, --help */
	const struct cli_opt *opts; /* ended by an entry without name; -h, --help are added */
	int min_args, max_args;	    /* positional arguments; max_args < 0: no limit */
	const char *missing_arg;    /* the message when there are fewer than min_args */
	bool stop_at_arg;	    /* options end at the first argument (rtcr run PROGRAM...) */
};

/* An entry of an option table, e.g. CLI_OPT("timeout", 't', CLI_INT, &ms, .min = 1,
 * .max = INT_MAX); CLI_END ends the table. */
#define CLI_OPT(n, s, t, d, ...)                                                                   \
	{                                                                                          \
		.name = (n), .short_name = (s), .type = (t), .dest = (d), __VA_ARGS__              \
	}
/* The positional arguments of a command that acts on one target: NAME. */
#define CLI_ONE_TARGET .min_args = 1, .max_args = 1, .missing_arg = "no target NAME given"
/* ... and of one that reads one image: DIR. */
#define CLI_ONE_IMAGE .min_args = 1, .max_args = 1, .missing_arg = "no image directory given"
#define CLI_END                                                                                    \
	{                                                                                          \
		.name = NULL                                                                       \
	}

/* cli_parse() found nothing that ends the command: go on. */
#define CLI_GO_ON (-1)
/* At most this many options per command. */
#define CLI_MAX_OPTS 30

/* Parse argv (argv[0]: the program name getopt puts in its messages) by
 * c. Returns CLI_GO_ON with *first (if first) set to the index of the first
 * positional argument, or the exit status of a command that is over: EXIT_OK after
 * --help, EXIT_USAGE after a usage error (the message is on stderr). */
int cli_parse(const struct cli_cmd *c, int argc, char **argv, int *first);

/* Print "rtcr: error: ..." and "Try 'rtcr CMD --help'."; returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* getopt_long's answer for an unknown option or missing argument: EXIT_USAGE. */
int cli_bad_option(const char *cmd);
/* Parse a signal: name with or without SIG (TERM, SIGKILL, RTMIN+2) or number; -1 if invalid. */
int cli_parse_signal(const char *s);

/* ---- main.c ---- */
/* A library call failed with ret (-errno): make sure the cause was printed; returns EXIT_FAIL. */
int cli_fail(int ret);

#endif
