#!/bin/bash
# node: node's main thread and a worker thread (tests/programs/workers.js)
# exchange messages with sequence numbers; checkpointed with
# --leave-running and restored, the restored one checkpointed with --kill
# and restored again: the sequence goes on with no gap or repeat, and the
# worker's own count and sum agree with the main thread's.
. "$(dirname "$0")/lib.sh"

NODE=$(command -v node || command -v nodejs || true)
[ -n "$NODE" ] || skip "node is not installed (nodejs)"
cp "$TOP/tests/programs/workers.js" "$T/workers.js"
start n0 "$NODE" "$T/workers.js" "$T/stop"
wait_for n0 '^20$' 30
restore_twice_then_stop n0 n1 n2 "$T/stop"
