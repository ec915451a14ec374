#!/usr/bin/env python3
"""loop_divs.py LIB.so...: for each innermost loop of decode..omp_par* (a backward jump whose
range holds no other backward jump) print its size and what it holds: integer divides, vector
FMAs, f16 / bf16 widenings, prefetches, and cache loads by base register and displacement order."""
import re, subprocess, sys

for so in sys.argv[1:]:
    text = subprocess.run(["objdump", "-d", "--no-show-raw-insn", so], capture_output=True,
                          text=True).stdout
    insns, cur = [], None
    for line in text.splitlines():
        m = re.match(r"^[0-9a-f]+ <(.+)>:", line)
        if m:
            cur = m.group(1)
            continue
        m = re.match(r"^\s+([0-9a-f]+):\s+(\S+)\s*(.*)", line)
        if m and cur and cur.startswith("decode..omp_par"):
            insns.append((int(m.group(1), 16), m.group(2), m.group(3)))
    addr = [a for a, _, _ in insns]
    loops = []
    for i, (a, op, arg) in enumerate(insns):
        m = re.match(r"([0-9a-f]+) <", arg)
        if op.startswith("j") and m and int(m.group(1), 16) < a:
            loops.append((int(m.group(1), 16), a))
    inner = [l for l in loops if not any(o != l and l[0] <= o[0] and o[1] <= l[1] for o in loops)]
    print(so)
    for lo, hi in inner:
        body = [x for x in insns if lo <= x[0] <= hi]
        count = lambda pat: sum(1 for _, op, _ in body if re.fullmatch(pat, op))
        fma, pf = count(r"vfmadd\d+ps"), count(r"prefetcht\d")
        if fma < 4:
            continue
        print(f"  loop {lo:x}-{hi:x}: {len(body)} insns, div {count(r'div[lq]?')}, fma {fma}, "
              f"cvtph2ps {count(r'vcvtph2psx?')}, bf16 shift/and {count(r'vpslld|vpandq|vpandd')}, "
              f"prefetch {pf}, cmov {count('cmov[a-z]+')}")
