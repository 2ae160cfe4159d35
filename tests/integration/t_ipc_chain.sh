#!/bin/bash
# ipc_chain: the IPC namespace part in incremental images. A target with
# System V objects and a POSIX message queue (tests/targets/ipc.c) under
# dirty tracking: a full checkpoint, then an incremental one; restored
# from the incremental image (the chain) and from the merged chain, each
# verifying every object (chain resolution and merge take Image.ipc and
# the segments' Shmem objects from the newest image, which has them all).
. "$(dirname "$0")/lib.sh"

prog=$(tgt ipc) || exit 1
for track in fault:64K async; do
	n=c${track%%:*}
	note "== --track=$track"
	STARTED+=("$n")
	rt run --name "$n" --detach --track="$track" -- "$prog" >/dev/null 2>"$T/run.err" ||
		fail "rtcr run --track=$track failed: $(cat "$T/run.err")"
	wait_for "$n" '^READY'
	ckpt "$n" "$T/$n.0" --full
	ckpt "$n" "$T/$n.1" --incremental --json
	grep -q '"incremental":true' "$T/ckpt.out" || fail "the second image is not incremental: $(cat "$T/ckpt.out")"
	signal "$n" KILL
	expect_status "$n" 137
	restore "$T/$n.1" "$n-r"
	verify "$n-r"
	must image merge "$T/$n.1" -o "$T/$n.m" >/dev/null
	restore "$T/$n.m" "$n-m"
	verify "$n-m"
done
