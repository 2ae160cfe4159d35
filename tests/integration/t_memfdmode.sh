#!/bin/bash
# memfdmode: the mode and owner of memfds (fchmod, fchown), open or only mapped,
# come back:
# checkpoint, kill -9, restore, checkpoint the restored one, restore again.
. "$(dirname "$0")/lib.sh"

start f0 memfdmode
wait_for f0 '^READY'
ckpt f0 "$T/img"
signal f0 KILL
restore "$T/img" f1
sleep 0.2
ckpt f1 "$T/img2" --kill
restore "$T/img2" f2
sleep 0.2
verify f2
