#!/bin/bash
# events: eventfd, timerfd, signalfd, epoll and inotify descriptors survive
# checkpoint, kill and restore, and a second checkpoint and restore of the
# restored target (see tests/targets/events.c for what is checked).
. "$(dirname "$0")/lib.sh"

start e0 events "$T/watched"
wait_for e0 '^READY'
sleep 0.5
ckpt e0 "$T/img1"
signal e0 KILL
expect_status e0 137
restore_again "$T/img1" e1 "$T/img2" e2
