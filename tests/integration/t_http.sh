#!/bin/bash
# http: a real server, python3 -m http.server on a loopback port, serves a
# file before and after checkpoint --kill and restore (its listening socket
# comes back on the same port).
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 is not installed"
port=$((20000 + RANDOM % 20000))
mkdir -p "$T/www"
echo "hello from rtcr $port" >"$T/www/index.txt"
get() {
	python3 - "$port" <<'PY'
import sys, urllib.request
print(urllib.request.urlopen("http://127.0.0.1:%s/index.txt" % sys.argv[1], timeout=5).read().decode().strip())
PY
}
start h0 /bin/sh -c "cd '$T/www' && exec python3 -m http.server $port --bind 127.0.0.1"
for i in $(seq 50); do get >/dev/null 2>&1 && break; sleep 0.1; done
[ "$(get)" = "hello from rtcr $port" ] || fail "the server does not answer before the checkpoint"
ckpt h0 "$T/img" --kill
expect_status h0 137
restore "$T/img" h1
sleep 0.3
out=$(get 2>&1) || fail "the restored server does not answer: $out"
[ "$out" = "hello from rtcr $port" ] || fail "the restored server answered '$out'"
