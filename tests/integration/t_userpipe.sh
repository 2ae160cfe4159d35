#!/bin/bash
# userpipe: a shell pipeline started as an unprivileged user (nobody), of
# several processes connected by pipes -- seq, a bash loop that forks a
# sleep for every line, cat -n that numbers them -- is checkpointed with
# --leave-running, restored, checkpointed again with --kill and restored
# again: the numbered output goes on with no line lost or repeated, and
# the restored processes still run as nobody.
. "$(dirname "$0")/lib.sh"

command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
# $T in the command line: a process left behind is found by lib.sh
start u0 "${NOBODY[@]}" bash -c "seq 1 1000000 | while read n; do echo \$n; sleep 0.01; done | cat -n # $T"
# lines "     K\tK": cat's count and seq's number
lines() { log "$1" | awk -F'\t' 'NF == 2 { gsub(/ /, "", $1); print $1, $2 }'; }
last_line() { lines "$1" | tail -1 | cut -d' ' -f1; }
wait_line() {
	local i n
	for ((i = 0; i < 200; i++)); do
		n=$(last_line "$1")
		[ -n "$n" ] && [ "$n" -ge "$2" ] && return 0
		sleep 0.1
	done
	fail "$1 did not get to line $2 (last: ${n:-none}): $(log "$1" | tail -3 | tr '\n' '|')"
}
# check NAME LO HI: NAME's lines go up by one, K = number, the first in LO..HI
check() {
	local err
	err=$(lines "$1" | awk -v lo="$2" -v hi="$3" '
		NR == 1 && ($1 < lo || $1 > hi) { print "starts at line " $1 ", expected " lo ".." hi; exit }
		$1 != $2 { print "line " $1 " numbers " $2; exit }
		NR > 1 && $1 != p + 1 { print "after line " p " came " $1; exit }
		{ p = $1 }')
	[ -z "$err" ] || fail "$1: $err"
}
# the processes of the pipeline run as nobody
check_uids() {
	local pid bad=0 n=0 p
	pid=$(rt ps | awk -v n="$1" '$1 == n { print $2 }')
	[ -n "$pid" ] || fail "no pid for $1 in rtcr ps"
	for p in $pid $(pgrep -P "$pid") $(for c in $(pgrep -P "$pid"); do pgrep -P "$c"; done); do
		n=$((n + 1))
		[ "$(awk '/^Uid:/ { print $2 $3 }' "/proc/$p/status" 2>/dev/null)" = 6553465534 ] || bad=$((bad + 1))
	done
	[ "$n" -ge 3 ] || fail "$1: only $n processes found under pid $pid"
	# a sleep that just ended may be gone: it counts as neither
	[ "$bad" -le 1 ] || fail "$1: $bad of its $n processes do not run as uid 65534"
}

wait_line u0 50
check_uids u0
dry_run u0
before=$(last_line u0)
ckpt u0 "$T/img1"
wait_line u0 $((before + 20))
check u0 1 1
signal u0 KILL
expect_status u0 137
last=$(last_line u0)
restore "$T/img1" u1
wait_line u1 $((last + 30))
check u1 $((before + 1)) $((last + 1))
check_uids u1
dry_run u1
before=$(last_line u1)
ckpt u1 "$T/img2" --kill
expect_status u1 137
last=$(last_line u1)
[ "$last" -ge "$before" ] || fail "u1 went back from line $before to $last"
restore "$T/img2" u2
wait_line u2 $((last + 30))
check u2 $((before + 1)) $((last + 1))
check_uids u2
note "lines: checkpoint 1 at $before, restored u2 at $(last_line u2)"
signal u2 KILL
expect_status u2 137
