#!/bin/bash
# procstate: process-wide kernel state (ids, session, umask, cwd, rlimits,
# nice, scheduler, personality, prctl settings, oom_score_adj, rseq, robust
# list, clear_child_tid) survives checkpoint and restore.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/wd"
# Through a shell that execs it: the process the checkpoint sees has exec'd.
start p0 /bin/sh -c "exec '$(tgt procstate)' '$T/wd'"
wait_for p0 '^READY'
ckpt p0 "$T/img"
verify p0
restore "$T/img" p1
verify p1
