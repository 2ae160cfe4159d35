#!/bin/bash
# spawn: a target that runs system("true") in a loop (vforks in progress,
# children exiting, zombies its paused parent has not reaped yet, zombies
# of rtcr's init) is checkpointed 8 times while it runs; every image must
# restore and count on (a child that ended while the target was being
# paused once made an image with a process no restore could create).
. "$(dirname "$0")/lib.sh"

start s0 spawner
wait_number s0 3
for i in 1 2 3 4 5 6 7 8; do
	before=$(numbers s0 | tail -1)
	ckpt s0 "$T/img$i"
done
signal s0 KILL
expect_status s0 137
last=$(numbers s0 | tail -1)
for i in 1 2 3 4 5 6 7; do
	restore "$T/img$i" "r$i"
	n=$(numbers "r$i" | head -1)
	wait_number "r$i" $((${n:-0} + 2))
	signal "r$i" KILL
done
restore "$T/img8" s1
n=$(numbers s1 | head -1)
wait_number s1 $((${n:-0} + 5))
# the image was taken after "$before" was printed, and before "$last" was
check_consecutive s1 $((before + 1)) $((last + 1))
