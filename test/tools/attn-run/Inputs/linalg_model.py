"""Inputs and the numpy reference for Inputs/linalg-model.mlir.

  linalg_model.py make IN.npz
  linalg_model.py check IN.npz OUT.npz   (f32 tolerance: 1e-5 relative)
"""
import sys

import numpy as np

if sys.argv[1] == "make":
    rng = np.random.default_rng(42)
    np.savez(sys.argv[2],
             a=rng.standard_normal((64, 32)).astype(np.float32),
             b=rng.standard_normal((32, 48)).astype(np.float32),
             x=rng.uniform(-5, 5, 1000).astype(np.float32),
             input_ids=np.array([3, 1, 4, 1, 5], dtype=np.int64),
             offset=np.array(100, dtype=np.int64))
    sys.exit(0)

inputs, outputs = np.load(sys.argv[2]), np.load(sys.argv[3])
print("outputs:", " ".join(sorted(outputs.files)))
expected = {
    "product": inputs["a"].astype(np.float64) @ inputs["b"],
    "exp_x": np.exp(inputs["x"].astype(np.float64)),
    "shifted_ids": inputs["input_ids"] + inputs["offset"],
}
for name, want in expected.items():
    got = outputs[name]
    assert got.shape == want.shape, (name, got.shape)
    if want.dtype == np.int64:
        assert got.dtype == np.int64 and np.array_equal(got, want), name
    else:
        assert got.dtype == np.float32, (name, got.dtype)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    print(f"{name}: ok")
