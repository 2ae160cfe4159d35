#!/bin/bash
# The target of t_postgres.sh, run as an unprivileged user: a PostgreSQL
# server on a unix socket only (data directory D/data made by initdb), one
# long-lived psql session fed through a FIFO, and a counter inserted into a
# table through that session, one row every 50 ms (psql prints "ins|N").
# SIGUSR2: toggle quiet (stop inserting, CHECKPOINT, print "quiet|N" with
# the last row; again: go on). SIGUSR1: stop, insert one row through the
# old session and one through a new connection, check the table (rows 1..N,
# no gap, no duplicate), stop the server, print DONE (after any FAIL: ... lines), exit.
set -u
D=$1
BIN=/usr/lib/postgresql/15/bin
mkdir -p "$D/sock"
export PGHOST=$D/sock PGUSER=pg PGDATABASE=postgres PGCONNECT_TIMEOUT=10
quiet=0 quiet_req=0 finish=0
trap 'quiet_req=1' USR2
trap 'finish=1' USR1

"$BIN/postgres" -D "$D/data" -c listen_addresses= -c unix_socket_directories="$D/sock" \
	-c shared_buffers=16MB -c max_connections=10 -c autovacuum=off -c fsync=off \
	-c full_page_writes=off -c dynamic_shared_memory_type=sysv -c max_wal_size=64MB \
	-c checkpoint_timeout=1h >"$D/server.log" 2>&1 &
pg=$!
for ((i = 0; i < 200; i++)); do
	"$BIN/pg_isready" -q && break
	sleep 0.1
done
"$BIN/pg_isready" -q || { echo "FAIL: the server did not start: $(tail -3 "$D/server.log")"; exit 1; }
psql -X -q -c 'CREATE TABLE c (n integer PRIMARY KEY)' || { echo "FAIL: create table"; exit 1; }
mkfifo "$D/in"
# the old session: one connection for the whole life of the target
stdbuf -oL psql -X -q -A -t -v ON_ERROR_STOP=0 -f "$D/in" &
ps=$!
exec 3>"$D/in"
echo "select 'session', pg_backend_pid();" >&3
echo READY
n=0
while [ $finish = 0 ]; do
	if [ $quiet_req = 1 ]; then
		quiet_req=0
		quiet=$((1 - quiet))
		# a quiet server writes nothing to its files: hint bits are set
		# by the SELECT before the CHECKPOINT writes every buffer
		[ $quiet = 1 ] && echo "select 'last', max(n), count(*) from c; checkpoint; select 'quiet', $n;" >&3
	fi
	if [ $quiet = 0 ]; then
		n=$((n + 1))
		echo "insert into c values ($n) returning 'ins', n;" >&3
	fi
	sleep 0.05
done
n=$((n + 1))
echo "insert into c values ($n) returning 'old', n;" >&3
echo "select 'oldsess', pg_backend_pid();" >&3
for ((i = 0; i < 100; i++)); do
	[ "$(psql -X -A -t -c "select n from c where n = $n" 2>/dev/null)" = "$n" ] && break
	sleep 0.1
done
n=$((n + 1))
out=$(psql -X -q -A -t -c "insert into c values ($n) returning 'new', n" 2>&1)
echo "$out"
[ "$out" = "new|$n" ] || echo "FAIL: insert through a new connection: $out"
sum=$(psql -X -q -A -t -c "select count(*), count(distinct n), min(n), max(n) from c" 2>&1)
echo "table|$sum"
[ "$sum" = "$n|$n|1|$n" ] || echo "FAIL: the table has count|distinct|min|max $sum, expected $n|$n|1|$n"
exec 3>&-
wait $ps || echo "FAIL: psql ended with status $?"
"$BIN/pg_ctl" -D "$D/data" stop -m fast -w >/dev/null 2>&1 || echo "FAIL: pg_ctl stop"
wait $pg
st=$?
[ $st = 0 ] || echo "FAIL: postgres ended with status $st: $(tail -3 "$D/server.log")"
echo DONE
