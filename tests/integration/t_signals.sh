#!/bin/bash
# signals: handlers and their flags and masks, the blocked mask, pending
# signals (standard and queued real-time with values), an ITIMER_REAL and a
# sigaltstack survive checkpoint and restore.
. "$(dirname "$0")/lib.sh"

start s0 signals
wait_for s0 '^READY'
sleep 0.3
ckpt s0 "$T/img"
verify s0
restore "$T/img" s1
sleep 0.3
verify s1
