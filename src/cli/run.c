/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rtcr run: start a program as a target. */
#include <getopt.h>
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
	static const struct option longopts[] = {
	    {"name", required_argument, NULL, 'n'},
	    {"detach", no_argument, NULL, 'd'},
	    {"log", required_argument, NULL, 'l'},
	    {"track", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct rtcr_run_opts o = {0};
	int opt, ret;

	/* "+": options end at PROGRAM; what follows is its own */
	while ((opt = getopt_long(argc, argv, "+n:dl:t:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			o.name = optarg;
			break;
		case 'd':
			o.detach = true;
			break;
		case 'l':
			o.log_file = optarg;
			break;
		case 't':
			o.track = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return EXIT_OK;
		default:
			return cli_bad_option("run");
		}
	}
	if (optind >= argc)
		return cli_usage_error("run", "no PROGRAM given");
	o.argv = argv + optind;
	ret = rtcr_run(&o);
	if (ret < 0)
		return cli_fail(ret);
	return ret;
}
