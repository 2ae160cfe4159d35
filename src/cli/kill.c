/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rtcr kill: send a signal to a target. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>

#include "cli/cli.h"
#include "rtcr/rtcr.h"

static const char usage[] =
    "Usage: rtcr kill NAME [--signal SIG]\n"
    "\n"
    "Send a signal to the target NAME (through its parent).\n"
    "\n"
    "Options:\n"
    "  -s, --signal SIG  the signal: a name with or without SIG (TERM, SIGKILL,\n"
    "                    RTMIN+1) or a number; default TERM\n"
    "  -h, --help        show this help\n"
    "\n"
    "Exit status: 0 success, 1 failure (no such target...), 2 usage error.\n";

int cmd_kill(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"signal", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int sig = SIGTERM, opt, ret;

	while ((opt = getopt_long(argc, argv, "s:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			sig = cli_parse_signal(optarg);
			if (sig < 0)
				return cli_usage_error("kill", "unknown signal '%s'", optarg);
			break;
		case 'h':
			fputs(usage, stdout);
			return EXIT_OK;
		default:
			return cli_bad_option("kill");
		}
	}
	if (optind >= argc)
		return cli_usage_error("kill", "no target NAME given");
	if (argc - optind > 1)
		return cli_usage_error("kill", "unexpected argument '%s'", argv[optind + 1]);
	ret = rtcr_kill(argv[optind], sig);
	if (ret < 0)
		return cli_fail(ret);
	return EXIT_OK;
}
