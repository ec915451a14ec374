#!/usr/bin/env python3
"""Interleaved A/B timing of decode kernels: compiler variants on one case.

Two subcommands:

  bench/decode_ab.py [--dir DIR] case B HKV S DTYPE
      writes DIR (default /tmp/decode-ab)/decode_bB_hHKV_sS_DTYPE.{mlir,in.npz}: one attn.decode step
      as bench/cpu_decode.py builds it (Hq 32, D 128, f32 queries, a cache of
      S keys of DTYPE f32/f16/bf16, append at S-1), and prints the case name.

  bench/decode_ab.py [--dir DIR] ab CASE ROUNDS THREADS BENCH VARIANT...
      VARIANT is NAME=[COMPILER][;ENV:VAL,ENV:VAL...]: the case compiled by
      COMPILER (an attn-compile; default build/bin/attn-compile) with those
      environment variables set. Then ROUNDS rounds, each running every
      variant once with `attn-run --bench BENCH --threads THREADS`
      (interleaved, so a change of the machine's state hits all variants
      alike), and per variant the best and median CPU microseconds per step
      and thread (attn-run's cpu_us / THREADS) and the ratio of its best to
      the first variant's.

The CPU clock is the one to compare on a shared machine; the load average
over the rounds is printed with the results. Earlier RESULTS sections used
per-branch copies of this tool (bench/results/*/ab.py, mkcase.py).
"""
import argparse
import os
import re
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
    compiler, _, envs = rest.partition(";")
    env = dict(os.environ)
    for item in filter(None, envs.split(",")):
        key, sep, value = item.partition(":")
        if not sep:
            sys.exit(f"decode_ab.py: '{item}' in variant '{name}' is not ENV:VAL")
        env[key] = value
    return name, compiler or default_compiler, env


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
        subprocess.run([compiler, base + ".mlir", "-o", so], env=env, check=True)
        libraries.append((name, so))
    times = {name: [] for name, _ in libraries}
    loads = [os.getloadavg()[0]]
    for _ in range(args.rounds):
        for name, so in libraries:
            out = subprocess.run(
                [runner, so, "--inputs", base + ".in.npz", "--bench",
                 str(args.bench), "--threads", str(args.threads)],
                capture_output=True, text=True, check=True).stdout
            found = re.search(r"cpu_us:\s*(\S+)", out)
            if not found:
                sys.exit(f"decode_ab.py: attn-run printed no cpu_us for {name}")
            times[name].append(float(found.group(1)) / args.threads)
        loads.append(os.getloadavg()[0])
    print(f"{args.case} threads {args.threads} load {min(loads):.2f}..{max(loads):.2f}")
    first = None
    for name, values in times.items():
        best, median = min(values), sorted(values)[len(values) // 2]
        first = first or best
        print(f"  {name:14s} best {best:9.0f} median {median:9.0f} "
              f"({first / best:5.3f}x of the first)  all "
              + " ".join(f"{v:.0f}" for v in values), flush=True)


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
    args = parser.parse_args()
    if args.command == "case":
        print(write_case(args.b, args.hkv, args.s, args.dtype, args.dir))
    else:
        run_ab(args)


if __name__ == "__main__":
    main()
