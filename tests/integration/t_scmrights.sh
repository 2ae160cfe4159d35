#!/bin/bash
# scmrights: descriptors in flight (SCM_RIGHTS messages not received yet)
# in a stream and a datagram socketpair: a pipe end and an eventfd the
# process also holds, and regular files only in flight. After checkpoint,
# kill -9 and restore (and a checkpoint and restore of the restored one),
# the receiver gets the same data, in order, with equivalent descriptors in
# the same messages: the same pipe and eventfd as the ones kept, each file
# at its path, access mode, flags and offset.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/sc"
start s0 scmrights "$T/sc"
wait_for s0 '^READY'
ckpt s0 "$T/img"
rt show "$T/img" >/dev/null 2>"$T/show.err" || fail "rtcr show of the image failed: $(cat "$T/show.err")"
signal s0 KILL
expect_status s0 137
restore_again "$T/img" s1 "$T/img2" s2
