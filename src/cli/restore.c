/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rtcr restore: start a target again from an image. */
#include <stdio.h>

#include "cli/cli.h"
#include "rtcr/rtcr.h"

static const char usage[] =
    "Usage: rtcr restore DIR [--name NAME] [--detach] [--log FILE] [--ignore-cpu]\n"
    "                    [--track MODE]\n"
    "\n"
    "Start the target saved in the image directory DIR again, in new PID and\n"
    "time namespaces, with rtcr as its parent (as 'rtcr run' does).\n"
    "An incremental image is restored with the images it builds on: each is\n"
    "looked up where it was written (or beside DIR), and must be the very\n"
    "image recorded (id and checksum); a missing or different link is an error.\n"
    "\n"
    "Options:\n"
    "  -n, --name NAME   name of the restored target (default: the name in the\n"
    "                    image, or NAME-2, NAME-3... when that is taken); an\n"
    "                    explicit name that is taken is an error\n"
    "  -d, --detach      return once the target runs and print its name\n"
    "  -l, --log FILE    also append the target's output to FILE\n"
    "      --ignore-cpu  restore even if CPU features recorded in the image are\n"
    "                    missing here (the target may crash)\n"
    "      --track MODE  dirty tracking of the restored target (see rtcr run)\n"
    "  -h, --help        show this help\n"
    "\n"
    "Exit status: in the foreground, the target's status (its exit code, or\n"
    "128+signal); with --detach, 0 once it runs. 1 if it could not be restored,\n"
    "2 on a usage error.\n";

int cmd_restore(int argc, char **argv)
{
	struct rtcr_restore_opts o = {0};
	const struct cli_opt opts[] = {
	    CLI_OPT("name", 'n', CLI_STR, &o.name),
	    CLI_OPT("detach", 'd', CLI_FLAG, &o.detach),
	    CLI_OPT("log", 'l', CLI_STR, &o.log_file),
	    CLI_OPT("ignore-cpu", 0, CLI_FLAG, &o.ignore_cpu),
	    CLI_OPT("track", 0, CLI_STR, &o.track),
	    CLI_END,
	};
	const struct cli_cmd cmd = {.name = "restore", .usage = usage, .opts = opts, CLI_ONE_IMAGE};
	int first, ret;

	ret = cli_parse(&cmd, argc, argv, &first);
	if (ret != CLI_GO_ON)
		return ret;
	o.dir = argv[first];
	ret = rtcr_restore(&o);
	if (ret < 0)
		return cli_fail(ret);
	return ret;
}
