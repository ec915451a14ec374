#!/usr/bin/env python3
"""One small ONNX model per operator (and per opset form), run through
attn-run and compared with onnxruntime.

  op_cases.py --work DIR [--attn-run PATH] [--only SUBSTRING] [--folded]

Each case is a one-node graph (a few use two nodes) over seeded random
inputs. With --folded every input becomes an initializer, so the importer's
import-time evaluator computes the node instead of generated code; the
outputs are then checked the same way. Tolerance: |got - want| <= atol +
rtol * |want| with float32 atol 1e-5 rtol 1e-4, float16 1e-3 / 1e-3,
bfloat16 1e-2 / 1e-2; integers and bools exactly. Exits 1 on any failure.
"""

import argparse
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

try:
    from ml_dtypes import bfloat16
except ImportError:
    bfloat16 = None

F32, F16, I64, I32, BOOL = np.float32, np.float16, np.int64, np.int32, np.bool_


def onnx_dtype(dtype):
    if bfloat16 is not None and np.dtype(dtype) == np.dtype(bfloat16):
        return TensorProto.BFLOAT16
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


class Case:
    def __init__(self, name, op, inputs, outputs=1, opset=21, consts=(),
                 nodes=None, **attrs):
        """inputs: list of (name, array); `consts` names the inputs that are
        always initializers (shapes, axes, indices...)."""
        self.name, self.op, self.inputs = name, op, inputs
        self.outputs = [f"y{i}" for i in range(outputs)]
        self.opset, self.consts, self.attrs = opset, set(consts), attrs
        self.nodes = nodes

    def model(self, folded):
        nodes = self.nodes or [helper.make_node(
            self.op, [n for n, _ in self.inputs], self.outputs,
            name=self.name, **self.attrs)]
        graph_inputs, inits = [], []
        for n, a in self.inputs:
            if n == "":
                continue
            if folded or n in self.consts:
                t = numpy_helper.from_array(a.view(np.uint16) if onnx_dtype(
                    a.dtype) == TensorProto.BFLOAT16 else a, n)
                if onnx_dtype(a.dtype) == TensorProto.BFLOAT16:
                    t.data_type = TensorProto.BFLOAT16
                inits.append(t)
            else:
                graph_inputs.append(helper.make_tensor_value_info(
                    n, onnx_dtype(a.dtype), list(a.shape)))
        outs = [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None)
                for o in self.outputs]
        graph = helper.make_graph(nodes, self.name, graph_inputs, outs,
                                  initializer=inits)
        m = helper.make_model(graph, opset_imports=[
            helper.make_opsetid("", self.opset)])
        m.ir_version = 8
        # Output types from ONNX's shape inference (the model leaves them
        # open; onnxruntime wants them).
        inferred = onnx.shape_inference.infer_shapes(m)
        types = {v.name: v.type.tensor_type.elem_type
                 for v in list(inferred.graph.value_info) +
                 list(inferred.graph.output)}
        for o in m.graph.output:
            o.type.tensor_type.elem_type = (
                types.get(o.name) or onnx_dtype(self.inputs[0][1].dtype))
        return m

    def feeds(self, folded):
        return {n: a for n, a in self.inputs
                if n and not folded and n not in self.consts}


def r(shape, dtype=F32, seed=0, lo=-2.0, hi=2.0):
    rng = np.random.default_rng(seed + sum(shape) * 7 + len(shape))
    if np.dtype(dtype) == np.dtype(BOOL):
        return rng.random(shape) < 0.5
    if np.issubdtype(np.dtype(dtype), np.integer):
        return rng.integers(-5, 6, shape).astype(dtype)
    return rng.uniform(lo, hi, shape).astype(np.float32).astype(dtype)


def ints(*values, dtype=I64):
    return np.array(values, dtype=dtype)


def cases():
    a, b = r((2, 3, 4)), r((3, 1), seed=1)
    # Elementwise with broadcasting, per dtype.
    for op in ["Add", "Sub", "Mul", "Div"]:
        yield Case(op.lower() + "_f32", op, [("a", a), ("b", b)])
        yield Case(op.lower() + "_f16", op,
                   [("a", a.astype(F16)), ("b", b.astype(F16))])
        yield Case(op.lower() + "_i64", op,
                   [("a", r((2, 3), I64)), ("b", np.array([3, -2, 7], I64))])
    yield Case("add_i32_scalar", "Add", [("a", r((4,), I32)),
                                         ("b", np.array(5, I32))])
    yield Case("pow_f32", "Pow", [("a", r((2, 3), lo=0.1)),
                                  ("b", r((3,), seed=2))])
    yield Case("pow_dynamic_negative_base", "Pow",
               [("a", np.array([-2, -2, -3, 2, 0, -1.5, 0], F32)),
                ("b", np.array([3, 2, 0.5, 0.5, 2, 2, 0], F32))])
    yield Case("pow_int_float_exp", "Pow", [("a", ints(1, 2, 3, -2)),
                                            ("b", np.array([2.0, 3.0, 0.0, 3.0],
                                                           F32))])
    yield Case("pow_cube_negative", "Pow", [("a", r((5,))),
                                            ("b", np.array(3.0, F32))],
               consts=["b"])
    yield Case("pow_square_int_exp", "Pow", [("a", r((5,))),
                                             ("b", np.array(2, I64))],
               consts=["b"])
    yield Case("pow_half", "Pow", [("a", r((5,), lo=0.0)),
                                   ("b", np.array(0.5, F32))], consts=["b"])
    for op, lo in [("Sqrt", 0.0), ("Reciprocal", 0.5), ("Neg", -2), ("Tanh", -2),
                   ("Sigmoid", -4), ("Erf", -2), ("Cos", -4), ("Sin", -4),
                   ("Exp", -2), ("Log", 0.1), ("Abs", -2), ("Relu", -2),
                   ("Floor", -3), ("Ceil", -3)]:
        yield Case(op.lower(), op, [("x", r((3, 5), lo=lo))])
    yield Case("neg_i64", "Neg", [("x", r((4,), I64))])
    yield Case("sigmoid_f16", "Sigmoid", [("x", r((8,), F16))])
    yield Case("gelu", "Gelu", [("x", r((3, 5)))], opset=20)
    yield Case("gelu_tanh", "Gelu", [("x", r((3, 5)))], opset=20,
               approximate="tanh")
    yield Case("max3", "Max", [("a", r((2, 3))), ("b", r((3,), seed=3)),
                               ("c", r((2, 1), seed=4))])
    yield Case("min2_i64", "Min", [("a", r((2, 3), I64)),
                                   ("b", r((3,), I64, seed=5))])
    yield Case("isnan", "IsNaN", [("x", np.array([1.0, np.nan, -np.inf, 0.0],
                                                 F32))])
    yield Case("equal_i64", "Equal", [("a", r((3, 4), I64)),
                                      ("b", r((4,), I64, seed=6))])
    yield Case("equal_bool", "Equal", [("a", r((5,), BOOL)),
                                       ("b", r((5,), BOOL, seed=7))])
    yield Case("lessorequal_f32", "LessOrEqual", [("a", a), ("b", b)])
    yield Case("less_greater", "Greater", [("a", a), ("b", b)])
    yield Case("and_or_not", "And", [("a", r((4,), BOOL)),
                                     ("b", r((4,), BOOL, seed=8))])
    yield Case("not", "Not", [("x", r((6,), BOOL))])
    yield Case("where", "Where", [("c", r((3, 1), BOOL)), ("x", r((3, 4))),
                                  ("y", r((4,), seed=9))])
    yield Case("where_i64", "Where", [("c", r((2, 3), BOOL)),
                                      ("x", r((2, 3), I64)),
                                      ("y", np.array(-1, I64))])
    yield Case("clip13", "Clip", [("x", r((10,))), ("lo", np.array(-0.5, F32)),
                                  ("hi", np.array(0.7, F32))],
               consts=["lo", "hi"])
    yield Case("clip6", "Clip", [("x", r((10,)))], opset=6, min=-0.5, max=0.7)
    for to, name in [(TensorProto.FLOAT16, "f16"), (TensorProto.INT64, "i64"),
                     (TensorProto.INT32, "i32"), (TensorProto.BOOL, "bool"),
                     (TensorProto.FLOAT, "f32")]:
        yield Case("cast_f32_to_" + name, "Cast", [("x", r((7,)) * 3)], to=to)
    yield Case("cast_i64_to_f32", "Cast", [("x", r((5,), I64))],
               to=TensorProto.FLOAT)
    yield Case("cast_bool_to_f32", "Cast", [("x", r((5,), BOOL))],
               to=TensorProto.FLOAT)
    yield Case("castlike", "CastLike", [("x", r((5,), I64)),
                                        ("t", np.zeros((1,), F16))],
               consts=["t"])
    # MatMul / Gemm.
    yield Case("matmul_2d", "MatMul", [("a", r((3, 4))), ("b", r((4, 5)))])
    yield Case("matmul_batch_bcast", "MatMul", [("a", r((2, 1, 3, 4))),
                                                ("b", r((5, 4, 2), seed=2))])
    yield Case("matmul_vec_left", "MatMul", [("a", r((4,))), ("b", r((2, 4, 3)))])
    yield Case("matmul_vec_right", "MatMul", [("a", r((2, 3, 4))), ("b", r((4,)))])
    yield Case("matmul_f16", "MatMul", [("a", r((3, 8), F16)),
                                        ("b", r((8, 2), F16, seed=3))])
    yield Case("gemm", "Gemm", [("a", r((4, 3))), ("b", r((5, 4))),
                                ("c", r((5,)))],
               transA=1, transB=1, alpha=0.5, beta=2.0)
    yield Case("gemm_no_c", "Gemm", [("a", r((3, 4))), ("b", r((4, 5)))])
    yield Case("cumsum", "CumSum", [("x", r((3, 4))), ("a", np.array(1, I64))],
               consts=["a"])
    yield Case("cumsum_i64_reverse_exclusive", "CumSum",
               [("x", r((5,), I64)), ("a", np.array(0, I64))], consts=["a"],
               reverse=1, exclusive=1)
    # Normalisation and reductions.
    yield Case("softmax13_axis1", "Softmax", [("x", r((2, 3, 4)))], axis=1)
    yield Case("softmax13_last_f16", "Softmax", [("x", r((2, 5), F16))])
    yield Case("softmax11_coerce", "Softmax", [("x", r((2, 3, 4)))], opset=11,
               axis=1)
    yield Case("reducemean18", "ReduceMean", [("x", r((2, 3, 4))),
                                              ("axes", ints(-1, 0))],
               consts=["axes"])
    yield Case("reducemean13_attr", "ReduceMean", [("x", r((2, 3, 4)))],
               opset=13, axes=[1], keepdims=0)
    yield Case("reducesum13", "ReduceSum", [("x", r((2, 3, 4))),
                                            ("axes", ints(1))],
               opset=13, consts=["axes"], keepdims=0)
    yield Case("reducesum11_attr_all", "ReduceSum", [("x", r((2, 3)))],
               opset=11)
    yield Case("reducesum_i64", "ReduceSum", [("x", r((3, 4), I64)),
                                              ("axes", ints(0))],
               consts=["axes"])
    yield Case("reducemax18", "ReduceMax", [("x", r((3, 4))),
                                            ("axes", ints(1))], opset=18,
               consts=["axes"])
    yield Case("layernorm", "LayerNormalization",
               [("x", r((2, 3, 8))), ("s", r((8,), seed=1)),
                ("b", r((8,), seed=2))], opset=17, epsilon=1e-5)
    yield Case("layernorm_axis1_outputs", "LayerNormalization",
               [("x", r((2, 3, 4))), ("s", r((3, 4), seed=1))], outputs=3,
               opset=17, axis=1)
    yield Case("layernorm_f16", "LayerNormalization",
               [("x", r((2, 16), F16)), ("s", r((16,), F16, seed=1)),
                ("b", r((16,), F16, seed=2))], opset=17)
    yield Case("rmsnorm", "RMSNormalization",
               [("x", r((2, 3, 8))), ("s", r((8,), seed=1))], opset=23,
               epsilon=1e-6)
    yield Case("rmsnorm_axis", "RMSNormalization",
               [("x", r((2, 3, 4))), ("s", r((3, 4), seed=1))], opset=23,
               axis=-2)
    # Rotary embedding.
    cos = np.cos(r((10, 4), lo=0, hi=3)).astype(F32)
    sin = np.sin(r((10, 4), lo=0, hi=3, seed=1)).astype(F32)
    pos = np.array([[0, 3, 5], [9, 1, 2]], I64)
    yield Case("rotary_4d", "RotaryEmbedding",
               [("x", r((2, 2, 3, 8))), ("c", cos), ("s", sin), ("p", pos)],
               opset=23)
    yield Case("rotary_3d_interleaved", "RotaryEmbedding",
               [("x", r((2, 3, 16))), ("c", cos), ("s", sin), ("p", pos)],
               opset=23, interleaved=1, num_heads=2)
    yield Case("rotary_partial", "RotaryEmbedding",
               [("x", r((2, 2, 3, 12))), ("c", cos), ("s", sin), ("p", pos)],
               opset=23, rotary_embedding_dim=8)
    yield Case("rotary_no_pos", "RotaryEmbedding",
               [("x", r((2, 2, 3, 8))), ("c", cos[:6].reshape(2, 3, 4)),
                ("s", sin[:6].reshape(2, 3, 4))], opset=23)
    # KV-cache writes (opset 24): update rows at write_indices[b] + s.
    cache, step = r((2, 3, 6, 4)), r((2, 3, 2, 4), seed=1)
    yield Case("tensorscatter_linear", "TensorScatter",
               [("c", cache), ("u", step), ("w", ints(4, 0))], opset=24)
    yield Case("tensorscatter_circular", "TensorScatter",
               [("c", cache), ("u", step), ("w", ints(5, 2))], opset=24,
               mode="circular")
    yield Case("tensorscatter_no_indices_axis1", "TensorScatter",
               [("c", r((3, 5, 4))), ("u", r((3, 2, 4), seed=1))], opset=24,
               axis=1)
    yield Case("tensorscatter_f16_last_axis", "TensorScatter",
               [("c", r((2, 4, 7), F16)), ("u", r((2, 4, 3), F16, seed=1)),
                ("w", ints(1, 4))], opset=24, axis=-1)
    # Shape operators.
    x = r((2, 3, 4))
    yield Case("reshape", "Reshape", [("x", x), ("s", ints(3, -1, 0))],
               consts=["s"])
    yield Case("reshape_allowzero", "Reshape", [("x", r((0, 3))),
                                                ("s", ints(0, 3, 1))],
               consts=["s"], allowzero=1)
    yield Case("transpose", "Transpose", [("x", x)], perm=[2, 0, 1])
    yield Case("transpose_default", "Transpose", [("x", x)])
    yield Case("concat", "Concat", [("a", x), ("b", r((2, 1, 4), seed=2))],
               axis=-2)
    yield Case("concat_i64", "Concat", [("a", ints(1, 2)), ("b", ints(3))],
               axis=0)
    yield Case("split13_input", "Split", [("x", r((2, 7))),
                                          ("s", ints(2, 5))], outputs=2,
               opset=13, consts=["s"], axis=1)
    yield Case("split11_attr", "Split", [("x", r((6, 2)))], outputs=3,
               opset=11, split=[1, 2, 3])
    yield Case("split18_uneven", "Split", [("x", r((7, 2)))], outputs=3,
               opset=18, num_outputs=3)
    yield Case("split13_equal", "Split", [("x", r((6, 2)))], outputs=2,
               opset=13)
    yield Case("slice", "Slice", [("x", x), ("st", ints(1, -3)),
                                  ("en", ints(100, -1)), ("ax", ints(1, 2))],
               consts=["st", "en", "ax"])
    yield Case("slice_steps_negative", "Slice",
               [("x", x), ("st", ints(-1, 3)), ("en", ints(-100, 0)),
                ("ax", ints(1, 2)), ("sp", ints(-1, -2))],
               consts=["st", "en", "ax", "sp"])
    yield Case("slice9_attr", "Slice", [("x", x)], opset=9, starts=[0, 1],
               ends=[1, 3], axes=[0, 2])
    yield Case("gather_axis0", "Gather", [("x", r((5, 3))),
                                          ("i", ints(4, 0, -1, 2))])
    yield Case("gather_axis1_2d_idx", "Gather",
               [("x", x), ("i", np.array([[0, 2], [1, -1]], I64))], axis=1)
    yield Case("gather_scalar_const", "Gather", [("x", x),
                                                 ("i", np.array(-1, I64))],
               consts=["i"], axis=2)
    # GatherND: whole rows, single elements with negative indices, and the
    # batch_dims=1 form transformers' padding mask uses.
    yield Case("gathernd_rows", "GatherND",
               [("x", r((4, 3, 2))), ("i", np.array([[3], [0], [-1]], I64))])
    yield Case("gathernd_elements", "GatherND",
               [("x", r((4, 3, 2), I64)),
                ("i", np.array([[[0, 1, 1], [3, -1, 0]]], I64))], opset=11)
    yield Case("gathernd_batch_dims", "GatherND",
               [("x", r((2, 5, 3))), ("i", np.array([[[4], [0]], [[1], [-2]]], I64))],
               batch_dims=1)
    yield Case("unsqueeze13", "Unsqueeze", [("x", r((3, 4))),
                                            ("a", ints(0, -1))], opset=13,
               consts=["a"])
    yield Case("unsqueeze11_attr", "Unsqueeze", [("x", r((3, 4)))], opset=11,
               axes=[1])
    yield Case("squeeze13", "Squeeze", [("x", r((1, 3, 1, 4))),
                                        ("a", ints(2))], opset=13,
               consts=["a"])
    yield Case("squeeze_all", "Squeeze", [("x", r((1, 3, 1, 4)))], opset=13)
    yield Case("squeeze11_attr", "Squeeze", [("x", r((1, 3, 1)))], opset=11,
               axes=[0])
    yield Case("expand", "Expand", [("x", r((3, 1))), ("s", ints(2, 1, 4))],
               consts=["s"])
    yield Case("expand_bool", "Expand", [("x", r((1, 4), BOOL)),
                                         ("s", ints(3, 1))], consts=["s"])
    yield Case("shape15_slice", "Shape", [("x", x)], opset=15, start=1, end=-0)
    yield Case("shape", "Shape", [("x", x)])
    yield Case("size", "Size", [("x", x)])
    yield Case("range_i64", "Range", [("a", np.array(2, I64)),
                                      ("b", np.array(11, I64)),
                                      ("c", np.array(3, I64))],
               consts=["a", "b", "c"])
    yield Case("range_f32", "Range", [("a", np.array(1.0, F32)),
                                      ("b", np.array(-2.0, F32)),
                                      ("c", np.array(-0.75, F32))],
               consts=["a", "b", "c"])
    yield Case("constantofshape", "ConstantOfShape", [("s", ints(2, 3))],
               consts=["s"],
               value=numpy_helper.from_array(np.array([1.5], F32)))
    yield Case("constantofshape_i64_default", "ConstantOfShape",
               [("s", ints(4))], consts=["s"])
    yield Case("constant", "Constant", [], value=numpy_helper.from_array(
        r((2, 2))))
    yield Case("constant_ints", "Constant", [], value_ints=[1, 2, 3])
    yield Case("identity", "Identity", [("x", x)])
    yield Case("trilu_upper", "Trilu", [("x", r((2, 4, 5)))])
    yield Case("trilu_lower_k", "Trilu", [("x", r((4, 5))),
                                          ("k", np.array(-1, I64))],
               consts=["k"], upper=0)
    yield Case("flatten", "Flatten", [("x", x)], axis=2)
    yield Case("tile", "Tile", [("x", r((2, 3))), ("n", ints(2, 1))],
               consts=["n"])
    yield Case("dropout_inference", "Dropout", [("x", x)], outputs=1)
    yield Case("pad_constant", "Pad", [("x", x), ("p", ints(0, 1, -1, 1, 2, 0)),
                                      ("v", np.array(1.5, F32))],
               consts=["p", "v"])
    yield Case("pad18_axes", "Pad", [("x", x), ("p", ints(2, 3)),
                                     ("v", np.array(0.0, F32)),
                                     ("a", ints(-1))],
               opset=18, consts=["p", "v", "a"])
    yield Case("pad2_attr", "Pad", [("x", r((2, 3)))], opset=2,
               pads=[1, 0, 0, 2], value=-1.0)
    # A shape subgraph: Shape -> Gather -> Unsqueeze -> Concat -> Reshape.
    nodes = [helper.make_node("Shape", ["x"], ["shp"]),
             helper.make_node("Gather", ["shp", "i0"], ["d0"], axis=0),
             helper.make_node("Unsqueeze", ["d0", "ax"], ["d0u"]),
             helper.make_node("Concat", ["d0u", "m1"], ["tgt"], axis=0),
             helper.make_node("Reshape", ["x", "tgt"], ["y0"])]
    yield Case("shape_subgraph_reshape", None,
               [("x", x), ("i0", np.array(0, I64)), ("ax", ints(0)),
                ("m1", ints(-1))], consts=["i0", "ax", "m1"], nodes=nodes)


def compare(got, want, dtype):
    if got.shape != want.shape:
        return False, f"shape {got.shape} != {want.shape}"
    if not np.issubdtype(want.dtype, np.floating) and \
            not (bfloat16 is not None and want.dtype == bfloat16):
        same = np.array_equal(got.astype(want.dtype), want)
        return same, "exact" if same else "differs"
    if want.dtype == np.float16:
        atol = rtol = 1e-3
    elif bfloat16 is not None and want.dtype == bfloat16:
        atol = rtol = 1e-2
    else:
        atol, rtol = 1e-5, 1e-4
    g, w = got.astype(np.float64), want.astype(np.float64)
    nan = np.isnan(w)
    if (np.isnan(g) != nan).any():
        return False, "NaN mismatch"
    err = np.abs(np.where(nan, 0, g - w))
    ok = bool((err <= atol + rtol * np.abs(np.where(nan, 0, w))).all())
    return ok, f"max err {err.max() if err.size else 0:.2g}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--attn-run", default="attn-run")
    ap.add_argument("--only", default="")
    ap.add_argument("--folded", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    failed = total = 0
    suffix = ".folded" if args.folded else ""
    for c in cases():
        if args.only not in c.name:
            continue
        total += 1
        m = c.model(args.folded)
        feeds = c.feeds(args.folded)
        base = os.path.join(args.work, c.name + suffix)
        onnx.save(m, base + ".onnx")
        np.savez(base + ".in.npz", **feeds)
        try:
            sess = ort.InferenceSession(m.SerializeToString(),
                                        providers=["CPUExecutionProvider"])
            want = dict(zip(c.outputs, sess.run(None, feeds)))
        except Exception as e:  # a broken case, not a compiler failure
            print(f"FAIL {c.name}: onnxruntime rejects the case: {e}")
            failed += 1
            continue
        proc = subprocess.run([args.attn_run, base + ".onnx", "--inputs",
                               base + ".in.npz", "--outputs",
                               base + ".out.npz"],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"FAIL {c.name}: attn-run exited {proc.returncode}\n"
                  + proc.stdout + proc.stderr)
            failed += 1
            continue
        got = np.load(base + ".out.npz")
        ok, notes = True, []
        for key, w in want.items():
            g = got[key]
            if bfloat16 is not None and w.dtype == bfloat16:
                g = g.view(bfloat16)
            good, note = compare(g, w, w.dtype)
            ok &= good
            notes.append(f"{key}: {note}")
        print(("PASS " if ok else "FAIL ") + c.name + ": " + "; ".join(notes))
        failed += not ok
    print(f"{total - failed}/{total} passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
