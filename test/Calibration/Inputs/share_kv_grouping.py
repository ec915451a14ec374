"""Inputs and checks for share-kv-grouping.test.

`make DIR`: two one-layer random decoders whose KV heads 0 and 2 are
near-identical (head 2 = head 0's projection plus 5% fresh directions), and
1 and 3 too, so that the best pairs are not neighbours:
- DIR/cross: share_kv_cross.py's Whisper-style layer (self- and
  cross-attention, 4 query / 4 KV heads of 8, biases, no RoPE);
- DIR/rope: random_decoder.py's llama-style layer (RoPE) with 8 query / 4 KV
  heads of 8 (GQA, 2 query heads per KV head).
Each with model.onnx, calibration.npz and heldout.npz (the cross one also
its numpy logits, original.npy).
`close DIR A B TOL`: the largest difference of A.npz's and B.npz's logits,
relative to B's range, and whether it is within TOL.
`kl DIR NAME...`: the KL of each NAME.npz's next-token distributions
against DIR/original.npy on the held-out windows, then the closest's name.
`groups DIR NAME`: NAME.json's share_kv_grouping entries.
"""
import json
import sys
from pathlib import Path

import numpy as np

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here))
import share_kv_cross as C  # noqa: E402
from random_decoder import E, decoder_shell, kl, random_matrix  # noqa: E402


def pair_up(rng, w, cols, heads, hd):
    """Heads 2 and 3 of the [heads * hd, cols] `w` := heads 0 and 1 + 5%."""
    for h in (2, 3):
        fresh = (rng.standard_normal((hd, cols)) / np.sqrt(cols)).astype(np.float32)
        w[h * hd:(h + 1) * hd] = w[(h - 2) * hd:(h - 1) * hd] + 0.05 * fresh
    return w


def make_cross(out: Path, rng):
    import onnx
    w = C.random_weights(rng)
    L = w.layer
    for name, cols in (("wk", C.D), ("wv", C.D), ("xk", C.ENC_D), ("xv", C.ENC_D)):
        L[name] = pair_up(rng, L[name], cols, C.HEADS, C.HD)
    for name in ("bk", "bv", "xbk", "xbv"):
        L[name][2 * C.HD:] = L[name][:2 * C.HD]
    for name, n in (("calibration", 64), ("heldout", 8)):
        ids = rng.integers(0, C.VOCAB, (n, 16))
        enc = rng.standard_normal((n, C.ENC_LEN, C.ENC_D)).astype(np.float32)
        np.savez(out / f"{name}.npz", input_ids=ids, position_ids=C.T.positions(ids),
                 encoder_hidden_states=enc)
        if name == "heldout":
            np.save(out / "original.npy", C.forward(w, ids, enc, False))
    onnx.save(C.build_onnx(w, False), str(out / "model.onnx"))


def make_rope(out: Path, rng):
    import onnx
    d, hq, hkv, hd, mlp, vocab = 64, 8, 4, 8, 48, 40
    w = decoder_shell(rng, d, hq, hkv, hd, mlp, vocab)

    def mat(rows, cols):
        return random_matrix(rng, rows, cols)

    w.layers = [{
        "attn_norm": (1 + 0.1 * rng.standard_normal(d)).astype(np.float32),
        "wq": mat(hq * hd, d) * 2, "wk": pair_up(rng, mat(hkv * hd, d), d, hkv, hd) * 2,
        "wv": pair_up(rng, mat(hkv * hd, d), d, hkv, hd), "wo": mat(d, hq * hd),
        "ffn_norm": np.ones(d, np.float32), "w_gate": mat(mlp, d), "w_up": mat(mlp, d),
        "w_down": mat(d, mlp),
    }]
    onnx.save(E.build_onnx(w, "prefill", 16), str(out / "model.onnx"))
    for name, n in (("calibration", 64), ("heldout", 8)):
        ids = rng.integers(0, vocab, (n, 16))
        np.savez(out / f"{name}.npz", input_ids=ids, position_ids=E.positions(ids))


def main():
    out = Path(sys.argv[2])
    if sys.argv[1] == "make":
        rng = np.random.default_rng(11)
        for sub, make in (("cross", make_cross), ("rope", make_rope)):
            (out / sub).mkdir(parents=True, exist_ok=True)
            make(out / sub, rng)
        return
    if sys.argv[1] == "close":
        a, b, tol = sys.argv[3], sys.argv[4], float(sys.argv[5])
        x, y = (np.load(out / f"{n}.npz")["logits"] for n in (a, b))
        rel = float(np.abs(x - y).max() / (y.max() - y.min()))
        print(f"{a} against {b}: largest difference {rel:.1e} of the range: "
              f"{'within' if rel <= tol else 'NOT within'} {tol:g}")
        return
    if sys.argv[1] == "kl":
        ref = np.load(out / "original.npy")
        errors = {n: kl(ref, np.load(out / f"{n}.npz")["logits"]) for n in sys.argv[3:]}
        for name, e in errors.items():
            print(f"held-out KL {name} {e:.5f}")
        print("closest:", min(errors, key=errors.get))
        return
    if sys.argv[1] == "groups":
        for e in json.load(open(out / f"{sys.argv[3]}.json"))["share_kv_grouping"]:
            print(f"grouping {e['name']}: {e['groups']} {e.get('fallback', e.get('search'))}")
        return


if __name__ == "__main__":
    main()
