#!/bin/bash
# deldir: a deleted working directory and a descriptor of a deleted
# directory, in a tree removed whole: checkpoint, kill, restore twice;
# /proc/self/cwd and /proc/self/fd/N read as before ("PATH (deleted)"),
# nlink 0, and the directories made for the restore are gone again.
. "$(dirname "$0")/lib.sh"

start t0 deldir
wait_for t0 '^READY'
ckpt t0 "$T/img"
signal t0 KILL
restore_again "$T/img" t1 "$T/img2" t2 --kill
