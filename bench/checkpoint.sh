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
SIZES=${BENCH_SIZES:-64 1024}
RUNS=${BENCH_RUNS:-5}
DO_RESTORE=${BENCH_RESTORE:-1}
TIMEOUT=${BENCH_TIMEOUT:-300}
OUT_JSON=$BUILD/bench/checkpoint.json
ME=bench/checkpoint.sh
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

bench_need_root "rtcr uses pid namespaces, ptrace and clone3 with set_tid"
bench_need_bins "make bench" "$RTCR" "$MEMTARGET" "$BASELINE"
bench_reaped "$@"

RTCR=$(realpath "$RTCR")
MEMTARGET=$(realpath "$MEMTARGET")
BASELINE=$(realpath "$BASELINE")

bench_workdirs bench
mkdir -p "$BUILD/bench"

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

	ckpt_reset
	img=
	for ((i = 1; i <= RUNS; i++)); do
		dir=$WORK/ckpt-$size-$i
		ckpt_measure "$name" "$dir"
		say "$size MiB: checkpoint $i: pause $((p / 1000000)) ms, capture $((c / 1000000)) ms, write $((w / 1000000)) ms, image $((b >> 20)) MiB"
		# Keep only the newest image (the restores use it): 1 GiB images add up.
		[ -n "$img" ] && rm -rf "$img"
		img=$dir
	done
	stop_target "$name"

	for ((i = 1; i <= RUNS && DO_RESTORE; i++)); do
		rname=bench-$size-r$i-$$
		restore_measure "$rname" "$img"
		say "$size MiB: restore $i: $((rt / 1000000)) ms"
		stop_target "$rname"
	done
	rm -rf "$img"

	ckpt_medians
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
$(ckpt_json)
     "median": {"pause_ns": $m_pause, "checkpoint_total_ns": $m_total,
                "restore_ns": $m_restore, "image_bytes": $m_image}}
EOF
	)")
done

write_json "$OUT_JSON" sizes -- "${json_sizes[@]}"

echo
echo "rtcr checkpoint/restore, median of $RUNS (kernel $(uname -r), $(nproc) CPUs)"
echo
echo "| size | pause ms | warm memcpy ms | pause/warm | checkpoint total ms | restore ms | cold memcpy ms | restore/cold | image MiB | image/touched |"
echo "|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "checkpoint total = capture (incl. pause) + write; raw numbers: $OUT_JSON"
