/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rtcr log: print what a target printed. */
#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "cli/cli.h"
#include "rtcr/rtcr.h"

static const char usage[] =
    "Usage: rtcr log NAME\n"
    "\n"
    "Print everything the target NAME wrote to its stdout and stderr so far\n"
    "(also for a target that has ended).\n"
    "\n"
    "Options:\n"
    "  -h, --help  show this help\n"
    "\n"
    "Exit status: 0 success, 1 failure (no such target...), 2 usage error.\n";

int cmd_log(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			fputs(usage, stdout);
			return EXIT_OK;
		default:
			return cli_bad_option("log");
		}
	}
	if (optind >= argc)
		return cli_usage_error("log", "no target NAME given");
	if (argc - optind > 1)
		return cli_usage_error("log", "unexpected argument '%s'", argv[optind + 1]);
	fflush(stdout);
	ret = rtcr_log(argv[optind], STDOUT_FILENO);
	if (ret < 0)
		return cli_fail(ret);
	return EXIT_OK;
}
