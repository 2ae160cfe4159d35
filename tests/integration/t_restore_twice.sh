#!/bin/bash
# restore-twice: the same image restored twice at the same time under two
# names while the original still runs: all three count on.
. "$(dirname "$0")/lib.sh"

start c0 counter
wait_for c0 '^5$'
before=$(last_number c0)
ckpt c0 "$T/img"
STARTED+=(c1 c2)
rt restore "$T/img" --name c1 --detach >"$T/r1.out" 2>"$T/r1.err" &
p1=$!
rt restore "$T/img" --name c2 --detach >"$T/r2.out" 2>"$T/r2.err" &
p2=$!
wait $p1 || fail "restore as c1 failed: $(tail -3 "$T/r1.err")"
wait $p2 || fail "restore as c2 failed: $(tail -3 "$T/r2.err")"
now=$(last_number c0)
wait_number c1 $((before + 10))
wait_number c2 $((before + 10))
wait_number c0 $((now + 5))
check_consecutive c0 0 0
check_consecutive c1 $((before + 1)) $((now + 1))
check_consecutive c2 $((before + 1)) $((now + 1))
for n in c0 c1 c2; do verify $n; done
