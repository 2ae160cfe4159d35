/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rtcr log: print what a target printed. */
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
	const struct cli_opt opts[] = {CLI_END};
	const struct cli_cmd cmd = {.name = "log", .usage = usage, .opts = opts, CLI_ONE_TARGET};
	int first, ret;

	ret = cli_parse(&cmd, argc, argv, &first);
	if (ret != CLI_GO_ON)
		return ret;
	fflush(stdout);
	ret = rtcr_log(argv[first], STDOUT_FILENO);
	if (ret < 0)
		return cli_fail(ret);
	return EXIT_OK;
}
