#!/bin/bash
# fdshare: a parent and a child sharing one descriptor table (CLONE_FILES)
# still share it after checkpoint, kill -9 and restore (twice in a row).
. "$(dirname "$0")/lib.sh"

start s0 fdshare
wait_for s0 '^READY'
ckpt s0 "$T/img"
signal s0 KILL
restore "$T/img" s1
sleep 0.2
ckpt s1 "$T/img2" --kill
restore "$T/img2" s2
sleep 0.2
verify s2
