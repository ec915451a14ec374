"""Small random attention blocks for attn-share-kv-weights-exact.test.

`fused DIR`: fused.mlir, a fused QKV projection with bias (x [2, 5, 8] @
W [8, 48] + b, split into Q (6 heads), K and V (3 heads each) of 4,
causal attention, output projection) and inputs.npz.
`compare A.npz B.npz NAME`: the relative max difference of output NAME,
failing above 1e-5.
`report JSON HEADS_BEFORE HEADS_AFTER`: checks the compile report's
K/V projection FLOPs and weight bytes scale with the KV heads.
"""
import json
import sys

import numpy as np


def literal(a):
    return "dense<" + np.array2string(
        a, separator=", ", threshold=1 << 30, floatmode="unique",
        max_line_width=1 << 30).replace("\n", "") + ">"


def fused(out):
    rng = np.random.default_rng(1)
    b, s, d, hq, hkv, hd = 2, 5, 8, 6, 3, 4
    cols = (hq + 2 * hkv) * hd
    w = (rng.standard_normal((d, cols)) / np.sqrt(d)).astype(np.float32)
    bias = (0.3 * rng.standard_normal(cols)).astype(np.float32)
    wo = (rng.standard_normal((hq * hd, d)) / np.sqrt(hq * hd)).astype(np.float32)
    q0, k0, v0 = 0, hq * hd, (hq + hkv) * hd
    text = f"""
#mm = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
#mw = affine_map<(d0, d1, d2, d3) -> (d3, d2)>
#mo = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#id = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#col = affine_map<(d0, d1, d2) -> (d2)>
func.func @main(%x: tensor<{b}x{s}x{d}xf32> {{attn.name = "x"}}) -> (tensor<{b}x{s}x{d}xf32> {{attn.name = "y"}}) {{
  %w = arith.constant {literal(w)} : tensor<{d}x{cols}xf32>
  %bias = arith.constant {literal(bias)} : tensor<{cols}xf32>
  %wo = arith.constant {literal(wo)} : tensor<{hq * hd}x{d}xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<{b}x{s}x{cols}xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<{b}x{s}x{cols}xf32>) -> tensor<{b}x{s}x{cols}xf32>
  %mm = linalg.generic {{indexing_maps = [#mm, #mw, #mo], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}} ins(%x, %w : tensor<{b}x{s}x{d}xf32>, tensor<{d}x{cols}xf32>) outs(%f : tensor<{b}x{s}x{cols}xf32>) {{
  ^bb0(%a: f32, %c: f32, %o: f32):
    %m = arith.mulf %a, %c : f32
    %r = arith.addf %o, %m : f32
    linalg.yield %r : f32
  }} -> tensor<{b}x{s}x{cols}xf32>
  %qkv = linalg.generic {{indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel", "parallel"]}} ins(%mm, %bias : tensor<{b}x{s}x{cols}xf32>, tensor<{cols}xf32>) outs(%e : tensor<{b}x{s}x{cols}xf32>) {{
  ^bb0(%a: f32, %c: f32, %o: f32):
    %r = arith.addf %a, %c : f32
    linalg.yield %r : f32
  }} -> tensor<{b}x{s}x{cols}xf32>
"""
    for name, off, h in (("q", q0, hq), ("k", k0, hkv), ("v", v0, hkv)):
        text += f"""  %{name}s = tensor.extract_slice %qkv[0, 0, {off}] [{b}, {s}, {h * hd}] [1, 1, 1] : tensor<{b}x{s}x{cols}xf32> to tensor<{b}x{s}x{h * hd}xf32>
  %{name}e = tensor.expand_shape %{name}s [[0], [1], [2, 3]] output_shape [{b}, {s}, {h}, {hd}] : tensor<{b}x{s}x{h * hd}xf32> into tensor<{b}x{s}x{h}x{hd}xf32>
  %{name}t0 = tensor.empty() : tensor<{b}x{h}x{s}x{hd}xf32>
  %{name}t = linalg.transpose ins(%{name}e : tensor<{b}x{s}x{h}x{hd}xf32>) outs(%{name}t0 : tensor<{b}x{h}x{s}x{hd}xf32>) permutation = [0, 2, 1, 3]
"""
    text += f"""  %ao = tensor.empty() : tensor<{b}x{hq}x{s}x{hd}xf32>
  %att = attn.attention heads({hq}, {hkv}) scale(0.5) causal(0) ins(%qt, %kt, %vt : tensor<{b}x{hq}x{s}x{hd}xf32>, tensor<{b}x{hkv}x{s}x{hd}xf32>, tensor<{b}x{hkv}x{s}x{hd}xf32>) outs(%ao : tensor<{b}x{hq}x{s}x{hd}xf32>) -> tensor<{b}x{hq}x{s}x{hd}xf32>
  %back0 = tensor.empty() : tensor<{b}x{s}x{hq}x{hd}xf32>
  %back = linalg.transpose ins(%att : tensor<{b}x{hq}x{s}x{hd}xf32>) outs(%back0 : tensor<{b}x{s}x{hq}x{hd}xf32>) permutation = [0, 2, 1, 3]
  %ctx = tensor.collapse_shape %back [[0], [1], [2, 3]] : tensor<{b}x{s}x{hq}x{hd}xf32> into tensor<{b}x{s}x{hq * hd}xf32>
  %ye = tensor.empty() : tensor<{b}x{s}x{d}xf32>
  %yf = linalg.fill ins(%zero : f32) outs(%ye : tensor<{b}x{s}x{d}xf32>) -> tensor<{b}x{s}x{d}xf32>
  %y = linalg.generic {{indexing_maps = [#mm, #mw, #mo], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}} ins(%ctx, %wo : tensor<{b}x{s}x{hq * hd}xf32>, tensor<{hq * hd}x{d}xf32>) outs(%yf : tensor<{b}x{s}x{d}xf32>) {{
  ^bb0(%a: f32, %c: f32, %o: f32):
    %m = arith.mulf %a, %c : f32
    %r = arith.addf %o, %m : f32
    linalg.yield %r : f32
  }} -> tensor<{b}x{s}x{d}xf32>
  return %y : tensor<{b}x{s}x{d}xf32>
}}
"""
    open(f"{out}/fused.mlir", "w").write(text)
    np.savez(f"{out}/inputs.npz", x=rng.standard_normal((b, s, d)).astype(np.float32))


def compare(a, b, name):
    x, y = np.load(a)[name], np.load(b)[name]
    diff = float(np.abs(x - y).max()) / max(float(np.abs(x).max()), 1e-30)
    print(f"relative max difference {diff:.2e}")
    print("weights match activations" if diff <= 1e-5 else "MISMATCH")
    sys.exit(0 if diff <= 1e-5 else 1)


def report(path, before, after):
    r = json.load(open(path))
    fb, fa = r["kv_projection_flops_per_token_before"], r["kv_projection_flops_per_token"]
    bb, ba = r["kv_projection_weight_bytes_before"], r["kv_projection_weight_bytes"]
    print(f"flops {fb} -> {fa}, bytes {bb} -> {ba}")
    ok = fb * after == fa * before and fa > 0 and ba < bb
    print("report scales with the heads" if ok else "REPORT MISMATCH")
    sys.exit(0 if ok else 1)


if sys.argv[1] == "fused":
    fused(sys.argv[2])
elif sys.argv[1] == "compare":
    compare(sys.argv[2], sys.argv[3], sys.argv[4])
else:
    report(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
