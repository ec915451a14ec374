// RUN: attn-opt %s -split-input-file -attn-raise-attention | FileCheck %s

// Multi-query attention that leaves the KV head to MatMul's broadcasting,
// as Falcon's exports import: Q [1, 4, 1, 16] against K^T [1, 1, 16, 9] and
// P against V [1, 1, 9, 16], each contraction reading the unit head dim of
// K or V at the constant 0. The raise reads K and V as they are, with one
// KV head; the scale and the additive mask (itself broadcast over heads)
// stay as they were matched.

#qmap = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
#kmap = affine_map<(d0, d1, d2, d3, d4) -> (d0, 0, d4, d3)>
#omap = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#bcast = affine_map<(d0, d1, d2, d3) -> (d0, 0, d2, d3)>

// CHECK-LABEL: func.func @falcon_mqa
// CHECK-SAME: (%[[Q:.+]]: tensor<1x4x1x16xf32>, %[[K:.+]]: tensor<1x1x9x16xf32>, %[[V:.+]]: tensor<1x1x9x16xf32>
// CHECK: attn.attention heads(4, 1) scale(2.500000e-01) ins(%[[Q]], %[[K]], %[[V]] : tensor<1x4x1x16xf32>, tensor<1x1x9x16xf32>, tensor<1x1x9x16xf32>) mask(
// CHECK-NOT: linalg.generic {{.*}}reduction
func.func @falcon_mqa(%q: tensor<1x4x1x16xf32>, %k: tensor<1x1x9x16xf32>, %v: tensor<1x1x9x16xf32>, %mask: tensor<1x1x1x9xf32>) -> tensor<1x4x1x16xf32> {
  %zero = arith.constant 0.0 : f32
  %four = arith.constant 4.0 : f32
  %et = tensor.empty() : tensor<1x1x16x9xf32>
  %kt = linalg.transpose ins(%k : tensor<1x1x9x16xf32>) outs(%et : tensor<1x1x16x9xf32>) permutation = [0, 1, 3, 2]
  %e = tensor.empty() : tensor<1x4x1x9xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x1x9xf32>) -> tensor<1x4x1x9xf32>
  %s = linalg.generic {indexing_maps = [#qmap, #kmap, #omap], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %kt : tensor<1x4x1x16xf32>, tensor<1x1x16x9xf32>) outs(%f : tensor<1x4x1x9xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %c, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x4x1x9xf32>
  %e1 = tensor.empty() : tensor<1x4x1x9xf32>
  %scaled = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s : tensor<1x4x1x9xf32>) outs(%e1 : tensor<1x4x1x9xf32>) {
  ^bb0(%a: f32, %c: f32):
    %d = arith.divf %a, %four : f32
    linalg.yield %d : f32
  } -> tensor<1x4x1x9xf32>
  %e2 = tensor.empty() : tensor<1x4x1x9xf32>
  %masked = linalg.generic {indexing_maps = [#id, #bcast, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%scaled, %mask : tensor<1x4x1x9xf32>, tensor<1x1x1x9xf32>) outs(%e2 : tensor<1x4x1x9xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %d = arith.addf %a, %b : f32
    linalg.yield %d : f32
  } -> tensor<1x4x1x9xf32>
  %e3 = tensor.empty() : tensor<1x4x1x9xf32>
  %p = linalg.softmax dimension(3) ins(%masked : tensor<1x4x1x9xf32>) outs(%e3 : tensor<1x4x1x9xf32>) -> tensor<1x4x1x9xf32>
  %e4 = tensor.empty() : tensor<1x4x1x16xf32>
  %f4 = linalg.fill ins(%zero : f32) outs(%e4 : tensor<1x4x1x16xf32>) -> tensor<1x4x1x16xf32>
  %o = linalg.generic {indexing_maps = [#qmap, #kmap, #omap], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%p, %v : tensor<1x4x1x9xf32>, tensor<1x1x9x16xf32>) outs(%f4 : tensor<1x4x1x16xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %c, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x4x1x16xf32>
  return %o : tensor<1x4x1x16xf32>
}

// -----

// A broadcasting contraction that is not an attention (no softmax between
// two contractions) keeps its in-map broadcast.

#lmap = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
#rmap = affine_map<(d0, d1, d2, d3, d4) -> (d0, 0, d4, d3)>
#outmap = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>

// CHECK-LABEL: func.func @plain_broadcast_matmul
// CHECK-NOT: tensor.empty() : tensor<1x4x8x3xf32>
// CHECK: linalg.generic {{.+}} ins(%{{.+}}, %{{.+}} : tensor<1x4x2x8xf32>, tensor<1x1x8x3xf32>)
// CHECK-NOT: attn.attention
func.func @plain_broadcast_matmul(%a: tensor<1x4x2x8xf32>, %b: tensor<1x1x8x3xf32>) -> tensor<1x4x2x3xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x4x2x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x2x3xf32>) -> tensor<1x4x2x3xf32>
  %r = linalg.generic {indexing_maps = [#lmap, #rmap, #outmap], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%a, %b : tensor<1x4x2x8xf32>, tensor<1x1x8x3xf32>) outs(%f : tensor<1x4x2x3xf32>) {
  ^bb0(%x: f32, %y: f32, %c: f32):
    %m = arith.mulf %x, %y : f32
    %s = arith.addf %c, %m : f32
    linalg.yield %s : f32
  } -> tensor<1x4x2x3xf32>
  return %r : tensor<1x4x2x3xf32>
}
