/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rtcr run: start a program as a target. */
#include <stdio.h>

#include "cli/cli.h"
#include "rtcr/rtcr.h"

static const char usage[] =
    "Usage: rtcr run [--name NAME] [--detach] [--log FILE] [--track MODE] [--] PROGRAM\n"
    "                [ARGS...]\n"
    "\n"
    "Start PROGRAM in its own PID and time namespace with rtcr as its parent.\n"
    "The parent forwards the program's output, keeps a copy in the run\n"
    "directory ('rtcr log NAME'), and answers 'rtcr checkpoint', 'kill', 'wait'.\n"
    "In the foreground, Ctrl-C (SIGINT), SIGTERM, SIGHUP and SIGQUIT sent to rtcr\n"
    "are passed on to the program.\n"
    "\n"
    "Options:\n"
    "  -n, --name NAME   name of the target (default: the program's name, or\n"
    "                    NAME-2, NAME-3... when that is taken); an explicit name\n"
    "                    that is taken is an error\n"
    "  -d, --detach      return once the program runs and print its name; the\n"
    "                    parent stays in the background\n"
    "  -l, --log FILE    also append the program's output to FILE\n"
    "  -t, --track MODE  dirty tracking, for incremental and live checkpoints:\n"
    "                    fault[:GRAN]  write-protect faults handled by rtcr, in\n"
    "                                  chunks of GRAN bytes (4K..16M, default 64K)\n"
    "                    async         the kernel records writes (userfaultfd\n"
    "                                  WP_ASYNC + PAGEMAP_SCAN), page granular\n"
    "                    off           full checkpoints only (the default)\n"
    "  -h, --help        show this help\n"
    "\n"
    "Exit status: in the foreground, the program's status (its exit code, or\n"
    "128+signal); with --detach, 0 once it runs. 1 if it could not be started,\n"
    "2 on a usage error.\n";

int cmd_run(int argc, char **argv)
{
	struct rtcr_run_opts o = {0};
	const struct cli_opt opts[] = {
	    CLI_OPT("name", 'n', CLI_STR, &o.name),
	    CLI_OPT("detach", 'd', CLI_FLAG, &o.detach),
	    CLI_OPT("log", 'l', CLI_STR, &o.log_file),
	    CLI_OPT("track", 't', CLI_STR, &o.track),
	    CLI_END,
	};
	/* options end at PROGRAM; what follows is its own */
	const struct cli_cmd cmd = {.name = "run",
				    .usage = usage,
				    .opts = opts,
				    .min_args = 1,
				    .max_args = -1,
				    .missing_arg = "no PROGRAM given",
				    .stop_at_arg = true};
	int first, ret;

	ret = cli_parse(&cmd, argc, argv, &first);
	if (ret != CLI_GO_ON)
		return ret;
	o.argv = argv + first;
	ret = rtcr_run(&o);
	if (ret < 0)
		return cli_fail(ret);
	return ret;
}
