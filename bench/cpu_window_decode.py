#!/usr/bin/env python3
"""CPU decode with per-row positions and a sliding window: step time against
the window size.

A ragged batch (B=4 rows at positions near the end of a --smax cache, one
new token each, Hq=8, Hkv=2, D=64, f32, causal; caches updated in place as
inout buffers, as in a fused decode step) is compiled as attn.decode
with `positions` and `window(W - 1, 0)` for several W, and once without a
window, and timed with `attn-run --bench N` (median_us). With the window the
kernel visits only the W keys before each row's position, so the time should
grow with W and stay far below the windowless step on a long cache. Prints
a markdown table and appends it to bench/RESULTS.md with date, machine and
command.

  bench/cpu_window_decode.py [--smax 32768] [--windows 256,1024,4096] [--runs 20]
"""

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GEN = os.path.join(REPO, "test", "Integration", "lib", "gen_case.py")


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smax", type=int, default=32768)
    p.add_argument("--windows", default="256,1024,4096")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--bin-dir", default=os.path.join(REPO, "build", "bin"))
    p.add_argument("--results", default=os.path.join(REPO, "bench", "RESULTS.md"))
    p.add_argument("--no-append", action="store_true")
    args = p.parse_args()
    smax = args.smax
    positions = f"{smax - 1},{smax - 700},{smax // 2},{smax - 5000}"
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for window in [None] + [int(w) for w in args.windows.split(",")]:
            base = os.path.join(work, f"w{window}")
            gen = [sys.executable, GEN, "--op", "decode", "--batch", "4", "--q-heads", "8",
                   "--kv-heads", "2", "--d", "64", "--smax", str(smax), "--sn", "1",
                   "--positions", positions, "--causal", "--seed", "1",
                   "--mlir", base + ".mlir", "--inputs", base + ".npz"]
            if window:
                gen.append(f"--window={window - 1},0")
            subprocess.run(gen, check=True)
            # The caches as inout buffers updated in place (what a fused decode
            # step is): otherwise each step would copy both caches, O(cache).
            with open(base + ".mlir") as f:
                text = f.read()
            for index, name in ((1, "key_cache"), (2, "value_cache")):
                text = text.replace(
                    f'{{attn.name = "{name}"}}',
                    f'{{attn.name = "{name}", attn.tied_result = {index} : i64, '
                    'bufferization.writable = true}')
            with open(base + ".mlir", "w") as f:
                f.write(text)
            subprocess.run([os.path.join(args.bin_dir, "attn-compile"), base + ".mlir",
                            "-o", base + ".so"], check=True)
            out = subprocess.run([os.path.join(args.bin_dir, "attn-run"), base + ".so",
                                  "--inputs", base + ".npz", "--bench", str(args.runs)],
                                 check=True, capture_output=True, text=True).stdout
            us = float(re.findall(r"median_us: ([0-9.]+)", out)[-1])
            rows.append((window, us))
            print(f"window {window or 'none'}: {us:.1f} us", flush=True)
    base_us = rows[0][1]
    table = ["| window W | median step (us) | vs no window |", "| --- | --- | --- |"]
    for window, us in rows:
        table.append(f"| {window or 'none (whole prefix)'} | {us:.1f} | {us / base_us:.3f}x |")
    text = "\n".join(table)
    print(text)
    if not args.no_append:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        with open(args.results, "a") as f:
            f.write(f"\n## CPU decode with a sliding window: B=4 ragged rows, Hq=8, Hkv=2, D=64, f32, "
                    f"cache {smax}\n\n{stamp}, {platform.node()} ({os.cpu_count()} CPUs, shared "
                    f"with other jobs), `bench/cpu_window_decode.py {' '.join(sys.argv[1:])}`; caches in place "
                    f"(inout). "
                    f"Rows at positions {positions}; window W is `window(W - 1, 0)`.\n\n{text}\n")


if __name__ == "__main__":
    main()
