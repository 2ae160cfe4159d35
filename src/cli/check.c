/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rtcr check: does this kernel have what rtcr needs? */
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"
#include "rtcr/rtcr.h"

static const char usage[] =
    "Usage: rtcr check [--json]\n"
    "\n"
    "Print each kernel feature rtcr uses and whether this kernel has it.\n"
    "\n"
    "Options:\n"
    "      --json  print JSON\n"
    "  -h, --help  show this help\n"
    "\n"
    "Exit status: 0 when the basics are there, 1 when something rtcr needs is\n"
    "missing, 2 on a usage error.\n";

int cmd_check(int argc, char **argv)
{
	enum { OPT_JSON = 256 };
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, OPT_JSON},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	bool json = false;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_JSON:
			json = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return EXIT_OK;
		default:
			return cli_bad_option("check");
		}
	}
	if (optind < argc)
		return cli_usage_error("check", "unexpected argument '%s'", argv[optind]);
	ret = rtcr_check(stdout, json);
	fflush(stdout);
	return ret == 0 ? EXIT_OK : EXIT_FAIL;
}
