/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rtcr kill: send a signal to a target. */
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
	int sig = SIGTERM;
	const struct cli_opt opts[] = {
	    CLI_OPT("signal", 's', CLI_SIGNAL, &sig),
	    CLI_END,
	};
	const struct cli_cmd cmd = {.name = "kill", .usage = usage, .opts = opts, CLI_ONE_TARGET};
	int first, ret;

	ret = cli_parse(&cmd, argc, argv, &first);
	if (ret != CLI_GO_ON)
		return ret;
	ret = rtcr_kill(argv[first], sig);
	if (ret < 0)
		return cli_fail(ret);
	return EXIT_OK;
}
