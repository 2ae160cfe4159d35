#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Check the include graph between the parts of src/ (docs/design.md, "Parts").

Every "part/..." include of a file in src/ is an arrow from the file's part
to the included part. Prints each arrow that the table below does not
allow, and each cycle between parts; exits 1 if there is any. With
--graph, prints the arrows that exist (part -> parts).
"""
import os
import re
import sys

# part -> the parts it may include (base and the generated proto headers
# are allowed everywhere). Arrows go down this list, never up.
ALLOWED = {
    "cli": {"rtcr"},
    "api": {"rtcr", "control", "ckpt", "migrate", "image", "track", "mem", "core"},
    "control": {"rtcr", "ckpt", "migrate", "image", "track", "mem", "core"},
    "migrate": {"rtcr", "ckpt", "image", "track", "mem", "core"},
    "ckpt": {"rtcr", "sessions", "track", "image", "mem", "core"},
    "sessions": {"rtcr", "track", "image", "mem", "core"},
    "track": {"mem", "core"},
    "mem": {"image", "core"},
    "image": {"rtcr"},
    "core": {"rtcr"},
    "base": set(),
    "rtcr": set(),
}
FREE = {"base", "proto"}
INC = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def part_of(path):
    parts = path.split(os.sep)
    if parts[0] == "include":
        return "rtcr"
    return parts[1]


def main():
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.chdir(top)
    arrows = {}
    bad = []
    for root in ("src", "include/rtcr"):
        for d, _, files in os.walk(root):
            for f in sorted(files):
                if not f.endswith((".c", ".h")):
                    continue
                path = os.path.join(d, f)
                src = part_of(path)
                with open(path, encoding="utf-8") as fh:
                    text = fh.read()
                for inc in INC.findall(text):
                    dst = inc.split("/")[0] if "/" in inc else src
                    if dst == src or dst in FREE:
                        continue
                    arrows.setdefault(src, {}).setdefault(dst, []).append(path)
                    if src in ALLOWED and dst not in ALLOWED[src]:
                        bad.append(f"{path}: {src} -> {dst} ({inc}) is not allowed")
    if "--graph" in sys.argv:
        for s in sorted(arrows):
            print(f"{s} -> {' '.join(sorted(arrows[s]))}")
    # cycles between parts (depth-first search)
    cycles = []
    state = {}

    def visit(n, stack):
        state[n] = 1
        for m in sorted(arrows.get(n, {})):
            if state.get(m) == 1:
                cycles.append(stack[stack.index(m):] + [m] if m in stack else [n, m])
            elif not state.get(m):
                visit(m, stack + [m])
        state[n] = 2

    for n in sorted(arrows):
        if not state.get(n):
            visit(n, [n])
    for b in bad:
        print(b)
    for c in cycles:
        print("include cycle: " + " -> ".join(c))
    if bad or cycles:
        return 1
    print(f"layers: {sum(len(v) for v in arrows.values())} arrows between {len(arrows)} parts, "
          "no cycle, none against the table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
