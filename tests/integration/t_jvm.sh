#!/bin/bash
# jvm: a Java program (tests/programs/Pool.java, compiled here) with a pool
# of 4 threads doing work that allocates, and System.gc() every 5 rounds, is
# checkpointed with --leave-running and restored, the restored one is
# checkpointed with --kill and restored again; the last one counts on with
# no round lost or repeated and, asked to stop, recomputes every round and
# checks its checksum and history.
. "$(dirname "$0")/lib.sh"

command -v javac >/dev/null || skip "javac is not installed (default-jdk-headless)"
command -v java >/dev/null || skip "java is not installed (default-jdk-headless)"
mkdir -p "$T/classes"
javac -d "$T/classes" "$TOP/tests/programs/Pool.java" >"$T/javac.out" 2>&1 ||
	fail "javac failed: $(tail -5 "$T/javac.out")"
start j0 "$(command -v java)" -Xmx128m -XX:+UseParallelGC -XX:ParallelGCThreads=2 \
	-cp "$T/classes" Pool "$T/stop"
wait_for j0 '^20$' 40
dry_run j0
counted_restore j0 "$T/img1" j1 10 5
dry_run j1
before=$(last_number j1)
ckpt j1 "$T/img2" --kill
expect_status j1 137
last=$(last_number j1)
restore "$T/img2" j2
wait_number j2 $((last + 10)) 30
check_consecutive j2 $((before + 1)) $((last + 1))
not_rerun j2
touch "$T/stop"
wait_for j2 '^(PASS|FAIL)' 30
log j2 | grep -q '^PASS' || fail "j2: $(log j2 | grep '^FAIL' | head -5 | tr '\n' '|')"
expect_status j2 0
note "$(log j2 | grep '^PASS')"
