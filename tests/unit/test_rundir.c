/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the run directory's codecs (src/control/rundir.c) and the
 * control protocol's field helpers (src/control/control.c): escaping round
 * trips, records written and read back, names accepted and refused, reply
 * fields found or not.
 */
#define LOG_PREFIX "test: "
#include "base/log.h"
#include "tests/unit/tap.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "control/control.h"
#include "control/rundir.h"

/* s escaped (malloc'd). */
static char *escape(const char *s, bool space)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	if (!m) {
		perror("open_memstream");
		exit(1);
	}
	rundir_put_escaped(m, s, space);
	fclose(m);
	return buf;
}

/* No byte a one-line, space-separated value must not hold. */
static bool one_word(const char *e, bool space)
{
	for (const unsigned char *p = (const unsigned char *)e; *p; p++)
		if (*p < 0x20 || *p == 0x7f || (space && *p == ' '))
			return false;
	return true;
}

static void test_escape_round_trips(void)
{
	static const char *const cases[] = {
	    "plain",
	    "",
	    "a b  c ",
	    "line1\nline2\n",
	    "back\\slash\\",
	    "\\s\\n\\x41",		/* escapes as text stay text */
	    "\x01\x02\t\r\x1b\x1f\x7f", /* control bytes */
	    "\xff\xfe\x80 caf\xc3\xa9", /* not UTF-8, and UTF-8 */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int sp = 0; sp <= 1; sp++) {
			char *e = escape(cases[i], sp);
			char back[256];

			check(one_word(e, sp), "case %zu (space %d): escaped to one word", i, sp);
			rundir_get_escaped(back, sizeof(back), e);
			check(!strcmp(back, cases[i]), "case %zu (space %d): round trip", i, sp);
			free(e);
		}
	}
}

static void test_escape_forms(void)
{
	char *e;

	e = escape("a b", true);
	check(!strcmp(e, "a\\sb"), "a space is \\s in a reply value (got '%s')", e);
	free(e);
	e = escape("a b", false);
	check(!strcmp(e, "a b"), "a space stays in a record value (got '%s')", e);
	free(e);
	e = escape("\\\n\x01\x7f", false);
	check(!strcmp(e, "\\\\\\n\\x01\\x7f"), "backslash, newline, control bytes (got '%s')", e);
	free(e);
}

static void test_unescape_edges(void)
{
	char out[16];

	rundir_get_escaped(out, sizeof(out), "a\\qb");
	check(!strcmp(out, "aqb"), "an unknown escape gives the character");
	rundir_get_escaped(out, sizeof(out), "\\xZ1");
	check(!strcmp(out, "xZ1"), "\\x without two hex digits is kept as x");
	rundir_get_escaped(out, sizeof(out), "end\\");
	check(!strcmp(out, "end\\"), "a trailing backslash is kept");
	rundir_get_escaped(out, sizeof(out), "\\x4A\\x4b");
	check(!strcmp(out, "JK"), "hex digits in either case");

	/* truncation: never past len, always terminated, no half escape */
	memset(out, 'X', sizeof(out));
	rundir_get_escaped(out, 4, "abcdef");
	check(!strcmp(out, "abc") && out[4] == 'X', "cut at len - 1 bytes");
	rundir_get_escaped(out, 3, "\\sab");
	check(!strcmp(out, " a"), "an escape counts as the one byte it stands for");
	rundir_get_escaped(out, 1, "abc");
	check(out[0] == '\0', "len 1: the empty string");

	/* in place (dst == src): ctl_unescape */
	snprintf(out, sizeof(out), "x\\sy\\nz");
	ctl_unescape(out);
	check(!strcmp(out, "x y\nz"), "ctl_unescape in place");
}

static void test_names(void)
{
	char longest[RTCR_NAME_MAX + 2];
	static const char *const good[] = {"a", "web-1", "x.y_z", "A9", "a-"};
	static const char *const bad[] = {"", ".a", "-a", "a/b", "a b", "a\tb", "é", "a:b"};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		check(rundir_check_name(good[i]) == 0 && rundir_name_ok(good[i]),
		      "name '%s' accepted", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		check(rundir_check_name(bad[i]) == -EINVAL && !rundir_name_ok(bad[i]),
		      "name '%s' refused", bad[i]);
		log_clear_error();
	}
	check(!rundir_name_ok(NULL), "no name refused");
	memset(longest, 'n', RTCR_NAME_MAX);
	longest[RTCR_NAME_MAX] = '\0';
	check(rundir_name_ok(longest), "a name of %d characters accepted", RTCR_NAME_MAX);
	longest[RTCR_NAME_MAX] = 'n';
	longest[RTCR_NAME_MAX + 1] = '\0';
	check(!rundir_name_ok(longest), "a name of %d characters refused", RTCR_NAME_MAX + 1);
}

static void test_records(void)
{
	char dir[] = "/tmp/rtcr-test-rundir-XXXXXX";
	char path[PATH_MAX];
	struct rundir_record w = {0}, r;
	struct stat st;
	int ret;

	if (!mkdtemp(dir)) {
		check(false, "mkdtemp");
		return;
	}
	snprintf(w.name, sizeof(w.name), "web-1");
	w.pid = 4242;
	w.ns_pid = 1;
	w.parent_pid = 4241;
	w.started_ns = 1700000000123456789ULL;
	w.ended_ns = 1700000009000000000ULL;
	w.status = 137;
	w.raw_status = 9;
	snprintf(w.command, sizeof(w.command), "sh -c 'echo a\\b\nnext'");
	snprintf(w.origin, sizeof(w.origin), "restore /tmp/a dir\xff");

	ret = rundir_write_record(dir, RUNDIR_STATUS, &w, true);
	check(ret == 0, "write a .status record");
	ret = rundir_read_record(dir, "web-1", RUNDIR_STATUS, &r);
	check(ret == 0, "read it back");
	check(!strcmp(r.name, w.name) && r.pid == w.pid && r.ns_pid == w.ns_pid &&
		  r.parent_pid == w.parent_pid && r.started_ns == w.started_ns,
	      "pids and start time survive");
	check(r.ended_ns == w.ended_ns && r.status == w.status && r.raw_status == w.raw_status,
	      "the exit status survives");
	check(!strcmp(r.command, w.command), "a command with quotes, backslash, newline survives");
	check(!strcmp(r.origin, w.origin), "an origin with a space and a non-UTF-8 byte survives");
	rundir_path(path, sizeof(path), dir, "web-1", RUNDIR_STATUS);
	check(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "the record is mode 0600");

	ret = rundir_write_record(dir, RUNDIR_INFO, &w, false);
	check(ret == 0, "write an .info record");
	ret = rundir_read_record(dir, "web-1", RUNDIR_INFO, &r);
	check(ret == 0 && r.status == 0 && r.raw_status == 0 && r.ended_ns == 0,
	      "an .info record holds no exit status");

	check(rundir_remove(dir, "web-1", RUNDIR_STATUS) == 0, "remove the .status record");
	check(rundir_read_record(dir, "web-1", RUNDIR_STATUS, &r) == -ENOENT,
	      "a missing record is -ENOENT");
	check(rundir_remove(dir, "web-1", RUNDIR_STATUS) == 0, "removing it again is no error");
	rundir_remove(dir, "web-1", RUNDIR_INFO);
	check(rmdir(dir) == 0, "nothing else was left in the directory");
}

static void test_paths_and_status(void)
{
	char small[16], line[32], p17[17];

	check(rundir_path(p17, sizeof(p17), "/run/rtcr", "a", RUNDIR_SOCK) == 0 &&
		  !strcmp(p17, "/run/rtcr/a.sock"),
	      "rundir_path joins dir, name and suffix");
	check(rundir_path(p17, sizeof(p17), "/run/rtcr", "ab", RUNDIR_SOCK) == -ENAMETOOLONG,
	      "rundir_path refuses what does not fit");
	log_clear_error();

	check(rundir_shell_status(W_EXITCODE(3, 0)) == 3, "exit code 3 is 3");
	check(rundir_shell_status(W_EXITCODE(0, 9)) == 137, "SIGKILL is 137");

	rundir_join_argv((char *const[]){"echo", "a b", "", NULL}, line, sizeof(line));
	check(!strcmp(line, "echo 'a b' ''"), "join_argv quotes what needs it (got '%s')", line);
	rundir_join_argv((char *const[]){"program", "with-a-long-argument", "more", NULL}, small,
			 sizeof(small));
	check(strlen(small) < sizeof(small) && strstr(small, "...") != NULL,
	      "join_argv marks a cut (got '%s')", small);
	rundir_join_argv(NULL, small, sizeof(small));
	check(small[0] == '\0', "join_argv of no argv is empty");
}

static void test_reply_fields(void)
{
	const char *reply = "ok name=web-1 ab=2 a=1 path=x\\sy\\nz n=-5 big=18446744073709551615 "
			    "bad=12x";
	char val[16], tiny[3];
	uint64_t u = 0;
	int v = 0;

	check(ctl_get_field(reply, "a", val, sizeof(val)) == 0 && !strcmp(val, "1"),
	      "field a, not ab (got '%s')", val);
	check(ctl_get_field(reply, "path", val, sizeof(val)) == 0 && !strcmp(val, "x y\nz"),
	      "a field's value is unescaped");
	check(ctl_get_field(reply, "ok", val, sizeof(val)) == -ENOENT,
	      "the first word is no field");
	check(ctl_get_field(reply, "missing", val, sizeof(val)) == -ENOENT, "a missing field");
	check(ctl_get_field(reply, "name", tiny, sizeof(tiny)) == -ENAMETOOLONG,
	      "a value that does not fit");
	check(ctl_get_int(reply, "n", &v) == 0 && v == -5, "an int field");
	check(ctl_get_u64(reply, "big", &u) == 0 && u == UINT64_MAX, "a u64 field");
	check(ctl_get_int(reply, "bad", &v) == -EINVAL && ctl_get_u64(reply, "bad", &u) == -EINVAL,
	      "a number with junk is refused");
	check(ctl_get_int(reply, "big", &v) == -EINVAL, "an int out of range is refused");
}

/* A reply value written with ctl_put_value comes back with ctl_get_field. */
static void test_reply_round_trip(void)
{
	const char *value = "a b\\c\nd\x01";
	char *buf = NULL, got[64];
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	if (!m) {
		check(false, "open_memstream");
		return;
	}
	fputs("ok v=", m);
	ctl_put_value(m, value);
	fputs(" w=1", m);
	fclose(m);
	check(ctl_get_field(buf, "v", got, sizeof(got)) == 0 && !strcmp(got, value),
	      "ctl_put_value / ctl_get_field round trip");
	check(ctl_get_field(buf, "w", got, sizeof(got)) == 0 && !strcmp(got, "1"),
	      "the field after it is intact");
	free(buf);
}

int main(void)
{
	log_set_level(0);
	test_escape_round_trips();
	test_escape_forms();
	test_unescape_edges();
	test_names();
	test_records();
	test_paths_and_status();
	test_reply_fields();
	test_reply_round_trip();
	return tap_done();
}
