#!/bin/bash
# file: a copy loop with open files (read offset, O_APPEND output, O_RDWR
# at an offset, a directory, /dev/null, /dev/zero with various flags) is
# checkpointed with --kill (the output must not change before the restore)
# and restored; it finishes the copy and the output equals the input.
. "$(dirname "$0")/lib.sh"

in=$T/input.txt out=$T/output.txt
head -c 525 /dev/urandom | base64 -w 70 | head -c 700 >"$in"
start f0 file "$in" "$out"
wait_for f0 '^progress 140$'
ckpt f0 "$T/img" --kill
st=$(status f0) || exit 1
[ "$st" != 0 ] || fail "f0 exited 0 after checkpoint --kill (it should have been killed)"
size=$(stat -c %s "$out")
[ "$size" -ge 140 ] && [ "$size" -lt 700 ] || fail "output has $size bytes at the checkpoint"
cp "$out" "$T/output.at-checkpoint"
sleep 0.3
cmp -s "$out" "$T/output.at-checkpoint" || fail "the output changed after checkpoint --kill"
restore "$T/img" f1
wait_for f1 '^(PASS|FAIL)' 20
log f1 | grep -q '^PASS' || fail "$(log f1 | grep '^FAIL' | head -5 | tr '\n' '|')"
log f1 | grep -q '^consumed 700 bytes' || fail "f1 did not consume the whole input: $(log f1 | tail -3 | tr '\n' '|')"
expect_status f1 0
not_rerun f1
first=$(log f1 | grep -m1 '^progress' | cut -d' ' -f2)
[ "${first:-0}" -gt 140 ] || fail "f1 started over: its first progress line is ${first:-missing}"
cmp "$in" "$out" || fail "output differs from input"
