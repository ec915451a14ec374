"""Caches of a decode step in the full-rank latent layout of attn-share-kv-latent.

Without calibration, `--share-kv-method=latent` at full rank (rank = Hkv * Dv,
rope dim = Hkv * D) stores per token the value heads side by side as the
latent and the key heads side by side as the shared rotary key, in the
cache arguments that held K (now the latent) and V (now the rotary key).

  latent_full_rank.py inputs IN.npz OUT.npz
      past_key_i [B, Hkv, T, D] / past_value_i -> [B, 1, T, Hkv*Dv] / [B, 1, T, Hkv*D]
  latent_full_rank.py outputs LATENT.npz ORIGINAL.npz
      checks that LATENT's present caches are ORIGINAL's in that layout and
      its logits ORIGINAL's to 1e-4; prints "latent matches"
"""
import sys

import numpy as np


def side_by_side(x: np.ndarray) -> np.ndarray:
    b, h, t, d = x.shape
    return np.ascontiguousarray(x.transpose(0, 2, 1, 3).reshape(b, 1, t, h * d))


def convert(arrays: dict, prefix: str) -> dict:
    out = dict(arrays)
    for name in arrays:
        if name.startswith(prefix + "_key"):
            value = name.replace("_key", "_value", 1)
            out[name] = side_by_side(arrays[value])
            out[value] = side_by_side(arrays[name])
    return out


if sys.argv[1] == "inputs":
    np.savez(sys.argv[3], **convert(dict(np.load(sys.argv[2])), "past"))
else:
    got = dict(np.load(sys.argv[2]))
    want = convert(dict(np.load(sys.argv[3])), "present")
    bad = []
    for name, w in want.items():
        if name not in got or got[name].shape != w.shape:
            bad.append(f"{name}: shape {got.get(name, np.zeros(0)).shape} != {w.shape}")
        elif not np.allclose(got[name], w, atol=1e-4, rtol=1e-4):
            bad.append(f"{name}: max abs diff {np.abs(got[name] - w).max():.3e}")
    print("\n".join(bad) if bad else "latent matches")
