# shellcheck shell=bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Shared by the benchmark scripts (bench/checkpoint.sh, threads.sh,
# granularity.sh, migrate.sh); sourced, it only defines variables and
# functions. Set before sourcing it: ME (the script, for messages), BUILD,
# RTCR (the rtcr binary), TIMEOUT (seconds per rtcr command).
#
#   say/die, bench_need_root, bench_need_bins, bench_numbers, bench_reaped,
#   bench_private_rtcr          messages, preconditions, the reaper, a copy
#                               of rtcr that a rebuild cannot change
#   now_ns, json_num, json_bool, json_str, json_array, median, median_low,
#   wait_file                   timing, numbers out of JSON, medians
#   bench_workdirs TAG          RUNDIR (a private rtcr run directory) and
#                               WORK, removed on exit with every target
#                               still in NAMES: rtcr, forget, stop_target,
#                               kill_leftovers, cleanup
#   ckpt_reset, ckpt_measure, restore_measure, ckpt_medians, ckpt_json,
#   write_json                  checkpoints of running targets and their
#                               restores, as bench/checkpoint.sh and
#                               bench/threads.sh measure them

REAPER=$BUILD/bench/reaper

say() { printf '%s: %s\n' "$ME" "$*" >&2; }
die() {
	say "error: $*"
	exit 1
}

# bench_need_root WHY: without root the benchmark is skipped (exit 0).
bench_need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "$ME: skipped: needs root ($1)"
		exit 0
	fi
}

# bench_need_bins HOW FILE...: each FILE must be there ("build it with 'HOW'").
bench_need_bins() {
	local how=$1 f
	shift
	for f; do
		[ -x "$f" ] || die "$f is missing; build it with '$how'"
	done
}

# bench_numbers VAR...: each variable named must hold a number.
bench_numbers() {
	local v
	for v; do
		case ${!v} in
		'' | *[!0-9]*) die "$v must be a number (got '${!v}')" ;;
		esac
	done
}

# bench_reaped "$@": orphans (detached rtcr parents, rtcr serve) must not end
# up with a PID 1 that does not reap them: the script runs again (with its
# arguments) under a child subreaper that collects them.
bench_reaped() {
	if [ -z "${BENCH_REAPED:-}" ] && [ -x "$REAPER" ]; then
		export BENCH_REAPED=1
		exec "$REAPER" bash "$0" "$@"
	fi
}

# bench_private_rtcr DIR: a copy of rtcr (and rtcr-stub next to it) in DIR,
# and RTCR points to it: a rebuild of $BUILD/rtcr while the benchmark runs
# (make in another shell) must not change the binary under it or fail it.
bench_private_rtcr() {
	local stub
	stub=$(dirname "$RTCR")/rtcr-stub
	mkdir -p "$1"
	cp "$RTCR" "$1/rtcr"
	[ -x "$stub" ] && cp "$stub" "$1/rtcr-stub"
	RTCR=$1/rtcr
}

now_ns() {
	local t=$EPOCHREALTIME
	echo "${t/./}000"
}

# The number after "key": in a JSON file ("" if absent); a boolean; a string.
json_num() {
	grep -o "\"$1\"[[:space:]]*:[[:space:]]*[0-9]*" "$2" | head -n1 | grep -o '[0-9]*$' || true
}
json_bool() {
	grep -o "\"$1\"[[:space:]]*:[[:space:]]*[a-z]*" "$2" | head -n1 | grep -o '[a-z]*$' || true
}
json_str() {
	grep -o "\"$1\"[[:space:]]*:[[:space:]]*\"[^\"]*\"" "$2" | head -n1 | sed 's/.*:[[:space:]]*"//; s/"$//' || true
}

# The arguments as a JSON array.
json_array() {
	local IFS=,
	echo "[${*-}]"
}

# median of the arguments: the mean of the two middle ones for an even
# count ("" when none)
median() {
	[ $# -gt 0 ] || return 0
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2];
		else printf "%.12g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# median_low: one of the arguments (integers), the lower middle one for an
# even count (bench/checkpoint.sh and bench/threads.sh report measured values)
median_low() {
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# wait_file FILE SECS: until FILE exists (false after SECS seconds).
wait_file() {
	local f=$1 secs=$2 i
	for ((i = 0; i < secs * 20; i++)); do
		[ -e "$f" ] && return 0
		sleep 0.05
	done
	return 1
}

# ---- targets under a private run directory ----

RUNDIR=
WORK=
NAMES=() # targets started and not yet waited for

# Options go before the NAME/DIR operand (the CLI stops parsing options at
# the first operand). Only rtcr commands (and what they start) see the
# private run directory; cleanup finds leftovers by it. Output goes to
# files, never to a pipe: a detached rtcr parent could keep a pipe open and
# hang a $(...).
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

# Stop a target and collect its status (an exit status of 128+9 is
# expected). A failed kill is fatal, or only said with BENCH_KILL_SOFT=1.
stop_target() {
	if ! rtcr kill --signal KILL "$1" >"$WORK/kill.out" 2>&1; then
		[ "${BENCH_KILL_SOFT:-0}" = 1 ] || die "rtcr kill $1 failed: $(cat "$WORK/kill.out")"
		say "rtcr kill $1 failed: $(cat "$WORK/kill.out")"
	fi
	RTCR_RUNDIR=$RUNDIR timeout --foreground --kill-after=10 "$TIMEOUT" "$RTCR" wait "$1" \
		>/dev/null 2>&1 || true
	forget "$1"
}

# kill_leftovers [DIR...]: kill every process with RTCR_RUNDIR=DIR (default
# $RUNDIR) in its environment, but this shell.
kill_leftovers() {
	local p env pids=() d
	[ $# -gt 0 ] || set -- "$RUNDIR"
	for env in /proc/[0-9]*/environ; do
		p=${env#/proc/}
		p=${p%/environ}
		[ "$p" = "$$" ] && continue
		for d; do
			[ -n "$d" ] || continue
			if grep -qzxF "RTCR_RUNDIR=$d" "$env" 2>/dev/null; then
				pids+=("$p")
				break
			fi
		done
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

# bench_workdirs TAG: the traps, then RUNDIR ($TMPDIR/rtcr-TAG-run.XXXXXX)
# and WORK (rtcr-TAG.XXXXXX in $BENCH_TMPDIR, default $TMPDIR or /tmp).
bench_workdirs() {
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'say "failed: line $LINENO: $BASH_COMMAND"' ERR
	RUNDIR=$(mktemp -d "${TMPDIR:-/tmp}/rtcr-$1-run.XXXXXX")
	WORK=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/rtcr-$1.XXXXXX")
	chmod 700 "$RUNDIR" "$WORK"
}

# ---- checkpoints of a running target and restores of the image ----

# The measurements of one configuration: arrays pause, capture, write, mem,
# image (from `rtcr checkpoint --json`), ckwall (its wall time) and restore
# (wall time of `rtcr restore --detach`), in ns and bytes.
ckpt_reset() {
	pause=() capture=() write=() mem=() image=() ckwall=() restore=()
}

# ckpt_measure NAME DIR: `rtcr checkpoint --leave-running` of NAME into DIR;
# appends to the arrays and sets p, c, w, b (pause, capture, write ns, image
# bytes) for the caller's message.
ckpt_measure() {
	local t0 t1 m
	t0=$(now_ns)
	rtcr checkpoint -o "$2" --leave-running --json "$1" >"$WORK/ckpt.json" 2>"$WORK/ckpt.err" ||
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
	[ -n "$b" ] || b=$(du -sb "$2" | cut -f1)
	[ -n "$m" ] || m=0
	pause+=("$p") capture+=("$c") write+=("$w") mem+=("$m") image+=("$b")
	ckwall+=($((t1 - t0)))
}

# restore_measure NAME IMG: `rtcr restore --detach` of IMG as NAME (left
# running, in NAMES); appends its wall time to restore and sets rt to it.
restore_measure() {
	local t0 t1
	NAMES+=("$1")
	t0=$(now_ns)
	rtcr restore --detach --name "$1" "$2" >"$WORK/restore.out" 2>&1 ||
		die "rtcr restore failed: $(cat "$WORK/restore.out")"
	t1=$(now_ns)
	rt=$((t1 - t0))
	restore+=("$rt")
}

# ckpt_medians: m_pause, m_capture, m_total (capture + write), m_restore
# (null without restores), m_image, m_mem of the arrays.
# shellcheck disable=SC2034 # for the caller
ckpt_medians() {
	local i total=()
	m_pause=$(median_low "${pause[@]}")
	m_capture=$(median_low "${capture[@]}")
	for ((i = 0; i < ${#capture[@]}; i++)); do
		total+=($((capture[i] + write[i])))
	done
	m_total=$(median_low "${total[@]}")
	m_restore=null
	[ ${#restore[@]} -gt 0 ] && m_restore=$(median_low "${restore[@]}")
	m_image=$(median_low "${image[@]}")
	m_mem=$(median_low "${mem[@]}")
}

# ckpt_json: the arrays as JSON members, one configuration's raw numbers.
ckpt_json() {
	cat <<EOF
     "pause_ns": $(json_array "${pause[@]}"), "capture_ns": $(json_array "${capture[@]}"),
     "write_ns": $(json_array "${write[@]}"), "mem_bytes": $(json_array "${mem[@]}"),
     "image_bytes": $(json_array "${image[@]}"), "checkpoint_wall_ns": $(json_array "${ckwall[@]}"),
     "restore_wall_ns": $(json_array "${restore[@]}"),
EOF
}

# write_json FILE KEY [HEAD_LINE] -- ENTRY...: the result file: the machine,
# RUNS and the date, HEAD_LINE if given, then the entries as array KEY.
write_json() {
	local file=$1 key=$2 head='' i
	shift 2
	if [ "$1" != -- ]; then
		head=$1
		shift
	fi
	shift
	{
		echo "{"
		echo "  \"kernel\": \"$(uname -r)\", \"cpus\": $(nproc), \"runs\": $RUNS,"
		echo "  \"date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
		[ -n "$head" ] && echo "$head"
		echo "  \"$key\": ["
		for ((i = 1; i <= $#; i++)); do
			[ "$i" -gt 1 ] && echo ","
			printf '%s' "${!i}"
		done
		echo
		echo "  ]"
		echo "}"
	} >"$file"
}
