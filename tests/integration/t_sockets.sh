#!/bin/bash
# sockets: unix socket pairs (stream, dgram, seqpacket) with queued data and
# message boundaries, a closed peer, a shut down end, unix listeners on a
# path (its stale socket file is replaced) and in the abstract namespace, a
# bound dgram socket with datagrams queued, TCP listeners (IPv4, IPv6) and
# UDP sockets (bound, connected), with their options and flags, survive
# checkpoint, kill, restore, and a second checkpoint and restore of the
# restored target. A restore while the original still holds its ports
# fails with a clear message. Refused at checkpoint, with a message naming
# them (and listed by --dry-run): an established TCP connection, unix
# sockets connected to a program outside the target, a socket in flight
# that no process holds (descriptors in flight: t_scmrights.sh,
# t_unixstates.sh).
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/sk"
start s0 sockets "$T/sk"
wait_for s0 '^READY'
# the socket file's mode and owner come back (set through the file itself)
chmod 0640 "$T/sk/listen.sock"
chown 65534:65534 "$T/sk/listen.sock"
ckpt s0 "$T/img"
rt show "$T/img" >/dev/null 2>"$T/show.err" || fail "rtcr show of the image failed: $(cat "$T/show.err")"

# The original still listens: a restore must say so, and leave nothing.
rc=0
rt restore "$T/img" --name busy --detach >"$T/busy.out" 2>"$T/busy.err" || rc=$?
[ "$rc" != 0 ] || {
	STARTED+=(busy)
	fail "restore while the original runs succeeded"
}
grep -q 'is in use (is the original still running?)' "$T/busy.err" ||
	fail "restore while the original runs: unclear message: $(cat "$T/busy.err")"
grep -q 'TCP port [0-9]* is in use' "$T/busy.err" ||
	fail "restore while the original runs does not name the TCP port: $(cat "$T/busy.err")"

signal s0 KILL
expect_status s0 137
[ -S "$T/sk/listen.sock" ] || fail "the original's socket file is gone (the test needs a stale one)"
restore_again "$T/img" s1 "$T/img2" s2
m=$(stat -c '%a %u:%g %F' "$T/sk/listen.sock")
[ "$m" = "640 65534:65534 socket" ] || fail "the restored socket file is $m, expected 640 65534:65534 socket"

# An established TCP connection is refused, by name.
start e0 sockets "$T/sk" established
wait_for e0 '^READY'
port=$(log e0 | sed -n 's/^READY port //p')
rc=0
rt checkpoint e0 -o "$T/img3" --dry-run >"$T/dry.out" 2>"$T/dry.err" || rc=$?
[ "$rc" = 1 ] || fail "checkpoint --dry-run of an established connection exited $rc, expected 1: $(cat "$T/dry.out" "$T/dry.err")"
grep -Eq "TCP connection 127\.0\.0\.1:$port -> 127\.0\.0\.1:[0-9]+ \(established\) is not supported yet" "$T/dry.out" ||
	fail "--dry-run does not list the established connection: $(cat "$T/dry.out" "$T/dry.err")"
grep -Eq "TCP connection 127\.0\.0\.1:[0-9]+ -> 127\.0\.0\.1:$port \(established\)" "$T/dry.out" ||
	fail "--dry-run does not list the client end: $(cat "$T/dry.out")"
ckpt_refused e0 "$T/img3" "an established TCP connection" \
	'^rtcr: error: (checkpoint: )?pid [0-9]+: fd [0-9]+: TCP connection .* \(established\) is not supported yet'
verify e0

# A socket connected to a program outside the target is refused, naming
# the peer's address; so is a socket only in flight.
cat >"$T/outside.py" <<'PY'
import socket, sys, time
d = sys.argv[1]
st = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); st.bind(d + '/out.stream'); st.listen(1)
dg = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); dg.bind(d + '/out.dgram')
print('listening', flush=True)
c, _ = st.accept()
time.sleep(60)
PY
python3 "$T/outside.py" "$T/sk" >"$T/outside.out" 2>&1 &
OUTSIDE=$!
for i in $(seq 50); do grep -q listening "$T/outside.out" && break; sleep 0.1; done
start o0 sockets "$T/sk" outside
wait_for o0 '^READY'
rc=0
rt checkpoint o0 -o "$T/img4" --dry-run >"$T/dry4.out" 2>"$T/dry4.err" || rc=$?
kill "$OUTSIDE"
wait "$OUTSIDE" 2>/dev/null
[ "$rc" = 1 ] || fail "checkpoint --dry-run of sockets connected outside exited $rc, expected 1: $(cat "$T/dry4.out" "$T/dry4.err")"
grep -q "unix stream socket connected to $T/sk/out.stream (socket:\[[0-9]*\]) outside the target" "$T/dry4.out" ||
	fail "--dry-run does not name the stream peer outside: $(cat "$T/dry4.out")"
grep -q "unix dgram socket connected to $T/sk/out.dgram (socket:\[[0-9]*\]) outside the target" "$T/dry4.out" ||
	fail "--dry-run does not name the datagram peer outside: $(cat "$T/dry4.out")"
verify o0

start r0 sockets "$T/sk" rights
wait_for r0 '^READY'
ckpt_refused r0 "$T/img5" "a socket only in flight" \
	'unix stream socket: a socket \(socket:\[[0-9]*\]\) is in flight \(SCM_RIGHTS in its receive queue\) and no process of the target holds it: not supported yet'
verify r0
