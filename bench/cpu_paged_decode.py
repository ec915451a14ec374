#!/usr/bin/env python3
"""CPU decode of a ragged batch through paged caches against the same
sequences one by one through contiguous caches (issue 10, items 2 and 6).

16 sequences of mixed lengths (seeded random positions in [64, --capacity),
one new token each, Hq=8, Hkv=2, D=64, f32, causal) decode one step:

- paged: one attn.decode over the whole batch, `positions` + `block_table`,
  page pools of --page-size slots holding just the pages the rows reach
  (shuffled, rows share none) plus 16 spare;
- contiguous batch: the same batch with `positions` over contiguous caches
  [16, Hkv, --capacity, D] (what paging costs or saves by itself);
- one by one: one step that runs 16 B=1 attn.decode ops in turn, each
  over its sequence's own contiguous cache of --capacity positions (what a
  server without ragged batching does in a step);
- one by one, each timed alone: the same B=1 decode run repeatedly per
  sequence, times summed; its cache (up to 4 MiB) stays hot in the core's
  caches across runs, which a real step does not get.

Both update their caches in place (inout buffers, as in a fused decode
step) and are timed with `attn-run --bench N` (median_us). Prints a markdown
table and appends it to bench/RESULTS.md with date, machine and command.

  bench/cpu_paged_decode.py [--capacity 4096] [--page-size 16] [--runs 20]
"""

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GEN = os.path.join(REPO, "test", "Integration", "lib", "gen_case.py")
BATCH = 16


def in_place(path):
    """The caches as inout buffers updated in place."""
    with open(path) as f:
        text = f.read()
    for index, name in ((1, "key_cache"), (2, "value_cache")):
        text = text.replace(
            f'{{attn.name = "{name}"}}',
            f'{{attn.name = "{name}", attn.tied_result = {index} : i64, '
            'bufferization.writable = true}')
    with open(path, "w") as f:
        f.write(text)


def generate(base, batch, positions, capacity, extra):
    subprocess.run([sys.executable, GEN, "--op", "decode", "--batch", str(batch),
                    "--q-heads", "8", "--kv-heads", "2", "--d", "64",
                    "--smax", str(capacity), "--sn", "1",
                    "--positions", ",".join(map(str, positions)), "--causal",
                    "--seed", "1", "--mlir", base + ".mlir", "--inputs", base + ".npz"]
                   + extra, check=True)
    in_place(base + ".mlir")


def one_by_one(base, work, positions, capacity):
    """One function running a B=1 decode per sequence in turn, each over its
    own contiguous caches (in place); inputs merged from B=1 cases."""
    f32 = lambda *shape: "tensor<" + "x".join(map(str, shape)) + "xf32>"
    q_t, k_t, c_t = f32(1, 8, 1, 64), f32(1, 2, 1, 64), f32(1, 2, capacity, 64)
    args, results, body, arrays = [], [], [], {}
    for i, pos in enumerate(positions):
        case = os.path.join(work, f"one{i}")
        generate(case, 1, [pos], capacity, [])
        with np.load(case + ".npz") as z:
            arrays.update({f"{name}_{i}": z[name] for name in z.files})
        for name, t in (("query", q_t), ("key", k_t), ("value", k_t)):
            args.append(f'%{name}_{i}: {t} {{attn.name = "{name}_{i}"}}')
        args.append(f'%positions_{i}: tensor<1xi64> {{attn.name = "positions_{i}"}}')
        for j, name in ((1, "key_cache"), (2, "value_cache")):
            args.append(f'%{name}_{i}: {c_t} {{attn.name = "{name}_{i}", '
                        f'attn.tied_result = {3 * i + j} : i64, bufferization.writable = true}}')
        results += [(f"out_{i}", q_t), (f"nk_{i}", c_t), (f"nv_{i}", c_t)]
        body.append(
            f"  %init_{i} = tensor.empty() : {q_t}\n"
            f"  %out_{i}, %nk_{i}, %nv_{i} = attn.decode heads(8, 2) scale(0.125) causal "
            f"ins(%query_{i}, %key_{i}, %value_{i} : {q_t}, {k_t}, {k_t}) "
            f"positions(%positions_{i} : tensor<1xi64>) "
            f"outs(%init_{i}, %key_cache_{i}, %value_cache_{i} : {q_t}, {c_t}, {c_t}) "
            f"-> {q_t}, {c_t}, {c_t}")
    text = (f"func.func @decode({', '.join(args)})\n    -> ("
            + ", ".join(f'{t} {{attn.name = "{n}"}}' for n, t in results) + ") {\n"
            + "\n".join(body) + f"\n  return {', '.join('%' + n for n, _ in results)} : "
            + ", ".join(t for _, t in results) + "\n}\n")
    with open(base + ".mlir", "w") as f:
        f.write(text)
    np.savez(base + ".npz", **arrays)


def median_us(bin_dir, so, npz, runs):
    out = subprocess.run([os.path.join(bin_dir, "attn-run"), so, "--inputs", npz,
                          "--bench", str(runs)],
                         check=True, capture_output=True, text=True).stdout
    return float(re.findall(r"median_us: ([0-9.]+)", out)[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--capacity", type=int, default=4096)
    p.add_argument("--page-size", type=int, default=16)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--bin-dir", default=os.path.join(REPO, "build", "bin"))
    p.add_argument("--results", default=os.path.join(REPO, "bench", "RESULTS.md"))
    p.add_argument("--no-append", action="store_true")
    args = p.parse_args()
    cap, ps = args.capacity, args.page_size
    positions = [int(x) for x in
                 np.random.default_rng(7).integers(64, cap, BATCH)]
    pages = sum(-(-(pos + 1) // ps) for pos in positions)
    compile_ = lambda base: subprocess.run(
        [os.path.join(args.bin_dir, "attn-compile"), base + ".mlir", "-o", base + ".so"],
        check=True)
    with tempfile.TemporaryDirectory() as work:
        paged = os.path.join(work, "paged")
        generate(paged, BATCH, positions, cap,
                 ["--page-size", str(ps), "--pool-pages", str(pages + 16)])
        compile_(paged)
        paged_us = median_us(args.bin_dir, paged + ".so", paged + ".npz", args.runs)
        print(f"paged batch of {BATCH}: {paged_us:.1f} us", flush=True)
        contiguous = os.path.join(work, "contiguous")
        generate(contiguous, BATCH, positions, cap, [])
        compile_(contiguous)
        contiguous_us = median_us(args.bin_dir, contiguous + ".so",
                                  contiguous + ".npz", args.runs)
        print(f"contiguous batch of {BATCH}: {contiguous_us:.1f} us", flush=True)
        serial = os.path.join(work, "serial")
        one_by_one(serial, work, positions, cap)
        compile_(serial)
        step_us = median_us(args.bin_dir, serial + ".so", serial + ".npz", args.runs)
        print(f"one by one in a step: {step_us:.1f} us", flush=True)
        single = os.path.join(work, "single")
        generate(single, 1, [positions[0]], cap, [])
        compile_(single)
        each = []
        for i, pos in enumerate(positions):
            base = os.path.join(work, f"seq{i}")
            generate(base, 1, [pos], cap, [])
            each.append(median_us(args.bin_dir, single + ".so", base + ".npz", args.runs))
        serial_us = sum(each)
        print(f"one by one: {serial_us:.1f} us", flush=True)
    keys = sum(pos + 1 for pos in positions)
    table = ["| form | median step (us) | keys read per step | pool / caches (MiB, K+V) |",
             "| --- | ---: | ---: | ---: |",
             f"| paged batch of {BATCH} (page size {ps}, {pages + 16} pages) | "
             f"{paged_us:.1f} | {keys} | {2 * (pages + 16) * 2 * ps * 64 * 4 / 2**20:.1f} |",
             f"| contiguous batch of {BATCH} (capacity {cap} each) | {contiguous_us:.1f} | "
             f"{keys} | {BATCH * 2 * 2 * cap * 64 * 4 / 2**20:.1f} |",
             f"| {BATCH} sequences one by one in a step (B=1 ops, capacity {cap} each) | "
             f"{step_us:.1f} | {keys} | {BATCH * 2 * 2 * cap * 64 * 4 / 2**20:.1f} |",
             f"| {BATCH} sequences one by one, each timed alone (cache kept hot; sum) | "
             f"{serial_us:.1f} | {keys} | {BATCH * 2 * 2 * cap * 64 * 4 / 2**20:.1f} |",
             f"| one by one in a step / paged batch | {step_us / paged_us:.2f}x | | |",
             f"| contiguous batch / paged batch | {contiguous_us / paged_us:.2f}x | | |"]
    text = "\n".join(table)
    print(text)
    if not args.no_append:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        with open(args.results, "a") as f:
            f.write(f"\n## CPU paged decode: a batch of {BATCH} mixed-length sequences vs one by one, "
                    f"Hq=8, Hkv=2, D=64, f32\n\n{stamp}, {platform.node()} ({os.cpu_count()} CPUs, "
                    f"shared with other jobs), `bench/cpu_paged_decode.py {' '.join(sys.argv[1:])}`; "
                    f"caches in place (inout). Positions {','.join(map(str, positions))}; one new "
                    f"token per sequence.\n\n{text}\n")


if __name__ == "__main__":
    main()
