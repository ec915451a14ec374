#!/usr/bin/env python3
"""Prompt-form (no past) exports of the tiny decoder, and what ONNX Runtime
computes from them.

  prompt_models.py OUT_DIR NAME [--kv-heads N] [--f16] [--prompt S] [--steps N]

An exporter that traces a decoder without a cache writes the prompt form:
input_ids / position_ids [1, S] -> logits [1, S, V] and each layer's
present keys / values, which are the new ones (no Concat with a past). This
script derives that form from tiny_decoder's decode step by replacing each
Concat(past_i, new) with Identity(new) and dropping the past inputs; with
--f16 every float initializer, input and output is half precision and the
causal mask's fill value is f16's lowest (-65504), as a model exported in
half precision has it. Writes

  NAME.onnx         the prompt form, sizes symbolic ("seq")
  NAME.step.onnx    the decode step of the same weights (past inputs)
  NAME.in.npz       input_ids / position_ids of an S-token prompt
  NAME.ort.npz      ONNX Runtime's outputs of NAME.onnx on them
  NAME.gen.npz      `tokens` [N]: ONNX Runtime's greedy continuation, the
                    prompt through NAME.onnx then N - 1 steps of
                    NAME.step.onnx from its presents (the first token is the
                    argmax of the prompt's last logits)
"""

import argparse
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(ROOT, "..", "..", "..", "python"))
from attn_mlir_models.tiny_decoder import DecoderConfig, build_tiny_decoder  # noqa: E402


def to_f16(model: onnx.ModelProto) -> onnx.ModelProto:
    """Every float initializer, graph input and output in f16; the causal
    mask's fill (float32's lowest) becomes f16's lowest."""
    g = model.graph
    for i, t in enumerate(g.initializer):
        if t.data_type != TensorProto.FLOAT:
            continue
        a = numpy_helper.to_array(t)
        if a.size == 1 and a.reshape(-1)[0] == np.finfo(np.float32).min:
            a = np.full(a.shape, np.finfo(np.float16).min, np.float32)
        g.initializer[i].CopyFrom(numpy_helper.from_array(a.astype(np.float16), t.name))
    for v in list(g.input) + list(g.output):
        if v.type.tensor_type.elem_type == TensorProto.FLOAT:
            v.type.tensor_type.elem_type = TensorProto.FLOAT16
    return model


def prompt_form(step: onnx.ModelProto) -> onnx.ModelProto:
    """The decode step without its past: Concat(past, new) -> Identity(new)."""
    model = onnx.ModelProto()
    model.CopyFrom(step)
    g = model.graph
    past = {i.name for i in g.input if i.name.startswith("past_")}
    nodes = []
    for n in g.node:
        if n.op_type == "Concat" and n.input[0] in past:
            nodes.append(helper.make_node("Identity", [n.input[1]], list(n.output),
                                          name=n.name))
        else:
            nodes.append(n)
    del g.node[:]
    g.node.extend(nodes)
    inputs = [i for i in g.input if i.name not in past]
    del g.input[:]
    g.input.extend(inputs)
    for o in g.output:
        if o.name.startswith("present_"):
            o.type.tensor_type.shape.dim[2].dim_param = "seq"
    for v in list(g.input) + [g.output[0]]:
        v.type.tensor_type.shape.dim[0].dim_value = 1
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("name")
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--d-model", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=96)
    ap.add_argument("--f16", action="store_true")
    ap.add_argument("--prompt", type=int, default=24)
    ap.add_argument("--steps", type=int, default=6)
    args = ap.parse_args()
    cfg = DecoderConfig(vocab=args.vocab, d_model=args.d_model, n_layer=args.layers,
                        n_head=args.heads, n_kv_head=args.kv_heads, n_positions=128,
                        seed=3)
    step = build_tiny_decoder(cfg)
    if args.f16:
        step = to_f16(step)
    for v in list(step.graph.input) + list(step.graph.output):
        v.type.tensor_type.shape.dim[0].dim_value = 1
    prompt = prompt_form(step)
    onnx.checker.check_model(prompt)
    base = os.path.join(args.out, args.name)
    onnx.save(prompt, base + ".onnx")
    onnx.save(step, base + ".step.onnx")

    rng = np.random.default_rng(5)
    s = args.prompt
    feeds = {"input_ids": rng.integers(0, cfg.vocab, (1, s), dtype=np.int64),
             "position_ids": np.arange(s, dtype=np.int64).reshape(1, s)}
    np.savez(base + ".in.npz", **feeds)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(base + ".onnx", opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    outs = dict(zip(names, sess.run(None, feeds)))
    np.savez(base + ".ort.npz", **outs)

    dec = ort.InferenceSession(base + ".step.onnx", opts, providers=["CPUExecutionProvider"])
    tokens = [int(outs["logits"][0, -1].argmax())]
    cache = {n.replace("present_", "past_"): v for n, v in outs.items()
             if n.startswith("present_")}
    for p in range(s, s + args.steps - 1):
        r = dict(zip([o.name for o in dec.get_outputs()],
                     dec.run(None, {"input_ids": np.array([[tokens[-1]]], np.int64),
                                    "position_ids": np.array([[p]], np.int64), **cache})))
        tokens.append(int(r["logits"][0, -1].argmax()))
        cache = {n.replace("present_", "past_"): v for n, v in r.items()
                 if n.startswith("present_")}
    np.savez(base + ".gen.npz", tokens=np.array(tokens, np.int64))
    print(f"{base}: tokens {tokens}")


if __name__ == "__main__":
    main()
