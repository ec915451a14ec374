// RUN: attn-opt %s -split-input-file -attn-share-kv="kv-heads=1" | FileCheck %s
// RUN: attn-opt %s -split-input-file -attn-share-kv="kv-heads=1 rewrite-projections=false" | FileCheck %s --check-prefix=ACT

#mm = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
#mw = affine_map<(d0, d1, d2, d3) -> (d3, d2)>
#wt = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
#mo = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>

// K (x @ Wk, Wk [8, 8]) and V (x @ Wv^T, the weight stored transposed as
// Gemm's transB keeps it) are two heads of 4, split and transposed: the
// shared head comes from a new projection with a [8, 4] ([4, 8]) weight,
// the mean of the two head blocks, and the old heads are no longer needed.
// CHECK-LABEL: func.func @separate
// CHECK-DAG: %[[WK:.+]] = arith.constant dense_resource<share_kv{{.*}}> : tensor<8x4xf32>
// CHECK-DAG: %[[WV:.+]] = arith.constant dense_resource<share_kv{{.*}}> : tensor<4x8xf32>
// CHECK-DAG: linalg.generic {{.+}} ins(%arg0, %[[WK]] : tensor<1x3x8xf32>, tensor<8x4xf32>)
// CHECK-DAG: linalg.generic {{.+}} ins(%arg0, %[[WV]] : tensor<1x3x8xf32>, tensor<4x8xf32>)
// CHECK: attn.attention heads(2, 1)
// CHECK-SAME: attn.kv_projections = {flops_per_token = 128 : i64, flops_per_token_before = 256 : i64, kv = "weights", output = "none", query_maps = "none", weight_bytes = 256 : i64, weight_bytes_before = 512 : i64}
// ACT-LABEL: func.func @separate
// ACT: attn.attention heads(2, 1)
// ACT-SAME: kv = "activations"
// ACT-SAME: why = "rewrite-projections=false"
func.func @separate(%x: tensor<1x3x8xf32>, %q: tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32> {
  %wk = arith.constant dense<[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5], [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0], [2.0, 2.0, 2.0, 2.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 3.0, 3.0, 3.0, 3.0]]> : tensor<8x8xf32>
  %wv = arith.constant dense<0.25> : tensor<8x8xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x3x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x3x8xf32>) -> tensor<1x3x8xf32>
  %k = linalg.generic {indexing_maps = [#mm, #mw, #mo], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%x, %wk : tensor<1x3x8xf32>, tensor<8x8xf32>) outs(%f : tensor<1x3x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %o, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x3x8xf32>
  %v = linalg.generic {indexing_maps = [#mm, #wt, #mo], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%x, %wv : tensor<1x3x8xf32>, tensor<8x8xf32>) outs(%f : tensor<1x3x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %o, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x3x8xf32>
  %ke = tensor.expand_shape %k [[0], [1], [2, 3]] output_shape [1, 3, 2, 4] : tensor<1x3x8xf32> into tensor<1x3x2x4xf32>
  %ve = tensor.expand_shape %v [[0], [1], [2, 3]] output_shape [1, 3, 2, 4] : tensor<1x3x8xf32> into tensor<1x3x2x4xf32>
  %t0 = tensor.empty() : tensor<1x2x3x4xf32>
  %kt = linalg.transpose ins(%ke : tensor<1x3x2x4xf32>) outs(%t0 : tensor<1x2x3x4xf32>) permutation = [0, 2, 1, 3]
  %vt = linalg.transpose ins(%ve : tensor<1x3x2x4xf32>) outs(%t0 : tensor<1x2x3x4xf32>) permutation = [0, 2, 1, 3]
  %o = tensor.empty() : tensor<1x2x3x4xf32>
  %r = attn.attention heads(2, 2) scale(0.5) ins(%q, %kt, %vt : tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>) outs(%o : tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32>
  return %r : tensor<1x2x3x4xf32>
}

// -----

#mm = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
#mw = affine_map<(d0, d1, d2, d3) -> (d3, d2)>
#mo = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>

// Near miss: the keys pass through exp (not linear) and the values are a
// function argument: both stay pooled on the activations, and the op says
// why.
// CHECK-LABEL: func.func @not_linear
// CHECK: %[[K:.+]] = linalg.generic {{.+}} ins(%{{.+}} : tensor<1x1x2x3x4xf32>)
// CHECK: attn.attention heads(2, 1) {{.+}} ins(%arg1, %[[K]], %{{.+}} :
// CHECK-SAME: kv = "activations"
// CHECK-SAME: why = "the key heads do not come from a constant-weight projection followed by head-uniform linear steps"
func.func @not_linear(%x: tensor<1x3x8xf32>, %q: tensor<1x2x3x4xf32>, %v: tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32> {
  %wk = arith.constant dense<0.5> : tensor<8x8xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x3x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x3x8xf32>) -> tensor<1x3x8xf32>
  %k = linalg.generic {indexing_maps = [#mm, #mw, #mo], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%x, %wk : tensor<1x3x8xf32>, tensor<8x8xf32>) outs(%f : tensor<1x3x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %o, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x3x8xf32>
  %ke = tensor.expand_shape %k [[0], [1], [2, 3]] output_shape [1, 3, 2, 4] : tensor<1x3x8xf32> into tensor<1x3x2x4xf32>
  %t0 = tensor.empty() : tensor<1x2x3x4xf32>
  %kt = linalg.transpose ins(%ke : tensor<1x3x2x4xf32>) outs(%t0 : tensor<1x2x3x4xf32>) permutation = [0, 2, 1, 3]
  %kx = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%kt : tensor<1x2x3x4xf32>) outs(%t0 : tensor<1x2x3x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = math.exp %a : f32
    linalg.yield %r : f32
  } -> tensor<1x2x3x4xf32>
  %o = tensor.empty() : tensor<1x2x3x4xf32>
  %r = attn.attention heads(2, 2) scale(0.5) ins(%q, %kx, %v : tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>) outs(%o : tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32>
  return %r : tensor<1x2x3x4xf32>
}
