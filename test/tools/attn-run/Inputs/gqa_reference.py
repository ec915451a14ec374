"""gqa_reference.py make IN.npz | check IN.npz OUT.npz for
Inputs/gqa-attention.mlir: float64 numpy attention with repeat_kv and the
causal mask; the f32 result must agree within 1e-5."""
import sys

import numpy as np

if sys.argv[1] == "make":
    r = np.random.default_rng(0)
    np.savez(sys.argv[2],
             q=r.standard_normal((2, 8, 16, 32)).astype(np.float32),
             k=r.standard_normal((2, 2, 64, 32)).astype(np.float32),
             v=r.standard_normal((2, 2, 64, 32)).astype(np.float32))
    sys.exit(0)

inputs, out = np.load(sys.argv[2]), np.load(sys.argv[3])["out"]
q, k, v = (inputs[n].astype(np.float64) for n in "qkv")
k, v = np.repeat(k, 4, axis=1), np.repeat(v, 4, axis=1)
s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(32)
s[..., np.arange(64)[None, :] > np.arange(16)[:, None] + 48] = -np.inf
p = np.exp(s - s.max(-1, keepdims=True))
ref = (p / p.sum(-1, keepdims=True)) @ v
np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
print("attention matches numpy")
