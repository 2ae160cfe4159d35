#!/bin/bash
# creds: targets that do not run as full root come back with exactly their
# credentials: real/effective/saved/fs uid and gid, supplementary groups,
# the five capability sets, securebits and no_new_privs, per thread; and
# their rlimits. Each is started with setpriv (or changes its ids itself),
# its status lines (every thread) are recorded, it is checkpointed (a dry
# run first), killed and restored, twice in a row; the lines must be the
# same each time, and the target checks itself too (creds.c).
. "$(dirname "$0")/lib.sh"

command -v setpriv >/dev/null || skip "no setpriv (util-linux)"
# the targets run as other users: they must reach their binary
chmod 755 "$T" "$T/bin"
CREDS=$(tgt creds)

# The credential lines of /proc/PID/status of every thread of NAME.
cred_lines() {
	local pid task i=0
	pid=$(rt ps | awk -v n="$1" '$1 == n { print $2 }')
	[ -n "$pid" ] || fail "no pid for $1"
	# host tids differ after a restore (a new pid namespace): by position
	for task in $(ls /proc/"$pid"/task | sort -n); do
		task=/proc/$pid/task/$task
		echo "thread $((i++))"
		grep -E '^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' \
			"$task/status" || fail "cannot read $task/status"
	done
}

# one CASE: NAME, then the command line (setpriv ... creds ...)
one() {
	local name=$1 round prev cur
	shift
	note "== $name: $*"
	start "${name}0" "$@"
	wait_for "${name}0" '^READY'
	cred_lines "${name}0" >"$T/$name.0" || exit 1
	sed 's/^/  /' "$T/$name.0"
	must checkpoint "${name}0" --dry-run >/dev/null
	prev=${name}0
	for round in 1 2; do
		ckpt "$prev" "$T/img.$name.$round" --kill
		restore "$T/img.$name.$round" "$name$round"
		cur=$name$round
		wait_number "$cur" "$(($(last_number "$cur") + 3))"
		cred_lines "$cur" >"$T/$name.$round" || exit 1
		diff "$T/$name.0" "$T/$name.$round" >"$T/diff" ||
			fail "$name: credentials differ after restore $round: $(tr '\n' '|' <"$T/diff")"
		prev=$cur
	done
	verify "$prev"
}

# two halves (t_creds_more.sh runs the second), each well within a test's time
if [ "${CREDS_HALF:-1}" = 1 ]; then
one plain setpriv --reuid 65534 --regid 65534 --clear-groups "$CREDS" --rlimits --thread
one nocaps setpriv --bounding-set -all --inh-caps -all "$CREDS"
one ambient setpriv --reuid 1000 --regid 1000 --groups 1000,1001 \
	--inh-caps +net_bind_service --ambient-caps +net_bind_service "$CREDS" --thread
else
one split "$CREDS" --thread --split --rlimits
one secbits setpriv --securebits +noroot,+noroot_locked,+no_setuid_fixup,+keep_caps_locked \
	--inh-caps -all --bounding-set -all,+kill,+net_raw "$CREDS"
one nnp setpriv --no-new-privs --reuid 65534 --regid 65534 --clear-groups "$CREDS" --thread
fi
