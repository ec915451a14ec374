#!/usr/bin/env python3
"""Times the prompt phase of a whole decoder and the prompt's matrix products on
the GPU against PyTorch, in one process.

Runs in a bundle made by bench/gpu_build_prompt.sh on a GPU machine with torch
(models run on torch CUDA tensors on torch's current stream, through
libAttnRuntime's attnModelRunInPlace; gpu_decode.py is the loader):

  gemm-*.so  : one product each (gemm-FORM-mM-kK-nN-DTYPE[-VARIANT]) (linalg.fill + linalg.matmul, f16/bf16, the
               prompt's shapes: M = 2048 tokens x the layers' K x N); checked
               against torch.matmul in f32 (|a - e| <= 2e-2 (1 + |e|)), then
               timed next to torch.matmul (cuBLAS) on the same operands.
               TFLOP/s = 2 M N K / t. Two times each: back-to-back calls
               between CUDA events (what a caller sees, host overhead of a
               call included), and the device time of the kernels (and
               memsets) a call launches, from the CUDA profiler (CUPTI via
               torch.profiler), with their count.
  prompt.so  : bench/gpu_prompt_model.py's SmolLM-135M-shaped decoder in its
               prompt form (input_ids [1, S] -> logits [1, S, V] and the
               layers' keys / values), weights from model.onnx.data beside it
               (--params=external; regenerated here by gpu_prompt_model.py
               --data-only); compared with the same model written in torch
               (the same weights, SDPA with enable_gqa, RMSNorm in f32 as
               transformers does) and with that model in f32; timed eagerly.

  decode.so  : (when present) the decode step of the same export (past
               inputs; in-place caches of S + steps positions): the prompt's
               presents are copied into its caches on the device, then
               --steps greedy steps (the next id is the argmax on the
               device); their tokens are compared with the torch model's
               greedy decode (f16 and f32, past concatenated) from the same
               prompt, and each step is timed (CUDA events, eager, and as a
               CUDA graph of the step) next to the torch f16 step.

  python3 gpu_prompt.py --dir DIR [--iters N] [--steps N] [--json OUT.json]
"""

import argparse
import glob
import json
import os
import re
import statistics
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gpu_decode import DTYPES, Model, load_runtime, time_us  # noqa: E402


def device_us(fn, iters):
    """Device time of the kernels and memsets of one call of fn (summed,
    averaged over iters calls) and how many a call launches; (None, None)
    when the profiler gives no CUDA events."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile
    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(iters):
            fn()
        torch.cuda.synchronize()
    events = [e for e in prof.events() if e.device_type == DeviceType.CUDA]
    if not events:
        return None, None
    total = sum(e.time_range.elapsed_us() for e in events)
    return total / iters, len(events) / iters


def gemm_rows(rt, directory, iters):
    rows, ok = [], True
    for so in sorted(glob.glob(os.path.join(directory, "gemm-*.so"))):
        name = os.path.basename(so)[:-3]
        # (an optional -VARIANT: the same product compiled another way)
        m = re.match(r"gemm-(\w+)-m(\d+)-k(\d+)-n(\d+)-([a-z0-9]+)(?:-(\w+))?$", name)
        form, mm, k, n, dt = m.group(1), *map(int, m.group(2, 3, 4)), m.group(5)
        model = Model(rt, so)
        dtype = DTYPES[dt]
        torch.manual_seed(0)
        x = torch.randn(mm, k, device="cuda").to(dtype)
        w = (torch.randn((k, n) if form == "kn" else (n, k), device="cuda") / k ** 0.5).to(dtype)
        t = {"x": x, "w": w, "y": torch.empty(mm, n, device="cuda", dtype=dtype)}
        run = model.bind(t)
        run()
        wk = w if form == "kn" else w.t()
        expected = x.float() @ wk.float()
        err = ((t["y"].float() - expected).abs() / (1 + expected.abs())).max().item()
        good = err <= 2e-2
        ok &= good
        ours = time_us(run, iters)
        theirs = time_us(lambda: torch.matmul(x, wk), iters)
        flop = 2 * mm * n * k
        row = {"name": name, "form": form, "m": mm, "k": k, "n": n, "dtype": dt,
               "variant": m.group(6) or "default", "ours_us": ours, "ours_tflops": flop / ours / 1e6,
               "cublas_us": theirs, "cublas_tflops": flop / theirs / 1e6,
               "ratio": theirs / ours, "max_rel_err": err, "pass": good}
        try:
            ours_dev, ours_kernels = device_us(run, iters)
            theirs_dev, theirs_kernels = device_us(lambda: torch.matmul(x, wk), iters)
        except Exception as e:  # keep the event times
            print(f"{name}: no profiler times ({e})", flush=True)
            ours_dev = theirs_dev = None
        if ours_dev and theirs_dev:
            row.update({"ours_device_us": ours_dev, "ours_kernels": ours_kernels,
                        "ours_device_tflops": flop / ours_dev / 1e6,
                        "cublas_device_us": theirs_dev, "cublas_kernels": theirs_kernels,
                        "cublas_device_tflops": flop / theirs_dev / 1e6,
                        "device_ratio": theirs_dev / ours_dev})
        rows.append(row)
        dev = (f" | device: ours {ours_dev:7.1f} us ({ours_kernels:.0f} launches) "
               f"{row['ours_device_tflops']:6.1f} TFLOP/s, cuBLAS {theirs_dev:7.1f} us "
               f"{row['cublas_device_tflops']:6.1f} TFLOP/s, {row['device_ratio']:.2f}x"
               if ours_dev and theirs_dev else "")
        print(f"{name:36s} ours {ours:8.1f} us {row['ours_tflops']:6.1f} TFLOP/s | "
              f"cuBLAS {theirs:8.1f} us {row['cublas_tflops']:6.1f} TFLOP/s | "
              f"{row['ratio']:.2f}x | err {err:.1e} {'PASS' if good else 'FAIL'}{dev}", flush=True)
    return rows, ok


class TorchPrompt:
    """The prompt model in torch: weights from the ONNX initializers (node
    order: q, k, v, o, gate, up, down per layer, then lm_head; a weight per
    RMSNorm; the rotary tables)."""

    def __init__(self, onnx_path, dtype):
        import onnx
        from onnx import numpy_helper
        m = onnx.load(onnx_path)
        inits = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()).cuda()
                 for i in m.graph.initializer}
        f = lambda v: v.to(dtype) if v.is_floating_point() else v  # noqa: E731
        mats = [f(inits[n.input[1]]) for n in m.graph.node
                if n.op_type == "MatMul" and n.input[1] in inits]
        self.emb = f(next(inits[n.input[0]] for n in m.graph.node
                          if n.op_type == "Gather" and n.input[0] in inits))
        self.norms = [f(inits[n.input[1]]) for n in m.graph.node
                      if n.op_type == "Mul" and n.input[1].startswith("rms_w")]
        self.eps = float(inits[next(k for k in inits if k.startswith("eps_"))])
        self.cos = f(inits[next(k for k in inits if k.startswith("cos_table"))])
        self.sin = f(inits[next(k for k in inits if k.startswith("sin_table"))])
        self.layers = [mats[7 * i:7 * i + 7] for i in range((len(mats) - 1) // 7)]
        self.lm_head = mats[-1]
        present = next(o for o in m.graph.output if o.name.startswith("present_key"))
        dims = present.type.tensor_type.shape.dim
        self.hkv, self.d = dims[1].dim_value, dims[3].dim_value
        self.hq = self.layers[0][0].shape[1] // self.d
        self.dtype = dtype

    def rms(self, x, w):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype) * w

    @staticmethod
    def rotate(x, cos, sin):
        h = x.shape[-1] // 2
        return x * cos + torch.cat((-x[..., h:], x[..., :h]), -1) * sin

    @torch.no_grad()
    def __call__(self, ids, pos, past=None):
        """The prompt (past None) or a decode step over `past` (keys,
        values per layer, concatenated with the new ones as transformers'
        eager decoders do); returns logits and the keys / values."""
        s = ids.shape[1]
        x = self.emb[ids.view(-1)].view(1, s, -1)
        cos, sin = self.cos[pos.view(-1)][None, None], self.sin[pos.view(-1)][None, None]
        keys, values = [], []
        for l, (wq, wk, wv, wo, wg, wu, wd) in enumerate(self.layers):
            h = self.rms(x, self.norms[2 * l])
            q = (h @ wq).view(1, s, self.hq, self.d).transpose(1, 2)
            k = (h @ wk).view(1, s, self.hkv, self.d).transpose(1, 2)
            v = (h @ wv).view(1, s, self.hkv, self.d).transpose(1, 2)
            q, k = self.rotate(q, cos, sin), self.rotate(k, cos, sin)
            if past is not None:
                k = torch.cat((past[0][l], k), 2)
                v = torch.cat((past[1][l], v), 2)
            keys.append(k)
            values.append(v)
            a = F.scaled_dot_product_attention(q, k, v, is_causal=past is None,
                                               enable_gqa=True)
            x = x + a.transpose(1, 2).reshape(1, s, -1) @ wo
            h = self.rms(x, self.norms[2 * l + 1])
            x = x + (F.silu(h @ wg) * (h @ wu)) @ wd
        return self.rms(x, self.norms[-1]) @ self.lm_head, keys, values


def zero_buffers(model):
    """A zero device tensor for each input, output and inout of `model`."""
    return {name: torch.zeros(shape, dtype=DTYPES[dtype], device="cuda")
            for kind in ("Input", "Output", "Inout")
            for name, dtype, shape in model.infos[kind]}


def prompt_rows(rt, directory, iters):
    so = os.path.join(directory, "prompt.so")
    if not os.path.exists(so):
        return [], True, None
    model = Model(rt, so)
    t = zero_buffers(model)
    s = t["input_ids"].shape[1]
    vocab = t["logits"].shape[-1]
    torch.manual_seed(0)
    t["input_ids"].copy_(torch.randint(0, vocab, (1, s), device="cuda"))
    t["position_ids"].copy_(torch.arange(s, device="cuda").view(1, s))
    run = model.bind(t)
    run()
    torch.cuda.synchronize()
    onnx_path = os.path.join(directory, "prompt.onnx")
    ref16 = TorchPrompt(onnx_path, torch.float16)
    ref32 = TorchPrompt(onnx_path, torch.float32)
    logits16, k16, v16 = ref16(t["input_ids"], t["position_ids"])
    logits32, k32, v32 = ref32(t["input_ids"], t["position_ids"])

    def err(a, e):
        return ((a.float() - e.float()).abs() / (1 + e.float().abs())).max().item()
    ours_logit_err = err(t["logits"], logits32)
    torch_logit_err = err(logits16, logits32)
    ours_kv_err = max(max(err(t[f"present_key_{l}"], k32[l]), err(t[f"present_value_{l}"], v32[l]))
                      for l in range(len(k32)))
    argmax_agree = (t["logits"].argmax(-1) == logits32.argmax(-1)).float().mean().item()
    torch_agree = (logits16.argmax(-1) == logits32.argmax(-1)).float().mean().item()
    # Ours may differ from f32 by at most twice torch-f16's own error (plus
    # a floor): both round the same weights and activations to f16.
    good = ours_logit_err <= max(2 * torch_logit_err, 2e-2) and argmax_agree >= 0.9
    ours_ms = time_us(run, iters) / 1000
    torch_ms = time_us(lambda: ref16(t["input_ids"], t["position_ids"]), iters) / 1000
    flop = 2 * s * sum(w.numel() for layer in ref16.layers for w in layer) \
        + 2 * s * ref16.lm_head.numel() \
        + len(ref16.layers) * 2 * ref16.hq * s * s * ref16.d  # causal QK^T + PV
    row = {"name": "prompt", "tokens": s, "layers": len(ref16.layers), "vocab": vocab,
           "ours_ms": ours_ms, "torch_eager_ms": torch_ms, "ratio": torch_ms / ours_ms,
           "ours_tflops": flop / ours_ms / 1e9, "torch_tflops": flop / torch_ms / 1e9,
           "ours_logit_err_vs_f32": ours_logit_err, "torch_f16_logit_err_vs_f32": torch_logit_err,
           "ours_kv_err_vs_f32": ours_kv_err, "ours_argmax_agree_f32": argmax_agree,
           "torch_f16_argmax_agree_f32": torch_agree, "pass": good}
    print(json.dumps(row), flush=True)
    state = {"t": t, "ref16": ref16, "ref32": ref32,
             "past16": (k16, v16), "past32": (k32, v32),
             "first16": int(logits16[0, -1].argmax()), "first32": int(logits32[0, -1].argmax())}
    return [row], good, state


def greedy_torch(ref, first, past, start, steps):
    """`steps` greedy tokens of the torch model after the prompt (`first`
    is the prompt's token), with the past concatenated."""
    tokens = [first]
    for i in range(steps - 1):
        ids = torch.tensor([[tokens[-1]]], device="cuda")
        pos = torch.tensor([[start + i]], device="cuda")
        logits, k, v = ref(ids, pos, past)
        past = (k, v)
        tokens.append(int(logits[0, -1].argmax()))
    return tokens


def decode_rows(rt, directory, state, steps, iters):
    """Prompt then decode: the prompt's presents become decode.so's caches."""
    so = os.path.join(directory, "decode.so")
    if not os.path.exists(so) or state is None:
        return [], True
    t = state["t"]
    model = Model(rt, so)
    d = zero_buffers(model)
    s = t["input_ids"].shape[1]
    capacity = model.infos["Inout"][0][2][2]
    assert capacity >= s + steps, (capacity, s, steps)
    for name, _, _ in model.infos["Inout"]:
        d[name][:, :, :s].copy_(t[name.replace("past_", "present_")])
    ids = model.infos["Input"][0][0]
    d[ids].copy_(t["logits"][0, -1].argmax().view_as(d[ids]))
    first = int(d[ids].reshape(-1)[0])
    run = model.bind(d)

    def set_position(p):
        for name, _, _ in model.infos["Input"]:
            if name != ids:
                d[name].fill_(p)

    def step():
        run()
        d[ids].copy_(d["logits"].reshape(1, -1).argmax(-1).view_as(d[ids]))

    tokens = [first]
    times = []
    for i in range(steps - 1):
        set_position(s + i)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        step()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
        tokens.append(int(d[ids].reshape(-1)[0]))
    ref16 = greedy_torch(state["ref16"], state["first16"], state["past16"], s, steps)
    ref32 = greedy_torch(state["ref32"], state["first32"], state["past32"], s, steps)

    def prefix(a, b):
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        return n
    # Steady-state step times at the end of the context (the caches' rows
    # past the decode are rewritten with the same values).
    set_position(s + steps - 2)
    ours_eager = time_us(step, iters) / 1000
    try:
        ours_graph = time_us(step, iters, graph=True) / 1000
    except Exception as exc:  # graph capture not possible: report eager only
        print(f"decode: no CUDA graph ({exc})", flush=True)
        ours_graph = None
    past = state["past16"]
    tid = torch.tensor([[first]], device="cuda")
    tpos = torch.tensor([[s]], device="cuda")
    torch_eager = time_us(lambda: state["ref16"](tid, tpos, past), max(3, iters // 4)) / 1000
    row = {"name": "decode", "prompt_tokens": s, "steps": steps,
           "ours_tokens": tokens, "torch_f16_tokens": ref16, "torch_f32_tokens": ref32,
           "agree_prefix_f16": prefix(tokens, ref16), "agree_prefix_f32": prefix(tokens, ref32),
           "torch_f16_agree_prefix_f32": prefix(ref16, ref32),
           "ours_step_ms_median_first_steps": statistics.median(times),
           "ours_step_eager_ms": ours_eager, "ours_step_graph_ms": ours_graph,
           "torch_f16_eager_step_ms": torch_eager}
    # Greedy decoding of random weights amplifies rounding: ours must agree
    # with torch-f16 on the first token and for at least as long as
    # torch-f16 agrees with f32 (or 8 tokens).
    good = tokens[0] == ref16[0] and \
        prefix(tokens, ref32) >= min(8, prefix(ref16, ref32), steps)
    row["pass"] = good
    print(json.dumps(row), flush=True)
    return [row], good


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=HERE)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--json")
    ap.add_argument("--steps", type=int, default=32, help="greedy decode steps after the prompt")
    args = ap.parse_args()
    rt = load_runtime(args.dir)
    print(torch.cuda.get_device_name(), torch.__version__, flush=True)
    gemms, ok1 = gemm_rows(rt, args.dir, args.iters)
    prompts, ok2, state = [], True, None
    try:
        prompts, ok2, state = prompt_rows(rt, args.dir, max(3, args.iters // 4))
    except Exception as e:  # report, keep the GEMM table
        print(f"prompt: FAIL {e}", flush=True)
        ok2 = False
    decodes, ok3 = [], True
    try:
        decodes, ok3 = decode_rows(rt, args.dir, state, args.steps, args.iters)
    except Exception as e:
        import traceback
        traceback.print_exc()
        print(f"decode: FAIL {e}", flush=True)
        ok3 = False
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"gemm": gemms, "prompt": prompts, "decode": decodes}, f, indent=1)
    print("ALL PASS" if ok1 and ok2 and ok3 else "SOME FAILED")
    sys.exit(0 if ok1 and ok2 and ok3 else 1)


if __name__ == "__main__":
    main()
