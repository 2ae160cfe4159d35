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
dry_run n0
counted_restore n0 "$T/img1" n1 10 5
dry_run n1
before=$(last_number n1)
ckpt n1 "$T/img2" --kill
expect_status n1 137
last=$(last_number n1)
restore "$T/img2" n2
wait_number n2 $((last + 10)) 30
check_consecutive n2 $((before + 1)) $((last + 1))
not_rerun n2
touch "$T/stop"
wait_for n2 '^(PASS|FAIL)' 30
log n2 | grep -q '^PASS' || fail "n2: $(log n2 | grep '^FAIL' | head -5 | tr '\n' '|')"
expect_status n2 0
note "$(log n2 | grep '^PASS')"
