#!/bin/bash
# epollshare: an epoll inherited by fork and modified by the child (it
# watches a descriptor only the child has, under a number that names
# another file in the parent), and a child's own epoll watching numbers
# the parent lacks: each entry is restored in the table its numbers are
# in; checkpoint, kill, restore twice, then epoll_wait in both processes.
. "$(dirname "$0")/lib.sh"

start t0 epollshare
wait_for t0 '^READY'
ckpt t0 "$T/img"
signal t0 KILL
restore_again "$T/img" t1 "$T/img2" t2 --kill
