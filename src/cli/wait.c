/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rtcr wait: wait for a target to end. */
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"
#include "rtcr/rtcr.h"

static const char usage[] =
    "Usage: rtcr wait NAME\n"
    "\n"
    "Wait until the target NAME has ended (and its output is drained), then\n"
    "exit with its status. For a target that has already ended, its status is\n"
    "taken from the run directory. The status is taken once: afterwards the\n"
    "target no longer shows in 'rtcr ps'.\n"
    "\n"
    "Options:\n"
    "  -h, --help  show this help\n"
    "\n"
    "Exit status: the target's status (its exit code, or 128+signal); 1 if\n"
    "there is no such target; 2 on a usage error.\n";

int cmd_wait(int argc, char **argv)
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
			return cli_bad_option("wait");
		}
	}
	if (optind >= argc)
		return cli_usage_error("wait", "no target NAME given");
	if (argc - optind > 1)
		return cli_usage_error("wait", "unexpected argument '%s'", argv[optind + 1]);
	ret = rtcr_wait(argv[optind]);
	if (ret < 0)
		return cli_fail(ret);
	return ret;
}
