#!/usr/bin/env python3
"""mla_check_decoder.py DIR: checks the MLA decoder that
tools/export/export_mla_decoder.py wrote to DIR, with attn-compile/attn-run
from PATH:

  step      one decode step matches ONNX Runtime's outputs (expected.npz);
  report    attn-compile's report lists each layer's attention (one line
            per op: op, heads, head dims, latent form if any);
  greedy    16 greedy steps, each a separate attn-run of the step model on
            the previous step's present caches (the latent caches are two
            tensors per layer, which in-place decode fusion cannot take yet,
            so attn-run --generate does not apply), give ORT's tokens and
            logits (generate16.npz).
  fused     the step compiled with --max-seq 64 (fused latent decode, in-place
            caches): attn-run --generate 16 gives the same tokens and logits.

Tolerance 1e-4 absolute. Prints one line per check; exits 1 on a failure."""

import json
import os
import subprocess
import sys

import numpy as np

ATOL = 1e-4


def run(args):
    p = subprocess.run(args, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(" ".join(args) + ":\n" + p.stderr[-600:])
    return p


def worst(got, want):
    err = 0.0
    for key in want:
        g, w = np.asarray(got[key], np.float64), np.asarray(want[key], np.float64)
        if g.shape != w.shape or np.isnan(g).any():
            return float("inf"), key
        err = max(err, float(np.abs(g - w).max()))
    return err, None


def main():
    d = sys.argv[1]
    model = os.path.join(d, "model.onnx")
    failures = 0

    run(["attn-run", model, "--inputs", os.path.join(d, "inputs.npz"),
         "--outputs", os.path.join(d, "step.npz"), "--cache-dir",
         os.path.join(d, "cache")])
    err, bad = worst(np.load(os.path.join(d, "step.npz")),
                     np.load(os.path.join(d, "expected.npz")))
    ok = err <= ATOL
    print(f"step: {'ok' if ok else 'FAIL'} (max abs err {err:.2g}"
          f"{', ' + bad if bad else ''})")
    failures += not ok

    report = os.path.join(d, "report.json")
    run(["attn-compile", model, "--no-fuse-decode", "--dim", "past=8",
         "--report", report, "-o", os.path.join(d, "step.so")])
    rep = json.load(open(report))
    for a in rep["attention"]:
        latent = a.get("latent")
        form = (f" latent(rank {latent['rank']}, rope {latent['rope_dim']})"
                if latent else "")
        print(f"report: {a['op']} heads({a['q_heads']}, {a['kv_heads']}) "
              f"head_dim {a['head_dim']} v_head_dim {a['v_head_dim']}{form}")
    print(f"report: kv_cache_bytes_per_token {rep['kv_cache_bytes_per_token']}")

    want = np.load(os.path.join(d, "generate16.npz"))
    step = dict(np.load(os.path.join(d, "inputs.npz")))
    tokens, logits = [], []
    for i in range(len(want["tokens"])):
        ins, outs = (os.path.join(d, f"g{i}.in.npz"),
                     os.path.join(d, f"g{i}.out.npz"))
        np.savez(ins, **step)
        run(["attn-run", model, "--inputs", ins, "--outputs", outs,
             "--cache-dir", os.path.join(d, "cache")])
        res = dict(np.load(outs))
        row = res["logits"].reshape(-1, res["logits"].shape[-1])[-1]
        tokens.append(int(row.argmax()))
        logits.append(row)
        for name, value in res.items():
            if name.startswith("present"):
                step["past" + name[len("present"):]] = value
        step["input_ids"] = np.full_like(step["input_ids"], tokens[-1])
        step["position_ids"] = step["position_ids"] + 1
    same = tokens == [int(t) for t in want["tokens"]]
    err, _ = worst({"logits": np.stack(logits)}, {"logits": want["logits"]})
    ok = same and err <= ATOL
    print(f"greedy: {'ok' if ok else 'FAIL'} ({len(tokens)} steps, tokens "
          f"{'equal' if same else 'differ'}, max abs logit err {err:.2g})")
    failures += not ok

    # Fused: attn-fuse-decode turns each absorbed layer into a latent
    # attn.decode with in-place latent and rotary caches, so attn-run
    # --generate runs the 16 steps in one process.
    fused_report = os.path.join(d, "fused-report.json")
    run(["attn-compile", model, "--max-seq", "64", "--report", fused_report,
         "-o", os.path.join(d, "fused.so")])
    for a in json.load(open(fused_report))["attention"]:
        print(f"fused: {a['op']} heads({a['q_heads']}, {a['kv_heads']}) "
              f"head_dim {a['head_dim']} v_head_dim {a['v_head_dim']} "
              f"latent {a['attributes'].get('latent')} "
              f"capacity {a.get('capacity')}")
    gen = os.path.join(d, "fused-generate.npz")
    run(["attn-run", model, "--inputs", os.path.join(d, "inputs.npz"),
         "--outputs", gen, "--generate", str(len(want["tokens"])),
         "--max-seq", "64", "--cache-dir", os.path.join(d, "cache")])
    got = np.load(gen)
    got_tokens = [int(t) for t in got["tokens"].ravel()]
    same = got_tokens == [int(t) for t in want["tokens"]]
    err, _ = worst({"logits": got["logits"].reshape(want["logits"].shape)},
                   {"logits": want["logits"]})
    ok = same and err <= ATOL
    print(f"fused greedy: {'ok' if ok else 'FAIL'} ({len(got_tokens)} steps, "
          f"tokens {'equal' if same else 'differ'}, max abs logit err "
          f"{err:.2g})")
    failures += not ok
    print(f"{failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
