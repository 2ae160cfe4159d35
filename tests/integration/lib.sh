# shellcheck shell=bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Helpers for the integration tests (source it first thing in a t_*.sh).
#
# Each test gets a private temporary directory $T (unique path, also used
# to find stray processes), a private run directory ($RTCR_RUNDIR=$T/run),
# copies of the test targets in $T/bin (so every process it starts has $T
# in its command line), and a cleanup trap that kills every target the test
# started and fails the test if anything is left: a target still listed as
# running by `rtcr ps`, or any process whose command line names $T.
#
# Exit codes: 0 pass, 1 fail, 77 skip (with a "SKIP: reason" line).
#
# Environment: RTCR (the binary, default build/rtcr), TARGET_DIR (built
# targets, default build/tests/targets), RTCR_TEST_TMP (use this directory
# as $T; run.sh sets it), RTCR_TEST_KEEP=1 (keep $T for a post-mortem).

set -u -o pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RTCR=${RTCR:-$TOP/build/rtcr}
TARGET_DIR=${TARGET_DIR:-$TOP/build/tests/targets}
STARTED=()
RESTORED=()

note() { printf '%s\n' "$*"; }
# fail prints on stderr so that it is seen even inside $(...).
fail() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}
skip() {
	printf 'SKIP: %s\n' "$*"
	exit 77
}

[ "$(id -u)" = 0 ] || skip "needs root"
[ -x "$RTCR" ] || fail "no rtcr binary at $RTCR (run make first)"

if [ -n "${RTCR_TEST_TMP:-}" ]; then
	T=$RTCR_TEST_TMP
	mkdir -p "$T" || exit 1
else
	T=$(mktemp -d /tmp/rtcr-t.XXXXXX) || exit 1
fi
mkdir -p "$T/bin" "$T/run"
export RTCR_RUNDIR=$T/run

# rtcr with a time limit ($RT_TIMEOUT s, default 30): a command that hangs
# fails the test with a message instead of running into the test's timeout.
# Exit status 124 (or 137) when it had to be stopped.
rt() { timeout -k 5 "${RT_TIMEOUT:-30}" "$RTCR" "$@"; }
# what a failed rt said, or that it hung
why() {
	case $1 in
	124 | 137) echo "it did not return within ${RT_TIMEOUT:-30} s" ;;
	*) echo "exit $1: $(tail -5 "$2")" ;;
	esac
}

# Run rtcr ARGS, failing the test with its stderr if it fails.
must() {
	local rc=0
	rt "$@" >"$T/must.out" 2>"$T/must.err" || rc=$?
	[ "$rc" = 0 ] || fail "rtcr $* failed: $(why $rc "$T/must.err")"
	cat "$T/must.out"
}

# Path of test target PROG, copied into $T/bin.
tgt() {
	local src=$TARGET_DIR/$1
	[ -x "$src" ] || fail "test target $1 is not built ($src; run make check)"
	[ -x "$T/bin/$1" ] || cp "$src" "$T/bin/$1" || fail "cannot copy $src"
	printf '%s\n' "$T/bin/$1"
}

# start NAME PROG [ARGS...]: rtcr run --detach; PROG is a test target name
# or a path.
start() {
	local name=$1 prog=$2
	shift 2
	case $prog in
	*/*) ;;
	*) if [ -x "$TARGET_DIR/$prog" ]; then prog=$(tgt "$prog") || exit 1; fi ;;
	esac
	STARTED+=("$name")
	note "+ rtcr run --name $name --detach -- $prog $*"
	local rc=0
	rt run --name "$name" --detach -- "$prog" "$@" >"$T/start.out" 2>"$T/start.err" || rc=$?
	[ "$rc" = 0 ] || fail "rtcr run --name $name --detach -- $prog $* failed: $(why $rc "$T/start.err")"
}

# log NAME: what the target printed so far.
log() { rt log "$1" 2>/dev/null; }

# wait_for NAME PATTERN [TIMEOUT_S]: poll the target's output for an
# extended regexp; fails early on a FAIL line.
wait_for() {
	local name=$1 pat=$2 tmo=${3:-15} i
	for ((i = 0; i < tmo * 10; i++)); do
		log "$name" >"$T/log.$name"
		if grep -Eq -- "$pat" "$T/log.$name"; then
			return 0
		fi
		if grep -q '^FAIL' "$T/log.$name"; then
			fail "$name reported a failure while waiting for /$pat/: $(grep -m5 '^FAIL' "$T/log.$name")"
		fi
		sleep 0.1
	done
	fail "timed out after ${tmo}s waiting for /$pat/ in the output of $name; last lines: $(tail -5 "$T/log.$name" | tr '\n' '|')"
}

# The numbers a target printed (lines that are only a number).
numbers() { log "$1" | grep -E '^[0-9]+$'; }
last_number() { numbers "$1" | tail -1; }

# wait_number NAME MIN [TIMEOUT_S]: until NAME printed a number >= MIN.
wait_number() {
	local name=$1 min=$2 tmo=${3:-15} i n
	for ((i = 0; i < tmo * 10; i++)); do
		n=$(last_number "$name")
		if [ -n "$n" ] && [ "$n" -ge "$min" ]; then
			return 0
		fi
		sleep 0.1
	done
	fail "timed out after ${tmo}s waiting for $name to count to $min (last: ${n:-nothing}); output: $(log "$name" | tail -5 | tr '\n' '|')"
}

# check_consecutive NAME FIRST_MIN FIRST_MAX: the numbers NAME printed go up
# by exactly one, and the first one is within [FIRST_MIN, FIRST_MAX].
check_consecutive() {
	local name=$1 lo=$2 hi=$3 first err
	numbers "$name" >"$T/nums.$name"
	first=$(head -1 "$T/nums.$name")
	[ -n "$first" ] || fail "$name printed no number"
	if [ "$first" -lt "$lo" ] || [ "$first" -gt "$hi" ]; then
		fail "$name started counting at $first, expected $lo..$hi"
	fi
	err=$(awk 'NR > 1 && $1 != p + 1 { print "after " p " came " $1; exit } { p = $1 }' "$T/nums.$name")
	[ -z "$err" ] || fail "$name does not count by one: $err"
	if log "$name" | grep -q '^FAIL'; then
		fail "$name: $(log "$name" | grep -m3 '^FAIL')"
	fi
}

# ckpt NAME DIR [--kill|other checkpoint options]: default --leave-running.
ckpt() {
	local name=$1 dir=$2
	shift 2
	local mode=(--leave-running)
	if [ $# -gt 0 ]; then mode=("$@"); fi
	note "+ rtcr checkpoint $name -o $dir ${mode[*]}"
	local rc=0
	rt checkpoint "$name" -o "$dir" "${mode[@]}" >"$T/ckpt.out" 2>"$T/ckpt.err" || rc=$?
	[ "$rc" = 0 ] || fail "rtcr checkpoint $name -o $dir ${mode[*]} failed: $(why $rc "$T/ckpt.err")"
	sed 's/^/  /' "$T/ckpt.out"
}

# restore DIR NAME2 [options]: rtcr restore --detach.
restore() {
	local dir=$1 name=$2
	shift 2
	STARTED+=("$name")
	RESTORED+=("$name")
	note "+ rtcr restore $dir --name $name --detach $*"
	local rc=0
	rt restore "$dir" --name "$name" --detach "$@" >"$T/restore.out" 2>"$T/restore.err" || rc=$?
	[ "$rc" = 0 ] || fail "rtcr restore $dir --name $name failed: $(why $rc "$T/restore.err")"
}

# signal NAME SIG: rtcr kill --signal SIG.
signal() {
	note "+ rtcr kill $1 --signal $2"
	local rc=0
	rt kill "$1" --signal "$2" >/dev/null 2>"$T/kill.err" || rc=$?
	[ "$rc" = 0 ] || fail "rtcr kill $1 --signal $2 failed: $(why $rc "$T/kill.err")"
}

# status NAME: waits for the target to end; prints its exit status.
status() {
	local rc=0
	timeout 30 "$RTCR" wait "$1" >"$T/wait.out" 2>"$T/wait.err" || rc=$?
	[ "$rc" = 124 ] && fail "rtcr wait $1 did not return within 30 s"
	printf '%s\n' "$rc"
}

# expect_status NAME CODE
expect_status() {
	local st
	st=$(status "$1") || exit 1
	[ "$st" = "$2" ] || fail "$1 ended with status $st, expected $2: $(tail -3 "$T/wait.err") output: $(log "$1" | tail -5 | tr '\n' '|')"
}

# not_rerun NAME: a restored target goes on; it does not start over (the
# targets print READY once, when set up, before any checkpoint).
not_rerun() {
	if log "$1" | grep -q '^READY'; then
		fail "$1 printed READY after the restore: it started over instead of going on"
	fi
}

# verify NAME: SIGUSR1, then PASS and exit status 0 (and a restored target
# did not start over).
verify() {
	local r
	for r in "${RESTORED[@]}"; do
		[ "$r" = "$1" ] && not_rerun "$1"
	done
	signal "$1" USR1
	wait_for "$1" '^(PASS|FAIL)' "${2:-20}"
	log "$1" | grep -q '^PASS' || fail "$1: $(log "$1" | grep '^FAIL' | head -5 | tr '\n' '|')"
	expect_status "$1" 0
}

# restore_again IMG NAME1 IMG2 NAME2 [--kill]: restore IMG as NAME1,
# checkpoint NAME1 into IMG2 and verify it (with --kill: the checkpoint
# kills it instead), then restore IMG2 as NAME2 and verify that: a restored
# target checkpoints and restores like the original.
restore_again() {
	local img=$1 n1=$2 img2=$3 n2=$4
	restore "$img" "$n1"
	sleep 0.3
	if [ "${5:-}" = --kill ]; then
		ckpt "$n1" "$img2" --kill
	else
		ckpt "$n1" "$img2"
		verify "$n1"
	fi
	restore "$img2" "$n2"
	sleep 0.3
	verify "$n2"
}

# counted_restore NAME IMG NAME2 MORE [AFTER]: NAME counts (a number a line,
# by one). Checkpoint it into IMG, let it print AFTER more numbers (default
# 0), kill it, restore IMG as NAME2 and wait until NAME2 printed MORE
# numbers past NAME's last: it must go on from the checkpoint.
counted_restore() {
	local name=$1 img=$2 name2=$3 more=$4 after=${5:-0} before last
	before=$(last_number "$name")
	ckpt "$name" "$img"
	if [ "$after" -gt 0 ]; then
		wait_number "$name" $((before + after))
	fi
	signal "$name" KILL
	expect_status "$name" 137
	last=$(last_number "$name")
	restore "$img" "$name2"
	wait_number "$name2" $((last + more))
	check_consecutive "$name2" $((before + 1)) $((last + 1))
}

# ckpt_refused NAME DIR WHAT ERE: rtcr must refuse to checkpoint NAME (WHAT
# says what it has, for messages): it fails, says ERE (an extended regexp)
# on stderr, and leaves no image in DIR.
ckpt_refused() {
	local name=$1 dir=$2 what=$3 re=$4 rc=0
	note "+ rtcr checkpoint $name -o $dir (must refuse: $what)"
	rt checkpoint "$name" -o "$dir" >"$T/refused.out" 2>"$T/refused.err" || rc=$?
	[ "$rc" != 0 ] || fail "checkpoint with $what succeeded"
	grep -Eq -- "$re" "$T/refused.err" ||
		fail "checkpoint with $what refused without a clear message: $(cat "$T/refused.err")"
	[ ! -e "$dir/rtcr.img" ] || fail "a refused checkpoint left an image"
}

# Processes whose command line names $T, except ourselves.
stray_pids() { pgrep -f -- "$T" | grep -vx -e "$$" -e "${BASHPID:-$$}" || true; }

# Names listed by rtcr ps whose state is not final.
live_targets() {
	timeout -k 1 5 "$RTCR" ps 2>/dev/null | awk 'NR > 1 && $0 !~ /exited|killed|dead/ { print $1 }'
}

cleanup() {
	local rc=$? n pids i left
	trap - EXIT
	set +e
	for n in "${STARTED[@]}"; do
		timeout -k 2 5 "$RTCR" kill "$n" --signal KILL >/dev/null 2>&1
	done
	for n in "${STARTED[@]}"; do
		timeout -k 1 3 "$RTCR" wait "$n" >/dev/null 2>&1
	done
	for ((i = 0; i < 50; i++)); do
		pids=$(stray_pids)
		left=$(live_targets)
		[ -z "$pids" ] && [ -z "$left" ] && break
		sleep 0.1
	done
	if [ -n "$left" ]; then
		printf 'FAIL: rtcr ps still lists running targets: %s\n' "$(echo $left)"
		[ "$rc" = 0 ] && rc=1
	fi
	if [ -n "$pids" ]; then
		printf 'FAIL: processes left behind:\n'
		ps -o pid,ppid,stat,args -p "$(echo $pids | tr ' ' ,)" 2>/dev/null | sed 's/^/  /'
		kill -9 $pids 2>/dev/null
		[ "$rc" = 0 ] && rc=1
	fi
	if [ "${RTCR_TEST_KEEP:-0}" = 1 ]; then
		printf 'kept %s\n' "$T"
	else
		rm -rf "$T"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# dry_run NAME: checkpoint --dry-run of NAME refuses nothing (as a user
# would try first).
dry_run() {
	note "+ rtcr checkpoint $1 --dry-run"
	local rc=0
	rt checkpoint "$1" --dry-run >"$T/dry.out" 2>"$T/dry.err" || rc=$?
	[ "$rc" = 0 ] || fail "checkpoint $1 --dry-run refuses something or failed: $(why $rc "$T/dry.err") $(cat "$T/dry.out")"
}

# as_nobody CMD...: the command line that runs CMD as nobody:nogroup
# (uid/gid 65534), no supplementary groups.
NOBODY=(setpriv --reuid 65534 --regid 65534 --clear-groups --)

# restore_twice_then_stop N0 N1 N2 STOPFILE: a self-checking counter
# program N0 (it prints one number a line, and PASS or FAIL once STOPFILE
# exists) is checkpointed --leave-running and restored as N1, which is
# checkpointed with --kill and restored as N2; N2 must count on from
# N1's last number, then check itself and end with status 0.
restore_twice_then_stop() {
	local n0=$1 n1=$2 n2=$3 stop=$4 before last
	dry_run "$n0"
	counted_restore "$n0" "$T/img1" "$n1" 10 5
	dry_run "$n1"
	before=$(last_number "$n1")
	ckpt "$n1" "$T/img2" --kill
	expect_status "$n1" 137
	last=$(last_number "$n1")
	restore "$T/img2" "$n2"
	wait_number "$n2" $((last + 10)) 30
	check_consecutive "$n2" $((before + 1)) $((last + 1))
	not_rerun "$n2"
	touch "$stop"
	wait_for "$n2" '^(PASS|FAIL)' 30
	log "$n2" | grep -q '^PASS' || fail "$n2: $(log "$n2" | grep '^FAIL' | head -5 | tr '\n' '|')"
	expect_status "$n2" 0
	note "$(log "$n2" | grep '^PASS')"
}
