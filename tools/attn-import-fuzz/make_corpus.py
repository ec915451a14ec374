#!/usr/bin/env python3
"""Writes the seed corpus of attn-import-fuzz (tools/attn-import-fuzz/corpus).

  make_corpus.py [OUT_DIR]

Seeds: the import tests' models (test/Import/lib: one model per operator and
opset form, plain and with every input an initializer; the Attention and
com.microsoft attention cases; the error-test models), a few ONNX conformance
models and a trimmed decoder export from test/Import/fixtures, plus models made
here for what those lack (external data in the fuzzer's data directory and
missing, symbolic dims, typed data fields, a model-local function). Seeds
stay under 64 KiB, the fuzzer's -max_len. Needs numpy and onnx.
"""

import glob
import hashlib
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHARED = os.path.join(ROOT, "test", "Import", "fixtures")
sys.path.insert(0, os.path.join(ROOT, "test", "Import", "lib"))

import attention_cases  # noqa: E402
import contrib_attention_cases  # noqa: E402
import make_models  # noqa: E402
import op_cases  # noqa: E402

MAX_SEED = 64 * 1024
F = TensorProto.FLOAT


def vi(name, shape, elem=F):
    return helper.make_tensor_value_info(name, elem, shape)


def external(name, dims, location, offset=None, length=None, dtype=F):
    t = onnx.TensorProto(name=name, data_type=dtype, dims=dims,
                         data_location=TensorProto.EXTERNAL)
    for key, value in [("location", location), ("offset", offset),
                       ("length", length)]:
        if value is not None:
            e = t.external_data.add()
            e.key, e.value = key, str(value)
    return t


def extra_models():
    """Models for paths the test generators do not reach."""
    m = make_models.model
    # data/weights.bin holds 64 float32 (0..63).
    w = external("w", [4, 4], "weights.bin", offset=64, length=64)
    b = external("b", [4], "weights.bin")  # no length: taken from the dims
    yield "external_data_ok", m(
        [helper.make_node("MatMul", ["x", "w"], ["h"]),
         helper.make_node("Add", ["h", "b"], ["y"])],
        [vi("x", [2, 4])], [vi("y", None)], [w, b])
    yield "external_data_missing", m(
        [helper.make_node("Add", ["x", "w"], ["y"])], [vi("x", [4])],
        [vi("y", None)], [external("w", [4], "missing.bin")])
    yield "external_data_past_end", m(
        [helper.make_node("Add", ["x", "w"], ["y"])], [vi("x", [4])],
        [vi("y", None)], [external("w", [4], "weights.bin", offset=250)])
    # Symbolic dims the fuzzer binds (batch, seq, past, total) and one it
    # does not.
    yield "symbolic_decode", m(
        [helper.make_node("Concat", ["past", "new"], ["total"], axis=2),
         helper.make_node("Transpose", ["total"], ["t"], perm=[0, 1, 3, 2]),
         helper.make_node("MatMul", ["q", "t"], ["s"]),
         helper.make_node("Softmax", ["s"], ["p"], axis=-1),
         helper.make_node("MatMul", ["p", "total"], ["y"])],
        [vi("q", ["batch", 2, "seq", 8]), vi("past", ["batch", 2, "past", 8]),
         vi("new", ["batch", 2, "seq", 8])],
        [vi("y", ["batch", 2, "seq", 8])])
    yield "symbolic_unbound", m(
        [helper.make_node("Relu", ["x"], ["y"])], [vi("x", ["unbound", 3])],
        [vi("y", None)])
    # Typed data fields (not raw_data) of every kind.
    yield "typed_fields", m(
        [helper.make_node("Cast", ["i32"], ["c"], to=F),
         helper.make_node("Add", ["c", "f"], ["s"]),
         helper.make_node("Cast", ["i64"], ["c2"], to=F),
         helper.make_node("Mul", ["s", "c2"], ["t"]),
         helper.make_node("Cast", ["h"], ["c3"], to=F),
         helper.make_node("Sub", ["t", "c3"], ["u"]),
         helper.make_node("Cast", ["d"], ["c4"], to=F),
         helper.make_node("Div", ["u", "c4"], ["y"])],
        [vi("x", [3])], [vi("y", None)],
        [helper.make_tensor("i32", TensorProto.INT32, [3], [1, -2, 3]),
         helper.make_tensor("f", F, [3], [0.5, 1.5, -2.5]),
         helper.make_tensor("i64", TensorProto.INT64, [3], [4, 5, 6]),
         helper.make_tensor("h", TensorProto.FLOAT16, [3],
                            np.array([1, 2, 3], np.float16)),
         helper.make_tensor("d", TensorProto.DOUBLE, [3], [2.0, 4.0, 8.0])])
    # Large-ish declared shapes without data: ConstantOfShape and Expand.
    yield "constant_of_shape", m(
        [helper.make_node("ConstantOfShape", ["shp"], ["z"],
                          value=helper.make_tensor("v", F, [1], [1.5])),
         helper.make_node("Expand", ["z", "big"], ["e"]),
         helper.make_node("ReduceSum", ["e"], ["y"], keepdims=0)],
        [], [vi("y", None)],
        [numpy_helper.from_array(np.array([2, 3], np.int64), "shp"),
         numpy_helper.from_array(np.array([4, 2, 3], np.int64), "big")],
        opset=18)
    local = make_models.local_function(_scratch())
    yield "local_function", local
    yield "recursive_function", make_models.recursive_function()


_SCRATCH = []


def _scratch():
    """A directory for the .npz files some generators write as a side
    effect."""
    if not _SCRATCH:
        import tempfile
        _SCRATCH.append(tempfile.TemporaryDirectory())
    return _SCRATCH[0].name


def trimmed_export(path):
    """A decoder export without doc strings and metadata (torch.export puts
    stack traces there) and with its weights turned into graph inputs, so
    that the seed is small and still imports the whole graph."""
    m = onnx.load(path, load_external_data=False)
    m.doc_string = ""
    del m.metadata_props[:]
    for node in m.graph.node:
        node.doc_string = ""
        del node.metadata_props[:]
    del m.graph.value_info[:]
    kept = []
    for t in m.graph.initializer:
        if (int(np.prod(t.dims)) > 64
                or t.data_location == TensorProto.EXTERNAL):
            m.graph.input.append(vi(t.name, list(t.dims), t.data_type))
        else:
            kept.append(t)
    del m.graph.initializer[:]
    m.graph.initializer.extend(kept)
    return m


def seeds():
    for c in op_cases.cases():
        yield "op_" + c.name, c.model(False)
        yield "op_" + c.name + "_folded", c.model(True)
    for c in attention_cases.cases():
        yield "attention_" + c["name"], attention_cases.make_model(
            c, attention_cases.make_inputs(c))
    for case in contrib_attention_cases.cases():
        yield "contrib_" + case[0], case[1]
    for name in make_models.MODELS:
        yield "err_" + name if name not in (
            "attention_3d_gqa_mask_past", "attention_nonpad_causal",
            "attention_qk_output", "attention_repeat_kv",
            "elementwise_broadcast", "shape_subgraph", "matmul_gemm",
            "symbolic_dims") else "model_" + name, make_models.MODELS[name]()
    yield "err_external_data_escape", make_models.external_data_escape(
        _scratch())
    yield from extra_models()
    for d in sorted(glob.glob(os.path.join(SHARED, "onnx_attention", "*"))):
        name = os.path.basename(d).replace("test_attention_", "conformance_")
        yield name, onnx.load(os.path.join(d, "model.onnx"))
    for name in ["llama_gqa_dyn18", "llama_gqa_sdpa_dyn23", "gpt2_mha_ts17dyn"]:
        path = os.path.join(SHARED, "exports", name + ".onnx")
        if os.path.exists(path):
            yield "export_" + name, trimmed_export(path)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
    os.makedirs(out, exist_ok=True)
    written = skipped = 0
    seen = set()
    for name, m in seeds():
        data = m.SerializeToString() if not isinstance(m, bytes) else m
        digest = hashlib.sha1(data).hexdigest()
        if len(data) > MAX_SEED or digest in seen:
            skipped += 1
            print(f"skipped {name} ({len(data)} bytes)", file=sys.stderr)
            continue
        seen.add(digest)
        with open(os.path.join(out, name + ".onnx"), "wb") as f:
            f.write(data)
        written += 1
    # Byte-level seeds: malformed files.
    src = make_models.attention_3d_gqa_mask_past().SerializeToString()
    for name, data in [("err_truncated", src[: len(src) // 2]),
                       ("err_not_a_model", b"this is not a protobuf \xff\xff")]:
        with open(os.path.join(out, name + ".onnx"), "wb") as f:
            f.write(data)
        written += 1
    print(f"{written} seeds in {out}, {skipped} skipped")


if __name__ == "__main__":
    main()
