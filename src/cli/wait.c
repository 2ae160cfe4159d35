/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rtcr wait: wait for a target to end. */
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
	const struct cli_opt opts[] = {CLI_END};
	const struct cli_cmd cmd = {.name = "wait", .usage = usage, .opts = opts, CLI_ONE_TARGET};
	int first, ret;

	ret = cli_parse(&cmd, argc, argv, &first);
	if (ret != CLI_GO_ON)
		return ret;
	ret = rtcr_wait(argv[first]);
	if (ret < 0)
		return cli_fail(ret);
	return ret;
}
