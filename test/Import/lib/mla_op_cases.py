#!/usr/bin/env python3
"""ScatterND and GatherElements cases (what multi-head latent attention
exports use), run through attn-run and compared with onnxruntime by
op_cases.py's harness (same flags, same tolerances):

  mla_op_cases.py --work DIR [--only SUBSTRING] [--folded]
  mla_op_cases.py --bad DIR      writes DIR/NAME.onnx for the error tests

Covers every ScatterND reduction (none/add/mul/max/min, with duplicate
indices for the reducing ones), negative and dynamic indices, f16/int data,
the Transpose/Range/ScatterND slice assignment TorchScript emits for
`q[..., a:b] = x`, and GatherElements on every axis with int32/int64,
negative and dynamic indices.
"""

import os
import sys

import numpy as np
from onnx import TensorProto, helper

sys.path.insert(0, os.path.dirname(__file__))
import op_cases  # noqa: E402
from op_cases import BOOL, F16, F32, I32, I64, Case, r  # noqa: E402,F401


def scatter_cases():
    x = r((4, 3, 2))
    rows = np.array([[1], [-1]], I64)
    yield Case("scatternd_rows", "ScatterND",
               [("x", x), ("i", rows), ("u", r((2, 3, 2), seed=3))],
               consts=["i"], opset=11)
    # Indices as a graph input: normalised at run time, not import time.
    yield Case("scatternd_rows_dynamic", "ScatterND",
               [("x", x), ("i", np.array([[-4], [2]], I64)),
                ("u", r((2, 3, 2), seed=3))], opset=13)
    yield Case("scatternd_elements", "ScatterND",
               [("x", x), ("i", np.array([[0, 1, 1], [3, -1, 0], [2, 0, -2]],
                                         I64)),
                ("u", r((3,), seed=4))], consts=["i"], opset=13)
    yield Case("scatternd_pairs_i64", "ScatterND",
               [("x", r((4, 3, 2), I64)),
                ("i", np.array([[[0, 2], [1, 0]], [[-1, -1], [3, 1]]], I64)),
                ("u", r((2, 2, 2), I64, seed=5))], consts=["i"], opset=13)
    yield Case("scatternd_f16", "ScatterND",
               [("x", x.astype(F16)), ("i", rows),
                ("u", r((2, 3, 2), seed=3).astype(F16))], consts=["i"])
    # Duplicate indices: the reductions accumulate every update in order.
    dup = np.array([[0], [2], [0], [-4]], I64)
    upd = r((4, 3, 2), seed=6)
    for red, opset in [("add", 16), ("mul", 16), ("max", 18), ("min", 18)]:
        yield Case(f"scatternd_{red}_dup", "ScatterND",
                   [("x", x), ("i", dup), ("u", upd)], consts=["i"],
                   opset=opset, reduction=red)
        yield Case(f"scatternd_{red}_dup_i64", "ScatterND",
                   [("x", r((4, 3, 2), I64)), ("i", dup),
                    ("u", r((4, 3, 2), I64, seed=7))], opset=opset,
                   reduction=red)
    yield Case("scatternd_add_elements", "ScatterND",
               [("x", x),
                ("i", np.array([[1, 1, 1], [1, 1, 1], [0, -1, 0]], I64)),
                ("u", r((3,), seed=8))], consts=["i"],
               opset=18, reduction="add")
    # TorchScript's slice assignment q[..., nope:] = rot on a zero tensor:
    # the sliced axis goes first, ScatterND with Range indices, back again.
    q = r((1, 2, 1, 6), seed=9)
    nodes = [
        helper.make_node("Slice", ["q", "s0", "e0", "ax"], ["nope"]),
        helper.make_node("Slice", ["q", "e0", "e1", "ax"], ["rot"]),
        helper.make_node("Neg", ["rot"], ["rotn"]),
        helper.make_node("ConstantOfShape", ["shp"], ["zeros"],
                         value=helper.make_tensor("", TensorProto.FLOAT,
                                                  [1], [0.0])),
        helper.make_node("Transpose", ["zeros"], ["zt"], perm=[3, 0, 1, 2]),
        helper.make_node("Range", ["z", "n", "one"], ["r0"]),
        helper.make_node("Unsqueeze", ["r0", "m1"], ["i0"]),
        helper.make_node("Transpose", ["nope"], ["nt"], perm=[3, 0, 1, 2]),
        helper.make_node("ScatterND", ["zt", "i0", "nt"], ["s1"]),
        helper.make_node("Range", ["n", "qk", "one"], ["r1"]),
        helper.make_node("Unsqueeze", ["r1", "m1"], ["i1"]),
        helper.make_node("Transpose", ["rotn"], ["rt"], perm=[3, 0, 1, 2]),
        helper.make_node("ScatterND", ["s1", "i1", "rt"], ["s2"]),
        helper.make_node("Transpose", ["s2"], ["y0"], perm=[1, 2, 3, 0]),
    ]
    one = lambda v: np.array([v], I64)  # noqa: E731
    scalar = lambda v: np.array(v, I64)  # noqa: E731
    yield Case("scatternd_slice_assign", None,
               [("q", q), ("s0", one(0)), ("e0", one(4)), ("e1", one(6)),
                ("ax", one(3)), ("one", scalar(1)), ("m1", one(-1)),
                ("z", scalar(0)), ("n", scalar(4)), ("qk", scalar(6)),
                ("shp", np.array([1, 2, 1, 6], I64))],
               consts=["s0", "e0", "e1", "ax", "one", "m1", "shp", "z", "n",
                       "qk"],
               nodes=nodes, opset=17)


def gather_elements_cases():
    x = r((3, 4, 2))
    for axis in [0, 1, -1]:
        n = x.shape[axis]
        idx = np.random.default_rng(axis + 10).integers(-n, n, (3, 4, 2))
        yield Case(f"gatherelements_axis{axis}", "GatherElements",
                   [("x", x), ("i", idx.astype(I64))], consts=["i"],
                   axis=axis)
    yield Case("gatherelements_dynamic_i32", "GatherElements",
               [("x", x), ("i", np.array([[[0, -1]], [[1, 0]], [[-2, 1]]],
                                         I32))], axis=2)
    # Indices smaller than data off the axis, as topk-style routing gathers.
    yield Case("gatherelements_smaller", "GatherElements",
               [("x", r((4, 5), I64)), ("i", np.array([[4, 0], [-1, 2]], I64))],
               consts=["i"], axis=1)
    yield Case("gatherelements_bool", "GatherElements",
               [("x", r((2, 3), BOOL)), ("i", np.array([[1, 0, 1]], I64))],
               consts=["i"], axis=0, opset=11)


def cases():
    yield from scatter_cases()
    yield from gather_elements_cases()


def bad_models(out):
    """Models each importer must refuse with a clear error."""
    F = TensorProto.FLOAT

    def vi(name, shape, elem=F):
        return helper.make_tensor_value_info(name, elem, shape)

    def save(name, node, inputs, inits, opset):
        g = helper.make_graph([node], name, inputs, [vi("y", None)],
                              initializer=inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
        m.ir_version = 8
        with open(os.path.join(out, name + ".onnx"), "wb") as f:
            f.write(m.SerializeToString())

    def ints(name, values, shape):
        return helper.make_tensor(name, TensorProto.INT64, shape, values)

    x = vi("x", [4, 3])
    save("scatter_out_of_range", helper.make_node(
        "ScatterND", ["x", "i", "u"], ["y"], name="sc"),
        [x, vi("u", [1, 3])], [ints("i", [4], [1, 1])], 13)
    save("scatter_updates_shape", helper.make_node(
        "ScatterND", ["x", "i", "u"], ["y"], name="sc"),
        [x, vi("u", [2, 2])], [ints("i", [0, 1], [2, 1])], 13)
    save("scatter_max_opset16", helper.make_node(
        "ScatterND", ["x", "i", "u"], ["y"], name="sc", reduction="max"),
        [x, vi("u", [1, 3])], [ints("i", [0], [1, 1])], 16)
    save("scatter_bad_reduction", helper.make_node(
        "ScatterND", ["x", "i", "u"], ["y"], name="sc", reduction="mean"),
        [x, vi("u", [1, 3])], [ints("i", [0], [1, 1])], 18)
    save("scatter_index_too_deep", helper.make_node(
        "ScatterND", ["x", "i", "u"], ["y"], name="sc"),
        [x, vi("u", [1])], [ints("i", [0, 0, 0], [1, 3])], 13)
    save("gather_elements_rank", helper.make_node(
        "GatherElements", ["x", "i"], ["y"], name="ge"),
        [x], [ints("i", [0, 1], [2])], 13)
    save("gather_elements_out_of_range", helper.make_node(
        "GatherElements", ["x", "i"], ["y"], name="ge", axis=1),
        [x], [ints("i", [0, -4], [1, 2])], 13)
    save("gather_elements_axis", helper.make_node(
        "GatherElements", ["x", "i"], ["y"], name="ge", axis=2),
        [x], [ints("i", [0, 1], [1, 2])], 13)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--bad":
        os.makedirs(sys.argv[2], exist_ok=True)
        bad_models(sys.argv[2])
        sys.exit(0)
    op_cases.cases = cases
    sys.exit(op_cases.main())
