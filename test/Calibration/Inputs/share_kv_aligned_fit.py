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
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from random_decoder import E, T, random_weights, save  # noqa: E402


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
    w = random_weights(rng, mix=(0.5, 0.85))
    s = 16
    calib = rng.integers(0, w.vocab, (8, s))
    held = rng.integers(0, w.vocab, (2, s))
    save(out, w, s, calib, held)
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
