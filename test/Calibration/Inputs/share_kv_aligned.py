"""A one-layer random llama-style decoder for share-kv-aligned.test.

`make DIR`: the model (ONNX prefill form of tools/export/export_trained_decoder.py,
4 query / 2 KV heads of 8, RoPE), calibration and held-out token windows,
and the logits of bench/share_kv_trained.py's weight-level `aligned-pca`
conversion to one KV head (expected.npy) and of the unconverted model.
`check DIR`: compares attn-compile's `--share-kv-method=aligned` logits
(aligned.npz) with the prototype's.
"""
import sys
import types
from pathlib import Path

import numpy as np

root = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(root / "bench"))
sys.path.insert(0, str(root / "tools" / "export"))
import export_trained_decoder as E  # noqa: E402
import share_kv_trained as T  # noqa: E402

out = Path(sys.argv[2])


def random_weights(rng):
    d, hq, hkv, hd, mlp, vocab = 32, 4, 2, 8, 48, 40
    w = types.SimpleNamespace(n_layer=1, d=d, n_head=hq, n_kv=hkv, hd=hd, mlp=mlp,
                              eps=1e-5, theta=10000.0, vocab=vocab)

    def mat(rows, cols):
        return (rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np.float32)

    w.embed = rng.standard_normal((vocab, d)).astype(np.float32)
    w.lm_head = mat(vocab, d)
    w.final_norm = np.ones(d, np.float32)
    # KV head 1 partly shares head 0's directions, as trained heads do.
    wk = mat(hkv * hd, d)
    wk[hd:] = 0.6 * wk[:hd] + 0.8 * wk[hd:]
    w.layers = [{
        "attn_norm": (1 + 0.1 * rng.standard_normal(d)).astype(np.float32),
        "wq": mat(hq * hd, d) * 2, "wk": wk * 2, "wv": mat(hkv * hd, d),
        "wo": mat(d, hq * hd), "ffn_norm": np.ones(d, np.float32),
        "w_gate": mat(mlp, d), "w_up": mat(mlp, d), "w_down": mat(d, mlp),
    }]
    return w


if sys.argv[1] == "make":
    rng = np.random.default_rng(0)
    w = random_weights(rng)
    s = 16
    calib = rng.integers(0, w.vocab, (8, s))
    held = rng.integers(0, w.vocab, (2, s))
    import onnx
    onnx.save(E.build_onnx(w, "prefill", s), str(out / "model.onnx"))
    for name, ids in (("calibration", calib), ("heldout", held)):
        np.savez(out / f"{name}.npz", input_ids=ids, position_ids=E.positions(ids))
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
