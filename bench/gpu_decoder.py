#!/usr/bin/env python3
"""Per-token latency of whole decoders compiled with --target cuda, next to PyTorch.

Runs on a GPU machine with torch (no LLVM, no toolkit), in a bundle made by
bench/gpu_build_decoders.sh --bench: for each NAME, NAME.bench.so (the fused
in-place-cache decode step, --max-seq above the longest context) and
NAME.onnx (the same model, the ONNX file the .so was compiled from).

- ours: the .so loaded through the C API (ctypes), run on torch CUDA tensors
  (data_ptr()) on torch's current stream; the KV caches stay on the device,
  the next token is the argmax on the device (no host synchronisation inside
  a step). Timed eagerly (one attnModelRunInPlace per step) and as a CUDA
  graph of the step (launch overhead removed).
- PyTorch eager: the ONNX graph's nodes executed one by one as torch ops on
  the GPU with the file's weights (past concatenated to the new key/value,
  as transformers' eager decoders do); shape arithmetic stays on the host.
- PyTorch module (Llama exports): transformers' Llama step written in torch
  (LlamaRef: RMSNorm, rotary, SDPA with enable_gqa, SwiGLU, static cache as
  StaticCache), weights from the ONNX file; eager and, with --compile,
  torch.compile(mode="reduce-overhead") (CUDA graphs).
- tokens: 16 greedy steps from an empty cache with each; they must agree.
- ms/token at each context (cache filled to CONTEXT positions), batch 1,
  CUDA events, median of the repetitions.

  python3 gpu_decoder.py [--contexts 512,4096] [--json OUT.json] [--matvec DIR]

--matvec DIR also times the matvec kernel alone: DIR/mv_KxN_DT.so (a
linalg.matmul of x [1, K] by an input W [K, N], made by
gpu_build_decoders.sh --bench) against torch.matmul, in GB/s of W.
"""

import argparse
import ctypes
import glob
import json
import os
import statistics
import sys
import traceback

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gpu_decode import DTYPES, load_runtime, Model  # noqa: E402

TORCH_DTYPE = {1: torch.float32, 10: torch.float16, 16: torch.bfloat16, 7: torch.int64,
               6: torch.int32, 9: torch.bool, 11: torch.float64}


# ----------------------------------------------------------------------------
# The ONNX graph in eager PyTorch
# ----------------------------------------------------------------------------

def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def host(t):
    return [int(v) for v in t.reshape(-1).tolist()]


def same_device(*ts):
    dev = next((t.device for t in ts if t.is_cuda), None)
    return [t.to(dev) if dev is not None and not t.is_cuda else t for t in ts]


def binary(f):
    """Host 0-d operands stay on the host (torch takes them as scalars)."""
    def run(a, b):
        if a.is_cuda != b.is_cuda and (a.dim() == 0 or b.dim() == 0):
            return f(a, b)
        return f(*same_device(a, b))
    return run


def unsqueeze(x, axes):
    axes = host(axes)
    shape = list(x.shape)
    for a in sorted(a % (x.dim() + len(axes)) for a in axes):
        shape.insert(a, 1)
    return x.reshape(shape)


def gather(x, i, axis=0, **_):
    x, i = same_device(x, i)
    n = x.shape[axis]
    i = torch.where(i < 0, i + n, i)
    r = torch.index_select(x, axis, i.reshape(-1))
    return r.reshape(list(x.shape[:axis]) + list(i.shape) + list(x.shape[axis + 1:]))


def slice_op(x, starts, ends, axes=None, steps=None):
    starts, ends = host(starts), host(ends)
    axes = host(axes) if axes is not None else list(range(len(starts)))
    steps = host(steps) if steps is not None else [1] * len(starts)
    idx = [slice(None)] * x.dim()
    for s, e, a, st in zip(starts, ends, axes, steps):
        n = x.shape[a]
        s = max(0, min(n, s + n if s < 0 else s))
        e = max(0, min(n, e + n if e < 0 else e))
        idx[a % x.dim()] = slice(s, e, st)
    return x[tuple(idx)]


def reshape(x, shape):
    shape = host(shape)
    shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(shape)


OPS = {
    "Add": binary(torch.add), "Sub": binary(torch.sub), "Mul": binary(torch.mul),
    "Div": lambda a, b: (lambda x, y: torch.div(x, y, rounding_mode="trunc")
                         if not x.is_floating_point() else x / y)(*same_device(a, b)),
    "Pow": binary(torch.pow), "MatMul": binary(torch.matmul),
    "Equal": binary(torch.eq), "LessOrEqual": binary(torch.le), "Less": binary(torch.lt),
    "Greater": binary(torch.gt),
    "Sqrt": torch.sqrt, "Reciprocal": torch.reciprocal, "Neg": torch.neg, "Cos": torch.cos,
    "Sin": torch.sin, "Sigmoid": torch.sigmoid, "Tanh": torch.tanh, "Erf": torch.erf,
    "Exp": torch.exp, "Identity": lambda x: x, "Not": torch.logical_not,
    "Shape": lambda x, **a: torch.tensor(list(x.shape)[a.get("start", 0):a.get("end", None)],
                                         dtype=torch.int64),
    "Reshape": lambda x, s, **_: reshape(x, s),
    "Cast": lambda x, to, **_: x.to(TORCH_DTYPE[to]),
    "Unsqueeze": unsqueeze,
    "Squeeze": lambda x, axes=None: x.squeeze(tuple(host(axes))) if axes is not None else x.squeeze(),
    "Transpose": lambda x, perm: x.permute(perm),
    "Concat": lambda *xs, axis: torch.cat(same_device(*xs), dim=axis),
    "Gather": gather,
    "Slice": slice_op,
    "Softmax": lambda x, axis=-1: torch.softmax(x, axis),
    "Where": lambda c, a, b: torch.where(*same_device(c, a, b)),
    "Expand": lambda x, s: x.expand(torch.broadcast_shapes(tuple(x.shape), tuple(host(s)))),
    "Range": lambda a, b, d: torch.arange(a.item(), b.item(), d.item(), dtype=a.dtype),
    "ConstantOfShape": lambda s, value=None: torch.full(
        host(s), numpy_helper.to_array(value).item() if value is not None else 0.0,
        dtype=TORCH_DTYPE[value.data_type] if value is not None else torch.float32),
    "ReduceMean": lambda x, axes=None, keepdims=1, **_: x.mean(
        dim=tuple(host(axes)) if isinstance(axes, torch.Tensor) else tuple(axes),
        keepdim=bool(keepdims)),
    "Gelu": lambda x, approximate="none": F.gelu(x, approximate=approximate),
    "LayerNormalization": lambda x, w, b=None, axis=-1, epsilon=1e-5, **_: F.layer_norm(
        x, x.shape[axis:], w, b, epsilon),
}


class OnnxTorch:
    """Runs an ONNX decode step with torch ops; weights on the GPU."""

    def __init__(self, path):
        model = onnx.load(path)
        self.graph = model.graph
        self.values = {}
        for init in self.graph.initializer:
            a = numpy_helper.to_array(init)
            t = torch.from_numpy(a.copy())
            self.values[init.name] = t.cuda() if t.is_floating_point() else t
        self.nodes = []
        for n in self.graph.node:
            if n.op_type == "Constant":
                t = torch.from_numpy(numpy_helper.to_array(attrs(n)["value"]).copy())
                self.values[n.output[0]] = t.cuda() if t.is_floating_point() and t.dim() > 0 else t
                continue
            self.nodes.append((n.op_type, list(n.input), list(n.output), attrs(n)))
        missing = {op for op, *_ in self.nodes} - set(OPS)
        if missing:
            raise RuntimeError(f"no torch form for ONNX ops {sorted(missing)}")
        self.inputs = [i.name for i in self.graph.input]
        self.outputs = [o.name for o in self.graph.output]

    @torch.no_grad()
    def __call__(self, feeds):
        env = dict(self.values)
        env.update(feeds)
        for op, ins, outs, a in self.nodes:
            args = [env[i] if i else None for i in ins]
            while args and args[-1] is None:
                args.pop()
            kw = dict(a)
            if op in ("Unsqueeze", "Squeeze", "ReduceMean") and "axes" in kw:
                axes = kw.pop("axes")
                args.append(torch.tensor(axes) if op != "ReduceMean" else axes)
            r = OPS[op](*args, **kw)
            env[outs[0]] = r
        return [env[o] for o in self.outputs]


# ----------------------------------------------------------------------------
# A Llama module in PyTorch (transformers' eager Llama with a static cache)
# ----------------------------------------------------------------------------

class LlamaRef:
    """transformers' Llama decode step (RMSNorm, rotary theta 10000, GQA
    attention through SDPA, SwiGLU) with a static KV cache of `capacity`
    positions, as transformers' StaticCache runs it; weights from a
    TorchScript export: the MatMul initializers in node order (q, k, v, o,
    gate, up, down per layer, then the LM head), the embedding table, the
    norm weight (the export keeps one, all ones)."""

    def __init__(self, path, capacity, eps=1e-6, theta=10000.0):
        m = onnx.load(path)
        inits = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()).cuda()
                 for i in m.graph.initializer}
        mats = [inits[n.input[1]] for n in m.graph.node
                if n.op_type == "MatMul" and n.input[1] in inits]
        self.emb = next(inits[n.input[0]] for n in m.graph.node
                        if n.op_type == "Gather" and n.input[0] in inits)
        hidden = self.emb.shape[1]
        norms = [v for k, v in inits.items() if "layernorm" in k or k.endswith("norm.weight")]
        norm = norms[0] if norms else torch.ones(hidden, device="cuda")
        # bench/compile_size.py's model: a weight per RMSNorm (rms_w_*, two
        # per layer and the final one, in node order) and its eps constant.
        per_norm = [inits[n.input[1]] for n in m.graph.node
                    if n.op_type == "Mul" and n.input[1].startswith("rms_w")]
        eps_init = [k for k in inits if k.startswith("eps_")]
        if eps_init:
            eps = float(inits[eps_init[0]])
        past = next(i for i in m.graph.input if i.name.startswith("past_key"))
        self.hkv, self.d = [d.dim_value for d in past.type.tensor_type.shape.dim][1::2]
        self.layers = [mats[7 * i:7 * i + 7] for i in range((len(mats) - 1) // 7)]
        self.lm_head = mats[-1]
        self.hq = self.layers[0][0].shape[1] // self.d
        self.norms = per_norm if per_norm else [norm] * (2 * len(self.layers) + 1)
        self.eps = eps
        self.inv_freq = 1.0 / theta ** (torch.arange(0, self.d, 2, device="cuda").float() / self.d)
        self.reset(capacity)

    def reset(self, capacity):
        shape = (len(self.layers), 1, self.hkv, capacity, self.d)
        self.kc = torch.zeros(shape, device="cuda")
        self.vc = torch.zeros(shape, device="cuda")
        self.slots = torch.arange(capacity, device="cuda")

    def rms(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * w

    @staticmethod
    def rotate(x, cos, sin):
        h = x.shape[-1] // 2
        return x * cos + torch.cat((-x[..., h:], x[..., :h]), -1) * sin

    @torch.no_grad()
    def step(self, ids, pos):
        """ids [1, 1] and pos [1] (int64, on the GPU) -> logits [1, 1, V]."""
        x = self.emb[ids.view(-1)].view(1, 1, -1)
        freqs = pos.float()[:, None] * self.inv_freq[None]
        e = torch.cat((freqs, freqs), -1)
        cos, sin = e.cos(), e.sin()
        mask = self.slots <= pos
        for l, (wq, wk, wv, wo, wg, wu, wd) in enumerate(self.layers):
            h = self.rms(x, self.norms[2 * l])
            q = (h @ wq).view(1, 1, self.hq, self.d).transpose(1, 2)
            k = (h @ wk).view(1, 1, self.hkv, self.d).transpose(1, 2)
            v = (h @ wv).view(1, 1, self.hkv, self.d).transpose(1, 2)
            q, k = self.rotate(q, cos, sin), self.rotate(k, cos, sin)
            self.kc[l].index_copy_(2, pos, k)
            self.vc[l].index_copy_(2, pos, v)
            a = F.scaled_dot_product_attention(q, self.kc[l], self.vc[l], attn_mask=mask,
                                               enable_gqa=True)
            x = x + a.transpose(1, 2).reshape(1, 1, -1) @ wo
            h = self.rms(x, self.norms[2 * l + 1])
            x = x + (F.silu(h @ wg) * (h @ wu)) @ wd
        return self.rms(x, self.norms[-1]) @ self.lm_head


def llama_rows(path, ours_tokens, contexts, iters, compile_too):
    """Tokens of the Llama module against ours, then its step times (eager,
    and torch.compile(mode="reduce-overhead") when asked) at each context,
    the cache sized to the context."""
    ref = LlamaRef(path, 16)
    ids = torch.ones(1, 1, dtype=torch.long, device="cuda")
    tokens = []
    for p in range(16):
        ids = ref.step(ids, torch.tensor([p], device="cuda")).view(1, -1).argmax(-1).view(1, 1)
        tokens.append(int(ids))
    same = tokens == ours_tokens
    print(f"llama module tokens {tokens} -> {'SAME' if same else 'DIFFERENT'}")
    rows = {}
    for ctx in contexts:
        ref.reset(ctx + 1)
        pos = torch.tensor([ctx], device="cuda")
        row = {"llama_module_tokens_equal": same,
               "torch_module_eager_ms": time_ms(lambda: ref.step(ids, pos), iters)}
        if compile_too:
            try:
                step = torch.compile(ref.step, mode="reduce-overhead", fullgraph=True)
                for _ in range(3):
                    step(ids, pos)
                row["torch_compile_ms"] = time_ms(lambda: step(ids, pos), iters)
            except Exception as exc:
                row["torch_compile_error"] = str(exc)[:300]
        rows[ctx] = row
    return rows


# ----------------------------------------------------------------------------
# Benchmark
# ----------------------------------------------------------------------------

def time_ms(fn, iters):
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        torch.cuda.synchronize()
        times.append(s.elapsed_time(e))
    return statistics.median(times)


class Ours:
    def __init__(self, rt, path):
        self.model = Model(rt, path)
        self.t = {}
        for kind in ("Input", "Output", "Inout"):
            for name, dtype, shape in self.model.infos[kind]:
                self.t[name] = torch.zeros(shape, dtype=DTYPES[dtype], device="cuda")
        self.run = self.model.bind(self.t)
        self.ids = self.model.infos["Input"][0][0]
        self.logits = self.model.infos["Output"][0][0]
        self.capacity = self.model.infos["Inout"][0][2][2]

    def set_position(self, pos):
        for name, _, _ in self.model.infos["Input"]:
            if name != self.ids:
                self.t[name].fill_(pos)

    def step(self):
        """One greedy step: the next id is written on the device."""
        self.run()
        self.t[self.ids].copy_(self.t[self.logits].reshape(1, -1).argmax(-1).view_as(self.t[self.ids]))


def torch_feeds(ref, ids, past):
    feeds = {"input_ids": ids.view(1, 1), "position_ids": torch.tensor([[past]], device="cuda")}
    return feeds


def greedy_torch(ref, cfg, steps, first):
    past = {n: torch.zeros(cfg[n], device="cuda", dtype=torch.float32) for n in cfg}
    ids = torch.tensor([[first]], device="cuda")
    tokens = []
    for p in range(steps):
        feeds = {"input_ids": ids, "position_ids": torch.tensor([[p]], device="cuda")}
        feeds.update(past)
        outs = ref(feeds)
        ids = outs[0][:, -1].argmax(-1).view(1, 1)
        tokens.append(int(ids))
        for name, present in zip(cfg, outs[1:]):
            past[name] = present
    return tokens


def bench_matvec(rt, directory, iters):
    """Matrix-vector products y = x W (x [1, K], W [K, N] passed as an input):
    our matvec kernel against torch.matmul (cuBLAS), checked against f32
    torch, timed as CUDA graphs of one run; GB/s of W streamed."""
    rows = []
    for so in sorted(glob.glob(os.path.join(directory, "mv_*.so"))):
        name = os.path.basename(so)[:-3]
        try:
            m = Model(rt, so)
            (xn, xd, xs), (wn, wd, ws) = m.infos["Input"]
            (yn, yd, ys), = m.infos["Output"]
            dtype = DTYPES[wd]
            t = {xn: torch.randn(xs, device="cuda").to(dtype),
                 wn: (torch.randn(ws, device="cuda") * 0.05).to(dtype),
                 yn: torch.empty(ys, device="cuda", dtype=DTYPES[yd])}
            run = m.bind(t)
            run()
            torch.cuda.synchronize()
            ref = t[xn].float() @ t[wn].float()
            err = ((t[yn].float() - ref).abs().max() / ref.abs().max()).item()
            bytes_w = t[wn].numel() * t[wn].element_size()

            def graph_of(fn):
                g = torch.cuda.CUDAGraph()
                st = torch.cuda.Stream()
                st.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(st):
                    fn()
                torch.cuda.current_stream().wait_stream(st)
                with torch.cuda.graph(g):
                    fn()
                return g.replay

            ours = time_ms(graph_of(run), iters)
            x, w = t[xn], t[wn]
            theirs = time_ms(graph_of(lambda: torch.matmul(x, w)), iters)
            row = {"matvec": name, "K": ws[0], "N": ws[1], "dtype": wd,
                   "weight_MB": round(bytes_w / 1e6, 2), "rel_err": err,
                   "ours_us": round(ours * 1e3, 2), "torch_us": round(theirs * 1e3, 2),
                   "ours_GBps": round(bytes_w / ours / 1e6), "torch_GBps": round(bytes_w / theirs / 1e6)}
            print(json.dumps(row))
            rows.append(row)
        except Exception:
            traceback.print_exc()
            print(f"{name}: FAILED")
        sys.stdout.flush()
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default=os.path.join(HERE, "decoders"))
    ap.add_argument("--contexts", default="512,4096")
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--json")
    ap.add_argument("--matvec", help="directory of mv_*.so (matvec kernel benchmark)")
    ap.add_argument("--compile", action="store_true",
                    help="also time the Llama module under torch.compile")
    args = ap.parse_args()
    rt = load_runtime(os.path.join(HERE, "lib"))
    contexts = [int(c) for c in args.contexts.split(",")]
    results = []
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    if args.matvec:
        results.extend(bench_matvec(rt, args.matvec, args.iters))
    for so in sorted(glob.glob(os.path.join(args.dir, "*.bench.so"))):
        name = os.path.basename(so)[:-len(".bench.so")]
        try:
            results.extend(bench_model(rt, so, name, args, contexts))
        except Exception:
            traceback.print_exc()
            print(f"{name}: FAILED")
        sys.stdout.flush()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


def bench_model(rt, so, name, args, contexts):
    """Tokens and timings of one model; NAME_before (the compiler before
    this branch) gets our timings only."""
    results = []
    before = name.endswith("_before")
    base = name[:-len("_before")] if before else name
    if True:
        ours = Ours(rt, so)
        graph = onnx.load(os.path.join(args.dir, base + ".onnx"), load_external_data=False).graph
        try:
            ref = OnnxTorch(os.path.join(args.dir, base + ".onnx"))
        except RuntimeError as exc:  # an op without a torch form: module only
            print(f"{name}: no ONNX-in-torch reference ({exc})")
            ref = None
        shapes = {i.name: i.type.tensor_type.shape for i in graph.input}
        past_names = [i.name for i in graph.input if i.name not in ("input_ids", "position_ids")]
        if any(n.startswith("attention_mask") for n in past_names):
            raise RuntimeError(f"{name}: attention_mask inputs are not benched")
        kv_shape = {n: [d.dim_value or 1 for d in shapes[n].dim] for n in past_names}

        # Tokens: 16 greedy steps from an empty cache, first id 1.
        for n, kind in ((i[0], i) for i in ours.model.infos["Inout"]):
            ours.t[n].zero_()
        ours.t[ours.ids].fill_(1)
        ours_tokens = []
        for p in range(16):
            ours.set_position(p)
            ours.step()
            ours_tokens.append(int(ours.t[ours.ids].reshape(-1)[0]))
        cfg = {n: [s if i != 2 else 0 for i, s in enumerate(kv_shape[n])] for n in past_names}
        print(f"{name}: tokens ours {ours_tokens}")
        same = None
        if not before and ref is not None:
            ref_tokens = greedy_torch(ref, cfg, 16, 1)
            same = ours_tokens == ref_tokens
            print(f"{name}: tokens torch {ref_tokens} -> {'SAME' if same else 'DIFFERENT'}")
        sys.stdout.flush()

        module = {}
        if not before and ("llama" in name or "smol" in name):
            try:
                module = llama_rows(os.path.join(args.dir, base + ".onnx"), ours_tokens,
                                    [c for c in contexts if c + 1 <= ours.capacity],
                                    args.iters, args.compile)
            except Exception:
                traceback.print_exc()
        for ctx in contexts:
            if ctx + 1 > ours.capacity:
                continue
            row = {"model": name, "context": ctx, "tokens_equal": same}
            row.update(module.get(ctx, {}))
            ours.set_position(ctx)
            row["ours_eager_ms"] = time_ms(ours.step, args.iters)
            try:
                graph = torch.cuda.CUDAGraph()
                s = torch.cuda.Stream()
                s.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(s):
                    ours.step()
                torch.cuda.current_stream().wait_stream(s)
                with torch.cuda.graph(graph):
                    ours.step()
                row["ours_graph_ms"] = time_ms(graph.replay, args.iters)
            except Exception as exc:
                row["ours_graph_error"] = str(exc)[:200]
            if before or ref is None:
                print(json.dumps(row))
                results.append(row)
                continue
            past = {n: torch.randn([s if i != 2 else ctx for i, s in enumerate(kv_shape[n])],
                                   device="cuda") * 0.1 for n in past_names}
            feeds = {"input_ids": torch.tensor([[1]], device="cuda"),
                     "position_ids": torch.tensor([[ctx]], device="cuda")}
            feeds.update(past)
            try:
                row["torch_eager_ms"] = time_ms(lambda: ref(feeds), max(5, args.iters // 5))
            except Exception as exc:  # a position past the model's tables
                row["torch_eager_error"] = str(exc)[:200]
            print(json.dumps(row))
            results.append(row)
            sys.stdout.flush()
        del ours
    return results


if __name__ == "__main__":
    main()
