#!/usr/bin/env python3
"""Interleaved A/B timing of decode kernels: compiler variants on one case.

Two subcommands:

  bench/decode_ab.py [--dir DIR] case B HKV S DTYPE
      writes DIR (default /tmp/decode-ab)/decode_bB_hHKV_sS_DTYPE.{mlir,in.npz}: one attn.decode step
      as bench/cpu_decode.py builds it (Hq 32, D 128, f32 queries, a cache of
      S keys of DTYPE f32/f16/bf16, append at S-1), and prints the case name.

  bench/decode_ab.py [--dir DIR] ab [--fifo PRIORITY] CASE ROUNDS THREADS BENCH VARIANT...
      VARIANT is NAME=[COMPILER [FLAGS...]][;ENV:VAL,ENV:VAL...]: the case
      compiled by COMPILER (an attn-compile; default build/bin/attn-compile)
      with those flags and environment variables. Then ROUNDS rounds, each
      running every variant once with `attn-run --bench BENCH --threads
      THREADS` (interleaved, so a change of the machine's state hits all
      variants alike), and per variant the best and median CPU microseconds
      per step and thread (attn-run's cpu_us / THREADS), the best wall
      microseconds per step (min_us), and the ratios to the first variant's.
      With --fifo, every attn-run runs under `chrt -f PRIORITY` (SCHED_FIFO):
      on a loaded machine a timed run keeps its cores and loses only the
      memory bandwidth that other jobs take.

The CPU clock is the one to compare on a shared machine; the load average
over the rounds is printed with the results. Earlier RESULTS sections used
per-branch copies of this tool (bench/results/*/ab.py, mkcase.py, and the
SCHED_FIFO ones, ab_fifo.py and rtab2.py, that `--fifo` replaces; they are in
the git history).
"""
import argparse
import os
import re
import shlex
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import cpu_decode as cd  # noqa: E402  (the case format of the bench)


def write_case(b, hkv, s, dtype, directory):
    os.makedirs(directory, exist_ok=True)
    base = os.path.join(directory, f"decode_b{b}_h{hkv}_s{s}_{dtype}")
    with open(base + ".mlir", "w") as f:
        f.write(cd.MLIR.format(
            q=cd.tensor((b, cd.HQ, 1, cd.D), "f32"),
            new=cd.tensor((b, hkv, 1, cd.D), "f32"),
            cache=cd.tensor((b, hkv, s, cd.D), dtype), hq=cd.HQ, hkv=hkv,
            scale=1 / np.sqrt(cd.D)))
    if not os.path.exists(base + ".in.npz"):
        rng = np.random.default_rng(b * 1000003 + hkv * 101 + s)
        inputs = {
            "query": rng.standard_normal((b, cd.HQ, 1, cd.D), np.float32),
            "key": rng.standard_normal((b, hkv, 1, cd.D), np.float32),
            "value": rng.standard_normal((b, hkv, 1, cd.D), np.float32),
            "position": np.array(s - 1, np.int64),
            "key_cache": cd.cache_array(rng, (b, hkv, s, cd.D), dtype),
            "value_cache": cd.cache_array(rng, (b, hkv, s, cd.D), dtype),
        }
        np.savez(base + ".in.npz", **inputs)
    return os.path.basename(base)


def parse_variant(text, default_compiler):
    name, sep, rest = text.partition("=")
    if not sep or not name:
        sys.exit(f"decode_ab.py: variant '{text}' is not NAME=[COMPILER][;ENV:VAL,...]")
    command, _, envs = rest.partition(";")
    compiler = shlex.split(command) or [default_compiler]
    env = dict(os.environ)
    for item in filter(None, envs.split(",")):
        key, sep, value = item.partition(":")
        if not sep:
            sys.exit(f"decode_ab.py: '{item}' in variant '{name}' is not ENV:VAL")
        env[key] = value
    return name, compiler, env


def run_ab(args):
    base = os.path.join(args.dir, args.case)
    if not os.path.exists(base + ".mlir"):
        sys.exit(f"decode_ab.py: no case {base}.mlir (make it with 'case')")
    default_compiler = os.path.join(ROOT, "build", "bin", "attn-compile")
    runner = args.run or os.path.join(ROOT, "build", "bin", "attn-run")
    libraries = []
    for text in args.variants:
        name, compiler, env = parse_variant(text, default_compiler)
        so = f"{base}.{name}.so"
        subprocess.run(compiler + [base + ".mlir", "-o", so], env=env, check=True)
        libraries.append((name, so))
    times = {name: [] for name, _ in libraries}
    loads = [os.getloadavg()[0]]
    for _ in range(args.rounds):
        for name, so in libraries:
            out = subprocess.run(
                cd.fifo(args, [runner, so, "--inputs", base + ".in.npz", "--bench",
                               str(args.bench), "--threads", str(args.threads)]),
                capture_output=True, text=True, check=True).stdout
            cpu, wall = (re.search(rf"{key}:\s*(\S+)", out) for key in ("cpu_us", "min_us"))
            if not cpu or not wall:
                sys.exit(f"decode_ab.py: attn-run printed no cpu_us / min_us for {name}")
            times[name].append((float(cpu.group(1)) / args.threads, float(wall.group(1))))
        loads.append(os.getloadavg()[0])
    fifo = f" SCHED_FIFO {args.fifo}" if args.fifo else ""
    print(f"{args.case} threads {args.threads}{fifo} load {min(loads):.2f}..{max(loads):.2f}")
    first = None
    for name, values in times.items():
        cpu = sorted(v[0] for v in values)
        best, median, wall = cpu[0], cpu[len(cpu) // 2], min(v[1] for v in values)
        first = first or (best, wall)
        print(f"  {name:14s} CPU best {best:9.0f} median {median:9.0f} "
              f"({first[0] / best:5.3f}x of the first)  wall best {wall:9.0f} "
              f"({first[1] / wall:5.3f}x)  CPU all "
              + " ".join(f"{v[0]:.0f}" for v in values), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", default="/tmp/decode-ab",
                        help="where cases and libraries go (default /tmp/decode-ab)")
    sub = parser.add_subparsers(dest="command", required=True)
    case = sub.add_parser("case", help="write a decode case")
    case.add_argument("b", type=int)
    case.add_argument("hkv", type=int)
    case.add_argument("s", type=int)
    case.add_argument("dtype", choices=["f32", "f16", "bf16"])
    ab = sub.add_parser("ab", help="time compiler variants interleaved")
    ab.add_argument("case")
    ab.add_argument("rounds", type=int)
    ab.add_argument("threads", type=int)
    ab.add_argument("bench", type=int)
    ab.add_argument("variants", nargs="+")
    ab.add_argument("--run", help="attn-run to time with (default build/bin/attn-run)")
    ab.add_argument("--fifo", type=int, metavar="PRIORITY",
                    help="run every attn-run under `chrt -f PRIORITY` (SCHED_FIFO)")
    args = parser.parse_args()
    if args.command == "case":
        print(write_case(args.b, args.hkv, args.s, args.dtype, args.dir))
    else:
        run_ab(args)


if __name__ == "__main__":
    main()
