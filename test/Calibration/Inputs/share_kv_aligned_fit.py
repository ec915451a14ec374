"""A one-layer random llama-style decoder for share-kv-aligned-fit.test.

`make DIR`: the model (ONNX prefill form of tools/export/export_trained_decoder.py,
4 query / 2 KV heads of 8, RoPE), calibration and held-out windows, and the
logits of bench/share_kv_trained.py's weight-level `aligned-pca` conversion
to one KV head followed by its layer-wise O-projection refit (ridge 0.1,
target: the original attention on the converted input): expected.npy; the
same without the refit: aligned.npy.
`check DIR`: compares attn-compile's `--share-kv-method=aligned-fit` logits
(fit.npz) with the prototype's.
"""
import copy
import sys
import types
from pathlib import Path

import numpy as np

root = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(root / "bench"))
sys.path.insert(0, str(root / "tools" / "export"))
import export_trained_decoder as E  # noqa: E402
import share_kv_trained as T  # noqa: E402



def random_weights(rng):
    d, hq, hkv, hd, mlp, vocab = 32, 4, 2, 8, 48, 40
    w = types.SimpleNamespace(n_layer=1, d=d, n_head=hq, n_kv=hkv, hd=hd, mlp=mlp,
                              eps=1e-5, theta=10000.0, vocab=vocab)

    def mat(rows, cols):
        return (rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np.float32)

    w.embed = rng.standard_normal((vocab, d)).astype(np.float32)
    w.lm_head = mat(vocab, d)
    w.final_norm = np.ones(d, np.float32)
    wk = mat(hkv * hd, d)
    wk[hd:] = 0.5 * wk[:hd] + 0.85 * wk[hd:]
    w.layers = [{
        "attn_norm": (1 + 0.1 * rng.standard_normal(d)).astype(np.float32),
        "wq": mat(hq * hd, d) * 2, "wk": wk * 2, "wv": mat(hkv * hd, d),
        "wo": mat(d, hq * hd), "ffn_norm": np.ones(d, np.float32),
        "w_gate": mat(mlp, d), "w_up": mat(mlp, d), "w_down": mat(d, mlp),
    }]
    return w


def aligned_pca_fit(w, calib, fit):
    """T.convert's `aligned-pca`, with `aligned+fit`'s refit when `fit`."""
    wt = copy.copy(w)
    wt.layers = []
    s = calib.shape[1]
    cos, sin = E.rope_tables(w.hd, w.theta, np.arange(s))
    cos, sin = cos[None, None], sin[None, None]
    x = w.embed[calib]
    for L in w.layers:
        h = E.rms(x, L["attn_norm"], w.eps)
        q, k, v = T.qkv(w, L, h, cos, sin)
        new = T.merge_layer(w, L, h, q, 1, "aligned", weighted=False)
        if fit:
            T.refit_output(w, new, h, T.attention_out(q, k, v, L["wo"]), cos, sin,
                           ridge=0.1)
        x = T.mlp(w, new, x + T.attention_out(*T.qkv(w, new, h, cos, sin), new["wo"]))
        wt.layers.append(new)
    wt.n_kv = 1
    return wt


def main():
    out = Path(sys.argv[2])
    if sys.argv[1] != "make":
        check(out)
        return
    rng = np.random.default_rng(3)
    w = random_weights(rng)
    s = 16
    calib = rng.integers(0, w.vocab, (8, s))
    held = rng.integers(0, w.vocab, (2, s))
    import onnx
    onnx.save(E.build_onnx(w, "prefill", s), str(out / "model.onnx"))
    for name, ids in (("calibration", calib), ("heldout", held)):
        np.savez(out / f"{name}.npz", input_ids=ids, position_ids=E.positions(ids))
    np.save(out / "expected.npy", E.forward(aligned_pca_fit(w, calib, True), held))
    np.save(out / "aligned.npy", E.forward(aligned_pca_fit(w, calib, False), held))


def check(out):
    expected = np.load(out / "expected.npy")
    aligned = np.load(out / "aligned.npy")
    got = np.load(out / "fit.npz")["logits"]
    diff = float(np.abs(got - expected).max())
    scale = float(np.abs(expected).max())
    moved = float(np.abs(expected - aligned).max())
    print(f"max |compiler - prototype| {diff:.2e} (logits up to {scale:.2f}; "
          f"the refit moves them by up to {moved:.2f})")
    ok = diff <= 1e-4 * scale and moved > 20 * diff
    print("aligned-fit matches the prototype" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
