"""The main job: compile the embedded default model with attn-compile and run it.

The default model is one decode step of attention over a KV cache, written as
the decomposed linalg IR that exporters and torch-mlir produce (Q K^T, scale,
softmax, P V, with K and V broadcast to every query head by repeat_kv). For
MHA, GQA and MQA variants of it the demo compiles the model (attention is
raised to attn.attention with its true KV head count), runs it with
attn-run, checks the output against a float64 reference, and prints the KV
heads found, the KV-cache bytes per token and the time per step.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

HEADS, HEAD_DIM = 8, 64


def decomposed_attention(kv_heads: int, keys: int) -> str:
    """Decode-step attention as decomposed linalg on tensors, repeat_kv included."""
    g = HEADS // kv_heads
    q = f"tensor<1x{HEADS}x1x{HEAD_DIM}xf32>"
    kv = f"tensor<1x{kv_heads}x{keys}x{HEAD_DIM}xf32>"
    rep = f"tensor<1x{kv_heads}x{g}x{keys}x{HEAD_DIM}xf32>"
    full = f"tensor<1x{HEADS}x{keys}x{HEAD_DIM}xf32>"
    s = f"tensor<1x{HEADS}x1x{keys}xf32>"
    row = f"tensor<1x{HEADS}x1xf32>"
    scale = 1.0 / np.sqrt(HEAD_DIM)
    par4 = '["parallel", "parallel", "parallel", "parallel"]'
    red4 = '["parallel", "parallel", "parallel", "reduction"]'
    contraction = '["parallel", "parallel", "parallel", "parallel", "reduction"]'
    return f"""
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#row = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#qk_q = affine_map<(b, h, i, j, d) -> (b, h, i, d)>
#qk_k = affine_map<(b, h, i, j, d) -> (b, h, j, d)>
#qk_o = affine_map<(b, h, i, j, d) -> (b, h, i, j)>
#pv_p = affine_map<(b, h, i, e, j) -> (b, h, i, j)>
#pv_v = affine_map<(b, h, i, e, j) -> (b, h, j, e)>
#pv_o = affine_map<(b, h, i, e, j) -> (b, h, i, e)>
func.func @main(%q: {q} {{attn.name = "query"}}, %k: {kv} {{attn.name = "key_cache"}},
                %v: {kv} {{attn.name = "value_cache"}}) -> ({q} {{attn.name = "out"}}) {{
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %scale = arith.constant {scale:.9e} : f32
  %e5 = tensor.empty() : {rep}
  %kb = linalg.broadcast ins(%k : {kv}) outs(%e5 : {rep}) dimensions = [2]
  %kr = tensor.collapse_shape %kb [[0], [1, 2], [3], [4]] : {rep} into {full}
  %vb = linalg.broadcast ins(%v : {kv}) outs(%e5 : {rep}) dimensions = [2]
  %vr = tensor.collapse_shape %vb [[0], [1, 2], [3], [4]] : {rep} into {full}
  %es = tensor.empty() : {s}
  %fs = linalg.fill ins(%zero : f32) outs(%es : {s}) -> {s}
  %s = linalg.generic {{indexing_maps = [#qk_q, #qk_k, #qk_o], iterator_types = {contraction}}}
      ins(%q, %kr : {q}, {full}) outs(%fs : {s}) {{
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %t = arith.addf %acc, %m : f32
    linalg.yield %t : f32
  }} -> {s}
  %ss = linalg.generic {{indexing_maps = [#id, #id], iterator_types = {par4}}}
      ins(%s : {s}) outs(%es : {s}) {{
  ^bb0(%a: f32, %out: f32):
    %m = arith.mulf %a, %scale : f32
    linalg.yield %m : f32
  }} -> {s}
  %p = linalg.softmax dimension(3) ins(%ss : {s}) outs(%es : {s}) -> {s}
  %eo = tensor.empty() : {q}
  %fo = linalg.fill ins(%zero : f32) outs(%eo : {q}) -> {q}
  %o = linalg.generic {{indexing_maps = [#pv_p, #pv_v, #pv_o], iterator_types = {contraction}}}
      ins(%p, %vr : {s}, {full}) outs(%fo : {q}) {{
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %t = arith.addf %acc, %m : f32
    linalg.yield %t : f32
  }} -> {q}
  return %o : {q}
}}
"""


def reference(q, k, v):
    group = q.shape[1] // k.shape[1]
    k = np.repeat(k.astype(np.float64), group, axis=1)
    v = np.repeat(v.astype(np.float64), group, axis=1)
    s = np.einsum("bhid,bhjd->bhij", q.astype(np.float64), k) / np.sqrt(q.shape[-1])
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return np.einsum("bhij,bhjd->bhid", p, v)


def run(cmd: list[str]) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"demo: {' '.join(cmd)} failed:\n{result.stderr}")
    return result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default="build")
    parser.add_argument("--keys", type=int, default=4096, help="KV cache length")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    bin_dir = Path(args.build) / "bin"
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for kv_heads, kind in ((HEADS, "MHA"), (2, "GQA"), (1, "MQA")):
            model = tmp / f"{kind}.mlir"
            model.write_text(decomposed_attention(kv_heads, args.keys))
            report = tmp / f"{kind}.json"
            run([str(bin_dir / "attn-compile"), str(model), "-o", str(tmp / f"{kind}.so"),
                 "--report", str(report)])
            feeds = {
                "query": rng.standard_normal((1, HEADS, 1, HEAD_DIM)).astype(np.float32),
                "key_cache": rng.standard_normal((1, kv_heads, args.keys, HEAD_DIM)).astype(np.float32),
                "value_cache": rng.standard_normal((1, kv_heads, args.keys, HEAD_DIM)).astype(np.float32),
            }
            np.savez(tmp / "in.npz", **feeds)
            run([str(bin_dir / "attn-run"), str(tmp / f"{kind}.so"), "--inputs",
                 str(tmp / "in.npz"), "--outputs", str(tmp / "out.npz")])
            out = np.load(tmp / "out.npz")["out"]
            err = float(np.abs(out - reference(**{"q": feeds["query"], "k": feeds["key_cache"],
                                                  "v": feeds["value_cache"]})).max())
            bench = run([str(bin_dir / "attn-run"), str(tmp / f"{kind}.so"), "--inputs",
                         str(tmp / "in.npz"), "--bench", str(args.repeats)])
            us = float(bench.strip().splitlines()[-1].split()[-1])
            info = json.loads(report.read_text())
            op = info["attention"][0]
            rows.append((kind, len(info["attention"]), op["q_heads"], op["kv_heads"],
                         op["source"], info["kv_cache_bytes_per_token"], us, err))
    print(f"default model: decode-step attention, {HEADS} query heads, head dim {HEAD_DIM}, "
          f"{args.keys} cached tokens, f32")
    header = ("model", "attention found", "q heads", "kv heads", "source",
              "KV bytes/token", "us/step", "max abs err")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for kind, found, hq, hkv, source, kvb, us, err in rows:
        print(f"| {kind} | {found} | {hq} | {hkv} | {source} | {kvb} | {us:.1f} | {err:.1e} |")
    worst = max(r[-1] for r in rows)
    if worst > 1e-4:
        raise SystemExit(f"demo: output differs from the reference by {worst:.2e}")


if __name__ == "__main__":
    main()
