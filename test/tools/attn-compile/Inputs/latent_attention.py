"""A GQA attention for share-kv-latent-calibrated.test, its data and checks.

`make DIR`: model.mlir (attn.attention heads(4, 2), head size 8, 24 keys,
causal) and two input sets whose keys are rotary-embedded (dims i, i + 4 a
plane turned by the position) with correlated heads: calib.npz and
test.npz. `compare A.npz B.npz TOL`: "equal" when out agrees to TOL,
else the max abs difference. `error A.npz B.npz`: relative RMS error.
"""
import sys
from pathlib import Path

import numpy as np

HQ, HKV, D, T = 4, 2, 8, 24
TYPE_Q = f"tensor<1x{HQ}x{T}x{D}xf32>"
TYPE_KV = f"tensor<1x{HKV}x{T}x{D}xf32>"
MODEL = f"""func.func @main(%q: {TYPE_Q} {{attn.name = "query"}},
                %k: {TYPE_KV} {{attn.name = "key"}},
                %v: {TYPE_KV} {{attn.name = "value"}}) -> ({TYPE_Q} {{attn.name = "out"}}) {{
  %o = tensor.empty() : {TYPE_Q}
  %r = attn.attention heads({HQ}, {HKV}) scale(0.35355339) causal(0) ins(%q, %k, %v : {TYPE_Q}, {TYPE_KV}, {TYPE_KV}) outs(%o : {TYPE_Q}) -> {TYPE_Q}
  return %r : {TYPE_Q}
}}
"""


def rotate(x):
    half = D // 2
    ang = np.arange(T)[:, None] / 10.0 ** (np.arange(half) / half)
    cos, sin = np.cos(ang), np.sin(ang)
    lo, hi = x[..., :half], x[..., half:]
    return np.concatenate([lo * cos - hi * sin, hi * cos + lo * sin], -1)


def inputs(rng):
    x = rng.standard_normal((1, T, 16))
    wk = rng.standard_normal((HKV, 16, D))
    wk[1] = 0.7 * wk[0] + 0.3 * wk[1]     # heads share most of their keys
    wv = rng.standard_normal((HKV, 16, D))
    wq = rng.standard_normal((HQ, 16, D))
    k = rotate(np.einsum("bts,gsd->bgtd", x, wk))
    q = rotate(np.einsum("bts,gsd->bgtd", x, wq))
    v = np.einsum("bts,gsd->bgtd", x, wv)
    return {"query": q.astype(np.float32), "key": k.astype(np.float32),
            "value": v.astype(np.float32)}


if sys.argv[1] == "make":
    out = Path(sys.argv[2])
    (out / "model.mlir").write_text(MODEL)
    np.savez(out / "calib.npz", **inputs(np.random.default_rng(1)))
    np.savez(out / "test.npz", **inputs(np.random.default_rng(2)))
else:
    a, b = np.load(sys.argv[2])["out"], np.load(sys.argv[3])["out"]
    if sys.argv[1] == "compare":
        err = np.abs(a - b).max()
        print("equal" if err <= float(sys.argv[4]) else f"max abs diff {err:.3e}")
    else:
        print(f"relative error {np.sqrt(((a - b) ** 2).sum() / (b ** 2).sum()):.3f}")
