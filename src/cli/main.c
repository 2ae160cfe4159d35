/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rtcr: dispatch to the subcommands, global options. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "rtcr/rtcr.h"

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} commands[] = {
    {"run", cmd_run, "start a program as a target, with rtcr as its parent"},
    {"checkpoint", cmd_checkpoint, "write an image of a running target"},
    {"restore", cmd_restore, "start a target again from an image"},
    {"ps", cmd_ps, "list targets"},
    {"kill", cmd_kill, "send a signal to a target"},
    {"wait", cmd_wait, "wait for a target to end; exit with its status"},
    {"log", cmd_log, "print what a target printed"},
    {"show", cmd_show, "describe an image"},
    {"image", cmd_image, "operations on images: merge a chain of incremental images"},
    {"check", cmd_check, "check that this kernel has what rtcr needs"},
    {"migrate", cmd_migrate, "move a running target to another node"},
    {"serve", cmd_serve, "accept migrations from other nodes"},
    {"keygen", cmd_keygen, "make a key file for rtcr serve/migrate"},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(f, "Usage: rtcr [-v|-q] COMMAND [ARGS...]\n"
		   "       rtcr --help | --version\n"
		   "\n"
		   "Checkpoint and restore Linux processes. rtcr runs a program as its child,\n"
		   "stays its parent, and can write an image of it and start it again later.\n"
		   "\n"
		   "Commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n"
		   "Global options:\n"
		   "  -v, --verbose  say more (repeat for debug output)\n"
		   "  -q, --quiet    print errors only\n"
		   "  -h, --help     show this help\n"
		   "  -V, --version  show the version\n"
		   "\n"
		   "Run 'rtcr COMMAND --help' for a command's options.\n"
		   "Targets are kept in $RTCR_RUNDIR (default /run/rtcr for root,\n"
		   "$XDG_RUNTIME_DIR/rtcr otherwise).\n"
		   "\n"
		   "Exit status: 0 success, 1 failure, 2 usage error; 'run' and 'wait' exit\n"
		   "with the target's status (its exit code, or 128+signal).\n");
}

int cli_fail(int ret)
{
	/* The library logs the cause where it is known; if nothing was logged
	 * (a bug), still name it. */
	if (!*rtcr_last_error())
		fprintf(stderr, "rtcr: error: %s\n", strerror(ret < 0 ? -ret : EIO));
	return EXIT_FAIL;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"verbose", no_argument, NULL, 'v'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	static char prog[64];
	int verbosity = 1, opt;

	/* "+": stop at the command; its options are its own */
	while ((opt = getopt_long(argc, argv, "+vqhV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'v':
			verbosity++;
			break;
		case 'q':
			verbosity = 0;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("rtcr %s\n", RTCR_VERSION);
			return EXIT_OK;
		default:
			fprintf(stderr, "Try 'rtcr --help'.\n");
			return EXIT_USAGE;
		}
	}
	rtcr_set_verbosity(verbosity > 3 ? 3 : verbosity);
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	argc -= optind;
	argv += optind;
	if (!strcmp(argv[0], "help")) {
		if (argc < 2) {
			usage(stdout);
			return EXIT_OK;
		}
		/* rtcr help CMD == rtcr CMD --help */
		for (size_t i = 0; i < NCOMMANDS; i++) {
			if (!strcmp(argv[1], commands[i].name)) {
				char *hargv[] = {prog, (char *)"--help", NULL};

				snprintf(prog, sizeof(prog), "rtcr %s", commands[i].name);
				optind = 0; /* 0: GNU getopt starts over (ordering too) */
				return commands[i].fn(2, hargv);
			}
		}
		return cli_usage_error(NULL, "unknown command '%s'", argv[1]);
	}
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (!strcmp(argv[0], commands[i].name)) {
			/* argv[0] is now the command: getopt_long names it in its messages */
			snprintf(prog, sizeof(prog), "rtcr %s", commands[i].name);
			argv[0] = prog;
			optind = 0; /* 0: GNU getopt starts over (ordering too) */
			return commands[i].fn(argc, argv);
		}
	}
	return cli_usage_error(NULL, "unknown command '%s'", argv[0]);
}
