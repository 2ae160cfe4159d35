/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rtcr: the commands' option parsing (one table per command) and usage errors. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/str.h"
#include "cli/cli.h"

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("rtcr: error: ", stderr);
	va_start(ap, fmt);
	/* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): started above; clang-tidy 14 FP */
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'rtcr%s%s --help'.\n", cmd ? " " : "", cmd ? cmd : "");
	return EXIT_USAGE;
}

int cli_bad_option(const char *cmd)
{
	/* getopt_long has printed what is wrong */
	fprintf(stderr, "Try 'rtcr %s --help'.\n", cmd);
	return EXIT_USAGE;
}

int cli_parse_signal(const char *s)
{
	char *end;
	long n;

	if (!s || !*s)
		return -1;
	if (s[0] >= '0' && s[0] <= '9') {
		errno = 0;
		n = strtol(s, &end, 10);
		if (errno || *end || n < 0 || n > SIGRTMAX)
			return -1;
		return (int)n;
	}
	if (!strncasecmp(s, "SIG", 3))
		s += 3;
	if (!strncasecmp(s, "RTMIN", 5) || !strncasecmp(s, "RTMAX", 5)) {
		bool max = !strncasecmp(s, "RTMAX", 5);
		int base = max ? SIGRTMAX : SIGRTMIN;

		s += 5;
		if (!*s)
			return base;
		if (*s != (max ? '-' : '+'))
			return -1;
		errno = 0;
		n = strtol(s + 1, &end, 10);
		if (errno || *end || end == s + 1 || n < 0 || n > SIGRTMAX - SIGRTMIN)
			return -1;
		return max ? base - (int)n : base + (int)n;
	}
	for (int i = 1; i < SIGRTMIN; i++) {
		const char *abbrev = sigabbrev_np(i);

		if (abbrev && !strcasecmp(s, abbrev))
			return i;
	}
	return -1;
}

/* A whole decimal number in [min, max]. */
static bool parse_number(const char *s, long long min, long long max, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	return !errno && end != s && !*end && *out >= min && *out <= max;
}

/* Store the value v of option o; 0, or EXIT_USAGE after the message. */
static int set_value(const struct cli_cmd *c, const struct cli_opt *o, const char *v)
{
	long long n;
	uint64_t size;

	switch (o->type) {
	case CLI_FLAG:
		*(bool *)o->dest = true;
		return 0;
	case CLI_STR:
		*(const char **)o->dest = v;
		return 0;
	case CLI_INT:
	case CLI_UINT:
		if (!parse_number(v, o->min, o->max, &n))
			break;
		if (o->type == CLI_INT)
			*(int *)o->dest = (int)n;
		else
			*(unsigned *)o->dest = (unsigned)n;
		return 0;
	case CLI_SIZE:
		if (parse_size(v, &size) || size < (uint64_t)o->min || size > (uint64_t)o->max)
			break;
		*(uint64_t *)o->dest = size;
		return 0;
	case CLI_SIGNAL:
		n = cli_parse_signal(v);
		if (n < 0)
			return cli_usage_error(c->name, "unknown signal '%s'", v);
		*(int *)o->dest = (int)n;
		return 0;
	case CLI_FN:
		if (!o->fn(v, o->dest))
			return 0;
		break;
	}
	return cli_usage_error(c->name, "bad --%s '%s'%s", o->name, v, o->hint ? o->hint : "");
}

/* getopt_long's tables for c, -h and --help last; the number of options, or -1. */
static int make_tables(const struct cli_cmd *c, struct option *longopts, char *shortopts)
{
	int n;

	if (c->stop_at_arg)
		*shortopts++ = '+';
	for (n = 0; c->opts[n].name; n++) {
		const struct cli_opt *o = &c->opts[n];

		if (n == CLI_MAX_OPTS)
			return -1;
		longopts[n] =
		    (struct option){o->name, o->type == CLI_FLAG ? no_argument : required_argument,
				    NULL, o->short_name ? o->short_name : 256 + n};
		if (o->short_name) {
			*shortopts++ = o->short_name;
			if (o->type != CLI_FLAG)
				*shortopts++ = ':';
		}
	}
	longopts[n] = (struct option){"help", no_argument, NULL, 'h'};
	longopts[n + 1] = (struct option){NULL, 0, NULL, 0};
	*shortopts++ = 'h';
	*shortopts = '\0';
	return n;
}

/* The option getopt_long answered opt for, or -1 (an unknown option). */
static int find_opt(const struct cli_cmd *c, int nopts, int opt)
{
	if (opt >= 256)
		return opt - 256 < nopts ? opt - 256 : -1;
	for (int i = 0; i < nopts; i++)
		if (c->opts[i].short_name && c->opts[i].short_name == opt)
			return i;
	return -1;
}

int cli_parse(const struct cli_cmd *c, int argc, char **argv, int *first)
{
	struct option longopts[CLI_MAX_OPTS + 2];
	char shortopts[3 * CLI_MAX_OPTS + 3];
	bool seen[CLI_MAX_OPTS] = {false};
	int nopts, opt, i, ret, nargs;

	nopts = make_tables(c, longopts, shortopts);
	if (nopts < 0) {
		fprintf(stderr, "rtcr: error: %s: more than %d options\n", c->name, CLI_MAX_OPTS);
		return EXIT_FAIL;
	}
	optind = 0; /* 0: GNU getopt starts over (ordering too) */
	while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (opt == 'h') {
			fputs(c->usage, stdout);
			return EXIT_OK;
		}
		i = find_opt(c, nopts, opt);
		if (i < 0)
			return cli_bad_option(c->name);
		seen[i] = true;
		ret = set_value(c, &c->opts[i], optarg);
		if (ret)
			return ret;
	}
	nargs = argc - optind;
	if (nargs < c->min_args)
		return cli_usage_error(c->name, "%s", c->missing_arg);
	if (c->max_args >= 0 && nargs > c->max_args)
		return cli_usage_error(c->name, "unexpected argument '%s'",
				       argv[optind + c->max_args]);
	for (i = 0; i < nopts; i++)
		if (c->opts[i].missing && !seen[i])
			return cli_usage_error(c->name, "%s", c->opts[i].missing);
	if (first)
		*first = optind;
	return CLI_GO_ON;
}
