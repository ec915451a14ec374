# The Python package on a fused decode step: the compiled GPT-2 export keeps
# its KV caches as inout arrays that every run updates in place; 16 greedy
# steps driven from Python reproduce ONNX Runtime's (logits within 1e-4,
# same tokens), and misuse of the inouts is refused.

# RUN: rm -rf %t && mkdir -p %t
# RUN: env ATTN_MLIR_LIB_DIR=%attn_lib_dir %python %s %fixtures/exports %t | FileCheck %s

import os
import sys

import numpy as np

import attn_mlir

fixtures, tmp = sys.argv[1], sys.argv[2]
so = attn_mlir.compile(os.path.join(fixtures, "gpt2_mha_ts17dyn.onnx"),
                       os.path.join(tmp, "gpt2.so"), max_seq=40)
model = attn_mlir.Model(so)
# CHECK: inout past_key_0 f32 (1, 4, 40, 16)
# CHECK: inout past_value_1 f32 (1, 4, 40, 16)
# CHECK: input cache_position i64 ()
for kind, specs in (("inout", model.inouts), ("input", model.inputs)):
    for s in specs:
        print(kind, s.name, s.dtype, s.shape)

step = dict(np.load(os.path.join(fixtures, "gpt2_mha_ts17dyn.inputs.npz")))
want = np.load(os.path.join(fixtures, "gpt2_mha_ts17dyn.generate16.npz"))
caches = model.allocate_inouts()
past = step["past_key_0"].shape[2]
for name, cache in caches.items():
    cache[:, :, :past] = step[name]
ids, positions = step["input_ids"], step["position_ids"]
tokens, logits = [], []
for i in range(16):
    out = model.run(input_ids=ids, position_ids=positions,
                    cache_position=past + i, **caches)
    row = out["logits"][0, -1]
    tokens.append(int(row.argmax()))
    logits.append(row)
    ids = np.full_like(ids, tokens[-1])
    positions = positions + 1
err = np.abs(np.stack(logits) - want["logits"]).max()
# CHECK: tokens equal True
# CHECK: logits within 1e-4 True
print("tokens equal", tokens == want["tokens"].tolist())
print("logits within 1e-4", bool(err <= 1e-4))

# Inouts are updated in place, so a copy of another dtype is refused.
try:
    model.run(input_ids=ids, position_ids=positions, cache_position=0,
              **{**caches, "past_key_0": caches["past_key_0"].astype(np.float64)})
except ValueError as e:
    # CHECK: refused: inout 'past_key_0' must be a writable, C-contiguous float32 array of shape [1, 4, 40, 16] (it is updated in place)
    print("refused:", e)
