#!/bin/bash
# privdirs: what rtcr writes goes only where nobody else can read or
# replace it. An image directory owned by another user, or writable by
# others, is refused before anything is captured (its files are never
# created); so is a run directory owned by another user or writable by
# others; a symlink planted as NAME.log in the run directory is not
# followed (the file it points to stays as it was).
. "$(dirname "$0")/lib.sh"

start p0 counter
wait_number p0 2

# an image directory that another user owns, and one that others can write
mkdir -p "$T/theirs" "$T/open"
chown 65534:65534 "$T/theirs"
chmod 0777 "$T/open"
for d in theirs open; do
	rc=0
	rt checkpoint p0 -o "$T/$d" --leave-running >"$T/out" 2>"$T/err" || rc=$?
	[ "$rc" = 1 ] || fail "checkpoint into $d: exit $rc, expected 1: $(cat "$T/err")"
	case $d in
	theirs) grep -q "belongs to uid 65534" "$T/err" || fail "no owner named: $(cat "$T/err")" ;;
	open) grep -q "writable by others (mode 777)" "$T/err" || fail "no mode named: $(cat "$T/err")" ;;
	esac
	[ -z "$(ls -A "$T/$d")" ] || fail "files were created in $d: $(ls -A "$T/$d")"
done
# a directory of our own still works, and leftover files are replaced
mkdir -m 0700 "$T/mine"
touch "$T/mine/.pages.img.tmp"
chmod 0666 "$T/mine/.pages.img.tmp"
ckpt p0 "$T/mine"
[ "$(stat -c %a "$T/mine/pages.img")" = 600 ] || fail "pages.img mode $(stat -c %a "$T/mine/pages.img"), expected 600"
[ "$(stat -c %a "$T/mine/rtcr.img")" = 600 ] || fail "rtcr.img mode $(stat -c %a "$T/mine/rtcr.img"), expected 600"

# run directories
mkdir -p "$T/run-theirs" "$T/run-open"
chown 65534:65534 "$T/run-theirs"
chmod 0777 "$T/run-open"
for d in run-theirs run-open; do
	rc=0
	RTCR_RUNDIR=$T/$d "$RTCR" ps >"$T/out" 2>"$T/err" || rc=$?
	[ "$rc" = 1 ] || fail "rtcr ps with RTCR_RUNDIR=$d: exit $rc, expected 1"
	grep -q "run directory $T/$d" "$T/err" || fail "run directory not named: $(cat "$T/err")"
done

# a planted NAME.log symlink
echo "victim" >"$T/victim"
ln -s "$T/victim" "$RTCR_RUNDIR/planted.log"
rc=0
rt run --name planted --detach -- "$TARGET_DIR/counter" >"$T/out" 2>"$T/err" || rc=$?
[ "$(cat "$T/victim")" = victim ] || fail "the victim file was changed through the planted log symlink"
if [ "$rc" = 0 ]; then
	rt kill planted --signal KILL >/dev/null 2>&1
	rt wait planted >/dev/null 2>&1
fi
signal p0 KILL
