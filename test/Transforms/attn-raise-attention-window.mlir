// RUN: attn-opt %s -split-input-file -attn-raise-attention -canonicalize -cse | FileCheck %s

// Sliding-window masks (a causal band: key j visible to row i iff
// i + N - L <= j <= i + N) are raised to causal(N) window(L, 0) with no mask
// operand; a constant mask of any other shape stays a mask.

#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#qk_q = affine_map<(b, h, i, j, d) -> (b, h, i, d)>
#qk_k = affine_map<(b, h, i, j, d) -> (b, h, j, d)>
#qk_o = affine_map<(b, h, i, j, d) -> (b, h, i, j)>
#pv_p = affine_map<(b, h, i, e, j) -> (b, h, i, j)>
#pv_v = affine_map<(b, h, i, e, j) -> (b, h, j, e)>
#pv_o = affine_map<(b, h, i, e, j) -> (b, h, i, e)>
#mask2 = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
#maskb = affine_map<(d0, d1, d2, d3) -> (d0, d3)>

// Row i keeps keys i + 1 and i + 2 (Skv = Sq + 2, a window of 2 keys).
// CHECK-LABEL: func.func @band_where_mask
// CHECK: attn.attention heads(4, 4) scale(1.000000e+00) causal(2) window(1, 0) ins(
// CHECK-NOT: mask(
func.func @band_where_mask(%q: tensor<1x4x4x16xf32>, %k: tensor<1x4x6x16xf32>, %v: tensor<1x4x6x16xf32>) -> tensor<1x4x4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %eq = tensor.empty() : tensor<1x4x4x16xf32>
  %es = tensor.empty() : tensor<1x4x4x6xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<1x4x4x6xf32>) -> tensor<1x4x4x6xf32>
  %ninf = arith.constant 0xFF800000 : f32
  %causal = arith.constant dense<[[false, true, true, false, false, false], [false, false, true, true, false, false], [false, false, false, true, true, false], [false, false, false, false, true, true]]> : tensor<4x6xi1>
  %s = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<1x4x4x16xf32>, tensor<1x4x6x16xf32>) outs(%fs : tensor<1x4x4x6xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %t = arith.addf %acc, %m : f32
    linalg.yield %t : f32
  } -> tensor<1x4x4x6xf32>
  %sm = linalg.generic {indexing_maps = [#id4, #mask2, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s, %causal : tensor<1x4x4x6xf32>, tensor<4x6xi1>) outs(%es : tensor<1x4x4x6xf32>) {
  ^bb0(%a: f32, %c: i1, %out: f32):
    %x = arith.select %c, %a, %ninf : f32
    linalg.yield %x : f32
  } -> tensor<1x4x4x6xf32>
  %p = linalg.softmax dimension(3) ins(%sm : tensor<1x4x4x6xf32>) outs(%es : tensor<1x4x4x6xf32>) -> tensor<1x4x4x6xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eq : tensor<1x4x4x16xf32>) -> tensor<1x4x4x16xf32>
  %o = linalg.generic {indexing_maps = [#pv_p, #pv_v, #pv_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%p, %v : tensor<1x4x4x6xf32>, tensor<1x4x6x16xf32>) outs(%fo : tensor<1x4x4x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %t = arith.addf %acc, %m : f32
    linalg.yield %t : f32
  } -> tensor<1x4x4x16xf32>
  return %o : tensor<1x4x4x16xf32>
}

// -----

#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#qk_q = affine_map<(b, h, i, j, d) -> (b, h, i, d)>
#qk_k = affine_map<(b, h, i, j, d) -> (b, h, j, d)>
#qk_o = affine_map<(b, h, i, j, d) -> (b, h, i, j)>
#pv_p = affine_map<(b, h, i, e, j) -> (b, h, i, j)>
#pv_v = affine_map<(b, h, i, e, j) -> (b, h, j, e)>
#pv_o = affine_map<(b, h, i, e, j) -> (b, h, i, e)>
#mask2 = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
#maskb = affine_map<(d0, d1, d2, d3) -> (d0, d3)>

// Near miss: the band with one key of row 2 dropped is no window; the mask
// stays and the op has no causal offset or window.
// CHECK-LABEL: func.func @band_with_hole
// CHECK: attn.attention heads(4, 4) scale(1.000000e+00) ins(
// CHECK-SAME: mask(
// CHECK-NOT: window(
func.func @band_with_hole(%q: tensor<1x4x4x16xf32>, %k: tensor<1x4x6x16xf32>, %v: tensor<1x4x6x16xf32>) -> tensor<1x4x4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %eq = tensor.empty() : tensor<1x4x4x16xf32>
  %es = tensor.empty() : tensor<1x4x4x6xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<1x4x4x6xf32>) -> tensor<1x4x4x6xf32>
  %ninf = arith.constant 0xFF800000 : f32
  %causal = arith.constant dense<[[false, true, true, false, false, false], [false, false, true, true, false, false], [false, false, false, false, true, false], [false, false, false, false, true, true]]> : tensor<4x6xi1>
  %s = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<1x4x4x16xf32>, tensor<1x4x6x16xf32>) outs(%fs : tensor<1x4x4x6xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %t = arith.addf %acc, %m : f32
    linalg.yield %t : f32
  } -> tensor<1x4x4x6xf32>
  %sm = linalg.generic {indexing_maps = [#id4, #mask2, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s, %causal : tensor<1x4x4x6xf32>, tensor<4x6xi1>) outs(%es : tensor<1x4x4x6xf32>) {
  ^bb0(%a: f32, %c: i1, %out: f32):
    %x = arith.select %c, %a, %ninf : f32
    linalg.yield %x : f32
  } -> tensor<1x4x4x6xf32>
  %p = linalg.softmax dimension(3) ins(%sm : tensor<1x4x4x6xf32>) outs(%es : tensor<1x4x4x6xf32>) -> tensor<1x4x4x6xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eq : tensor<1x4x4x16xf32>) -> tensor<1x4x4x16xf32>
  %o = linalg.generic {indexing_maps = [#pv_p, #pv_v, #pv_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%p, %v : tensor<1x4x4x6xf32>, tensor<1x4x6x16xf32>) outs(%fo : tensor<1x4x4x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %t = arith.addf %acc, %m : f32
    linalg.yield %t : f32
  } -> tensor<1x4x4x16xf32>
  return %o : tensor<1x4x4x16xf32>
}
