#!/bin/bash
# memory: 256 MiB of data and memory of every kind survive checkpoint and
# restore byte for byte, with the same protections; rtcr show reads the image.
. "$(dirname "$0")/lib.sh"

start m0 memory 256 42 "$T"
wait_for m0 '^READY' 30
ckpt m0 "$T/img"
# The original is intact after a checkpoint that left it running.
verify m0
must show "$T/img" >"$T/show.txt"
[ -s "$T/show.txt" ] || fail "rtcr show printed nothing"
must show "$T/img" --json >"$T/show.json"
python3 -m json.tool "$T/show.json" >/dev/null 2>"$T/json.err" || fail "rtcr show --json is not JSON: $(head -3 "$T/json.err")"
size=$(du -sm "$T/img" | cut -f1)
[ "$size" -ge 256 ] || fail "image is $size MiB, expected at least the 256 MiB of data"
restore "$T/img" m1
verify m1 60
