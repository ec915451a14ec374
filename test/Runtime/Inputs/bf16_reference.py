"""bf16_reference.py make IN.npz | check IN.npz OUT.npz: f32 -> bf16 must
round to nearest even (ties included) and keep NaN, inf and signed zero."""
import sys

import numpy as np

if sys.argv[1] == "make":
    a = np.array([1.0, -2.5, 3.14159, 1.00390625, 1.01171875, 1.0 / 3, 0.1,
                  3.3895314e38, 3.4e38, -0.0, np.inf, -np.inf, np.nan, 7.0,
                  65504.0, -1e-3], np.float32)
    np.savez(sys.argv[2], a=a)
    sys.exit(0)

a = np.load(sys.argv[2])["a"]
out = np.load(sys.argv[3])
bits = a.view(np.uint32).astype(np.uint64)
want = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
nan = np.isnan(a)
got = out["bf16"]
assert got.dtype == np.uint16
assert np.array_equal(got[~nan], want[~nan]), (got, want)
assert ((got[nan] & 0x7F80) == 0x7F80).all() and (got[nan] & 0x7F).any()
back = (got.astype(np.uint32) << 16).view(np.float32)
assert np.array_equal(out["back"], back, equal_nan=True)
print("bf16 rounding: ok")
