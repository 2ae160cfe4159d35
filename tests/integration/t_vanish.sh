#!/bin/bash
# vanish: a small file in /tmp mapped MAP_SHARED is deleted after the
# checkpoint (as when another program under rtcr, also pid 2, removes
# /tmp/hsperfdata_root/2): the restore makes it again from the image, with
# its data and mode, and maps it shared; a file that is there but differs
# fails the restore with a message naming it. Twice in a row.
. "$(dirname "$0")/lib.sh"

F=/tmp/rtcr-vanish.$$.$RANDOM
trap 'rc=$?; rm -f "$F"; (exit $rc); cleanup' EXIT
start v0 vanish "$F"
wait_for v0 '^READY'
ckpt v0 "$T/img"
signal v0 KILL
rm -f "$F"
restore "$T/img" v1
[ -f "$F" ] || fail "$F was not made again by the restore"
[ "$(stat -c %a "$F")" = 640 ] || fail "$F made again with mode $(stat -c %a "$F"), want 640"
sleep 0.2
ckpt v1 "$T/img2" --kill
# a different file in its place: refused, by name
rm -f "$F"
echo other >"$F"
rc=0
rt restore "$T/img2" --name vx --detach >"$T/bad.out" 2>"$T/bad.err" || rc=$?
[ "$rc" != 0 ] || fail "restore over a different $F succeeded"
grep -q -- "$F" "$T/bad.err" || fail "the failed restore does not name $F: $(tail -3 "$T/bad.err")"
rm -f "$F"
restore "$T/img2" v2
sleep 0.2
verify v2
[ ! -e "$F" ] || fail "the target did not remove $F"
