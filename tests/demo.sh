#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# make demo: a narrated checkpoint and restore of a counting program.
# Needs root (namespaces and ptrace). Uses a private run directory.

set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
RTCR=${RTCR:-$TOP/build/rtcr}
COUNTER=${COUNTER:-$TOP/build/tests/targets/counter}

if [ "$(id -u)" != 0 ]; then
	echo "demo: rtcr needs root (pid and time namespaces, ptrace): run 'sudo make demo'" >&2
	exit 1
fi
for f in "$RTCR" "$COUNTER"; do
	[ -x "$f" ] || { echo "demo: $f is missing: run 'make' first" >&2; exit 1; }
done

DIR=$(mktemp -d /tmp/rtcr-demo.XXXXXX)
export RTCR_RUNDIR=$DIR/run
NAME=demo-counter
B='' N=''
if [ -t 1 ]; then B=$(tput bold 2>/dev/null || true) N=$(tput sgr0 2>/dev/null || true); fi

say() { printf '\n%s==> %s%s\n' "$B" "$*" "$N"; }
show() { printf '    $ %s\n' "$*"; }
cleanup() {
	"$RTCR" kill "$NAME" --signal KILL >/dev/null 2>&1
	"$RTCR" kill "$NAME-restored" --signal KILL >/dev/null 2>&1
	"$RTCR" wait "$NAME" >/dev/null 2>&1
	"$RTCR" wait "$NAME-restored" >/dev/null 2>&1
	rm -rf "$DIR"
}
trap cleanup EXIT
die() { echo "demo: $*" >&2; exit 1; }

# follow NAME TENTHS: print NAME's new output lines for TENTHS/10 seconds.
declare -A seen
follow() {
	local name=$1 tenths=$2 i n
	for ((i = 0; i < tenths; i++)); do
		n=$("$RTCR" log "$name" 2>/dev/null | wc -l)
		if [ "$n" -gt "${seen[$name]:-0}" ]; then
			"$RTCR" log "$name" | sed -n "$((${seen[$name]:-0} + 1)),${n}p" | tr '\n' ' '
			seen[$name]=$n
		fi
		sleep 0.1
	done
	echo
}

say "rtcr checkpoints a running program and restores it later, exactly where it was."
echo "    The program here is a counter that prints 0, 1, 2, ... ten times a second."

say "Start it under rtcr, in the background (its own pid and time namespace):"
show "rtcr run --name $NAME --detach -- counter"
"$RTCR" run --name "$NAME" --detach -- "$COUNTER" >/dev/null || die "rtcr run failed"
echo "    It counts:"
printf '    '
follow "$NAME" 15

say "Checkpoint it into an image directory (it is paused only for a moment):"
show "rtcr checkpoint $NAME -o $DIR/image"
"$RTCR" checkpoint "$NAME" -o "$DIR/image" | sed 's/^/    /' || die "checkpoint failed"
at=$("$RTCR" log "$NAME" | grep -E '^[0-9]+$' | tail -1)
echo "    It had printed up to $at."

say "Now kill it for good:"
show "rtcr kill $NAME --signal KILL"
"$RTCR" kill "$NAME" --signal KILL || die "kill failed"
st=$("$RTCR" wait "$NAME" 2>/dev/null; echo $?)
last=$("$RTCR" log "$NAME" | grep -E '^[0-9]+$' | tail -1)
echo "    Gone (status ${st##*$'\n'}); its last number was $last."

say "What the image holds:"
show "rtcr show $DIR/image"
"$RTCR" show "$DIR/image" 2>&1 | head -n 15 | sed 's/^/    /'

say "Restore it from the image:"
show "rtcr restore $DIR/image --name $NAME-restored --detach"
"$RTCR" restore "$DIR/image" --name "$NAME-restored" --detach >/dev/null || die "restore failed"
echo "    It counts on from where it was checkpointed (not from 0):"
printf '    '
follow "$NAME-restored" 20
first=$("$RTCR" log "$NAME-restored" | grep -E '^[0-9]+$' | head -1)
if [ -n "$first" ] && [ "$first" -gt 0 ]; then
	echo "    The restored counter started at $first, right after $((first - 1))."
else
	die "the restored counter did not continue (first number: ${first:-none})"
fi

say "Clean up:"
show "rtcr kill $NAME-restored"
"$RTCR" kill "$NAME-restored" || die "kill failed"
"$RTCR" wait "$NAME-restored" >/dev/null 2>&1
echo "    Done. See docs/user-guide.md for everything rtcr does."
