#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Threads and process trees benchmark of the rtcr command line tool
# (make bench-threads; also the last part of make bench).
#
# Targets: bench/threadtarget with 1, 8 and 64 threads (each spinning on its
# own counter in short bursts between nanosleeps, 16 MiB touched in all) and
# bench/treetarget (3 processes: a parent and two children holding 16 MiB
# touched each and a pipe to the parent). For each, RUNS times: start it
# under rtcr, check it has the expected threads and processes, take one
# checkpoint with the target left running (--leave-running), kill it. Then
# restore the last image RUNS times (wall time of `rtcr restore --detach`
# until it returns; the restored target is then checked, killed and waited
# for). Each checkpoint is of a fresh target, not RUNS checkpoints of one
# (as bench/checkpoint.sh does): each checkpoint of a tree leaves one zombie
# per process that is not init's child (its memory snapshot, made with
# CLONE_PARENT, is a child of that process's parent, which never reaps it),
# so later checkpoints and their restores would carry more and more
# processes. Reported, as medians of RUNS:
#   pause        pause_ns of `rtcr checkpoint --json` (the target stopped),
#                and pause / threads, pause / processes;
#   capture      capture_ns (the whole capture including the pause; the
#                image is written afterwards, see write_ns in the JSON);
#   restore      wall time of `rtcr restore --detach`.
# Prints a markdown table and writes the raw numbers to $BUILD/bench/threads.json.
#
# Environment: BUILD (build), BENCH_THREADS ("1 8 64"), BENCH_TREE (1; 0
# skips the tree), BENCH_RUNS (5), BENCH_TIMEOUT (seconds per rtcr
# command, 300), BENCH_TMPDIR (where images go, default $TMPDIR or /tmp),
# BENCH_RESTORE (1; 0 skips the restores), RTCR (the rtcr binary, $BUILD/rtcr).
set -euo pipefail
export LC_ALL=C

BUILD=${BUILD:-build}
RTCR=${RTCR:-$BUILD/rtcr}
THREADTARGET=$BUILD/bench/threadtarget
TREETARGET=$BUILD/bench/treetarget
THREADS=${BENCH_THREADS:-1 8 64}
DO_TREE=${BENCH_TREE:-1}
# (as in bench/checkpoint.sh: the same settings, documented in each script)
RUNS=${BENCH_RUNS:-5}
DO_RESTORE=${BENCH_RESTORE:-1}
TIMEOUT=${BENCH_TIMEOUT:-300}
OUT_JSON=$BUILD/bench/threads.json
ME=bench/threads.sh
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

bench_need_root "rtcr uses pid namespaces, ptrace and clone3 with set_tid"
bench_need_bins "make bench-threads" "$RTCR" "$THREADTARGET" "$TREETARGET"
case $RUNS in
'' | *[!0-9]* | 0) die "BENCH_RUNS must be a positive number (got '$RUNS')" ;;
esac
bench_reaped "$@"

RTCR=$(realpath "$RTCR")
THREADTARGET=$(realpath "$THREADTARGET")
TREETARGET=$(realpath "$TREETARGET")

bench_workdirs bench
mkdir -p "$BUILD/bench"

# Sets got_thr, got_proc and got_list (for messages): the threads and processes of target NAME, its
# main process (host pid from `rtcr ps --json`) and every descendant of it.
count_target() {
	local pid p st line ppid more=1 tasks comm
	local -A in_tree=()
	got_thr=0 got_proc=0 got_list=
	rtcr ps --json >"$WORK/ps.json" 2>&1 || die "rtcr ps failed: $(cat "$WORK/ps.json")"
	pid=$(grep -o "{\"name\":\"$1\",\"pid\":[0-9]*" "$WORK/ps.json" | grep -o '[0-9]*$' || true)
	[ -n "$pid" ] && [ -d "/proc/$pid" ] || die "target $1 not found: $(cat "$WORK/ps.json")"
	in_tree[$pid]=1
	# until no new descendant (a child's pid may be lower than its parent's)
	while [ "$more" -eq 1 ]; do
		more=0
		for st in /proc/[0-9]*/stat; do
			p=${st#/proc/}
			p=${p%/stat}
			[ -n "${in_tree[$p]:-}" ] && continue
			line=
			{ read -r line <"$st"; } 2>/dev/null || true
			line=${line##*) } # "S PPID ..." after the command name
			ppid=${line#* }
			ppid=${ppid%% *}
			if [ -n "$ppid" ] && [ -n "${in_tree[$ppid]:-}" ]; then
				in_tree[$p]=1
				more=1
			fi
		done
	done
	for p in "${!in_tree[@]}"; do
		tasks=(/proc/"$p"/task/[0-9]*)
		[ -e "${tasks[0]}" ] || continue
		got_proc=$((got_proc + 1))
		got_thr=$((got_thr + ${#tasks[@]}))
		comm=
		{ read -r comm <"/proc/$p/comm"; } 2>/dev/null || true
		got_list+=" $p($comm, ${#tasks[@]} threads)"
	done
}

# Targets: "LABEL THREADS PROCESSES".
specs=()
for n in $THREADS; do
	case $n in
	'' | *[!0-9]* | 0) die "BENCH_THREADS: bad thread count '$n'" ;;
	esac
	specs+=("threads-$n $n 1")
done
[ "$DO_TREE" = 1 ] && specs+=("tree-3 3 3")
[ ${#specs[@]} -gt 0 ] || die "nothing to measure (BENCH_THREADS is empty and BENCH_TREE=0)"

rows=()
json_targets=()

for spec in "${specs[@]}"; do
	read -r label nthr nproc <<<"$spec"
	case $label in
	threads-*) cmd=("$THREADTARGET" "$nthr") ;;
	*) cmd=("$TREETARGET") ;;
	esac

	ckpt_reset
	img=
	for ((i = 1; i <= RUNS; i++)); do
		# A fresh target for each checkpoint (see the top of this file).
		name=bench-$label-c$i-$$
		ready=$WORK/ready-$label-$i
		NAMES+=("$name")
		rtcr run --detach --name "$name" -- "${cmd[@]}" "$ready" >"$WORK/run.out" 2>&1 ||
			die "rtcr run failed: $(cat "$WORK/run.out")"
		wait_file "$ready" 300 || die "$label: the target did not print READY within 300 s"
		count_target "$name"
		[ "$got_thr" = "$nthr" ] && [ "$got_proc" = "$nproc" ] ||
			die "$label: the target has $got_thr threads in $got_proc processes, want $nthr in $nproc:$got_list"

		dir=$WORK/ckpt-$label-$i
		ckpt_measure "$name" "$dir"
		say "$label: checkpoint $i: pause $((p / 1000)) us, capture $((c / 1000)) us, write $((w / 1000)) us, image $((b >> 20)) MiB"
		stop_target "$name"
		[ -n "$img" ] && rm -rf "$img"
		img=$dir
	done

	for ((i = 1; i <= RUNS && DO_RESTORE; i++)); do
		rname=bench-$label-r$i-$$
		restore_measure "$rname" "$img"
		count_target "$rname"
		[ "$got_thr" = "$nthr" ] && [ "$got_proc" = "$nproc" ] ||
			die "$label: the restored target has $got_thr threads in $got_proc processes, want $nthr in $nproc:$got_list"
		say "$label: restore $i: $((rt / 1000)) us"
		stop_target "$rname"
	done
	rm -rf "$img"

	ckpt_medians
	rows+=("$(awk -v l="$label" -v t="$nthr" -v n="$nproc" -v p="$m_pause" -v c="$m_capture" \
		-v r="$m_restore" 'BEGIN {
		rm = r == "null" ? "-" : sprintf("%.2f", r / 1e6)
		printf "| %s | %d | %d | %.3f | %.4f | %.3f | %.2f | %s |",
			l, t, n, p / 1e6, p / t / 1e6, p / n / 1e6, c / 1e6, rm }')")
	json_targets+=("$(
		cat <<EOF
    {"target": "$label", "threads": $nthr, "processes": $nproc,
$(ckpt_json)
     "median": {"pause_ns": $m_pause, "pause_per_thread_ns": $((m_pause / nthr)),
                "pause_per_process_ns": $((m_pause / nproc)), "capture_ns": $m_capture,
                "checkpoint_total_ns": $m_total, "restore_ns": $m_restore, "mem_bytes": $m_mem}}
EOF
	)")
done

write_json "$OUT_JSON" targets \
	'  "checkpoints": "one per fresh target", "restores": "of the last checkpoint",' -- "${json_targets[@]}"

echo
echo "rtcr threads and process trees, median of $RUNS (kernel $(uname -r), $(nproc) CPUs)"
echo
echo "| target | threads | processes | pause ms | pause per thread ms | pause per process ms | capture ms | restore ms |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "capture = the whole capture including the pause (the image is written after it);"
echo "threads-N: 16 MiB touched in all; tree-3: 16 MiB touched in each child; raw numbers: $OUT_JSON"
