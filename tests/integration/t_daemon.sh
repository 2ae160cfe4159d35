#!/bin/bash
# daemon: the started process forks a child that calls setsid and goes on
# counting, then exits 0; rtcr follows the child. Checkpoint, kill -9,
# restore twice in a row: it counts on and is still its session's leader.
. "$(dirname "$0")/lib.sh"

start d0 daemon
wait_number d0 5
ckpt d0 "$T/img"
n=$(last_number d0)
signal d0 KILL
restore "$T/img" d1
wait_number d1 $((n + 3))
ckpt d1 "$T/img2" --kill
restore "$T/img2" d2
wait_number d2 $((n + 6))
first=$(numbers d1 | head -1)
[ "$first" -le $((n + 1)) ] && [ "$first" -gt 0 ] || fail "d1 started at $first, the original had reached $n"
verify d2
