/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rtcr restore: start a target again from an image. */
#include <getopt.h>
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
	enum { OPT_IGNORE_CPU = 256, OPT_TRACK };
	static const struct option longopts[] = {
	    {"name", required_argument, NULL, 'n'},
	    {"detach", no_argument, NULL, 'd'},
	    {"log", required_argument, NULL, 'l'},
	    {"ignore-cpu", no_argument, NULL, OPT_IGNORE_CPU},
	    {"track", required_argument, NULL, OPT_TRACK},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct rtcr_restore_opts o = {0};
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "n:dl:h", longopts, NULL)) != -1) {
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
		case OPT_IGNORE_CPU:
			o.ignore_cpu = true;
			break;
		case OPT_TRACK:
			o.track = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return EXIT_OK;
		default:
			return cli_bad_option("restore");
		}
	}
	if (optind >= argc)
		return cli_usage_error("restore", "no image directory given");
	if (argc - optind > 1)
		return cli_usage_error("restore", "unexpected argument '%s'", argv[optind + 1]);
	o.dir = argv[optind];
	ret = rtcr_restore(&o);
	if (ret < 0)
		return cli_fail(ret);
	return ret;
}
