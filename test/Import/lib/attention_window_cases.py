#!/usr/bin/env python3
"""ONNX Attention opset 25 windows (left_window_size / right_window_size,
onnx/onnx#8108), with a numpy reference of the opset-25 semantics.

  attention_window_cases.py OUT_DIR

writes OUT_DIR/NAME.onnx, NAME.in.npz and NAME.ref.npz for every case, and
the malformed models bad_*.onnx. The installed onnx may predate opset 25,
so the models declare it raw and skip the checker.

Semantics: the query row i stands at p = offset + i (offset = the past
length with past_key, nonpad_kv_seqlen[b] - Sq with an external cache
(nonpad_kv_seqlen and no past_key, opset 24), else 0) and sees key j iff
p - left <= j <= p + right (-1: that side unbounded), intersected with the
causal mask j <= p when is_causal and with j < nonpad_kv_seqlen[b]; a row
with no key gives 0.
"""

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

F = TensorProto.FLOAT


def reference(q, k, v, left, right, causal, past_k=None, past_v=None, lens=None):
    offset = np.zeros((q.shape[0], 1, 1, 1), np.int64)
    if lens is not None:
        offset = (lens - q.shape[2]).reshape(-1, 1, 1, 1)
    if past_k is not None:
        offset = past_k.shape[2]
        k = np.concatenate([past_k, k], axis=2)
        v = np.concatenate([past_v, v], axis=2)
    hq, hkv = q.shape[1], k.shape[1]
    k = np.repeat(k, hq // hkv, axis=1)
    v = np.repeat(v, hq // hkv, axis=1)
    scores = q.astype(np.float64) @ k.transpose(0, 1, 3, 2) / np.sqrt(q.shape[3])
    sq, skv = q.shape[2], k.shape[2]
    p = offset + np.arange(sq)[:, None]
    j = np.arange(skv)[None, :]
    keep = np.ones((q.shape[0], 1, sq, skv), bool)
    if lens is not None:
        keep &= j < lens.reshape(-1, 1, 1, 1)
    if causal:
        keep &= j <= p
    if left >= 0:
        keep &= j >= p - left
    if right >= 0:
        keep &= j <= p + right
    scores = np.where(keep, scores, -np.inf)
    peak = np.max(scores, axis=-1, keepdims=True)
    weights = np.where(keep, np.exp(scores - np.where(np.isfinite(peak), peak, 0)), 0)
    total = weights.sum(-1, keepdims=True)
    weights = np.where(total > 0, weights / np.where(total > 0, total, 1), 0)
    return (weights @ v).astype(np.float32)


def make(name, out_dir, q_shape, kv_shape, left, right, causal, past=0, extra=None):
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    feeds = {"Q": rng.standard_normal(q_shape), "K": rng.standard_normal(kv_shape),
             "V": rng.standard_normal(kv_shape)}
    inputs = ["Q", "K", "V"]
    if past:
        pshape = (kv_shape[0], kv_shape[1], past, kv_shape[3])
        feeds["past_key"] = rng.standard_normal(pshape)
        feeds["past_value"] = rng.standard_normal(pshape)
        inputs += ["", "past_key", "past_value"]
    if extra:
        inputs += extra[0]
        feeds.update(extra[1])
    feeds = {n: a.astype(np.float32) if a.dtype.kind == "f" else a for n, a in feeds.items()}
    attrs = {"left_window_size": left, "right_window_size": right}
    if causal:
        attrs["is_causal"] = 1
    outputs = ["Y", "present_key", "present_value"] if past else ["Y"]
    node = helper.make_node("Attention", inputs, outputs, name=name, **attrs)
    ins = [helper.make_tensor_value_info(n, F if a.dtype == np.float32 else TensorProto.INT64,
                                         list(a.shape)) for n, a in feeds.items()]
    outs = [helper.make_tensor_value_info(n, F, None) for n in outputs]
    graph = helper.make_graph([node], name, ins, outs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 25)])
    model.ir_version = 11
    onnx.save(model, os.path.join(out_dir, name + ".onnx"))
    np.savez(os.path.join(out_dir, name + ".in.npz"), **feeds)
    if name.startswith("bad_"):
        return
    y = reference(feeds["Q"], feeds["K"], feeds["V"], left, right, causal,
                  feeds.get("past_key"), feeds.get("past_value"), feeds.get("lens"))
    np.savez(os.path.join(out_dir, name + ".ref.npz"), Y=y)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    # The schema's example: 4 queries, 6 keys, (2, 1), no cache, not causal.
    make("window_2_1", out, (1, 2, 4, 8), (1, 2, 6, 8), 2, 1, False)
    # A causal sliding window (Mistral: left W - 1, right 0) with GQA.
    make("causal_window_gqa", out, (2, 8, 6, 16), (2, 2, 6, 16), 3, 0, True)
    # Causal with a past of 10: p = 10 + i, so the window follows the past.
    make("causal_window_past", out, (1, 4, 2, 8), (1, 2, 2, 8), 4, 0, True, past=10)
    # Not causal with a past of 5: left 7 >= past shifts to window(2, 6).
    make("window_past_shift", out, (1, 2, 3, 8), (1, 2, 3, 8), 7, 1, False, past=5)
    # Only a right bound.
    make("right_only", out, (1, 2, 5, 8), (1, 2, 5, 8), -1, 1, False)
    # Not causal with a past of 5 and left 2 < past: attn's window would
    # need left -3, so the window becomes part of the mask.
    make("past_left_mask", out, (1, 2, 3, 8), (1, 2, 3, 8), 2, 0, False, past=5)
    # An external cache: each batch row's window stands at
    # nonpad_kv_seqlen[b] - Sq + i (part of the mask), causal and not.
    lens = (["", "", "", "lens"], {"lens": np.array([5, 8], np.int64)})
    make("nonpad_causal_window", out, (2, 2, 1, 8), (2, 2, 8, 8), 2, 0, True, extra=lens)
    make("nonpad_window", out, (2, 4, 2, 8), (2, 2, 8, 8), 1, 1, False, extra=lens)
    # Malformed.
    make("bad_left", out, (1, 2, 4, 8), (1, 2, 4, 8), -3, 0, False)


if __name__ == "__main__":
    main()
