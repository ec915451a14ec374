#!/usr/bin/env python3
"""Checks and times CUDA models of attn-mlir against PyTorch SDPA, in one process.

Runs in a bundle made by bench/gpu_build_cases.sh (models/NAME.so + NAME.json,
libAttnRuntime.so next to them) on a GPU machine with torch. Each model is
loaded through the C API (ctypes) and run on torch CUDA tensors (data_ptr())
on torch's current stream.

  num-*   : random inputs, output (and updated caches) compared with
            scaled_dot_product_attention computed in f32 (f16 tol 5e-3,
            bf16 1e-2: |a - e| <= tol * (1 + |e|));
  bench-* : decode over the whole KV (Sq=1), timed with CUDA events, next to
            SDPA's flash / efficient / cuDNN / math backends (enable_gqa) and
            repeat_interleave + SDPA, each eagerly and from a CUDA graph
            (as ours: attn_us eager, attn_graph_us from a graph).

  python3 gpu_decode.py [--bench-iters N] [--json OUT.json]
"""

import argparse
import ctypes
import glob
import json
import math
import os
import sys

import warnings

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

HERE = os.path.dirname(os.path.abspath(__file__))
DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16,
          "i64": torch.int64, "i32": torch.int32, "bool": torch.bool}
DTYPE_ENUM = {0: "f32", 1: "f16", 2: "bf16", 4: "i64", 5: "i32", 9: "bool"}
TOL = {"f16": 5e-3, "bf16": 1e-2, "f32": 1e-4}


class Info(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int),
                ("rank", ctypes.c_int32), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("num_bytes", ctypes.c_uint64)]


def load_runtime(directory):
    # The models find the runtime next to them ($ORIGIN): load that very copy,
    # so that the C API and the models share one runtime.
    rt = ctypes.CDLL(os.path.join(directory, "libAttnRuntime.so"), mode=ctypes.RTLD_GLOBAL)
    rt.attnModelLoad.restype = ctypes.c_void_p
    rt.attnModelLoad.argtypes = [ctypes.c_char_p]
    rt.attnModelFree.argtypes = [ctypes.c_void_p]
    rt.attnGetLastError.restype = ctypes.c_char_p
    for kind in ("Input", "Output", "Inout"):
        getattr(rt, f"attnModelGetNum{kind}s").argtypes = [ctypes.c_void_p]
        getattr(rt, f"attnModelGet{kind}Info").argtypes = [
            ctypes.c_void_p, ctypes.c_int32, ctypes.POINTER(Info)]
    rt.attnModelRunInPlace.argtypes = [ctypes.c_void_p] + [ctypes.POINTER(ctypes.c_void_p)] * 3 + [ctypes.c_void_p]
    return rt


class Model:
    def __init__(self, rt, path):
        self.rt = rt
        self.handle = rt.attnModelLoad(path.encode())
        if not self.handle:
            raise RuntimeError(rt.attnGetLastError().decode())
        self.infos = {}
        for kind in ("Input", "Output", "Inout"):
            items = []
            for i in range(getattr(rt, f"attnModelGetNum{kind}s")(self.handle)):
                info = Info()
                assert getattr(rt, f"attnModelGet{kind}Info")(self.handle, i, ctypes.byref(info)) == 0
                shape = [info.shape[d] for d in range(info.rank)]
                items.append((info.name.decode(), DTYPE_ENUM[info.dtype], shape))
            self.infos[kind] = items

    def pointers(self, kind, tensors):
        ptrs = []
        for name, dtype, shape in self.infos[kind]:
            t = tensors[name]
            assert t.is_cuda and t.is_contiguous() and list(t.shape) == shape, name
            assert t.dtype == DTYPES[dtype], (name, t.dtype, dtype)
            ptrs.append(t.data_ptr())
        return (ctypes.c_void_p * max(1, len(ptrs)))(*ptrs)

    def bind(self, tensors):
        """A callable running the model on `tensors` (name -> CUDA tensor)."""
        ins, outs, inouts = (self.pointers(k, tensors) for k in ("Input", "Output", "Inout"))
        rt, handle = self.rt, self.handle

        def run():
            stream = torch.cuda.current_stream().cuda_stream
            if rt.attnModelRunInPlace(handle, ins, inouts, outs, ctypes.c_void_p(stream)) != 0:
                raise RuntimeError(rt.attnGetLastError().decode())
        return run


def rand(shape, dtype, scale=1.0):
    return (torch.randn(shape, device="cuda", dtype=torch.float32) * scale).to(dtype)


def allowed_mask(cfg, sq, skv, past_end=None):
    """Bool [B, Hq, Sq, Skv] of the visible keys from causal and kv lens."""
    b, hq = cfg["batch"], cfg["q_heads"]
    i = torch.arange(sq, device="cuda").view(sq, 1)
    j = torch.arange(skv, device="cuda").view(1, skv)
    ok = torch.ones(b, hq, sq, skv, dtype=torch.bool, device="cuda")
    if cfg["op"] == "attention" and cfg["causal"] is not None:
        ok &= (j <= i + cfg["causal"])
    if past_end is not None:
        ok &= (j < past_end)
        if cfg["causal"] is not None:
            ok &= (j <= past_end - sq + i)
    return ok


def reference(q, k, v, ok, additive, scale, softcap=None):
    """SDPA in f32 (GQA by repeat_interleave); rows with no key give 0."""
    g = q.shape[1] // k.shape[1]
    k = k.float().repeat_interleave(g, 1)
    v = v.float().repeat_interleave(g, 1)
    mask = torch.zeros(ok.shape, device="cuda")
    if additive is not None:
        mask = mask + additive.float()
    mask = mask.masked_fill(~ok, float("-inf"))
    out = F.scaled_dot_product_attention(q.float(), k, v, attn_mask=mask, scale=scale)
    return torch.nan_to_num(out, nan=0.0)


def check(model, cfg):
    dt = DTYPES[cfg["dtype"]]
    b, hq, hkv, sq, d, dv = (cfg[x] for x in ("batch", "q_heads", "kv_heads", "sq", "d", "dv"))
    t = {"query": rand((b, hq, sq, d), dt)}
    additive = None
    if cfg["op"] == "attention":
        skv = cfg["skv"]
        t["key"], t["value"] = rand((b, hkv, skv, d), dt), rand((b, hkv, skv, dv), dt)
        ok = allowed_mask(cfg, sq, skv)
        k_all, v_all = t["key"], t["value"]
    else:
        smax, sn, pos = cfg["smax"], cfg["sn"], cfg["position"]
        skv = smax
        t["key"], t["value"] = rand((b, hkv, sn, d), dt), rand((b, hkv, sn, dv), dt)
        t["key_cache"], t["value_cache"] = rand((b, hkv, smax, d), dt), rand((b, hkv, smax, dv), dt)
        t["position"] = torch.tensor(pos, dtype=torch.int64, device="cuda")
        k_all, v_all = t["key_cache"].clone(), t["value_cache"].clone()
        k_all[:, :, pos:pos + sn] = t["key"]
        v_all[:, :, pos:pos + sn] = t["value"]
        ok = allowed_mask(cfg, sq, skv, past_end=pos + sn)
    if cfg["kv_lens"]:
        lens = torch.randint(1, skv + 1, (b,), device="cuda")
        t["kv_seq_lens"] = lens.to(DTYPES[cfg["kv_lens"]])
        ok &= torch.arange(skv, device="cuda").view(1, 1, 1, skv) < lens.view(b, 1, 1, 1)
    if cfg["mask"]:
        shape = list(cfg["mask_shape"]) if cfg["mask_shape"] else [b, hq, sq, skv]
        if cfg["mask"] == "bool":
            m = torch.rand(shape, device="cuda") < 0.8
            m[..., 0] = True
            t["mask"] = m
            ok &= m
        else:
            t["mask"] = rand(shape, DTYPES[cfg["mask_dtype"]], 2.0)
            additive = t["mask"]
    outs = {name: torch.empty(shape, dtype=DTYPES[dtype], device="cuda")
            for name, dtype, shape in model.infos["Output"]}
    model.bind({**t, **outs})()
    torch.cuda.synchronize()
    expected = reference(t["query"], k_all, v_all, ok, additive, cfg["scale"])
    out = outs[model.infos["Output"][0][0]].float()
    tol = TOL[cfg["dtype"]]
    err = ((out - expected).abs() / (1 + expected.abs())).max().item()
    ok_all = err <= tol
    for name, want in (("new_key_cache", k_all), ("new_value_cache", v_all)):
        if name in outs:
            same = torch.equal(outs[name], want)
            ok_all &= same
            if not same:
                print(f"    {name} differs from the expected cache")
    # SDPA in the inputs' dtype, for scale: its own error against the f32 one.
    return ok_all, err


def time_us(fn, iters, graph=False):
    if graph:
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3):
                fn()
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            fn()
        fn = g.replay
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(5):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1000 / iters)
    return min(times)


def bench(model, cfg, iters):
    dt = DTYPES[cfg["dtype"]]
    b, hq, hkv, d, skv = (cfg[x] for x in ("batch", "q_heads", "kv_heads", "d", "skv"))
    q, k, v = rand((b, hq, 1, d), dt), rand((b, hkv, skv, d), dt), rand((b, hkv, skv, d), dt)
    out = torch.empty((b, hq, 1, d), dtype=dt, device="cuda")
    run = model.bind({"query": q, "key": k, "value": v, model.infos["Output"][0][0]: out})
    row = {"name": cfg["name"], "kv_bytes": 2 * k.numel() * k.element_size()}
    row["attn_us"] = time_us(run, iters)
    try:
        row["attn_graph_us"] = time_us(run, iters, graph=True)
    except Exception as e:  # report, do not hide
        row["attn_graph_error"] = str(e)[:200]
    ref = F.scaled_dot_product_attention(q.float(), k.float().repeat_interleave(hq // hkv, 1),
                                         v.float().repeat_interleave(hq // hkv, 1), scale=cfg["scale"])
    torch.cuda.synchronize()
    row["max_err"] = (out.float() - ref).abs().max().item()
    # Each PyTorch backend eagerly (`_eager_us`: Python and launch costs
    # included) and replayed from a CUDA graph like ours (`_us`; the eager
    # figure when capture fails).
    for backend in ("CUDNN_ATTENTION", "FLASH_ATTENTION", "EFFICIENT_ATTENTION", "MATH"):
        def sdpa():
            with sdpa_kernel(getattr(SDPBackend, backend)):
                return F.scaled_dot_product_attention(q, k, v, scale=cfg["scale"], enable_gqa=hq != hkv)
        key = backend.lower()
        # The math backend takes milliseconds a run: fewer runs.
        n = max(1, iters // 10) if backend == "MATH" else iters
        try:
            sdpa()
            row[key + "_eager_us"] = time_us(sdpa, n)
        except Exception:
            row[key + "_eager_us"] = row[key + "_us"] = None
            continue
        try:
            row[key + "_us"] = time_us(sdpa, n, graph=True)
        except Exception:
            row[key + "_us"] = row[key + "_eager_us"]
    def repeat_sdpa():
        g = hq // hkv
        return F.scaled_dot_product_attention(q, k.repeat_interleave(g, 1), v.repeat_interleave(g, 1),
                                              scale=cfg["scale"])
    row["repeat_kv_sdpa_eager_us"] = time_us(repeat_sdpa, max(1, iters // 4))
    try:
        row["repeat_kv_sdpa_us"] = time_us(repeat_sdpa, max(1, iters // 4), graph=True)
    except Exception:
        row["repeat_kv_sdpa_us"] = row["repeat_kv_sdpa_eager_us"]
    return row


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", default=os.path.join(HERE, "models"))
    p.add_argument("--bench-iters", type=int, default=100)
    p.add_argument("--json")
    args = p.parse_args()
    torch.manual_seed(0)
    warnings.filterwarnings("ignore")  # SDPA explains every backend it skips
    rt = load_runtime(args.dir)
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    results = {"numerics": [], "bench": []}
    failures = 0
    for so in sorted(glob.glob(os.path.join(args.dir, "*.so"))):
        name = os.path.basename(so)[:-3]
        if name == "libAttnRuntime":
            continue
        cfg = json.load(open(so[:-3] + ".json"))
        cfg["name"] = name
        try:
            model = Model(rt, so)
            if name.startswith("num-"):
                ok, err = check(model, cfg)
                failures += not ok
                print(f"{'PASS' if ok else 'FAIL'} {name}: max rel err {err:.2e} (tol {TOL[cfg['dtype']]})")
                results["numerics"].append({"name": name, "ok": ok, "err": err})
            else:
                row = bench(model, cfg, args.bench_iters)
                best = min(x for k, x in row.items() if k.endswith("_us") and not k.startswith("attn")
                           and not k.endswith("_eager_us") and x is not None)
                ours = row.get("attn_graph_us", row["attn_us"])
                print(f"{name}: ours {row['attn_us']:.1f} us (graph {ours:.1f} us, "
                      f"{row['kv_bytes'] / ours / 1e6:.2f} TB/s), best SDPA {best:.1f} us; " +
                      ", ".join(f"{k}={v:.1f}" for k, v in row.items() if k.endswith("_us") and v is not None) +
                      f", max_err {row['max_err']:.1e}")
                results["bench"].append(row)
                torch.cuda.empty_cache()  # repeat_kv of the big shapes takes tens of GB
        except Exception as e:
            failures += 1
            print(f"ERROR {name}: {e}")
            results["numerics"].append({"name": name, "ok": False, "error": str(e)})
    if args.json:
        json.dump(results, open(args.json, "w"), indent=1)
    print(f"gpu_decode: {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
