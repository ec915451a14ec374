#!/usr/bin/env python3
"""A DeepSeek-V3-style decode-step decoder (multi-head latent attention) as
ONNX, built with onnx.helper from seeded random weights, with ORT references.

No PyTorch needed: the graph mirrors, node for node where it matters, what
the TorchScript exporter (opset 17, symbolic past) writes for transformers'
DeepseekV3Attention with a latent cache:

  q      = q_b_proj(RMSNorm(q_a_proj(x)))            -> [B, H, 1, nope+rope]
  q_pass, q_rot = split(q, [nope, rope])
  ckv    = kv_a_proj_with_mqa(x)                    -> [B, 1, rank+rope]
  latent, k_rot = split(ckv, [rank, rope]); latent = kv_a_layernorm(latent)
  q_rot, k_rot  = rotary (interleaved, as rope_interleave=True)
  cache  past_key_i   [B, 1, T, rank]  <- concat(past, latent)
         past_value_i [B, 1, T, rope]  <- concat(past, k_rot)
  kv     = kv_b_proj(cache latents)  -> per head k_nope [B,H,T,nope], v [B,H,T,vd]
  key    = concat(k_nope, expand(k_rot))             (Concat)
  query  = zeros; query[..., :nope] = q_pass; query[..., nope:] = q_rot
           (slice assignment: Transpose, ScatterND with Range indices, back)
  out    = o_proj(softmax(query @ key^T * scale) @ v)

Every step re-projects the whole latent cache into per-head keys and values
(the cost the absorbed form removes). Two layers with a gated-SiLU MLP,
RMSNorms, tied nothing. Weights: normal / sqrt(fan_in), seed 0.

  export_mla_decoder.py OUT_DIR [--past 8]

writes OUT_DIR/model.onnx, inputs.npz (input_ids, position_ids, past_* with
`--past` cached positions), expected.npz (ORT's outputs of that step) and
generate16.npz (tokens [16] and logits [16, vocab] of ORT's greedy loop),
the layout test/Import/lib/check_decoders.py reads. The dimensions are
module constants (CONFIG) so benchmarks can build larger ones.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

CONFIG = dict(vocab=256, hidden=64, heads=4, q_lora_rank=32, kv_lora_rank=16,
              qk_nope_head_dim=8, qk_rope_head_dim=4, v_head_dim=8,
              intermediate=96, layers=2, rope_theta=10000.0, eps=1e-6)


class Graph:
    """Node list + initializers with unique names."""

    def __init__(self, seed: int):
        self.nodes, self.inits, self.n = [], [], 0
        self.rng = np.random.default_rng(seed)

    def name(self, base: str) -> str:
        self.n += 1
        return f"/{base}_{self.n}"

    def op(self, op_type: str, inputs, base=None, outputs=1, **attrs):
        base = base or op_type
        outs = [self.name(f"{base}_out{i}") for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs,
                                           name=self.name(base), **attrs))
        return outs[0] if outputs == 1 else outs

    def const(self, array, base="const") -> str:
        n = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(array), n))
        return n

    def ints(self, *values) -> str:
        return self.const(np.array(values, np.int64), "ints")

    def weight(self, fan_in: int, fan_out: int, base: str) -> str:
        # nn.Linear(in, out) exports as MatMul with the weight pre-transposed.
        w = self.rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)
        return self.const(w.astype(np.float32), base)

    def linear(self, x, fan_in, fan_out, base):
        return self.op("MatMul", [x, self.weight(fan_in, fan_out, base)], base)

    def rms_norm(self, x, dim, eps, base):
        # transformers' RMSNorm: x * rsqrt(mean(x^2) + eps) * weight, with
        # rsqrt exported as 1 / Sqrt.
        var = self.op("ReduceMean", [self.op("Pow", [x, self.const(
            np.array(2.0, np.float32))])], keepdims=1, axes=[-1])
        inv = self.op("Div", [self.const(np.array(1.0, np.float32)),
                              self.op("Sqrt", [self.op("Add", [var, self.const(
                                  np.array(eps, np.float32))])])])
        w = (1.0 + 0.1 * self.rng.standard_normal(dim)).astype(np.float32)
        return self.op("Mul", [self.const(w, base + ".weight"),
                               self.op("Mul", [x, inv])], base)


def rotate_half(g: Graph, x, dim):
    half = dim // 2
    x1 = g.op("Slice", [x, g.ints(0), g.ints(half), g.ints(-1), g.ints(1)])
    x2 = g.op("Slice", [x, g.ints(half), g.ints(dim), g.ints(-1), g.ints(1)])
    return g.op("Concat", [g.op("Neg", [x2]), x1], axis=-1)


def rope_interleaved(g: Graph, x, cos, sin, heads, rope):
    """apply_rotary_pos_emb_interleave: view(b, h, s, d/2, 2).transpose(4, 3)
    .reshape(b, h, s, d), then x * cos + rotate_half(x) * sin."""
    x = g.op("Reshape", [x, g.ints(1, heads, -1, rope // 2, 2)])
    x = g.op("Transpose", [x], perm=[0, 1, 2, 4, 3])
    x = g.op("Reshape", [x, g.ints(1, heads, -1, rope)])
    return g.op("Add", [g.op("Mul", [x, cos]),
                        g.op("Mul", [rotate_half(g, x, rope), sin])])


def slice_assign_last(g: Graph, data, value, start, stop):
    """data[..., start:stop] = value, as TorchScript writes it for a rank-4
    tensor: the sliced axis moved first, ScatterND over Range indices."""
    dt = g.op("Transpose", [data], perm=[3, 0, 1, 2])
    idx = g.op("Unsqueeze", [g.op("Range", [g.const(np.array(start, np.int64)),
                                            g.const(np.array(stop, np.int64)),
                                            g.const(np.array(1, np.int64))]),
                             g.ints(-1)])
    vt = g.op("Transpose", [value], perm=[3, 0, 1, 2])
    return g.op("Transpose", [g.op("ScatterND", [dt, idx, vt])],
                perm=[1, 2, 3, 0])


def attention(g: Graph, x, cos, sin, past_k, past_v, layer, c):
    H, nope, rope, vd = (c["heads"], c["qk_nope_head_dim"],
                         c["qk_rope_head_dim"], c["v_head_dim"])
    rank, qk = c["kv_lora_rank"], nope + rope
    p = f"model.layers.{layer}.self_attn"
    q = g.linear(x, c["hidden"], c["q_lora_rank"], p + ".q_a_proj")
    q = g.rms_norm(q, c["q_lora_rank"], c["eps"], p + ".q_a_layernorm")
    q = g.linear(q, c["q_lora_rank"], H * qk, p + ".q_b_proj")
    q = g.op("Transpose", [g.op("Reshape", [q, g.ints(1, -1, H, qk)])],
             perm=[0, 2, 1, 3])
    q_pass, q_rot = g.op("Split", [q, g.ints(nope, rope)], outputs=2, axis=-1)

    ckv = g.linear(x, c["hidden"], rank + rope, p + ".kv_a_proj_with_mqa")
    latent, k_rot = g.op("Split", [ckv, g.ints(rank, rope)], outputs=2,
                         axis=-1)
    latent = g.rms_norm(latent, rank, c["eps"], p + ".kv_a_layernorm")
    latent = g.op("Unsqueeze", [latent, g.ints(1)])           # [B,1,1,rank]
    k_rot = g.op("Reshape", [k_rot, g.ints(1, 1, -1, rope)])  # [B,1,1,rope]
    q_rot = rope_interleaved(g, q_rot, cos, sin, H, rope)
    k_rot = rope_interleaved(g, k_rot, cos, sin, 1, rope)

    # The latent cache: what the model stores per token.
    present_k = g.op("Concat", [past_k, latent], axis=2)
    present_v = g.op("Concat", [past_v, k_rot], axis=2)

    # Every step: up-project the whole cache into per-head keys and values.
    kv = g.linear(present_k, rank, H * (nope + vd), p + ".kv_b_proj")
    kv = g.op("Transpose", [g.op("Reshape", [kv, g.ints(1, -1, H, nope + vd)])],
              perm=[0, 2, 1, 3])
    k_pass, value = g.op("Split", [kv, g.ints(nope, vd)], outputs=2, axis=-1)
    # k_rot.expand(*k_pass.shape[:-1], -1)
    shape = g.op("Concat", [g.op("Slice", [g.op("Shape", [k_pass]), g.ints(0),
                                           g.ints(3), g.ints(0)]),
                            g.ints(1)], axis=0)
    key = g.op("Concat", [k_pass, g.op("Expand", [present_v, shape])], axis=-1)

    zeros = g.op("ConstantOfShape", [g.ints(1, H, 1, qk)],
                 value=helper.make_tensor("", TensorProto.FLOAT, [1], [0.0]))
    query = slice_assign_last(g, zeros, q_pass, 0, nope)
    query = slice_assign_last(g, query, q_rot, nope, qk)

    scores = g.op("Mul", [g.op("MatMul", [query, g.op(
        "Transpose", [key], perm=[0, 1, 3, 2])]),
        g.const(np.array(qk ** -0.5, np.float32))])
    probs = g.op("Softmax", [scores], axis=-1)
    out = g.op("MatMul", [probs, value])                        # [B,H,1,vd]
    out = g.op("Reshape", [g.op("Transpose", [out], perm=[0, 2, 1, 3]),
                           g.ints(1, 1, H * vd)])
    return g.linear(out, H * vd, c["hidden"], p + ".o_proj"), present_k, present_v


def mlp(g: Graph, x, layer, c):
    p = f"model.layers.{layer}.mlp"
    gate = g.linear(x, c["hidden"], c["intermediate"], p + ".gate_proj")
    up = g.linear(x, c["hidden"], c["intermediate"], p + ".up_proj")
    act = g.op("Mul", [gate, g.op("Sigmoid", [gate])])
    return g.linear(g.op("Mul", [act, up]), c["intermediate"], c["hidden"],
                    p + ".down_proj")


def build(c=CONFIG, seed=0) -> onnx.ModelProto:
    g = Graph(seed)
    rank, rope = c["kv_lora_rank"], c["qk_rope_head_dim"]
    emb = g.rng.standard_normal((c["vocab"], c["hidden"])).astype(np.float32)
    x = g.op("Gather", [g.const(emb, "model.embed_tokens.weight"), "input_ids"],
             axis=0)
    # Rotary tables from position_ids: freqs = pos * inv_freq, emb = [f, f].
    inv = 1.0 / c["rope_theta"] ** (np.arange(0, rope, 2) / rope)
    freqs = g.op("Mul", [g.op("Unsqueeze", [g.op("Cast", ["position_ids"],
                                                 to=TensorProto.FLOAT),
                                            g.ints(-1)]),
                         g.const(inv.astype(np.float32), "inv_freq")])
    angles = g.op("Unsqueeze", [g.op("Concat", [freqs, freqs], axis=-1),
                                g.ints(1)])              # [B,1,S,rope]
    cos, sin = g.op("Cos", [angles]), g.op("Sin", [angles])
    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64,
                                            [1, 1]),
              helper.make_tensor_value_info("position_ids", TensorProto.INT64,
                                            [1, 1])]
    outputs, presents = [], []
    for i in range(c["layers"]):
        inputs += [helper.make_tensor_value_info(
            f"past_key_{i}", TensorProto.FLOAT, [1, 1, "past", rank]),
            helper.make_tensor_value_info(
            f"past_value_{i}", TensorProto.FLOAT, [1, 1, "past", rope])]
        h = g.rms_norm(x, c["hidden"], c["eps"],
                       f"model.layers.{i}.input_layernorm")
        a, pk, pv = attention(g, h, cos, sin, f"past_key_{i}",
                              f"past_value_{i}", i, c)
        x = g.op("Add", [x, a])
        h = g.rms_norm(x, c["hidden"], c["eps"],
                       f"model.layers.{i}.post_attention_layernorm")
        x = g.op("Add", [x, mlp(g, h, i, c)])
        for kind, v, last in [("key", pk, rank), ("value", pv, rope)]:
            g.nodes.append(helper.make_node("Identity", [v],
                                            [f"present_{kind}_{i}"]))
            presents.append(helper.make_tensor_value_info(
                f"present_{kind}_{i}", TensorProto.FLOAT,
                [1, 1, "total", last]))
    x = g.rms_norm(x, c["hidden"], c["eps"], "model.norm")
    g.nodes.append(helper.make_node(
        "MatMul", [x, g.weight(c["hidden"], c["vocab"], "lm_head")],
        ["logits"], name="/lm_head/MatMul"))
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT,
                                             [1, 1, c["vocab"]])] + presents
    graph = helper.make_graph(g.nodes, "deepseek_v3_mla_decode", inputs,
                              outputs, initializer=g.inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                          producer_name="export_mla_decoder.py")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def step_inputs(c=CONFIG, past=8, seed=1) -> dict:
    rng = np.random.default_rng(seed)
    feeds = {"input_ids": np.array([[7]], np.int64),
             "position_ids": np.array([[past]], np.int64)}
    for i in range(c["layers"]):
        feeds[f"past_key_{i}"] = rng.standard_normal(
            (1, 1, past, c["kv_lora_rank"])).astype(np.float32)
        feeds[f"past_value_{i}"] = rng.standard_normal(
            (1, 1, past, c["qk_rope_head_dim"])).astype(np.float32)
    return feeds


def references(model: onnx.ModelProto, feeds: dict, out_dir: str) -> None:
    import onnxruntime as ort
    sess = ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    np.savez(os.path.join(out_dir, "inputs.npz"), **feeds)
    np.savez(os.path.join(out_dir, "expected.npz"),
             **dict(zip(names, sess.run(None, feeds))))
    tokens, logits, step = [], [], dict(feeds)
    for _ in range(16):
        res = dict(zip(names, sess.run(None, step)))
        row = res["logits"].reshape(-1, res["logits"].shape[-1])[-1]
        tokens.append(int(row.argmax()))
        logits.append(row)
        for name, value in res.items():
            if name.startswith("present"):
                step["past" + name[len("present"):]] = value
        step["input_ids"] = np.full_like(step["input_ids"], tokens[-1])
        step["position_ids"] = step["position_ids"] + 1
    np.savez(os.path.join(out_dir, "generate16.npz"),
             tokens=np.array(tokens, np.int64),
             logits=np.stack(logits).astype(np.float32))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--past", type=int, default=8)
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    m = build()
    onnx.save(m, os.path.join(args.out_dir, "model.onnx"))
    references(m, step_inputs(past=args.past), args.out_dir)


if __name__ == "__main__":
    main()
