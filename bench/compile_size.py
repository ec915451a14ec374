#!/usr/bin/env python3
"""Compile time, peak memory and output sizes of a model of real size.

Writes a random-weight Llama-style decode step of SmolLM-135M's shape (30 layers,
d_model 576, 9 query / 3 KV heads of 64, SwiGLU MLP 1536, vocab 49152, RMSNorm,
rotary positions, untied lm_head, past length symbolic) with its weights as ONNX
external data, compiles it with attn-compile under /usr/bin/time -v, reports
seconds, peak RSS, the .so size and the parameter file's size, then runs one
decode step with attn-run and compares its logits with onnxruntime's.

  bench/compile_size.py --bin-dir build/bin [--work DIR] [--layers 30] [--append [--note TEXT]]
      [--params copy|external] [--max-pos N] [--data-only]

--params=external compiles with attn-compile --params=external (the library
reads model.onnx.data in place). The external data file is written by this
script in its own layout (each tensor of 1 KiB or more at the next 64-byte
boundary, in initializer order), not by onnx.save, so that its bytes do not
depend on the onnx version: --data-only regenerates just that file (on a GPU
machine, for a library compiled elsewhere) and prints its sha256.

--append adds the figures to bench/RESULTS.md (--note says what was
measured). Fewer --layers (and a smaller --vocab) make a quick check.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "tools", "export"))
import export_trained_decoder  # noqa: E402
from attn_mlir_models.tiny_decoder import (  # noqa: E402
    DecoderConfig, _causal_mask, _Graph, _heads, _repeat_kv)

import math  # noqa: E402

MLP, ROPE_THETA, EPS, MAX_POS = 1536, 10000.0, 1e-5, 2048


def save_external(model: onnx.ModelProto, onnx_path: str, data_only: bool) -> str:
    """Moves every initializer of 1 KiB or more into model.onnx.data beside
    onnx_path (export_trained_decoder's layout) and saves the model (unless
    data_only); returns the data file's sha256."""
    return export_trained_decoder.save_external(model, onnx_path, "model.onnx.data",
                                                data_only)


def named(g: _Graph, op_type: str, inputs: list[str], output: str, **attrs) -> None:
    """A node whose output has a fixed (graph output) name."""
    g.nodes.append(helper.make_node(op_type, inputs, [output], name=g.name(output),
                                    **attrs))


def rms_norm(g: _Graph, x: str, d: int) -> str:
    """x / sqrt(mean(x^2) + eps) * w, spelled as exporters decompose it."""
    ms = g.op("ReduceMean", [g.op("Mul", [x, x])], axes=[-1], keepdims=1)
    eps = g.const("eps", np.array(EPS, dtype=np.float32))
    inv = g.op("Reciprocal", [g.op("Sqrt", [g.op("Add", [ms, eps])])])
    w = g.const("rms_w", (1 + 0.1 * g.rng.standard_normal(d)).astype(np.float32))
    return g.op("Mul", [g.op("Mul", [x, inv]), w])


def rotate(g: _Graph, x: str, cos: str, sin: str, hd: int) -> str:
    """x * cos + rotate_half(x) * sin (Llama's rotary embedding)."""
    half = hd // 2
    lo = g.op("Slice", [x, g.i64("s0", [0]), g.i64("s1", [half]), g.i64("ax", [3])])
    hi = g.op("Slice", [x, g.i64("s1", [half]), g.i64("s2", [hd]), g.i64("ax", [3])])
    rot = g.op("Concat", [g.op("Neg", [hi]), lo], axis=3)
    return g.op("Add", [g.op("Mul", [x, cos]), g.op("Mul", [rot, sin])])


def build(cfg: DecoderConfig, max_pos: int = MAX_POS) -> onnx.ModelProto:
    g = _Graph(np.random.default_rng(cfg.seed))
    d, hd, hkv = cfg.d_model, cfg.head_dim, cfg.n_kv_head
    wte = g.weight("wte", (cfg.vocab, d), 0.02)
    x = g.op("Gather", [wte, "input_ids"], axis=0)
    inv_freq = 1.0 / ROPE_THETA ** (np.arange(0, hd, 2) / hd)
    angles = np.outer(np.arange(max_pos), inv_freq)
    angles = np.concatenate([angles, angles], axis=1)
    tables = {}
    # math.cos/sin (libm), not numpy's: numpy may use SIMD approximations
    # that differ between machines, and the data file must not.
    for name, fn in (("cos", math.cos), ("sin", math.sin)):
        values = np.array([fn(a) for a in angles.reshape(-1).tolist()])
        t = g.const(name + "_table", values.reshape(angles.shape).astype(np.float32))
        # [B, S, hd] -> [B, 1, S, hd], broadcast over heads.
        tables[name] = g.op("Unsqueeze", [g.op("Gather", [t, "position_ids"], axis=0),
                                          g.i64("ax1", [1])])
    std = 1 / np.sqrt(d)
    for layer in range(cfg.n_layer):
        h = rms_norm(g, x, d)
        q = g.op("MatMul", [h, g.weight("wq", (d, d), std)])
        k = g.op("MatMul", [h, g.weight("wk", (d, hkv * hd), std)])
        v = g.op("MatMul", [h, g.weight("wv", (d, hkv * hd), std)])
        qh = rotate(g, _heads(g, q, cfg.n_head, hd), tables["cos"], tables["sin"], hd)
        kh = rotate(g, _heads(g, k, hkv, hd), tables["cos"], tables["sin"], hd)
        present_k, present_v = f"present_key_{layer}", f"present_value_{layer}"
        named(g, "Concat", [f"past_key_{layer}", kh], present_k, axis=2)
        named(g, "Concat", [f"past_value_{layer}", _heads(g, v, hkv, hd)], present_v,
              axis=2)
        kr, vr = _repeat_kv(g, present_k, cfg), _repeat_kv(g, present_v, cfg)
        scores = g.op("MatMul", [qh, g.op("Transpose", [kr], perm=[0, 1, 3, 2])])
        scores = g.op("Div", [scores, g.const("sqrt_d", np.array(np.sqrt(hd), np.float32))])
        min_value = g.const("min", np.array(np.finfo(np.float32).min, np.float32))
        scores = g.op("Where", [_causal_mask(g, qh, kr), scores, min_value])
        ctx = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), vr])
        ctx = g.op("Reshape", [g.op("Transpose", [ctx], perm=[0, 2, 1, 3]),
                               g.i64("merge", [0, 0, d])])
        x = g.op("Add", [x, g.op("MatMul", [ctx, g.weight("wo", (d, d), std)])])
        h = rms_norm(g, x, d)
        gate = g.op("MatMul", [h, g.weight("w_gate", (d, MLP), std)])
        up = g.op("MatMul", [h, g.weight("w_up", (d, MLP), std)])
        act = g.op("Mul", [g.op("Mul", [gate, g.op("Sigmoid", [gate])]), up])
        down = g.op("MatMul", [act, g.weight("w_down", (MLP, d), 1 / np.sqrt(MLP))])
        x = g.op("Add", [x, down])
    named(g, "MatMul", [rms_norm(g, x, d), g.weight("lm_head", (d, cfg.vocab), std)],
          "logits")

    f32, i64 = TensorProto.FLOAT, TensorProto.INT64
    inputs = [helper.make_tensor_value_info("input_ids", i64, [1, 1]),
              helper.make_tensor_value_info("position_ids", i64, [1, 1])]
    outputs = [helper.make_tensor_value_info("logits", f32, [1, 1, cfg.vocab])]
    for layer in range(cfg.n_layer):
        for kind in ("key", "value"):
            inputs.append(helper.make_tensor_value_info(
                f"past_{kind}_{layer}", f32, [1, hkv, "past", hd]))
            outputs.append(helper.make_tensor_value_info(
                f"present_{kind}_{layer}", f32, [1, hkv, "past_plus_1", hd]))
    graph = helper.make_graph(g.nodes, "smollm_shape_step", inputs, outputs, g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    return model


def peak_rss_mib(time_output: str) -> float:
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", time_output)
    return int(m.group(1)) / 1024 if m else float("nan")


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            names = [l.split(":", 1)[1].strip() for l in f if l.startswith("model name")]
        cpu = f"{names[0]}, {len(names)} CPUs"
    except (OSError, IndexError):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {mem:.0f} GiB RAM, load average {os.getloadavg()[0]:.1f} at start"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "build", "bin"))
    ap.add_argument("--work", default="/tmp/attn-compile-size")
    ap.add_argument("--layers", type=int, default=30)
    ap.add_argument("--vocab", type=int, default=49152)
    ap.add_argument("--past", type=int, default=8)
    ap.add_argument("--params", default="copy", choices=("copy", "external"))
    ap.add_argument("--max-pos", type=int, default=MAX_POS,
                    help="rotary table positions (the longest context + 1)")
    ap.add_argument("--data-only", action="store_true",
                    help="only write model.onnx.data and print its sha256")
    ap.add_argument("--append", action="store_true", help="append to bench/RESULTS.md")
    ap.add_argument("--note", default="",
                    help="what was measured (e.g. the build), written with --append")
    args = ap.parse_args()

    cfg = DecoderConfig(vocab=args.vocab, d_model=576, n_layer=args.layers, n_head=9,
                        n_kv_head=3, n_positions=MAX_POS, seed=0)
    os.makedirs(args.work, exist_ok=True)
    onnx_path = os.path.join(args.work, "model.onnx")
    model = build(cfg, args.max_pos)
    params = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    sha = save_external(model, onnx_path, args.data_only)
    print(f"model: {params / 1e6:.1f}M parameters, {onnx_path}, "
          f"model.onnx.data sha256 {sha}", flush=True)
    if args.data_only:
        return

    lib = os.path.join(args.work, "model.so")
    for stale in (lib, lib + ".params"):
        if os.path.exists(stale):
            os.remove(stale)
    compile_cmd = [os.path.join(args.bin_dir, "attn-compile"), onnx_path, "-o", lib,
                   f"--params={args.params}"]
    proc = subprocess.run(["/usr/bin/time", "-v"] + compile_cmd, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        sys.exit(f"attn-compile failed:\n{proc.stdout}{proc.stderr}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)",
                     proc.stderr).group(1)
    seconds = sum(float(p) * 60 ** i for i, p in enumerate(reversed(wall.split(":"))))
    # Wall time depends on what else the machine runs; CPU time less so.
    cpu = sum(float(re.search(rf"{kind} time \(seconds\): ([\d.]+)", proc.stderr).group(1))
              for kind in ("User", "System"))
    rss = peak_rss_mib(proc.stderr)
    so_mib = os.path.getsize(lib) / 2**20
    params_path = lib + ".params"
    params_mib = os.path.getsize(params_path) / 2**20 if os.path.exists(params_path) else 0

    # One decode step against onnxruntime.
    import onnxruntime as ort
    rng = np.random.default_rng(1)
    feeds = {"input_ids": np.array([[7]], np.int64),
             "position_ids": np.array([[args.past]], np.int64)}
    for layer in range(cfg.n_layer):
        for kind in ("key", "value"):
            feeds[f"past_{kind}_{layer}"] = rng.standard_normal(
                (1, 3, args.past, 64)).astype(np.float32)
    step = os.path.join(args.work, "step.npz")
    np.savez(step, **feeds)
    out = os.path.join(args.work, "out.npz")
    run = subprocess.run([os.path.join(args.bin_dir, "attn-run"), lib, "--inputs", step,
                          "--generate", "1", "--outputs", out], capture_output=True,
                         text=True)
    if run.returncode != 0:
        sys.exit(f"attn-run failed:\n{run.stdout}{run.stderr}")
    got = np.load(out)["logits"].reshape(-1)
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    want = sess.run(["logits"], feeds)[0].reshape(-1)
    diff = float(np.max(np.abs(got - want)))
    ok = diff <= 1e-3 * max(1.0, float(np.max(np.abs(want))))

    row = (f"| {args.layers} | {params / 1e6:.1f}M | {seconds:.1f} | {cpu:.1f} | {rss:.0f} | "
           f"{so_mib:.1f} | {params_mib:.1f} | {diff:.1e} |")
    header = ("| layers | parameters | compile s (wall) | CPU s | peak RSS MiB | .so MiB | "
              "params MiB | max abs diff vs ORT |\n"
              "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(header)
    print(row)
    if not ok:
        sys.exit(f"logits differ from onnxruntime by {diff}")
    if args.append:
        with open(os.path.join(ROOT, "bench", "RESULTS.md"), "a") as f:
            f.write(f"\n- date: {datetime.datetime.now().isoformat(timespec='seconds')}; "
                    f"machine: {machine()}\n"
                    f"- command: `bench/compile_size.py --bin-dir {args.bin_dir} "
                    f"--layers {args.layers} --vocab {args.vocab} --params {args.params}`\n"
                    + (f"- build: {args.note}\n" if args.note else "") + "\n"
                    + header + "\n" + row + "\n")


if __name__ == "__main__":
    main()
