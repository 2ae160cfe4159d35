/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rtcr ps: list targets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/str.h"
#include "cli/cli.h"
#include "rtcr/rtcr.h"

static const char usage[] =
    "Usage: rtcr ps [--json]\n"
    "\n"
    "List the targets in the run directory: running ones, and exited ones\n"
    "whose status nobody has taken with 'rtcr wait' yet.\n"
    "\n"
    "Columns: NAME, PID (host pid of the target), NSPID (its pid inside its\n"
    "namespace), STATE (running, stopped, checkpointing, busy, exited(STATUS),\n"
    "lost: its parent died), UPTIME, COMMAND, ORIGIN (run, or restore DIR).\n"
    "\n"
    "Options:\n"
    "      --json  print a JSON array of objects\n"
    "  -h, --help  show this help\n"
    "\n"
    "Exit status: 0 success, 1 failure, 2 usage error.\n";

static void fmt_uptime(char *buf, size_t len, const struct rtcr_target_info *t)
{
	struct timespec ts;
	uint64_t now, s;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	if (!strcmp(t->state, "exited") || !strcmp(t->state, "lost") || !t->started_ns ||
	    now < t->started_ns) {
		snprintf(buf, len, "-");
		return;
	}
	s = (now - t->started_ns) / 1000000000ULL;
	if (s < 60)
		snprintf(buf, len, "%llus", (unsigned long long)s);
	else if (s < 3600)
		snprintf(buf, len, "%llum%02llus", (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60));
	else if (s < 86400)
		snprintf(buf, len, "%lluh%02llum", (unsigned long long)(s / 3600),
			 (unsigned long long)(s / 60 % 60));
	else
		snprintf(buf, len, "%llud%02lluh", (unsigned long long)(s / 86400),
			 (unsigned long long)(s / 3600 % 24));
}

static void print_json(const struct rtcr_target_info *t, int n)
{
	putchar('[');
	for (int i = 0; i < n; i++) {
		printf("%s{\"name\":", i ? "," : "");
		json_str(stdout, t[i].name);
		printf(",\"pid\":%d,\"ns_pid\":%d,\"parent_pid\":%d,\"state\":", (int)t[i].pid,
		       (int)t[i].ns_pid, (int)t[i].parent_pid);
		json_str(stdout, t[i].state);
		if (!strcmp(t[i].state, "exited"))
			printf(",\"status\":%d", t[i].status);
		printf(",\"started_ns\":%llu,\"command\":", (unsigned long long)t[i].started_ns);
		json_str(stdout, t[i].command);
		fputs(",\"origin\":", stdout);
		json_str(stdout, t[i].origin);
		putchar('}');
	}
	puts("]");
}

/* Show at most this much of a command in the table (marked with "...") */
#define CMD_COLS 40

static void print_table(const struct rtcr_target_info *t, int n)
{
	int wn = 4;

	for (int i = 0; i < n; i++)
		if ((int)strlen(t[i].name) > wn)
			wn = (int)strlen(t[i].name);
	printf("%-*s %7s %6s %-14s %7s %-*s %s\n", wn, "NAME", "PID", "NSPID", "STATE", "UPTIME",
	       CMD_COLS, "COMMAND", "ORIGIN");
	for (int i = 0; i < n; i++) {
		char state[48], up[32], cmd[CMD_COLS + 1];

		if (!strcmp(t[i].state, "exited"))
			snprintf(state, sizeof(state), "exited(%d)", t[i].status);
		else
			snprintf(state, sizeof(state), "%s", t[i].state);
		fmt_uptime(up, sizeof(up), &t[i]);
		if (strlen(t[i].command) > CMD_COLS) {
			memcpy(cmd, t[i].command, CMD_COLS - 3);
			memcpy(cmd + CMD_COLS - 3, "...", 4);
		} else {
			memcpy(cmd, t[i].command, strlen(t[i].command) + 1);
		}
		printf("%-*s %7d %6d %-14s %7s %-*s %s\n", wn, t[i].name, (int)t[i].pid,
		       (int)t[i].ns_pid, state, up, CMD_COLS, cmd, t[i].origin);
	}
}

int cmd_ps(int argc, char **argv)
{
	struct rtcr_target_info *t = NULL;
	bool json = false;
	const struct cli_opt opts[] = {
	    CLI_OPT("json", 0, CLI_FLAG, &json),
	    CLI_END,
	};
	const struct cli_cmd cmd = {.name = "ps", .usage = usage, .opts = opts};
	int n, max = 64;

	n = cli_parse(&cmd, argc, argv, NULL);
	if (n != CLI_GO_ON)
		return n;
	for (;;) {
		struct rtcr_target_info *nt = realloc(t, sizeof(*t) * (size_t)max);

		if (!nt) {
			free(t);
			fprintf(stderr, "rtcr: error: out of memory\n");
			return EXIT_FAIL;
		}
		t = nt;
		n = rtcr_list(t, max);
		if (n < 0) {
			free(t);
			return cli_fail(n);
		}
		if (n <= max)
			break;
		max = n + 16; /* more appeared: ask again with room for all */
	}
	if (json)
		print_json(t, n);
	else
		print_table(t, n);
	free(t);
	return EXIT_OK;
}
