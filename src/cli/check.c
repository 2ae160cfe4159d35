/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rtcr check: does this kernel have what rtcr needs? */
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
	bool json = false;
	const struct cli_opt opts[] = {
	    CLI_OPT("json", 0, CLI_FLAG, &json),
	    CLI_END,
	};
	const struct cli_cmd cmd = {.name = "check", .usage = usage, .opts = opts};
	int ret;

	ret = cli_parse(&cmd, argc, argv, NULL);
	if (ret != CLI_GO_ON)
		return ret;
	ret = rtcr_check(stdout, json);
	fflush(stdout);
	return ret == 0 ? EXIT_OK : EXIT_FAIL;
}
