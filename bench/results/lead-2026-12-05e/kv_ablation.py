#!/usr/bin/env python3
"""Where SmolLM2-135M's 3 -> 1 KV-head conversion loses: keys or values.

Issue 11 research probe (numpy, not a product path). Every layer is
converted with bench/share_kv_trained.py's `aligned` merge, then its O
projection refitted (`aligned+fit`), layer by layer on the converted model's
own activations, but only one side is shared:

  both   keys and values to one head (the real conversion);
  keys   keys to one head (Q maps folded), values keep their 3 heads;
  values values to one head (O maps folded), keys keep their 3 heads.

The attention then reads 1 key head and 3 value heads (or the reverse); each
query head takes key head h // (Hq / Hk) and value head h // (Hq / Hv).
Held-out KL and top-1 against the unconverted model, on bench/share_kv_methods.py's
data files (16 x 64 calibration tokens, 8 x 128 held-out).

  kv_ablation.py [--work /tmp/skr] [--sides both,keys,values] [--layers N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
sys.path.insert(0, os.path.join(ROOT, "tools", "export"))
import export_trained_decoder as E  # noqa: E402
import share_kv_trained as T  # noqa: E402
import share_kv_methods as M  # noqa: E402


def attend(q, k, v):
    """Causal attention whose key and value head counts may differ."""
    b, hq, s, d = q.shape
    rk, rv = hq // k.shape[1], hq // v.shape[1]
    mask = np.triu(np.full((s, s), -np.inf, np.float32), 1)
    out = np.empty_like(q)
    for i in range(b):
        for h in range(hq):
            sc = q[i, h] @ k[i, h // rk].T / np.float32(np.sqrt(d)) + mask
            sc = np.exp(sc - sc.max(-1, keepdims=True))
            out[i, h] = (sc / sc.sum(-1, keepdims=True)) @ v[i, h // rv]
    return out


E.attend = attend  # share_kv_trained and forward() call it through E


def convert(w, calib, side: str):
    wt = type(w).__new__(type(w))
    wt.__dict__.update(w.__dict__)
    wt.layers = []
    s = calib.shape[1]
    cos, sin = E.rope_tables(w.hd, w.theta, np.arange(s))
    cos, sin = cos[None, None], sin[None, None]
    x = w.embed[calib]
    for L in w.layers:
        h = E.rms(x, L["attn_norm"], w.eps)
        q, k, v = T.qkv(w, L, h, cos, sin)
        merged = T.merge_layer(w, L, h, q, 1, "aligned")
        new = dict(L)
        if side in ("both", "keys"):
            new["wk"], new["wq"] = merged["wk"], merged["wq"]
        if side in ("both", "values"):
            new["wv"], new["wo"] = merged["wv"], merged["wo"]
        target = T.attention_out(q, k, v, L["wo"])
        T.refit_output(w, new, h, target, cos, sin, ridge=0.1)
        x = T.mlp(w, new, x + T.attention_out(*T.qkv(w, new, h, cos, sin), new["wo"]))
        wt.layers.append(new)
    return wt


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/tmp/skr")
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/attn-mlir/weights"))
    ap.add_argument("--sides", default="both,keys,values")
    ap.add_argument("--layers", type=int)
    args = ap.parse_args()
    w = E.Weights(E.locate_gguf(args.cache), args.layers)
    calib, held, targets = M.load_data(args.work, w, 16, 64, 8, 128)
    ref_path = os.path.join(args.work, f"reference-{w.n_layer}-{held.shape[0]}x{held.shape[1]}.npy")
    ref = np.load(ref_path) if os.path.exists(ref_path) else E.forward(w, held)
    print("| shared to one head | KL nats/token | top-1 = original | ppl | s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for side in args.sides.split(","):
        t = time.time()
        wt = convert(w, calib, side)
        m = T.metrics(ref, E.forward(wt, held), targets)
        print(f"| {side} | {m['kl']:.3f} | {100 * m['top1']:.1f}% | {m['ppl']:.2f} "
              f"| {time.time() - t:.0f} |", flush=True)


if __name__ == "__main__":
    main()
