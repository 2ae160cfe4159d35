#!/bin/bash
# postgres: a PostgreSQL 15 server run as nobody (initdb here, unix socket
# only, small shared_buffers), a psql session held open through a FIFO and
# a driver inserting a counter through it (tests/programs/pg_driver.sh),
# all inside the target. Quieted (no insert, CHECKPOINT: its files match
# its memory), checkpointed with --leave-running (the original answers a
# new connection), killed, restored; the restored one inserts on, is
# checkpointed with --kill and restored again; that one inserts on, then
# through the old session and a new connection, checks that the table
# holds exactly 1..N and stops the server. Rows are printed as "ins|N".
. "$(dirname "$0")/lib.sh"

BIN=/usr/lib/postgresql/15/bin
[ -x "$BIN/postgres" ] || skip "PostgreSQL 15 is not installed ($BIN/postgres)"
command -v psql >/dev/null || skip "psql is not installed (postgresql-client)"
command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
D=$T/pg
chmod 711 "$T"
mkdir -p "$D" && chown 65534:65534 "$D" || fail "cannot make $D for nobody"
cp "$TOP/tests/programs/pg_driver.sh" "$D/driver.sh" && chmod 755 "$D/driver.sh"
"${NOBODY[@]}" "$BIN/initdb" -D "$D/data" -A trust -U pg --no-sync -E UTF8 --locale=C \
	>"$T/initdb.out" 2>&1 || fail "initdb failed: $(tail -5 "$T/initdb.out")"

rows() { log "$1" | sed -n 's/^ins|\([0-9][0-9]*\)$/\1/p'; }
last_row() { rows "$1" | tail -1; }
wait_row() {
	local i n
	for ((i = 0; i < 300; i++)); do
		n=$(last_row "$1")
		[ -n "$n" ] && [ "$n" -ge "$2" ] && return 0
		sleep 0.1
	done
	fail "$1 did not insert row $2 (last: ${n:-none}): $(log "$1" | tail -3 | tr '\n' '|') server: $(tail -3 "$D/server.log" | tr '\n' '|')"
}
# check NAME LO HI: rows by one, the first in LO..HI, no error
check() {
	local err
	err=$(rows "$1" | awk -v lo="$2" -v hi="$3" '
		NR == 1 && ($1 < lo || $1 > hi) { print "first row " $1 ", expected " lo ".." hi; exit }
		NR > 1 && $1 != p + 1 { print "after row " p " came " $1; exit }
		{ p = $1 }')
	[ -z "$err" ] || fail "$1: $err"
	! log "$1" | grep -E '^(FAIL|ERROR|psql:)' || fail "$1 reported an error"
}
# quiet NAME: stop inserting and CHECKPOINT; prints the last row
quiet() {
	signal "$1" USR2 >&2
	wait_for "$1" '^quiet\|' 30
	log "$1" | sed -n 's/^quiet|//p' | tail -1
}
answers() {
	local out
	out=$(psql -X -A -t -h "$D/sock" -U pg -d postgres -c 'select count(*) from c' 2>&1) ||
		fail "the server does not answer a new connection: $out"
	printf '%s\n' "$out"
}

start p0 "${NOBODY[@]}" "$D/driver.sh" "$D"
wait_row p0 20
dry_run p0
q=$(quiet p0)
ckpt p0 "$T/img1"
[ "$(answers)" = "$q" ] || fail "after the checkpoint the original has $(answers) rows, expected $q"
check p0 1 1
signal p0 KILL
expect_status p0 137
restore "$T/img1" p1
signal p1 USR2
wait_row p1 $((q + 20))
check p1 $((q + 1)) $((q + 1))
dry_run p1
before=$(last_row p1)
ckpt p1 "$T/img2" --kill
expect_status p1 137
last=$(last_row p1)
restore "$T/img2" p2
wait_row p2 $((last + 20))
check p2 $((before + 1)) $((last + 1))
signal p2 USR1
wait_for p2 '^DONE' 40
check p2 $((before + 1)) $((last + 1))
n=$(log p2 | sed -n 's/^new|//p')
log p2 | grep -q "^old|$((n - 1))\$" || fail "no insert through the old session: $(log p2 | tail -5 | tr '\n' '|')"
log p2 | grep -q "^table|$n|$n|1|$n\$" || fail "the table is wrong: $(log p2 | grep '^table')"
expect_status p2 0
note "rows: quiet at $q, checkpoint --kill at $before..$last, $n in the end"
