#!/usr/bin/env python3
# mkcase.py B HKV S DTYPE : writes /tmp/gqa/cases/decode_bB_hH_sS_DT.{mlir,in.npz}
import sys, os, types
sys.path.insert(0, "/work/wt/cpu-decode-gqa/bench")
import cpu_decode as cd
import numpy as np
b, hkv, s, dt = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
d = "/tmp/gqa/cases"
rng = np.random.default_rng(b * 1000003 + hkv * 101 + s)
base = os.path.join(d, f"decode_b{b}_h{hkv}_s{s}_{dt}")
with open(base + ".mlir", "w") as f:
    f.write(cd.MLIR.format(q=cd.tensor((b, cd.HQ, 1, cd.D), "f32"), new=cd.tensor((b, hkv, 1, cd.D), "f32"),
                           cache=cd.tensor((b, hkv, s, cd.D), dt), hq=cd.HQ, hkv=hkv, scale=1 / np.sqrt(cd.D)))
if not os.path.exists(base + ".in.npz"):
    inputs = {"query": rng.standard_normal((b, cd.HQ, 1, cd.D), np.float32),
              "key": rng.standard_normal((b, hkv, 1, cd.D), np.float32),
              "value": rng.standard_normal((b, hkv, 1, cd.D), np.float32),
              "position": np.array(s - 1, np.int64)}
    inputs["key_cache"] = cd.cache_array(rng, (b, hkv, s, cd.D), dt)
    inputs["value_cache"] = cd.cache_array(rng, (b, hkv, s, cd.D), dt)
    np.savez(base + ".in.npz", **inputs)
print(base)
