#!/usr/bin/env python3
"""Writes the prompt (prefill) form of bench/compile_size.py's SmolLM-135M-shaped
decoder: input_ids / position_ids [1, seq] -> logits [1, seq, vocab] and every
layer's present keys / values, no past inputs; f16 (default) or f32, the weights
as ONNX external data in compile_size.py's own layout (so that --data-only
regenerates the identical file on a GPU machine for a library compiled
elsewhere with --params=external).

  bench/gpu_prompt_model.py --out DIR [--layers 30] [--dtype f16|f32]
      [--max-pos 2048] [--data-only] [--decode]

Writes DIR/prompt.onnx (+ DIR/model.onnx.data) and prints the data file's
sha256. --decode also writes DIR/decode.onnx: the decode step (past inputs,
one new token) with the same initializers, reading the same data file, so
that a prompt's presents become the decode step's past. f16: every float initializer, input and output in f16 (the attention
mask's fill value is f16's lowest, -65504), as a model exported in half
precision; the numbers are compile_size.py's f32 weights rounded once.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import compile_size  # noqa: E402
from compile_size import DecoderConfig, save_external  # noqa: E402


def prompt_form(model: onnx.ModelProto, cfg: DecoderConfig, f16: bool,
                decode: bool = False) -> onnx.ModelProto:
    """The decode step without its past: present = the new keys / values.
    With `decode`, the decode step itself (past inputs [1, Hkv, past, D],
    one new token), in the same precision and with the same initializers,
    so that both forms read one model.onnx.data."""
    graph = model.graph
    nodes = []
    for n in graph.node:
        if n.op_type == "Concat" and n.output[0].startswith("present_") and not decode:
            # Concat(past, new) -> Identity(new).
            nodes.append(helper.make_node("Identity", [n.input[1]], list(n.output),
                                          name=n.name))
        else:
            nodes.append(n)
    float_type = TensorProto.FLOAT16 if f16 else TensorProto.FLOAT
    inits = []
    for t in graph.initializer:
        if t.data_type == TensorProto.FLOAT and f16:
            a = numpy_helper.to_array(t)
            if t.name.startswith("min_"):
                a = np.array(np.finfo(np.float16).min, dtype=np.float32)
            t = numpy_helper.from_array(a.astype(np.float16), t.name)
        inits.append(t)
    i64 = TensorProto.INT64
    seq = 1 if decode else "seq"
    total = "past_plus_1" if decode else "seq"
    head_dim = cfg.d_model // cfg.n_head
    inputs = [helper.make_tensor_value_info("input_ids", i64, [1, seq]),
              helper.make_tensor_value_info("position_ids", i64, [1, seq])]
    outputs = [helper.make_tensor_value_info("logits", float_type, [1, seq, cfg.vocab])]
    for layer in range(cfg.n_layer):
        for kind in ("key", "value"):
            if decode:
                inputs.append(helper.make_tensor_value_info(
                    f"past_{kind}_{layer}", float_type,
                    [1, cfg.n_kv_head, "past", head_dim]))
            outputs.append(helper.make_tensor_value_info(
                f"present_{kind}_{layer}", float_type,
                [1, cfg.n_kv_head, total, head_dim]))
    name = "smollm_shape_step" if decode else "smollm_shape_prompt"
    out = helper.make_model(helper.make_graph(nodes, name, inputs, outputs, inits),
                            opset_imports=[helper.make_opsetid("", 17)])
    out.ir_version = 9
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--layers", type=int, default=30)
    ap.add_argument("--vocab", type=int, default=49152)
    ap.add_argument("--dtype", choices=("f16", "f32"), default="f16")
    ap.add_argument("--max-pos", type=int, default=2048)
    ap.add_argument("--data-only", action="store_true")
    ap.add_argument("--decode", action="store_true",
                    help="also write DIR/decode.onnx, the decode step on the same data")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    cfg = DecoderConfig(vocab=args.vocab, d_model=576, n_layer=args.layers, n_head=9,
                        n_kv_head=3, n_positions=args.max_pos)
    f16 = args.dtype == "f16"
    if args.decode and not args.data_only:
        step = prompt_form(compile_size.build(cfg, args.max_pos), cfg, f16, decode=True)
        save_external(step, os.path.join(args.out, "decode.onnx"), False)
    model = prompt_form(compile_size.build(cfg, args.max_pos), cfg, f16)
    path = os.path.join(args.out, "prompt.onnx")
    digest = save_external(model, path, args.data_only)
    print(f"{'data of ' if args.data_only else ''}{path}: model.onnx.data sha256 {digest}")


if __name__ == "__main__":
    main()
