#!/bin/bash
# tree: a process tree with a pipe with data in flight between two
# processes, a shared anonymous page, a process group, a session leader
# and a zombie: checkpoint, kill -9, restore, and again from the restored
# one; then the processes check themselves.
. "$(dirname "$0")/lib.sh"

start t0 tree
wait_for t0 '^READY'
ckpt t0 "$T/img"
signal t0 KILL
restore_again "$T/img" t1 "$T/img2" t2 --kill
