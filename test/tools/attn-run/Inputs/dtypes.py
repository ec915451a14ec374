"""Inputs for Inputs/identity-dtypes.mlir, and a check that every output
equals its input bit for bit (bf16 travels as uint16 bits)."""
import sys

import numpy as np

rng = np.random.default_rng(7)
if sys.argv[1] == "make":
    np.savez_compressed(
        sys.argv[2],
        f32=rng.standard_normal((2, 3)).astype(np.float32),
        f16=rng.standard_normal(4).astype(np.float16),
        bf16=rng.integers(0, 2**16, (2, 2), dtype=np.uint16),
        f64=rng.standard_normal(3),
        i64=np.array(-(2**40), dtype=np.int64),
        i32=np.array([-7, 0, 2**31 - 1], dtype=np.int32),
        i16=np.array([-7, 0, 2**15 - 1], dtype=np.int16),
        i8=np.array([-128, 0, 127], dtype=np.int8),
        u8=np.array([0, 128, 255], dtype=np.uint8),
        mask=np.array([[True, False, True], [False, False, True]]))
    sys.exit(0)

inputs, outputs = np.load(sys.argv[2]), np.load(sys.argv[3])
for name in inputs.files:
    got, want = outputs["out_" + name], inputs[name]
    assert got.dtype == want.dtype and got.shape == want.shape, name
    assert got.tobytes() == want.tobytes(), name
    print(f"{name}: ok")
