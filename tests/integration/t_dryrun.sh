#!/bin/bash
# dry-run: checkpoint --dry-run writes nothing and refuses nothing for the
# counter; for a target holding a terminal master (/dev/ptmx) it names what would be refused, and
# a real checkpoint of it fails with a message and leaves it running.
. "$(dirname "$0")/lib.sh"

start c0 counter
wait_for c0 '^3$'
# Exit 0: nothing would be refused (1: something would).
rt checkpoint c0 -o "$T/img" --dry-run >"$T/dry.out" 2>"$T/dry.err" ||
	fail "checkpoint --dry-run failed or refuses something: $(cat "$T/dry.out"; tail -3 "$T/dry.err")"
[ ! -e "$T/img" ] || [ -z "$(ls -A "$T/img")" ] || fail "--dry-run wrote into $T/img: $(ls "$T/img")"
rt checkpoint c0 -o "$T/img" --dry-run --json >"$T/dry.json" 2>"$T/dry.err" ||
	fail "checkpoint --dry-run --json failed: $(cat "$T/dry.json"; tail -3 "$T/dry.err")"
refused=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["refused"]))' "$T/dry.json") ||
	fail "--dry-run --json is not JSON with a refused list: $(head -c 300 "$T/dry.json")"
[ "$refused" = 0 ] || fail "--dry-run --json of counter refuses: $(cat "$T/dry.json")"
[ ! -e "$T/img" ] || [ -z "$(ls -A "$T/img")" ] || fail "--dry-run --json wrote into $T/img"
n=$(last_number c0)
wait_number c0 $((n + 3))
check_consecutive c0 0 0

# A pseudo-terminal is not a kind rtcr checkpoints (yet).

start f0 /bin/sh -c "exec 7<>/dev/ptmx; exec '$(tgt counter)'"
wait_for f0 '^3$'
rc=0
rt checkpoint f0 -o "$T/img2" --dry-run >"$T/dry2.out" 2>"$T/dry2.err" || rc=$?
[ "$rc" = 1 ] || fail "checkpoint --dry-run of a target with /dev/ptmx exited $rc, expected 1: $(cat "$T/dry2.out" "$T/dry2.err")"
grep -Eq '\<7\>' "$T/dry2.out" || fail "--dry-run does not name fd 7 (/dev/ptmx): $(cat "$T/dry2.out" "$T/dry2.err")"
[ ! -e "$T/img2/rtcr.img" ] || fail "--dry-run wrote an image"
if rt checkpoint f0 -o "$T/img3" >"$T/ck.out" 2>"$T/ck.err"; then
	fail "checkpoint of a target holding /dev/ptmx succeeded"
fi
grep -q '^rtcr: error:' "$T/ck.err" || fail "refused checkpoint without 'rtcr: error:': $(cat "$T/ck.err")"
[ ! -e "$T/img3/rtcr.img" ] || fail "a refused checkpoint left an image"
n=$(last_number f0)
wait_number f0 $((n + 3))
check_consecutive f0 0 0
