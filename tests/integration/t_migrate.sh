#!/bin/bash
# migrate: two nodes (network namespaces joined by a veth pair, link-local
# addresses), each with its own rtcr serve and run directory. Targets move
# A -> B -> A (pre-copy and stop) and go on where they were (the counter's
# output continues on the new node; the memory and thread targets verify
# themselves there). Then what must fail fails with the target running on
# exactly one node: a wrong key, a peer sending garbage, the destination
# killed during the transfer, the link cut during pre-copy and during the
# restore.
# timeout: 180
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netns.sh"
netns_setup

RA=$T/runA RB=$T/runB
mkdir -p "$RA" "$RB"
must keygen -o "$T/key" >/dev/null
must keygen -o "$T/otherkey" >/dev/null
PORT=7$((RANDOM % 900 + 100))
SERVE_PIDS=()

# on NODE: rtcr in that node with its run directory
ra() { on_a env RTCR_RUNDIR="$RA" timeout -k 5 "${RT_TIMEOUT:-60}" "$RTCR" "$@"; }
rb() { on_b env RTCR_RUNDIR="$RB" timeout -k 5 "${RT_TIMEOUT:-60}" "$RTCR" "$@"; }
serve_on() { # serve_on a|b [ENV=VALUE...]
	local out pid node=$1
	shift
	out=$(env "$@" RTCR_RUNDIR="$([ "$node" = a ] && echo "$RA" || echo "$RB")" \
		ip netns exec "$([ "$node" = a ] && echo "$NODE_A_NS" || echo "$NODE_B_NS")" \
		timeout -k 5 60 "$RTCR" serve --listen ":$PORT" --key "$T/key" --detach --timeout 3000 --log "$T/serve-$node.log" 2>&1) ||
		fail "rtcr serve on node $node: $out"
	pid=$(echo "$out" | sed -n 's/.*(pid \([0-9]*\)).*/\1/p')
	[ -n "$pid" ] || fail "rtcr serve did not say its pid: $out"
	SERVE_PIDS+=("$pid")
	eval "SERVE_$node=$pid"
}
# state NODE NAME: the target's state there ("" if none)
state() { r$1 ps 2>/dev/null | awk -v n="$2" '$1 == n { print $4 }'; }
running_on() { # running_on NODE NAME
	[ "$(state "$1" "$2")" = running ] || fail "$2 is not running on node $1 ($(r$1 ps 2>&1 | tr '\n' '|'))"
}
not_on() { # not_on NODE NAME: no running copy there
	local st
	st=$(state "$1" "$2")
	case $st in "" | exited* | killed*) ;; *) fail "$2 is $st on node $1: it must not run there" ;; esac
}
migrate_to_b() { # migrate_to_b NAME: A -> B; then it runs on B only
	note "+ migrate $1 A -> B"
	ra migrate "$1" --to "$NODE_B_IP:$PORT" --key "$T/key" >"$T/m.out" 2>"$T/m.err" ||
		fail "migrate $1: $(cat "$T/m.err")"
	note "  $(cat "$T/m.out")"
	running_on b "$1"
	not_on a "$1"
}
lastnum() { r$1 log "$2" 2>/dev/null | grep -E '^[0-9]+$' | tail -1; }
kill_all() {
	local n
	for n in $(ra ps 2>/dev/null | awk 'NR > 1 && $4 == "running" { print $1 }'); do ra kill "$n" --signal KILL >/dev/null 2>&1; done
	for n in $(rb ps 2>/dev/null | awk 'NR > 1 && $4 == "running" { print $1 }'); do rb kill "$n" --signal KILL >/dev/null 2>&1; done
	for p in "${SERVE_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	sleep 0.5
}
trap 'rc=$?; kill_all; (exit $rc); _netns_on_exit' EXIT

serve_on a
serve_on b
sleep 0.3

# 1. the counter: A -> B (pre-copy), output goes on there; B -> A (stop)
ra run --name cnt --detach -- "$(tgt counter)" >/dev/null || fail "run on A"
sleep 1.5
before=$(lastnum a cnt)
note "+ migrate cnt A -> B (pre-copy); it counted to $before on A"
ra migrate cnt --to "$NODE_B_IP:$PORT" --key "$T/key" --json >"$T/m.json" 2>"$T/m.err" ||
	fail "migrate A -> B: $(cat "$T/m.err")"
note "  $(cat "$T/m.json")"
running_on b cnt
not_on a cnt
sleep 1.2
after=$(lastnum b cnt)
first_b=$(rb log cnt | grep -E '^[0-9]+$' | head -1)
[ -n "$after" ] && [ "$after" -gt "$before" ] || fail "the counter does not go on on B (A: $before, B: ${after:-nothing})"
# The counter ticks every 100 ms and runs on A until the pause, which comes
# at most total_ns after $before was read: B must go on from within that
# many ticks (plus 3 for reading the log), never repeat or lose a number.
total_ms=$(sed -n 's/.*"total_ns":\([0-9]*\).*/\1/p' "$T/m.json")
total_ms=$(((${total_ms:-0} + 999999) / 1000000))
[ "$first_b" -gt "$before" ] && [ "$first_b" -le $((before + 3 + total_ms / 100)) ] ||
	fail "on B the counter started at $first_b; on A it had reached $before before a migration of $total_ms ms"
note "+ migrate cnt B -> A (stop)"
rb migrate cnt --to "$NODE_A_IP:$PORT" --key "$T/key" --mode stop >"$T/m.out" 2>"$T/m.err" ||
	fail "migrate B -> A: $(cat "$T/m.err")"
note "  $(cat "$T/m.out")"
running_on a cnt
not_on b cnt

# 2. 256 MiB of memory of every kind, and threads: A -> B, verified there
ra run --name mem --detach -- "$(tgt memory)" 256 5 "$T" >/dev/null || fail "run memory on A"
for i in $(seq 100); do ra log mem 2>/dev/null | grep -q '^READY' && break; sleep 0.2; done
ra run --name thr --detach -- "$(tgt threads)" >/dev/null || fail "run threads on A"
sleep 1
for n in mem thr; do
	migrate_to_b $n
	rb kill $n --signal USR1 >/dev/null
done
for n in mem thr; do
	for i in $(seq 150); do rb log $n 2>/dev/null | grep -qE '^(PASS|FAIL)' && break; sleep 0.2; done
	rb log $n | grep -q '^PASS' || fail "$n on B: $(rb log $n | grep -E '^FAIL' | head -3 | tr '\n' '|')"
done

# 2b. a target tracked in fault mode whose mappings churn (munmap, mremap,
# MADV_DONTNEED between rounds), and a process tree armed on the fly
ra run --name chu --detach --track=fault:16K -- "$(tgt dirtier)" churn 32 3 >/dev/null || fail "run churn"
ra run --name frk --detach -- "$(tgt dirtier)" fork 32 4 >/dev/null || fail "run fork"
sleep 0.8
for n in chu frk; do
	ra kill $n --signal USR2 >/dev/null
	for i in $(seq 50); do ra log $n 2>/dev/null | grep -q '^DONE 1$' && break; sleep 0.1; done
	migrate_to_b $n
	rb kill $n --signal USR2 >/dev/null
	for i in $(seq 50); do rb log $n 2>/dev/null | grep -q '^DONE 2$' && break; sleep 0.1; done
	rb kill $n --signal USR1 >/dev/null
	for i in $(seq 100); do rb log $n 2>/dev/null | grep -qE '^(PASS|FAIL)( |$)' && rb log $n | tail -1 | grep -qE '^(PASS|FAIL)' && break; sleep 0.1; done
	rb log $n | tail -1 | grep -q '^PASS' || fail "$n on B: $(rb log $n | grep -E 'FAIL' | head -3 | tr '\n' '|')"
done

# 3. what must fail
ra run --name f1 --detach -- "$(tgt memory)" 128 6 "$T" >/dev/null || fail "run on A"
for i in $(seq 100); do ra log f1 2>/dev/null | grep -q '^READY' && break; sleep 0.2; done
expect_fail() { # expect_fail WHAT PATTERN: the last migrate failed with PATTERN; f1 runs on A only
	[ "$rc" = 1 ] || fail "$1: migrate exit $rc, expected 1: $(cat "$T/m.err")"
	grep -qiE "$2" "$T/m.err" || fail "$1: the error does not say why: $(cat "$T/m.err")"
	note "  $1: $(grep -i error "$T/m.err" | head -1)"
	running_on a f1
	not_on b f1
}
note "+ wrong key"
rc=0
ra migrate f1 --to "$NODE_B_IP:$PORT" --key "$T/otherkey" --timeout 3000 >/dev/null 2>"$T/m.err" || rc=$?
expect_fail "wrong key" "key"
note "+ a peer that sends garbage"
on_b python3 -c '
import socket, sys, os
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("'"$NODE_B_IP"'", '"$((PORT + 1))"')); s.listen(1)
c, _ = s.accept(); c.sendall(os.urandom(4096)); c.recv(100000)
' &
gpid=$!
sleep 0.5
rc=0
ra migrate f1 --to "$NODE_B_IP:$((PORT + 1))" --key "$T/key" --timeout 3000 >/dev/null 2>"$T/m.err" || rc=$?
kill $gpid 2>/dev/null
expect_fail "garbage from the peer" "protocol|version|magic|garbage|rtcr|closed|key"
# ... and garbage sent to a serve: it carries on
ra bash -c "exec 3<>/dev/tcp/$NODE_B_IP/$PORT; head -c 100000 /dev/urandom >&3; sleep 0.3" >/dev/null 2>&1 || true
kill -0 "$SERVE_b" 2>/dev/null || fail "rtcr serve on B died of garbage"

note "+ the destination killed during the transfer"
ra migrate f1 --to "$NODE_B_IP:$PORT" --key "$T/key" --mode stop --timeout 3000 >/dev/null 2>"$T/m.err" &
mpid=$!
for i in $(seq 100); do
	sess=$(pgrep -P "$SERVE_b" | head -1)
	[ -n "$sess" ] && break
	sleep 0.02
done
kill -9 "$SERVE_b" $sess 2>/dev/null
rc=0
wait $mpid || rc=$?
expect_fail "destination killed" "closed|reset|connection|timed out"
serve_on b
sleep 0.3

note "+ the link cut during pre-copy"
ra migrate f1 --to "$NODE_B_IP:$PORT" --key "$T/key" --timeout 2000 >/dev/null 2>"$T/m.err" &
mpid=$!
sleep 0.15
netns_link_down
rc=0
wait $mpid || rc=$?
netns_link_up
expect_fail "link down in pre-copy" "timed out|time|closed|connection|reset|no data|unreachable"

note "+ the link cut during the restore"
# a destination that holds the restored target 2 s before it reports it
# (a test hook), so that the cut falls inside the restore
kill "$SERVE_b"
sleep 0.3
serve_on b RTCR_TEST_READY_DELAY_MS=2000
sleep 0.3
ra migrate f1 --to "$NODE_B_IP:$PORT" --key "$T/key" --timeout 2000 2>"$T/m.err" >/dev/null &
mpid=$!
for i in $(seq 1000); do
	grep -qE "restoring" "$T/m.err" && break
	sleep 0.01
done
netns_link_down
rc=0
wait $mpid || rc=$?
sleep 6 # the destination gives up waiting for COMMIT (its 2 s + 3 s timeout)
netns_link_up
expect_fail "link down in the restore" "timed out|closed|connection|reset|doubt|no data|nothing received|refused|unreachable"
ra kill f1 --signal USR1 >/dev/null
for i in $(seq 100); do ra log f1 2>/dev/null | grep -qE '^(PASS|FAIL)' && break; sleep 0.2; done
ra log f1 | grep -q '^PASS' || fail "f1 on A after the failed migrations: $(ra log f1 | grep FAIL | head -3)"
