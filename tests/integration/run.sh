#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Run the integration tests: every tests/integration/t_*.sh, or those named
# in $TESTS (space separated: "counter", "t_counter" or "t_counter.sh").
# Each runs with a timeout ($TEST_TIMEOUT; else the test's own "# timeout: N"
# line for the few long ones, which take most of a minute on a quiet 2-core
# machine; else 60 s) in its own
# temporary directory; prints PASS name / FAIL name (with the tail of its
# output) / SKIP name: reason, and ends with "N passed, N failed, N skipped".
# Exit 1 if any failed.
#
# RTCR (default build/rtcr) and TARGET_DIR (default build/tests/targets)
# are passed on to the tests.

set -u
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
export RTCR=${RTCR:-$TOP/build/rtcr}
export TARGET_DIR=${TARGET_DIR:-$TOP/build/tests/targets}
TIMEOUT=${TEST_TIMEOUT:-60}

tests=()
if [ -n "${TESTS:-}" ]; then
	for t in $TESTS; do
		t=${t%.sh}
		t=${t#t_}
		[ -f "$HERE/t_$t.sh" ] || {
			echo "run.sh: no test t_$t.sh" >&2
			exit 2
		}
		tests+=("$HERE/t_$t.sh")
	done
else
	for t in "$HERE"/t_*.sh; do
		[ -f "$t" ] && tests+=("$t")
	done
fi

passed=0 failed=0 skipped=0
for t in "${tests[@]}"; do
	name=$(basename "$t" .sh)
	name=${name#t_}
	tmp=$(mktemp -d /tmp/rtcr-t.XXXXXX)
	out=$tmp.out
	start=$(date +%s.%N)
	limit=$TIMEOUT
	if [ -z "${TEST_TIMEOUT:-}" ]; then
		own=$(sed -n 's/^# timeout: \([0-9][0-9]*\)$/\1/p' "$t" | head -n 1)
		limit=${own:-$TIMEOUT}
	fi
	RTCR_TEST_TMP=$tmp timeout -k 15 "$limit" bash "$t" >"$out" 2>&1 </dev/null
	rc=$?
	secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	# Whatever the test left behind (it was killed, or its cleanup failed).
	stray=$(pgrep -f -- "$tmp" || true)
	if [ -n "$stray" ]; then
		{
			echo "run.sh: processes left behind by $name:"
			ps -o pid,ppid,stat,args -p "$(echo $stray | tr ' ' ,)" 2>/dev/null
		} >>"$out"
		kill -9 $stray 2>/dev/null
		[ "$rc" = 0 ] && rc=1
	fi
	case $rc in
	0)
		echo "PASS $name (${secs}s)"
		passed=$((passed + 1))
		;;
	77)
		reason=$(grep -m1 '^SKIP: ' "$out" | sed 's/^SKIP: //')
		echo "SKIP $name: ${reason:-no reason given}"
		skipped=$((skipped + 1))
		;;
	*)
		[ "$rc" = 124 ] && echo "run.sh: timed out after ${limit}s" >>"$out"
		echo "FAIL $name (exit $rc, ${secs}s)"
		tail -n 25 "$out" | sed 's/^/    /'
		failed=$((failed + 1))
		;;
	esac
	rm -rf "$tmp" "$out"
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
