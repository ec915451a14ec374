"""A small GPT-style decoder step built directly as ONNX: the project's default model.

The graph is what exporters produce for one incremental-decode step, so it exercises
the importer, attention raising, KV sharing and decode fusion end to end:

  input_ids [B, S], position_ids [B, S], past_key_i / past_value_i [B, Hkv, past, D]
  -> logits [B, S, vocab], present_key_i / present_value_i [B, Hkv, past + S, D]

Attention is spelled MatMul / Div / Where(causal) / Softmax / MatMul with K^T by
Transpose; with fewer KV heads than query heads, K and V go through the repeat_kv
broadcast (Unsqueeze + Expand + Reshape) as Llama exports do. The causal mask is
built from shapes (Shape, Gather, Range, LessOrEqual), so the past length stays a
symbolic dimension named "past". Weights are seeded random numbers: no download.

The logits come from an untied lm_head (drawn after every other weight) unless
`tied_lm_head` is set, in which case they use the token embedding; with tied
weights the residual stream is dominated by the input token's own embedding,
so greedy decoding tends to repeat one token. `kv_similarity` makes the K/V
heads partly redundant (as trained models' heads are), which is what
converting MHA to GQA/MQA (`attn-compile --share-kv`) relies on.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


@dataclass
class DecoderConfig:
    vocab: int = 256
    d_model: int = 128
    n_layer: int = 2
    n_head: int = 8
    n_kv_head: int = 8
    n_positions: int = 1024
    seed: int = 0
    tied_lm_head: bool = False
    # Fraction of the K/V projection weights' variance that heads share: half
    # of it is common to every KV head, half to the heads of one of
    # `kv_groups` blocks of consecutive heads; the rest is each head's own.
    # 0 (default): independent heads. Trained models' heads are partly
    # redundant in this way, which is what converting MHA to GQA/MQA exploits.
    kv_similarity: float = 0.0
    kv_groups: int = 2

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head


class _Graph:
    """Collects nodes and initializers with unique names."""

    def __init__(self, rng: np.random.Generator):
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.rng = rng
        self.count = 0

    def name(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def const(self, hint: str, value: np.ndarray) -> str:
        name = self.name(hint)
        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def weight(self, hint: str, shape: tuple[int, ...], scale: float) -> str:
        return self.const(hint, (self.rng.standard_normal(shape) * scale).astype(np.float32))

    def op(self, op_type: str, inputs: list[str], hint: str | None = None,
           outputs: int = 1, **attrs) -> str | list[str]:
        base = self.name(hint or op_type.lower())
        outs = [base] if outputs == 1 else [f"{base}_{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=base, **attrs))
        return outs[0] if outputs == 1 else outs

    def i64(self, hint: str, values: list[int]) -> str:
        return self.const(hint, np.array(values, dtype=np.int64))


def _layer_norm(g: _Graph, x: str, d: int) -> str:
    scale = g.const("ln_scale", np.ones(d, dtype=np.float32))
    bias = g.const("ln_bias", np.zeros(d, dtype=np.float32))
    return g.op("LayerNormalization", [x, scale, bias], axis=-1, epsilon=1e-5)


def _heads(g: _Graph, x: str, heads: int, head_dim: int) -> str:
    """[B, S, heads*head_dim] -> [B, heads, S, head_dim]."""
    shape = g.i64("heads_shape", [0, 0, heads, head_dim])
    return g.op("Transpose", [g.op("Reshape", [x, shape])], perm=[0, 2, 1, 3])


def _repeat_kv(g: _Graph, x: str, cfg: DecoderConfig) -> str:
    """[B, Hkv, T, D] -> [B, Hq, T, D] as Llama exports spell repeat_kv."""
    if cfg.n_kv_head == cfg.n_head:
        return x
    rep = cfg.n_head // cfg.n_kv_head
    unsq = g.op("Unsqueeze", [x, g.i64("axis2", [2])])
    shape = g.op("Shape", [x])
    b = g.op("Gather", [shape, g.i64("idx0", [0])], axis=0)
    t = g.op("Gather", [shape, g.i64("idx2", [2])], axis=0)
    target = g.op("Concat", [b, g.i64("kv_rep", [cfg.n_kv_head, rep]), t,
                             g.i64("hd", [cfg.head_dim])], axis=0)
    expanded = g.op("Expand", [unsq, target])
    flat = g.op("Concat", [b, g.i64("hq", [cfg.n_head]), t, g.i64("hd", [cfg.head_dim])],
                axis=0)
    return g.op("Reshape", [expanded, flat])


def _causal_mask(g: _Graph, q: str, k: str) -> str:
    """Boolean [S, T] keep-mask: key j visible to query i iff j <= i + (T - S)."""
    s = g.op("Gather", [g.op("Shape", [q]), g.i64("sidx", [2])], axis=0)
    t = g.op("Gather", [g.op("Shape", [k]), g.i64("tidx", [2])], axis=0)
    zero = g.const("zero", np.array(0, dtype=np.int64))
    one = g.const("one", np.array(1, dtype=np.int64))
    s0 = g.op("Squeeze", [s, g.i64("ax0", [0])])
    t0 = g.op("Squeeze", [t, g.i64("ax0", [0])])
    rows = g.op("Range", [zero, s0, one])
    cols = g.op("Range", [zero, t0, one])
    offset = g.op("Sub", [t0, s0])
    shifted = g.op("Add", [g.op("Unsqueeze", [rows, g.i64("ax1", [1])]), offset])
    return g.op("LessOrEqual", [g.op("Unsqueeze", [cols, g.i64("ax0b", [0])]), shifted])


def _kv_weight(g: _Graph, hint: str, cfg: DecoderConfig, rows: int | None, std: float) -> str:
    """K or V projection weight [rows, Hkv * head_dim] (or bias [Hkv * head_dim]
    when rows is None), heads correlated as `cfg.kv_similarity` says; with
    similarity 1 the heads of a group are identical."""
    hd, heads = cfg.head_dim, cfg.n_kv_head
    lead = () if rows is None else (rows,)
    s = cfg.kv_similarity
    if not 0 <= s <= 1:
        raise ValueError(f"kv_similarity must be in [0, 1], got {s}")
    if s == 0:
        return g.weight(hint, lead + (heads * hd,), std)
    own = g.rng.standard_normal(lead + (heads, hd))
    common = g.rng.standard_normal(lead + (1, hd))
    groups = max(1, min(cfg.kv_groups, heads))
    per_group = g.rng.standard_normal(lead + (groups, hd))
    group_of = np.arange(heads) * groups // heads
    w = (np.sqrt(1 - s) * own + np.sqrt(s / 2) * common
         + np.sqrt(s / 2) * per_group[..., group_of, :])
    return g.const(hint, (w * std).reshape(lead + (heads * hd,)).astype(np.float32))


def _attention(g: _Graph, x: str, layer: int, cfg: DecoderConfig) -> tuple[str, str, str]:
    d, hd = cfg.d_model, cfg.head_dim
    std = 1.0 / np.sqrt(d)
    q = g.op("Add", [g.op("MatMul", [x, g.weight("wq", (d, d), std)]),
                     g.weight("bq", (d,), 0.02)])
    k = g.op("Add", [g.op("MatMul", [x, _kv_weight(g, "wk", cfg, d, std)]),
                     _kv_weight(g, "bk", cfg, None, 0.02)])
    v = g.op("Add", [g.op("MatMul", [x, _kv_weight(g, "wv", cfg, d, std)]),
                     _kv_weight(g, "bv", cfg, None, 0.02)])
    qh = _heads(g, q, cfg.n_head, hd)
    present_k = g.op("Concat", [f"past_key_{layer}", _heads(g, k, cfg.n_kv_head, hd)],
                     hint=f"present_key_{layer}", axis=2)
    present_v = g.op("Concat", [f"past_value_{layer}", _heads(g, v, cfg.n_kv_head, hd)],
                     hint=f"present_value_{layer}", axis=2)
    kr = _repeat_kv(g, present_k, cfg)
    vr = _repeat_kv(g, present_v, cfg)
    scores = g.op("MatMul", [qh, g.op("Transpose", [kr], perm=[0, 1, 3, 2])])
    scores = g.op("Div", [scores, g.const("sqrt_d", np.array(np.sqrt(hd), dtype=np.float32))])
    min_value = g.const("min", np.array(np.finfo(np.float32).min, dtype=np.float32))
    scores = g.op("Where", [_causal_mask(g, qh, kr), scores, min_value])
    probs = g.op("Softmax", [scores], axis=-1)
    ctx = g.op("MatMul", [probs, vr])
    ctx = g.op("Reshape", [g.op("Transpose", [ctx], perm=[0, 2, 1, 3]), g.i64("merge", [0, 0, d])])
    out = g.op("Add", [g.op("MatMul", [ctx, g.weight("wo", (d, d), std)]),
                       g.weight("bo", (d,), 0.02)])
    return out, present_k, present_v


def build_tiny_decoder(cfg: DecoderConfig) -> onnx.ModelProto:
    g = _Graph(np.random.default_rng(cfg.seed))
    d = cfg.d_model
    wte = g.weight("wte", (cfg.vocab, d), 0.5)
    wpe = g.weight("wpe", (cfg.n_positions, d), 0.1)
    x = g.op("Add", [g.op("Gather", [wte, "input_ids"], axis=0),
                     g.op("Gather", [wpe, "position_ids"], axis=0)])
    presents = []
    for layer in range(cfg.n_layer):
        attn, pk, pv = _attention(g, _layer_norm(g, x, d), layer, cfg)
        x = g.op("Add", [x, attn])
        h = g.op("MatMul", [_layer_norm(g, x, d), g.weight("w_fc", (d, 4 * d), 1 / np.sqrt(d))])
        h = g.op("Gelu", [g.op("Add", [h, g.weight("b_fc", (4 * d,), 0.02)])])
        h = g.op("MatMul", [h, g.weight("w_proj", (4 * d, d), 1 / np.sqrt(4 * d))])
        x = g.op("Add", [x, g.op("Add", [h, g.weight("b_proj", (d,), 0.02)])])
        presents += [(f"present_key_{layer}", pk), (f"present_value_{layer}", pv)]
    if cfg.tied_lm_head:
        lm_head = g.op("Transpose", [wte], perm=[1, 0])
    else:
        lm_head = g.weight("lm_head", (d, cfg.vocab), 2 / np.sqrt(d))
    logits = g.op("MatMul", [_layer_norm(g, x, d), lm_head])
    g.nodes.append(helper.make_node("Identity", [logits], ["logits"], name="logits_out"))
    for out_name, value in presents:
        g.nodes.append(helper.make_node("Identity", [value], [out_name], name=out_name + "_out"))

    hd, hkv = cfg.head_dim, cfg.n_kv_head
    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
              helper.make_tensor_value_info("position_ids", TensorProto.INT64, ["batch", "seq"])]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT,
                                             ["batch", "seq", cfg.vocab])]
    for layer in range(cfg.n_layer):
        for kind in ("key", "value"):
            inputs.append(helper.make_tensor_value_info(
                f"past_{kind}_{layer}", TensorProto.FLOAT, ["batch", hkv, "past", hd]))
            outputs.append(helper.make_tensor_value_info(
                f"present_{kind}_{layer}", TensorProto.FLOAT, ["batch", hkv, "total", hd]))
    graph = helper.make_graph(g.nodes, "tiny_decoder", inputs, outputs, g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)],
                              producer_name="attn-mlir")
    model.ir_version = 10
    onnx.checker.check_model(model)
    return model


def step_inputs(cfg: DecoderConfig, past: int, batch: int = 1, seq: int = 1,
                seed: int = 1) -> dict[str, np.ndarray]:
    """Random inputs for one step with `past` cached positions."""
    rng = np.random.default_rng(seed)
    feeds = {
        "input_ids": rng.integers(0, cfg.vocab, (batch, seq), dtype=np.int64),
        "position_ids": np.tile(np.arange(past, past + seq, dtype=np.int64), (batch, 1)),
    }
    for layer in range(cfg.n_layer):
        for kind in ("key", "value"):
            feeds[f"past_{kind}_{layer}"] = rng.standard_normal(
                (batch, cfg.n_kv_head, past, cfg.head_dim)).astype(np.float32)
    return feeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--kv-heads", type=int, default=None)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--inputs", help="also write random step inputs (npz)")
    parser.add_argument("--past", type=int, default=16)
    parser.add_argument("--vocab", type=int, default=256)
    parser.add_argument("--positions", type=int, default=1024,
                        help="rows of the position embedding (largest position id + 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights")
    parser.add_argument("--tied-lm-head", action="store_true",
                        help="logits from the token embedding instead of an untied lm_head")
    parser.add_argument("--kv-similarity", type=float, default=0.0,
                        help="fraction of K/V weight variance that heads share (0..1)")
    parser.add_argument("--kv-groups", type=int, default=2,
                        help="blocks of consecutive KV heads that share a part (with "
                             "--kv-similarity)")
    args = parser.parse_args()
    cfg = DecoderConfig(vocab=args.vocab, d_model=args.d_model, n_layer=args.layers,
                        n_head=args.heads, n_kv_head=args.kv_heads or args.heads,
                        n_positions=args.positions, seed=args.seed,
                        tied_lm_head=args.tied_lm_head, kv_similarity=args.kv_similarity,
                        kv_groups=args.kv_groups)
    onnx.save(build_tiny_decoder(cfg), args.output)
    if args.inputs:
        np.savez(args.inputs, **step_inputs(cfg, args.past))


if __name__ == "__main__":
    main()
