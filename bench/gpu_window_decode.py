#!/usr/bin/env python3
"""CUDA decode with per-row positions and a sliding window: step time
against the window size, on the GPU, with PyTorch SDPA beside it.

A ragged batch (B=4 rows at positions 32767, 32068, 16384, 27768 of a
32768-entry cache, one new token each, Hq=32, Hkv=8, D=128, f16, causal;
caches updated in place as inout buffers) is compiled with --target cuda as
attn.decode with `positions` and `window(W - 1, 0)` for several W, and once
without a window.

  on the build machine:  bench/gpu_window_decode.py build BUILD_BIN OUT_DIR
  on the GPU machine:    python3 OUT_DIR/gpu_window_decode.py run OUT_DIR ATTN_RUN [--json F]

`run` makes the inputs with numpy, times each model with `attn-run --bench`
(synchronous runs: launches and the wait included) and PyTorch's
`scaled_dot_product_attention` (enable_gqa) on the same ragged step two
ways: over the whole cache with a boolean mask (what a masked dense kernel
reads) and over each row's window gathered first (index_select + SDPA);
CUDA events, median of --runs.
"""

import json
import os
import re
import subprocess
import sys

import gpu_bundle_cli

B, HQ, HKV, D, SMAX = 4, 32, 8, 128, 32768
POSITIONS = [32767, 32068, 16384, 27768]
WINDOWS = [None, 256, 1024, 4096, 16384]


def mlir(window):
    q = f"tensor<{B}x{HQ}x1x{D}xf16>"
    kv = f"tensor<{B}x{HKV}x1x{D}xf16>"
    cache = f"tensor<{B}x{HKV}x{SMAX}x{D}xf16>"
    win = f" window({window - 1}, 0)" if window else ""
    tied = lambda i: f"attn.tied_result = {i} : i64, bufferization.writable = true"
    return f"""func.func @decode(%query: {q} {{attn.name = "query"}}, %key: {kv} {{attn.name = "key"}}, %value: {kv} {{attn.name = "value"}}, %positions: tensor<{B}xi64> {{attn.name = "positions"}}, %key_cache: {cache} {{attn.name = "key_cache", {tied(1)}}}, %value_cache: {cache} {{attn.name = "value_cache", {tied(2)}}})
    -> ({q} {{attn.name = "out"}}, {cache} {{attn.name = "new_key_cache"}}, {cache} {{attn.name = "new_value_cache"}}) {{
  %init = tensor.empty() : {q}
  %out, %kc, %vc = attn.decode heads({HQ}, {HKV}) scale(0.08838834764831845) causal{win}
      ins(%query, %key, %value : {q}, {kv}, {kv}) positions(%positions : tensor<{B}xi64>)
      outs(%init, %key_cache, %value_cache : {q}, {cache}, {cache}) -> {q}, {cache}, {cache}
  return %out, %kc, %vc : {q}, {cache}, {cache}
}}
"""


def build(bin_dir, out):
    os.makedirs(out, exist_ok=True)
    gpu_bundle_cli.copy_into(out, __file__)
    for w in WINDOWS:
        base = os.path.join(out, f"w{w or 0}")
        with open(base + ".mlir", "w") as f:
            f.write(mlir(w))
        subprocess.run([os.path.join(bin_dir, "attn-compile"), base + ".mlir",
                        "--target", "cuda", "-o", base + ".so"], check=True)


def run(out, attn_run, runs, json_path):
    import numpy as np
    import torch
    rng = np.random.default_rng(0)
    f16 = lambda *s: rng.standard_normal(s, dtype=np.float32).astype(np.float16)
    arrays = dict(query=f16(B, HQ, 1, D), key=f16(B, HKV, 1, D), value=f16(B, HKV, 1, D),
                  positions=np.array(POSITIONS, np.int64),
                  key_cache=f16(B, HKV, SMAX, D), value_cache=f16(B, HKV, SMAX, D))
    npz = os.path.join(out, "inputs.npz")
    np.savez(npz, **arrays)
    dev = torch.device("cuda")
    q = torch.from_numpy(arrays["query"]).to(dev)
    kc = torch.from_numpy(arrays["key_cache"]).to(dev)
    vc = torch.from_numpy(arrays["value_cache"]).to(dev)
    pos = torch.tensor(POSITIONS, device=dev)
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def timed(fn):
        for _ in range(3):
            fn()
        times = []
        for _ in range(runs):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record(); fn(); b.record(); b.synchronize()
            times.append(a.elapsed_time(b) * 1000.0)
        return sorted(times)[len(times) // 2]

    rows = []
    j = torch.arange(SMAX, device=dev)
    for w in WINDOWS:
        res = subprocess.run([attn_run, os.path.join(out, f"w{w or 0}.so"), "--inputs", npz,
                              "--bench", str(runs)], check=True, capture_output=True, text=True)
        ours = float(re.findall(r"median_us: ([0-9.]+)", res.stdout)[-1])
        # The row's visible keys: [p - W + 1, p] (its own key at p).
        lo = (pos - (w - 1)).clamp(min=0) if w else torch.zeros_like(pos)
        mask = (j[None, :] >= lo[:, None]) & (j[None, :] <= pos[:, None])
        mask = mask[:, None, None, :]
        dense = timed(lambda: sdpa(q, kc, vc, attn_mask=mask, enable_gqa=True))
        gathered = None
        if w:
            idx = (pos[:, None] - w + 1 + torch.arange(w, device=dev)[None, :]).clamp(min=0)
            def window_only():
                g = idx[:, None, :, None].expand(B, HKV, w, D)
                k = torch.gather(kc, 2, g)
                v = torch.gather(vc, 2, g)
                return sdpa(q, k, v, enable_gqa=True)
            gathered = timed(window_only)
        rows.append(dict(window=w, attn_us=ours, torch_masked_us=dense,
                         torch_gathered_us=gathered))
        print(f"window {w or 'none'}: attn {ours:.1f} us, torch masked {dense:.1f} us, "
              f"torch gathered {gathered if gathered is None else round(gathered, 1)} us",
              flush=True)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(dict(shape=dict(B=B, Hq=HQ, Hkv=HKV, D=D, smax=SMAX, positions=POSITIONS,
                                      dtype="f16"),
                           torch=torch.__version__, gpu=torch.cuda.get_device_name(),
                           runs=runs, rows=rows), f, indent=1)


def main():
    return gpu_bundle_cli.attn_run_main(__doc__, build, run)


if __name__ == "__main__":
    sys.exit(main())
