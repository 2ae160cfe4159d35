#!/bin/bash
# pipeline: a shell running counter | cat | cat (three processes and the
# shell, two pipes with data in flight): checkpoint --kill, restore; the
# numbers that come out of the last cat go on exactly after the last one
# the original printed (nothing in flight lost or doubled); then again from
# the restored one.
. "$(dirname "$0")/lib.sh"

start p0 /bin/sh -c "'$(tgt counter)' 100000 20 | cat | cat"
wait_number p0 20
prev=p0
for gen in 1 2; do
	ckpt $prev "$T/img$gen" --kill
	expect_status $prev 137
	last=$(last_number $prev)
	restore "$T/img$gen" p$gen
	wait_number p$gen $((last + 20))
	check_consecutive p$gen $((last + 1)) $((last + 1))
	prev=p$gen
done
