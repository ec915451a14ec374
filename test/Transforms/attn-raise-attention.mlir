// RUN: attn-opt %s -split-input-file -attn-raise-attention -canonicalize -cse | FileCheck %s

#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#row4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>

// Llama-style GQA as torch-mlir emits it: repeat_kv as broadcast + collapse,
// K^T as linalg.transpose, batch_matmul over collapsed [B*H], a scale on the
// scores and a decomposed softmax. The raised op reads the 2 KV heads as they
// are: nothing is broadcast to the 8 query heads any more.
// CHECK-LABEL: func.func @torch_mlir_gqa
// CHECK-SAME: (%[[Q:.+]]: tensor<1x8x16x8xf32>, %[[K:.+]]: tensor<1x2x16x8xf32>, %[[V:.+]]: tensor<1x2x16x8xf32>)
// CHECK-NOT: linalg.broadcast
// CHECK: %[[O:.+]] = attn.attention heads(8, 2) scale(0.35355{{[0-9]+}})
// CHECK-SAME: ins(%[[Q]], %[[K]], %[[V]] :
// CHECK-NOT: linalg
// CHECK: return %[[O]]
func.func @torch_mlir_gqa(%q: tensor<1x8x16x8xf32>, %k: tensor<1x2x16x8xf32>, %v: tensor<1x2x16x8xf32>) -> tensor<1x8x16x8xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %scale = arith.constant 0.353553385 : f32
  %e5 = tensor.empty() : tensor<1x2x4x16x8xf32>
  %kb = linalg.broadcast ins(%k : tensor<1x2x16x8xf32>) outs(%e5 : tensor<1x2x4x16x8xf32>) dimensions = [2]
  %kr = tensor.collapse_shape %kb [[0], [1, 2], [3], [4]] : tensor<1x2x4x16x8xf32> into tensor<1x8x16x8xf32>
  %vb = linalg.broadcast ins(%v : tensor<1x2x16x8xf32>) outs(%e5 : tensor<1x2x4x16x8xf32>) dimensions = [2]
  %vr = tensor.collapse_shape %vb [[0], [1, 2], [3], [4]] : tensor<1x2x4x16x8xf32> into tensor<1x8x16x8xf32>
  %et = tensor.empty() : tensor<1x8x8x16xf32>
  %kt = linalg.transpose ins(%kr : tensor<1x8x16x8xf32>) outs(%et : tensor<1x8x8x16xf32>) permutation = [0, 1, 3, 2]
  %q3 = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<1x8x16x8xf32> into tensor<8x16x8xf32>
  %kt3 = tensor.collapse_shape %kt [[0, 1], [2], [3]] : tensor<1x8x8x16xf32> into tensor<8x8x16xf32>
  %es = tensor.empty() : tensor<8x16x16xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<8x16x16xf32>) -> tensor<8x16x16xf32>
  %s3 = linalg.batch_matmul ins(%q3, %kt3 : tensor<8x16x8xf32>, tensor<8x8x16xf32>) outs(%fs : tensor<8x16x16xf32>) -> tensor<8x16x16xf32>
  %s = tensor.expand_shape %s3 [[0, 1], [2], [3]] output_shape [1, 8, 16, 16] : tensor<8x16x16xf32> into tensor<1x8x16x16xf32>
  %e4 = tensor.empty() : tensor<1x8x16x16xf32>
  %ss = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s : tensor<1x8x16x16xf32>) outs(%e4 : tensor<1x8x16x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.mulf %in, %scale : f32
    linalg.yield %m : f32
  } -> tensor<1x8x16x16xf32>
  %e3 = tensor.empty() : tensor<1x8x16xf32>
  %fmax = linalg.fill ins(%ninf : f32) outs(%e3 : tensor<1x8x16xf32>) -> tensor<1x8x16xf32>
  %max = linalg.generic {indexing_maps = [#id4, #row4], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%ss : tensor<1x8x16x16xf32>) outs(%fmax : tensor<1x8x16xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %m = arith.maximumf %in, %acc : f32
    linalg.yield %m : f32
  } -> tensor<1x8x16xf32>
  %sub = linalg.generic {indexing_maps = [#id4, #row4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%ss, %max : tensor<1x8x16x16xf32>, tensor<1x8x16xf32>) outs(%e4 : tensor<1x8x16x16xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %d = arith.subf %a, %b : f32
    linalg.yield %d : f32
  } -> tensor<1x8x16x16xf32>
  %exp = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%sub : tensor<1x8x16x16xf32>) outs(%e4 : tensor<1x8x16x16xf32>) {
  ^bb0(%a: f32, %out: f32):
    %x = math.exp %a : f32
    linalg.yield %x : f32
  } -> tensor<1x8x16x16xf32>
  %fsum = linalg.fill ins(%zero : f32) outs(%e3 : tensor<1x8x16xf32>) -> tensor<1x8x16xf32>
  %sum = linalg.generic {indexing_maps = [#id4, #row4], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%exp : tensor<1x8x16x16xf32>) outs(%fsum : tensor<1x8x16xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %a = arith.addf %in, %acc : f32
    linalg.yield %a : f32
  } -> tensor<1x8x16xf32>
  %p = linalg.generic {indexing_maps = [#id4, #row4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%exp, %sum : tensor<1x8x16x16xf32>, tensor<1x8x16xf32>) outs(%e4 : tensor<1x8x16x16xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %d = arith.divf %a, %b : f32
    linalg.yield %d : f32
  } -> tensor<1x8x16x16xf32>
  %p3 = tensor.collapse_shape %p [[0, 1], [2], [3]] : tensor<1x8x16x16xf32> into tensor<8x16x16xf32>
  %v3 = tensor.collapse_shape %vr [[0, 1], [2], [3]] : tensor<1x8x16x8xf32> into tensor<8x16x8xf32>
  %eo = tensor.empty() : tensor<8x16x8xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eo : tensor<8x16x8xf32>) -> tensor<8x16x8xf32>
  %o3 = linalg.batch_matmul ins(%p3, %v3 : tensor<8x16x16xf32>, tensor<8x16x8xf32>) outs(%fo : tensor<8x16x8xf32>) -> tensor<8x16x8xf32>
  %o = tensor.expand_shape %o3 [[0, 1], [2], [3]] output_shape [1, 8, 16, 8] : tensor<8x16x8xf32> into tensor<1x8x16x8xf32>
  return %o : tensor<1x8x16x8xf32>
}

// -----

#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#qk_q = affine_map<(b, h, i, j, d) -> (b, h, i, d)>
#qk_k = affine_map<(b, h, i, j, d) -> (b, h, j, d)>
#qk_o = affine_map<(b, h, i, j, d) -> (b, h, i, j)>
#pv_p = affine_map<(b, h, i, e, j) -> (b, h, i, j)>
#pv_v = affine_map<(b, h, i, e, j) -> (b, h, j, e)>
#pv_o = affine_map<(b, h, i, e, j) -> (b, h, i, e)>
#mask = affine_map<(d0, d1, d2, d3) -> (d0, 0, d2, d3)>

// 4-D generic contractions reading K untransposed, sqrt(scale) applied to
// both Q and K (as torch.export splits it), linalg.softmax, and an additive
// [B, 1, Sq, Skv] mask: MHA (4 heads over 4) with the mask kept as it is.
// CHECK-LABEL: func.func @generic_mha_split_scale_mask
// CHECK-SAME: %[[M:[a-z0-9]+]]: tensor<1x1x4x6xf32>
// CHECK: attn.attention heads(4, 4) scale(2.500000e-01)
// CHECK-SAME: mask(%[[M]] : tensor<1x1x4x6xf32>)
func.func @generic_mha_split_scale_mask(%q: tensor<1x4x4x16xf32>, %k: tensor<1x4x6x16xf32>, %v: tensor<1x4x6x16xf32>, %mask: tensor<1x1x4x6xf32>) -> tensor<1x4x4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %half = arith.constant 0.5 : f32
  %eq = tensor.empty() : tensor<1x4x4x16xf32>
  %qs = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%q : tensor<1x4x4x16xf32>) outs(%eq : tensor<1x4x4x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.mulf %in, %half : f32
    linalg.yield %m : f32
  } -> tensor<1x4x4x16xf32>
  %ek = tensor.empty() : tensor<1x4x6x16xf32>
  %ks = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%k : tensor<1x4x6x16xf32>) outs(%ek : tensor<1x4x6x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.mulf %half, %in : f32
    linalg.yield %m : f32
  } -> tensor<1x4x6x16xf32>
  %es = tensor.empty() : tensor<1x4x4x6xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<1x4x4x6xf32>) -> tensor<1x4x4x6xf32>
  %s = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%qs, %ks : tensor<1x4x4x16xf32>, tensor<1x4x6x16xf32>) outs(%fs : tensor<1x4x4x6xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %t = arith.addf %acc, %m : f32
    linalg.yield %t : f32
  } -> tensor<1x4x4x6xf32>
  %sm = linalg.generic {indexing_maps = [#id4, #mask, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s, %mask : tensor<1x4x4x6xf32>, tensor<1x1x4x6xf32>) outs(%es : tensor<1x4x4x6xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %x = arith.addf %a, %b : f32
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

// GPT-BigCode's multi-query attention: a single [B, S, D] KV head broadcast
// over the query heads. The raised op has one KV head, expanded to rank 4.
// CHECK-LABEL: func.func @bigcode_mqa
// CHECK-NOT: linalg.broadcast
// CHECK: %[[K4:.+]] = tensor.expand_shape %{{.+}} {{\[\[}}0, 1], [2], [3]] output_shape [1, 1, 6, 16]
// CHECK: attn.attention heads(4, 1) scale(1.000000e+00)
// CHECK-SAME: ins(%{{.+}}, %[[K4]], %{{.+}} : tensor<1x4x4x16xf32>, tensor<1x1x6x16xf32>, tensor<1x1x6x16xf32>)
func.func @bigcode_mqa(%q: tensor<1x4x4x16xf32>, %k1: tensor<1x6x16xf32>, %v1: tensor<1x6x16xf32>) -> tensor<1x4x4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %eq = tensor.empty() : tensor<1x4x4x16xf32>
  %es = tensor.empty() : tensor<1x4x4x6xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<1x4x4x6xf32>) -> tensor<1x4x4x6xf32>
  %ek = tensor.empty() : tensor<1x4x6x16xf32>
  %k = linalg.broadcast ins(%k1 : tensor<1x6x16xf32>) outs(%ek : tensor<1x4x6x16xf32>) dimensions = [1]
  %v = linalg.broadcast ins(%v1 : tensor<1x6x16xf32>) outs(%ek : tensor<1x4x6x16xf32>) dimensions = [1]
  %s = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<1x4x4x16xf32>, tensor<1x4x6x16xf32>) outs(%fs : tensor<1x4x4x6xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %t = arith.addf %acc, %m : f32
    linalg.yield %t : f32
  } -> tensor<1x4x4x6xf32>
  %p = linalg.softmax dimension(3) ins(%s : tensor<1x4x4x6xf32>) outs(%es : tensor<1x4x4x6xf32>) -> tensor<1x4x4x6xf32>
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

// A constant lower-triangular boolean mask applied with select(mask, s, -inf)
// is causal attention: it becomes causal(2) (Skv = Sq + 2) and the mask goes.
// CHECK-LABEL: func.func @causal_where_mask
// CHECK: attn.attention heads(4, 4) scale(1.000000e+00) causal(2) ins(
// CHECK-NOT: mask(
func.func @causal_where_mask(%q: tensor<1x4x4x16xf32>, %k: tensor<1x4x6x16xf32>, %v: tensor<1x4x6x16xf32>) -> tensor<1x4x4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %eq = tensor.empty() : tensor<1x4x4x16xf32>
  %es = tensor.empty() : tensor<1x4x4x6xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<1x4x4x6xf32>) -> tensor<1x4x4x6xf32>
  %ninf = arith.constant 0xFF800000 : f32
  %causal = arith.constant dense<[[true, true, true, false, false, false], [true, true, true, true, false, false], [true, true, true, true, true, false], [true, true, true, true, true, true]]> : tensor<4x6xi1>
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

// Softcap spelled as div, tanh, mul around the scaled scores, then a boolean
// padding mask from the function arguments: softcap(30) with the scale folded
// through it, and the boolean mask kept as the op's mask.
// CHECK-LABEL: func.func @softcap_bool_mask
// CHECK-SAME: %[[M:[a-z0-9]+]]: tensor<4x6xi1>
// CHECK: attn.attention heads(4, 4) scale(1.250000e-01) softcap(3.000000e+01)
// CHECK-SAME: mask(%[[M]] : tensor<4x6xi1>)
func.func @softcap_bool_mask(%q: tensor<1x4x4x16xf32>, %k: tensor<1x4x6x16xf32>, %v: tensor<1x4x6x16xf32>, %pad: tensor<4x6xi1>) -> tensor<1x4x4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %eq = tensor.empty() : tensor<1x4x4x16xf32>
  %es = tensor.empty() : tensor<1x4x4x6xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<1x4x4x6xf32>) -> tensor<1x4x4x6xf32>
  %ninf = arith.constant -3.40282347E+38 : f32
  %c8 = arith.constant 0.125 : f32
  %cap = arith.constant 30.0 : f32
  %s = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<1x4x4x16xf32>, tensor<1x4x6x16xf32>) outs(%fs : tensor<1x4x4x6xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %t = arith.addf %acc, %m : f32
    linalg.yield %t : f32
  } -> tensor<1x4x4x6xf32>
  %s1 = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s : tensor<1x4x4x6xf32>) outs(%es : tensor<1x4x4x6xf32>) {
  ^bb0(%a: f32, %out: f32):
    %x = arith.mulf %a, %c8 : f32
    linalg.yield %x : f32
  } -> tensor<1x4x4x6xf32>
  %s2 = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s1 : tensor<1x4x4x6xf32>) outs(%es : tensor<1x4x4x6xf32>) {
  ^bb0(%a: f32, %out: f32):
    %x = arith.divf %a, %cap : f32
    linalg.yield %x : f32
  } -> tensor<1x4x4x6xf32>
  %s3 = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s2 : tensor<1x4x4x6xf32>) outs(%es : tensor<1x4x4x6xf32>) {
  ^bb0(%a: f32, %out: f32):
    %x = math.tanh %a : f32
    linalg.yield %x : f32
  } -> tensor<1x4x4x6xf32>
  %s4 = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s3 : tensor<1x4x4x6xf32>) outs(%es : tensor<1x4x4x6xf32>) {
  ^bb0(%a: f32, %out: f32):
    %x = arith.mulf %a, %cap : f32
    linalg.yield %x : f32
  } -> tensor<1x4x4x6xf32>
  %sm = linalg.generic {indexing_maps = [#id4, #mask2, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s4, %pad : tensor<1x4x4x6xf32>, tensor<4x6xi1>) outs(%es : tensor<1x4x4x6xf32>) {
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

// Two masks (a boolean one that masks where true, and an additive [B, Skv]
// padding mask) are combined into one additive f32 mask of rank 4.
// CHECK-LABEL: func.func @two_masks_combined
// CHECK: %[[COMBINED:.+]] = linalg.generic
// CHECK: arith.select
// CHECK: -> tensor<1x1x4x6xf32>
// CHECK: attn.attention heads(4, 4) scale(1.000000e+00)
// CHECK-SAME: mask(%[[COMBINED]] : tensor<1x1x4x6xf32>)
func.func @two_masks_combined(%q: tensor<1x4x4x16xf32>, %k: tensor<1x4x6x16xf32>, %v: tensor<1x4x6x16xf32>, %hide: tensor<4x6xi1>, %pad: tensor<1x6xf32>) -> tensor<1x4x4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %eq = tensor.empty() : tensor<1x4x4x16xf32>
  %es = tensor.empty() : tensor<1x4x4x6xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<1x4x4x6xf32>) -> tensor<1x4x4x6xf32>
  %ninf = arith.constant 0xFF800000 : f32
  %s = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<1x4x4x16xf32>, tensor<1x4x6x16xf32>) outs(%fs : tensor<1x4x4x6xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %t = arith.addf %acc, %m : f32
    linalg.yield %t : f32
  } -> tensor<1x4x4x6xf32>
  %s1 = linalg.generic {indexing_maps = [#id4, #mask2, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s, %hide : tensor<1x4x4x6xf32>, tensor<4x6xi1>) outs(%es : tensor<1x4x4x6xf32>) {
  ^bb0(%a: f32, %c: i1, %out: f32):
    %x = arith.select %c, %ninf, %a : f32
    linalg.yield %x : f32
  } -> tensor<1x4x4x6xf32>
  %s2 = linalg.generic {indexing_maps = [#id4, #maskb, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s1, %pad : tensor<1x4x4x6xf32>, tensor<1x6xf32>) outs(%es : tensor<1x4x4x6xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %x = arith.addf %b, %a : f32
    linalg.yield %x : f32
  } -> tensor<1x4x4x6xf32>
  %p = linalg.softmax dimension(3) ins(%s2 : tensor<1x4x4x6xf32>) outs(%es : tensor<1x4x4x6xf32>) -> tensor<1x4x4x6xf32>
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

// Near miss: K and V repeated in tile order ([R, Hkv], as ONNX Tile does) put
// KV head h % Hkv under query head h, which is not repeat_kv. The attention
// is still raised, but over the repeated tensors: heads(4, 4), the true
// sharing is not claimed.
// CHECK-LABEL: func.func @tile_order_repeat_not_folded
// CHECK: linalg.broadcast
// CHECK: attn.attention heads(4, 4)
func.func @tile_order_repeat_not_folded(%q: tensor<1x4x4x16xf32>, %k2: tensor<1x2x6x16xf32>, %v2: tensor<1x2x6x16xf32>) -> tensor<1x4x4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %eq = tensor.empty() : tensor<1x4x4x16xf32>
  %es = tensor.empty() : tensor<1x4x4x6xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<1x4x4x6xf32>) -> tensor<1x4x4x6xf32>
  %e5 = tensor.empty() : tensor<1x2x2x6x16xf32>
  %kb = linalg.broadcast ins(%k2 : tensor<1x2x6x16xf32>) outs(%e5 : tensor<1x2x2x6x16xf32>) dimensions = [1]
  %k = tensor.collapse_shape %kb [[0], [1, 2], [3], [4]] : tensor<1x2x2x6x16xf32> into tensor<1x4x6x16xf32>
  %vb = linalg.broadcast ins(%v2 : tensor<1x2x6x16xf32>) outs(%e5 : tensor<1x2x2x6x16xf32>) dimensions = [1]
  %v = tensor.collapse_shape %vb [[0], [1, 2], [3], [4]] : tensor<1x2x2x6x16xf32> into tensor<1x4x6x16xf32>
  %s = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<1x4x4x16xf32>, tensor<1x4x6x16xf32>) outs(%fs : tensor<1x4x4x6xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %t = arith.addf %acc, %m : f32
    linalg.yield %t : f32
  } -> tensor<1x4x4x6xf32>
  %p = linalg.softmax dimension(3) ins(%s : tensor<1x4x4x6xf32>) outs(%es : tensor<1x4x4x6xf32>) -> tensor<1x4x4x6xf32>
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

// Near miss: a softmax over the query dimension (2) is not attention.
// CHECK-LABEL: func.func @softmax_wrong_dim
// CHECK-NOT: attn.attention
// CHECK: linalg.softmax dimension(2)
func.func @softmax_wrong_dim(%q: tensor<1x4x4x16xf32>, %k: tensor<1x4x6x16xf32>, %v: tensor<1x4x6x16xf32>) -> tensor<1x4x4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %eq = tensor.empty() : tensor<1x4x4x16xf32>
  %es = tensor.empty() : tensor<1x4x4x6xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<1x4x4x6xf32>) -> tensor<1x4x4x6xf32>
  %s = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<1x4x4x16xf32>, tensor<1x4x6x16xf32>) outs(%fs : tensor<1x4x4x6xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %t = arith.addf %acc, %m : f32
    linalg.yield %t : f32
  } -> tensor<1x4x4x6xf32>
  %p = linalg.softmax dimension(2) ins(%s : tensor<1x4x4x6xf32>) outs(%es : tensor<1x4x4x6xf32>) -> tensor<1x4x4x6xf32>
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

// Near miss: Q K^T accumulates into a non-zero init (a bias added by the
// matmul itself), which attn.attention cannot express.
// CHECK-LABEL: func.func @nonzero_scores_init
// CHECK-NOT: attn.attention
func.func @nonzero_scores_init(%q: tensor<1x4x4x16xf32>, %k: tensor<1x4x6x16xf32>, %v: tensor<1x4x6x16xf32>, %bias: tensor<1x4x4x6xf32>) -> tensor<1x4x4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %eq = tensor.empty() : tensor<1x4x4x16xf32>
  %es = tensor.empty() : tensor<1x4x4x6xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<1x4x4x6xf32>) -> tensor<1x4x4x6xf32>
  %s = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<1x4x4x16xf32>, tensor<1x4x6x16xf32>) outs(%bias : tensor<1x4x4x6xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %t = arith.addf %acc, %m : f32
    linalg.yield %t : f32
  } -> tensor<1x4x4x6xf32>
  %p = linalg.softmax dimension(3) ins(%s : tensor<1x4x4x6xf32>) outs(%es : tensor<1x4x4x6xf32>) -> tensor<1x4x4x6xf32>
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

// Near miss: a scale applied after the additive mask also scales the mask,
// which the op's semantics (mask added to scaled scores) cannot express.
// CHECK-LABEL: func.func @scale_after_mask
// CHECK-NOT: attn.attention
func.func @scale_after_mask(%q: tensor<1x4x4x16xf32>, %k: tensor<1x4x6x16xf32>, %v: tensor<1x4x6x16xf32>, %mask: tensor<4x6xf32>) -> tensor<1x4x4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %eq = tensor.empty() : tensor<1x4x4x16xf32>
  %es = tensor.empty() : tensor<1x4x4x6xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<1x4x4x6xf32>) -> tensor<1x4x4x6xf32>
  %c8 = arith.constant 0.125 : f32
  %s = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<1x4x4x16xf32>, tensor<1x4x6x16xf32>) outs(%fs : tensor<1x4x4x6xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %t = arith.addf %acc, %m : f32
    linalg.yield %t : f32
  } -> tensor<1x4x4x6xf32>
  %s1 = linalg.generic {indexing_maps = [#id4, #mask2, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s, %mask : tensor<1x4x4x6xf32>, tensor<4x6xf32>) outs(%es : tensor<1x4x4x6xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %x = arith.addf %a, %b : f32
    linalg.yield %x : f32
  } -> tensor<1x4x4x6xf32>
  %s2 = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s1 : tensor<1x4x4x6xf32>) outs(%es : tensor<1x4x4x6xf32>) {
  ^bb0(%a: f32, %out: f32):
    %x = arith.mulf %a, %c8 : f32
    linalg.yield %x : f32
  } -> tensor<1x4x4x6xf32>
  %p = linalg.softmax dimension(3) ins(%s2 : tensor<1x4x4x6xf32>) outs(%es : tensor<1x4x4x6xf32>) -> tensor<1x4x4x6xf32>
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

// Near miss: P times a [.., D, Skv] operand read as (e, j) is P V^T of a
// transposed V: fine, it is still attention once V is transposed back.
// CHECK-LABEL: func.func @transposed_v
// CHECK: %[[VT:.+]] = linalg.transpose ins(%{{.+}} : tensor<1x4x16x6xf32>)
// CHECK-SAME: permutation = [0, 1, 3, 2]
// CHECK: attn.attention heads(4, 4) scale(1.000000e+00) ins(%{{.+}}, %{{.+}}, %[[VT]] :
func.func @transposed_v(%q: tensor<1x4x4x16xf32>, %k: tensor<1x4x6x16xf32>, %vt: tensor<1x4x16x6xf32>) -> tensor<1x4x4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %eq = tensor.empty() : tensor<1x4x4x16xf32>
  %es = tensor.empty() : tensor<1x4x4x6xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<1x4x4x6xf32>) -> tensor<1x4x4x6xf32>
  %s = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<1x4x4x16xf32>, tensor<1x4x6x16xf32>) outs(%fs : tensor<1x4x4x6xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %t = arith.addf %acc, %m : f32
    linalg.yield %t : f32
  } -> tensor<1x4x4x6xf32>
  %p = linalg.softmax dimension(3) ins(%s : tensor<1x4x4x6xf32>) outs(%es : tensor<1x4x4x6xf32>) -> tensor<1x4x4x6xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eq : tensor<1x4x4x16xf32>) -> tensor<1x4x4x16xf32>
  %o = linalg.generic {indexing_maps = [#pv_p, affine_map<(b, h, i, e, j) -> (b, h, e, j)>, #pv_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%p, %vt : tensor<1x4x4x6xf32>, tensor<1x4x16x6xf32>) outs(%fo : tensor<1x4x4x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %t = arith.addf %acc, %m : f32
    linalg.yield %t : f32
  } -> tensor<1x4x4x16xf32>
  return %o : tensor<1x4x4x16xf32>
}

// -----

#sd_id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#sd_qk_q = affine_map<(b, h, i, j, k) -> (b, h, i, k)>
#sd_qk_k = affine_map<(b, h, i, j, k) -> (b, h, k, j)>
#sd_qk_o = affine_map<(b, h, i, j, k) -> (b, h, i, j)>
#sd_pv_p = affine_map<(b, h, i, e, j) -> (b, h, i, j)>
#sd_pv_v = affine_map<(b, h, i, e, j) -> (b, h, j, e)>
#sd_pv_o = affine_map<(b, h, i, e, j) -> (b, h, i, e)>

// scaled_dot_product_attention with GQA as torch.export decomposes it: K's
// repeat_kv merged down to 3-D [B*H, S, D], transposed there and split back
// to 4-D; softmax followed by where(isnan(p), 0, p) (isnan in an op of its
// own). The split moves before the transpose, meets the collapse, and the
// NaN guard is dropped (the op never makes NaN rows): heads(8, 2).
// CHECK-LABEL: func.func @sdpa_export_gqa
// CHECK-SAME: (%[[Q:.+]]: tensor<1x8x1x8xf32>, %[[K:.+]]: tensor<1x2x9x8xf32>, %[[V:.+]]: tensor<1x2x9x8xf32>)
// CHECK: %[[O:.+]] = attn.attention heads(8, 2) scale(1.000000e+00)
// CHECK-SAME: ins(%[[Q]], %[[K]], %[[V]] :
// CHECK-NOT: linalg
// CHECK: return %[[O]]
func.func @sdpa_export_gqa(%q: tensor<1x8x1x8xf32>, %k: tensor<1x2x9x8xf32>, %v: tensor<1x2x9x8xf32>) -> tensor<1x8x1x8xf32> {
  %zero = arith.constant 0.0 : f32
  %nanzero = arith.constant dense<0.0> : tensor<f32>
  %e5 = tensor.empty() : tensor<1x2x4x9x8xf32>
  %kb = linalg.broadcast ins(%k : tensor<1x2x9x8xf32>) outs(%e5 : tensor<1x2x4x9x8xf32>) dimensions = [2]
  %k3 = tensor.collapse_shape %kb [[0, 1, 2], [3], [4]] : tensor<1x2x4x9x8xf32> into tensor<8x9x8xf32>
  %et3 = tensor.empty() : tensor<8x8x9xf32>
  %kt3 = linalg.transpose ins(%k3 : tensor<8x9x8xf32>) outs(%et3 : tensor<8x8x9xf32>) permutation = [0, 2, 1]
  %kt = tensor.expand_shape %kt3 [[0, 1], [2], [3]] output_shape [1, 8, 8, 9] : tensor<8x8x9xf32> into tensor<1x8x8x9xf32>
  %vb = linalg.broadcast ins(%v : tensor<1x2x9x8xf32>) outs(%e5 : tensor<1x2x4x9x8xf32>) dimensions = [2]
  %vr = tensor.collapse_shape %vb [[0], [1, 2], [3], [4]] : tensor<1x2x4x9x8xf32> into tensor<1x8x9x8xf32>
  %es = tensor.empty() : tensor<1x8x1x9xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<1x8x1x9xf32>) -> tensor<1x8x1x9xf32>
  %s = linalg.generic {indexing_maps = [#sd_qk_q, #sd_qk_k, #sd_qk_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %kt : tensor<1x8x1x8xf32>, tensor<1x8x8x9xf32>) outs(%fs : tensor<1x8x1x9xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %t = arith.addf %acc, %m : f32
    linalg.yield %t : f32
  } -> tensor<1x8x1x9xf32>
  %p = linalg.softmax dimension(3) ins(%s : tensor<1x8x1x9xf32>) outs(%es : tensor<1x8x1x9xf32>) -> tensor<1x8x1x9xf32>
  %eb = tensor.empty() : tensor<1x8x1x9xi1>
  %isnan = linalg.generic {indexing_maps = [#sd_id, #sd_id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%p : tensor<1x8x1x9xf32>) outs(%eb : tensor<1x8x1x9xi1>) {
  ^bb0(%a: f32, %out: i1):
    %n = arith.cmpf uno, %a, %a : f32
    linalg.yield %n : i1
  } -> tensor<1x8x1x9xi1>
  %pg = linalg.generic {indexing_maps = [#sd_id, affine_map<(d0, d1, d2, d3) -> ()>, #sd_id, #sd_id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%isnan, %nanzero, %p : tensor<1x8x1x9xi1>, tensor<f32>, tensor<1x8x1x9xf32>) outs(%es : tensor<1x8x1x9xf32>) {
  ^bb0(%c: i1, %z: f32, %a: f32, %out: f32):
    %r = arith.select %c, %z, %a : f32
    linalg.yield %r : f32
  } -> tensor<1x8x1x9xf32>
  %eo = tensor.empty() : tensor<1x8x1x8xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eo : tensor<1x8x1x8xf32>) -> tensor<1x8x1x8xf32>
  %o = linalg.generic {indexing_maps = [#sd_pv_p, #sd_pv_v, #sd_pv_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%pg, %vr : tensor<1x8x1x9xf32>, tensor<1x8x9x8xf32>) outs(%fo : tensor<1x8x1x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %t = arith.addf %acc, %m : f32
    linalg.yield %t : f32
  } -> tensor<1x8x1x8xf32>
  return %o : tensor<1x8x1x8xf32>
}

// -----

#sdn_id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#sdn_qk_q = affine_map<(b, h, i, j, k) -> (b, h, i, k)>
#sdn_qk_k = affine_map<(b, h, i, j, k) -> (b, h, j, k)>
#sdn_qk_o = affine_map<(b, h, i, j, k) -> (b, h, i, j)>
#sdn_pv_p = affine_map<(b, h, i, e, j) -> (b, h, i, j)>
#sdn_pv_v = affine_map<(b, h, i, e, j) -> (b, h, j, e)>
#sdn_pv_o = affine_map<(b, h, i, e, j) -> (b, h, i, e)>

// Near miss: NaNs replaced by 1, not 0, change the result: not raised.
// CHECK-LABEL: func.func @nan_to_one_not_raised
// CHECK-NOT: attn.attention
// CHECK: arith.cmpf uno
func.func @nan_to_one_not_raised(%q: tensor<1x4x1x8xf32>, %k: tensor<1x4x9x8xf32>, %v: tensor<1x4x9x8xf32>) -> tensor<1x4x1x8xf32> {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %es = tensor.empty() : tensor<1x4x1x9xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<1x4x1x9xf32>) -> tensor<1x4x1x9xf32>
  %s = linalg.generic {indexing_maps = [#sdn_qk_q, #sdn_qk_k, #sdn_qk_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<1x4x1x8xf32>, tensor<1x4x9x8xf32>) outs(%fs : tensor<1x4x1x9xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %t = arith.addf %acc, %m : f32
    linalg.yield %t : f32
  } -> tensor<1x4x1x9xf32>
  %p = linalg.softmax dimension(3) ins(%s : tensor<1x4x1x9xf32>) outs(%es : tensor<1x4x1x9xf32>) -> tensor<1x4x1x9xf32>
  %pg = linalg.generic {indexing_maps = [#sdn_id, #sdn_id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%p : tensor<1x4x1x9xf32>) outs(%es : tensor<1x4x1x9xf32>) {
  ^bb0(%a: f32, %out: f32):
    %n = arith.cmpf uno, %a, %a : f32
    %r = arith.select %n, %one, %a : f32
    linalg.yield %r : f32
  } -> tensor<1x4x1x9xf32>
  %eo = tensor.empty() : tensor<1x4x1x8xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eo : tensor<1x4x1x8xf32>) -> tensor<1x4x1x8xf32>
  %o = linalg.generic {indexing_maps = [#sdn_pv_p, #sdn_pv_v, #sdn_pv_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%pg, %v : tensor<1x4x1x9xf32>, tensor<1x4x9x8xf32>) outs(%fo : tensor<1x4x1x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %t = arith.addf %acc, %m : f32
    linalg.yield %t : f32
  } -> tensor<1x4x1x8xf32>
  return %o : tensor<1x4x1x8xf32>
}

// -----

#qk_q = affine_map<(b, h, i, j, d) -> (b, h, i, d)>
#qk_k = affine_map<(b, h, i, j, d) -> (b, h, j, d)>
#qk_o = affine_map<(b, h, i, j, d) -> (b, h, i, j)>
#pv_p = affine_map<(b, h, i, e, j) -> (b, h, i, j)>
#pv_v = affine_map<(b, h, i, e, j) -> (b, h, j, e)>
#pv_o = affine_map<(b, h, i, e, j) -> (b, h, i, e)>

// Near miss found late: K is one [B, S, D] head broadcast over the query
// heads (peeling it needs a new expand_shape), but V is four real heads.
// The match fails after K was peeled; nothing may have been built by then,
// so the function comes out exactly as it went in.
// CHECK-LABEL: func.func @peeled_key_unrepeated_value
// CHECK-NOT: tensor.expand_shape
// CHECK-NOT: attn.attention
// CHECK: linalg.broadcast ins(%{{.+}} : tensor<1x6x16xf32>)
// CHECK: linalg.softmax
// CHECK: return
func.func @peeled_key_unrepeated_value(%q: tensor<1x4x4x16xf32>, %k1: tensor<1x6x16xf32>, %v: tensor<1x4x6x16xf32>) -> tensor<1x4x4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %eq = tensor.empty() : tensor<1x4x4x16xf32>
  %es = tensor.empty() : tensor<1x4x4x6xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<1x4x4x6xf32>) -> tensor<1x4x4x6xf32>
  %ek = tensor.empty() : tensor<1x4x6x16xf32>
  %k = linalg.broadcast ins(%k1 : tensor<1x6x16xf32>) outs(%ek : tensor<1x4x6x16xf32>) dimensions = [1]
  %s = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<1x4x4x16xf32>, tensor<1x4x6x16xf32>) outs(%fs : tensor<1x4x4x6xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %t = arith.addf %acc, %m : f32
    linalg.yield %t : f32
  } -> tensor<1x4x4x6xf32>
  %p = linalg.softmax dimension(3) ins(%s : tensor<1x4x4x6xf32>) outs(%es : tensor<1x4x4x6xf32>) -> tensor<1x4x4x6xf32>
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
#maskt = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3, d2)>
#rep_in = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, 0, d3, d4)>
#id5 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3, d4)>
#qk_q = affine_map<(b, h, i, j, d) -> (b, h, i, d)>
#qk_k = affine_map<(b, h, i, j, d) -> (b, h, j, d)>
#qk_o = affine_map<(b, h, i, j, d) -> (b, h, i, j)>
#pv_p = affine_map<(b, h, i, e, j) -> (b, h, i, j)>
#pv_v = affine_map<(b, h, i, e, j) -> (b, h, j, e)>
#pv_o = affine_map<(b, h, i, e, j) -> (b, h, i, e)>

// Near miss found late: repeat_kv from [B, Hkv, 1, S, D] (peeling K and V
// needs new collapse_shapes) over scores with a mask read transposed, which
// no mask operand can express. The mask is rejected after both peels; the
// function comes out unchanged, with no collapse of the unit repeat dim.
// CHECK-LABEL: func.func @peeled_repeat_kv_bad_mask
// CHECK-NOT: attn.attention
// CHECK-NOT: tensor.collapse_shape %{{.+}} {{\[\[}}0], [1, 2], [3], [4]] : tensor<1x2x1x6x16xf32>
// CHECK: tensor.collapse_shape %{{.+}} {{\[\[}}0], [1, 2], [3], [4]] : tensor<1x2x2x6x16xf32> into tensor<1x4x6x16xf32>
// CHECK: linalg.softmax
// CHECK-NOT: attn.attention
// CHECK: return
func.func @peeled_repeat_kv_bad_mask(%q: tensor<1x4x4x16xf32>, %k5: tensor<1x2x1x6x16xf32>, %v5: tensor<1x2x1x6x16xf32>, %mask: tensor<1x4x6x4xf32>) -> tensor<1x4x4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %e5 = tensor.empty() : tensor<1x2x2x6x16xf32>
  %kb = linalg.generic {indexing_maps = [#rep_in, #id5], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%k5 : tensor<1x2x1x6x16xf32>) outs(%e5 : tensor<1x2x2x6x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<1x2x2x6x16xf32>
  %k = tensor.collapse_shape %kb [[0], [1, 2], [3], [4]] : tensor<1x2x2x6x16xf32> into tensor<1x4x6x16xf32>
  %vb = linalg.generic {indexing_maps = [#rep_in, #id5], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%v5 : tensor<1x2x1x6x16xf32>) outs(%e5 : tensor<1x2x2x6x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<1x2x2x6x16xf32>
  %v = tensor.collapse_shape %vb [[0], [1, 2], [3], [4]] : tensor<1x2x2x6x16xf32> into tensor<1x4x6x16xf32>
  %eq = tensor.empty() : tensor<1x4x4x16xf32>
  %es = tensor.empty() : tensor<1x4x4x6xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<1x4x4x6xf32>) -> tensor<1x4x4x6xf32>
  %s = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<1x4x4x16xf32>, tensor<1x4x6x16xf32>) outs(%fs : tensor<1x4x4x6xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %t = arith.addf %acc, %m : f32
    linalg.yield %t : f32
  } -> tensor<1x4x4x6xf32>
  %sm = linalg.generic {indexing_maps = [#id4, #maskt, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s, %mask : tensor<1x4x4x6xf32>, tensor<1x4x6x4xf32>) outs(%es : tensor<1x4x4x6xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %x = arith.addf %a, %b : f32
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
