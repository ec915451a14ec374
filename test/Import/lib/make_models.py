#!/usr/bin/env python3
"""Small ONNX models for the import tests, by name.

  make_models.py OUT_DIR NAME...

writes OUT_DIR/NAME.onnx (plus OUT_DIR/NAME.in.npz inputs and external data
files where the model has them). Malformed models for the error tests are
written byte by byte."""

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT


def vi(name, shape, elem=F):
    return helper.make_tensor_value_info(name, elem, shape)


def model(nodes, inputs, outputs, inits=(), opset=23, name="g"):
    g = helper.make_graph(nodes, name, inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 10
    return m


def attention_3d_gqa_mask_past():
    """3-D GQA with a short float mask, a past, causal: head split/merge,
    cache concat, mask padding, causal offset = past length."""
    node = helper.make_node(
        "Attention", ["Q", "K", "V", "mask", "pk", "pv"], ["Y", "pk_out", "pv_out"],
        name="attn_gqa", q_num_heads=6, kv_num_heads=2, is_causal=1)
    return model([node], [vi("Q", [1, 3, 48]), vi("K", [1, 3, 16]),
                          vi("V", [1, 3, 16]), vi("mask", [3, 5]),
                          vi("pk", [1, 2, 4, 8]), vi("pv", [1, 2, 4, 8])],
                 [vi("Y", [1, 3, 48]), vi("pk_out", None), vi("pv_out", None)])


def attention_nonpad_causal():
    node = helper.make_node(
        "Attention", ["Q", "K", "V", "", "", "", "lens"], ["Y"],
        name="attn_cache", is_causal=1, scale=0.5)
    return model([node], [vi("Q", [2, 4, 1, 8]), vi("K", [2, 2, 16, 8]),
                          vi("V", [2, 2, 16, 8]),
                          vi("lens", [2], TensorProto.INT64)],
                 [vi("Y", None)], opset=24)


def attention_qk_output():
    node = helper.make_node(
        "Attention", ["Q", "K", "V"], ["Y", "", "", "qk"], name="attn_qk",
        softcap=5.0, qk_matmul_output_mode=1)
    return model([node], [vi("Q", [1, 2, 3, 8]), vi("K", [1, 2, 4, 8]),
                          vi("V", [1, 2, 4, 8])], [vi("Y", None), vi("qk", None)])


def attention_repeat_kv():
    """What torch.export emits for GQA SDPA: repeat_kv (Unsqueeze, Expand,
    Reshape) in front of Attention."""
    consts = [numpy_helper.from_array(np.array([2], np.int64), "ax"),
              numpy_helper.from_array(np.array([1, 2, 4, 5, 8], np.int64), "rep"),
              numpy_helper.from_array(np.array([1, 8, 5, 8], np.int64), "flat")]
    nodes = []
    for x in "KV":
        nodes += [helper.make_node("Unsqueeze", [x, "ax"], [x + "u"]),
                  helper.make_node("Expand", [x + "u", "rep"], [x + "e"]),
                  helper.make_node("Reshape", [x + "e", "flat"], [x + "r"])]
    nodes.append(helper.make_node("Attention", ["Q", "Kr", "Vr"], ["Y"],
                                  name="sdpa"))
    return model(nodes, [vi("Q", [1, 8, 3, 8]), vi("K", [1, 2, 5, 8]),
                         vi("V", [1, 2, 5, 8])], [vi("Y", None)], consts)


def elementwise_broadcast():
    return model([helper.make_node("Add", ["a", "b"], ["y"], name="add0")],
                 [vi("a", [2, 3, 4]), vi("b", [3, 1])], [vi("y", None)])


def shape_subgraph():
    """Shape -> Gather -> Unsqueeze -> Concat -> Reshape folds to a static
    reshape; Range + Cast + Equal fold to a constant mask."""
    inits = [numpy_helper.from_array(np.array(1, np.int64), "one"),
             numpy_helper.from_array(np.array([0], np.int64), "ax0"),
             numpy_helper.from_array(np.array([-1], np.int64), "minus1"),
             numpy_helper.from_array(np.array(0, np.int64), "zero")]
    nodes = [helper.make_node("Shape", ["x"], ["s"], name="shape"),
             helper.make_node("Gather", ["s", "one"], ["d1"], name="gather"),
             helper.make_node("Unsqueeze", ["d1", "ax0"], ["d1u"]),
             helper.make_node("Concat", ["d1u", "minus1"], ["tgt"], axis=0),
             helper.make_node("Reshape", ["x", "tgt"], ["y"], name="reshape"),
             helper.make_node("Range", ["zero", "d1", "one"], ["r"]),
             helper.make_node("Cast", ["r"], ["rf"], to=F),
             helper.make_node("Equal", ["r", "one"], ["m"])]
    return model(nodes, [vi("x", [2, 6, 4])],
                 [vi("y", None), vi("m", None, TensorProto.BOOL),
                  vi("rf", None)], inits)


def matmul_gemm():
    w = numpy_helper.from_array(np.ones((8, 4), np.float32), "w")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="proj"),
             helper.make_node("Gemm", ["x2", "w"], ["g"], name="gemm",
                              transA=0, alpha=2.0)]
    return model(nodes, [vi("x", [2, 3, 8]), vi("x2", [5, 8])],
                 [vi("h", None), vi("g", None)], [w])


def symbolic_dims():
    """Inputs with symbolic batch and sequence sizes."""
    nodes = [helper.make_node("Add", ["a", "b"], ["s"]),
             helper.make_node("ReduceSum", ["s", "ax"], ["y"], keepdims=0)]
    ax = numpy_helper.from_array(np.array([1], np.int64), "ax")
    return model(nodes, [vi("a", ["batch", "seq", 4]), vi("b", ["seq", 4])],
                 [vi("y", ["batch", 4])], [ax], opset=18)


def external_data(out_dir):
    """Two initializers in one external file, one at an offset."""
    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    b = np.arange(4, dtype=np.float32) * 0.5
    data = w.tobytes() + b.tobytes()
    with open(os.path.join(out_dir, "external_data.bin"), "wb") as f:
        f.write(data)
    tw = onnx.TensorProto(name="w", data_type=F, dims=[3, 4],
                          data_location=TensorProto.EXTERNAL)
    tb = onnx.TensorProto(name="b", data_type=F, dims=[4],
                          data_location=TensorProto.EXTERNAL)
    for t, off, n in [(tw, 0, 48), (tb, 48, 16)]:
        for k, v in [("location", "external_data.bin"), ("offset", str(off)),
                     ("length", str(n))]:
            e = t.external_data.add()
            e.key, e.value = k, v
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]),
             helper.make_node("Add", ["h", "b"], ["y"])]
    np.savez(os.path.join(out_dir, "external_data.in.npz"),
             x=np.ones((2, 3), np.float32))
    np.savez(os.path.join(out_dir, "external_data.want.npz"),
             y=np.ones((2, 3), np.float32) @ w + b)
    return model(nodes, [vi("x", [2, 3])], [vi("y", None)], [tw, tb])


def external_data_escape(out_dir):
    m = external_data(out_dir)
    m.graph.initializer[0].external_data[0].value = "../outside.bin"
    return m


def local_function(out_dir):
    """A model-local function (x * sigmoid(x), with an attribute reference)
    called twice; the importer inlines each call."""
    fn = helper.make_function(
        "custom", "Swishish", ["x"], ["y"],
        [helper.make_node("Constant", [], ["a"], value_float=1.0),
         helper.make_node("Mul", ["x", "a"], ["ax"]),
         helper.make_node("Sigmoid", ["ax"], ["s"]),
         helper.make_node("Mul", ["x", "s"], ["y"])],
        [helper.make_opsetid("", 18)])
    nodes = [helper.make_node("Swishish", ["inp"], ["mid"], domain="custom",
                              name="call1"),
             helper.make_node("Swishish", ["mid"], ["out"], domain="custom",
                              name="call2")]
    m = model(nodes, [vi("inp", [2, 3])], [vi("out", [2, 3])], opset=18)
    m.opset_import.append(helper.make_opsetid("custom", 1))
    m.functions.append(fn)
    x = np.linspace(-3, 3, 6, dtype=np.float32).reshape(2, 3)
    swish = lambda v: v / (1 + np.exp(-v))  # noqa: E731
    np.savez(os.path.join(out_dir, "local_function.in.npz"), inp=x)
    np.savez(os.path.join(out_dir, "local_function.want.npz"),
             out=swish(swish(x.astype(np.float64))))
    return m


def recursive_function():
    fn = helper.make_function(
        "custom", "Rec", ["x"], ["y"],
        [helper.make_node("Rec", ["x"], ["y"], domain="custom")],
        [helper.make_opsetid("", 18), helper.make_opsetid("custom", 1)])
    m = model([helper.make_node("Rec", ["x"], ["y"], domain="custom",
                                name="call")],
              [vi("x", [2])], [vi("y", None)], opset=18)
    m.opset_import.append(helper.make_opsetid("custom", 1))
    m.functions.append(fn)
    return m


def raw_data_size_mismatch():
    t = onnx.TensorProto(name="w", data_type=F, dims=[2, 3],
                         raw_data=b"\0" * 20)
    return model([helper.make_node("Add", ["x", "w"], ["y"])],
                 [vi("x", [2, 3])], [vi("y", None)], [t])


def typed_data_count_mismatch():
    t = helper.make_tensor("w", F, [2, 3], [1.0, 2.0, 3.0])
    return model([helper.make_node("Add", ["x", "w"], ["y"])],
                 [vi("x", [2, 3])], [vi("y", None)], [t])


def unsupported_ops():
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv1"),
             helper.make_node("Relu", ["c"], ["r"], name="relu1"),
             helper.make_node("Conv", ["r", "w"], ["c2"], name="conv2"),
             helper.make_node("TopK", ["c2", "k"], ["v", "i"], name="topk"),
             helper.make_node("FusedMatMul", ["v", "v"], ["y"], name="fmm",
                              domain="com.microsoft")]
    m = model(nodes, [vi("x", [1, 1, 4, 4]), vi("w", [1, 1, 1, 1]),
                      vi("k", [1], TensorProto.INT64)], [vi("y", None)])
    m.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return m


def cycle():
    nodes = [helper.make_node("Add", ["x", "b"], ["a"], name="first"),
             helper.make_node("Relu", ["a"], ["b"], name="second")]
    return model(nodes, [vi("x", [2])], [vi("b", None)])


def undefined_input():
    return model([helper.make_node("Add", ["x", "nowhere"], ["y"], name="add")],
                 [vi("x", [2])], [vi("y", None)])


def matmul_mismatch():
    return model([helper.make_node("MatMul", ["a", "b"], ["y"], name="mm")],
                 [vi("a", [2, 3]), vi("b", [4, 5])], [vi("y", None)])


def reshape_impossible():
    s = numpy_helper.from_array(np.array([4, -1], np.int64), "s")
    return model([helper.make_node("Reshape", ["x", "s"], ["y"], name="rs")],
                 [vi("x", [2, 3])], [vi("y", None)], [s])


def heads_not_dividing():
    return model([helper.make_node("Attention", ["Q", "K", "V"], ["Y"],
                                   name="attn_bad")],
                 [vi("Q", [1, 6, 2, 8]), vi("K", [1, 4, 2, 8]),
                  vi("V", [1, 4, 2, 8])], [vi("Y", None)])


def heads_not_dividing_3d():
    return model([helper.make_node("Attention", ["Q", "K", "V"], ["Y"],
                                   name="attn_3d", q_num_heads=5,
                                   kv_num_heads=2)],
                 [vi("Q", [1, 2, 24]), vi("K", [1, 2, 8]),
                  vi("V", [1, 2, 8])], [vi("Y", None)])


def attention_shape_mismatch():
    return model([helper.make_node("Attention", ["Q", "K", "V"], ["Y"],
                                   name="attn_dims")],
                 [vi("Q", [1, 2, 2, 8]), vi("K", [1, 2, 3, 6]),
                  vi("V", [1, 2, 3, 8])], [vi("Y", None)])


def broadcast_mismatch():
    return model([helper.make_node("Mul", ["a", "b"], ["y"], name="mul")],
                 [vi("a", [2, 3]), vi("b", [4])], [vi("y", None)])


def dynamic_range():
    return model([helper.make_node("Range", ["a", "b", "c"], ["y"], name="rng")],
                 [vi("a", [], TensorProto.INT64), vi("b", [], TensorProto.INT64),
                  vi("c", [], TensorProto.INT64)], [vi("y", None)])


MODELS = {f.__name__: f for f in [
    attention_3d_gqa_mask_past, attention_nonpad_causal, attention_qk_output,
    attention_repeat_kv, elementwise_broadcast, shape_subgraph, matmul_gemm,
    symbolic_dims, raw_data_size_mismatch, typed_data_count_mismatch,
    unsupported_ops, cycle, undefined_input, matmul_mismatch,
    reshape_impossible, heads_not_dividing, heads_not_dividing_3d,
    attention_shape_mismatch, broadcast_mismatch, dynamic_range,
    recursive_function]}
WITH_DIR = {"external_data": external_data, "local_function": local_function,
            "external_data_escape": external_data_escape}


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    for name in sys.argv[2:]:
        path = os.path.join(out_dir, name + ".onnx")
        if name in WITH_DIR:
            m = WITH_DIR[name](out_dir)
        elif name == "truncated":
            src = attention_3d_gqa_mask_past().SerializeToString()
            with open(path, "wb") as f:
                f.write(src[: len(src) // 2])
            continue
        elif name == "not_a_model":
            with open(path, "wb") as f:
                f.write(b"this is not a protobuf \xff\xff\xff\xff")
            continue
        elif name == "empty":
            open(path, "wb").close()
            continue
        else:
            m = MODELS[name]()
        onnx.save(m, path)


if __name__ == "__main__":
    main()
