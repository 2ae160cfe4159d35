#!/bin/bash
# threads: a pthread pool with a mutex, a condition variable and TLS
# counters, a thread asleep in nanosleep and one blocked in a futex wait,
# per-thread names, masks and nice values: checkpoint, kill -9, restore,
# and again from the restored one; then the target checks itself.
. "$(dirname "$0")/lib.sh"

start t0 threads
wait_for t0 '^READY'
sleep 0.3
ckpt t0 "$T/img"
signal t0 KILL
expect_status t0 137
restore_again "$T/img" t1 "$T/img2" t2 --kill
