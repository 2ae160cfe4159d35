#!/bin/bash
# bad input: restoring a damaged image fails with "rtcr: error:" and a
# message naming the cause, and leaves nothing running. Each case works on a
# copy of a good counter image; the last ones on a file target whose input
# file was changed or deleted after the checkpoint.
. "$(dirname "$0")/lib.sh"

start c0 counter
wait_for c0 '^3$'
ckpt c0 "$T/good" --kill
status c0 >/dev/null
[ -s "$T/good/rtcr.img" ] && [ -s "$T/good/pages.img" ] || fail "no image files in $T/good: $(ls "$T/good")"
ps_before=$(rt ps 2>/dev/null | wc -l)

# bad_restore CASE DIR REGEX: restore must fail, naming the cause.
bad_restore() {
	local case=$1 dir=$2 re=$3 rc=0 i
	rt restore "$dir" --name "bad-$case" --detach >"$T/bad.out" 2>"$T/bad.err" || rc=$?
	if [ "$rc" = 0 ]; then
		STARTED+=("bad-$case")
		fail "$case: restore succeeded"
	fi
	case $rc in 124 | 137) fail "$case: restore $(why $rc /dev/null)" ;; esac
	grep -q '^rtcr: error:' "$T/bad.err" || fail "$case: exit $rc without 'rtcr: error:': $(cat "$T/bad.err")"
	grep -Eiq -- "$re" "$T/bad.err" || fail "$case: the message does not say /$re/: $(cat "$T/bad.err")"
	for ((i = 0; i < 30; i++)); do
		[ -z "$(stray_pids)" ] && break
		sleep 0.1
	done
	[ -z "$(stray_pids)" ] || fail "$case: processes left after the failed restore: $(ps -o pid,args -p "$(stray_pids | tr '\n' ,)")"
	[ "$(rt ps 2>/dev/null | wc -l)" = "$ps_before" ] || fail "$case: rtcr ps lists something new: $(rt ps)"
	note "$case: refused: $(grep -m1 '^rtcr: error:' "$T/bad.err")"
}
copy() {
	rm -rf "${T:?}/$1"
	cp -a "$T/good" "$T/$1"
	printf '%s\n' "$T/$1"
}
# flip FILE OFFSET: invert one byte.
flip() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	[ -n "$b" ] || fail "no byte at $2 in $1"
	printf "\\x$(printf %02x $((b ^ 0xff)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

d=$(copy trunc-meta)
truncate -s $(($(stat -c %s "$d/rtcr.img") / 2)) "$d/rtcr.img"
bad_restore truncated-rtcr.img "$d" 'truncat'

d=$(copy trunc-pages)
truncate -s $(($(stat -c %s "$d/pages.img") / 2)) "$d/pages.img"
bad_restore truncated-pages.img "$d" 'truncat|pages\.img.*end|end of pages\.img'

d=$(copy flipped)
flip "$d/pages.img" $((4096 + 100))
bad_restore flipped-page-byte "$d" 'checksum'

d=$(copy version)
printf '\x63\x00\x00\x00' | dd of="$d/rtcr.img" bs=1 seek=8 conv=notrunc status=none
bad_restore wrong-version "$d" 'version'

d=$(copy no-pages)
rm "$d/pages.img"
bad_restore missing-pages.img "$d" 'pages\.img'

bad_restore missing-dir "$T/no-such-image" "$T/no-such-image|No such file"

# The good image itself restores (the failures above came from the damage).
restore "$T/good" c1
wait_number c1 10
signal c1 KILL
expect_status c1 137

# A file target whose input file changed, then vanished.
in=$T/input.txt
head -c 2000 /dev/urandom | base64 -w 70 >"$in"
start f0 file "$in" "$T/output.txt"
wait_for f0 '^progress 70$'
ckpt f0 "$T/fimg" --kill
status f0 >/dev/null
ps_before=$(rt ps 2>/dev/null | wc -l)
echo "more bytes" >>"$in"
bad_restore changed-input "$T/fimg" "$in"
rm "$in"
bad_restore deleted-input "$T/fimg" "$in"
