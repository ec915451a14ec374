# The Python package's kv_cache_type: the GPT-2 export compiled with int8
# caches has i8 inouts and f32 scale inputs per layer; prefilled with its 8
# cached positions quantised at absmax/127 per head, 16 greedy steps give
# ONNX Runtime's tokens (bench/RESULTS.md: int8 agrees on this model). An
# unknown type is a CompileError.

# RUN: rm -rf %t && mkdir -p %t
# RUN: env ATTN_MLIR_LIB_DIR=%attn_lib_dir %python %s %S/../Import/decoders/gpt2_mha_ts17 %t | FileCheck %s

import os
import sys

import numpy as np

import attn_mlir

model_dir, tmp = sys.argv[1], sys.argv[2]
so = attn_mlir.compile(os.path.join(model_dir, "model.onnx"),
                       os.path.join(tmp, "gpt2-int8.so"), max_seq=40,
                       kv_cache_type="int8")
model = attn_mlir.Model(so)
# CHECK: inout past_key_0 i8 (1, 4, 40, 16)
# CHECK: input past_key_0.key_scale f32 (1, 4)
# CHECK: input past_key_0.value_scale f32 (1, 4)
for kind, specs in (("inout", model.inouts), ("input", model.inputs)):
    for s in specs:
        print(kind, s.name, s.dtype, s.shape)

step = dict(np.load(os.path.join(model_dir, "inputs.npz")))
want = np.load(os.path.join(model_dir, "generate16.npz"))
caches = model.allocate_inouts()
scales = {}
past = step["past_key_0"].shape[2]
for name, cache in caches.items():
    scale = (np.abs(step[name]).max(axis=(2, 3)) / 127).astype(np.float32)
    cache[:, :, :past] = np.clip(np.rint(step[name] / scale[:, :, None, None]),
                                 -127, 127).astype(np.int8)
    scales[name] = scale
feeds = {f"past_key_{l}.{w}_scale": scales[f"past_{w}_{l}"]
         for l in range(2) for w in ("key", "value")}
token, tokens = int(step["input_ids"][0, 0]), []
for t in range(16):
    out = model.run(input_ids=np.array([[token]], np.int64),
                    position_ids=np.array([[past + t]], np.int64),
                    cache_position=np.array(past + t, np.int64), **feeds, **caches)
    token = int(np.argmax(out["logits"][0, -1]))
    tokens.append(token)
# CHECK: int8 tokens match onnxruntime: True
print("int8 tokens match onnxruntime:", tokens == [int(x) for x in want["tokens"]])

# CHECK: CompileError: {{.*}}unknown --kv-cache-type 'int4'
try:
    attn_mlir.compile(os.path.join(model_dir, "model.onnx"),
                      os.path.join(tmp, "bad.so"), max_seq=40, kv_cache_type="int4")
except attn_mlir.CompileError as e:
    print("CompileError:", e)
