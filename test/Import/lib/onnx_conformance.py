#!/usr/bin/env python3
"""Runs ONNX backend-test cases (model.onnx + test_data_set_*/) through
attn-run and compares with the stored outputs.

  onnx_conformance.py CASE_DIR... [--work DIR] [--attn-run PATH]
                      [--rtol-f32 1e-3 --atol-f32 1e-5 --tol-f16 5e-3
                       --tol-bf16 2e-2]

Inputs are converted from input_N.pb to an .npz keyed by the graph's input
names; outputs are compared by the graph's output names with
|actual - expected| <= atol + rtol * |expected|. NaN must match NaN (ONNX's
reference gives NaN where every key of a row is masked; we give 0, so such
elements are reported separately and count as a failure unless
--allow-nan-rows). Prints one line per case and a PASS/FAIL count; exits 1
if any case fails.
"""

import argparse
import glob
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def load_case(case_dir):
    model = onnx.load(os.path.join(case_dir, "model.onnx"),
                      load_external_data=False)
    inits = {i.name for i in model.graph.initializer}
    in_names = [i.name for i in model.graph.input if i.name not in inits]
    out_names = [o.name for o in model.graph.output]
    data_dir = sorted(glob.glob(os.path.join(case_dir, "test_data_set_*")))[0]

    def read(prefix, names):
        arrays = {}
        for i, name in enumerate(names):
            path = os.path.join(data_dir, f"{prefix}_{i}.pb")
            if not os.path.exists(path):
                continue
            t = onnx.TensorProto()
            with open(path, "rb") as f:
                t.ParseFromString(f.read())
            arrays[t.name or name] = numpy_helper.to_array(t)
        return arrays

    return read("input", in_names), read("output", out_names)


def compare(actual, expected, rtol, atol):
    """Returns (ok, worst abs error, message)."""
    if actual.shape != expected.shape:
        return False, float("inf"), f"shape {actual.shape} != {expected.shape}"
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    nan_e = np.isnan(e)
    nan_a = np.isnan(a)
    if (nan_a & ~nan_e).any():
        return False, float("inf"), "NaN where the reference has a number"
    both = ~nan_e
    err = np.abs(a - e)
    err[~both] = 0
    bad = err > atol + rtol * np.abs(np.where(both, e, 0))
    worst = float(err.max()) if err.size else 0.0
    msg = f"max abs err {worst:.3g}"
    if nan_e.any():
        msg += f", {int(nan_e.sum())} reference NaNs (fully masked rows)"
    return not bad.any(), worst, msg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cases", nargs="*")
    ap.add_argument("--suite", action="append", default=[],
                    help="a directory whose subdirectories are cases")
    ap.add_argument("--work", default=None)
    ap.add_argument("--attn-run", default="attn-run")
    ap.add_argument("--rtol-f32", type=float, default=1e-3)
    ap.add_argument("--atol-f32", type=float, default=1e-5)
    ap.add_argument("--tol-f16", type=float, default=5e-3)
    ap.add_argument("--tol-bf16", type=float, default=2e-2)
    ap.add_argument("--allow-nan-rows", action="store_true",
                    help="accept any value where the reference is NaN")
    args = ap.parse_args()
    for suite in args.suite:
        args.cases += sorted(os.path.join(suite, d) for d in os.listdir(suite)
                             if os.path.isdir(os.path.join(suite, d)))
    if not args.cases:
        ap.error("no cases")
    work = args.work or os.environ.get("TMPDIR", "/tmp")
    os.makedirs(work, exist_ok=True)
    failed = 0
    for case in args.cases:
        name = os.path.basename(os.path.normpath(case))
        try:
            inputs, expected = load_case(case)
        except Exception as e:  # sequences, optionals, strings...
            print(f"FAIL {name}: cannot read the test data: {e}")
            failed += 1
            continue
        in_path = os.path.join(work, name + ".in.npz")
        out_path = os.path.join(work, name + ".out.npz")
        np.savez(in_path, **inputs)
        if os.path.exists(out_path):
            os.remove(out_path)
        proc = subprocess.run(
            [args.attn_run, os.path.join(case, "model.onnx"), "--inputs",
             in_path, "--outputs", out_path],
            capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"FAIL {name}: attn-run exited {proc.returncode}\n"
                  + proc.stdout + proc.stderr)
            failed += 1
            continue
        got = np.load(out_path)
        ok_all, notes = True, []
        for key, exp in expected.items():
            if key not in got:
                ok_all = False
                notes.append(f"{key}: missing")
                continue
            actual = got[key]
            bf16 = exp.dtype.name == "bfloat16"
            if bf16 and actual.dtype == np.uint16:
                # attn-run writes bf16 as its bits ('<u2').
                actual = actual.view(exp.dtype)
            tol = (args.tol_bf16 if bf16 else
                   args.tol_f16 if exp.dtype == np.float16 else None)
            rtol = tol if tol is not None else args.rtol_f32
            atol = tol if tol is not None else args.atol_f32
            ok, _, msg = compare(actual, exp, rtol, atol)
            if np.isnan(exp.astype(np.float64)).any() and not args.allow_nan_rows:
                ok = False
                msg += " (NaN in the reference)"
            ok_all &= ok
            notes.append(f"{key}: {msg}")
        print(("PASS " if ok_all else "FAIL ") + name + ": " + "; ".join(notes))
        failed += not ok_all
    total = len(args.cases)
    print(f"{total - failed}/{total} passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
