#!/usr/bin/env python3
"""Checks and times the tensor-core prefill kernel against PyTorch SDPA, in one process.

Runs in a bundle made by bench/gpu_build_prefill.sh (models/NAME.so +
NAME.json, libAttnRuntime.so next to them, gpu_decode.py for the model
loader) on a GPU machine with torch. Models run on torch CUDA tensors on
torch's current stream.

  num-*   : random inputs made on the GPU, output compared with SDPA in f32
            (scores capped by hand when the case has a softcap; GQA by
            repeat_interleave; kv lengths and causal limits as a boolean
            mask; rows that see no key give 0): |a - e| <= tol * (1 + |e|),
            f16 tol 5e-3, bf16 1e-2;
  bench-* : B=4, S=4096, Hq=32, D=128 prompts, timed with CUDA events next
            to SDPA's flash and cuDNN backends (enable_gqa; where a backend
            refuses GQA, on K/V expanded with repeat_interleave beforehand,
            which is not timed). TFLOP/s = 4 B Hq Sq Skv D / t, halved when
            causal. Each output is also compared with the flash backend's.

  python3 gpu_prefill.py [--iters N] [--json OUT.json] [--models DIR] [--only num|bench]
"""

import argparse
import glob
import json
import os
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gpu_decode import DTYPES, TOL, Model, allowed_mask, load_runtime, rand  # noqa: E402


def reference(q, k, v, ok, scale, softcap):
    g = q.shape[1] // k.shape[1]
    k = k.float().repeat_interleave(g, 1)
    v = v.float().repeat_interleave(g, 1)
    if softcap is None:
        mask = torch.zeros(ok.shape, device="cuda").masked_fill(~ok, float("-inf"))
        out = F.scaled_dot_product_attention(q.float(), k, v, attn_mask=mask, scale=scale)
        return torch.nan_to_num(out, nan=0.0)
    s = torch.matmul(q.float(), k.transpose(-1, -2)) * scale
    s = softcap * torch.tanh(s / softcap)
    s = s.masked_fill(~ok, float("-inf"))
    p = torch.nan_to_num(torch.softmax(s, -1), nan=0.0)
    return torch.matmul(p, v)


def check(model, cfg):
    dt = DTYPES[cfg["dtype"]]
    b, hq, hkv, sq, skv, d, dv = (cfg[x] for x in ("batch", "q_heads", "kv_heads", "sq", "skv", "d", "dv"))
    t = {"query": rand((b, hq, sq, d), dt), "key": rand((b, hkv, skv, d), dt),
         "value": rand((b, hkv, skv, dv), dt)}
    ok = allowed_mask(cfg, sq, skv)
    if cfg.get("kv_lens"):
        lens = torch.tensor(cfg["kv_lens_values"], device="cuda")
        t["kv_seq_lens"] = lens.to(DTYPES[cfg["kv_lens"]])
        ok &= torch.arange(skv, device="cuda").view(1, 1, 1, skv) < lens.view(b, 1, 1, 1)
    outs = {name: torch.empty(shape, dtype=DTYPES[dtype], device="cuda")
            for name, dtype, shape in model.infos["Output"]}
    model.bind({**t, **outs})()
    torch.cuda.synchronize()
    expected = reference(t["query"], t["key"], t["value"], ok, cfg["scale"], cfg.get("softcap"))
    out = outs[model.infos["Output"][0][0]].float()
    err = ((out - expected).abs() / (1 + expected.abs())).max().item()
    return err <= TOL[cfg["dtype"]], err


def time_ms(fn, iters):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(iters):
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]


def sdpa_runner(backend, q, k, v, causal, scale):
    """SDPA on `backend`, natively GQA if it takes enable_gqa, else on
    expanded K/V; None if it refuses both."""
    g = q.shape[1] // k.shape[1]
    forms = [("gqa", k, v, g != 1)]
    if g != 1:
        forms.append(("expanded", k.repeat_interleave(g, 1), v.repeat_interleave(g, 1), False))
    for how, kk, vv, gqa in forms:
        def run(kk=kk, vv=vv, gqa=gqa):
            with sdpa_kernel(backend):
                return F.scaled_dot_product_attention(q, kk, vv, is_causal=causal, scale=scale,
                                                      enable_gqa=gqa)
        try:
            run()
            torch.cuda.synchronize()
            return run, how
        except RuntimeError:
            continue
    return None, "unsupported"


def bench(model, cfg, iters):
    dt = DTYPES[cfg["dtype"]]
    b, hq, hkv, s, d = (cfg[x] for x in ("batch", "q_heads", "kv_heads", "sq", "d"))
    causal = cfg["causal"] is not None
    q, k, v = rand((b, hq, s, d), dt), rand((b, hkv, s, d), dt), rand((b, hkv, s, d), dt)
    out = torch.empty((b, hq, s, d), dtype=dt, device="cuda")
    ours = model.bind({"query": q, "key": k, "value": v, "out": out})
    flops = 4 * b * hq * s * s * d / (2 if causal else 1)
    row = {"name": cfg["name"], "dtype": cfg["dtype"], "kv_heads": hkv, "causal": causal}
    row["attn_ms"] = time_ms(ours, iters)
    row["attn_tflops"] = flops / row["attn_ms"] / 1e9
    flash_out = None
    for label, backend in (("flash", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION)):
        run, how = sdpa_runner(backend, q, k, v, causal, cfg["scale"])
        row[f"{label}_form"] = how
        if run is None:
            continue
        if label == "flash":
            flash_out = run().float()
        row[f"{label}_ms"] = time_ms(run, iters)
        row[f"{label}_tflops"] = flops / row[f"{label}_ms"] / 1e9
    ours()
    torch.cuda.synchronize()
    if flash_out is not None:
        row["err_vs_flash"] = ((out.float() - flash_out).abs() / (1 + flash_out.abs())).max().item()
    return row


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--json")
    p.add_argument("--models", default=os.path.join(HERE, "models"),
                   help="directory of the models (and libAttnRuntime.so)")
    p.add_argument("--only", choices=["num", "bench"], help="run one kind of model")
    args = p.parse_args()
    rt = load_runtime(args.models)
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}")
    results, failed = {"num": [], "bench": []}, 0
    for so in sorted(glob.glob(os.path.join(args.models, "*.so"))):
        name = os.path.basename(so)[:-3]
        if name.startswith("libAttn") or (args.only and not name.startswith(args.only)):
            continue
        cfg = json.load(open(so[:-3] + ".json"))
        cfg["name"] = name
        model = Model(rt, so)
        if name.startswith("num-"):
            ok, err = check(model, cfg)
            failed += not ok
            print(f"{'PASS' if ok else 'FAIL'} {name}: max rel err {err:.2e} (tol {TOL[cfg['dtype']]})")
            results["num"].append({"name": name, "ok": ok, "err": err})
        else:
            row = bench(model, cfg, args.iters)
            results["bench"].append(row)
            cells = [f"ours {row['attn_ms']:.3f} ms {row['attn_tflops']:.0f} TF/s"]
            for label in ("flash", "cudnn"):
                if f"{label}_ms" in row:
                    cells.append(f"{label}({row[label + '_form']}) {row[label + '_ms']:.3f} ms "
                                 f"{row[label + '_tflops']:.0f} TF/s")
                else:
                    cells.append(f"{label} unsupported")
            err = row.get("err_vs_flash")
            cells.append(f"err vs flash {err:.1e}" if err is not None else "")
            print(f"{name}: " + ", ".join(cells), flush=True)
        torch.cuda.empty_cache()
    n = len(results["num"])
    print(f"gpu_prefill: {n - failed}/{n} numerics pass")
    if args.json:
        json.dump(results, open(args.json, "w"), indent=1)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
