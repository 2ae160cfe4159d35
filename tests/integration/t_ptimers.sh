#!/bin/bash
# ptimers: POSIX timers (periodic with a sigev_value, one-shot, signalling
# a thread, unarmed SIGEV_NONE, with a gap in the ids) keep their ids,
# values, periods and remaining times across checkpoint, kill, restore, and
# a checkpoint and restore of the restored target.
. "$(dirname "$0")/lib.sh"

start p0 ptimers
wait_for p0 '^READY'
sleep 0.3
ckpt p0 "$T/img1"
signal p0 KILL
expect_status p0 137
restore_again "$T/img1" p1 "$T/img2" p2
