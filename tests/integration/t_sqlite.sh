#!/bin/bash
# sqlite3: the sqlite3 shell runs a script (read through .read: an open
# regular file with an offset) against an in-memory database, one slow
# statement after another; it is checkpointed mid-way, killed, restored,
# and finishes with every step's results right.
. "$(dirname "$0")/lib.sh"

SQLITE=$(command -v sqlite3 || true)
[ -n "$SQLITE" ] || skip "sqlite3 is not installed"
STEPS=100

{
	echo "CREATE TABLE t(k INTEGER PRIMARY KEY, v INTEGER);"
	for ((k = 1; k <= STEPS; k++)); do
		echo "INSERT INTO t VALUES ($k, $k * 3);"
		echo "SELECT 'step', $k, count(*), sum(v), (WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 500000) SELECT count(*) FROM c) FROM t;"
	done
	echo "SELECT 'done', count(*), sum(v) FROM t;"
} >"$T/script.sql"

start sq0 "$SQLITE" :memory: ".read $T/script.sql"
wait_for sq0 '^step\|10\|' 30
before=$(log sq0 | grep '^step|' | tail -1 | cut -d'|' -f2)
ckpt sq0 "$T/img"
signal sq0 KILL
expect_status sq0 137
last=$(log sq0 | grep '^step|' | tail -1 | cut -d'|' -f2)
restore "$T/img" sq1
wait_for sq1 '^done\|' 40
expect_status sq1 0
log sq1 >"$T/out"
grep -q "^done|$STEPS|$((3 * STEPS * (STEPS + 1) / 2))\$" "$T/out" || fail "wrong final line: $(grep '^done' "$T/out")"
err=$(awk -F'|' -v lo=$((before + 1)) -v hi=$((last + 1)) '
	$1 != "step" { next }
	!seen { seen = 1; if ($2 < lo || $2 > hi) { print "restored output starts at step " $2 ", expected " lo ".." hi; exit } p = $2 - 1 }
	$2 != p + 1 { print "after step " p " came " $2; exit }
	$3 != $2 || $4 != 3 * $2 * ($2 + 1) / 2 || $5 != 500000 { print "wrong results: " $0; exit }
	{ p = $2 }' "$T/out")
[ -z "$err" ] || fail "$err"
note "checkpoint at step $before, killed at $last, restored output from step $(grep -m1 '^step|' "$T/out" | cut -d'|' -f2)"
