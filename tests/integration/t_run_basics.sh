#!/bin/bash
# run basics: exit status propagation, rtcr wait after kill -9, run in the
# foreground forwarding output, --log, a program started through
# sh -c 'exec ...' (checkpointed and restored too), ps --json, usage errors.
. "$(dirname "$0")/lib.sh"

# Foreground: output forwarded, exit status returned.
rc=0
out=$(rt run --name fg -- /bin/sh -c 'echo out-line; echo err-line >&2; exit 3' 2>"$T/fg.err") || rc=$?
[ "$rc" = 3 ] || fail "rtcr run (foreground) exited $rc, expected 3"
[ "$out" = out-line ] || fail "foreground stdout: '$out', expected 'out-line'"
grep -q '^err-line$' "$T/fg.err" || fail "foreground stderr lacks err-line: $(cat "$T/fg.err")"
rc=0
rt run -- "$(tgt counter)" 3 10 >"$T/fg2.out" 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "rtcr run counter 3 exited $rc"
[ "$(tr '\n' ' ' <"$T/fg2.out")" = "0 1 2 3 " ] || fail "rtcr run counter 3 printed: $(cat "$T/fg2.out")"
rc=0
rt run -- /bin/sh -c 'kill -TERM $$' >/dev/null 2>&1 || rc=$?
[ "$rc" = 143 ] || fail "a target killed by SIGTERM: rtcr run exited $rc, expected 143"

# Detached: status through rtcr wait.
start e5 /bin/sh -c 'sleep 0.3; exit 5'
expect_status e5 5
start k9 counter
wait_for k9 '^2$'
signal k9 KILL
expect_status k9 137
start t15 counter
wait_for t15 '^2$'
signal t15 TERM # the default signal of rtcr kill, by name
expect_status t15 143

# --log FILE gets the output too.
start lg counter 5 10
expect_status lg 0
rt run --name lg2 --detach --log "$T/lg2.log" -- "$(tgt counter)" 4 10 >/dev/null 2>"$T/lg2.err" || fail "run --log: $(cat "$T/lg2.err")"
STARTED+=(lg2)
expect_status lg2 0
[ "$(tr '\n' ' ' <"$T/lg2.log")" = "0 1 2 3 4 " ] || fail "--log file has: $(cat "$T/lg2.log")"

# Through a shell that execs the program; checkpoint and restore that.
start sh0 /bin/sh -c "exec '$(tgt counter)'"
wait_for sh0 '^5$'
counted_restore sh0 "$T/img" sh1 3

# ps --json parses; ps lists the running target.
rt ps --json >"$T/ps.json" || fail "rtcr ps --json failed"
python3 -m json.tool "$T/ps.json" >/dev/null || fail "rtcr ps --json is not JSON: $(head -c 300 "$T/ps.json")"
grep -q sh1 "$T/ps.json" || fail "rtcr ps --json does not list sh1: $(head -c 300 "$T/ps.json")"
rt ps | grep -qw sh1 || fail "rtcr ps does not list sh1"
verify sh1

# Usage errors exit 2; failures exit 1 with "rtcr: error:".
rc=0; rt run >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "rtcr run without a program exited $rc, expected 2"
rc=0; rt no-such-command >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "rtcr no-such-command exited $rc, expected 2"
rc=0; rt kill no-such-target 2>"$T/err" || rc=$?
[ "$rc" = 1 ] || fail "rtcr kill no-such-target exited $rc, expected 1"
grep -q '^rtcr: error:' "$T/err" || fail "no 'rtcr: error:' line: $(cat "$T/err")"
rt check >"$T/check.out" 2>&1 || fail "rtcr check failed: $(tail -5 "$T/check.out")"
