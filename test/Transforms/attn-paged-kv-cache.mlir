// RUN: attn-opt %s -split-input-file -attn-paged-kv-cache=page-size=4 | FileCheck %s
// RUN: attn-opt %s -split-input-file "-attn-paged-kv-cache=page-size=4 num-pages=11" | FileCheck %s --check-prefix=POOL

// Two layers of a fused decode step (B = 2, Smax = 10, GQA 8/2, Dv = 12):
// both layers' caches become pools of 2 * ceil(10 / 4) = 6 pages of 4
// positions, in the arguments, the ops and the results, and both ops read
// through the one new `block_table` argument [2, 3].
// CHECK-LABEL: func.func @step
// CHECK-SAME: %[[KC:[a-z0-9]+]]: tensor<6x2x4x16xf32> {attn.name = "past.0.key", attn.tied_result = 1 : i64
// CHECK-SAME: %[[VC:[a-z0-9]+]]: tensor<6x2x4x12xf32> {attn.name = "past.0.value", attn.tied_result = 2 : i64
// CHECK-SAME: %{{[a-z0-9]+}}: tensor<6x2x4x16xf32> {attn.name = "past.1.key"
// CHECK-SAME: %{{[a-z0-9]+}}: tensor<6x2x4x12xf32> {attn.name = "past.1.value"
// CHECK-SAME: %[[T:[a-z0-9]+]]: tensor<2x3xi32> {attn.name = "block_table", attn.role = "block_table"}
// CHECK-SAME: -> (tensor<2x8x1x12xf32>, tensor<6x2x4x16xf32>, tensor<6x2x4x12xf32>, tensor<6x2x4x16xf32>, tensor<6x2x4x12xf32>)
// CHECK: attn.decode heads(8, 2) scale(2.500000e-01) causal
// CHECK-SAME: block_table(%[[T]] : tensor<2x3xi32>)
// CHECK-SAME: outs(%{{.+}}, %[[KC]], %[[VC]] : tensor<2x8x1x12xf32>, tensor<6x2x4x16xf32>, tensor<6x2x4x12xf32>)
// CHECK: attn.decode heads(8, 2) scale(2.500000e-01) causal
// CHECK-SAME: block_table(%[[T]] : tensor<2x3xi32>)
// CHECK: return
// POOL-LABEL: func.func @step
// POOL-SAME: tensor<11x2x4x16xf32>
// POOL-SAME: tensor<2x3xi32> {attn.name = "block_table"
func.func @step(%q: tensor<2x8x1x16xf32>, %k: tensor<2x2x1x16xf32>, %v: tensor<2x2x1x12xf32>, %kc: tensor<2x2x10x16xf32> {attn.name = "past.0.key", attn.tied_result = 1 : i64}, %vc: tensor<2x2x10x12xf32> {attn.name = "past.0.value", attn.tied_result = 2 : i64}, %kc1: tensor<2x2x10x16xf32> {attn.name = "past.1.key", attn.tied_result = 3 : i64}, %vc1: tensor<2x2x10x12xf32> {attn.name = "past.1.value", attn.tied_result = 4 : i64}, %pos: tensor<2xi64> {attn.name = "cache_position"}) -> (tensor<2x8x1x12xf32>, tensor<2x2x10x16xf32>, tensor<2x2x10x12xf32>, tensor<2x2x10x16xf32>, tensor<2x2x10x12xf32>) {
  %o = tensor.empty() : tensor<2x8x1x12xf32>
  %r:3 = attn.decode heads(8, 2) scale(0.25) causal ins(%q, %k, %v : tensor<2x8x1x16xf32>, tensor<2x2x1x16xf32>, tensor<2x2x1x12xf32>) positions(%pos : tensor<2xi64>) outs(%o, %kc, %vc : tensor<2x8x1x12xf32>, tensor<2x2x10x16xf32>, tensor<2x2x10x12xf32>) -> tensor<2x8x1x12xf32>, tensor<2x2x10x16xf32>, tensor<2x2x10x12xf32>
  %s:3 = attn.decode heads(8, 2) scale(0.25) causal ins(%q, %k, %v : tensor<2x8x1x16xf32>, tensor<2x2x1x16xf32>, tensor<2x2x1x12xf32>) positions(%pos : tensor<2xi64>) outs(%o, %kc1, %vc1 : tensor<2x8x1x12xf32>, tensor<2x2x10x16xf32>, tensor<2x2x10x12xf32>) -> tensor<2x8x1x12xf32>, tensor<2x2x10x16xf32>, tensor<2x2x10x12xf32>
  return %s#0, %r#1, %r#2, %s#1, %s#2 : tensor<2x8x1x12xf32>, tensor<2x2x10x16xf32>, tensor<2x2x10x12xf32>, tensor<2x2x10x16xf32>, tensor<2x2x10x12xf32>
}
