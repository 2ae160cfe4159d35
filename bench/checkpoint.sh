#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Checkpoint/restore benchmark of the rtcr command line tool (make bench).
#
# For each size (MiB, default "64 1024"): start bench/memtarget under rtcr
# (it fills SIZE MiB with random data), take RUNS checkpoints with the target
# left running (--leave-running), each into a fresh directory, then kill it and restore the
# last image RUNS times (wall time of `rtcr restore --detach` until it
# returns; the restored target is then killed and waited for). Medians are
# compared with memcpy baselines measured in the same run:
#   pause/warm    the target's pause vs. a memcpy of its memory into memory
#                 that is already faulted in (the least a full copy costs);
#   restore/cold  restore vs. a memcpy into fresh memory (copy + page faults).
# Prints a markdown table and writes the raw numbers to $BUILD/bench/checkpoint.json.
#
# Environment: BUILD (build), BENCH_SIZES ("64 1024"), BENCH_RUNS (5),
# BENCH_TIMEOUT (seconds per rtcr command, 300), BENCH_TMPDIR (where images go,
# default $TMPDIR or /tmp), BENCH_RESTORE (1; 0 skips the restores),
# RTCR (the rtcr binary, $BUILD/rtcr).
set -euo pipefail
export LC_ALL=C

BUILD=${BUILD:-build}
RTCR=${RTCR:-$BUILD/rtcr}
MEMTARGET=$BUILD/bench/memtarget
BASELINE=$BUILD/bench/memcpy_baseline
REAPER=$BUILD/bench/reaper
SIZES=${BENCH_SIZES:-64 1024}
RUNS=${BENCH_RUNS:-5}
DO_RESTORE=${BENCH_RESTORE:-1}
TIMEOUT=${BENCH_TIMEOUT:-300}
OUT_JSON=$BUILD/bench/checkpoint.json
ME=bench/checkpoint.sh

say() { printf '%s: %s\n' "$ME" "$*" >&2; }
die() {
	say "error: $*"
	exit 1
}

if [ "$(id -u)" -ne 0 ]; then
	echo "$ME: skipped: needs root (rtcr uses pid namespaces, ptrace and clone3 with set_tid)"
	exit 0
fi
for f in "$RTCR" "$MEMTARGET" "$BASELINE"; do
	[ -x "$f" ] || die "$f is missing; build it with 'make bench'"
done

# Orphans (detached rtcr parents) must not end up with a PID 1 that does not
# reap them: run under a child subreaper that collects them.
if [ -z "${BENCH_REAPED:-}" ] && [ -x "$REAPER" ]; then
	export BENCH_REAPED=1
	exec "$REAPER" bash "$0" "$@"
fi

RTCR=$(realpath "$RTCR")
MEMTARGET=$(realpath "$MEMTARGET")
BASELINE=$(realpath "$BASELINE")

RUNDIR=
WORK=
NAMES=() # targets started and not yet waited for

# Options go before the NAME/DIR operand (the CLI stops parsing options at
# the first operand). Only rtcr commands (and what they start) see the private run directory;
# cleanup finds leftovers by it. Output goes to files, never to a pipe: a
# detached rtcr parent could keep a pipe open and hang a $(...).
rtcr() {
	local rc=0
	RTCR_RUNDIR=$RUNDIR timeout --foreground --kill-after=10 "$TIMEOUT" "$RTCR" "$@" || rc=$?
	case $rc in
	0) ;;
	124 | 137) say "rtcr $1: no answer within $TIMEOUT s (killed)" ;;
	*) say "rtcr $1: exit status $rc" ;;
	esac
	return $rc
}

forget() {
	local n keep=()
	for n in "${NAMES[@]}"; do
		[ "$n" = "$1" ] || keep+=("$n")
	done
	NAMES=("${keep[@]}")
}

# Stop a target and collect its status (an exit status of 128+9 is expected).
stop_target() {
	rtcr kill --signal KILL "$1" >"$WORK/kill.out" 2>&1 ||
		die "rtcr kill $1 failed: $(cat "$WORK/kill.out")"
	RTCR_RUNDIR=$RUNDIR timeout --foreground --kill-after=10 "$TIMEOUT" "$RTCR" wait "$1" \
		>/dev/null 2>&1 || true
	forget "$1"
}

kill_leftovers() {
	local p env pids=()
	for env in /proc/[0-9]*/environ; do
		p=${env#/proc/}
		p=${p%/environ}
		[ "$p" = "$$" ] && continue
		grep -qzxF "RTCR_RUNDIR=$RUNDIR" "$env" 2>/dev/null && pids+=("$p")
	done
	if [ ${#pids[@]} -gt 0 ]; then
		say "killing leftover processes: ${pids[*]}"
		kill -KILL "${pids[@]}" 2>/dev/null || true
	fi
}

cleanup() {
	local rc=$? n
	trap - EXIT ERR INT TERM
	if [ -n "$RUNDIR" ]; then
		for n in "${NAMES[@]}"; do
			RTCR_RUNDIR=$RUNDIR timeout 10 "$RTCR" kill --signal KILL "$n" >/dev/null 2>&1 || true
			RTCR_RUNDIR=$RUNDIR timeout 20 "$RTCR" wait "$n" >/dev/null 2>&1 || true
		done
		kill_leftovers
	fi
	[ -n "$WORK" ] && rm -rf "$WORK"
	[ -n "$RUNDIR" ] && rm -rf "$RUNDIR"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'say "failed: line $LINENO: $BASH_COMMAND"' ERR

RUNDIR=$(mktemp -d "${TMPDIR:-/tmp}/rtcr-bench-run.XXXXXX")
WORK=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/rtcr-bench.XXXXXX")
chmod 700 "$RUNDIR" "$WORK"
mkdir -p "$BUILD/bench"

now_ns() {
	local t=$EPOCHREALTIME
	echo "${t/./}000"
}

# The number after "key": in a JSON file ("" if absent).
json_num() {
	grep -o "\"$1\"[[:space:]]*:[[:space:]]*[0-9]*" "$2" | head -n1 | grep -o '[0-9]*$' || true
}

median() {
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

json_array() {
	local IFS=,
	echo "[${*-}]"
}

wait_file() {
	local f=$1 secs=$2 i
	for ((i = 0; i < secs * 20; i++)); do
		[ -e "$f" ] && return 0
		sleep 0.05
	done
	return 1
}

rows=()
json_sizes=()

for size in $SIZES; do
	bytes=$((size << 20))
	name=bench-$size-$$
	say "$size MiB: baselines"
	"$BASELINE" "$bytes" --json >"$WORK/baseline.json"
	warm_ns=$(json_num warm_ns "$WORK/baseline.json")
	cold_ns=$(json_num cold_ns "$WORK/baseline.json")

	say "$size MiB: starting the target"
	ready=$WORK/ready-$size
	rm -f "$ready"
	NAMES+=("$name")
	rtcr run --detach --name "$name" -- "$MEMTARGET" "$size" "$ready" >"$WORK/run.out" 2>&1 ||
		die "rtcr run failed: $(cat "$WORK/run.out")"
	wait_file "$ready" 300 || die "the target did not print READY within 300 s"

	pause=() capture=() write=() mem=() image=() ckwall=()
	img=
	for ((i = 1; i <= RUNS; i++)); do
		dir=$WORK/ckpt-$size-$i
		t0=$(now_ns)
		rtcr checkpoint -o "$dir" --leave-running --json "$name" >"$WORK/ckpt.json" 2>"$WORK/ckpt.err" ||
			die "rtcr checkpoint failed: $(cat "$WORK/ckpt.err" "$WORK/ckpt.json")"
		t1=$(now_ns)
		p=$(json_num pause_ns "$WORK/ckpt.json")
		c=$(json_num capture_ns "$WORK/ckpt.json")
		w=$(json_num write_ns "$WORK/ckpt.json")
		m=$(json_num mem_bytes "$WORK/ckpt.json")
		b=$(json_num image_bytes "$WORK/ckpt.json")
		if [ -z "$p" ] || [ -z "$c" ] || [ -z "$w" ]; then
			die "rtcr checkpoint --json: no pause_ns/capture_ns/write_ns in: $(cat "$WORK/ckpt.json")"
		fi
		[ -n "$b" ] || b=$(du -sb "$dir" | cut -f1)
		[ -n "$m" ] || m=0
		pause+=("$p") capture+=("$c") write+=("$w") mem+=("$m") image+=("$b")
		ckwall+=($((t1 - t0)))
		say "$size MiB: checkpoint $i: pause $((p / 1000000)) ms, capture $((c / 1000000)) ms, write $((w / 1000000)) ms, image $((b >> 20)) MiB"
		# Keep only the newest image (the restores use it): 1 GiB images add up.
		[ -n "$img" ] && rm -rf "$img"
		img=$dir
	done
	stop_target "$name"

	restore=()
	for ((i = 1; i <= RUNS && DO_RESTORE; i++)); do
		rname=bench-$size-r$i-$$
		NAMES+=("$rname")
		t0=$(now_ns)
		rtcr restore --detach --name "$rname" "$img" >"$WORK/restore.out" 2>&1 ||
			die "rtcr restore failed: $(cat "$WORK/restore.out")"
		t1=$(now_ns)
		restore+=($((t1 - t0)))
		say "$size MiB: restore $i: $(((t1 - t0) / 1000000)) ms"
		stop_target "$rname"
	done
	rm -rf "$img"

	m_pause=$(median "${pause[@]}")
	total=()
	for ((i = 0; i < RUNS; i++)); do
		total+=($((capture[i] + write[i])))
	done
	m_total=$(median "${total[@]}")
	m_restore=null
	[ ${#restore[@]} -gt 0 ] && m_restore=$(median "${restore[@]}")
	m_image=$(median "${image[@]}")
	rows+=("$(awk -v s="$size" -v p="$m_pause" -v w="$warm_ns" -v t="$m_total" -v r="$m_restore" \
		-v c="$cold_ns" -v i="$m_image" -v b="$bytes" 'BEGIN {
		rm = r == "null" ? "-" : sprintf("%.2f", r / 1e6)
		rc = r == "null" ? "-" : sprintf("%.2f", r / c)
		printf "| %d MiB | %.2f | %.2f | %.2f | %.2f | %s | %.2f | %s | %.1f | %.3f |",
			s, p / 1e6, w / 1e6, p / w, t / 1e6, rm, c / 1e6, rc, i / 1048576, i / b }')")
	json_sizes+=("$(
		cat <<EOF
    {"size_mib": $size, "touched_bytes": $bytes,
     "warm_memcpy_ns": $warm_ns, "cold_memcpy_ns": $cold_ns,
     "pause_ns": $(json_array "${pause[@]}"), "capture_ns": $(json_array "${capture[@]}"),
     "write_ns": $(json_array "${write[@]}"), "mem_bytes": $(json_array "${mem[@]}"),
     "image_bytes": $(json_array "${image[@]}"), "checkpoint_wall_ns": $(json_array "${ckwall[@]}"),
     "restore_wall_ns": $(json_array "${restore[@]}"),
     "median": {"pause_ns": $m_pause, "checkpoint_total_ns": $m_total,
                "restore_ns": $m_restore, "image_bytes": $m_image}}
EOF
	)")
done

{
	echo "{"
	echo "  \"kernel\": \"$(uname -r)\", \"cpus\": $(nproc), \"runs\": $RUNS,"
	echo "  \"date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
	echo "  \"sizes\": ["
	for ((i = 0; i < ${#json_sizes[@]}; i++)); do
		[ "$i" -gt 0 ] && echo ","
		printf '%s' "${json_sizes[i]}"
	done
	echo
	echo "  ]"
	echo "}"
} >"$OUT_JSON"

echo
echo "rtcr checkpoint/restore, median of $RUNS (kernel $(uname -r), $(nproc) CPUs)"
echo
echo "| size | pause ms | warm memcpy ms | pause/warm | checkpoint total ms | restore ms | cold memcpy ms | restore/cold | image MiB | image/touched |"
echo "|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "checkpoint total = capture (incl. pause) + write; raw numbers: $OUT_JSON"
