/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rtcr checkpoint: write an image of a running target. */
#include <stdio.h>
#include <string.h>

#include "base/str.h"
#include "cli/cli.h"
#include "rtcr/rtcr.h"

static const char usage[] =
    "Usage: rtcr checkpoint NAME -o DIR [--leave-running | --kill] [--dry-run] [--json]\n"
    "                       [--incremental | --full] [--parent DIR] [--live]\n"
    "                       [--allow-loss=KIND,...]\n"
    "\n"
    "Write an image of the target NAME into DIR (created if missing). The\n"
    "target is stopped only while its state is captured; the image is written\n"
    "while it runs again.\n"
    "\n"
    "A target started with dirty tracking (rtcr run --track=...) gets\n"
    "incremental images once one image of it was written: only the memory\n"
    "written since the last image is stored, and the image refers to that one\n"
    "(its parent) by id and checksum. 'rtcr restore' follows the chain;\n"
    "'rtcr image merge' compacts it into one full image.\n"
    "\n"
    "Options:\n"
    "  -o, --output DIR     the image directory (not needed with --dry-run)\n"
    "      --leave-running  let the target go on afterwards (the default)\n"
    "      --kill           kill the target once it is captured\n"
    "      --dry-run        write nothing; list what a checkpoint would refuse\n"
    "      --incremental    insist on an incremental image (an error if there is\n"
    "                       no tracking or no earlier image to build on)\n"
    "      --full           a full image even when an incremental one is possible\n"
    "      --parent DIR     the image to build on: must be the last one written\n"
    "                       of this target (implies --incremental)\n"
    "      --live           resume the target at once and copy its memory while\n"
    "                       it runs; a chunk is copied before the target's first\n"
    "                       write to it, so the image is still the memory of the\n"
    "                       instant of the pause (needs --track=fault)\n"
    "      --allow-loss=KIND,...\n"
    "                       what the image may go without, since no restore can\n"
    "                       bring it back (else the checkpoint is refused, naming\n"
    "                       it): udp-queue (datagrams queued on a UDP socket),\n"
    "                       inotify-queue (inotify events not read yet). What is\n"
    "                       given up is printed and recorded in the image\n"
    "      --json           print the result as JSON\n"
    "  -h, --help           show this help\n"
    "\n"
    "Exit status: 0 success (--dry-run: nothing would be refused), 1 failure\n"
    "(--dry-run: something would be refused), 2 usage error.\n";

static int loss_opt(const char *v, void *mask)
{
	return rtcr_loss_parse(v, mask);
}

/* A JSON array of the lines of text (empty ones left out). */
static void json_lines(const char *text)
{
	const char *p = text;
	bool first = true;

	fputc('[', stdout);
	while (*p) {
		size_t n = strcspn(p, "\n");
		char line[8192];

		snprintf(line, sizeof(line), "%.*s", (int)n, p);
		if (n) {
			if (!first)
				fputc(',', stdout);
			json_str(stdout, line);
			first = false;
		}
		p += n;
		if (*p)
			p++;
	}
	fputc(']', stdout);
}

/* The losses the image was written without: warned about on stderr. */
static void warn_losses(const struct rtcr_ckpt_result *res)
{
	const char *p = res->losses;

	if (!res->nlosses)
		return;
	fprintf(stderr, "rtcr: warning: the image goes without %u accepted loss%s:\n", res->nlosses,
		res->nlosses == 1 ? "" : "es");
	while (*p) {
		size_t n = strcspn(p, "\n");

		if (n)
			fprintf(stderr, "rtcr: warning:   %.*s\n", (int)n, p);
		p += n;
		if (*p)
			p++;
	}
}

static void print_json(const struct rtcr_ckpt_result *res, bool dry_run)
{
	printf("{\"pause_ns\":%llu,\"capture_ns\":%llu,\"write_ns\":%llu,\"mem_bytes\":%llu,"
	       "\"image_bytes\":%llu",
	       (unsigned long long)res->pause_ns, (unsigned long long)res->capture_ns,
	       (unsigned long long)res->write_ns, (unsigned long long)res->mem_bytes,
	       (unsigned long long)res->image_bytes);
	if (!dry_run)
		printf(",\"image_id\":\"%s\",\"incremental\":%s,\"parent_id\":\"%s\","
		       "\"chain_depth\":%u",
		       res->image_id, res->incremental ? "true" : "false", res->parent_id,
		       res->chain_depth);
	if (dry_run) {
		fputs(",\"refused\":", stdout);
		json_lines(res->report);
	} else {
		fputs(",\"losses\":", stdout);
		json_lines(res->losses);
	}
	fputs("}\n", stdout);
}

int cmd_checkpoint(int argc, char **argv)
{
	struct rtcr_ckpt_req r = {0};
	struct rtcr_ckpt_result res;
	bool json = false, leave = false;
	const struct cli_opt opts[] = {
	    CLI_OPT("incremental", 0, CLI_FLAG, &r.incremental),
	    CLI_OPT("full", 0, CLI_FLAG, &r.full),
	    CLI_OPT("parent", 0, CLI_STR, &r.parent),
	    CLI_OPT("live", 0, CLI_FLAG, &r.live),
	    CLI_OPT("output", 'o', CLI_STR, &r.dir),
	    CLI_OPT("leave-running", 0, CLI_FLAG, &leave),
	    CLI_OPT("kill", 0, CLI_FLAG, &r.kill),
	    CLI_OPT("dry-run", 0, CLI_FLAG, &r.dry_run),
	    CLI_OPT("allow-loss", 0, CLI_FN, &r.allow_loss, .fn = loss_opt,
		    .hint = " (a comma list of: " RTCR_LOSS_KNOWN ")"),
	    CLI_OPT("json", 0, CLI_FLAG, &json),
	    CLI_END,
	};
	const struct cli_cmd cmd = {
	    .name = "checkpoint", .usage = usage, .opts = opts, CLI_ONE_TARGET};
	int first, ret;

	ret = cli_parse(&cmd, argc, argv, &first);
	if (ret != CLI_GO_ON)
		return ret;
	if (leave && r.kill)
		return cli_usage_error("checkpoint",
				       "--leave-running and --kill exclude each other");
	if (!r.dir && !r.dry_run)
		return cli_usage_error("checkpoint", "no image directory given (-o DIR)");
	if (r.dry_run && r.kill)
		return cli_usage_error("checkpoint", "--dry-run and --kill exclude each other");
	if (r.full && (r.incremental || r.parent))
		return cli_usage_error("checkpoint", "--full excludes --incremental and --parent");
	if (r.live && r.kill)
		return cli_usage_error("checkpoint", "--live and --kill exclude each other");
	r.name = argv[first];

	ret = rtcr_checkpoint(&r, &res);
	if (ret < 0)
		return cli_fail(ret);
	warn_losses(&res);
	if (json)
		print_json(&res, r.dry_run);
	else if (r.dry_run && res.report[0]) {
		fputs(res.report, stdout);
		if (res.report[strlen(res.report) - 1] != '\n')
			putchar('\n');
	} else
		printf("%s\n", res.summary);
	if (r.dry_run && res.report[0])
		return EXIT_FAIL;
	return EXIT_OK;
}
