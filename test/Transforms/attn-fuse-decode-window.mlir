// RUN: attn-opt %s -split-input-file -attn-fuse-decode | FileCheck %s

// A causal decode step with a sliding window: the window carries over to
// attn.decode (both place query row i at past + i).
// CHECK-LABEL: func.func @decode_step_window
// CHECK: attn.decode heads(8, 2) scale(2.500000e-01) causal window(7, 0)
// CHECK-SAME: position(
func.func @decode_step_window(%q: tensor<1x8x1x16xf32>, %k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %pk: tensor<1x2x16x16xf32>, %pv: tensor<1x2x16x16xf32>) -> (tensor<1x8x1x16xf32>, tensor<1x2x17x16xf32>, tensor<1x2x17x16xf32>) {
  %kc = tensor.concat dim(2) %pk, %k : (tensor<1x2x16x16xf32>, tensor<1x2x1x16xf32>) -> tensor<1x2x17x16xf32>
  %vc = tensor.concat dim(2) %pv, %v : (tensor<1x2x16x16xf32>, tensor<1x2x1x16xf32>) -> tensor<1x2x17x16xf32>
  %o = tensor.empty() : tensor<1x8x1x16xf32>
  %r = attn.attention heads(8, 2) scale(0.25) causal(16) window(7, 0) ins(%q, %kc, %vc : tensor<1x8x1x16xf32>, tensor<1x2x17x16xf32>, tensor<1x2x17x16xf32>) outs(%o : tensor<1x8x1x16xf32>) -> tensor<1x8x1x16xf32>
  return %r, %kc, %vc : tensor<1x8x1x16xf32>, tensor<1x2x17x16xf32>, tensor<1x2x17x16xf32>
}

// -----

// Near miss: a window without causal stands query row i at i, not at
// past + i as attn.decode would: not fused.
// CHECK-LABEL: func.func @window_not_causal
// CHECK-NOT: attn.decode
// CHECK: tensor.concat
// CHECK: attn.attention heads(8, 2) scale(2.500000e-01) window(7, 0)
func.func @window_not_causal(%q: tensor<1x8x1x16xf32>, %k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %pk: tensor<1x2x16x16xf32>, %pv: tensor<1x2x16x16xf32>) -> (tensor<1x8x1x16xf32>, tensor<1x2x17x16xf32>, tensor<1x2x17x16xf32>) {
  %kc = tensor.concat dim(2) %pk, %k : (tensor<1x2x16x16xf32>, tensor<1x2x1x16xf32>) -> tensor<1x2x17x16xf32>
  %vc = tensor.concat dim(2) %pv, %v : (tensor<1x2x16x16xf32>, tensor<1x2x1x16xf32>) -> tensor<1x2x17x16xf32>
  %o = tensor.empty() : tensor<1x8x1x16xf32>
  %r = attn.attention heads(8, 2) scale(0.25) window(7, 0) ins(%q, %kc, %vc : tensor<1x8x1x16xf32>, tensor<1x2x17x16xf32>, tensor<1x2x17x16xf32>) outs(%o : tensor<1x8x1x16xf32>) -> tensor<1x8x1x16xf32>
  return %r, %kc, %vc : tensor<1x8x1x16xf32>, tensor<1x2x17x16xf32>, tensor<1x2x17x16xf32>
}
