// RUN: attn-opt %s -attn-raise-attention -canonicalize -cse | FileCheck %s

// Constant masks that the ONNX importer keeps as dense_resource blobs
// (initializers of 4 KiB or more) are read from the blob like dense ones.

#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#qk_q = affine_map<(b, h, i, j, d) -> (b, h, i, d)>
#qk_k = affine_map<(b, h, i, j, d) -> (b, h, j, d)>
#qk_o = affine_map<(b, h, i, j, d) -> (b, h, i, j)>
#pv_p = affine_map<(b, h, i, e, j) -> (b, h, i, j)>
#pv_v = affine_map<(b, h, i, e, j) -> (b, h, j, e)>
#pv_o = affine_map<(b, h, i, e, j) -> (b, h, i, e)>
#mask = affine_map<(d0, d1, d2, d3) -> (d0, 0, d2, d3)>

// An additive lower-triangular mask (0 / -inf, key j kept up to query i + 2)
// in a blob is causal(2), and the mask goes.
// CHECK-LABEL: func.func @causal_resource_mask
// CHECK: attn.attention heads(4, 4) scale(1.000000e+00) causal(2) ins(
// CHECK-NOT: mask(
func.func @causal_resource_mask(%q: tensor<1x4x4x16xf32>, %k: tensor<1x4x6x16xf32>, %v: tensor<1x4x6x16xf32>) -> tensor<1x4x4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %mask = arith.constant dense_resource<causal_mask> : tensor<1x1x4x6xf32>
  %eq = tensor.empty() : tensor<1x4x4x16xf32>
  %es = tensor.empty() : tensor<1x4x4x6xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<1x4x4x6xf32>) -> tensor<1x4x4x6xf32>
  %s = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<1x4x4x16xf32>, tensor<1x4x6x16xf32>) outs(%fs : tensor<1x4x4x6xf32>) {
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

// Near miss: a blob mask that hides key 1 from every query is not causal;
// it stays the op's mask.
// CHECK-LABEL: func.func @padding_resource_mask
// CHECK: %[[M:.+]] = arith.constant dense_resource<padding_mask> : tensor<1x1x4x6xf32>
// CHECK: attn.attention heads(4, 4) scale(1.000000e+00) ins(
// CHECK-SAME: mask(%[[M]] : tensor<1x1x4x6xf32>)
func.func @padding_resource_mask(%q: tensor<1x4x4x16xf32>, %k: tensor<1x4x6x16xf32>, %v: tensor<1x4x6x16xf32>) -> tensor<1x4x4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %mask = arith.constant dense_resource<padding_mask> : tensor<1x1x4x6xf32>
  %eq = tensor.empty() : tensor<1x4x4x16xf32>
  %es = tensor.empty() : tensor<1x4x4x6xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<1x4x4x6xf32>) -> tensor<1x4x4x6xf32>
  %s = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<1x4x4x16xf32>, tensor<1x4x6x16xf32>) outs(%fs : tensor<1x4x4x6xf32>) {
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

{-#
  dialect_resources: {
    builtin: {
      causal_mask: "0x04000000000000000000000000000000000080FF000080FF000080FF00000000000000000000000000000000000080FF000080FF0000000000000000000000000000000000000000000080FF000000000000000000000000000000000000000000000000",
      padding_mask: "0x0400000000000000000080FF0000000000000000000000000000000000000000000080FF0000000000000000000000000000000000000000000080FF0000000000000000000000000000000000000000000080FF00000000000000000000000000000000"
    }
  }
#-}
