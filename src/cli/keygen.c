/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rtcr keygen: make the key file that rtcr serve and rtcr migrate share. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "rtcr/rtcr.h"

static const char usage[] =
    "Usage: rtcr keygen -o FILE [--force]\n"
    "\n"
    "Write a new random 256-bit key into FILE, for 'rtcr serve' and 'rtcr\n"
    "migrate': both nodes of a migration need the same key file (copy it over\n"
    "a secure channel, e.g. scp). Anyone holding it can send targets to, and\n"
    "receive them from, a node that uses it. The file is created with mode\n"
    "0600; rtcr refuses a key file that group or others may access.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE  where to write the key\n"
    "  -f, --force        replace FILE if it exists\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit status: 0 success, 1 failure (FILE exists and no --force, ...), 2 usage\n"
    "error.\n";

int cmd_keygen(int argc, char **argv)
{
	char abspath[PATH_MAX];
	const char *path = NULL;
	bool force = false;
	const struct cli_opt opts[] = {
	    CLI_OPT("output", 'o', CLI_STR, &path),
	    CLI_OPT("force", 'f', CLI_FLAG, &force),
	    CLI_END,
	};
	const struct cli_cmd cmd = {.name = "keygen", .usage = usage, .opts = opts};
	int ret;

	ret = cli_parse(&cmd, argc, argv, NULL);
	if (ret != CLI_GO_ON)
		return ret;
	if (!path || !*path)
		return cli_usage_error("keygen", "no key file given (-o FILE)");

	ret = rtcr_keygen(path, force);
	if (ret == -EEXIST)
		fprintf(stderr, "Use --force to replace it (peers that use the old key will be "
				"refused).\n");
	if (ret < 0)
		return cli_fail(ret);
	printf("wrote a new key to %s (mode 0600)\n", realpath(path, abspath) ? abspath : path);
	return EXIT_OK;
}
