"""Inputs and checks for share-kv-joint-cross.test.

A one-layer random decoder with a cross-attention, Whisper's decoder layer
in small: pre-LayerNorm causal self-attention, cross-attention whose K/V
project the input `encoder_hidden_states` [batch, 12, 24] (another width
than the decoder's 32), a ReLU MLP; 4 query / 4 KV heads of 8, biases on
every projection, no RoPE. KV heads 1 and 3 of each attention partly
share heads 0 and 2's directions, as trained heads do. The ONNX graph is
built with tools/export/export_trained_decoder.py's helpers.

`make DIR [--softcap]`: model.onnx, calibration.npz (128 windows of 16
tokens, each with its own encoder states), heldout.npz (8 windows) and the
unconverted model's held-out logits (numpy forward of the same weights):
original.npy. With --softcap the self-attention is the ONNX Attention op
(opset 23) with softcap 3, which the joint fit does not convert.
`check DIR NAME...`: the KL of each NAME.npz's next-token distributions
against the original on the held-out windows, one line per name, then
the name of the closest.
`report DIR NAME`: NAME.json's joint-fit entries (loss before and after).
"""
import json
import sys
import types
from pathlib import Path

import numpy as np

root = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(root / "tools" / "export"))
import export_trained_decoder as T  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from random_decoder import kl  # noqa: E402

D, HEADS, HD, MLP, VOCAB, ENC_LEN, ENC_D, SOFTCAP = 32, 4, 8, 48, 40, 12, 24, 3.0


def random_weights(rng):
    def mat(rows, cols):
        return (rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np.float32)

    def vec(n, scale=0.1):
        return (scale * rng.standard_normal(n)).astype(np.float32)

    def related(cols):
        """[HEADS * HD, cols]: heads 1 and 3 = 0.6 heads 0 and 2 + 0.8 fresh."""
        w = mat(HEADS * HD, cols)
        for h in (1, 3):
            w[h * HD:(h + 1) * HD] = 0.6 * w[(h - 1) * HD:h * HD] + 0.8 * w[h * HD:(h + 1) * HD]
        return w

    def ln():
        return (1 + vec(D)), vec(D)

    w = types.SimpleNamespace(embed=rng.standard_normal((VOCAB, D)).astype(np.float32),
                              positions=vec(64 * D, 0.3).reshape(64, D), final_ln=ln(),
                              lm_head=mat(VOCAB, D))
    w.layer = {"ln1": ln(), "wq": mat(HEADS * HD, D) * 2, "bq": vec(HEADS * HD),
               "wk": related(D) * 2, "bk": vec(HEADS * HD), "wv": mat(HEADS * HD, D),
               "bv": vec(HEADS * HD), "wo": mat(D, HEADS * HD), "bo": vec(D),
               "ln2": ln(), "xq": mat(HEADS * HD, D) * 2, "xbq": vec(HEADS * HD),
               "xk": related(ENC_D) * 2, "xbk": vec(HEADS * HD),
               "xv": related(ENC_D), "xbv": vec(HEADS * HD), "xo": mat(D, HEADS * HD),
               "xbo": vec(D), "ln3": ln(), "w1": mat(MLP, D), "b1": vec(MLP),
               "w2": mat(D, MLP), "b2": vec(D)}
    return w


def layer_norm(x, gb):
    mu = x.mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + 1e-5) * gb[0] + gb[1]


def attend(q, k, v, causal, softcap=None):
    sc = np.einsum("bhsd,bhtd->bhst", q, k) / np.sqrt(HD)
    if softcap:
        sc = softcap * np.tanh(sc / softcap)
    if causal:
        s = q.shape[2]
        sc = sc + np.triu(np.full((s, s), -np.inf), 1)
    p = np.exp(sc - sc.max(-1, keepdims=True))
    return np.einsum("bhst,bhtd->bhsd", p / p.sum(-1, keepdims=True), v)


def forward(w, ids, enc, softcap):
    L = w.layer

    def heads(x):
        return x.reshape(x.shape[0], x.shape[1], HEADS, HD).transpose(0, 2, 1, 3)

    def merge(x):
        return x.transpose(0, 2, 1, 3).reshape(x.shape[0], x.shape[2], -1)

    x = (w.embed[ids] + w.positions[:ids.shape[1]]).astype(np.float64)
    h = layer_norm(x, L["ln1"])
    q, k, v = (heads(h @ L[f"w{c}"].T + L[f"b{c}"]) for c in "qkv")
    x = x + merge(attend(q, k, v, True, SOFTCAP if softcap else None)) @ L["wo"].T + L["bo"]
    h = layer_norm(x, L["ln2"])
    q = heads(h @ L["xq"].T + L["xbq"])
    k, v = heads(enc @ L["xk"].T + L["xbk"]), heads(enc @ L["xv"].T + L["xbv"])
    x = x + merge(attend(q, k, v, False)) @ L["xo"].T + L["xbo"]
    h = layer_norm(x, L["ln3"])
    x = x + np.maximum(h @ L["w1"].T + L["b1"], 0) @ L["w2"].T + L["b2"]
    return (layer_norm(x, w.final_ln) @ w.lm_head.T).astype(np.float32)


def build_onnx(w, softcap):
    from onnx import TensorProto, helper

    g = T.Graph()
    L = w.layer
    x = g.op("Add", [g.op("Gather", [g.const("embed", w.embed), "input_ids"], axis=0),
                     g.op("Gather", [g.const("pos", w.positions), "position_ids"], axis=0)])

    def norm(x, gb):
        return g.op("LayerNormalization", [x, g.const("ln_g", gb[0]), g.const("ln_b", gb[1])],
                    axis=-1, epsilon=1e-5)

    def linear(x, wt, b):
        return g.op("Add", [g.op("MatMul", [x, g.const("w", wt.T)]), g.const("b", b)])

    def heads(x):
        return T.split_heads(g, x, HEADS, HD)

    h = norm(x, L["ln1"])
    q, k, v = (heads(linear(h, L[f"w{c}"], L[f"b{c}"])) for c in "qkv")
    if softcap:
        ctx = g.op("Attention", [q, k, v], is_causal=1, softcap=SOFTCAP)
        ctx = g.op("Reshape", [g.op("Transpose", [ctx], perm=[0, 2, 1, 3]),
                               g.i64("merge", [0, 0, D])])
    else:
        ctx = T.attention(g, q, k, v, HD, D, causal=True)
    x = g.op("Add", [x, linear(ctx, L["wo"], L["bo"])])
    h = norm(x, L["ln2"])
    enc = "encoder_hidden_states"
    q = heads(linear(h, L["xq"], L["xbq"]))
    k, v = heads(linear(enc, L["xk"], L["xbk"])), heads(linear(enc, L["xv"], L["xbv"]))
    x = g.op("Add", [x, linear(T.attention(g, q, k, v, HD, D, causal=False), L["xo"],
                               L["xbo"])])
    h = norm(x, L["ln3"])
    x = g.op("Add", [x, linear(g.op("Relu", [linear(h, L["w1"], L["b1"])]), L["w2"], L["b2"])])
    g.op("MatMul", [norm(x, w.final_ln), g.const("lm_head", w.lm_head.T)], "logits")
    f32, i64 = TensorProto.FLOAT, TensorProto.INT64
    bs = ["batch", "seq"]
    inputs = [helper.make_tensor_value_info("input_ids", i64, bs),
              helper.make_tensor_value_info("position_ids", i64, bs),
              helper.make_tensor_value_info(enc, f32, ["batch", ENC_LEN, ENC_D])]
    outputs = [helper.make_tensor_value_info("logits", f32, bs + [VOCAB])]
    graph = helper.make_graph(g.nodes, "cross_decoder", inputs, outputs, g.inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23 if softcap else 17)])




def main():
    out = Path(sys.argv[2])
    if sys.argv[1] == "make":
        import onnx
        softcap = "--softcap" in sys.argv[3:]
        rng = np.random.default_rng(9)
        w = random_weights(rng)
        s = 16
        for name, n in (("calibration", 128), ("heldout", 8)):
            ids = rng.integers(0, VOCAB, (n, s))
            enc = rng.standard_normal((n, ENC_LEN, ENC_D)).astype(np.float32)
            np.savez(out / f"{name}.npz", input_ids=ids, position_ids=T.positions(ids),
                     encoder_hidden_states=enc)
            if name == "heldout":
                np.save(out / "original.npy", forward(w, ids, enc, softcap))
        onnx.save(build_onnx(w, softcap), str(out / "model.onnx"))
        return
    if sys.argv[1] == "report":
        for e in json.load(open(out / f"{sys.argv[3]}.json"))["share_kv_joint_fit"]:
            better = "lower" if e["loss_fitted"] < e["loss_aligned"] else "NOT LOWER"
            print(f"joint fit {e['name']}: loss aligned {e['loss_aligned']:.4f}, fitted "
                  f"{e['loss_fitted']:.4f}: {better}")
        return
    ref = np.load(out / "original.npy")
    errors = {n: kl(ref, np.load(out / f"{n}.npz")["logits"]) for n in sys.argv[3:]}
    for name, e in errors.items():
        print(f"held-out KL {name} {e:.5f}")
    print("closest:", min(errors, key=errors.get))


if __name__ == "__main__":
    main()
