#!/bin/bash
# ipc: System V shared memory (attached, marked for removal, unattached),
# semaphores, message queues and a POSIX message queue with a descriptor
# survive checkpoint, kill and restore, and a second checkpoint and restore
# of the restored target (see tests/targets/ipc.c). A target sees only its
# own IPC namespace: not an object of the host's (one is made here), and a
# target that made none has none after a restore.
. "$(dirname "$0")/lib.sh"

command -v ipcmk >/dev/null || skip "no ipcmk"
hostshm=$(ipcmk -M 4096 2>/dev/null | grep -Eo '[0-9]+$') || fail "ipcmk -M failed"
trap 'r=$?; ipcrm -m "$hostshm" 2>/dev/null; (exit $r); cleanup' EXIT

start i0 ipc
wait_for i0 '^READY'
ckpt i0 "$T/img1"
signal i0 KILL
expect_status i0 137
restore "$T/img1" i1
ckpt i1 "$T/img2"
verify i1
restore "$T/img2" i2
verify i2

start n0 ipc none
wait_for n0 '^READY'
ckpt n0 "$T/nimg" --kill
expect_status n0 137
restore "$T/nimg" n1
verify n1
