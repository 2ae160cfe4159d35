/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rtcr show: describe an image. */
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
	bool json = false;
	const struct cli_opt opts[] = {
	    CLI_OPT("json", 0, CLI_FLAG, &json),
	    CLI_END,
	};
	const struct cli_cmd cmd = {.name = "show", .usage = usage, .opts = opts, CLI_ONE_IMAGE};
	int first, ret;

	ret = cli_parse(&cmd, argc, argv, &first);
	if (ret != CLI_GO_ON)
		return ret;
	ret = rtcr_show(argv[first], stdout, json);
	if (fflush(stdout) && ret >= 0) {
		perror("rtcr: error: stdout");
		return EXIT_FAIL;
	}
	if (ret < 0)
		return cli_fail(ret);
	return EXIT_OK;
}
