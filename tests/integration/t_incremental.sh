#!/bin/bash
# incremental: dirty tracking (fault at 64K and 4K chunks, async) under the
# write patterns of the dirtier target (sequential sweep, random pages, one
# hot page, mmap/munmap/mremap/MADV_DONTNEED churn, brk growth, a fork in
# between): a full checkpoint, three incremental ones, each holding the
# chunks written and nothing unchanged beyond chunk rounding; then restore
# from the last link and from the merged chain, each verifying every byte.
# timeout: 180
. "$(dirname "$0")/lib.sh"

# cases: MODE TRACK GRAN(bytes, for the exactness check; 0: no check)
CASES=(
	"sweep fault:64K 65536"
	"random fault:4K 4096"
	"hot async 4096"
	"churn fault:64K 0"
	"brk async 0"
	"fork fault:16K 0"
)
i=0
for c in "${CASES[@]}"; do
	set -- $c
	mode=$1 track=$2 gran=$3
	i=$((i + 1))
	n=d$i
	note "== $mode with --track=$track"
	STARTED+=("$n")
	prog=$(tgt dirtier) || exit 1
	rt run --name "$n" --detach --track="$track" -- "$prog" "$mode" 16 "$i" >/dev/null 2>"$T/run.err" ||
		fail "rtcr run --track=$track failed: $(cat "$T/run.err")"
	wait_for "$n" '^READY' 20
	region=$(log "$n" | sed -n 's/^dirtier: .* MiB at \(0x[0-9a-f]*\),.*/\1/p' | head -1)
	[ -n "$region" ] || fail "$n did not say where its region is"
	rend=$(printf '0x%x' $((region + 16 * 1048576)))
	ckpt "$n" "$T/$n.0" --full
	for k in 1 2 3; do
		signal "$n" USR2
		wait_for "$n" "^DONE $k\$" 20
		ckpt "$n" "$T/$n.$k" --incremental --json
		grep -q '"incremental":true' "$T/ckpt.out" || fail "checkpoint $k of $n is not incremental: $(cat "$T/ckpt.out")"
		must show "$T/$n.$k" --json >"$T/show.json"
		if [ "$gran" != 0 ]; then
			log "$n" >"$T/log.$n"
			python3 "$TOP/tests/integration/inc_check.py" "$T/show.json" "$T/log.$n" "$k" \
				"$region" "$rend" "$gran" >"$T/check.out" ||
				fail "$n image $k: $(cat "$T/check.out")"
			sed 's/^/  /' "$T/check.out"
		fi
	done
	full=$(du -sk "$T/$n.0" | cut -f1)
	inc=$(du -sk "$T/$n.3" | cut -f1)
	note "  full image ${full} KiB, third incremental ${inc} KiB"
	[ "$mode" = churn ] || [ "$mode" = fork ] || [ "$inc" -lt "$full" ] ||
		fail "the incremental image ($inc KiB) is not smaller than the full one ($full KiB)"
	rt kill "$n" --signal KILL >/dev/null 2>&1
	status "$n" >/dev/null
	restore "$T/$n.3" "$n-r"
	verify "$n-r" 30
	must image merge "$T/$n.3" -o "$T/$n.m" >/dev/null
	must show "$T/$n.m" --json >"$T/show.json"
	grep -q '"parent_id":""' "$T/show.json" || grep -q '"parent_id":null' "$T/show.json" ||
		fail "the merged image still has a parent"
	restore "$T/$n.m" "$n-m"
	verify "$n-m" 30
done
