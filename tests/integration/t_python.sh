#!/bin/bash
# python3: a real interpreter (many shared libraries, a big heap) computing
# and printing its progress is checkpointed, killed, restored, counts on,
# and on SIGUSR1 verifies the state it built against a recomputation.
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3 || true)
[ -n "$PY" ] || skip "python3 is not installed"

cat >"$T/prog.py" <<'PYEOF'
import hashlib, signal, sys, time

flag = False
def on_usr1(sig, frame):
    global flag
    flag = True
signal.signal(signal.SIGUSR1, on_usr1)

squares = []            # i*i mod p for every step
buckets = {}            # i mod 997 -> sum of i
digest = hashlib.sha256()
text = []               # a growing string list
i = 0
while not flag:
    squares.append(i * i % 1000003)
    buckets[i % 997] = buckets.get(i % 997, 0) + i
    digest.update(str(i).encode())
    text.append("x%d" % i)
    print(i, flush=True)
    i += 1
    time.sleep(0.1)

n = i
ok = True
def check(cond, what):
    global ok
    if not cond:
        ok = False
        print("FAIL:", what, flush=True)
check(squares == [k * k % 1000003 for k in range(n)], "squares differ")
b = {}
for k in range(n):
    b[k % 997] = b.get(k % 997, 0) + k
check(buckets == b, "buckets differ")
d = hashlib.sha256()
for k in range(n):
    d.update(str(k).encode())
check(digest.hexdigest() == d.hexdigest(), "digest differs")
check("".join(text) == "".join("x%d" % k for k in range(n)), "text differs")
print("PASS" if ok else "FAIL: state check", flush=True)
sys.exit(0 if ok else 1)
PYEOF

start py0 "$PY" "$T/prog.py"
wait_for py0 '^10$' 30
counted_restore py0 "$T/img" py1 10 3
verify py1
