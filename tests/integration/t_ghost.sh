#!/bin/bash
# ghost: a deleted file (with a hole, two open file descriptions at their
# offsets) and memfds (mapped and held, held only, sealed) survive
# checkpoint, kill, restore, and a checkpoint and restore of the restored
# target; nothing is left in the file's directory; a restore whose
# directory is gone says so.
. "$(dirname "$0")/lib.sh"

d=$T/dir
mkdir -p "$d"
start g0 ghost "$d"
wait_for g0 '^READY'
[ -z "$(ls -A "$d")" ] || fail "the target left files in $d: $(ls -A "$d")"
ckpt g0 "$T/img1"
signal g0 KILL
expect_status g0 137
restore "$T/img1" g1
sleep 0.2
[ -z "$(ls -A "$d")" ] || fail "the restore left files in $d: $(ls -A "$d")"
ckpt g1 "$T/img2"
verify g1
restore "$T/img2" g2
sleep 0.2
verify g2
[ -z "$(ls -A "$d")" ] || fail "files left in $d: $(ls -A "$d")"

# the deleted file's directory is gone: the restore fails and says so
mv "$d" "$T/dir.moved"
rc=0
rt restore "$T/img1" --name g3 --detach >"$T/g3.out" 2>"$T/g3.err" || rc=$?
[ "$rc" != 0 ] || {
	STARTED+=(g3)
	fail "restore without the directory succeeded"
}
grep -q "no longer exists" "$T/g3.err" || fail "restore without the directory: $(cat "$T/g3.err")"
