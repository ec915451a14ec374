"""Decode-step attention as the decomposed linalg IR that exporters emit.

Q K^T, scale, softmax and P V, with K and V broadcast to every query head by
repeat_kv: the input `attn-raise-attention` turns into one attn.attention with
the true KV head count. The share-kv-calibrated lit test builds its model from
this (through `attn_demo.decomposed_attention`).
"""

from __future__ import annotations

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
