#!/bin/bash
# deleted: mappings (private and shared) of a deleted file, and a removed
# working directory: checkpoint, kill -9, restore twice in a row.
. "$(dirname "$0")/lib.sh"

start x0 deleted "$T"
wait_for x0 '^READY'
ckpt x0 "$T/img"
signal x0 KILL
restore "$T/img" x1
sleep 0.2
ckpt x1 "$T/img2" --kill
restore "$T/img2" x2
sleep 0.2
verify x2
