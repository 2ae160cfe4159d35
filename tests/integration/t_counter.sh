#!/bin/bash
# counter: checkpoint --leave-running, kill -9 the original, restore, and
# the restored counter goes on from where it was; then the restored target
# is checkpointed and restored again, twice in a row, and still continues.
. "$(dirname "$0")/lib.sh"

start c0 counter
wait_for c0 '^5$'
prev=c0
for gen in 1 2 3; do
	before=$(last_number $prev)
	ckpt $prev "$T/img$gen"
	[ -s "$T/img$gen/rtcr.img" ] || fail "generation $gen: no rtcr.img written"
	# The checkpointed target runs on (--leave-running).
	wait_number $prev $((before + 3))
	signal $prev KILL
	expect_status $prev 137
	last=$(last_number $prev)
	if [ $gen = 1 ]; then
		check_consecutive $prev 0 0
	fi
	restore "$T/img$gen" c$gen
	wait_number c$gen $((last + 5))
	# It continues after what it printed before the checkpoint, at most
	# repeating what it printed between the checkpoint and the kill.
	check_consecutive c$gen $((before + 1)) $((last + 1))
	note "generation $gen: checkpoint after $before, original killed at $last, restored counted on from $(numbers c$gen | head -1)"
	prev=c$gen
done
verify c3
