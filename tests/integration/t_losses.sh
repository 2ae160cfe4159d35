#!/bin/bash
# losses: nothing is lost silently. A target with datagrams queued on a UDP
# socket and inotify events queued (tests/targets/losses.c): a checkpoint
# is refused naming both (pid, fd, how many), --dry-run lists both and the
# target keeps its queues; with --allow-loss=udp-queue,inotify-queue the
# checkpoint warns, the image records both (rtcr show, text and JSON), and
# the restored target's socket and watch work with the old queues gone,
# twice in a row. A netlink (NETLINK_ROUTE) and a packet socket are refused
# naming their family and protocol, also by --dry-run. --allow-loss=bogus
# is a usage error.
. "$(dirname "$0")/lib.sh"

# the image records both losses: rtcr show DIR, text and JSON
show_losses() {
	local dir=$1
	must show "$dir" >"$T/show.txt" || exit 1
	grep -Eq '^losses \(2' "$T/show.txt" || fail "rtcr show $dir lists no losses: $(cat "$T/show.txt")"
	grep -Eq 'fd 5 +udp-queue +UDP socket 127\.0\.0\.1:[0-9]+: 3 queued datagrams, 120 bytes' "$T/show.txt" ||
		fail "rtcr show $dir: no udp-queue loss of fd 5: $(grep -A3 '^losses' "$T/show.txt")"
	grep -Eq 'fd 6 +inotify-queue +inotify: up to 3 queued events, 48 bytes' "$T/show.txt" ||
		fail "rtcr show $dir: no inotify-queue loss of fd 6: $(grep -A3 '^losses' "$T/show.txt")"
	must show "$dir" --json >"$T/show.json" || exit 1
	python3 - "$T/show.json" <<'EOF' || fail "rtcr show --json $dir: losses wrong"
import json, sys
l = json.load(open(sys.argv[1]))["losses"]
k = {x["kind"]: x for x in l}
assert len(l) == 2, l
u, i = k["udp-queue"], k["inotify-queue"]
assert (u["fd"], u["count"], u["bytes"]) == (5, 3, 120), u
assert (i["fd"], i["count"], i["bytes"]) == (6, 3, 48), i
assert u["pid"] == i["pid"] and u["pid"] > 0, l
EOF
}

# checkpoint with the losses accepted (kills the target): a warning names both
ckpt_lossy() {
	local name=$1 dir=$2
	ckpt "$name" "$dir" --kill --allow-loss=udp-queue,inotify-queue
	grep -q 'warning: the image goes without 2 accepted losses' "$T/ckpt.err" ||
		fail "checkpoint with accepted losses did not warn: $(cat "$T/ckpt.err")"
	grep -Eq 'fd 5: UDP socket .*3 queued datagrams, 120 bytes' "$T/ckpt.err" ||
		fail "the warning does not name the UDP queue: $(cat "$T/ckpt.err")"
	grep -Eq 'fd 6: inotify: up to 3 queued events, 48 bytes' "$T/ckpt.err" ||
		fail "the warning does not name the inotify queue: $(cat "$T/ckpt.err")"
	expect_status "$name" 137
	show_losses "$dir"
}

start l0 losses "$T/watched"
wait_for l0 '^READY'

# (a) refused, naming both
rc=0
rt checkpoint l0 -o "$T/ref" >"$T/ref.out" 2>"$T/ref.err" || rc=$?
[ "$rc" = 1 ] || fail "checkpoint of queued datagrams and events exited $rc, expected 1: $(cat "$T/ref.err")"
grep -Eq 'pid [0-9]+: fd 5: UDP socket 127\.0\.0\.1:[0-9]+: 3 queued datagrams, 120 bytes: lost at restore.*udp-queue' "$T/ref.err" ||
	fail "the refusal does not name the UDP queue: $(cat "$T/ref.err")"
[ ! -e "$T/ref/rtcr.img" ] || fail "a refused checkpoint left an image"
rc=0
rt checkpoint l0 -o "$T/ref" --allow-loss=udp-queue >"$T/ref.out" 2>"$T/ref.err" || rc=$?
[ "$rc" = 1 ] || fail "checkpoint with queued events but only udp-queue accepted exited $rc"
grep -Eq 'pid [0-9]+: fd 6: inotify: up to 3 queued events, 48 bytes: lost at restore.*inotify-queue' "$T/ref.err" ||
	fail "the refusal does not name the inotify queue: $(cat "$T/ref.err")"
[ ! -e "$T/ref/rtcr.img" ] || fail "a refused checkpoint left an image"

# (b) --dry-run lists both (text and JSON)
rc=0
rt checkpoint l0 --dry-run >"$T/dry.out" 2>"$T/dry.err" || rc=$?
[ "$rc" = 1 ] || fail "--dry-run exited $rc, expected 1: $(cat "$T/dry.out" "$T/dry.err")"
grep -Eq 'fd 5: UDP socket .*3 queued datagrams, 120 bytes' "$T/dry.out" ||
	fail "--dry-run does not list the UDP queue: $(cat "$T/dry.out")"
grep -Eq 'fd 6: inotify: up to 3 queued events, 48 bytes' "$T/dry.out" ||
	fail "--dry-run does not list the inotify queue: $(cat "$T/dry.out")"
rt checkpoint l0 --dry-run --json >"$T/dry.json" 2>"$T/dry.err" || true
python3 -c 'import json, sys; r = json.load(open(sys.argv[1]))["refused"]; assert len(r) == 2, r' "$T/dry.json" ||
	fail "--dry-run --json does not list 2 refusals: $(cat "$T/dry.json")"
rt checkpoint l0 --dry-run --allow-loss=inotify-queue,udp-queue >"$T/dry.out" 2>"$T/dry.err" ||
	fail "--dry-run with both losses accepted refuses: $(cat "$T/dry.out" "$T/dry.err")"

# the target kept both queues whole (nothing was read away, peek offset back)
signal l0 HUP
wait_for l0 '^DRAINED'
grep -q '^DRAINED udp=3/120 ino=48 peek_off=-1$' "$T/log.l0" ||
	fail "the queues of l0 changed by the refused checkpoints: $(grep DRAINED "$T/log.l0")"
for ((i = 0; i < 100; i++)); do
	[ "$(log l0 | grep -c '^QUEUED')" -ge 2 ] && break
	sleep 0.1
done
[ "$(log l0 | grep -c '^QUEUED')" -ge 2 ] || fail "l0 did not queue again: $(log l0 | tail -3)"

# usage error
rc=0
rt checkpoint l0 -o "$T/bad" --allow-loss=bogus >/dev/null 2>"$T/bad.err" || rc=$?
[ "$rc" = 2 ] || fail "--allow-loss=bogus exited $rc, expected 2 (usage)"
grep -q 'udp-queue, inotify-queue' "$T/bad.err" || fail "--allow-loss=bogus does not list the known kinds: $(cat "$T/bad.err")"
rc=0
rt checkpoint l0 -o "$T/bad" --allow-loss=udp-queue, >/dev/null 2>"$T/bad.err" || rc=$?
[ "$rc" = 2 ] || fail "--allow-loss=udp-queue, exited $rc, expected 2 (usage)"

# (c) accepted: recorded, restored without them, twice in a row
ckpt_lossy l0 "$T/img1"
restore "$T/img1" l1
sleep 0.3
signal l1 USR2 # old queues gone, new datagram and event arrive; queue again
wait_for l1 '^QUEUED'
ckpt_lossy l1 "$T/img2"
! log l1 | grep -q '^FAIL' || fail "l1: $(log l1 | grep '^FAIL' | head -3 | tr '\n' '|')"
restore "$T/img2" l2
sleep 0.3
verify l2

# sockets no kind takes: family and protocol named, by --dry-run too
start n0 losses netlink
wait_for n0 '^READY'
ckpt_refused n0 "$T/nimg" "a netlink socket" 'fd 5: netlink socket \(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE\)'
rc=0
rt checkpoint n0 --dry-run >"$T/ndry.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q 'fd 5: netlink socket (AF_NETLINK, SOCK_RAW, NETLINK_ROUTE)' "$T/ndry.out" ||
	fail "--dry-run does not name the netlink socket: $(cat "$T/ndry.out")"
verify n0

start p0 losses packet
wait_for p0 '^(READY|SKIP)'
if grep -q '^SKIP' "$T/log.p0"; then
	note "packet socket part skipped: $(grep '^SKIP' "$T/log.p0")"
else
	ckpt_refused p0 "$T/pimg" "a packet socket" 'fd 5: packet socket \(AF_PACKET, SOCK_DGRAM, protocol 0x0003 \(ETH_P_ALL\)\)'
	rc=0
	rt checkpoint p0 --dry-run >"$T/pdry.out" 2>&1 || rc=$?
	[ "$rc" = 1 ] && grep -q 'fd 5: packet socket (AF_PACKET' "$T/pdry.out" ||
		fail "--dry-run does not name the packet socket: $(cat "$T/pdry.out")"
	verify p0
fi

# migration captures too: refused naming the loss, the target runs on here
# (the accepted case needs two network namespaces: the restored socket's
# port is the original's)
must keygen -o "$T/key" >/dev/null
PORT=7$((RANDOM % 900 + 100))
out=$(RTCR_RUNDIR=$T/runB timeout -k 5 30 "$RTCR" serve --listen "127.0.0.1:$PORT" --key "$T/key" --detach --timeout 3000 --log "$T/serve.log" 2>&1) ||
	fail "rtcr serve: $out"
SERVE_PID=$(echo "$out" | sed -n 's/.*(pid \([0-9]*\)).*/\1/p')
[ -n "$SERVE_PID" ] || fail "rtcr serve did not say its pid: $out"
trap 'st=$?; kill "$SERVE_PID" 2>/dev/null; (exit $st); cleanup' EXIT
start m0 losses "$T/watched2"
wait_for m0 '^READY'
rc=0
rt migrate m0 --to "127.0.0.1:$PORT" --key "$T/key" -q >"$T/mig.out" 2>"$T/mig.err" || rc=$?
[ "$rc" = 1 ] || fail "migrate of queued datagrams exited $rc, expected 1: $(cat "$T/mig.err")"
grep -Eq 'fd 5: UDP socket .*3 queued datagrams, 120 bytes: lost at restore.*udp-queue' "$T/mig.err" ||
	fail "the migration's refusal does not name the UDP queue: $(cat "$T/mig.err")"
[ "$(rt ps | awk '$1 == "m0" { print $4 }')" = running ] || fail "m0 does not run on after the refused migration"
rc=0
rt migrate m0 --to "127.0.0.1:$PORT" --key "$T/key" --allow-loss=nope >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "migrate --allow-loss=nope exited $rc, expected 2 (usage)"
signal m0 HUP
wait_for m0 '^DRAINED'
grep -q '^DRAINED udp=3/120 ino=48 peek_off=-1$' "$T/log.m0" ||
	fail "the queues of m0 changed by the refused migration: $(grep DRAINED "$T/log.m0")"
