#!/bin/bash
# spawn: a target that runs system("true") in a loop (vforks in progress,
# children exiting) is checkpointed 5 times while it runs, then killed and
# restored; it counts on.
. "$(dirname "$0")/lib.sh"

start s0 spawner
wait_number s0 3
for i in 1 2 3 4 5; do
	ckpt s0 "$T/img$i"
done
signal s0 KILL
restore "$T/img5" s1
n=$(numbers s1 | head -1)
wait_number s1 $((${n:-0} + 5))
check_consecutive s1 1 100000
