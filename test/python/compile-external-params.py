# attn_mlir.compile(..., params="external") references the ONNX model's
# external data in place: no OUT.so.params, a version-4 signature naming the
# data file, and the library runs like the copied one; a bad value raises
# CompileError.

# RUN: rm -rf %t && mkdir -p %t
# RUN: %python %S/../Conversion/ExternalizeWeights/Inputs/decoder_check.py make %t
# RUN: env ATTN_MLIR_LIB_DIR=%attn_lib_dir %python %s %t | FileCheck %s

import os
import sys

import attn_mlir

tmp = sys.argv[1]
model = os.path.join(tmp, "model.onnx")
dims = {"batch": 1, "seq": 1}
ext = os.fspath(attn_mlir.compile(model, os.path.join(tmp, "ext.so"), dims=dims, params="external"))
copy = os.fspath(attn_mlir.compile(model, os.path.join(tmp, "copy.so"), dims=dims))
# CHECK: ext params file False copy params file True
print("ext params file", os.path.exists(ext + ".params"),
      "copy params file", os.path.exists(copy + ".params"))
text = open(ext, "rb").read()
# CHECK: version 4 True external line True
print("version 4", b"attn-model 4" in text,
      "external line", b"params-external model.onnx.data " in text)
try:
    attn_mlir.compile(model, os.path.join(tmp, "bad.so"), dims=dims, params="both")
except attn_mlir.CompileError as e:
    # CHECK: CompileError: error: --params=both is not available (expected copy or external)
    print("CompileError:", e)
