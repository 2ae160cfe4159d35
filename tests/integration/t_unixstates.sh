#!/bin/bash
# unixstates: unix socket states beyond pairs and idle listeners (see
# tests/targets/unixstates.c): a listener with connections not accept()ed
# yet (accept() returns them in order, connected to their clients), stream
# sockets never connected (bound or not, with options), datagram sockets
# connected to a peer that was closed (send()/recv() give what they gave
# the original), pipes and a FIFO in flight (SCM_RIGHTS) with their data
# and other ends, half shut down pairs with data queued, seqpacket
# boundaries, an abstract datagram socket, sockets bound to removed paths.
# Each survives checkpoint, kill, restore, and a second checkpoint and
# restore of the restored target. Refused at checkpoint by name (also by
# --dry-run): a client that wrote to a connection not accept()ed yet, an
# eventfd only in flight.
. "$(dirname "$0")/lib.sh"

for mode in pending unconn dgramgone flight misc; do
	mkdir -p "$T/$mode"
	start "${mode}0" unixstates "$T/$mode" "$mode"
	wait_for "${mode}0" '^READY'
	ckpt "${mode}0" "$T/img.$mode"
	rt show "$T/img.$mode" >/dev/null 2>"$T/show.err" || fail "rtcr show of the $mode image failed: $(cat "$T/show.err")"
	signal "${mode}0" KILL
	expect_status "${mode}0" 137
	restore_again "$T/img.$mode" "${mode}1" "$T/img2.$mode" "${mode}2"
done


mkdir -p "$T/fo"
start fo0 unixstates "$T/fo" flightother
wait_for fo0 '^READY'
ckpt_refused fo0 "$T/img.fo" "an eventfd only in flight" \
	'pid [0-9]+: fd [0-9]+: unix stream socket: a \[eventfd\] \(anon_inode:\[eventfd\]\) is in flight \(SCM_RIGHTS in its receive queue\) and no process of the target holds it: not supported yet \(only regular files, pipes and FIFOs\)'
verify fo0

mkdir -p "$T/pd"
start pd0 unixstates "$T/pd" pendingdata
wait_for pd0 '^READY'
rc=0
rt checkpoint pd0 -o "$T/img.pd" --dry-run >"$T/dry.out" 2>"$T/dry.err" || rc=$?
[ "$rc" = 1 ] || fail "checkpoint --dry-run of a client that wrote before accept() exited $rc, expected 1: $(cat "$T/dry.out" "$T/dry.err")"
grep -q "unix stream socket connected to $T/pd/pd.sock, which has not accept()ed the connection yet, with data sent: not supported" "$T/dry.out" ||
	fail "--dry-run does not name the client with data sent: $(cat "$T/dry.out")"
ckpt_refused pd0 "$T/img.pd" "data sent on a connection not accept()ed yet" \
	"pid [0-9]+: fd [0-9]+: unix stream socket connected to $T/pd/pd.sock, which has not accept\(\)ed the connection yet, with data sent: not supported"
verify pd0
