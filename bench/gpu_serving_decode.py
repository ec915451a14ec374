#!/usr/bin/env python3
"""CUDA decode over the serving caches: a paged cache against a contiguous
one, and int8 / fp8 (E4M3) caches against an f16 one, at a long context.

A ragged batch (B=4 rows at positions 16383, 16000, 12000, 8000 of a
16384-entry capacity, one new token each, Hq=32, Hkv=8, D=128, f16
queries, causal; caches updated in place as inout buffers) compiled with
--target cuda as attn.decode over
  contiguous : f16 caches [B, Hkv, 16384, D];
  paged      : f16 pools of 16-slot pages [4096, Hkv, 16, D] dealt to the
               rows in a shuffled order through a [B, 1024] i32 table;
  int8, fp8  : 8-bit caches with [B, Hkv] f32 scales (cache_scales).

  on the build machine:  bench/gpu_serving_decode.py build BUILD_BIN OUT_DIR
  on the GPU machine:    python3 OUT_DIR/gpu_serving_decode.py run OUT_DIR ATTN_RUN [--json F]

`run` makes the inputs with numpy and times each model with `attn-run
--bench` (synchronous runs: launches and the wait included), median of
--runs; PyTorch's scaled_dot_product_attention (enable_gqa, f16, the whole
cache with a boolean mask of each row's prefix) is timed beside them with
CUDA events.
"""

import json
import os
import re
import subprocess
import sys

import gpu_bundle_cli

B, HQ, HKV, D, SMAX, PAGE = 4, 32, 8, 128, 16384, 16
POSITIONS = [16383, 16000, 12000, 8000]
MODELS = ["contiguous", "paged", "int8", "fp8"]
PAGES = B * SMAX // PAGE


def mlir(kind):
    q = f"tensor<{B}x{HQ}x1x{D}xf16>"
    kv = f"tensor<{B}x{HKV}x1x{D}xf16>"
    element = {"int8": "i8", "fp8": "f8E4M3FN"}.get(kind, "f16")
    cache = (f"tensor<{PAGES}x{HKV}x{PAGE}x{D}xf16>" if kind == "paged"
             else f"tensor<{B}x{HKV}x{SMAX}x{D}x{element}>")
    table_t = f"tensor<{B}x{SMAX // PAGE}xi32>"
    scales_t = f"tensor<{B}x{HKV}xf32>"
    tied = lambda i: f"attn.tied_result = {i} : i64, bufferization.writable = true"
    extra_args, table, scales = "", "", ""
    if kind == "paged":
        extra_args = f', %block_table: {table_t} {{attn.name = "block_table"}}'
        table = f" block_table(%block_table : {table_t})"
    if kind in ("int8", "fp8"):
        extra_args = (f', %key_scale: {scales_t} {{attn.name = "key_scale"}}, '
                      f'%value_scale: {scales_t} {{attn.name = "value_scale"}}')
        scales = f" cache_scales(%key_scale, %value_scale : {scales_t}, {scales_t})"
    return f"""func.func @decode(%query: {q} {{attn.name = "query"}}, %key: {kv} {{attn.name = "key"}}, %value: {kv} {{attn.name = "value"}}, %positions: tensor<{B}xi64> {{attn.name = "positions"}}{extra_args}, %key_cache: {cache} {{attn.name = "key_cache", {tied(1)}}}, %value_cache: {cache} {{attn.name = "value_cache", {tied(2)}}})
    -> ({q} {{attn.name = "out"}}, {cache} {{attn.name = "new_key_cache"}}, {cache} {{attn.name = "new_value_cache"}}) {{
  %init = tensor.empty() : {q}
  %out, %kc, %vc = attn.decode heads({HQ}, {HKV}) scale(0.08838834764831845) causal
      ins(%query, %key, %value : {q}, {kv}, {kv}) positions(%positions : tensor<{B}xi64>){table}
      outs(%init, %key_cache, %value_cache : {q}, {cache}, {cache}){scales} -> {q}, {cache}, {cache}
  return %out, %kc, %vc : {q}, {cache}, {cache}
}}
"""


def build(bin_dir, out):
    import numpy as np
    os.makedirs(out, exist_ok=True)
    gpu_bundle_cli.copy_into(out, __file__)
    rng = np.random.default_rng(0)
    for kind in MODELS:
        base = os.path.join(out, kind)
        with open(base + ".mlir", "w") as f:
            f.write(mlir(kind))
        compile_ = [os.path.join(bin_dir, "attn-compile"), base + ".mlir"]
        subprocess.run(compile_ + ["--target", "cuda", "-o", base + ".so"], check=True)
        # The CPU's output for the inputs `run` makes (the same generator,
        # the same order): the GPU's is checked against it.
        subprocess.run(compile_ + ["-o", base + ".cpu.so"], check=True)
        np.savez(base + ".in.npz", **inputs(kind, rng))
        subprocess.run([os.path.join(bin_dir, "attn-run"), base + ".cpu.so", "--inputs",
                        base + ".in.npz", "--outputs", base + ".cpu.npz"], check=True)
        np.save(base + ".cpu_out.npy", np.load(base + ".cpu.npz")["out"])
        for f in (".cpu.so", ".in.npz", ".cpu.npz"):
            os.remove(base + f)


def inputs(kind, rng):
    import numpy as np
    f16 = lambda *s: rng.standard_normal(s, dtype=np.float32).astype(np.float16)
    arrays = dict(query=f16(B, HQ, 1, D), key=f16(B, HKV, 1, D), value=f16(B, HKV, 1, D),
                  positions=np.array(POSITIONS, np.int64))
    if kind == "paged":
        arrays["block_table"] = rng.permutation(PAGES).astype(np.int32).reshape(B, SMAX // PAGE)
        shape = (PAGES, HKV, PAGE, D)
    else:
        shape = (B, HKV, SMAX, D)
    if kind == "int8":
        for c in ("key_cache", "value_cache"):
            arrays[c] = rng.integers(-127, 128, shape, dtype=np.int8)
    elif kind == "fp8":
        for c in ("key_cache", "value_cache"):
            codes = rng.integers(0, 256, shape, dtype=np.uint8)
            codes[(codes & 0x7F) == 0x7F] = 0x38  # NaN codes -> 1.0
            arrays[c] = codes
    else:
        for c in ("key_cache", "value_cache"):
            arrays[c] = f16(*shape)
    if kind in ("int8", "fp8"):
        top = 127.0 if kind == "int8" else 448.0
        for s in ("key_scale", "value_scale"):
            arrays[s] = np.full((B, HKV), 2.0 / top, np.float32)
    return arrays


def run(out, attn_run, runs, json_path):
    import numpy as np
    import torch
    rng = np.random.default_rng(0)
    rows = []
    for kind in MODELS:
        npz = os.path.join(out, f"{kind}.in.npz")
        np.savez(npz, **inputs(kind, rng))
        got = os.path.join(out, f"{kind}.out.npz")
        subprocess.run([attn_run, os.path.join(out, f"{kind}.so"), "--inputs", npz,
                        "--outputs", got], check=True)
        o = np.load(got)["out"].astype(np.float32)
        e = np.load(os.path.join(out, f"{kind}.cpu_out.npy")).astype(np.float32)
        err = float(np.max(np.abs(o - e) / (1e-3 + 1e-2 * np.abs(e))))
        os.remove(got)
        res = subprocess.run([attn_run, os.path.join(out, f"{kind}.so"), "--inputs", npz,
                              "--bench", str(runs)], check=True, capture_output=True, text=True)
        ours = float(re.findall(r"median_us: ([0-9.]+)", res.stdout)[-1])
        os.remove(npz)
        ok = err <= 1.0
        rows.append(dict(cache=kind, attn_us=ours, matches_cpu=ok, err_over_tol=err))
        print(f"{kind}: attn {ours:.1f} us, output {'matches' if ok else 'DIFFERS FROM'} the CPU's "
              f"(max |d| / (1e-3 + 1e-2 |cpu|) = {err:.3f})", flush=True)
    # PyTorch beside them: the contiguous f16 step as a masked dense SDPA.
    dev = torch.device("cuda")
    q = torch.randn(B, HQ, 1, D, device=dev, dtype=torch.float16)
    kc = torch.randn(B, HKV, SMAX, D, device=dev, dtype=torch.float16)
    vc = torch.randn_like(kc)
    pos = torch.tensor(POSITIONS, device=dev)
    mask = (torch.arange(SMAX, device=dev)[None, :] <= pos[:, None])[:, None, None, :]
    sdpa = torch.nn.functional.scaled_dot_product_attention
    fn = lambda: sdpa(q, kc, vc, attn_mask=mask, enable_gqa=True)
    for _ in range(3):
        fn()
    times = []
    for _ in range(runs):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(); fn(); b.record(); b.synchronize()
        times.append(a.elapsed_time(b) * 1000.0)
    torch_us = sorted(times)[len(times) // 2]
    print(f"torch masked SDPA (f16, contiguous): {torch_us:.1f} us", flush=True)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(dict(shape=dict(B=B, Hq=HQ, Hkv=HKV, D=D, capacity=SMAX, page=PAGE,
                                      positions=POSITIONS, query_dtype="f16"),
                           torch=torch.__version__, gpu=torch.cuda.get_device_name(),
                           runs=runs, rows=rows, torch_masked_sdpa_us=torch_us), f, indent=1)
    return 0 if all(r["matches_cpu"] for r in rows) else 1


def main():
    return gpu_bundle_cli.attn_run_main(__doc__, build, run)


if __name__ == "__main__":
    sys.exit(main())
