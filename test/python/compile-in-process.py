# The Python package compiles in its own process through the compiler's C API
# (libAttnCompiler.so via ctypes): from a file and from bytes, to a library
# that loads and runs, to IR text, with the report; a malformed model raises
# CompileError with the parser's message and location. Starting a process
# from Python is made to fail, so none is used (only the native link runs
# the system C compiler, from inside the library).

# RUN: rm -rf %t && mkdir -p %t
# RUN: env ATTN_MLIR_LIB_DIR=%attn_lib_dir %python %s %S/../tools/attn-compile/Inputs %t | FileCheck %s

import json
import os
import subprocess
import sys

import numpy as np

import attn_mlir


def no_process(*args, **kwargs):
    raise AssertionError("compiling started a process from Python")


subprocess.Popen = no_process
os.system = no_process
os.fork = no_process

inputs, tmp = sys.argv[1], sys.argv[2]
add = os.path.join(inputs, "add.mlir")
feed = {"x": np.arange(4, dtype=np.float32), "y": np.ones(4, np.float32)}

# CHECK: compiler: libAttnCompiler.so
print("compiler:", os.path.basename(attn_mlir.compiler_library()))

# CHECK-NEXT: from a file: [1. 2. 3. 4.]
so = attn_mlir.compile(add, os.path.join(tmp, "file.so"))
print("from a file:", attn_mlir.Model(so).run(feed)["sum"])

# CHECK-NEXT: from bytes: [1. 2. 3. 4.]
with open(add, "rb") as f:
    text = f.read()
result = attn_mlir.compile_buffer(text, "mlir", os.path.join(tmp, "bytes.so"),
                                  name="add.mlir")
print("from bytes:", attn_mlir.Model(result.output).run(feed)["sum"])

# CHECK-NEXT: ONNX from bytes: [0. 2. 4. 6.]
from onnx import TensorProto, helper
graph = helper.make_graph(
    [helper.make_node("Add", ["x", "x"], ["y"])], "g",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])])
onnx_bytes = helper.make_model(
    graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
result = attn_mlir.compile_buffer(onnx_bytes, "onnx",
                                  os.path.join(tmp, "onnx.so"))
print("ONNX from bytes:",
      attn_mlir.Model(result.output).run({"x": feed["x"]})["y"])

# CHECK-NEXT: IR text: True
ir = attn_mlir.compile(add, None, emit="mlir", mcpu="x86-64-v3")
print("IR text:", "@attn_model_signature" in ir)

# CHECK-NEXT: report: 8 query heads, 1 KV head (2 before)
result = attn_mlir.compile_model(os.path.join(inputs, "torch-mlir-gqa.mlir"),
                                 os.path.join(tmp, "mqa.so"),
                                 extra_args=["--share-kv=1"])
op = json.loads(result.report)["attention"][0]
print(f"report: {op['q_heads']} query heads, {op['kv_heads']} KV head "
      f"({op['kv_heads_before']} before)")


def expect(error, fn):
    try:
        fn()
    except error as e:
        print(type(e).__name__ + ":", " | ".join(str(e).splitlines()))
        return
    raise AssertionError("no error")


# CHECK-NEXT: CompileError: bad.mlir:1:{{[0-9]+}}: error: {{.*}} | error: cannot import 'bad.mlir'
expect(attn_mlir.CompileError,
       lambda: attn_mlir.compile_buffer(b"func.func @f( {\n", "mlir",
                                        os.path.join(tmp, "bad.so"),
                                        name="bad.mlir"))
# CHECK-NEXT: no library: True
print("no library:", not os.path.exists(os.path.join(tmp, "bad.so")))
# CHECK-NEXT: CompileError: error: --share-kv-method=median is not available (expected mean, exact, calibrated, aligned, aligned-fit, joint or latent)
expect(attn_mlir.CompileError,
       lambda: attn_mlir.compile(add, os.path.join(tmp, "x.so"),
                                 extra_args=["--share-kv-method=median"]))
