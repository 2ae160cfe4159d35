/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rtcr show: describe an image. */
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"
#include "rtcr/rtcr.h"

static const char usage[] =
    "Usage: rtcr show DIR [--json]\n"
    "\n"
    "Describe the image in directory DIR: what was checkpointed, when, where,\n"
    "and what it holds. The image is validated first.\n"
    "\n"
    "Options:\n"
    "      --json  print JSON\n"
    "  -h, --help  show this help\n"
    "\n"
    "Exit status: 0 success, 1 failure (no image, invalid image...), 2 usage error.\n";

int cmd_show(int argc, char **argv)
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
			return cli_bad_option("show");
		}
	}
	if (optind >= argc)
		return cli_usage_error("show", "no image directory given");
	if (argc - optind > 1)
		return cli_usage_error("show", "unexpected argument '%s'", argv[optind + 1]);
	ret = rtcr_show(argv[optind], stdout, json);
	if (fflush(stdout) && ret >= 0) {
		perror("rtcr: error: stdout");
		return EXIT_FAIL;
	}
	if (ret < 0)
		return cli_fail(ret);
	return EXIT_OK;
}
