# shellcheck shell=bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Two "nodes" on this machine, for migration tests: two network namespaces
# joined by a veth pair. Source it after lib.sh:
#
#     . "$(dirname "$0")/lib.sh"
#     . "$(dirname "$0")/netns.sh"
#     netns_setup                 # skips the test (exit 77) if it cannot
#     on_b python3 server.py &    # run commands in a node
#     on_a rtcr ...
#     netns_link_down; ...; netns_link_up
#
# netns_setup exports NODE_A_NS, NODE_B_NS (namespace names, rtcr-a-PID and
# rtcr-b-PID), NODE_A_IP, NODE_B_IP (a /30 of 169.254.0.0/16 chosen from the
# test's pid), NODE_A_DEV, NODE_B_DEV (the veth ends, one in each node) and
# NETNS_PREFIX (the prefix length, 30).
#
# Cleanup: the EXIT trap set by lib.sh is chained, not replaced: on exit,
# lib.sh's cleanup runs first (it kills the rtcr targets and checks that
# nothing is left, in a subshell so that it cannot end the shell), then
# netns_cleanup kills whatever still runs in the two namespaces (listing
# it) and deletes them, and the shell exits with lib.sh's status (1 if a
# namespace could not be deleted). netns_setup also deletes namespaces left
# by earlier runs that were killed without a chance to clean up (SIGKILL):
# rtcr-a-N / rtcr-b-N whose process N is gone.

# sourced twice: the trap is chained once
[ -n "${_NETNS_SOURCED:-}" ] && return 0
_NETNS_SOURCED=1

NODE_A_NS=
NODE_B_NS=
NODE_A_IP=
NODE_B_IP=
NODE_A_DEV=
NODE_B_DEV=
NETNS_PREFIX=30
_NETNS_CREATED=()

# Names in the namespace list (one per line, without the "(id: N)" part).
_netns_names() { ip netns list 2>/dev/null | awk '{ print $1 }'; }

# Kill every process in namespace $1 and delete it. Prints what it killed.
_netns_destroy() {
	local ns=$1 pids i
	pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
	if [ -n "${pids// /}" ]; then
		printf 'netns: killing what still runs in %s:\n' "$ns"
		# shellcheck disable=SC2086
		ps -o pid,ppid,stat,args -p "$(echo $pids | tr ' ' ,)" 2>/dev/null | sed 's/^/  /'
		echo "$pids" | xargs -r kill -9 2>/dev/null
		for ((i = 0; i < 50; i++)); do
			# zombies stay listed until reaped; they do not hold the name
			pids=$(ip netns pids "$ns" 2>/dev/null | while read -r p; do
				[ "$(ps -o stat= -p "$p" 2>/dev/null | cut -c1)" = Z ] || echo "$p"
			done)
			[ -z "$pids" ] && break
			sleep 0.1
		done
	fi
	ip netns del "$ns" 2>/dev/null
	! _netns_names | grep -qxF -- "$ns"
}

netns_cleanup() {
	local ns ok=0
	for ns in "${_NETNS_CREATED[@]}"; do
		if ! _netns_destroy "$ns"; then
			printf 'FAIL: netns: cannot delete namespace %s\n' "$ns"
			ok=1
		fi
	done
	_NETNS_CREATED=()
	return $ok
}

# The EXIT trap: the previous one (lib.sh's cleanup) in a subshell, then ours.
# (trap -p prints "trap -- 'COMMAND' EXIT"; parsed in a function so that
# the caller's positional parameters stay as they are)
# shellcheck disable=SC2120
_netns_prev_exit() {
	local p
	p=$(trap -p EXIT)
	_NETNS_PREV_EXIT=
	[ -n "$p" ] || return 0
	eval "set -- $p"
	_NETNS_PREV_EXIT=$3
}
_netns_prev_exit
_netns_on_exit() {
	local rc=$?
	trap - EXIT
	# a reader that went away (| head) must not stop the cleanup half way
	trap '' PIPE
	set +e
	if [ -n "$_NETNS_PREV_EXIT" ]; then
		(exit "$rc")
		(eval "$_NETNS_PREV_EXIT")
		rc=$?
	fi
	if ! netns_cleanup && [ "$rc" = 0 ]; then
		rc=1
	fi
	exit "$rc"
}
trap _netns_on_exit EXIT

# Namespaces left behind by runs that were killed outright.
_netns_reap_stale() {
	local ns pid
	for ns in $(_netns_names); do
		case $ns in
		rtcr-a-* | rtcr-b-*) pid=${ns#rtcr-?-} ;;
		*) continue ;;
		esac
		case $pid in
		'' | *[!0-9]*) continue ;;
		esac
		if [ "$pid" != "$$" ] && ! kill -0 "$pid" 2>/dev/null; then
			note "netns: deleting $ns, left by process $pid which is gone"
			_netns_destroy "$ns" >/dev/null
		fi
	done
}

# netns_reachable NS IP [TIMEOUT_S]: can NS open TCP connections to IP? A
# closed port answers with a reset ("refused") when the path works; no
# answer or "unreachable" means it does not. Uses bash's /dev/tcp: needs
# no ping and no listener.
netns_reachable() {
	local ns=$1 ip=$2 tmo=${3:-3} err rc=0
	err=$(ip netns exec "$ns" timeout -k 1 "$tmo" bash -c 'exec 3<>"/dev/tcp/$1/9"' _ "$ip" 2>&1) || rc=$?
	# something listens on port 9 (discard) and accepted: also reachable
	[ "$rc" = 0 ] && return 0
	case $err in
	*refused*) return 0 ;;
	esac
	return 1
}

netns_setup() {
	command -v ip >/dev/null 2>&1 || skip "no ip command (iproute2) for network namespaces"
	ip netns list >/dev/null 2>&1 || skip "ip netns does not work here"
	_netns_reap_stale

	local a=rtcr-a-$$ b=rtcr-b-$$ err
	local n=$(($$ % (254 * 64))) x k
	x=$((n / 64 + 1))
	k=$((n % 64))
	# 169.254.169.254 is the cloud metadata address: not that one
	if [ "$x" = 169 ] && [ "$k" = 63 ]; then k=62; fi

	if ! err=$(ip netns add "$a" 2>&1); then
		skip "cannot create a network namespace (needs CAP_NET_ADMIN): $err"
	fi
	_NETNS_CREATED+=("$a")
	err=$(ip netns add "$b" 2>&1) || fail "netns: ip netns add $b: $err"
	_NETNS_CREATED+=("$b")

	NODE_A_NS=$a
	NODE_B_NS=$b
	NODE_A_DEV=rtva$$
	NODE_B_DEV=rtvb$$
	NODE_A_IP=169.254.$x.$((4 * k + 1))
	NODE_B_IP=169.254.$x.$((4 * k + 2))
	export NODE_A_NS NODE_B_NS NODE_A_IP NODE_B_IP NODE_A_DEV NODE_B_DEV NETNS_PREFIX

	err=$(ip link add "$NODE_A_DEV" netns "$a" type veth peer name "$NODE_B_DEV" netns "$b" 2>&1) ||
		skip "cannot create a veth pair: $err"
	err=$({
		ip -n "$a" link set lo up &&
			ip -n "$b" link set lo up &&
			ip -n "$a" addr add "$NODE_A_IP/$NETNS_PREFIX" dev "$NODE_A_DEV" &&
			ip -n "$b" addr add "$NODE_B_IP/$NETNS_PREFIX" dev "$NODE_B_DEV" &&
			ip -n "$a" link set "$NODE_A_DEV" up &&
			ip -n "$b" link set "$NODE_B_DEV" up
	} 2>&1) || fail "netns: configuring the veth pair failed: $err"
	_netns_wait_up || fail "netns: the veth pair $NODE_A_DEV/$NODE_B_DEV did not come up"
	netns_check ||
		fail "netns: $NODE_A_NS ($NODE_A_IP) and $NODE_B_NS ($NODE_B_IP) cannot reach each other"
	note "netns: node A $NODE_A_NS $NODE_A_IP ($NODE_A_DEV), node B $NODE_B_NS $NODE_B_IP ($NODE_B_DEV)"
}

# Both ends up with carrier (LOWER_UP), within 5 s.
_netns_wait_up() {
	local i
	for ((i = 0; i < 50; i++)); do
		if ip -n "$NODE_A_NS" link show "$NODE_A_DEV" 2>/dev/null | grep -q 'LOWER_UP' &&
			ip -n "$NODE_B_NS" link show "$NODE_B_DEV" 2>/dev/null | grep -q 'LOWER_UP'; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# netns_check: A reaches B and B reaches A (ping when there is one, else TCP).
netns_check() {
	local i
	for ((i = 0; i < 3; i++)); do
		if command -v ping >/dev/null 2>&1; then
			on_a ping -c1 -W1 "$NODE_B_IP" >/dev/null 2>&1 &&
				on_b ping -c1 -W1 "$NODE_A_IP" >/dev/null 2>&1 && return 0
		else
			netns_reachable "$NODE_A_NS" "$NODE_B_IP" 2 &&
				netns_reachable "$NODE_B_NS" "$NODE_A_IP" 2 && return 0
		fi
		sleep 0.2
	done
	return 1
}

# on_a CMD [ARGS...] / on_b CMD [ARGS...]: run a command in a node.
on_a() { ip netns exec "$NODE_A_NS" "$@"; }
on_b() { ip netns exec "$NODE_B_NS" "$@"; }

# Cut the link between the nodes (both ends down) / restore it.
netns_link_down() {
	if ! ip -n "$NODE_A_NS" link set "$NODE_A_DEV" down ||
		! ip -n "$NODE_B_NS" link set "$NODE_B_DEV" down; then
		fail "netns: cannot set $NODE_A_DEV/$NODE_B_DEV down"
	fi
}
netns_link_up() {
	if ! ip -n "$NODE_A_NS" link set "$NODE_A_DEV" up ||
		! ip -n "$NODE_B_NS" link set "$NODE_B_DEV" up; then
		fail "netns: cannot set $NODE_A_DEV/$NODE_B_DEV up"
	fi
	_netns_wait_up || fail "netns: the link did not come back up"
}
