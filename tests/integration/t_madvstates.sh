#!/bin/bash
# madvstates: madvise/mlock/mseal state of whole and split mappings
# (VmFlags sr rr dc dd hg nh mg wf lo lf sl) comes back VMA for VMA:
# checkpoint, kill -9, restore, checkpoint the restored one, restore again.
. "$(dirname "$0")/lib.sh"

start a0 madvstates
wait_for a0 '^READY'
ckpt a0 "$T/img"
signal a0 KILL
restore "$T/img" a1
sleep 0.2
ckpt a1 "$T/img2" --kill
restore "$T/img2" a2
sleep 0.2
verify a2
