#!/usr/bin/env python3
"""CUDA latent (MLA) decode: achieved GB/s and TFLOP/s against PyTorch.

DeepSeek-V3's absorbed MLA decode step: 128 query heads attend, as MQA with
head size 512 + 64, over one latent cache (values = its first 512 columns);
B in {1, 16, 64}, context S in {4096, 8192, 16384, 32768} (the step's row
at position S - 1 of an S-entry cache: S keys), f16 and bf16. Each shape is
compiled with --target cuda as attn.decode latent(512) with per-row
positions and the latent/rotary caches as inout buffers.

  on the build machine: bench/gpu_mla_decode.py build BUILD_BIN OUT_DIR
  on the GPU machine:   python3 OUT_DIR/gpu_mla_decode.py run OUT_DIR [--json F]

`run` loads each model through the C API (gpu_decode.py's loader, ctypes,
torch CUDA tensors, torch's stream) and times, with CUDA events in the same
process:
  attn          our step (check, append, partial, merge kernels) replayed
                from a CUDA graph (attn_eager_us: called from Python);
  torch_sdpa    F.scaled_dot_product_attention(q, K, V, enable_gqa=True)
                with K = the cache kept as [latent, rope] rows and V its
                first 512 columns (a strided view), whichever backend
                PyTorch picks for head sizes 576/512;
  torch_matmul  the same by hand: bmm(q, K^T), softmax in f32, bmm(P, V).
Bytes: the cache read once (S x 576 x 2 a row) plus queries and outputs;
FLOPs: 2 x B x 128 x S x (576 + 512). The S = 4096 shapes are also checked
against an f32 PyTorch reference (max_err).
"""

import json
import os
import subprocess
import sys

import gpu_bundle_cli

HEADS, RANK, ROPE = 128, 512, 64
BATCHES = [1, 16, 64]
CONTEXTS = [4096, 8192, 16384, 32768]
TYPES = ["f16", "bf16"]
SCALE = 1.0 / (192 ** 0.5)  # DeepSeek-V3: 1 / sqrt(qk_nope + qk_rope)


def name(b, s, t):
    return f"mla-b{b}-s{s}-{t}"


def mlir(b, s, t):
    d = RANK + ROPE
    q = f"tensor<{b}x{HEADS}x1x{d}x{t}>"
    c = f"tensor<{b}x1x1x{RANK}x{t}>"
    r = f"tensor<{b}x1x1x{ROPE}x{t}>"
    o = f"tensor<{b}x{HEADS}x1x{RANK}x{t}>"
    lc = f"tensor<{b}x1x{s}x{RANK}x{t}>"
    rc = f"tensor<{b}x1x{s}x{ROPE}x{t}>"
    tied = lambda i: f"attn.tied_result = {i} : i64, bufferization.writable = true"
    return f"""func.func @decode(%query: {q} {{attn.name = "query"}}, %key: {c} {{attn.name = "key"}}, %value: {r} {{attn.name = "value"}}, %positions: tensor<{b}xi64> {{attn.name = "positions"}}, %key_cache: {lc} {{attn.name = "key_cache", {tied(1)}}}, %value_cache: {rc} {{attn.name = "value_cache", {tied(2)}}})
    -> ({o} {{attn.name = "out"}}, {lc} {{attn.name = "new_key_cache"}}, {rc} {{attn.name = "new_value_cache"}}) {{
  %init = tensor.empty() : {o}
  %out, %lc, %rc = attn.decode heads({HEADS}, 1) scale({SCALE!r}) causal latent({RANK})
      ins(%query, %key, %value : {q}, {c}, {r}) positions(%positions : tensor<{b}xi64>)
      outs(%init, %key_cache, %value_cache : {o}, {lc}, {rc}) -> {o}, {lc}, {rc}
  return %out, %lc, %rc : {o}, {lc}, {rc}
}}
"""


def build(bin_dir, out):
    models = os.path.join(out, "models")
    os.makedirs(models, exist_ok=True)
    for b in BATCHES:
        for s in CONTEXTS:
            for t in TYPES:
                base = os.path.join(models, name(b, s, t))
                with open(base + ".mlir", "w") as f:
                    f.write(mlir(b, s, t))
                subprocess.run([os.path.join(bin_dir, "attn-compile"), base + ".mlir",
                                "--target", "cuda", "-o", base + ".so"], check=True)
                os.remove(base + ".mlir")


def run(out, json_path, target_s):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import torch
    import torch.nn.functional as F
    import gpu_decode as gd

    models = os.path.join(out, "models")
    rt = gd.load_runtime(models)
    dev = torch.device("cuda")
    torch.manual_seed(0)

    def timed(fn, graph=False):
        fn()
        torch.cuda.synchronize()
        a, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        e.record()
        e.synchronize()
        once = a.elapsed_time(e) / 1000.0
        iters = int(max(2, min(200, target_s / max(once, 1e-6))))
        return gd.time_us(fn, iters, graph=graph)

    rows = []
    for t in TYPES:
        dt = gd.DTYPES[t]
        for b in BATCHES:
            for s in CONTEXTS:
                model = gd.Model(rt, os.path.join(models, name(b, s, t) + ".so"))
                d = RANK + ROPE
                q = torch.randn(b, HEADS, 1, d, device=dev).to(dt)
                new_c = torch.randn(b, 1, 1, RANK, device=dev).to(dt)
                new_r = torch.randn(b, 1, 1, ROPE, device=dev).to(dt)
                # One buffer of [latent, rope] rows for PyTorch; our kernel
                # takes the two caches (the op's operands).
                rows_kv = torch.randn(b, 1, s, d, device=dev).to(dt)
                rows_kv[:, :, s - 1, :RANK] = new_c[:, :, 0]
                rows_kv[:, :, s - 1, RANK:] = new_r[:, :, 0]
                latent = rows_kv[..., :RANK].contiguous()
                rope = rows_kv[..., RANK:].contiguous()
                out = torch.empty(b, HEADS, 1, RANK, device=dev, dtype=dt)
                pos = torch.full((b,), s - 1, dtype=torch.int64, device=dev)
                tensors = {"query": q, "key": new_c, "value": new_r, "positions": pos,
                           "key_cache": latent, "value_cache": rope, "out": out}
                for kind in ("Output", "Inout"):
                    for n, _, _ in model.infos[kind]:
                        if n not in tensors:  # result names of the inouts
                            tensors[n] = latent if "key" in n else rope
                step = model.bind(tensors)
                row = {"name": name(b, s, t), "batch": b, "context": s, "dtype": t}
                nbytes = (latent.numel() + rope.numel() + q.numel() + out.numel()) * 2
                flops = 2.0 * b * HEADS * s * (d + RANK)
                row["attn_eager_us"] = timed(step)
                try:
                    row["attn_us"] = timed(step, graph=True)
                except Exception as e:  # report, do not hide
                    row["attn_graph_error"] = str(e)[:200]
                    row["attn_us"] = row["attn_eager_us"]
                k = rows_kv
                v = rows_kv[..., :RANK]

                def sdpa():
                    return F.scaled_dot_product_attention(q, k, v, scale=SCALE, enable_gqa=True)

                def matmul():
                    sc = torch.matmul(q.view(b, HEADS, d), k.view(b, s, d).transpose(1, 2)) * SCALE
                    p = torch.softmax(sc.float(), dim=-1).to(dt)
                    return torch.matmul(p, v.view(b, s, RANK))
                for key, fn in (("torch_sdpa", sdpa), ("torch_matmul", matmul)):
                    try:
                        row[key + "_us"] = timed(fn)
                    except Exception as e:  # report, do not hide
                        row[key + "_us"] = None
                        row[key + "_error"] = str(e)[:200]
                    torch.cuda.empty_cache()
                if s == CONTEXTS[0]:
                    step()
                    torch.cuda.synchronize()
                    sc = torch.matmul(q.float().view(b, HEADS, d),
                                      k.float().view(b, s, d).transpose(1, 2)) * SCALE
                    ref = torch.matmul(torch.softmax(sc, -1), v.float().reshape(b, s, RANK))
                    row["max_err"] = (out.float().view(b, HEADS, RANK) - ref).abs().max().item()
                    row["ref_max_abs"] = ref.abs().max().item()
                for key in ("attn", "attn_eager", "torch_sdpa", "torch_matmul"):
                    us = row.get(key + "_us")
                    if us:
                        row[key + "_GBps"] = round(nbytes / (us * 1e-6) / 1e9, 1)
                        row[key + "_TFLOPs"] = round(flops / (us * 1e-6) / 1e12, 1)
                rows.append(row)
                fmt = lambda k: (f"{row[k + '_us']:.1f} us ({row[k + '_GBps']:.0f} GB/s, "
                                 f"{row[k + '_TFLOPs']:.0f} TFLOP/s)" if row.get(k + "_us") else "n/a")
                extra = f" max_err {row['max_err']:.2g}" if "max_err" in row else ""
                print(f"{row['name']}: attn {fmt('attn')} | eager {fmt('attn_eager')} | "
                      f"sdpa {fmt('torch_sdpa')} | matmul {fmt('torch_matmul')}{extra}",
                      flush=True)
                del model, q, rows_kv, latent, rope, out, k, v
                torch.cuda.empty_cache()
    if json_path:
        with open(json_path, "w") as f:
            json.dump(dict(heads=HEADS, rank=RANK, rope=ROPE, scale=SCALE,
                           torch=torch.__version__, gpu=torch.cuda.get_device_name(),
                           rows=rows), f, indent=1)


def run_arguments(r):
    r.add_argument("--json")
    r.add_argument("--target-seconds", type=float, default=0.05,
                   help="time of one timed batch of runs (5 batches a figure)")


def main():
    return gpu_bundle_cli.main(
        __doc__, build, lambda a: run(a.out, a.json, a.target_seconds), run_arguments)


if __name__ == "__main__":
    sys.exit(main())
