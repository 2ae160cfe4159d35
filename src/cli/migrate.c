/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rtcr migrate: move a running target to another node. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "base/str.h"
#include "cli/cli.h"
#include "rtcr/rtcr.h"

static const char usage[] =
    "Usage: rtcr migrate NAME --to HOST:PORT --key FILE [--mode precopy|stop]\n"
    "                    [--max-downtime MS] [--on-no-converge stop|abort]\n"
    "                    [--max-rounds N] [--timeout MS] [--json] [--quiet]\n"
    "                    [--allow-loss=KIND,...]\n"
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
    "      --allow-loss=KIND,...   what the target may go without, as for rtcr\n"
    "                              checkpoint: udp-queue, inotify-queue (else a\n"
    "                              migration of it is refused, naming it)\n"
    "      --json                  print the result as JSON\n"
    "  -q, --quiet                 no progress lines\n"
    "  -h, --help                  show this help\n"
    "\n"
    "Exit status: 0 migrated, 1 failed (the target runs on here), 2 usage error.\n";

/* Not base fmt_bytes: that prints "1 KiB", "512 B", "1.5 GiB" where users (and
 * scripts) see "1.0 KiB", "0.5 KiB", "1.50 GiB" here. */
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

/* --mode: stop, or precopy (the default) */
static int mode_opt(const char *v, void *stop)
{
	if (!strcmp(v, "stop"))
		*(bool *)stop = true;
	else if (strcmp(v, "precopy"))
		return -EINVAL;
	return 0;
}

/* --on-no-converge: abort, or stop (the default) */
static int no_converge_opt(const char *v, void *abort)
{
	if (!strcmp(v, "abort"))
		*(bool *)abort = true;
	else if (strcmp(v, "stop"))
		return -EINVAL;
	return 0;
}

static int loss_opt(const char *v, void *mask)
{
	return rtcr_loss_parse(v, mask);
}

int cmd_migrate(int argc, char **argv)
{
	struct rtcr_migrate_req r = {0};
	struct rtcr_migrate_result res;
	bool json = false, quiet = false;
	const struct cli_opt opts[] = {
	    CLI_OPT("to", 't', CLI_STR, &r.to, .missing = "no destination given (--to HOST:PORT)"),
	    CLI_OPT("key", 'k', CLI_STR, &r.key_file, .missing = "no key given (--key FILE)"),
	    CLI_OPT("mode", 'm', CLI_FN, &r.stop, .fn = mode_opt, .hint = " (precopy or stop)"),
	    CLI_OPT("max-downtime", 0, CLI_UINT, &r.max_downtime_ms, .min = 1, .max = INT_MAX),
	    CLI_OPT("on-no-converge", 0, CLI_FN, &r.abort_on_no_converge, .fn = no_converge_opt,
		    .hint = " (stop or abort)"),
	    CLI_OPT("max-rounds", 0, CLI_UINT, &r.max_rounds, .min = 1, .max = INT_MAX),
	    CLI_OPT("timeout", 0, CLI_INT, &r.timeout_ms, .min = 1, .max = INT_MAX),
	    CLI_OPT("allow-loss", 0, CLI_FN, &r.allow_loss, .fn = loss_opt,
		    .hint = " (a comma list of: " RTCR_LOSS_KNOWN ")"),
	    CLI_OPT("json", 0, CLI_FLAG, &json),
	    CLI_OPT("quiet", 'q', CLI_FLAG, &quiet),
	    CLI_END,
	};
	const struct cli_cmd cmd = {
	    .name = "migrate", .usage = usage, .opts = opts, CLI_ONE_TARGET};
	int first, ret;

	ret = cli_parse(&cmd, argc, argv, &first);
	if (ret != CLI_GO_ON)
		return ret;
	r.name = argv[first];
	if (!quiet && !json)
		r.progress = progress;
	ret = rtcr_migrate(&r, &res);
	if (ret < 0)
		return cli_fail(ret);
	if (json) {
		printf("{\"name\":");
		json_str(stdout, r.name);
		printf(",\"to\":");
		json_str(stdout, r.to);
		printf(",\"dest_name\":");
		json_str(stdout, res.dest_name);
		printf(",\"mode\":\"%s\",\"total_ns\":%llu,\"downtime_ns\":%llu,\"predicted_"
		       "downtime_ns\":"
		       "%llu,\"bytes_sent\":%llu,\"memory_bytes\":%llu,\"rounds\":%u,\"converged\":"
		       "%s}\n",
		       res.mode, (unsigned long long)res.total_ns,
		       (unsigned long long)res.downtime_ns, (unsigned long long)res.predicted_ns,
		       (unsigned long long)res.bytes_sent, (unsigned long long)res.memory_bytes,
		       res.rounds, res.converged ? "true" : "false");
	} else {
		char b[32];

		fmt_b(b, sizeof(b), res.bytes_sent);
		printf(
		    "migrated %s to %s as %s (%s): total %.1f ms, downtime %.1f ms (predicted %.1f "
		    "ms), %s sent, %u round%s%s\n",
		    r.name, r.to, res.dest_name, res.mode, res.total_ns / 1e6,
		    res.downtime_ns / 1e6, res.predicted_ns / 1e6, b, res.rounds,
		    res.rounds == 1 ? "" : "s", res.converged ? "" : " (did not converge)");
	}
	return EXIT_OK;
}
