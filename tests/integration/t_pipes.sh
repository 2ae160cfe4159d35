#!/bin/bash
# pipes: pipes and FIFOs with data in flight (exact bytes, once), status
# flags, capacities, dup'd ends, a second read description, ends whose
# partner is closed (EPIPE, EOF), packet mode, a FIFO removed while open
# (made anew under a temporary name that must not be left behind). The checkpoint must not
# consume the data (the original passes after it); the image restores after
# the original was killed, the restored target checkpoints and restores
# again, and the first image restores a second time. Then what is refused:
# a FIFO that still holds data of another process, a FIFO that is gone or
# replaced, and at checkpoint O_ASYNC and unread packets.
. "$(dirname "$0")/lib.sh"

# a0: checkpoint, then the original checks its pipes: nothing was consumed
start a0 pipes "$T/a.fifo1" "$T/a.fifo2"
wait_for a0 '^READY'
ckpt a0 "$T/img-a"
verify a0

# p0 -> (kill) -> p1 -> (kill) -> p2
start p0 pipes "$T/fifo1" "$T/fifo2"
wait_for p0 '^READY'
ckpt p0 "$T/img1"
signal p0 KILL
expect_status p0 137
restore "$T/img1" p1
sleep 0.2
ckpt p1 "$T/img2"
signal p1 KILL
expect_status p1 137
restore "$T/img2" p2
sleep 0.2
verify p2
left=$(find "$T" -name '.rtcr-fifo-*')
[ -z "$left" ] || fail "temporary FIFOs left behind: $left"

# restore_fails NAME DIR REGEX: the restore is refused with a message
restore_fails() {
	local rc=0
	note "+ rtcr restore $2 --name $1 --detach (must fail)"
	rt restore "$2" --name "$1" --detach >"$T/bad.out" 2>"$T/bad.err" || rc=$?
	if [ "$rc" = 0 ]; then
		STARTED+=("$1")
		fail "restore of $2 as $1 succeeded"
	fi
	grep -Eq -- "$3" "$T/bad.err" || fail "restore of $2 as $1: exit $rc, expected /$3/: $(cat "$T/bad.err")"
	note "  refused: $(head -1 "$T/bad.err")"
}

# the first image once more; while p3 holds fifo1 with its data, a second
# copy would share (and refill) it: refused
restore "$T/img1" p3
restore_fails p4 "$T/img1" 'fifo1 already holds 2000 unread bytes'
verify p3

# the FIFO is gone, or no longer a FIFO
mv "$T/fifo2" "$T/fifo2.saved"
restore_fails p5 "$T/img1" 'fifo2: No such file'
touch "$T/fifo2"
restore_fails p6 "$T/img1" 'fifo2 changed since checkpoint \(it is no longer a FIFO\)'
mv -f "$T/fifo2.saved" "$T/fifo2"

# refused at checkpoint (also in a dry run), the target goes on
# refused_ckpt MODE REGEX
refused_ckpt() {
	local rc=0
	start "r-$1" pipes "$T/r-$1.fifo1" "$T/r-$1.fifo2" "$1"
	wait_for "r-$1" '^READY'
	note "+ rtcr checkpoint r-$1 --dry-run (must refuse)"
	rt checkpoint "r-$1" --dry-run >"$T/dry.out" 2>"$T/dry.err" || rc=$?
	[ "$rc" = 1 ] || fail "dry run of r-$1: exit $rc, expected 1: $(cat "$T/dry.out" "$T/dry.err")"
	grep -Eq -- "$2" "$T/dry.out" "$T/dry.err" || fail "dry run of r-$1 does not say /$2/: $(cat "$T/dry.out" "$T/dry.err")"
	rc=0
	rt checkpoint "r-$1" -o "$T/img-r-$1" >"$T/dry.out" 2>"$T/dry.err" || rc=$?
	[ "$rc" != 0 ] || fail "checkpoint of r-$1 succeeded"
	grep -Eq -- "$2" "$T/dry.err" || fail "checkpoint of r-$1 does not say /$2/: $(cat "$T/dry.err")"
	note "  refused: $(grep -m1 -E -- "$2" "$T/dry.err")"
	signal "r-$1" KILL
	expect_status "r-$1" 137
}
refused_ckpt async 'O_ASYNC'
refused_ckpt packet 'packet mode'
