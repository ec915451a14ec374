#!/usr/bin/env python3
"""A decode session of an ORT GroupQueryAttention model with
local_window_size, compiled with attn-compile --window-ring-cache, against
onnxruntime running the same model with its full shared buffer.

The compiled step takes and returns ring caches of W = L + 1 slots
(L = local_window_size - 1, one new token per step); the caller feeds each
step's present_* back as the next past_*. Rows start at different positions
(a ragged batch, the later one with a prefilled history) and run for more
steps than W, so positions wrap the ring many times. Every step compares the
output and the ring's slots (position t in slot t % W, for the last W
positions of each row) with onnxruntime's; exits 1 on a mismatch.

  ring_gqa_session.py --work DIR [--steps N] [--attn-compile P] [--attn-run P]
"""

import argparse
import os
import subprocess
import sys

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "Import", "lib"))
from contrib_attention_cases import model, rand  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True)
    ap.add_argument("--steps", type=int, default=24)
    ap.add_argument("--window", type=int, default=4, help="local_window_size")
    ap.add_argument("--starts", default="0,6", help="first position of each row")
    ap.add_argument("--attn-compile", default="attn-compile")
    ap.add_argument("--attn-run", default="attn-run")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)

    starts = [int(x) for x in args.starts.split(",")]
    batch, heads, kv_heads, size = len(starts), 4, 2, 8
    capacity = max(starts) + args.steps  # ORT's shared buffer
    slots = args.window  # W = (window - 1) + 1 query
    rng = np.random.default_rng(11)

    zeros = np.zeros((batch, kv_heads, capacity, size), np.float32)
    inputs = [("query", rand(rng, (batch, 1, heads * size))),
              ("key", rand(rng, (batch, 1, kv_heads * size))),
              ("value", rand(rng, (batch, 1, kv_heads * size))),
              ("past_key", zeros), ("past_value", zeros),
              ("seqlens_k", np.zeros(batch, np.int32)),
              ("total_sequence_length", np.array(capacity, np.int32))]
    m = model("GroupQueryAttention", inputs,
              ["output", "present_key", "present_value"],
              dict(num_heads=heads, kv_num_heads=kv_heads,
                   local_window_size=args.window),
              constants=("total_sequence_length",))
    path = os.path.join(args.work, "gqa_window.onnx")
    import onnx
    onnx.save(m, path)
    library = os.path.join(args.work, "gqa_ring.so")
    subprocess.run([args.attn_compile, path, "--window-ring-cache", "-o",
                    library], check=True)
    session = ort.InferenceSession(m.SerializeToString(),
                                   providers=["CPUExecutionProvider"])

    # Histories before each row's start, in ORT's buffer and in the ring.
    full_k = rand(rng, (batch, kv_heads, capacity, size))
    full_v = rand(rng, (batch, kv_heads, capacity, size))
    ring_k = np.full((batch, kv_heads, slots, size), np.nan, np.float32)
    ring_v = ring_k.copy()
    for b, start in enumerate(starts):
        full_k[b, :, start:] = 0.0
        full_v[b, :, start:] = 0.0
        for t in range(max(0, start - slots), start):
            ring_k[b, :, t % slots] = full_k[b, :, t]
            ring_v[b, :, t % slots] = full_v[b, :, t]

    worst = 0.0
    for step in range(args.steps):
        pos = np.array([s + step for s in starts], np.int32)
        q = rand(rng, (batch, 1, heads * size))
        k = rand(rng, (batch, 1, kv_heads * size))
        v = rand(rng, (batch, 1, kv_heads * size))
        want, want_k, want_v = session.run(None, {
            "query": q, "key": k, "value": v, "past_key": full_k,
            "past_value": full_v, "seqlens_k": pos})
        feeds = os.path.join(args.work, "step.in.npz")
        outs = os.path.join(args.work, "step.out.npz")
        np.savez(feeds, query=q, key=k, value=v, past_key=ring_k,
                 past_value=ring_v, seqlens_k=pos)
        run = subprocess.run([args.attn_run, library, "--inputs", feeds,
                              "--outputs", outs], capture_output=True, text=True)
        if run.returncode != 0:
            print(f"FAIL step {step}: attn-run exited {run.returncode}\n"
                  + run.stdout + run.stderr)
            return 1
        got = np.load(outs)
        if got["present_key"].shape != (batch, kv_heads, slots, size):
            print(f"FAIL: present_key has shape {got['present_key'].shape}, "
                  f"expected a ring of {slots} slots")
            return 1
        err = float(np.abs(got["output"] - want).max())
        for b in range(batch):
            for t in range(max(0, pos[b] + 1 - slots), pos[b] + 1):
                err = max(err, float(np.abs(got["present_key"][b, :, t % slots]
                                            - want_k[b, :, t]).max()),
                          float(np.abs(got["present_value"][b, :, t % slots]
                                       - want_v[b, :, t]).max()))
        worst = max(worst, err)
        if not err <= 1e-5:
            print(f"FAIL step {step} (positions {pos.tolist()}): max error {err:.3g}")
            return 1
        full_k, full_v = want_k, want_v
        ring_k, ring_v = got["present_key"], got["present_value"]
    last = [s + args.steps - 1 for s in starts]
    print(f"PASS {args.steps} steps, ring of {slots} slots, last positions "
          f"{last}: max error {worst:.2g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
