#!/bin/bash
# live: live checkpoints (copy-before-write) of a target writing as fast as
# it can: the restored memory is the memory of the instant of the pause
# (the target checks every page against its generation table). Then what
# must fail, fails clearly: incremental or live without tracking, live
# with async tracking, a parent that is not the last image, a chain with
# a link moved away or corrupted.
. "$(dirname "$0")/lib.sh"

prog=$(tgt dirtier) || exit 1
STARTED+=(f2)
rt run --name f2 --detach --track=fault:64K -- "$prog" furious 64 7 >/dev/null 2>"$T/run.err" ||
	fail "rtcr run --track=fault:64K: $(cat "$T/run.err")"
wait_for f2 '^READY' 20
sleep 0.3
ckpt f2 "$T/l0" --live
grep -q "live" "$T/ckpt.out" || fail "not a live checkpoint: $(cat "$T/ckpt.out")"
sleep 0.3
ckpt f2 "$T/l1" --live --incremental
sleep 0.3
ckpt f2 "$T/l2" --live
must show "$T/l2" --json >"$T/show.json"
grep -q '"live":true' "$T/show.json" || fail "the image does not say it is live"
rt kill f2 --signal KILL >/dev/null 2>&1
status f2 >/dev/null
restore "$T/l2" f2r
verify f2r 60
# the first one too (a full live image)
restore "$T/l0" f2s
verify f2s 60

# what must be refused
start c1 counter
wait_number c1 1
for opt in --incremental --live "--parent $T/l0"; do
	rc=0
	rt checkpoint c1 -o "$T/x" $opt >"$T/o" 2>"$T/e" || rc=$?
	[ "$rc" = 1 ] || fail "checkpoint $opt of an untracked target: exit $rc, expected 1"
	grep -q -- "--track" "$T/e" || fail "checkpoint $opt: no hint at --track: $(cat "$T/e")"
done
STARTED+=(a1)
rt run --name a1 --detach --track=async -- "$(tgt counter)" >/dev/null || fail "run --track=async"
wait_number a1 1
rc=0
rt checkpoint a1 -o "$T/x" --live >"$T/o" 2>"$T/e" || rc=$?
[ "$rc" = 1 ] && grep -q "fault" "$T/e" || fail "a live checkpoint with async tracking: exit $rc: $(cat "$T/e")"
rc=0
rt checkpoint a1 -o "$T/x" --incremental >"$T/o" 2>"$T/e" || rc=$?
[ "$rc" = 1 ] && grep -q "no incremental checkpoint possible" "$T/e" ||
	fail "--incremental with no earlier image: exit $rc: $(cat "$T/e")"
ckpt a1 "$T/a0"
ckpt a1 "$T/a1"
ckpt a1 "$T/a2" --json
grep -q '"chain_depth":2' "$T/ckpt.out" || fail "third image is not at depth 2: $(cat "$T/ckpt.out")"
rc=0
rt checkpoint a1 -o "$T/x" --parent "$T/a0" >"$T/o" 2>"$T/e" || rc=$?
[ "$rc" = 1 ] && grep -q "only the last image" "$T/e" ||
	fail "--parent of an older image: exit $rc: $(cat "$T/e")"
# a link moved away: a clear error, nothing left running
mv "$T/a1" "$T/moved"
rc=0
rt restore "$T/a2" --name bad1 --detach >"$T/o" 2>"$T/e" || rc=$?
[ "$rc" = 1 ] && grep -q "broken image chain" "$T/e" ||
	fail "restore with a missing link: exit $rc: $(cat "$T/e")"
# ... found again when named
must image merge "$T/moved" "$T/a2" -o "$T/am" >/dev/null
mv "$T/moved" "$T/a1"
# corrupted links (a byte flipped in every page of a0 and a1, whatever a2
# inherits from them): the checksum catches it
python3 - "$T/a0/pages.img" "$T/a1/pages.img" <<'PY'
import os, sys
for path in sys.argv[1:]:
  f = open(path, "r+b")
  size = os.fstat(f.fileno()).st_size
  for off in range(4096 + 100, size, 4096):
    f.seek(off)
    b = f.read(1)
    f.seek(off)
    f.write(bytes([b[0] ^ 0xff]))
PY
STARTED+=(bad1 bad2)
rc=0
rt restore "$T/a2" --name bad2 --detach >"$T/o" 2>"$T/e" || rc=$?
[ "$rc" = 1 ] && grep -qi "checksum" "$T/e" ||
	fail "restore with a corrupted link: exit $rc: $(cat "$T/e")"
rt kill a1 --signal KILL >/dev/null 2>&1
restore "$T/am" a1m
wait_for a1m '^[0-9]+$' 10

# bad arguments: a clear error, nothing started, nothing written
for bad in bogus fault:3K fault:32M async:64K; do
	rc=0
	rt run --name badtrack --detach --track="$bad" -- "$(tgt counter)" >"$T/o" 2>"$T/e" || rc=$?
	[ "$rc" != 0 ] && grep -qiE "tracking mode|granularity" "$T/e" ||
		fail "run --track=$bad: exit $rc: $(cat "$T/e")"
done
rc=0
rt image merge "$T/am" -o "$T/l0" >"$T/o" 2>"$T/e" || rc=$?
[ "$rc" = 1 ] && grep -q "already holds an image" "$T/e" ||
	fail "merge into a directory that holds an image: exit $rc: $(cat "$T/e")"
