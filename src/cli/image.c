/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rtcr image: operations on image directories (merge). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "rtcr/rtcr.h"

static const char usage[] =
    "Usage: rtcr image merge DIR... -o OUT\n"
    "\n"
    "Commands:\n"
    "  merge  compact a chain of incremental images into one full image. The\n"
    "         last DIR is the newest image; the images it builds on are found\n"
    "         among the other DIRs, where they were written, or beside it. Each\n"
    "         link must be the very image recorded (id and metadata checksum),\n"
    "         and every page's checksum is verified while copying. OUT is\n"
    "         created and must not hold an image; the chain is left as it is.\n"
    "\n"
    "Options:\n"
    "  -o, --output OUT  the directory of the merged image\n"
    "  -h, --help        show this help\n"
    "\n"
    "Exit status: 0 success, 1 failure (broken chain, corrupt image...), 2 usage\n"
    "error.\n";

static int cmd_merge(int argc, char **argv)
{
	const char *out = NULL;
	const struct cli_opt opts[] = {
	    CLI_OPT("output", 'o', CLI_STR, &out, .missing = "no output directory given (-o OUT)"),
	    CLI_END,
	};
	const struct cli_cmd cmd = {.name = "image",
				    .usage = usage,
				    .opts = opts,
				    .min_args = 1,
				    .max_args = -1,
				    .missing_arg = "no image directory given"};
	int first, ret;

	/* cli_parse starts a fresh scan: main() used getopt already */
	ret = cli_parse(&cmd, argc, argv, &first);
	if (ret != CLI_GO_ON)
		return ret;
	ret = rtcr_image_merge((const char *const *)&argv[first], argc - first, out);
	if (ret < 0)
		return cli_fail(ret);
	printf("merged the image chain of %s into %s\n", argv[argc - 1], out);
	return EXIT_OK;
}

int cmd_image(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	if (!strcmp(argv[1], "merge"))
		return cmd_merge(argc - 1, argv + 1);
	return cli_usage_error("image", "unknown image command '%s'", argv[1]);
}
