#!/usr/bin/env python3
"""Runs random cases through attn-reference and checks it against another implementation.

Each case is a random gen_case.py configuration (head ratios, masks of every
rank with broadcast dims, causal offsets, softcap, key lengths, decode
positions, all three dtypes). By default the other side is numpy_reference.py:
both read the same rounded inputs and compute in double, so they must agree to
f32 output rounding (a cross-check of the oracle itself). With --compiled it is
attn-compile + attn-run, at the dtype's tolerance (see TOLERANCES).

  check_reference.py --cases 60 --seed 1 --workdir DIR [--compiled]
"""

import argparse
import os
import random
import shutil
import subprocess
import sys

import numpy as np

import compare
import gen_case
import numpy_reference


# (atol, rtol) of compiled code against the oracle, as in lit.local.cfg.
TOLERANCES = {"f32": (1e-5, 1e-3), "f16": (5e-3, 5e-3), "bf16": (2e-2, 2e-2)}


def mask_shape(rng, full):
    """Rank 2-4, any dimension but the key length (never broadcast) may be 1."""
    rank = rng.choice([2, 3, 4])
    dims = [1 if rng.random() < 0.3 else d for d in full[4 - rank:-1]]
    return "x".join(str(d) for d in dims + [full[-1]])


def random_case(rng, seed):
    """gen_case.py arguments of one random case."""
    hkv, group = rng.choice([(1, 1), (2, 1), (2, 2), (1, 3), (2, 8), (1, 4), (3, 3), (1, 71)])
    b = rng.choice([1, 2, 3])
    d = rng.choice([7, 16, 33])
    args = ["--batch", b, "--q-heads", hkv * group, "--kv-heads", hkv, "--d", d,
            "--dtype", rng.choice(["f32", "f16", "bf16"]), "--seed", seed]
    if rng.random() < 0.3:
        args += ["--dv", rng.choice([5, 16, 24])]
    if rng.random() < 0.3:
        args += ["--softcap", rng.choice([2.0, 5.0, 30.0]), "--scale", 1.0]
    decode = rng.random() < 0.35
    if decode:
        smax, sn = rng.choice([16, 64, 100]), rng.choice([1, 2, 5])
        sq = rng.choice([1, sn])
        keys = smax
        args += ["--op", "decode", "--smax", smax, "--sn", sn, "--sq", sq,
                 "--position", rng.randint(0, smax - sn)]
        if rng.random() < 0.5:
            args += ["--causal"]
        if rng.random() < 0.3:
            args += ["--poison-tail"]
    else:
        sq, keys = rng.choice([1, 2, 5, 17]), rng.choice([1, 7, 37, 100, 129])
        args += ["--sq", sq, "--skv", keys]
        if rng.random() < 0.5:
            args += ["--causal", rng.randint(0, keys)]
        if rng.random() < 0.3:
            args += ["--kv-lens", rng.choice(["i32", "i64"])]
    if rng.random() < 0.5:
        args += ["--mask", rng.choice(["bool", "additive"]),
                 "--mask-shape", mask_shape(rng, [b, hkv * group, sq, keys]),
                 "--mask-dtype", rng.choice(["f32", "f16"]),
                 "--masked-rows", rng.randint(0, min(2, sq))]
    # Serving forms, drawn last so that the cases above keep their numbers.
    if decode and rng.random() < 0.4:
        at = args.index("--position")
        del args[at:at + 2]
        args += ["--positions", ",".join(str(rng.randint(0, smax - sn)) for _ in range(b)),
                 "--positions-dtype", rng.choice(["i32", "i64"])]
    if rng.random() < 0.25:
        left, right = rng.choice([-1, 0, 3, 20]), rng.choice([-1, 0, 2])
        if left < 0 and right < 0:
            left = 5
        # One token: argparse would take "-1,0" for an option.
        args += [f"--window={left},{right}"]
    # Paged caches (with per-row positions): shuffled pages dividing smax.
    if "--positions" in args and rng.random() < 0.5:
        args += ["--page-size", rng.choice([p for p in (1, 2, 4, 8, 16) if smax % p == 0]),
                 "--table-dtype", rng.choice(["i32", "i64"])]
    return [str(a) for a in args]


def run_tool(command):
    """None on success, else the failure message."""
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        return f"{os.path.basename(command[0])} failed: " + run.stderr.strip()
    return None


def check_case(index, args, workdir, tools, compiled):
    cfg = gen_case.make_config(gen_case.parse_args(args))
    base = os.path.join(workdir, f"case{index}")
    gen_case.write_case(cfg, base + ".mlir", base + ".in.npz")
    error = run_tool([tools["attn-reference"], base + ".mlir", "--inputs", base + ".in.npz",
                      "--outputs", base + ".ref.npz"])
    if error:
        return False, error
    want = {k: v.astype(np.float32) for k, v in np.load(base + ".ref.npz").items()}
    atol, rtol = 1e-6, 1e-5
    if compiled:
        error = (run_tool([tools["attn-compile"], base + ".mlir", "-o", base + ".so"]) or
                 run_tool([tools["attn-run"], base + ".so", "--inputs", base + ".in.npz",
                           "--outputs", base + ".out.npz"]))
        if error:
            return False, error
        got = dict(np.load(base + ".out.npz"))
        atol, rtol = TOLERANCES[cfg["dtype"]]
    else:
        got, want = want, numpy_reference.evaluate(cfg, dict(np.load(base + ".in.npz")))
    ok, messages = set(got) == set(want), []
    for key in sorted(want):
        if key not in got:
            return False, f"{key} missing from the output"
        # Decode caches keep a poisoned (NaN) tail on both sides.
        key_ok, message = compare.compare_key(
            key, compare.as_float64(got[key]), want[key].astype(np.float32).astype(np.float64),
            atol=atol, rtol=rtol, equal_nan=True)
        ok &= key_ok
        messages.append(message)
    return ok, "; ".join(messages)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--compiled", action="store_true",
                        help="check attn-compile + attn-run against attn-reference")
    args = parser.parse_args()
    tools = {t: shutil.which(t) or t for t in ("attn-reference", "attn-compile", "attn-run")}
    os.makedirs(args.workdir, exist_ok=True)
    rng = random.Random(args.seed)
    failures = 0
    for index in range(args.cases):
        case = random_case(rng, args.seed * 1000 + index)
        ok, message = check_case(index, case, args.workdir, tools, args.compiled)
        failures += not ok
        print(f"case {index} {'ok' if ok else 'FAIL'}: gen_case.py {' '.join(case)}\n  {message}")
    print(f"{args.cases - failures}/{args.cases} cases agree")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
