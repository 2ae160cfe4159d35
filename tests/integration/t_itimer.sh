#!/bin/bash
# itimer: a periodic ITIMER_REAL whose SIGALRM is pending at the checkpoint
# (the kernel then reports 0 time left) stays armed with its interval after
# a restore, and so does a periodic ITIMER_VIRTUAL. The target keeps
# SIGALRM blocked most of the time; 20 quick checkpoints that leave it
# running, then one that kills it and a restore, twice; after each restore
# the SIGALRM count must grow and the target checks its intervals itself.
. "$(dirname "$0")/lib.sh"

start i0 itimer
wait_for i0 '^READY'
prev=i0
for round in 1 2; do
	for k in $(seq 1 20); do
		rt checkpoint "$prev" -o "$T/quick.$round.$k" --leave-running >/dev/null 2>"$T/ckpt.err" ||
			fail "quick checkpoint $k of $prev: $(tail -3 "$T/ckpt.err")"
	done
	rm -rf "$T"/quick.*
	wait_number "$prev" "$(($(last_number "$prev") + 1))"
	ckpt "$prev" "$T/img.$round" --kill
	restore "$T/img.$round" "i$round"
	prev=i$round
	# numbers only come while the timer fires: the count grows from where it was
	wait_for "$prev" '^[0-9]+$'
	first=$(last_number "$prev")
	wait_number "$prev" "$((first + 20))"
done
verify "$prev"
