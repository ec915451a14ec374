// RUN: attn-opt %s -split-input-file -attn-window-ring-cache | FileCheck %s
// RUN: attn-opt %s -split-input-file -attn-window-ring-cache -attn-kv-cache-type=type=int8 | FileCheck %s --check-prefix=INT8

// Two layers of a fused decode step (GQA 8/2, Sq = 2): the window layer
// (causal window(5, 0)) gets rings of L + Sq = 7 slots in its argument, its
// results and the function's results; the global layer keeps its 64
// positions. --kv-cache-type after it keeps the ring.
// CHECK-LABEL: func.func @step
// CHECK-SAME: %[[KC:[a-z0-9]+]]: tensor<2x2x7x16xf32> {attn.name = "past.0.key", attn.tied_result = 1 : i64
// CHECK-SAME: %[[VC:[a-z0-9]+]]: tensor<2x2x7x16xf32> {attn.name = "past.0.value", attn.tied_result = 2 : i64
// CHECK-SAME: %{{[a-z0-9]+}}: tensor<2x2x64x16xf32> {attn.name = "past.1.key"
// CHECK-SAME: -> (tensor<2x8x2x16xf32>, tensor<2x2x7x16xf32>, tensor<2x2x7x16xf32>, tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32>)
// CHECK: attn.decode heads(8, 2) scale(2.500000e-01) causal window(5, 0) ring
// CHECK-SAME: outs(%{{.+}}, %[[KC]], %[[VC]] : tensor<2x8x2x16xf32>, tensor<2x2x7x16xf32>, tensor<2x2x7x16xf32>)
// CHECK-SAME: -> tensor<2x8x2x16xf32>, tensor<2x2x7x16xf32>, tensor<2x2x7x16xf32>
// CHECK: attn.decode heads(8, 2) scale(2.500000e-01) causal ins
// CHECK-SAME: tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32>)
// INT8-LABEL: func.func @step
// INT8: attn.decode heads(8, 2) scale(2.500000e-01) causal window(5, 0) ring
// INT8-SAME: tensor<2x2x7x16xi8>
// INT8-SAME: cache_scales(
func.func @step(%q: tensor<2x8x2x16xf32>, %k: tensor<2x2x2x16xf32>, %v: tensor<2x2x2x16xf32>, %kc: tensor<2x2x64x16xf32> {attn.name = "past.0.key", attn.tied_result = 1 : i64, bufferization.writable = true}, %vc: tensor<2x2x64x16xf32> {attn.name = "past.0.value", attn.tied_result = 2 : i64, bufferization.writable = true}, %kc1: tensor<2x2x64x16xf32> {attn.name = "past.1.key", attn.tied_result = 3 : i64, bufferization.writable = true}, %vc1: tensor<2x2x64x16xf32> {attn.name = "past.1.value", attn.tied_result = 4 : i64, bufferization.writable = true}, %pos: tensor<2xi64> {attn.name = "positions"}) -> (tensor<2x8x2x16xf32>, tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32>) {
  %o = tensor.empty() : tensor<2x8x2x16xf32>
  %r:3 = attn.decode heads(8, 2) scale(0.25) causal window(5, 0) ins(%q, %k, %v : tensor<2x8x2x16xf32>, tensor<2x2x2x16xf32>, tensor<2x2x2x16xf32>) positions(%pos : tensor<2xi64>) outs(%o, %kc, %vc : tensor<2x8x2x16xf32>, tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32>) -> tensor<2x8x2x16xf32>, tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32>
  %s:3 = attn.decode heads(8, 2) scale(0.25) causal ins(%r#0, %k, %v : tensor<2x8x2x16xf32>, tensor<2x2x2x16xf32>, tensor<2x2x2x16xf32>) positions(%pos : tensor<2xi64>) outs(%o, %kc1, %vc1 : tensor<2x8x2x16xf32>, tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32>) -> tensor<2x8x2x16xf32>, tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32>
  return %s#0, %r#1, %r#2, %s#1, %s#2 : tensor<2x8x2x16xf32>, tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32>
}

// -----

// A window layer whose cache is no longer than L + Sq already stays as it is.
// CHECK-LABEL: func.func @short
// CHECK-NOT: ring
func.func @short(%q: tensor<1x4x1x8xf32>, %k: tensor<1x4x1x8xf32>, %v: tensor<1x4x1x8xf32>, %kc: tensor<1x4x8x8xf32> {attn.tied_result = 1 : i64}, %vc: tensor<1x4x8x8xf32> {attn.tied_result = 2 : i64}, %p: index) -> (tensor<1x4x1x8xf32>, tensor<1x4x8x8xf32>, tensor<1x4x8x8xf32>) {
  %o = tensor.empty() : tensor<1x4x1x8xf32>
  %r:3 = attn.decode heads(4, 4) scale(0.5) causal window(7, 0) ins(%q, %k, %v : tensor<1x4x1x8xf32>, tensor<1x4x1x8xf32>, tensor<1x4x1x8xf32>) position(%p) outs(%o, %kc, %vc : tensor<1x4x1x8xf32>, tensor<1x4x8x8xf32>, tensor<1x4x8x8xf32>) -> tensor<1x4x1x8xf32>, tensor<1x4x8x8xf32>, tensor<1x4x8x8xf32>
  return %r#0, %r#1, %r#2 : tensor<1x4x1x8xf32>, tensor<1x4x8x8xf32>, tensor<1x4x8x8xf32>
}
