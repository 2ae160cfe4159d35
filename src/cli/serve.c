/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rtcr serve: accept migrations on this node. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

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
	static const struct option longopts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"key", required_argument, NULL, 'k'},
	    {"detach", no_argument, NULL, 'd'},
	    {"timeout", required_argument, NULL, 't'},
	    {"log", required_argument, NULL, 'L'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct rtcr_serve_opts o = {0};
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "l:k:dt:L:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			o.listen = optarg;
			break;
		case 'k':
			o.key_file = optarg;
			break;
		case 'd':
			o.detach = true;
			break;
		case 't':
			o.timeout_ms = atoi(optarg);
			if (o.timeout_ms <= 0)
				return cli_usage_error("serve", "bad --timeout '%s'", optarg);
			break;
		case 'L':
			o.log_file = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return EXIT_OK;
		default:
			return cli_bad_option("serve");
		}
	}
	if (optind < argc)
		return cli_usage_error("serve", "unexpected argument '%s'", argv[optind]);
	if (!o.listen)
		return cli_usage_error("serve", "no address given (--listen HOST:PORT)");
	if (!o.key_file)
		return cli_usage_error("serve", "no key given (--key FILE)");
	ret = rtcr_serve(&o);
	if (ret < 0)
		return cli_fail(ret);
	return EXIT_OK;
}
