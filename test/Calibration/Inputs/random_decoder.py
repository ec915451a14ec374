"""The one-layer random llama-style decoder of the share-kv lit tests.

4 query / 2 KV heads of 8, RoPE, width 32 (ONNX prefill form of
tools/export/export_trained_decoder.py); KV head 1's key projection partly
shares head 0's directions, as trained heads do. Imported by
share_kv_aligned.py, share_kv_aligned_fit.py and share_kv_joint.py.
"""
import sys
import types
from pathlib import Path

import numpy as np

root = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(root / "bench"))
sys.path.insert(0, str(root / "tools" / "export"))
import export_trained_decoder as E  # noqa: E402,F401
import share_kv_trained as T  # noqa: E402,F401


def kl(ref, got):
    """Mean KL(ref || got) of the next-token distributions, nats/token."""
    lp, lq = T.log_softmax(ref), T.log_softmax(got)
    return float((np.exp(lp) * (lp - lq)).sum(-1).mean())


def random_matrix(rng, rows, cols):
    """Gaussian weights scaled by 1 / sqrt(cols), float32."""
    return (rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np.float32)


def decoder_shell(rng, d, hq, hkv, hd, mlp, vocab):
    """A one-layer decoder's sizes, embedding, LM head and final norm (the
    caller draws w.layers)."""
    w = types.SimpleNamespace(n_layer=1, d=d, n_head=hq, n_kv=hkv, hd=hd, mlp=mlp,
                              eps=1e-5, theta=10000.0, vocab=vocab)
    w.embed = rng.standard_normal((vocab, d)).astype(np.float32)
    w.lm_head = random_matrix(rng, vocab, d)
    w.final_norm = np.ones(d, np.float32)
    return w


def random_weights(rng, mix=(0.6, 0.8)):
    """Key head 1 = mix[0] * key head 0 + mix[1] * fresh directions."""
    d, hq, hkv, hd, mlp, vocab = 32, 4, 2, 8, 48, 40
    w = decoder_shell(rng, d, hq, hkv, hd, mlp, vocab)

    def mat(rows, cols):
        return random_matrix(rng, rows, cols)

    wk = mat(hkv * hd, d)
    wk[hd:] = mix[0] * wk[:hd] + mix[1] * wk[hd:]
    w.layers = [{
        "attn_norm": (1 + 0.1 * rng.standard_normal(d)).astype(np.float32),
        "wq": mat(hq * hd, d) * 2, "wk": wk * 2, "wv": mat(hkv * hd, d),
        "wo": mat(d, hq * hd), "ffn_norm": np.ones(d, np.float32),
        "w_gate": mat(mlp, d), "w_up": mat(mlp, d), "w_down": mat(d, mlp),
    }]
    return w


def save(out: Path, w, length: int, calib, held):
    """model.onnx (prefill windows of `length`), calibration.npz, heldout.npz."""
    import onnx
    onnx.save(E.build_onnx(w, "prefill", length), str(out / "model.onnx"))
    for name, ids in (("calibration", calib), ("heldout", held)):
        np.savez(out / f"{name}.npz", input_ids=ids, position_ids=E.positions(ids))
