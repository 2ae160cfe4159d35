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
restore_twice_then_stop j0 j1 j2 "$T/stop"
