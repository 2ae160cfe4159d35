/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rtcr serve: accept migrations on this node. */
#include <stdio.h>
#include <limits.h>

#include "cli/cli.h"
#include "rtcr/rtcr.h"

static const char usage[] =
    "Usage: rtcr serve --listen HOST:PORT --key FILE [--detach [--log FILE]] [--timeout MS]\n"
    "\n"
    "Accept migrations of targets from other nodes (rtcr migrate) and run\n"
    "them here. Every peer must prove it holds the key FILE (rtcr keygen);\n"
    "the stream is encrypted and every message is checked. Each migrated\n"
    "target gets its own parent on this node: rtcr ps, log, checkpoint, kill\n"
    "and wait work on it as on any target. A migration that does not\n"
    "complete leaves nothing behind here.\n"
    "\n"
    "Options:\n"
    "  -l, --listen HOST:PORT  address to listen on (':PORT': all addresses)\n"
    "  -k, --key FILE          the key file (mode 0600)\n"
    "  -d, --detach            run in the background once listening\n"
    "  -t, --timeout MS        longest wait for any step of a peer (default 10000)\n"
    "      --log FILE          detached: append its messages to FILE\n"
    "  -h, --help              show this help\n"
    "\n"
    "Stop it with SIGTERM. Exit status: 0 stopped, 1 failure, 2 usage error.\n";

int cmd_serve(int argc, char **argv)
{
	struct rtcr_serve_opts o = {0};
	const struct cli_opt opts[] = {
	    CLI_OPT("listen", 'l', CLI_STR, &o.listen,
		    .missing = "no address given (--listen HOST:PORT)"),
	    CLI_OPT("key", 'k', CLI_STR, &o.key_file, .missing = "no key given (--key FILE)"),
	    CLI_OPT("detach", 'd', CLI_FLAG, &o.detach),
	    CLI_OPT("timeout", 't', CLI_INT, &o.timeout_ms, .min = 1, .max = INT_MAX),
	    CLI_OPT("log", 'L', CLI_STR, &o.log_file),
	    CLI_END,
	};
	const struct cli_cmd cmd = {.name = "serve", .usage = usage, .opts = opts};
	int ret;

	ret = cli_parse(&cmd, argc, argv, NULL);
	if (ret != CLI_GO_ON)
		return ret;
	ret = rtcr_serve(&o);
	if (ret < 0)
		return cli_fail(ret);
	return EXIT_OK;
}
