#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Dirty-tracking granularity benchmark (make bench-granularity; needs root).
#
# What tracking costs the target, and what it buys at the checkpoint, for
# rtcr run --track=fault:GRAN (GRAN in $GRAN_LIST), --track=async and
# --track=off, with bench/writer writing pages either one after the other
# (adjacent) or scattered over its memory (spread):
#
#  1. throughput  writer MIB PATTERN 0 (as fast as it can). After WARM
#                 seconds untouched, a checkpoint is started every second
#                 for TP_SECS seconds (the first --full; then the default:
#                 incremental when tracked, full with --track=off). Every
#                 checkpoint protects every chunk again, so each first write
#                 to a chunk afterwards faults. The writer prints
#                 "OPS <pages in the last second> <rate>" each second; the
#                 median rate of the seconds after the first checkpoint (the
#                 second in which it started is left out) is its
#                 throughput, and ratio = throughput / throughput of off
#                 (same checkpoints, full ones), medians over TP_REPS
#                 rounds. Also: the median pause of those checkpoints and
#                 "paused %" (sum of pauses / the measured time).
#  2. incremental writer MIB PATTERN RATE (RATE pages/s, steady): one full
#                 checkpoint, then INC_RUNS checkpoints 1 s apart (start to
#                 start): medians of their pause and image size. With off
#                 they are full ones: the baseline.
#  3. live        writer SIZE adjacent RATE for SIZE in LIVE_SIZES, with
#                 --track=fault (64K, the default): LIVE_RUNS times
#                 `checkpoint --live --full`, then (after an incremental
#                 one that is not measured) `checkpoint --live`
#                 (incremental) and `checkpoint --incremental` (not live),
#                 each 1 s after the previous one returned (its image
#                 written), so that each saves about 1 s of writes; with
#                 --track=off the same number of plain `checkpoint --full`.
#                 Medians of the pause.
#
# The machine is shared: the CPU time every other process used during a run
# is measured ("others' CPU %") and a run of parts 1 and 2 that was
# disturbed is measured again (GRAN_MAX_OTHER below). The benchmark runs a
# private copy of rtcr, so a rebuild meanwhile does not change it.
#
# Prints Markdown tables on stdout; raw numbers (one measurement a line) go
# to bench/results/granularity-STAMP.csv and the per-configuration medians
# to bench/results/granularity-STAMP-summary.csv, which bench/granularity.gp
# plots (to bench/results/granularity-STAMP.png when gnuplot is installed).
#
# Environment: QUICK=1 (a smoke run of two to four minutes: fewer
# granularities, seconds, runs; 64 and 256 MiB live), BUILD (build), RTCR
# ($BUILD/rtcr), GRAN_MIB (writer memory, 256), GRAN_LIST ("4K 16K 64K 256K
# 1M 4M"), GRAN_PATTERNS ("adjacent spread"), GRAN_WARM (3 s), GRAN_TP_SECS
# (6 s), GRAN_TP_REPS (3), GRAN_RATE (5000 pages/s), GRAN_INC_RUNS (5),
# GRAN_LIVE_SIZES ("64 1024" MiB), GRAN_LIVE_RUNS (5), GRAN_PARTS ("tp inc
# live"), BENCH_TIMEOUT (seconds per rtcr command, 120), BENCH_TMPDIR (where
# images go; default $TMPDIR or /tmp; only the newest image of a target is
# kept), GRAN_RESULTS (bench/results), GRAN_PLOT (1; 0: no plot),
# GRAN_MAX_OTHER (25: a run of parts 1 and 2 during which other processes
# used more than this % of one CPU is measured again, after GRAN_BUSY_WAIT
# (10) s, up to GRAN_ATTEMPTS (2) times in all; see "others' CPU %").
set -euo pipefail
export LC_ALL=C

ME=bench/granularity.sh
BUILD=${BUILD:-build}
RTCR=${RTCR:-$BUILD/rtcr}
WRITER=$BUILD/bench/writer
QUICK=${QUICK:-0}
# (migrate.sh has a block of this shape: its own settings)
if [ "$QUICK" = 1 ]; then
	d_list="4K 64K 1M" d_warm=2 d_tpsecs=3 d_reps=1 d_runs=3 d_live="64 256" d_lruns=3
else
	d_list="4K 16K 64K 256K 1M 4M" d_warm=3 d_tpsecs=6 d_reps=3 d_runs=5 d_live="64 1024" d_lruns=5
fi
MIB=${GRAN_MIB:-256}
GRANS=${GRAN_LIST:-$d_list}
PATTERNS=${GRAN_PATTERNS:-adjacent spread}
WARM=${GRAN_WARM:-$d_warm}
TP_SECS=${GRAN_TP_SECS:-$d_tpsecs}
TP_REPS=${GRAN_TP_REPS:-$d_reps}
RATE=${GRAN_RATE:-5000}
INC_RUNS=${GRAN_INC_RUNS:-$d_runs}
LIVE_SIZES=${GRAN_LIVE_SIZES:-$d_live}
LIVE_RUNS=${GRAN_LIVE_RUNS:-$d_lruns}
PARTS=${GRAN_PARTS:-tp inc live}
TIMEOUT=${BENCH_TIMEOUT:-120}
RESULTS=${GRAN_RESULTS:-bench/results}
PLOT=${GRAN_PLOT:-1}
LIVE_GRAN=64K
MAX_OTHER=${GRAN_MAX_OTHER:-25}
ATTEMPTS=${GRAN_ATTEMPTS:-2}
BUSY_WAIT=${GRAN_BUSY_WAIT:-10}

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

bench_need_root "rtcr uses pid namespaces, ptrace, userfaultfd and clone3 with set_tid"
bench_need_bins "make all bench-bins" "$RTCR" "$WRITER"
bench_numbers MIB WARM TP_SECS TP_REPS RATE INC_RUNS LIVE_RUNS TIMEOUT MAX_OTHER ATTEMPTS BUSY_WAIT

# GRAN_ID marks our processes (the targets, their rtcr parents, this
# script): the CPU time of all others is measured during each run.
export GRAN_ID=${GRAN_ID:-$$.$RANDOM}
bench_reaped "$@"

WRITER=$(realpath "$WRITER")

ERRORS=()         # failures, reported at the end (a failed configuration is skipped)
BENCH_KILL_SOFT=1 # stop_target: a failed kill is said, and the run goes on

bench_workdirs gran
bench_private_rtcr "$WORK"
mkdir -p "$RESULTS"
STAMP=$(date -u +%Y%m%d-%H%M%S)
CSV=$RESULTS/granularity-$STAMP.csv
SUMMARY=$RESULTS/granularity-$STAMP-summary.csv
echo "part,pattern,mode,gran_bytes,size_mib,rep,seq,metric,value" >"$CSV"
T_START=$SECONDS

sleep_until() { # ns
	local left=$(($1 - $(now_ns)))
	[ "$left" -gt 0 ] || return 0
	sleep "$(awk -v n="$left" 'BEGIN { printf "%.3f", n / 1e9 }')"
}

gran_bytes() { # 4K -> 4096; 0 for off/async
	case $1 in
	*K) echo $((${1%K} << 10)) ;;
	*M) echo $((${1%M} << 20)) ;;
	*) echo 0 ;;
	esac
}
# "off", "async", "4K" -> the --track value
track_of() {
	case $1 in
	off | async) echo "$1" ;;
	*) echo "fault:$1" ;;
	esac
}

# raw PART PATTERN MODE SIZE REP SEQ METRIC VALUE: a row of the raw CSV,
# held back until commit_raw (a run measured while the machine was busy is
# kept, but marked: PART becomes PART-busy).
raw() {
	echo "$1,$2,$(track_of "$3"),$(gran_bytes "$3"),$4,$5,$6,$7,$8" >>"$WORK/raw.pending"
}
commit_raw() { # [SUFFIX]
	[ -e "$WORK/raw.pending" ] || return 0
	if [ -n "${1:-}" ]; then
		sed "s/^\([a-z]*\),/\1$1,/" "$WORK/raw.pending" >>"$CSV"
	else
		cat "$WORK/raw.pending" >>"$CSV"
	fi
	rm -f "$WORK/raw.pending"
}
# busy PCT ATTEMPT WHAT: true when others used more than MAX_OTHER % CPU
# during the run and it may be run again (ATTEMPTS in all)
busy() {
	[ "$1" -gt "$MAX_OTHER" ] || return 1
	if [ "$2" -lt "$ATTEMPTS" ]; then
		say "$3: other processes used $1 % CPU meanwhile (> $MAX_OTHER): again in $BUSY_WAIT s"
		commit_raw -busy
		sleep "$BUSY_WAIT"
		return 0
	fi
	say "$3: other processes used $1 % CPU meanwhile (> $MAX_OTHER) again: kept"
	BUSY_KEPT+=("$3 ($1 %)")
	return 1
}

SEQ=0
# start_target NAME TRACK LOG PROGRAM ARGS...: start it, wait for READY
start_target() {
	local name=$1 track=$2 log=$3 i
	shift 3
	: >"$log"
	NAMES+=("$name")
	if ! rtcr run --detach --name "$name" --track "$track" --log "$log" -- "$@" \
		>"$WORK/run.out" 2>&1; then
		ERRORS+=("rtcr run --track $track -- $*: $(cat "$WORK/run.out")")
		forget "$name"
		return 1
	fi
	for ((i = 0; i < 1200; i++)); do
		grep -q '^READY' "$log" && return 0
		sleep 0.1
	done
	ERRORS+=("$* (--track $track): no READY within 120 s")
	stop_target "$name"
	return 1
}

# ckpt NAME DIR OPTIONS...: checkpoint into DIR, JSON in $WORK/ck.json;
# sets P (pause ns), C (capture ns), W (write ns), B (image bytes),
# INC (true/false). The image before the newest one is removed (only the
# newest is needed as a parent). On failure the exact command and its
# output go into ERRORS.
LAST_IMG=
ckpt() {
	local name=$1 dir=$2
	shift 2
	if ! rtcr checkpoint -o "$dir" --json "$@" "$name" >"$WORK/ck.json" 2>"$WORK/ck.err"; then
		ERRORS+=("rtcr checkpoint -o $dir --json $* $name: $(tr '\n' ' ' <"$WORK/ck.err") $(cat "$WORK/ck.json")")
		say "checkpoint failed: ${ERRORS[-1]}"
		rm -rf "$dir"
		return 1
	fi
	P=$(json_num pause_ns "$WORK/ck.json")
	C=$(json_num capture_ns "$WORK/ck.json")
	W=$(json_num write_ns "$WORK/ck.json")
	B=$(json_num image_bytes "$WORK/ck.json")
	INC=$(json_bool incremental "$WORK/ck.json")
	if [ -z "$P" ] || [ -z "$B" ]; then
		ERRORS+=("rtcr checkpoint --json $* $name: no pause_ns/image_bytes in: $(cat "$WORK/ck.json")")
		return 1
	fi
	[ -n "$LAST_IMG" ] && [ "$LAST_IMG" != "$dir" ] && rm -rf "$LAST_IMG"
	LAST_IMG=$dir
	return 0
}
drop_images() {
	[ -n "$LAST_IMG" ] && rm -rf "$LAST_IMG"
	LAST_IMG=
	rm -rf "$WORK"/img-*
}

# CPU time (clock ticks) of every process that is not ours (no GRAN_ID of
# this run in its environment) and not a kernel thread, with the children it
# reaped, one "PID TICKS" a line: how much else ran on the machine.
foreign_ticks() {
	local mine
	# (grep, cat: a process that is gone meanwhile or unreadable is skipped)
	mine=$(grep -lzxF "GRAN_ID=$GRAN_ID" /proc/[0-9]*/environ 2>/dev/null |
		sed 's|^/proc/||; s|/environ$||' || true)
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v mine=" $$ ${mine//$'\n'/ } " '
		{
			if (index(mine, " " $1 " ")) { next }
			s = $0; sub(/^.*\) /, "", s); split(s, f, " ")
			if (int(f[7] / 2097152) % 2) { next } # PF_KTHREAD
			print $1, f[12] + f[13] + f[14] + f[15]
		}' || true
}
FG_W0=0
foreign_start() {
	foreign_ticks >"$WORK/fg0"
	FG_W0=$(now_ns)
}
# CPU % (of one CPU) used by other processes since foreign_start: the growth
# of those seen both times, all of those that started meanwhile.
foreign_pct() {
	local w1
	foreign_ticks >"$WORK/fg1"
	w1=$(now_ns)
	# (a process can use at most all CPUs for the whole time: caps a pid
	# that was missed the first time, or reused)
	awk -v w=$((w1 - FG_W0)) -v hz="$(getconf CLK_TCK)" -v ncpu="$(nproc)" '
		FNR == NR { t0[$1] = $2; next }
		{
			x = ($1 in t0) ? ($2 > t0[$1] ? $2 - t0[$1] : 0) : $2
			max = ncpu * hz * w / 1e9
			d += x > max ? max : x
		}
		END { printf "%.0f\n", (w > 0 ? 100 * d / hz / (w / 1e9) : 0) }' "$WORK/fg0" "$WORK/fg1"
}

ops_count() { grep -c '^OPS ' "$1" || true; }
# the rates (pages/s) of OPS lines FROM..TO (1-based, inclusive)
ops_values() {
	grep '^OPS ' "$1" | awk -v a="$2" -v b="$3" 'NR >= a && NR <= b { printf "%.0f\n", $3 }'
}

MODES=(off)
for g in $GRANS; do
	MODES+=("$g")
done
MODES+=(async)

declare -A TP_VALS TP_ROUND TP_PRE TP_PAUSE TP_PAUSED TP_OTHER INC_PAUSE INC_IMAGE INC_CAPTURE INC_RATE \
	INC_OTHER LIVE
BUSY_KEPT=()

# ---- 1. throughput under periodic checkpoints ----
tp_run() { # PATTERN MODE REP ATTEMPT (returns 2: measure again)
	local pat=$1 mode=$2 rep=$3 att=$4 name=gtp-$$-$SEQ log=$WORK/tp.log n0 n1 t0 tnext tend k=0
	local vals pre pauses=() psum=0 other v i=0 what
	what="throughput $pat $(track_of "$mode") round $rep"
	start_target "$name" "$(track_of "$mode")" "$log" "$WRITER" "$MIB" "$pat" 0 || return 0
	foreign_start
	sleep "$WARM"
	n0=$(ops_count "$log")
	t0=$(now_ns)
	tend=$((t0 + TP_SECS * 1000000000))
	tnext=$t0
	while [ "$(now_ns)" -lt "$tend" ]; do
		sleep_until "$tnext"
		SEQ=$((SEQ + 1))
		local opt=()
		[ $k -eq 0 ] && opt=(--full)
		if ! ckpt "$name" "$WORK/img-$SEQ" "${opt[@]}"; then
			stop_target "$name"
			drop_images
			commit_raw -failed
			return 0
		fi
		raw tp "$pat" "$mode" "$MIB" "$rep" "$k" pause_ns "$P"
		raw tp "$pat" "$mode" "$MIB" "$rep" "$k" image_bytes "$B"
		[ $k -gt 0 ] && pauses+=("$P")
		psum=$((psum + P))
		k=$((k + 1))
		tnext=$((tnext + 1000000000))
	done
	n1=$(ops_count "$log")
	other=$(foreign_pct)
	stop_target "$name"
	drop_images
	# the seconds after the one in which the first checkpoint started
	vals=$(ops_values "$log" $((n0 + 2)) "$n1")
	pre=$(ops_values "$log" 2 "$n0")
	if [ -z "$vals" ]; then
		ERRORS+=("$what: no OPS line after the first checkpoint ($(ops_count "$log") in all)")
		commit_raw -failed
		return 0
	fi
	for v in $vals; do
		raw tp "$pat" "$mode" "$MIB" "$rep" "$i" ops "$v"
		i=$((i + 1))
	done
	i=0
	for v in $pre; do
		raw tp "$pat" "$mode" "$MIB" "$rep" "$i" ops_before "$v"
		i=$((i + 1))
	done
	raw tp "$pat" "$mode" "$MIB" "$rep" 0 other_cpu_pct "$other"
	# shellcheck disable=SC2086
	say "$what: median $(median $vals) pages/s ($k checkpoints; before: $(median $pre)); others: $other % CPU"
	busy "$other" "$att" "$what" && return 2
	commit_raw
	TP_VALS[$pat,$mode]+=" $vals"
	# shellcheck disable=SC2086
	TP_ROUND[$pat,$mode,$rep]=$(median $vals)
	TP_PRE[$pat,$mode]+=" $pre"
	TP_PAUSE[$pat,$mode]+=" ${pauses[*]-}"
	TP_OTHER[$pat,$mode]+=" $other"
	# paused share of the measured seconds (whole run of checkpoints)
	TP_PAUSED[$pat,$mode]+=" $(awk -v p="$psum" -v n="$TP_SECS" 'BEGIN { printf "%.2f", 100 * p / (n * 1e9) }')"
	return 0
}

# ---- 2. incremental checkpoints at a steady write rate ----
inc_run() { # PATTERN MODE ATTEMPT (returns 2: measure again)
	local pat=$1 mode=$2 att=$3 name=ginc-$$-$SEQ log=$WORK/inc.log tnext k n0 n1 other
	local pauses=() images=() captures=() notinc=0 what
	what="incremental $pat $(track_of "$mode")"
	start_target "$name" "$(track_of "$mode")" "$log" "$WRITER" "$MIB" "$pat" "$RATE" || return 0
	foreign_start
	sleep 1
	SEQ=$((SEQ + 1))
	if ! ckpt "$name" "$WORK/img-$SEQ" --full; then
		stop_target "$name"
		drop_images
		commit_raw -failed
		return 0
	fi
	raw inc "$pat" "$mode" "$MIB" 1 0 full_pause_ns "$P"
	raw inc "$pat" "$mode" "$MIB" 1 0 full_image_bytes "$B"
	n0=$(ops_count "$log")
	tnext=$(($(now_ns) + 1000000000))
	for ((k = 1; k <= INC_RUNS; k++)); do
		sleep_until "$tnext"
		tnext=$((tnext + 1000000000))
		SEQ=$((SEQ + 1))
		ckpt "$name" "$WORK/img-$SEQ" || break
		raw inc "$pat" "$mode" "$MIB" 1 "$k" pause_ns "$P"
		raw inc "$pat" "$mode" "$MIB" 1 "$k" image_bytes "$B"
		raw inc "$pat" "$mode" "$MIB" 1 "$k" capture_ns "$C"
		raw inc "$pat" "$mode" "$MIB" 1 "$k" write_ns "$W"
		if [ "$mode" != off ] && [ "$INC" != true ]; then
			notinc=$((notinc + 1))
		fi
		pauses+=("$P") images+=("$B") captures+=("$C")
	done
	n1=$(ops_count "$log")
	other=$(foreign_pct)
	stop_target "$name"
	drop_images
	raw inc "$pat" "$mode" "$MIB" 1 0 other_cpu_pct "$other"
	if [ ${#pauses[@]} -eq 0 ]; then
		commit_raw -failed
		return 0
	fi
	say "$what: pause $(ms "$(median "${pauses[@]}")") ms, image $(mib "$(median "${images[@]}")") MiB; others: $other % CPU"
	busy "$other" "$att" "$what" && return 2
	commit_raw
	INC_PAUSE[$pat,$mode]=$(median "${pauses[@]}")
	INC_IMAGE[$pat,$mode]=$(median "${images[@]}")
	INC_CAPTURE[$pat,$mode]=$(median "${captures[@]}")
	INC_OTHER[$pat,$mode]=$other
	# the write rate the writer kept up meanwhile
	# shellcheck disable=SC2046
	INC_RATE[$pat,$mode]=$(median $(ops_values "$log" $((n0 + 1)) "$n1"))
	[ "$notinc" -eq 0 ] ||
		ERRORS+=("$what: $notinc of ${#pauses[@]} checkpoints were not incremental")
	return 0
}

# ---- 3. live checkpoint pause against the plain one ----
live_run() { # SIZE
	local size=$1 name=glive-$$-$SEQ log=$WORK/live.log k
	local lf=() li=() lfb=() lib=() pf=() pi=() pib=()
	foreign_start
	if start_target "$name" "fault:$LIVE_GRAN" "$log" "$WRITER" "$size" adjacent "$RATE"; then
		# four kinds of checkpoint, each recorded its own way: not one loop
		for ((k = 1; k <= LIVE_RUNS; k++)); do
			SEQ=$((SEQ + 1))
			ckpt "$name" "$WORK/img-$SEQ" --live --full || break
			raw live adjacent "$LIVE_GRAN" "$size" 1 "$k" live_full_pause_ns "$P"
			raw live adjacent "$LIVE_GRAN" "$size" 1 "$k" live_full_image_bytes "$B"
			lf+=("$P") lfb+=("$B")
			# an incremental one that is not measured: the full image took
			# long to write, and the target wrote meanwhile; after this one
			# each measured checkpoint has about 1 s of writes to save
			sleep 1
			SEQ=$((SEQ + 1))
			ckpt "$name" "$WORK/img-$SEQ" --incremental || break
			raw live adjacent "$LIVE_GRAN" "$size" 1 "$k" settle_inc_pause_ns "$P"
			sleep 1
			SEQ=$((SEQ + 1))
			ckpt "$name" "$WORK/img-$SEQ" --live --incremental || break
			raw live adjacent "$LIVE_GRAN" "$size" 1 "$k" live_inc_pause_ns "$P"
			raw live adjacent "$LIVE_GRAN" "$size" 1 "$k" live_inc_image_bytes "$B"
			li+=("$P") lib+=("$B")
			sleep 1
			SEQ=$((SEQ + 1))
			ckpt "$name" "$WORK/img-$SEQ" --incremental || break
			raw live adjacent "$LIVE_GRAN" "$size" 1 "$k" inc_pause_ns "$P"
			raw live adjacent "$LIVE_GRAN" "$size" 1 "$k" inc_image_bytes "$B"
			pi+=("$P") pib+=("$B")
		done
		stop_target "$name"
		drop_images
	fi
	name=glive-$$-$SEQ-off
	if start_target "$name" off "$log" "$WRITER" "$size" adjacent "$RATE"; then
		for ((k = 1; k <= LIVE_RUNS; k++)); do
			SEQ=$((SEQ + 1))
			ckpt "$name" "$WORK/img-$SEQ" --full || break
			raw live adjacent off "$size" 1 "$k" plain_full_pause_ns "$P"
			pf+=("$P")
		done
		stop_target "$name"
		drop_images
	fi
	LIVE[$size,other]=$(foreign_pct)
	raw live adjacent off "$size" 1 0 other_cpu_pct "${LIVE[$size,other]}"
	commit_raw
	LIVE[$size,plain]=$(median "${pf[@]}")
	LIVE[$size,full]=$(median "${lf[@]}")
	LIVE[$size,inc]=$(median "${li[@]}")
	LIVE[$size,fullb]=$(median "${lfb[@]}")
	LIVE[$size,incb]=$(median "${lib[@]}")
	LIVE[$size,pinc]=$(median "${pi[@]}")
	LIVE[$size,pincb]=$(median "${pib[@]}")
	say "live $size MiB: plain ${LIVE[$size,plain]:-?} ns, live full ${LIVE[$size,full]:-?} ns, live incremental ${LIVE[$size,inc]:-?} ns; others: ${LIVE[$size,other]} % CPU"
}

ms() { [ -n "${1:-}" ] && awk -v v="$1" 'BEGIN { printf "%.2f", v / 1e6 }' || echo "-"; }
fmt() { [ -n "${2:-}" ] && awk -v f="$1" -v v="$2" 'BEGIN { printf f, v }' || echo "-"; }
mps() { [ -n "${1:-}" ] && awk -v v="$1" 'BEGIN { printf "%.2f", v / 1e6 }' || echo "-"; }
mib() { [ -n "${1:-}" ] && awk -v v="$1" 'BEGIN { printf "%.1f", v / 1048576 }' || echo "-"; }

# for the summary CSV: NaN for a missing number (gnuplot skips it)
na() { case ${1:-} in '' | -) echo NaN ;; *) echo "$1" ;; esac; }
want() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }

say "writer $MIB MiB; granularities: $GRANS; patterns: $PATTERNS; raw numbers: $CSV"
if want tp; then
	for ((rep = 1; rep <= TP_REPS; rep++)); do
		for pat in $PATTERNS; do
			for mode in "${MODES[@]}"; do
				for ((att = 1; att <= ATTEMPTS; att++)); do
					tp_run "$pat" "$mode" "$rep" "$att" && break
				done
			done
		done
	done
fi
if want inc; then
	for pat in $PATTERNS; do
		for mode in "${MODES[@]}"; do
			for ((att = 1; att <= ATTEMPTS; att++)); do
				inc_run "$pat" "$mode" "$att" && break
			done
		done
	done
fi
if want live; then
	for size in $LIVE_SIZES; do
		live_run "$size"
	done
fi

# ---- results ----
echo "pattern,mode,gran_bytes,tp_pages_s,tp_ratio,tp_before_pages_s,tp_pause_ms,tp_paused_pct,inc_pause_ms,inc_image_mib,inc_capture_ms,inc_rate,tp_other_cpu_pct,inc_other_cpu_pct,tp_ratio_lo,tp_ratio_hi" >"$SUMMARY"
echo
echo "rtcr dirty tracking granularity: writer $MIB MiB (kernel $(uname -r), $(nproc) CPUs, $(date -u +%Y-%m-%d))"
for pat in $PATTERNS; do
	# shellcheck disable=SC2086
	off_tp=$(median ${TP_VALS[$pat,off]:-})
	echo
	echo "### $pat"
	echo
	echo "| tracking | Mpages/s (RATE 0) | ratio vs off | ratio per round | Mpages/s before 1st ckpt | ckpt pause ms (RATE 0) | paused % | others' CPU % | pause ms ($RATE pages/s) | image MiB ($RATE pages/s) | capture ms ($RATE pages/s) | pages/s kept | others' CPU % |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	for mode in "${MODES[@]}"; do
		# shellcheck disable=SC2086
		tp=$(median ${TP_VALS[$pat,$mode]:-})
		# shellcheck disable=SC2086
		pre=$(median ${TP_PRE[$pat,$mode]:-})
		# shellcheck disable=SC2086
		tpp=$(median ${TP_PAUSE[$pat,$mode]:-})
		# shellcheck disable=SC2086
		paused=$(median ${TP_PAUSED[$pat,$mode]:-})
		# shellcheck disable=SC2086
		tpo=$(median ${TP_OTHER[$pat,$mode]:-})
		io=${INC_OTHER[$pat,$mode]:-}
		ratio=
		[ -n "$tp" ] && [ -n "$off_tp" ] && [ "$off_tp" != 0 ] &&
			ratio=$(awk -v a="$tp" -v b="$off_tp" 'BEGIN { printf "%.3f", a / b }')
		# the ratio of each round (against off of the same round): min-max
		range=$(for ((r = 1; r <= TP_REPS; r++)); do
			a=${TP_ROUND[$pat,$mode,$r]:-} b=${TP_ROUND[$pat,off,$r]:-}
			[ -n "$a" ] && [ -n "$b" ] && awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.3f\n", a / b }'
		done | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR) printf "%s-%s", lo, hi }')
		ip=${INC_PAUSE[$pat,$mode]:-}
		ib=${INC_IMAGE[$pat,$mode]:-}
		ic=${INC_CAPTURE[$pat,$mode]:-}
		ir=${INC_RATE[$pat,$mode]:-}
		label=$(track_of "$mode")
		[ "$mode" = off ] && label="off (full ckpts)"
		printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$(mps "$tp")" \
			"${ratio:--}" "${range:--}" "$(mps "$pre")" "$(ms "$tpp")" "$(fmt %.1f "$paused")" \
			"$(fmt %.0f "$tpo")" "$(ms "$ip")" \
			"$(mib "$ib")" "$(ms "$ic")" "$(fmt %.0f "$ir")" "$(fmt %.0f "$io")"
		echo "$pat,$(track_of "$mode" | cut -d: -f1),$(gran_bytes "$mode"),$(na "$tp"),$(na "$ratio"),$(na "$pre"),$(na "$(ms "$tpp")"),$(na "$paused"),$(na "$(ms "$ip")"),$(na "$(mib "$ib")"),$(na "$(ms "$ic")"),$(na "$ir"),$(na "$tpo"),$(na "$io"),$(na "${range%-*}"),$(na "${range#*-}")" >>"$SUMMARY"
	done
done
if want live; then
	echo
	echo "### live checkpoints (writer SIZE MiB adjacent at $RATE pages/s; fault:$LIVE_GRAN; median of $LIVE_RUNS)"
	echo
	echo "| size | plain --full pause ms (off) | --live --full pause ms | --live incremental pause ms | incremental (not live) pause ms | live full image MiB | live incremental image MiB | incremental image MiB | others' CPU % |"
	echo "|---|---|---|---|---|---|---|---|---|"
	for size in $LIVE_SIZES; do
		printf '| %s MiB | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$size" "$(ms "${LIVE[$size,plain]:-}")" \
			"$(ms "${LIVE[$size,full]:-}")" "$(ms "${LIVE[$size,inc]:-}")" "$(ms "${LIVE[$size,pinc]:-}")" \
			"$(mib "${LIVE[$size,fullb]:-}")" "$(mib "${LIVE[$size,incb]:-}")" \
			"$(mib "${LIVE[$size,pincb]:-}")" "${LIVE[$size,other]:--}"
	done
fi
echo
echo "Mpages/s: median of the writer's OPS seconds after the first checkpoint (checkpoints every 1 s for $TP_SECS s, $TP_REPS round(s)); ratio: against off (full checkpoints) in the same run, of the medians over all rounds; per round: lowest-highest of the rounds' own ratios."
echo "incremental: median of $INC_RUNS checkpoints 1 s apart after a full one (off: full checkpoints); pages/s kept: the writer's median rate meanwhile."
echo "others' CPU %: CPU time of all other processes during a run, in % of one CPU (median over runs); a run above $MAX_OTHER % is measured again, $ATTEMPTS times at most (the busy ones stay in the raw CSV as PART-busy)."
if [ ${#BUSY_KEPT[@]} -gt 0 ]; then
	echo "busy twice, kept: ${BUSY_KEPT[*]}"
fi
echo "raw: $CSV; medians: $SUMMARY; $((SECONDS - T_START)) s"

if [ "$PLOT" = 1 ] && want tp && want inc; then
	if command -v gnuplot >/dev/null; then
		png=${SUMMARY%-summary.csv}.png
		if gnuplot -e "data='$SUMMARY'; out='$png'; rate='$RATE'; mib='$MIB'" bench/granularity.gp 2>"$WORK/gp.err"; then
			echo "plot: $png"
		else
			say "gnuplot failed: $(cat "$WORK/gp.err")"
		fi
	else
		say "no plot: gnuplot is not installed (apt-get install gnuplot-nox)"
	fi
fi

if [ ${#ERRORS[@]} -gt 0 ]; then
	echo
	echo "errors (${#ERRORS[@]}):"
	printf -- '- %s\n' "${ERRORS[@]}"
	exit 1
fi
