// RUN: attn-opt %s -split-input-file -attn-absorb-latent-projections -canonicalize -cse | FileCheck %s

// Multi-head latent attention as exported (4 heads, latent rank 16, rotary
// key 4, nope 8, v 8): the cache of latents %c is up-projected by %w every
// step into per-head keys (columns 0..7 of each head's 16) and values
// (8..15); the rotary key %r is broadcast to the heads. The rewrite folds the
// key projection into the query, attends MQA-style over [latent, rope] with
// the latent as values, and applies the value projection after.

#mm_lhs = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
#mm_rhs = affine_map<(d0, d1, d2, d3, d4) -> (d4, d3)>
#mm_out = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
#bcast_in = affine_map<(d0, d1, d2, d3) -> (d0, 0, d2, d3)>
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>

// CHECK-LABEL: func.func @mla
// CHECK-SAME: (%[[Q:.*]]: tensor<1x4x1x12xf32>, %[[C:.*]]: tensor<1x1x9x16xf32>, %[[R:.*]]: tensor<1x1x9x4xf32>, %[[W:.*]]: tensor<16x64xf32>)
// CHECK: %[[W3:.*]] = tensor.expand_shape %[[W]] {{\[\[}}0], [1, 2]] output_shape [16, 4, 16]
// CHECK-DAG: %[[WK:.*]] = tensor.extract_slice %[[W3]][0, 0, 0] [16, 4, 8] [1, 1, 1]
// CHECK-DAG: %[[WV:.*]] = tensor.extract_slice %[[W3]][0, 0, 8] [16, 4, 8] [1, 1, 1]
// CHECK-DAG: %[[QN:.*]] = tensor.extract_slice %[[Q]][0, 0, 0, 0] [1, 4, 1, 8] [1, 1, 1, 1]
// CHECK-DAG: %[[QR:.*]] = tensor.extract_slice %[[Q]][0, 0, 0, 8] [1, 4, 1, 4] [1, 1, 1, 1]
// CHECK: %[[QL:.*]] = linalg.generic {{.*}} ins(%[[QN]], %[[WK]] : tensor<1x4x1x8xf32>, tensor<16x4x8xf32>) outs({{.*}} : tensor<1x4x1x16xf32>)
// CHECK: %[[Q2:.*]] = tensor.concat dim(3) %[[QL]], %[[QR]] {{.*}} -> tensor<1x4x1x20xf32>
// CHECK: %[[K2:.*]] = tensor.concat dim(3) %[[C]], %[[R]] {{.*}} -> tensor<1x1x9x20xf32>
// CHECK: %[[O:.*]] = attn.attention heads(4, 1) scale(2.500000e-01) ins(%[[Q2]], %[[K2]], %[[C]] : tensor<1x4x1x20xf32>, tensor<1x1x9x20xf32>, tensor<1x1x9x16xf32>) {{.*}} {attn.latent = {head_dim_before = 12 : i64, heads_before = 4 : i64, rank = 16 : i64, rope_dim = 4 : i64, v_head_dim_before = 8 : i64}, attn.source = "raised"} -> tensor<1x4x1x16xf32>
// CHECK: %[[OUT:.*]] = linalg.generic {{.*}} ins(%[[O]], %[[WV]] : tensor<1x4x1x16xf32>, tensor<16x4x8xf32>) outs({{.*}} : tensor<1x4x1x8xf32>)
// CHECK-NOT: tensor<1x1x9x64xf32>
// CHECK: return %[[OUT]]
func.func @mla(%q: tensor<1x4x1x12xf32>, %c: tensor<1x1x9x16xf32>,
               %r: tensor<1x1x9x4xf32>, %w: tensor<16x64xf32>)
    -> tensor<1x4x1x8xf32> {
  %zero = arith.constant 0.0 : f32
  %e0 = tensor.empty() : tensor<1x1x9x64xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e0 : tensor<1x1x9x64xf32>) -> tensor<1x1x9x64xf32>
  %kv = linalg.generic {indexing_maps = [#mm_lhs, #mm_rhs, #mm_out],
      iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%c, %w : tensor<1x1x9x16xf32>, tensor<16x64xf32>) outs(%z : tensor<1x1x9x64xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<1x1x9x64xf32>
  %col = tensor.collapse_shape %kv [[0], [1, 2], [3]] : tensor<1x1x9x64xf32> into tensor<1x9x64xf32>
  %exp = tensor.expand_shape %col [[0], [1], [2, 3]] output_shape [1, 9, 4, 16] : tensor<1x9x64xf32> into tensor<1x9x4x16xf32>
  %e1 = tensor.empty() : tensor<1x4x9x16xf32>
  %x = linalg.transpose ins(%exp : tensor<1x9x4x16xf32>) outs(%e1 : tensor<1x4x9x16xf32>) permutation = [0, 2, 1, 3]
  %kn = tensor.extract_slice %x[0, 0, 0, 0] [1, 4, 9, 8] [1, 1, 1, 1] : tensor<1x4x9x16xf32> to tensor<1x4x9x8xf32>
  %v = tensor.extract_slice %x[0, 0, 0, 8] [1, 4, 9, 8] [1, 1, 1, 1] : tensor<1x4x9x16xf32> to tensor<1x4x9x8xf32>
  %e2 = tensor.empty() : tensor<1x4x9x4xf32>
  %kr = linalg.generic {indexing_maps = [#bcast_in, #id4],
      iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%r : tensor<1x1x9x4xf32>) outs(%e2 : tensor<1x4x9x4xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<1x4x9x4xf32>
  %k = tensor.concat dim(3) %kn, %kr : (tensor<1x4x9x8xf32>, tensor<1x4x9x4xf32>) -> tensor<1x4x9x12xf32>
  %init = tensor.empty() : tensor<1x4x1x8xf32>
  %o = attn.attention heads(4, 4) scale(0.25) ins(%q, %k, %v : tensor<1x4x1x12xf32>, tensor<1x4x9x12xf32>, tensor<1x4x9x8xf32>) outs(%init : tensor<1x4x1x8xf32>) {attn.source = "raised"} -> tensor<1x4x1x8xf32>
  return %o : tensor<1x4x1x8xf32>
}

// -----

// The up-projected keys are also returned: absorbing would not remove the
// re-projection, so the attention is left alone.

#mm_lhs = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
#mm_rhs = affine_map<(d0, d1, d2, d3, d4) -> (d4, d3)>
#mm_out = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
#bcast_in = affine_map<(d0, d1, d2, d3) -> (d0, 0, d2, d3)>
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>

// CHECK-LABEL: func.func @projection_escapes
// CHECK: attn.attention heads(4, 4)
// CHECK-NOT: attn.latent
func.func @projection_escapes(%q: tensor<1x4x1x12xf32>, %c: tensor<1x1x9x16xf32>,
               %r: tensor<1x1x9x4xf32>, %w: tensor<16x64xf32>)
    -> (tensor<1x4x1x8xf32>, tensor<1x4x9x16xf32>) {
  %zero = arith.constant 0.0 : f32
  %e0 = tensor.empty() : tensor<1x1x9x64xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e0 : tensor<1x1x9x64xf32>) -> tensor<1x1x9x64xf32>
  %kv = linalg.generic {indexing_maps = [#mm_lhs, #mm_rhs, #mm_out],
      iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%c, %w : tensor<1x1x9x16xf32>, tensor<16x64xf32>) outs(%z : tensor<1x1x9x64xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<1x1x9x64xf32>
  %col = tensor.collapse_shape %kv [[0], [1, 2], [3]] : tensor<1x1x9x64xf32> into tensor<1x9x64xf32>
  %exp = tensor.expand_shape %col [[0], [1], [2, 3]] output_shape [1, 9, 4, 16] : tensor<1x9x64xf32> into tensor<1x9x4x16xf32>
  %e1 = tensor.empty() : tensor<1x4x9x16xf32>
  %x = linalg.transpose ins(%exp : tensor<1x9x4x16xf32>) outs(%e1 : tensor<1x4x9x16xf32>) permutation = [0, 2, 1, 3]
  %kn = tensor.extract_slice %x[0, 0, 0, 0] [1, 4, 9, 8] [1, 1, 1, 1] : tensor<1x4x9x16xf32> to tensor<1x4x9x8xf32>
  %v = tensor.extract_slice %x[0, 0, 0, 8] [1, 4, 9, 8] [1, 1, 1, 1] : tensor<1x4x9x16xf32> to tensor<1x4x9x8xf32>
  %e2 = tensor.empty() : tensor<1x4x9x4xf32>
  %kr = linalg.generic {indexing_maps = [#bcast_in, #id4],
      iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%r : tensor<1x1x9x4xf32>) outs(%e2 : tensor<1x4x9x4xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<1x4x9x4xf32>
  %k = tensor.concat dim(3) %kn, %kr : (tensor<1x4x9x8xf32>, tensor<1x4x9x4xf32>) -> tensor<1x4x9x12xf32>
  %init = tensor.empty() : tensor<1x4x1x8xf32>
  %o = attn.attention heads(4, 4) scale(0.25) ins(%q, %k, %v : tensor<1x4x1x12xf32>, tensor<1x4x9x12xf32>, tensor<1x4x9x8xf32>) outs(%init : tensor<1x4x1x8xf32>) -> tensor<1x4x1x8xf32>
  return %o, %x : tensor<1x4x1x8xf32>, tensor<1x4x9x16xf32>
}

// -----

// A prefill of 32 rows with a tiny latent (rank 16, nope + v = 16): the
// absorbed attention (32 rows x (2 * 16 + 4) per key) costs more than
// re-projecting the cache (16 * 16) plus the per-head one (32 x 20), so it
// stays per-head.

#mm_lhs = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
#mm_rhs = affine_map<(d0, d1, d2, d3, d4) -> (d4, d3)>
#mm_out = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
#bcast_in = affine_map<(d0, d1, d2, d3) -> (d0, 0, d2, d3)>
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>

// CHECK-LABEL: func.func @long_prefill
// CHECK: attn.attention heads(4, 4)
// CHECK-NOT: attn.latent
func.func @long_prefill(%q: tensor<1x4x32x12xf32>, %c: tensor<1x1x32x16xf32>,
               %r: tensor<1x1x32x4xf32>, %w: tensor<16x64xf32>)
    -> tensor<1x4x32x8xf32> {
  %zero = arith.constant 0.0 : f32
  %e0 = tensor.empty() : tensor<1x1x32x64xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e0 : tensor<1x1x32x64xf32>) -> tensor<1x1x32x64xf32>
  %kv = linalg.generic {indexing_maps = [#mm_lhs, #mm_rhs, #mm_out],
      iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%c, %w : tensor<1x1x32x16xf32>, tensor<16x64xf32>) outs(%z : tensor<1x1x32x64xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<1x1x32x64xf32>
  %col = tensor.collapse_shape %kv [[0], [1, 2], [3]] : tensor<1x1x32x64xf32> into tensor<1x32x64xf32>
  %exp = tensor.expand_shape %col [[0], [1], [2, 3]] output_shape [1, 32, 4, 16] : tensor<1x32x64xf32> into tensor<1x32x4x16xf32>
  %e1 = tensor.empty() : tensor<1x4x32x16xf32>
  %x = linalg.transpose ins(%exp : tensor<1x32x4x16xf32>) outs(%e1 : tensor<1x4x32x16xf32>) permutation = [0, 2, 1, 3]
  %kn = tensor.extract_slice %x[0, 0, 0, 0] [1, 4, 32, 8] [1, 1, 1, 1] : tensor<1x4x32x16xf32> to tensor<1x4x32x8xf32>
  %v = tensor.extract_slice %x[0, 0, 0, 8] [1, 4, 32, 8] [1, 1, 1, 1] : tensor<1x4x32x16xf32> to tensor<1x4x32x8xf32>
  %e2 = tensor.empty() : tensor<1x4x32x4xf32>
  %kr = linalg.generic {indexing_maps = [#bcast_in, #id4],
      iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%r : tensor<1x1x32x4xf32>) outs(%e2 : tensor<1x4x32x4xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<1x4x32x4xf32>
  %k = tensor.concat dim(3) %kn, %kr : (tensor<1x4x32x8xf32>, tensor<1x4x32x4xf32>) -> tensor<1x4x32x12xf32>
  %init = tensor.empty() : tensor<1x4x32x8xf32>
  %o = attn.attention heads(4, 4) scale(0.25) causal(0) ins(%q, %k, %v : tensor<1x4x32x12xf32>, tensor<1x4x32x12xf32>, tensor<1x4x32x8xf32>) outs(%init : tensor<1x4x32x8xf32>) -> tensor<1x4x32x8xf32>
  return %o : tensor<1x4x32x8xf32>
}
