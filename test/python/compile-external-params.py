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

# Model(path, params=...): the weights mapped or copied into huge pages give
# the same outputs; another value raises ValueError. (Loads of one library
# in a process share the first load's weights, so each mode loads its own
# copy of the library; both name copy.so.params beside them.)
import shutil

import numpy as np

feeds = dict(np.load(os.path.join(tmp, "step.npz")))
results = {}
for mode in ("map", "huge"):
    lib = os.path.join(tmp, f"load-{mode}.so")
    shutil.copy(copy, lib)
    with attn_mlir.Model(lib, params=mode) as m:
        # The step's inputs where the export's feeds have them (the fused
        # step adds a cache position: 0), the caches zero.
        args = {s.name: feeds[s.name] if s.name in feeds
                else np.zeros(s.shape, dtype=s.numpy_dtype) for s in m.inputs}
        for name, zeros in m.allocate_inouts().items():
            args[name] = zeros
        results[mode] = next(iter(m.run(args).values())).copy()
# CHECK: map and huge equal True
print("map and huge equal", bool(np.array_equal(results["map"], results["huge"])))
try:
    attn_mlir.Model(copy, params="resident")
except ValueError as e:
    # CHECK: ValueError: params='resident': expected one of default, map, huge
    print("ValueError:", e)
