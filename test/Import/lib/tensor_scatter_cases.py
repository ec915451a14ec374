#!/usr/bin/env python3
"""ONNX TensorScatter (opset 24): a decode step in the external-cache form
that the Attention spec describes, and malformed TensorScatter nodes.

  tensor_scatter_cases.py OUT_DIR

writes OUT_DIR/step.onnx (GQA, 8 query / 2 KV heads of 16: the step's keys
and values go into fixed-size caches of 12 positions by TensorScatter at
write_indices, and Attention reads the caches with nonpad_kv_seqlen =
write_indices + 2), step.in.npz and step.ref.npz (onnxruntime's outputs),
and the malformed models bad_*.onnx.
"""

import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

F, I64 = TensorProto.FLOAT, TensorProto.INT64


def vi(name, shape, elem=F):
    return helper.make_tensor_value_info(name, elem, shape)


def save(out, name, nodes, inputs, outputs, opset=24):
    graph = helper.make_graph(nodes, name, inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    path = os.path.join(out, name + ".onnx")
    onnx.save(model, path)
    return model


def step(out):
    b, hq, hkv, d, cache, new = 2, 8, 2, 16, 12, 2
    nodes = [
        helper.make_node("TensorScatter", ["past_key", "k", "write_indices"],
                         ["present_key"], name="write_k"),
        helper.make_node("TensorScatter", ["past_value", "v", "write_indices"],
                         ["present_value"], name="write_v"),
        helper.make_node("Add", ["write_indices", "new_len"], ["lens"]),
        helper.make_node("Attention", ["q", "present_key", "present_value", "",
                                       "", "", "lens"], ["y"], name="attend",
                         is_causal=1),
    ]
    inputs = [vi("q", [b, hq, new, d]), vi("k", [b, hkv, new, d]),
              vi("v", [b, hkv, new, d]), vi("past_key", [b, hkv, cache, d]),
              vi("past_value", [b, hkv, cache, d]),
              vi("write_indices", [b], I64), vi("new_len", [1], I64)]
    outputs = [vi("y", [b, hq, new, d]), vi("present_key", [b, hkv, cache, d]),
               vi("present_value", [b, hkv, cache, d])]
    model = save(out, "step", nodes, inputs, outputs)
    rng = np.random.default_rng(24)
    feeds = {i.name: rng.standard_normal(
        [x.dim_value for x in i.type.tensor_type.shape.dim]).astype(np.float32)
        for i in inputs[:5]}
    # Row 0 has 3 valid positions, row 1 has 9: the step writes at 3 and 9.
    feeds["write_indices"] = np.array([3, 9], np.int64)
    feeds["new_len"] = np.array([new], np.int64)
    sess = ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"])
    names = [o.name for o in outputs]
    ref = dict(zip(names, sess.run(names, feeds)))
    np.savez(os.path.join(out, "step.in.npz"), **feeds)
    np.savez(os.path.join(out, "step.ref.npz"), **ref)


def bad(out):
    def scatter(name, cache, update, indices=None, index_type=I64, opset=24,
                **attrs):
        ins = ["c", "u"] + (["w"] if indices is not None else [])
        node = helper.make_node("TensorScatter", ins, ["y"], name="ts", **attrs)
        inputs = [vi("c", cache), vi("u", update)]
        if indices is not None:
            inputs.append(vi("w", indices, index_type))
        save(out, name, [node], inputs, [vi("y", cache)], opset)

    scatter("bad_mode", [2, 4, 3], [2, 1, 3], mode="ring", axis=1)
    scatter("bad_axis", [2, 4, 3], [2, 1, 3], axis=0)
    scatter("bad_shape", [2, 4, 3], [2, 1, 5], axis=1)
    scatter("bad_too_long", [2, 4, 3], [2, 5, 3], axis=1)
    scatter("bad_indices_shape", [2, 4, 3], [2, 1, 3], [3], axis=1)
    scatter("bad_indices_type", [2, 4, 3], [2, 1, 3], [2], TensorProto.INT32,
            axis=1)
    scatter("bad_opset", [2, 4, 3], [2, 1, 3], axis=1, opset=23)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    step(out)
    bad(out)


if __name__ == "__main__":
    main()
