#!/bin/bash
# shmsplit: shared anonymous memory in several pieces of one object (mprotect,
# madvise, partial munmap), shared with a child that splits it its own way:
# checkpoint, kill -9, restore, checkpoint the restored one, restore again.
. "$(dirname "$0")/lib.sh"

start s0 shmsplit
wait_for s0 '^READY'
ckpt s0 "$T/img"
signal s0 KILL
restore "$T/img" s1
sleep 0.2
ckpt s1 "$T/img2" --kill
restore "$T/img2" s2
sleep 0.2
verify s2
