"""Runs one decode step of a fused f32 library and of its 8-bit-cache twin
from the same prompt (a step_inputs .npz) and checks the logits agree.

  kv_quant_step.py F32.so QUANT.so int8|fp8|f16|bf16 INPUTS.npz MAX_REL_ERR

The 8-bit caches are prefilled with the prompt quantised at per (row, KV
head) scales absmax/127 (int8) or absmax/448 (fp8), as docs/AttnDialect.md
describes; the step's own key/value goes through the library's append.
Prints the relative error and whether the greedy tokens agree; exits 1 when
the error exceeds MAX_REL_ERR or the tokens differ.
"""
import sys

import ml_dtypes
import numpy as np

import attn_mlir


def prefill(model, feeds, kind):
    caches = model.allocate_inouts()
    scales = {}
    for name, cache in caches.items():
        past = feeds[name]
        t = past.shape[2]
        if kind == "f32":
            cache[:, :, :t] = past
            continue
        if kind in ("f16", "bf16"):  # narrower float caches: no scales
            dtype = np.float16 if kind == "f16" else ml_dtypes.bfloat16
            cache[:, :, :t] = past.astype(dtype).view(cache.dtype)
            continue
        limit = 127.0 if kind == "int8" else 448.0
        scale = (np.abs(past).max(axis=(2, 3)) / limit).astype(np.float32)
        y = past / scale[:, :, None, None]
        if kind == "int8":
            cache[:, :, :t] = np.clip(np.rint(y), -127, 127).astype(np.int8)
        else:
            cache[:, :, :t] = np.clip(y, -448, 448).astype(
                ml_dtypes.float8_e4m3fn).view(np.uint8)
        scales[name] = scale
    return caches, scales, t


def step(path, feeds, kind):
    model = attn_mlir.Model(path)
    caches, scales, t = prefill(model, feeds, kind)
    inputs = {"input_ids": feeds["input_ids"], "position_ids": feeds["position_ids"],
              "cache_position": np.array(t, np.int64)}
    for spec in model.inputs:
        if spec.name.endswith("_scale"):
            cache, which = spec.name.rsplit(".", 1)
            if which == "value_scale":
                cache = cache.replace("key", "value")
            inputs[spec.name] = scales[cache]
    return model.run(inputs, **caches)["logits"].reshape(-1)


def main():
    f32_lib, quant_lib, kind, npz, max_rel = sys.argv[1:6]
    feeds = dict(np.load(npz))
    ref = step(f32_lib, feeds, "f32")
    got = step(quant_lib, feeds, kind)
    rel = float(np.abs(got - ref).max() / np.abs(ref).max())
    same = int(np.argmax(got)) == int(np.argmax(ref))
    print(f"{kind}: relative logit error {rel:.2e}, greedy token "
          f"{'agrees' if same else 'differs'}")
    if rel > float(max_rel) or not same or rel == 0.0:
        sys.exit(1)


if __name__ == "__main__":
    main()
