"""A one-layer random llama-style decoder for share-kv-aligned.test.

`make DIR`: the model (ONNX prefill form of tools/export/export_trained_decoder.py,
4 query / 2 KV heads of 8, RoPE), calibration and held-out token windows,
and the logits of bench/share_kv_trained.py's weight-level `aligned-pca`
conversion to one KV head (expected.npy) and of the unconverted model.
`check DIR`: compares attn-compile's `--share-kv-method=aligned` logits
(aligned.npz) with the prototype's.
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from random_decoder import E, T, random_weights, save  # noqa: E402

out = Path(sys.argv[2])


if sys.argv[1] == "make":
    rng = np.random.default_rng(0)
    w = random_weights(rng)
    s = 16
    calib = rng.integers(0, w.vocab, (8, s))
    held = rng.integers(0, w.vocab, (2, s))
    save(out, w, s, calib, held)
    np.save(out / "expected.npy", E.forward(T.convert(w, calib, 1, "aligned-pca"), held))
    np.save(out / "original.npy", E.forward(w, held))
else:
    expected = np.load(out / "expected.npy")
    original = np.load(out / "original.npy")
    got = np.load(out / "aligned.npz")["logits"]
    diff = float(np.abs(got - expected).max())
    scale = float(np.abs(expected).max())
    moved = float(np.abs(expected - original).max())
    print(f"max |compiler - prototype| {diff:.2e} (logits up to {scale:.2f}; "
          f"conversion moves them by up to {moved:.2f})")
    # f32 rounding of two different factorisations (Jacobi eigenvectors in
    # C++, LAPACK SVD in numpy) of the same subspaces: 1e-4 of the logits'
    # range; the conversion itself moves them a thousand times more.
    ok = diff <= 1e-4 * scale and moved > 100 * diff
    print("aligned matches the prototype" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)
