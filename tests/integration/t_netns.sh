#!/bin/bash
# netns: the two-node harness of netns.sh works: each node sees its own
# address, 1 MiB sent over TCP from node A arrives intact in node B, a
# connection attempt fails within a few seconds while the link is cut and
# works again once it is restored. (The namespaces are deleted on exit.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netns.sh"

netns_setup
for v in NODE_A_NS NODE_B_NS NODE_A_IP NODE_B_IP NODE_A_DEV NODE_B_DEV; do
	[ -n "${!v}" ] || fail "netns_setup did not set $v"
done
for ns in "$NODE_A_NS" "$NODE_B_NS"; do
	ip netns list | awk '{ print $1 }' | grep -qxF -- "$ns" || fail "no namespace $ns"
done
case $NODE_A_IP$NODE_B_IP in
*169.254.169.254*) fail "169.254.169.254 was used" ;;
esac
on_a ip -o -4 addr show dev "$NODE_A_DEV" | grep -qF " $NODE_A_IP/" ||
	fail "node A does not have $NODE_A_IP on $NODE_A_DEV: $(on_a ip -o -4 addr)"
on_b ip -o -4 addr show dev "$NODE_B_DEV" | grep -qF " $NODE_B_IP/" ||
	fail "node B does not have $NODE_B_IP on $NODE_B_DEV: $(on_b ip -o -4 addr)"
if ip link show "$NODE_A_DEV" >/dev/null 2>&1; then
	fail "$NODE_A_DEV is visible outside node A"
fi

# A listener in node B: accepts 2 connections, stores what each sent.
PORT=5001
cat >"$T/listen.py" <<'EOF'
import socket, sys
port, out, ready, count = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", port))
s.listen(4)
s.settimeout(30)
open(ready, "w").close()
for n in range(count):
    c, _ = s.accept()
    c.settimeout(30)
    data = bytearray()
    while True:
        chunk = c.recv(1 << 16)
        if not chunk:
            break
        data += chunk
    with open("%s.%d" % (out, n), "wb") as f:
        f.write(data)
    c.close()
EOF
on_b python3 "$T/listen.py" "$PORT" "$T/recv" "$T/ready" 2 &
listener=$!
for ((i = 0; i < 100; i++)); do
	[ -e "$T/ready" ] && break
	sleep 0.1
done
[ -e "$T/ready" ] || fail "the listener in node B did not start"

send() { on_a timeout 10 bash -c 'cat "$1" >"/dev/tcp/$2/$3"' _ "$1" "$NODE_B_IP" "$PORT"; }
head -c 1048576 /dev/urandom >"$T/data"
send "$T/data" || fail "sending 1 MiB from node A to node B failed"
for ((i = 0; i < 50; i++)); do
	[ -e "$T/recv.0" ] && break
	sleep 0.1
done
cmp -s "$T/data" "$T/recv.0" || fail "node B received $(stat -c %s "$T/recv.0" 2>/dev/null || echo no) bytes, not the 1 MiB sent"
note "1 MiB went from node A to node B"

# Cut the link: a connection attempt (to the listener, which still waits)
# fails, within a few seconds.
netns_link_down
t0=$(date +%s%N)
if on_a timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$NODE_B_IP" "$PORT" 2>"$T/down.err"; then
	fail "connected to node B while the link was down"
fi
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 5000 ] || fail "the failed connection attempt took $ms ms"
note "link down: the connection attempt failed after $ms ms ($(head -1 "$T/down.err"))"
if netns_reachable "$NODE_B_NS" "$NODE_A_IP" 2; then
	fail "node B reaches node A while the link is down"
fi

netns_link_up
netns_check || fail "the nodes do not reach each other after netns_link_up"
printf 'again\n' >"$T/data2"
send "$T/data2" || fail "sending after netns_link_up failed"
wait "$listener" || fail "the listener in node B failed"
cmp -s "$T/data2" "$T/recv.1" || fail "node B did not receive the data sent after the link came back"
note "link up again: data goes through"
exit 0
