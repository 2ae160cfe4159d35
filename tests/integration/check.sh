#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# make check's driver: run each unit test binary given as an argument
# (exit 0 pass, 77 skip, else fail), then the integration suite (run.sh),
# and print one combined "N passed, N failed, N skipped" line at the end.
# Exit 1 if anything failed.

set -u
HERE=$(cd "$(dirname "$0")" && pwd)
passed=0 failed=0 skipped=0

if [ $# -gt 0 ]; then
	echo "== unit tests"
fi
for t in "$@"; do
	name=$(basename "$t")
	out=$(mktemp /tmp/rtcr-unit.XXXXXX)
	timeout -k 5 "${UNIT_TIMEOUT:-120}" "$t" >"$out" 2>&1 </dev/null
	rc=$?
	case $rc in
	0) echo "PASS $name"; passed=$((passed + 1)) ;;
	77) echo "SKIP $name: $(grep -m1 -i 'skip' "$out" | head -c 200)"; skipped=$((skipped + 1)) ;;
	*)
		echo "FAIL $name (exit $rc)"
		{
			grep -E -m 15 '^not ok|FAIL|ERROR|runtime error|Sanitizer' "$out"
			echo "..."
			tail -n 15 "$out"
		} | sed 's/^/    /'
		failed=$((failed + 1))
		;;
	esac
	rm -f "$out"
done

echo "== integration tests"
out=$(mktemp /tmp/rtcr-integ.XXXXXX)
bash "$HERE/run.sh" | tee "$out"
summary=$(tail -n 1 "$out")
rm -f "$out"
if [[ $summary =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]]; then
	passed=$((passed + BASH_REMATCH[1]))
	failed=$((failed + BASH_REMATCH[2]))
	skipped=$((skipped + BASH_REMATCH[3]))
else
	echo "FAIL integration suite (no summary line)"
	failed=$((failed + 1))
fi
echo
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
