#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Live migration benchmark (make bench-migrate; needs root).
#
# Two nodes on this machine: network namespaces A and B joined by a veth
# pair (a /30 of 169.254.0.0/16), each with its own rtcr run directory;
# `rtcr serve` listens on B. For each size (MiB) and each mode (stop,
# precopy with --max-downtime MIG_MAX_DOWNTIME), RUNS times (the modes
# alternate run by run, so that the noise of the machine falls on both):
#
#  1. start bench/dirtytarget SIZE PERCENT PERIOD (default 1 % of its pages
#     every 10 ms) on A, wait for READY, let it write for MIG_SETTLE s;
#  2. SIGUSR2 to it on A (resets its largest CLOCK_REALTIME gap);
#  3. rtcr migrate --json A -> B: total_ns, downtime_ns (rtcr, source side:
#     from the pause until B confirmed the target runs), predicted downtime,
#     bytes sent, rounds, converged; and from the info lines of the source's
#     rtcr parent (started with -v, they go to the target's log): the final
#     step's capture (from the pause; older rtcr: from before the capture's
#     preparation) / serialize / send times and size, and when B had
#     restored it (restore on B = that minus the final step);
#  4. the target must run on B (rtcr ps there) and no longer on A;
#  5. SIGUSR2 to it on B: "MAXGAP" = the largest gap its 1 ms sampler saw
#     since step 2, i.e. the downtime seen by the target (own clock);
#  6. raw TCP baseline in the same run, over the same link: bench/tcpcopy
#     sends the target's resident size (VmRSS on A before the migration,
#     rounded up to MiB) from A to B; total / raw is the ratio;
#  7. SIGUSR1 to it on B: it verifies every page (PASS / FAIL) and exits.
#
# The encrypted stream over the link: in stop mode the final step sends the
# whole memory in one go; its size over its send time (sender side, until
# the last write into the socket) is the stream's throughput over the veth
# link, shown next to the raw copy's. bench/streambench (if built) adds the
# stream vs raw TCP per cipher over loopback (inside node A), labelled so.
#
# Prints a Markdown table of medians on stdout; one row per migration goes
# to $MIG_RESULTS/migrate.csv. Failures (a migration that fails, a target
# that does not run on B or still runs on A, FAIL from the verification)
# are listed at the end, and make the exit status 1.
#
# Environment: QUICK=1 (smoke run: 64 MiB, 1 run), BUILD (build), RTCR
# ($BUILD/rtcr), MIG_SIZES ("64 1024"), MIG_RUNS (runs per mode for sizes
# below 1 GiB, 5), MIG_RUNS_BIG (for 1 GiB and more, 3), MIG_MODES ("stop
# precopy"), MIG_MAX_DOWNTIME (ms, 50), MIG_PERCENT (1), MIG_PERIOD (ms,
# 10), MIG_SETTLE (s, 1), MIG_STREAM (1; 0: no streambench), BENCH_TIMEOUT
# (seconds per rtcr command, 180), MIG_RESULTS (bench/results), MIG_KEEP=1
# (keep the work directory: run directories, logs).
set -euo pipefail
export LC_ALL=C

ME=bench/migrate.sh
BUILD=${BUILD:-build}
RTCR=${RTCR:-$BUILD/rtcr}
DIRTY=$BUILD/bench/dirtytarget
TCPCOPY=$BUILD/bench/tcpcopy
STREAMBENCH=$BUILD/bench/streambench
QUICK=${QUICK:-0}
# (granularity.sh has a block of this shape: its own settings)
if [ "$QUICK" = 1 ]; then
	d_sizes=64 d_runs=1 d_big=1
else
	d_sizes="64 1024" d_runs=5 d_big=3
fi
SIZES=${MIG_SIZES:-$d_sizes}
RUNS=${MIG_RUNS:-$d_runs}
RUNS_BIG=${MIG_RUNS_BIG:-$d_big}
MODES=${MIG_MODES:-stop precopy}
MAXDOWN=${MIG_MAX_DOWNTIME:-50}
PERCENT=${MIG_PERCENT:-1}
PERIOD=${MIG_PERIOD:-10}
SETTLE=${MIG_SETTLE:-1}
DO_STREAM=${MIG_STREAM:-1}
TIMEOUT=${BENCH_TIMEOUT:-180}
RESULTS=${MIG_RESULTS:-bench/results}
PORT=7600 # in B's own namespace: no clash with anything else
RAWPORT=7601

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

bench_need_root "network namespaces, and rtcr uses pid namespaces and ptrace"
bench_need_bins "make all bench-bins" "$RTCR" "$DIRTY" "$TCPCOPY"
bench_numbers RUNS RUNS_BIG MAXDOWN PERCENT PERIOD SETTLE TIMEOUT
for m in $MODES; do
	case $m in stop | precopy) ;; *) die "MIG_MODES: unknown mode '$m'" ;; esac
done
command -v ip >/dev/null 2>&1 || die "no ip command (iproute2) for the network namespaces"
bench_reaped "$@"

RTCR=$(realpath "$RTCR")
DIRTY=$(realpath "$DIRTY")
TCPCOPY=$(realpath "$TCPCOPY")
[ -x "$STREAMBENCH" ] && STREAMBENCH=$(realpath "$STREAMBENCH")

WORK=
RA='' RB=''
NS_A=rtcrbm-a-$$ NS_B=rtcrbm-b-$$
DEV_A=rtbma$$ DEV_B=rtbmb$$
NS_CREATED=()
SERVE_PID=
BG_PIDS=() # tcpcopy receivers
ERRORS=()  # what went wrong, reported at the end
NOTES=()   # what looked odd, reported at the end

# ---- the two nodes ----

# (tests/integration/netns.sh does the same in _netns_destroy and setup, but
# with the test library's skip/fail/note and its EXIT trap: not for a benchmark)
_ns_destroy() {
	local ns=$1 pids i
	pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
	if [ -n "${pids// /}" ]; then
		# shellcheck disable=SC2086
		kill -KILL $pids 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			pids=$(ip netns pids "$ns" 2>/dev/null | while read -r p; do
				[ "$(ps -o stat= -p "$p" 2>/dev/null | cut -c1)" = Z ] || echo "$p"
			done)
			[ -z "$pids" ] && break
			sleep 0.1
		done
	fi
	ip netns del "$ns" 2>/dev/null || true
	! ip netns list 2>/dev/null | awk '{ print $1 }' | grep -qxF -- "$ns"
}

# namespaces left by runs killed outright (their script's pid is gone)
reap_stale_ns() {
	local ns pid
	for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }'); do
		case $ns in rtcrbm-a-* | rtcrbm-b-*) pid=${ns#rtcrbm-?-} ;; *) continue ;; esac
		case $pid in '' | *[!0-9]*) continue ;; esac
		if [ "$pid" != "$$" ] && ! kill -0 "$pid" 2>/dev/null; then
			say "deleting namespace $ns, left by process $pid which is gone"
			_ns_destroy "$ns" || true
		fi
	done
}

setup_nodes() {
	local n=$(($$ % (254 * 64))) x k err i
	x=$((n / 64 + 1))
	k=$((n % 64))
	if [ "$x" = 169 ] && [ "$k" = 63 ]; then k=62; fi
	IP_A=169.254.$x.$((4 * k + 1))
	IP_B=169.254.$x.$((4 * k + 2))
	reap_stale_ns
	err=$(ip netns add "$NS_A" 2>&1) || die "ip netns add $NS_A: $err"
	NS_CREATED+=("$NS_A")
	err=$(ip netns add "$NS_B" 2>&1) || die "ip netns add $NS_B: $err"
	NS_CREATED+=("$NS_B")
	err=$({
		ip link add "$DEV_A" netns "$NS_A" type veth peer name "$DEV_B" netns "$NS_B" &&
			ip -n "$NS_A" link set lo up &&
			ip -n "$NS_B" link set lo up &&
			ip -n "$NS_A" addr add "$IP_A/30" dev "$DEV_A" &&
			ip -n "$NS_B" addr add "$IP_B/30" dev "$DEV_B" &&
			ip -n "$NS_A" link set "$DEV_A" up &&
			ip -n "$NS_B" link set "$DEV_B" up
	} 2>&1) || die "setting up the veth pair: $err"
	for ((i = 0; i < 50; i++)); do
		ip -n "$NS_A" link show "$DEV_A" 2>/dev/null | grep -q LOWER_UP &&
			ip -n "$NS_B" link show "$DEV_B" 2>/dev/null | grep -q LOWER_UP && return 0
		sleep 0.1
	done
	die "the veth pair $DEV_A/$DEV_B did not come up"
}

on_a() { ip netns exec "$NS_A" "$@"; }
on_b() { ip netns exec "$NS_B" "$@"; }

# rtcr in a node with its run directory. Output goes to files, never to a
# pipe: a detached rtcr parent could keep a pipe open and hang a $(...).
r_node() {
	local node=$1 dir rc=0
	shift
	if [ "$node" = a ]; then dir=$RA; else dir=$RB; fi
	ip netns exec "$([ "$node" = a ] && echo "$NS_A" || echo "$NS_B")" \
		env RTCR_RUNDIR="$dir" timeout --kill-after=10 "$TIMEOUT" "$RTCR" "$@" || rc=$?
	case $rc in
	124 | 137) say "rtcr $1 on node $node: no answer within $TIMEOUT s (killed)" ;;
	esac
	return $rc
}
ra() { r_node a "$@"; }
rb() { r_node b "$@"; }

# state NODE NAME: the target's state there ("" if it has none)
state() {
	r_node "$1" ps >"$WORK/ps-$1" 2>&1 || true
	awk -v n="$2" 'NR > 1 && $1 == n { print $4 }' "$WORK/ps-$1"
}
target_pid() { # target_pid NODE NAME
	r_node "$1" ps >"$WORK/ps-$1" 2>&1 || true
	awk -v n="$2" 'NR > 1 && $1 == n { print $2 }' "$WORK/ps-$1"
}
# log_to NODE NAME FILE: the target's output
log_to() { r_node "$1" log "$2" >"$3" 2>&1 || true; }
# wait_line NODE NAME REGEX COUNT SECS: until the output has COUNT lines
# matching REGEX; the last of them in $WORK/line
wait_line() {
	local node=$1 name=$2 re=$3 count=$4 secs=$5 i
	for ((i = 0; i < secs * 5; i++)); do
		log_to "$node" "$name" "$WORK/log"
		if [ "$(grep -cE "$re" "$WORK/log" || true)" -ge "$count" ]; then
			grep -E "$re" "$WORK/log" | tail -n1 >"$WORK/line"
			return 0
		fi
		sleep 0.2
	done
	return 1
}
# kill and collect a target, quietly (it may have exited already)
drop() { # drop NODE NAME
	r_node "$1" kill --signal KILL "$2" >/dev/null 2>&1 || true
	r_node "$1" wait "$2" >/dev/null 2>&1 || true
}

migrate_cleanup() {
	local rc=$? n ns node
	trap - EXIT ERR INT TERM
	set +e
	if [ -n "$WORK" ] && [ ${#NS_CREATED[@]} -eq 2 ]; then
		for node in a b; do
			r_node $node ps >"$WORK/ps-end" 2>/dev/null
			# shellcheck disable=SC2013 # target names have no blanks
			for n in $(awk 'NR > 1 && $4 !~ /^(exited|killed)/ { print $1 }' "$WORK/ps-end"); do
				say "stopping $n on node $node"
				TIMEOUT=20 drop $node "$n"
			done
		done
	fi
	[ -n "$SERVE_PID" ] && kill -TERM "$SERVE_PID" 2>/dev/null
	for n in "${BG_PIDS[@]}"; do kill -KILL "$n" 2>/dev/null; done
	sleep 0.3
	[ -n "$SERVE_PID" ] && kill -KILL "$SERVE_PID" 2>/dev/null
	kill_leftovers "$RA" "$RB"
	for ns in "${NS_CREATED[@]}"; do
		if ! _ns_destroy "$ns"; then
			say "error: cannot delete namespace $ns"
			[ "$rc" = 0 ] && rc=1
		fi
	done
	if [ -n "${MIG_KEEP:-}" ]; then say "kept $WORK"; else [ -n "$WORK" ] && rm -rf "$WORK"; fi
	exit "$rc"
}
trap migrate_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rtcr-bench-mig.XXXXXX")
chmod 700 "$WORK"
RA=$WORK/runA RB=$WORK/runB
# a copy of the binaries: a rebuild during the run must not mix versions
bench_private_rtcr "$WORK/bin"
mkdir -p "$RA" "$RB" "$RESULTS"
CSV=$RESULTS/migrate.csv

setup_nodes
say "node A $NS_A $IP_A, node B $NS_B $IP_B (veth $DEV_A/$DEV_B)"
"$RTCR" keygen -o "$WORK/key" >/dev/null 2>"$WORK/keygen.err" ||
	die "rtcr keygen: $(cat "$WORK/keygen.err")"
rb -v serve --listen ":$PORT" --key "$WORK/key" --detach --log "$WORK/serve.log" >"$WORK/serve.out" 2>&1 ||
	die "rtcr serve on B: $(cat "$WORK/serve.out")"
SERVE_PID=$(sed -n 's/.*(pid \([0-9]*\)).*/\1/p' "$WORK/serve.out")
[ -n "$SERVE_PID" ] || die "rtcr serve did not say its pid: $(cat "$WORK/serve.out")"
sleep 0.3

# raw TCP copy of MIB MiB from A to B: prints "bytes ns"
raw_copy() {
	local mib=$1 pid i s
	rm -f "$WORK/recv.out"
	on_b "$TCPCOPY" recv "$RAWPORT" >"$WORK/recv.out" 2>&1 &
	pid=$!
	BG_PIDS+=("$pid")
	for ((i = 0; i < 100; i++)); do
		grep -q '^READY' "$WORK/recv.out" 2>/dev/null && break
		sleep 0.05
	done
	if ! on_a timeout 120 "$TCPCOPY" send "$IP_B" "$RAWPORT" "$mib" >"$WORK/send.out" 2>&1; then
		say "tcpcopy send failed: $(cat "$WORK/send.out" "$WORK/recv.out")"
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		return 1
	fi
	wait "$pid" 2>/dev/null || true
	s=$(awk '$1 == "SENT" { print $2, int($3 * 1e9) }' "$WORK/send.out")
	[ -n "$s" ] || return 1
	echo "$s"
}

# After a failed migration B must have discarded what it built: anything
# still running in B but rtcr serve itself is listed as a failure, then
# killed (it could hold a whole restored target's memory).
left_on_b() {
	local i p pids
	for ((i = 0; i < 25; i++)); do
		pids=$(ip netns pids "$NS_B" 2>/dev/null | while read -r p; do
			[ "$p" = "$SERVE_PID" ] && continue
			[ "$(ps -o stat= -p "$p" 2>/dev/null | cut -c1)" = Z ] || echo "$p"
		done | tr '\n' ' ')
		[ -z "${pids// /}" ] && return 0
		sleep 0.2
	done
	# shellcheck disable=SC2086
	fail_run "left behind on B after the failed migration: $(ps -o pid=,ppid=,stat=,wchan:24=,args= -p "$(echo $pids | tr ' ' ,)" 2>/dev/null | cut -c1-110 | tr -s ' ' | tr '\n' '|')"
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null || true
}

fail_run() { # fail_run WHAT: record a failure of this run
	ERRORS+=("$size MiB $mode run $run: $*")
	say "FAILURE: $*"
}

CSV_HEAD="size_mib,mode,run,status,total_ns,downtime_ns,predicted_downtime_ns,target_maxgap_us,bytes_sent,final_pages_bytes,rounds,converged,rss_bytes,raw_bytes,raw_ns,total_over_raw,final_capture_ms,final_pause_ms,final_serialize_ms,final_send_ms,final_send_kib,restored_after_pause_ms,on_b,on_a,verify"
echo "$CSV_HEAD" >"$CSV.tmp"

# One migration: size, mode, run are set by the caller.
migrate_once() {
	local name=m$size-$mode-$run dest st_a st_b pid rss raw_mib raw maxgap verify status=ok
	local total down pred sent fpages rounds conv raw_bytes=0 raw_ns=0 ratio
	local fcap='' fpause='' fser='' fsend='' fkib='' restored='' n0
	say "$size MiB $mode run $run: starting the target on A"
	if ! ra -v run --name "$name" --detach -- "$DIRTY" "$size" "$PERCENT" "$PERIOD" >"$WORK/run.out" 2>&1; then
		fail_run "rtcr run on A failed: $(cat "$WORK/run.out")"
		return 0
	fi
	if ! wait_line a "$name" '^READY' 1 $((30 + size / 16)); then
		fail_run "the target did not print READY on A: $(tail -n3 "$WORK/log" | tr '\n' '|')"
		drop a "$name"
		return 0
	fi
	pid=$(target_pid a "$name")
	rss=$(awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$pid/status" 2>/dev/null || true)
	[ -n "$rss" ] && [ "$rss" -gt 0 ] || rss=$((size << 20))
	raw_mib=$(((rss + (1 << 20) - 1) >> 20))
	sleep "$SETTLE"
	# reset its largest gap
	ra kill --signal USR2 "$name" >/dev/null 2>&1 || true
	if ! wait_line a "$name" '^MAXGAP' 1 10; then
		fail_run "no MAXGAP from the target on A after SIGUSR2"
	fi
	say "$size MiB $mode run $run: migrating (resident $((rss >> 20)) MiB)"
	local opts=(--to "$IP_B:$PORT" --key "$WORK/key" --mode "$mode" --json)
	[ "$mode" = precopy ] && opts+=(--max-downtime "$MAXDOWN")
	if ! ra migrate "${opts[@]}" "$name" >"$WORK/m.json" 2>"$WORK/m.err"; then
		fail_run "rtcr migrate ${opts[*]} $name (on A) failed: $(grep -iE 'error|fail|refus|doubt' "$WORK/m.err" | head -n5 | tr '\n' '|') [$(tail -n2 "$WORK/m.err" | tr '\n' '|')]"
		[ -s "$WORK/serve.log" ] && say "serve log on B: $(tail -n5 "$WORK/serve.log" | tr '\n' '|')"
		FAILS[$size-$mode]=$((${FAILS[$size-$mode]:-0} + 1))
		st_a=$(state a "$name")
		st_b=$(state b "$name")
		[ -z "$st_b" ] || fail_run "after the failed migration B has the target: $st_b"
		left_on_b
		# it must run on at A where it was, its memory intact
		verify=
		if [ "$st_a" = running ]; then
			ra kill --signal USR1 "$name" >/dev/null 2>&1 || true
			if wait_line a "$name" '^(PASS|FAIL)' 1 $((30 + size / 16)); then
				verify=$(grep -oE '^(PASS|FAIL)' "$WORK/line")
				[ "$verify" = PASS ] ||
					fail_run "VERIFICATION FAILED on A after the failed migration: $(grep '^FAIL' "$WORK/log" | head -n5 | tr '\n' '|')"
			else
				fail_run "no PASS/FAIL from the target on A after the failed migration"
			fi
		else
			fail_run "after the failed migration the target is '${st_a:-absent}' on A, not running"
		fi
		drop a "$name"
		echo "$size,$mode,$run,migrate-failed,,,,,,,,,$rss,,,,,,,,,,$st_b,$st_a,$verify" >>"$CSV.tmp"
		return 0
	fi
	# the source's rtcr parent (started with -v) logs the final step in its log
	log_to a "$name" "$WORK/srclog"
	total=$(json_num total_ns "$WORK/m.json")
	down=$(json_num downtime_ns "$WORK/m.json")
	pred=$(json_num predicted_downtime_ns "$WORK/m.json")
	sent=$(json_num bytes_sent "$WORK/m.json")
	fpages=$(json_num memory_bytes "$WORK/m.json")
	rounds=$(json_num rounds "$WORK/m.json")
	conv=$(json_bool converged "$WORK/m.json")
	dest=$(json_str dest_name "$WORK/m.json")
	[ -n "$dest" ] || dest=$name
	if [ -z "$total" ] || [ -z "$down" ]; then
		fail_run "rtcr migrate --json: no total_ns/downtime_ns in: $(cat "$WORK/m.json")"
		status='bad-json'
	fi
	# final: capture X ms (pause Y ms), serialize Z ms, send W ms (K KiB)
	read -r fcap fpause fser fsend fkib < <(sed -n 's/.*final: capture \([0-9.]*\) ms (pause \([0-9.]*\) ms), serialize \([0-9.]*\) ms, send \([0-9.]*\) ms (\([0-9]*\) KiB).*/\1 \2 \3 \4 \5/p' "$WORK/srclog" | tail -n1) || true
	if [ -z "$fsend" ]; then
		# newer rtcr: "final: pause P ms, serialize S ms, send W ms (K KiB)",
		# its times (and the restore's) counted from the pause itself
		read -r fpause fser fsend fkib < <(sed -n 's/.*final: pause \([0-9.]*\) ms, serialize \([0-9.]*\) ms, send \([0-9.]*\) ms (\([0-9]*\) KiB).*/\1 \2 \3 \4/p' "$WORK/srclog" | tail -n1) || true
		fcap=$fpause
	fi
	restored=$(sed -n 's/.*restored it \([0-9.]*\) ms after the pause.*/\1/p' "$WORK/srclog" | tail -n1)

	# where it runs now
	st_b=$(state b "$dest")
	st_a=$(state a "$name")
	if [ "$st_b" != running ]; then
		fail_run "after the migration '$dest' is '${st_b:-absent}' on B, not running ($(tr '\n' '|' <"$WORK/ps-b"))"
		status='not-on-b'
	fi
	case $st_a in
	'' | exited* | killed*) ;;
	*)
		# rtcr ps on A still says so: is the process itself still there and
		# running (R/S), or already stopped or dying? And does ps catch up?
		local pst i t0=$SECONDS
		# state letter, and whether it is exiting (PF_EXITING, 0x4 in flags)
		pst=$(awk '{ sub(/^.*\) /, ""); printf "%s%s", $1, (int($7 / 4) % 2 ? ", exiting" : ", not exiting") }' \
			"/proc/$pid/stat" 2>/dev/null || true)
		[ -n "$pst" ] || pst=gone
		for ((i = 0; i < 50; i++)); do
			st_a=$(state a "$name")
			case $st_a in '' | exited* | killed*) break ;; esac
			sleep 0.2
		done
		case $st_a in
		'' | exited* | killed*)
			NOTES+=("$size MiB $mode run $run: right after rtcr migrate returned, rtcr ps on A still said 'running' (its process: '$pst' in /proc); asked again $((i * 200)) ms later: '$st_a'")
			say "note: A said 'running' right after the migration (process state '$pst'), then '$st_a'"
			st_a="running->$st_a"
			;;
		*)
			fail_run "after the migration '$name' is still '$st_a' on A $((SECONDS - t0)) s later (its process was in state '$pst' right after)"
			status='still-on-a'
			;;
		esac
		;;
	esac

	# the downtime the target saw
	maxgap=
	if [ "$st_b" = running ]; then
		log_to b "$dest" "$WORK/log"
		n0=$(grep -c '^MAXGAP' "$WORK/log" || true)
		rb kill --signal USR2 "$dest" >/dev/null 2>&1 || true
		if wait_line b "$dest" '^MAXGAP' $((n0 + 1)) 10; then
			maxgap=$(awk '{ print $2 }' "$WORK/line")
		else
			fail_run "no MAXGAP from the target on B after SIGUSR2"
		fi
	fi

	# the raw TCP baseline, same bytes, same link, now
	if raw=$(raw_copy "$raw_mib"); then
		read -r raw_bytes raw_ns <<<"$raw"
	else
		fail_run "the raw TCP copy of $raw_mib MiB failed"
	fi
	ratio=
	[ -n "$total" ] && [ "$raw_ns" -gt 0 ] && ratio=$(awk -v t="$total" -v r="$raw_ns" 'BEGIN { printf "%.3f", t / r }')

	# verification on B
	verify=
	if [ "$st_b" = running ]; then
		rb kill --signal USR1 "$dest" >/dev/null 2>&1 || true
		if wait_line b "$dest" '^(PASS|FAIL)' 1 $((30 + size / 16)); then
			if grep -q '^PASS' "$WORK/log"; then
				verify=PASS
			else
				verify=FAIL
				status='verify-failed'
				fail_run "VERIFICATION FAILED on B: $(grep '^FAIL' "$WORK/log" | head -n5 | tr '\n' '|')"
			fi
		else
			verify=none
			fail_run "no PASS/FAIL from the target on B after SIGUSR1: $(tail -n3 "$WORK/log" | tr '\n' '|')"
		fi
		r_node b wait "$dest" >/dev/null 2>&1 || true
	fi
	drop b "$dest"
	[ "$st_a" = running ] && drop a "$name"

	say "$size MiB $mode run $run: total $(awk -v v="${total:-0}" 'BEGIN { printf "%.0f", v / 1e6 }') ms, downtime $(awk -v v="${down:-0}" 'BEGIN { printf "%.0f", v / 1e6 }') ms (target saw $(awk -v v="${maxgap:-0}" 'BEGIN { printf "%.0f", v / 1e3 }') ms), sent $(((${sent:-0}) >> 20)) MiB, rounds ${rounds:-?}, raw $((raw_ns / 1000000)) ms, verify ${verify:-?}"
	echo "$size,$mode,$run,$status,$total,$down,$pred,$maxgap,$sent,$fpages,$rounds,$conv,$rss,$raw_bytes,$raw_ns,$ratio,$fcap,$fpause,$fser,$fsend,$fkib,$restored,$st_b,$st_a,$verify" >>"$CSV.tmp"
}

T_START=$SECONDS
declare -A FAILS=()
for size in $SIZES; do
	n=$RUNS
	[ "$size" -ge 1024 ] && n=$RUNS_BIG
	for ((run = 1; run <= n; run++)); do
		for mode in $MODES; do
			# a configuration that failed twice is not tried again
			if [ "${FAILS[$size-$mode]:-0}" -ge 2 ]; then
				say "$size MiB $mode run $run: skipped (failed twice)"
				echo "$size,$mode,$run,skipped,,,,,,,,,,,,,,,,,,,," >>"$CSV.tmp"
				continue
			fi
			migrate_once
		done
	done
done

# streambench over loopback inside node A (the stream's ciphers)
STREAM_OUT=
if [ "$DO_STREAM" = 1 ] && [ -x "$STREAMBENCH" ]; then
	say "streambench (loopback in node A)"
	if [ "$QUICK" = 1 ]; then sb=(-t 64 -r 1); else sb=(-t 256 -r 3); fi
	if on_a timeout 300 "$STREAMBENCH" "${sb[@]}" >"$WORK/stream.out" 2>&1; then
		STREAM_OUT=$(cat "$WORK/stream.out")
	else
		say "streambench failed: $(tail -n3 "$WORK/stream.out" | tr '\n' '|')"
	fi
fi

mv "$CSV.tmp" "$CSV"

# ---- the table: medians of the good runs per size and mode ----
echo
echo "rtcr migrate over a veth link between two network namespaces: dirtytarget SIZE $PERCENT $PERIOD"
echo "(writes $PERCENT % of its pages every $PERIOD ms), precopy with --max-downtime $MAXDOWN;"
echo "medians of the runs that succeeded (kernel $(uname -r), $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ))"
echo
echo "| size | mode | runs ok | total ms | downtime ms (rtcr) | predicted ms | target max gap ms | final step ms | restore on B ms | sent MiB | rounds | converged | raw TCP ms | total/raw | stream MB/s | raw MB/s | verify on B |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
awk -F, -v sizes="$SIZES" -v modes="$MODES" '
function med(key,   n, i, j, t, a) {
	n = cnt[key]
	if (!n) return ""
	for (i = 1; i <= n; i++) a[i] = val[key, i]
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function add(k, v) { if (v != "") { cnt[k]++; val[k, cnt[k]] = v } }
function fmt(v, d) { return v == "" ? "-" : sprintf("%." d "f", v) }
NR == 1 { next }
{
	g = $1 SUBSEP $2; all[g]++
	if ($4 != "migrate-failed" && $4 != "skipped") { migr[g]++; if ($25 == "PASS") pass[g]++ }
	if ($4 != "ok") next
	ok[g]++
	add(g SUBSEP "total", $5 / 1e6); add(g SUBSEP "down", $6 / 1e6)
	if ($2 == "precopy") add(g SUBSEP "pred", $7 / 1e6)
	if ($8 != "") add(g SUBSEP "gap", $8 / 1e3)
	add(g SUBSEP "sent", $9 / 1048576); add(g SUBSEP "rounds", $11)
	if ($12 == "true") conv[g]++
	if ($15 > 0) { add(g SUBSEP "raw", $15 / 1e6); add(g SUBSEP "ratio", $16); add(g SUBSEP "rawmbs", $14 / 1e6 / ($15 / 1e9)) }
	if ($2 == "stop" && $20 > 0) add(g SUBSEP "smbs", $21 * 1024 / 1e6 / ($20 / 1e3))
	if ($22 != "") add(g SUBSEP "fin", $17 + $19 + $20)
	if ($22 != "") add(g SUBSEP "rest", $22 - $17 - $19 - $20)
}
END {
	ns = split(sizes, S, " "); nm = split(modes, M, " ")
	for (i = 1; i <= ns; i++) for (j = 1; j <= nm; j++) {
		g = S[i] SUBSEP M[j]
		if (!all[g]) continue
		printf "| %s MiB | %s | %d/%d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d/%d PASS |\n",
			S[i], M[j], ok[g], all[g], fmt(med(g SUBSEP "total"), 0), fmt(med(g SUBSEP "down"), 1),
			M[j] == "precopy" ? fmt(med(g SUBSEP "pred"), 1) : "-", fmt(med(g SUBSEP "gap"), 1),
			fmt(med(g SUBSEP "fin"), 1), fmt(med(g SUBSEP "rest"), 1),
			fmt(med(g SUBSEP "sent"), 1), fmt(med(g SUBSEP "rounds"), 0),
			M[j] == "precopy" ? (conv[g] + 0) "/" (ok[g] + 0) : "-",
			fmt(med(g SUBSEP "raw"), 0), fmt(med(g SUBSEP "ratio"), 2),
			M[j] == "stop" ? fmt(med(g SUBSEP "smbs"), 0) : "-", fmt(med(g SUBSEP "rawmbs"), 0),
			pass[g] + 0, migr[g] + 0
	}
}' "$CSV"
echo
cat <<EOF
total: rtcr migrate's total_ns. downtime (rtcr): from the pause until B confirmed that the
target runs. target max gap: the largest gap between two 1 ms CLOCK_REALTIME samples of the
target itself, from just before the migration until after it (on B). final step: capture +
serialize + send of the paused target's (last) pages, source side; restore on B: from the end
of that send until B said it had restored the target (both from the source's rtcr -v lines).
raw TCP: bench/tcpcopy of the target's resident size over the same link in the same run (until
the receiver closed). stream MB/s: stop mode's final step, its pages over its send time (sender
side): the encrypted stream over the veth link; raw MB/s: the raw copy's rate.
Per-run numbers: $CSV
EOF
if [ -n "$STREAM_OUT" ]; then
	echo
	echo "Encrypted stream vs raw TCP over LOOPBACK inside node A (bench/streambench, not the veth link):"
	echo
	echo '```'
	echo "$STREAM_OUT"
	echo '```'
fi
say "done in $((SECONDS - T_START)) s"

if [ ${#NOTES[@]} -gt 0 ]; then
	echo
	echo "Notes (${#NOTES[@]}):"
	printf -- '- %s\n' "${NOTES[@]}"
fi
if [ ${#ERRORS[@]} -gt 0 ]; then
	echo
	echo "FAILURES (${#ERRORS[@]}):"
	printf -- '- %s\n' "${ERRORS[@]}"
	exit 1
fi
