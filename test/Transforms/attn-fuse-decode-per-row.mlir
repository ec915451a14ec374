// RUN: attn-opt %s -split-input-file -attn-fuse-decode=per-row-positions=true | FileCheck %s

// per-row-positions: the new cache_position argument is one int64 position
// per batch row ([B]) and the decode op takes positions(...), so rows of the
// batch decode at different positions.
// CHECK-LABEL: func.func @decode_step_rows
// CHECK-SAME: %[[PK:[a-z0-9]+]]: tensor<3x2x17x16xf32> {attn.tied_result = 1 : i64, bufferization.writable = true}
// CHECK-SAME: %[[POS:[a-z0-9]+]]: tensor<3xi64> {attn.name = "cache_position"}
// CHECK-NOT: tensor.extract
// CHECK: attn.decode heads(8, 2) scale(2.500000e-01) causal window(3, 0)
// CHECK-SAME: positions(%[[POS]] : tensor<3xi64>)
// CHECK-SAME: outs(%{{.+}}, %[[PK]], %{{.+}} :
func.func @decode_step_rows(%q: tensor<3x8x1x16xf32>, %k: tensor<3x2x1x16xf32>, %v: tensor<3x2x1x16xf32>, %pk: tensor<3x2x16x16xf32>, %pv: tensor<3x2x16x16xf32>) -> (tensor<3x8x1x16xf32>, tensor<3x2x17x16xf32>, tensor<3x2x17x16xf32>) {
  %kc = tensor.concat dim(2) %pk, %k : (tensor<3x2x16x16xf32>, tensor<3x2x1x16xf32>) -> tensor<3x2x17x16xf32>
  %vc = tensor.concat dim(2) %pv, %v : (tensor<3x2x16x16xf32>, tensor<3x2x1x16xf32>) -> tensor<3x2x17x16xf32>
  %o = tensor.empty() : tensor<3x8x1x16xf32>
  %r = attn.attention heads(8, 2) scale(0.25) causal(16) window(3, 0) ins(%q, %kc, %vc : tensor<3x8x1x16xf32>, tensor<3x2x17x16xf32>, tensor<3x2x17x16xf32>) outs(%o : tensor<3x8x1x16xf32>) -> tensor<3x8x1x16xf32>
  return %r, %kc, %vc : tensor<3x8x1x16xf32>, tensor<3x2x17x16xf32>, tensor<3x2x17x16xf32>
}

// -----

// A caller passes its past length as every row's position (a splat).
// CHECK-LABEL: func.func private @step
// CHECK-SAME: tensor<2xi64> {attn.name = "cache_position"}
// CHECK-LABEL: func.func @caller
// CHECK: %[[SPLAT:.+]] = arith.constant dense<16> : tensor<2xi64>
// CHECK: call @step({{.*}}, %[[SPLAT]])
func.func private @step(%q: tensor<2x8x1x16xf32>, %k: tensor<2x2x1x16xf32>, %v: tensor<2x2x1x16xf32>, %pk: tensor<2x2x16x16xf32>, %pv: tensor<2x2x16x16xf32>) -> (tensor<2x8x1x16xf32>, tensor<2x2x17x16xf32>, tensor<2x2x17x16xf32>) {
  %kc = tensor.concat dim(2) %pk, %k : (tensor<2x2x16x16xf32>, tensor<2x2x1x16xf32>) -> tensor<2x2x17x16xf32>
  %vc = tensor.concat dim(2) %pv, %v : (tensor<2x2x16x16xf32>, tensor<2x2x1x16xf32>) -> tensor<2x2x17x16xf32>
  %o = tensor.empty() : tensor<2x8x1x16xf32>
  %r = attn.attention heads(8, 2) scale(0.25) causal(16) ins(%q, %kc, %vc : tensor<2x8x1x16xf32>, tensor<2x2x17x16xf32>, tensor<2x2x17x16xf32>) outs(%o : tensor<2x8x1x16xf32>) -> tensor<2x8x1x16xf32>
  return %r, %kc, %vc : tensor<2x8x1x16xf32>, tensor<2x2x17x16xf32>, tensor<2x2x17x16xf32>
}
func.func @caller(%q: tensor<2x8x1x16xf32>, %k: tensor<2x2x1x16xf32>, %v: tensor<2x2x1x16xf32>, %pk: tensor<2x2x16x16xf32>, %pv: tensor<2x2x16x16xf32>) -> (tensor<2x8x1x16xf32>, tensor<2x2x17x16xf32>) {
  %r:3 = func.call @step(%q, %k, %v, %pk, %pv) : (tensor<2x8x1x16xf32>, tensor<2x2x1x16xf32>, tensor<2x2x1x16xf32>, tensor<2x2x16x16xf32>, tensor<2x2x16x16xf32>) -> (tensor<2x8x1x16xf32>, tensor<2x2x17x16xf32>, tensor<2x2x17x16xf32>)
  return %r#0, %r#1 : tensor<2x8x1x16xf32>, tensor<2x2x17x16xf32>
}

// -----

// Near miss: caches of a dynamic batch (no static [B] for the positions)
// are left alone.
// CHECK-LABEL: func.func @dynamic_batch
// CHECK: tensor.concat
// CHECK: attn.attention
// CHECK-NOT: attn.decode
func.func @dynamic_batch(%q: tensor<?x8x1x16xf32>, %k: tensor<?x2x1x16xf32>, %v: tensor<?x2x1x16xf32>, %pk: tensor<?x2x16x16xf32>, %pv: tensor<?x2x16x16xf32>, %o: tensor<?x8x1x16xf32>) -> (tensor<?x8x1x16xf32>, tensor<?x2x17x16xf32>, tensor<?x2x17x16xf32>) {
  %kc = tensor.concat dim(2) %pk, %k : (tensor<?x2x16x16xf32>, tensor<?x2x1x16xf32>) -> tensor<?x2x17x16xf32>
  %vc = tensor.concat dim(2) %pv, %v : (tensor<?x2x16x16xf32>, tensor<?x2x1x16xf32>) -> tensor<?x2x17x16xf32>
  %r = attn.attention heads(8, 2) scale(0.25) causal(16) ins(%q, %kc, %vc : tensor<?x8x1x16xf32>, tensor<?x2x17x16xf32>, tensor<?x2x17x16xf32>) outs(%o : tensor<?x8x1x16xf32>) -> tensor<?x8x1x16xf32>
  return %r, %kc, %vc : tensor<?x8x1x16xf32>, tensor<?x2x17x16xf32>, tensor<?x2x17x16xf32>
}
