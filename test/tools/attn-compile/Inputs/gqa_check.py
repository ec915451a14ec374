"""Inputs and a float64 reference for Inputs/torch-mlir-gqa.mlir."""
import sys

import numpy as np


def reference(q, k, v, scale):
    group = q.shape[1] // k.shape[1]
    k = np.repeat(k.astype(np.float64), group, axis=1)
    v = np.repeat(v.astype(np.float64), group, axis=1)
    s = np.einsum("bhid,bhjd->bhij", q.astype(np.float64), k) * scale
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return np.einsum("bhij,bhjd->bhid", p, v)


if sys.argv[1] == "make":
    rng = np.random.default_rng(0)
    np.savez(sys.argv[2],
             input_0=rng.standard_normal((1, 8, 16, 8)).astype(np.float32),
             input_1=rng.standard_normal((1, 2, 16, 8)).astype(np.float32),
             input_2=rng.standard_normal((1, 2, 16, 8)).astype(np.float32))
else:
    d = np.load(sys.argv[2])
    out = np.load(sys.argv[3])["output_0"]
    ref = reference(d["input_0"], d["input_1"], d["input_2"], 0.353553385)
    err = np.abs(out - ref)
    ok = bool(np.all(err <= 1e-5 + 1e-3 * np.abs(ref)))
    print(f"max_abs_error {err.max():.3e}", "OK" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)
