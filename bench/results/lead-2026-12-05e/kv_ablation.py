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


def convert(w, calib, side: str):
    """share_kv_trained's `aligned+fit` with the merge kept on `side` only:
    the merged layer's K (and the Q maps) or V (and the O maps), the other
    side's original weights (export_trained_decoder.attend reads key and
    value heads by their own counts)."""
    merge = T.merge_layer

    def one_side(w_, L, h, q, n_new, method, weighted=True):
        merged, new = merge(w_, L, h, q, n_new, method, weighted), dict(L)
        if side in ("both", "keys"):
            new["wk"], new["wq"] = merged["wk"], merged["wq"]
        if side in ("both", "values"):
            new["wv"], new["wo"] = merged["wv"], merged["wo"]
        return new

    T.merge_layer = one_side
    try:
        return T.convert(w, calib, 1, "aligned+fit")
    finally:
        T.merge_layer = merge


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
