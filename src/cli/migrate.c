/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rtcr migrate: move a running target to another node. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "rtcr/rtcr.h"

static const char usage[] =
    "Usage: rtcr migrate NAME --to HOST:PORT --key FILE [--mode precopy|stop]\n"
    "                    [--max-downtime MS] [--on-no-converge stop|abort]\n"
    "                    [--max-rounds N] [--timeout MS] [--json] [--quiet]\n"
    "\n"
    "Move the target NAME to the node where 'rtcr serve' listens on HOST:PORT.\n"
    "\n"
    "  precopy (default)  memory is sent while the target runs, then rounds of\n"
    "                     what it wrote meanwhile, until the rest fits in\n"
    "                     --max-downtime; then the target is paused and the rest\n"
    "                     sent (dirty tracking is armed for it if the target runs\n"
    "                     without --track)\n"
    "  stop               pause, send everything, restore\n"
    "\n"
    "The files the target uses must be the same there (size, mtime): else the\n"
    "migration is refused before the target pauses, listing what differs.\n"
    "The target stays paused here until the destination has restored it; only\n"
    "then does it end here. If anything fails before, it runs on here where it\n"
    "was and the destination discards what it built.\n"
    "\n"
    "Options:\n"
    "  -t, --to HOST:PORT          the destination\n"
    "  -k, --key FILE              the key the destination holds (rtcr keygen)\n"
    "  -m, --mode MODE             precopy or stop\n"
    "      --max-downtime MS       pause the pre-copy aims at (default 50)\n"
    "      --on-no-converge WHAT   when the rounds do not get there: stop (migrate\n"
    "                              anyway, the default) or abort (the target runs\n"
    "                              on here)\n"
    "      --max-rounds N          at most N pre-copy rounds (default 30)\n"
    "      --timeout MS            longest wait for any step of the destination\n"
    "                              (default 10000)\n"
    "      --json                  print the result as JSON\n"
    "  -q, --quiet                 no progress lines\n"
    "  -h, --help                  show this help\n"
    "\n"
    "Exit status: 0 migrated, 1 failed (the target runs on here), 2 usage error.\n";

static void fmt_b(char *b, size_t n, uint64_t v)
{
	if (v >= (1ULL << 30))
		snprintf(b, n, "%.2f GiB", v / (double)(1ULL << 30));
	else if (v >= (1ULL << 20))
		snprintf(b, n, "%.1f MiB", v / (double)(1ULL << 20));
	else
		snprintf(b, n, "%.1f KiB", v / 1024.0);
}

static void progress(void *arg, const char *phase, unsigned round, uint64_t sent,
		     uint64_t round_bytes, uint64_t dirty, uint64_t rate)
{
	char s[32], rb[32], d[32], r[32];

	(void)arg;
	fmt_b(s, sizeof(s), sent);
	fmt_b(rb, sizeof(rb), round_bytes);
	fmt_b(d, sizeof(d), dirty);
	fmt_b(r, sizeof(r), rate);
	fprintf(stderr, "  %-9s round %u: sent %s (this round %s), dirty %s, link %s/s\n", phase,
		round, s, rb, d, r);
}

int cmd_migrate(int argc, char **argv)
{
	enum { OPT_MAXDOWN = 256, OPT_NOCONV, OPT_ROUNDS, OPT_TIMEOUT, OPT_JSON };
	static const struct option longopts[] = {
	    {"to", required_argument, NULL, 't'},
	    {"key", required_argument, NULL, 'k'},
	    {"mode", required_argument, NULL, 'm'},
	    {"max-downtime", required_argument, NULL, OPT_MAXDOWN},
	    {"on-no-converge", required_argument, NULL, OPT_NOCONV},
	    {"max-rounds", required_argument, NULL, OPT_ROUNDS},
	    {"timeout", required_argument, NULL, OPT_TIMEOUT},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct rtcr_migrate_req r = {0};
	struct rtcr_migrate_result res;
	bool json = false, quiet = false;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "t:k:m:qh", longopts, NULL)) != -1) {
		switch (opt) {
		case 't':
			r.to = optarg;
			break;
		case 'k':
			r.key_file = optarg;
			break;
		case 'm':
			if (!strcmp(optarg, "stop"))
				r.stop = true;
			else if (strcmp(optarg, "precopy"))
				return cli_usage_error("migrate", "bad --mode '%s' (precopy or stop)",
						       optarg);
			break;
		case OPT_MAXDOWN:
			r.max_downtime_ms = (unsigned)atoi(optarg);
			if (atoi(optarg) <= 0)
				return cli_usage_error("migrate", "bad --max-downtime '%s'", optarg);
			break;
		case OPT_NOCONV:
			if (!strcmp(optarg, "abort"))
				r.abort_on_no_converge = true;
			else if (strcmp(optarg, "stop"))
				return cli_usage_error("migrate",
						       "bad --on-no-converge '%s' (stop or abort)",
						       optarg);
			break;
		case OPT_ROUNDS:
			r.max_rounds = (unsigned)atoi(optarg);
			if (atoi(optarg) <= 0)
				return cli_usage_error("migrate", "bad --max-rounds '%s'", optarg);
			break;
		case OPT_TIMEOUT:
			r.timeout_ms = atoi(optarg);
			if (r.timeout_ms <= 0)
				return cli_usage_error("migrate", "bad --timeout '%s'", optarg);
			break;
		case OPT_JSON:
			json = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return EXIT_OK;
		default:
			return cli_bad_option("migrate");
		}
	}
	if (optind >= argc)
		return cli_usage_error("migrate", "no target NAME given");
	if (argc - optind > 1)
		return cli_usage_error("migrate", "unexpected argument '%s'", argv[optind + 1]);
	if (!r.to)
		return cli_usage_error("migrate", "no destination given (--to HOST:PORT)");
	if (!r.key_file)
		return cli_usage_error("migrate", "no key given (--key FILE)");
	r.name = argv[optind];
	if (!quiet && !json && isatty(2))
		r.progress = progress;
	else if (!quiet && !json)
		r.progress = progress;
	ret = rtcr_migrate(&r, &res);
	if (ret < 0)
		return cli_fail(ret);
	if (json) {
		printf("{\"name\":");
		cli_json_str(stdout, r.name);
		printf(",\"to\":");
		cli_json_str(stdout, r.to);
		printf(",\"dest_name\":");
		cli_json_str(stdout, res.dest_name);
		printf(",\"mode\":\"%s\",\"total_ns\":%llu,\"downtime_ns\":%llu,\"predicted_downtime_ns\":"
		       "%llu,\"bytes_sent\":%llu,\"memory_bytes\":%llu,\"rounds\":%u,\"converged\":%s}\n",
		       res.mode, (unsigned long long)res.total_ns, (unsigned long long)res.downtime_ns,
		       (unsigned long long)res.predicted_ns, (unsigned long long)res.bytes_sent,
		       (unsigned long long)res.memory_bytes, res.rounds,
		       res.converged ? "true" : "false");
	} else {
		char b[32];

		fmt_b(b, sizeof(b), res.bytes_sent);
		printf("migrated %s to %s as %s (%s): total %.1f ms, downtime %.1f ms (predicted %.1f "
		       "ms), %s sent, %u round%s%s\n",
		       r.name, r.to, res.dest_name, res.mode, res.total_ns / 1e6,
		       res.downtime_ns / 1e6, res.predicted_ns / 1e6, b, res.rounds,
		       res.rounds == 1 ? "" : "s", res.converged ? "" : " (did not converge)");
	}
	return EXIT_OK;
}
