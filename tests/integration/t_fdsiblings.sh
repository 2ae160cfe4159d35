#!/bin/bash
# fdsiblings: one descriptor table shared by two siblings (the second made
# with CLONE_PARENT | CLONE_FILES), and by two children made with
# CLONE_FILES with their parent: checkpoint, kill, restore twice; a
# descriptor one sharer makes after the restore is seen by the others.
. "$(dirname "$0")/lib.sh"

start t0 fdsiblings
wait_for t0 '^READY'
ckpt t0 "$T/img"
signal t0 KILL
restore_again "$T/img" t1 "$T/img2" t2 --kill
