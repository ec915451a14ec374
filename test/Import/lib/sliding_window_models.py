#!/usr/bin/env python3
"""Sliding-window attention as decoder exports spell it, built with onnx.helper.

  sliding_window_models.py OUT_DIR NAME...

writes OUT_DIR/NAME.onnx, its inputs OUT_DIR/NAME.in.npz and what ONNX Runtime
computes from them, OUT_DIR/NAME.ort.npz. The graphs mirror the eager
attention of transformers' exports (one layer's attention, the projections
left out): scores = Q K^T * scale, the band mask of a sliding window W
(key j visible from the query at absolute position p iff p - W < j <= p),
softmax, times V.

  mistral_window  decode step with a symbolic past: the positions are
                  Range(past, past + S) over the past's shape, the mask
                  LessOrEqual(kv, q) And Greater(kv, q - W), applied as an
                  additive Where(mask, 0, finfo.min)
  qwen2_window    the same with 2 KV heads repeated to 8 (repeat_kv) and the
                  mask applied as Where(mask, scores, finfo.min); the window
                  side is spelled Less(q - W, kv)
  gemma2_window   a prompt (no past) with attention softcapping and the band
                  mask baked into an additive [1, 1, S, S] initializer, as a
                  static-shape export leaves it
"""

import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT
I64 = TensorProto.INT64
MIN = np.finfo(np.float32).min


class Graph:
    def __init__(self):
        self.nodes, self.inits, self.count = [], [], 0

    def const(self, value):
        self.count += 1
        name = f"c{self.count}"
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type, inputs, **attrs):
        self.count += 1
        out = f"{op_type.lower()}_{self.count}"
        self.nodes.append(helper.make_node(op_type, inputs, [out],
                                           name=out, **attrs))
        return out


def band_mask(g, past_key, q, window, less_spelling):
    """Bool [S, T]: the window's band over positions from the shapes."""
    zero, one = g.const(np.array(0, np.int64)), g.const(np.array(1, np.int64))
    ax0 = g.const(np.array([0], np.int64))
    def dim(x, i):
        return g.op("Squeeze", [g.op("Gather", [g.op("Shape", [x]),
                                                g.const(np.array([i], np.int64))],
                                     axis=0), ax0])
    past = dim(past_key, 2) if past_key else zero
    s = dim(q, 2)
    total = g.op("Add", [past, s])
    q_pos = g.op("Range", [past, total, one])          # cache_position
    kv_pos = g.op("Range", [zero, total, one])
    q_col = g.op("Unsqueeze", [q_pos, g.const(np.array([1], np.int64))])
    kv_row = g.op("Unsqueeze", [kv_pos, ax0])
    causal = g.op("LessOrEqual", [kv_row, q_col])
    start = g.op("Sub", [q_col, g.const(np.array(window, np.int64))])
    inside = (g.op("Less", [start, kv_row]) if less_spelling
              else g.op("Greater", [kv_row, start]))
    return g.op("And", [causal, inside])


def repeat_kv(g, x, kv_heads, rep, head_dim):
    unsq = g.op("Unsqueeze", [x, g.const(np.array([2], np.int64))])
    shape = g.op("Shape", [x])
    b = g.op("Gather", [shape, g.const(np.array([0], np.int64))], axis=0)
    t = g.op("Gather", [shape, g.const(np.array([2], np.int64))], axis=0)
    expanded = g.op("Expand", [unsq, g.op("Concat", [
        b, g.const(np.array([kv_heads, rep], np.int64)), t,
        g.const(np.array([head_dim], np.int64))], axis=0)])
    return g.op("Reshape", [expanded, g.op("Concat", [
        b, g.const(np.array([kv_heads * rep], np.int64)), t,
        g.const(np.array([head_dim], np.int64))], axis=0)])


def decode_window(name, heads, kv_heads, window, where_scores):
    """A decode-step attention with past and present caches."""
    g, d = Graph(), 16
    present_k = g.op("Concat", ["past_key", "key"], axis=2)
    present_v = g.op("Concat", ["past_value", "value"], axis=2)
    k, v = present_k, present_v
    if heads != kv_heads:
        k = repeat_kv(g, k, kv_heads, heads // kv_heads, d)
        v = repeat_kv(g, v, kv_heads, heads // kv_heads, d)
    scores = g.op("Mul", [g.op("MatMul", ["query", g.op("Transpose", [k], perm=[0, 1, 3, 2])]),
                          g.const(np.array(d ** -0.5, np.float32))])
    mask = band_mask(g, "past_key", "query", window, less_spelling=where_scores)
    minimum = g.const(np.array(MIN, np.float32))
    if where_scores:
        scores = g.op("Where", [mask, scores, minimum])
    else:
        scores = g.op("Add", [scores, g.op("Where", [mask, g.const(np.array(0, np.float32)),
                                                     minimum])])
    out = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), v])
    g.nodes += [helper.make_node("Identity", [out], ["attn_output"]),
                helper.make_node("Identity", [present_k], ["present_key"]),
                helper.make_node("Identity", [present_v], ["present_value"])]
    inputs = [helper.make_tensor_value_info("query", F, ["batch", heads, "seq", d]),
              helper.make_tensor_value_info("key", F, ["batch", kv_heads, "seq", d]),
              helper.make_tensor_value_info("value", F, ["batch", kv_heads, "seq", d]),
              helper.make_tensor_value_info("past_key", F, ["batch", kv_heads, "past", d]),
              helper.make_tensor_value_info("past_value", F, ["batch", kv_heads, "past", d])]
    outputs = [helper.make_tensor_value_info("attn_output", F, ["batch", heads, "seq", d]),
               helper.make_tensor_value_info("present_key", F, ["batch", kv_heads, "total", d]),
               helper.make_tensor_value_info("present_value", F, ["batch", kv_heads, "total", d])]
    rng = np.random.default_rng(7)
    feeds = {"query": rng.standard_normal((1, heads, 1, d)),
             "key": rng.standard_normal((1, kv_heads, 1, d)),
             "value": rng.standard_normal((1, kv_heads, 1, d)),
             "past_key": rng.standard_normal((1, kv_heads, 20, d)),
             "past_value": rng.standard_normal((1, kv_heads, 20, d))}
    return finish(g, name, inputs, outputs, feeds)


def gemma2_window():
    """A prompt of 12 tokens, window 4, softcap 50, constant band mask."""
    g, heads, s, d, window, cap = Graph(), 4, 12, 16, 4, 50.0
    i, j = np.arange(s)[:, None], np.arange(s)[None, :]
    band = np.where((j <= i) & (j > i - window), 0.0, MIN).astype(np.float32)
    scores = g.op("Mul", [g.op("MatMul", ["query", g.op("Transpose", ["key"], perm=[0, 1, 3, 2])]),
                          g.const(np.array(d ** -0.5, np.float32))])
    capped = g.op("Mul", [g.op("Tanh", [g.op("Div", [scores, g.const(np.array(cap, np.float32))])]),
                          g.const(np.array(cap, np.float32))])
    masked = g.op("Add", [capped, g.const(band.reshape(1, 1, s, s))])
    out = g.op("MatMul", [g.op("Softmax", [masked], axis=-1), "value"])
    g.nodes.append(helper.make_node("Identity", [out], ["attn_output"]))
    inputs = [helper.make_tensor_value_info(n, F, [1, heads, s, d])
              for n in ("query", "key", "value")]
    outputs = [helper.make_tensor_value_info("attn_output", F, [1, heads, s, d])]
    rng = np.random.default_rng(3)
    feeds = {n: 4 * rng.standard_normal((1, heads, s, d)) for n in ("query", "key", "value")}
    return finish(g, "gemma2_window", inputs, outputs, feeds)


def finish(g, name, inputs, outputs, feeds):
    graph = helper.make_graph(g.nodes, name, inputs, outputs, g.inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    m.ir_version = 9
    onnx.checker.check_model(m)
    return m, {k: v.astype(np.float32) for k, v in feeds.items()}


MODELS = {
    "mistral_window": lambda: decode_window("mistral_window", 4, 4, 8, False),
    "qwen2_window": lambda: decode_window("qwen2_window", 8, 2, 6, True),
    "gemma2_window": gemma2_window,
}


def main():
    out_dir, names = sys.argv[1], sys.argv[2:]
    os.makedirs(out_dir, exist_ok=True)
    for name in names:
        if name not in MODELS:
            sys.exit(f"unknown model '{name}' (known: {', '.join(MODELS)})")
        model, feeds = MODELS[name]()
        path = os.path.join(out_dir, name + ".onnx")
        onnx.save(model, path)
        np.savez(os.path.join(out_dir, name + ".in.npz"), **feeds)
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        results = session.run(None, feeds)
        np.savez(os.path.join(out_dir, name + ".ort.npz"),
                 **{o.name: r for o, r in zip(session.get_outputs(), results)})


if __name__ == "__main__":
    main()
