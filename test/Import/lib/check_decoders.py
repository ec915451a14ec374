#!/usr/bin/env python3
"""check_decoders.py DECODERS_DIR TMP_DIR: for every exported decoder in
DECODERS_DIR (see its README.md), with attn-compile/attn-run from PATH:

  step      one decode step (past bound from the inputs) matches ONNX Runtime's
            outputs to 1e-4;
  heads     the fused compile's report has every attention raised as
            attn.decode with the (query, KV) heads of heads.json;
  generate  attn-run --generate 16 gives ORT's greedy tokens, logits to 1e-4.

Prints one line per model and check; exits 1 if any check fails."""

import json
import os
import subprocess
import sys

import numpy as np

ATOL = 1e-4


def run(args):
    return subprocess.run(args, capture_output=True, text=True)


def close(got_path, want_path):
    got, want = np.load(got_path), np.load(want_path)
    worst = 0.0
    for key in want.files:
        if key not in got.files or got[key].shape != want[key].shape:
            return False, f"{key}: missing or shape {got[key].shape if key in got.files else None}"
        err = np.abs(got[key].astype(np.float64) - want[key].astype(np.float64))
        if np.isnan(got[key].astype(np.float64)).any() or err.max() > ATOL:
            return False, f"{key}: max abs err {err.max():.3g}"
        worst = max(worst, float(err.max()))
    return True, f"max abs err {worst:.2g}"


def main():
    root, tmp = sys.argv[1], sys.argv[2]
    heads = json.load(open(os.path.join(root, "heads.json")))
    failures = 0
    for name, (hq, hkv) in sorted(heads.items()):
        d, out = os.path.join(root, name), os.path.join(tmp, name)
        os.makedirs(out, exist_ok=True)
        model, inputs = os.path.join(d, "model.onnx"), os.path.join(d, "inputs.npz")

        p = run(["attn-run", model, "--inputs", inputs, "--outputs",
                 os.path.join(out, "step.npz")])
        ok, why = (close(os.path.join(out, "step.npz"),
                         os.path.join(d, "expected.npz"))
                   if p.returncode == 0 else (False, p.stderr.strip()[-300:]))
        print(f"{name} step: {'ok' if ok else 'FAIL'} ({why})")
        failures += not ok

        report = os.path.join(out, "report.json")
        p = run(["attn-compile", model, "--max-seq", "32",
                 "--input-shape", "input_ids=1x1", "--input-shape", "position_ids=1x1",
                 "--report", report, "-o", os.path.join(out, "fused.so")])
        if p.returncode == 0:
            ops = json.load(open(report))["attention"]
            found = [(a["op"], a["q_heads"], a["kv_heads"], a["fused_decode"]) for a in ops]
            ok = len(found) > 0 and all(f == ("attn.decode", hq, hkv, True) for f in found)
            why = f"{len(found)} x heads({hq}, {hkv}) fused" if ok else str(found)
        else:
            ok, why = False, p.stderr.strip()[-300:]
        print(f"{name} heads: {'ok' if ok else 'FAIL'} ({why})")
        failures += not ok

        gen = os.path.join(out, "generate.npz")
        p = run(["attn-run", model, "--inputs", inputs, "--generate", "16",
                 "--outputs", gen])
        ok, why = (close(gen, os.path.join(d, "generate16.npz"))
                   if p.returncode == 0 else (False, p.stderr.strip()[-300:]))
        print(f"{name} generate: {'ok' if ok else 'FAIL'} ({why})")
        failures += not ok
    print(f"{failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
