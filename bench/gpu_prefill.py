#!/usr/bin/env python3
"""Checks and times the tensor-core prefill kernel against PyTorch SDPA, in one process.

Runs in a bundle made by bench/gpu_build_prefill.sh (models/NAME.so +
NAME.json, libAttnRuntime.so next to them, gpu_decode.py for the model
loader) on a GPU machine with torch. Models run on torch CUDA tensors on
torch's current stream.

  num-*   : random inputs made on the GPU, output compared with SDPA in f32
            (scores capped by hand when the case has a softcap; GQA by
            repeat_interleave; kv lengths, causal limits and windows as a
            boolean mask, an explicit mask as gen_case.py makes them:
            boolean 70% kept, additive N(0, 2) with 20% -inf, some rows
            wholly masked; rows that see no key give 0):
            |a - e| <= tol * (1 + |e|), f16 tol 5e-3, bf16 1e-2;
  bench-* : B=4, S=4096, Hq=32, D=128 prompts, timed with CUDA events next
            to SDPA's flash and cuDNN backends (enable_gqa; where a backend
            refuses GQA, on K/V expanded with repeat_interleave beforehand,
            which is not timed). TFLOP/s = 4 B Hq Sq Skv D / t, halved when
            causal. Each output is also compared with the flash backend's.
            With a mask (`mask_kind`) or a window in the JSON: SDPA gets
            the same mask as attn_mask (the window as a boolean band
            [S, S]; flash takes no attn_mask, so the efficient and cuDNN
            backends, each where it accepts it); TFLOP/s count the visible
            (row, key) pairs only for the window; ours is compared with
            the first backend that ran.

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


def reference(q, k, v, ok, scale, softcap, additive=None):
    g = q.shape[1] // k.shape[1]
    k = k.float().repeat_interleave(g, 1)
    v = v.float().repeat_interleave(g, 1)
    if softcap is None:
        mask = torch.zeros(ok.shape, device="cuda")
        if additive is not None:
            mask = mask + additive.float()
        mask = mask.masked_fill(~ok, float("-inf"))
        out = F.scaled_dot_product_attention(q.float(), k, v, attn_mask=mask, scale=scale)
        return torch.nan_to_num(out, nan=0.0)
    s = torch.matmul(q.float(), k.transpose(-1, -2)) * scale
    s = softcap * torch.tanh(s / softcap)
    if additive is not None:
        s = s + additive.float()
    s = s.masked_fill(~ok, float("-inf"))
    p = torch.nan_to_num(torch.softmax(s, -1), nan=0.0)
    return torch.matmul(p, v)


def window_mask(cfg, sq, skv):
    """Bool [Sq, Skv]: the keys inside the window of each row (all when
    the case has none); row i stands at i + the causal offset."""
    ok = torch.ones(sq, skv, dtype=torch.bool, device="cuda")
    window = cfg.get("window")
    if not window:
        return ok
    p = torch.arange(sq, device="cuda").view(sq, 1) + (cfg["causal"] or 0)
    j = torch.arange(skv, device="cuda").view(1, skv)
    left, right = window
    if left >= 0:
        ok &= j >= p - left
    if right >= 0:
        ok &= j <= p + right
    return ok


def explicit_mask(cfg, dtype):
    """A mask of cfg's kind and shape made on the GPU, as gen_case.py
    makes them (its fully masked rows included)."""
    shape = cfg["mask_shape"]
    if cfg["mask"] == "bool":
        mask = torch.rand(shape, device="cuda") < 0.7
    else:
        mask = torch.randn(shape, device="cuda") * 2.0
        mask[torch.rand(shape, device="cuda") < 0.2] = float("-inf")
    rows = shape[-2]
    for i in torch.randperm(rows)[:cfg.get("masked_rows", 0)].tolist():
        mask[..., i, :] = False if cfg["mask"] == "bool" else float("-inf")
    return mask if cfg["mask"] == "bool" else mask.to(dtype)


def check(model, cfg):
    dt = DTYPES[cfg["dtype"]]
    b, hq, hkv, sq, skv, d, dv = (cfg[x] for x in ("batch", "q_heads", "kv_heads", "sq", "skv", "d", "dv"))
    t = {"query": rand((b, hq, sq, d), dt), "key": rand((b, hkv, skv, d), dt),
         "value": rand((b, hkv, skv, dv), dt)}
    ok = allowed_mask(cfg, sq, skv) & window_mask(cfg, sq, skv)
    additive = None
    if cfg.get("mask"):
        t["mask"] = explicit_mask(cfg, DTYPES[cfg["mask_dtype"]])
        rank = len(cfg["mask_shape"])
        full = t["mask"].view([1] * (4 - rank) + cfg["mask_shape"])
        if cfg["mask"] == "bool":
            ok &= full
        else:
            additive = full
    if cfg.get("kv_lens"):
        lens = torch.tensor(cfg["kv_lens_values"], device="cuda")
        t["kv_seq_lens"] = lens.to(DTYPES[cfg["kv_lens"]])
        ok &= torch.arange(skv, device="cuda").view(1, 1, 1, skv) < lens.view(b, 1, 1, 1)
    outs = {name: torch.empty(shape, dtype=DTYPES[dtype], device="cuda")
            for name, dtype, shape in model.infos["Output"]}
    model.bind({**t, **outs})()
    torch.cuda.synchronize()
    expected = reference(t["query"], t["key"], t["value"], ok, cfg["scale"], cfg.get("softcap"),
                         additive)
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


def sdpa_runner(backend, q, k, v, causal, scale, mask=None):
    """SDPA on `backend` (with attn_mask `mask` when given), natively GQA
    if it takes enable_gqa, else on expanded K/V; None if it refuses both."""
    g = q.shape[1] // k.shape[1]
    forms = [("gqa", k, v, g != 1)]
    if g != 1:
        forms.append(("expanded", k.repeat_interleave(g, 1), v.repeat_interleave(g, 1), False))
    for how, kk, vv, gqa in forms:
        def run(kk=kk, vv=vv, gqa=gqa):
            with sdpa_kernel(backend):
                return F.scaled_dot_product_attention(q, kk, vv, attn_mask=mask, is_causal=causal,
                                                      scale=scale, enable_gqa=gqa)
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
    inputs = {"query": q, "key": k, "value": v, "out": out}
    kind, sdpa_mask = cfg.get("mask_kind"), None
    backends = (("flash", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION))
    pairs = s * s / (2 if causal else 1)
    if kind:
        # Ours gets the [S, S] mask; SDPA the same as [1, 1, S, S].
        cfg = {**cfg, "mask": kind, "mask_shape": [s, s], "masked_rows": 0}
        inputs["mask"] = explicit_mask(cfg, dt)
        sdpa_mask = inputs["mask"].view(1, 1, s, s)
    if cfg.get("window"):
        band = window_mask(cfg, s, s)
        if causal:
            band &= torch.ones(s, s, dtype=torch.bool, device="cuda").tril()
        pairs = band.sum().item()
        sdpa_mask = band.view(1, 1, s, s)
    if sdpa_mask is not None:
        backends = (("flash", SDPBackend.FLASH_ATTENTION), ("efficient", SDPBackend.EFFICIENT_ATTENTION),
                    ("cudnn", SDPBackend.CUDNN_ATTENTION))
    ours = model.bind(inputs)
    flops = 4 * b * hq * pairs * d
    row = {"name": cfg["name"], "dtype": cfg["dtype"], "kv_heads": hkv, "causal": causal,
           "mask_kind": kind, "window": cfg.get("window")}
    row["attn_ms"] = time_ms(ours, iters)
    row["attn_tflops"] = flops / row["attn_ms"] / 1e9
    ref_out, ref_label = None, None
    for label, backend in backends:
        # With a mask SDPA's causal limit is in the mask (the band) or
        # not wanted (the explicit mask cases are non-causal).
        run, how = sdpa_runner(backend, q, k, v, causal and sdpa_mask is None, cfg["scale"],
                               sdpa_mask)
        row[f"{label}_form"] = how
        if run is None:
            continue
        if ref_out is None:
            ref_out, ref_label = torch.nan_to_num(run().float(), nan=0.0), label
        row[f"{label}_ms"] = time_ms(run, iters)
        row[f"{label}_tflops"] = flops / row[f"{label}_ms"] / 1e9
    ours()
    torch.cuda.synchronize()
    if ref_out is not None:
        row["err_vs"] = ref_label
        row["err_vs_flash" if ref_label == "flash" else f"err_vs_{ref_label}"] = \
            ((out.float() - ref_out).abs() / (1 + ref_out.abs())).max().item()
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
            for label in ("flash", "efficient", "cudnn"):
                if f"{label}_ms" in row:
                    cells.append(f"{label}({row[label + '_form']}) {row[label + '_ms']:.3f} ms "
                                 f"{row[label + '_tflops']:.0f} TF/s")
                elif f"{label}_form" in row:
                    cells.append(f"{label} unsupported")
            ref = row.get("err_vs")
            err = row.get(f"err_vs_{ref}") if ref else None
            cells.append(f"err vs {ref} {err:.1e}" if err is not None else "")
            print(f"{name}: " + ", ".join(cells), flush=True)
        torch.cuda.empty_cache()
    n = len(results["num"])
    print(f"gpu_prefill: {n - failed}/{n} numerics pass")
    if args.json:
        json.dump(results, open(args.json, "w"), indent=1)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
