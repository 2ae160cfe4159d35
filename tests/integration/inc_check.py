#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""inc_check.py SHOW_JSON LOG STEP REGION_START REGION_END GRAN

Checks an incremental image (rtcr show --json) against what the dirtier
target said it wrote in step STEP (its W/Z lines):
  - every written page is in the image (a run of the image itself) or in a
    chunk the image stores: nothing written is inherited from the parent;
  - inside the dirtier's region, the image stores no page outside the
    written chunks (GRAN-aligned): nothing unchanged beyond chunk rounding.
Exit 0 when both hold; prints what is wrong otherwise."""
import json
import sys

show, logf, step, rs, re_, gran = sys.argv[1:7]
step = int(step)
rs, re_, gran = int(rs, 16), int(re_, 16), int(gran)
img = json.load(open(show))
root = img["inventory"]["root_pid"]
runs = []
for r in img["pagemap"]["entries"]:
    if r["shmem_id"]:
        continue
    pid = r["pid"] or root
    if pid != root:
        continue
    a = int(r["addr"], 16)
    runs.append((a, a + r["npages"] * 4096))
runs.sort()
inherit = []
for p in img["processes"]:
    if p["pid"] == root:
        inherit = [(int(x["start"], 16), int(x["end"], 16)) for x in p["inherit"]]

written = []
cur = None
for line in open(logf):
    w = line.split()
    if not w:
        continue
    if w[0] == "STEP":
        cur = int(w[1])
    elif w[0] == "DONE":
        cur = None
    elif cur == step and w[0] in ("W", "Z"):
        a, b = w[1].split("-")
        written.append((int(a, 16), int(b, 16)))
if not written:
    print("no W/Z lines for step %d in %s" % (step, logf))
    sys.exit(1)


def overlaps(a, b, ranges):
    return any(s < b and a < e for s, e in ranges)


bad = 0
# 1. nothing written is inherited
for a, b in written:
    for pg in range(a, b, 4096):
        if overlaps(pg, pg + 4096, inherit):
            print("written page 0x%x is inherited from the parent image" % pg)
            bad += 1
            if bad > 10:
                sys.exit(1)
# 2. inside the region: stored pages lie in written chunks
chunks = set()
for a, b in written:
    for c in range(a // gran, (b - 1) // gran + 1):
        chunks.add(c)
extra = 0
for s, e in runs:
    for pg in range(max(s, rs), min(e, re_), 4096):
        if pg // gran not in chunks:
            extra += 1
stored = sum(max(0, min(e, re_) - max(s, rs)) for s, e in runs) // 4096
wpages = sum((b - a) // 4096 for a, b in written)
print("step %d: %d pages written, %d stored in the region, %d outside written chunks"
      % (step, wpages, stored, extra))
if extra:
    print("the image stores %d unchanged pages of the region beyond chunk rounding" % extra)
    bad += 1
sys.exit(1 if bad else 0)
