#!/bin/bash
# locks: POSIX record locks (a write lock, read locks on a range and up to
# EOF), an OFD lock and a flock survive checkpoint and restore: another
# process still sees each with its type, range and owner. The checkpoint
# leaves the locks of a running target alone; the image restores after the
# original was killed, the restored target checkpoints and restores again;
# a second restore while the locks are held is refused, naming the lock.
. "$(dirname "$0")/lib.sh"

# a0: checkpoint, then the original checks its locks
start a0 locks "$T/a.1" "$T/a.2"
wait_for a0 '^READY'
ckpt a0 "$T/img-a"
verify a0

# l0 -> (kill) -> l1 -> (kill) -> l2
start l0 locks "$T/f1" "$T/f2"
wait_for l0 '^READY'
ckpt l0 "$T/img1"
signal l0 KILL
expect_status l0 137
# restore with debug output (the supervisor's log in the run directory) to
# see that the restore went through the locks session (a regression that
# drops it from the registry fails here)
STARTED+=(l1)
RESTORED+=(l1)
note "+ rtcr -vv restore $T/img1 --name l1 --detach"
rc=0
rt -vv restore "$T/img1" --name l1 --detach >"$T/restore.out" 2>"$T/restore.err" || rc=$?
[ "$rc" = 0 ] || fail "rtcr restore $T/img1 --name l1 failed: $(why $rc "$T/restore.err")"
grep -Eq 'restore: pid [0-9]+: locks:' "$RTCR_RUNDIR/l1.log" ||
	fail "the restore did not go through the locks session (session_locks is not in src/sessions/registry.c)"
sleep 0.2
ckpt l1 "$T/img2"
signal l1 KILL
expect_status l1 137
restore "$T/img2" l2
sleep 0.2

# while l2 holds them, the locks cannot be taken again
rc=0
note "+ rtcr restore $T/img1 --name l3 --detach (must fail)"
rt restore "$T/img1" --name l3 --detach >"$T/bad.out" 2>"$T/bad.err" || rc=$?
if [ "$rc" = 0 ]; then
	STARTED+=(l3)
	fail "restore of img1 as l3 succeeded while l2 holds its locks"
fi
grep -Eq 'lock' "$T/bad.err" || fail "restore as l3: exit $rc, expected a lock conflict: $(cat "$T/bad.err")"
note "  refused: $(head -1 "$T/bad.err")"

verify l2
