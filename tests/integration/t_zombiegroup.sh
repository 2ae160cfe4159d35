#!/bin/bash
# zombiegroup: zombies in their own process group, in a live sibling's
# group, in a session of their own, and a live process in a group whose
# leader is a zombie: checkpoint, kill, restore twice; the groups and
# sessions in /proc/PID/stat are as before and the parent reaps every
# zombie with its status.
. "$(dirname "$0")/lib.sh"

start t0 zombiegroup
wait_for t0 '^READY'
ckpt t0 "$T/img"
signal t0 KILL
restore_again "$T/img" t1 "$T/img2" t2 --kill
