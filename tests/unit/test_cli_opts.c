/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The command line's option parser (src/cli/opt.c): values, --help, usage
 * errors and their messages, positional arguments, "--". */
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/log.h"
#include "cli/cli.h"
#include "tests/unit/tap.h"

static const char usage[] = "Usage: rtcr test [OPTIONS] ARG\n";

static bool flag;
static const char *str, *req;
static int num, sig;
static unsigned uns;
static uint64_t size;
static char mode;

static int mode_opt(const char *v, void *dest)
{
	if (strcmp(v, "a") && strcmp(v, "b"))
		return -EINVAL;
	*(char *)dest = v[0];
	return 0;
}

static const struct cli_opt opts[] = {
    CLI_OPT("flag", 'f', CLI_FLAG, &flag),
    CLI_OPT("str", 's', CLI_STR, &str),
    CLI_OPT("num", 'n', CLI_INT, &num, .min = -10, .max = 10),
    CLI_OPT("uns", 0, CLI_UINT, &uns, .min = 1, .max = UINT_MAX),
    CLI_OPT("size", 0, CLI_SIZE, &size, .min = 4096, .max = 1 << 20),
    CLI_OPT("signal", 'S', CLI_SIGNAL, &sig),
    CLI_OPT("mode", 0, CLI_FN, &mode, .fn = mode_opt, .hint = " (a or b)"),
    CLI_END,
};
/* one argument */
static const struct cli_cmd one = {.name = "test",
				   .usage = usage,
				   .opts = opts,
				   .min_args = 1,
				   .max_args = 1,
				   .missing_arg = "no ARG given"};
/* a required option, any number of arguments, options end at the first */
static const struct cli_opt req_opts[] = {
    CLI_OPT("flag", 'f', CLI_FLAG, &flag),
    CLI_OPT("req", 'r', CLI_STR, &req, .missing = "no req given (--req R)"),
    CLI_END,
};
static const struct cli_cmd prog = {
    .name = "prog", .usage = usage, .opts = req_opts, .max_args = -1, .stop_at_arg = true};

/* PARSE(&cmd, "arg", ..., NULL) */
#define PARSE(c, ...) parse(c, (const char *const[]){__VA_ARGS__})

static int ret, first, nargs;
static char **argv_used;
static char out[4096], err[4096];

/* Read what fd (a memfd) got into buf. */
static void slurp(int fd, char *buf, size_t len)
{
	ssize_t n = pread(fd, buf, len - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	close(fd);
}

/* Parse "rtcr test" and args (NULL-ended) with c, capturing stdout and
 * stderr; sets ret, first, nargs, out, err. */
static void parse(const struct cli_cmd *c, const char *const *args)
{
	static char *argv[32];
	int argc = 0, o, e, so, se;

	argv[argc++] = (char *)"rtcr test";
	while ((argv[argc] = (char *)*args++))
		argc++;
	flag = false;
	str = req = NULL;
	num = sig = 0;
	uns = 0;
	size = 0;
	mode = 0;
	first = -1;
	fflush(stdout);
	fflush(stderr);
	o = memfd_create("out", 0);
	e = memfd_create("err", 0);
	so = dup(1);
	se = dup(2);
	dup2(o, 1);
	dup2(e, 2);
	ret = cli_parse(c, argc, argv, &first);
	fflush(stdout);
	fflush(stderr);
	dup2(so, 1);
	dup2(se, 2);
	close(so);
	close(se);
	slurp(o, out, sizeof(out));
	slurp(e, err, sizeof(err));
	argv_used = argv;
	nargs = first >= 0 ? argc - first : -1;
}

/* s on one line (a message of a check), \n as "\\n" */
static const char *oneline(const char *s)
{
	static char buf[8192];
	size_t n = 0;

	for (; *s && n < sizeof(buf) - 3; s++) {
		if (*s == '\n') {
			buf[n++] = '\\';
			buf[n++] = 'n';
		} else {
			buf[n++] = *s;
		}
	}
	buf[n] = '\0';
	return buf;
}

/* The argument at the first positional place, or "" */
static const char *arg0(void)
{
	return first >= 1 && argv_used[first] ? argv_used[first] : "";
}

static void test_values(void)
{
	PARSE(&one, "-f", "--str", "abc", "-n", "-7", "--uns=4000000000", "--size", "64K",
	      "--signal", "SIGUSR1", "--mode", "b", "ARG", NULL);
	check(ret == CLI_GO_ON && !*out && !*err, "valid options: go on, nothing printed (%d, %s)",
	      ret, oneline(err));
	check(flag && str && !strcmp(str, "abc"), "a flag and a string");
	check(num == -7 && uns == 4000000000u, "an int (%d) and an unsigned (%u)", num, uns);
	check(size == 65536 && sig == SIGUSR1 && mode == 'b', "a size (%llu), a signal (%d), fn",
	      (unsigned long long)size, sig);
	check(nargs == 1 && !strcmp(arg0(), "ARG"), "the argument is found (%d)", nargs);

	PARSE(&one, "ARG", "-s", "x", "-n10", "-S", "9", NULL);
	check(ret == CLI_GO_ON && str && !strcmp(str, "x") && num == 10 && sig == 9,
	      "options after the argument, the highest value, a signal number");
	check(nargs == 1 && !strcmp(arg0(), "ARG"), "the argument is moved first");

	PARSE(&one, "--num=-10", "--st", "y", "ARG", NULL);
	check(ret == CLI_GO_ON && num == -10 && str && !strcmp(str, "y"),
	      "the lowest value; an abbreviated long option");
}

/* A value refused: exit 2, the message, "Try ..." */
static void check_bad(const char *what, const char *msg)
{
	char want[256];

	snprintf(want, sizeof(want), "rtcr: error: %s\nTry 'rtcr test --help'.\n", msg);
	check(ret == EXIT_USAGE && !strcmp(err, want) && !*out, "%s: usage error (%d: %s)", what,
	      ret, oneline(err));
}

static void test_bad_values(void)
{
	PARSE(&one, "--num", "11", "ARG", NULL);
	check_bad("above the range", "bad --num '11'");
	PARSE(&one, "-n", "-11", "ARG", NULL);
	check_bad("below the range (short option)", "bad --num '-11'");
	PARSE(&one, "--num", "5x", "ARG", NULL);
	check_bad("trailing garbage", "bad --num '5x'");
	PARSE(&one, "--num", "", "ARG", NULL);
	check_bad("an empty number", "bad --num ''");
	PARSE(&one, "--num", "99999999999999999999", "ARG", NULL);
	check_bad("an overflowing number", "bad --num '99999999999999999999'");
	PARSE(&one, "--uns", "0", "ARG", NULL);
	check_bad("unsigned 0 below 1", "bad --uns '0'");
	PARSE(&one, "--uns", "4294967296", "ARG", NULL);
	check_bad("unsigned above UINT_MAX", "bad --uns '4294967296'");
	PARSE(&one, "--size", "2M", "ARG", NULL);
	check_bad("a size above the range", "bad --size '2M'");
	PARSE(&one, "--size", "1K", "ARG", NULL);
	check_bad("a size below the range", "bad --size '1K'");
	PARSE(&one, "--size", "64Q", "ARG", NULL);
	check_bad("a size with a bad suffix", "bad --size '64Q'");
	PARSE(&one, "--signal", "FOO", "ARG", NULL);
	check_bad("an unknown signal", "unknown signal 'FOO'");
	PARSE(&one, "--mode", "c", "ARG", NULL);
	check_bad("fn refuses, with the hint", "bad --mode 'c' (a or b)");
	PARSE(&one, "--num", "11", "--help", NULL);
	check(ret == EXIT_USAGE && !*out, "a bad value before --help is an error");
}

static void test_help_and_unknown(void)
{
	PARSE(&one, "--help", NULL);
	check(ret == EXIT_OK && !strcmp(out, usage) && !*err, "--help: usage on stdout, exit 0");
	PARSE(&one, "-h", "--bogus", NULL);
	check(ret == EXIT_OK && !strcmp(out, usage) && !*err, "-h: usage, later options unread");
	PARSE(&one, "--he", NULL);
	check(ret == EXIT_OK && !strcmp(out, usage), "--he abbreviates --help");
	PARSE(&prog, "-r", "x", "PROG", "--help", NULL);
	check(ret == CLI_GO_ON && !*out && nargs == 2, "--help after PROGRAM is PROGRAM's");

	PARSE(&one, "--bogus", "-h", "ARG", NULL);
	check(ret == EXIT_USAGE && !*out &&
		  strstr(err, "rtcr test: unrecognized option '--bogus'") &&
		  strstr(err, "\nTry 'rtcr test --help'.\n"),
	      "an unknown long option: getopt's message and Try (%s)", oneline(err));
	PARSE(&one, "-Z", "ARG", NULL);
	check(ret == EXIT_USAGE && strstr(err, "invalid option -- 'Z'") &&
		  strstr(err, "Try 'rtcr test --help'."),
	      "an unknown short option (%s)", oneline(err));
	PARSE(&one, "--flag=1", "ARG", NULL);
	check(ret == EXIT_USAGE && strstr(err, "doesn't allow an argument"),
	      "a value for a flag (%s)", oneline(err));
	PARSE(&one, "ARG", "--str", NULL);
	check(ret == EXIT_USAGE && strstr(err, "option '--str' requires an argument"),
	      "a missing value (long) (%s)", oneline(err));
	PARSE(&one, "ARG", "-s", NULL);
	check(ret == EXIT_USAGE && strstr(err, "option requires an argument -- 's'"),
	      "a missing value (short) (%s)", oneline(err));
	PARSE(&prog, "--f", "-r", "x", NULL);
	check(ret == CLI_GO_ON && flag, "a unique abbreviation");
	PARSE(&one, "--s", "x", "ARG", NULL);
	check(ret == EXIT_USAGE && strstr(err, "option '--s' is ambiguous") &&
		  strstr(err, "Try 'rtcr test --help'."),
	      "an ambiguous abbreviation (%s)", oneline(err));
}

static void test_args(void)
{
	PARSE(&one, "-f", NULL);
	check_bad("no argument", "no ARG given");
	PARSE(&one, "A", "B", "C", NULL);
	check_bad("two arguments too many: the first extra is named", "unexpected argument 'B'");
	PARSE(&one, "--", "--flag", NULL);
	check(ret == CLI_GO_ON && !flag && nargs == 1 && !strcmp(arg0(), "--flag"),
	      "after --, an option is an argument");
	PARSE(&one, "--", NULL);
	check_bad("-- and nothing after", "no ARG given");
	PARSE(&one, "A", "--", "-f", NULL);
	check_bad("an extra argument after --", "unexpected argument '-f'");

	PARSE(&prog, "--req", "r", NULL);
	check(ret == CLI_GO_ON && nargs == 0 && req && !strcmp(req, "r"),
	      "no limit and no minimum: zero arguments");
	PARSE(&prog, "-f", "PROG", "-f", "--req", "x", NULL);
	check(ret == EXIT_USAGE && flag && strstr(err, "rtcr: error: no req given (--req R)\n"),
	      "options end at PROGRAM; a required option missing (%s)", oneline(err));
	PARSE(&prog, "-r", "x", "PROG", "-f", "a", "b", NULL);
	check(ret == CLI_GO_ON && !flag && nargs == 4 && !strcmp(arg0(), "PROG"),
	      "PROGRAM and its arguments are left as they are (%d)", nargs);
	PARSE(&prog, "-r", "x", "--", "-f", NULL);
	check(ret == CLI_GO_ON && !flag && nargs == 1 && !strcmp(arg0(), "-f"),
	      "-- before PROGRAM");
	PARSE(&prog, "-r", "x", "PROG", "a", "b", NULL);
	PARSE(&one, "ARG", NULL);
	check(ret == CLI_GO_ON && nargs == 1 && !strcmp(arg0(), "ARG"),
	      "a fresh scan each time (optind reset)");
}

static void test_too_many_options(void)
{
	static struct cli_opt many[CLI_MAX_OPTS + 2];
	struct cli_cmd c = {.name = "many", .usage = usage, .opts = many};

	for (int i = 0; i <= CLI_MAX_OPTS; i++)
		many[i] = (struct cli_opt)CLI_OPT("x", 0, CLI_FLAG, &flag);
	PARSE(&c, NULL);
	check(ret == EXIT_FAIL && strstr(err, "more than"),
	      "more than CLI_MAX_OPTS options refused");
	many[CLI_MAX_OPTS] = (struct cli_opt)CLI_END;
	PARSE(&c, NULL);
	check(ret == CLI_GO_ON, "CLI_MAX_OPTS options are fine");
}

static void test_signals(void)
{
	check(cli_parse_signal("TERM") == SIGTERM && cli_parse_signal("sigkill") == SIGKILL,
	      "signal names, with or without SIG, any case");
	check(cli_parse_signal("0") == 0 && cli_parse_signal("15") == 15, "signal numbers");
	check(cli_parse_signal("RTMIN+2") == SIGRTMIN + 2 &&
		  cli_parse_signal("RTMAX-1") == SIGRTMAX - 1 &&
		  cli_parse_signal("SIGRTMIN") == SIGRTMIN,
	      "real-time signals");
	check(cli_parse_signal("") < 0 && cli_parse_signal("FOO") < 0 &&
		  cli_parse_signal("RTMIN-1") < 0 && cli_parse_signal("99") < 0 &&
		  cli_parse_signal("9x") < 0 && cli_parse_signal("RTMIN+") < 0,
	      "bad signals refused");
}

int main(void)
{
	test_values();
	test_bad_values();
	test_help_and_unknown();
	test_args();
	test_too_many_options();
	test_signals();
	return tap_done();
}
