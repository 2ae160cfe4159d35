#!/bin/bash
# fpu: AVX/SSE/x87 registers, MXCSR and the x87 control word survive a
# checkpoint and restore taken in the middle of a long register-only loop.
. "$(dirname "$0")/lib.sh"

if ! grep -qw avx /proc/cpuinfo; then skip "no AVX"; fi
start f0 fpu
wait_for f0 '^(READY|SKIP)'
if log f0 | grep -q '^SKIP'; then skip "$(log f0 | grep -m1 '^SKIP' | sed 's/^SKIP: //')"; fi
wait_for f0 '^round 1 ok'
sleep 0.4 # inside a round
ckpt f0 "$T/img"
wait_for f0 '^round 2 ok'
verify f0
restore "$T/img" f1
# The first round that completes in the restored target is the one the
# checkpoint interrupted: its registers came from the image.
wait_for f1 '^round [0-9]+ ok' 20
verify f1
