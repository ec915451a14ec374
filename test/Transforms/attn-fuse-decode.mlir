// RUN: attn-opt %s -split-input-file -attn-fuse-decode | FileCheck %s

// A decode step (16 cached positions, one new token): the past arguments
// become 17-position caches updated in place by attn.decode at a new
// trailing `cache_position` argument; the present results are the op's
// updated caches, tied to their arguments.
// CHECK-LABEL: func.func @decode_step
// CHECK-SAME: %[[PK:[a-z0-9]+]]: tensor<1x2x17x16xf32> {attn.tied_result = 1 : i64, bufferization.writable = true}
// CHECK-SAME: %[[PV:[a-z0-9]+]]: tensor<1x2x17x16xf32> {attn.tied_result = 2 : i64, bufferization.writable = true}
// CHECK-SAME: %[[POS:[a-z0-9]+]]: tensor<i64> {attn.name = "cache_position"}
// CHECK-SAME: -> (tensor<1x8x1x16xf32>, tensor<1x2x17x16xf32>, tensor<1x2x17x16xf32>)
// CHECK: %[[P:.+]] = tensor.extract %[[POS]][] : tensor<i64>
// CHECK: %[[I:.+]] = arith.index_cast %[[P]] : i64 to index
// CHECK-NOT: tensor.concat
// CHECK: %[[D:.+]]:3 = attn.decode heads(8, 2) scale(2.500000e-01) causal
// CHECK-SAME: position(%[[I]])
// CHECK-SAME: outs(%{{.+}}, %[[PK]], %[[PV]] :
// CHECK: return %[[D]]#0, %[[D]]#1, %[[D]]#2
func.func @decode_step(%q: tensor<1x8x1x16xf32>, %k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %pk: tensor<1x2x16x16xf32>, %pv: tensor<1x2x16x16xf32>) -> (tensor<1x8x1x16xf32>, tensor<1x2x17x16xf32>, tensor<1x2x17x16xf32>) {
  %kc = tensor.concat dim(2) %pk, %k : (tensor<1x2x16x16xf32>, tensor<1x2x1x16xf32>) -> tensor<1x2x17x16xf32>
  %vc = tensor.concat dim(2) %pv, %v : (tensor<1x2x16x16xf32>, tensor<1x2x1x16xf32>) -> tensor<1x2x17x16xf32>
  %o = tensor.empty() : tensor<1x8x1x16xf32>
  %r = attn.attention heads(8, 2) scale(0.25) causal(16) ins(%q, %kc, %vc : tensor<1x8x1x16xf32>, tensor<1x2x17x16xf32>, tensor<1x2x17x16xf32>) outs(%o : tensor<1x8x1x16xf32>) -> tensor<1x8x1x16xf32>
  return %r, %kc, %vc : tensor<1x8x1x16xf32>, tensor<1x2x17x16xf32>, tensor<1x2x17x16xf32>
}

// -----

// The mask over all cache positions carries over to the decode op.
// CHECK-LABEL: func.func @decode_step_with_mask
// CHECK: attn.decode heads(4, 4) scale(1.000000e+00) ins(
// CHECK-SAME: mask(%{{.+}} : tensor<1x1x1x9xf32>)
func.func @decode_step_with_mask(%q: tensor<1x4x1x8xf32>, %k: tensor<1x4x1x8xf32>, %v: tensor<1x4x1x8xf32>, %pk: tensor<1x4x8x8xf32>, %pv: tensor<1x4x8x8xf32>, %m: tensor<1x1x1x9xf32>) -> (tensor<1x4x1x8xf32>, tensor<1x4x9x8xf32>, tensor<1x4x9x8xf32>) {
  %kc = tensor.concat dim(2) %pk, %k : (tensor<1x4x8x8xf32>, tensor<1x4x1x8xf32>) -> tensor<1x4x9x8xf32>
  %vc = tensor.concat dim(2) %pv, %v : (tensor<1x4x8x8xf32>, tensor<1x4x1x8xf32>) -> tensor<1x4x9x8xf32>
  %o = tensor.empty() : tensor<1x4x1x8xf32>
  %r = attn.attention heads(4, 4) scale(1.0) ins(%q, %kc, %vc : tensor<1x4x1x8xf32>, tensor<1x4x9x8xf32>, tensor<1x4x9x8xf32>) mask(%m : tensor<1x1x1x9xf32>) outs(%o : tensor<1x4x1x8xf32>) -> tensor<1x4x1x8xf32>
  return %r, %kc, %vc : tensor<1x4x1x8xf32>, tensor<1x4x9x8xf32>, tensor<1x4x9x8xf32>
}

// -----

// Near miss: a causal offset other than the past length (here 0, the
// upper-left alignment) is not the decode op's alignment: left alone.
// CHECK-LABEL: func.func @other_causal_alignment
// CHECK: tensor.concat
// CHECK: attn.attention
// CHECK-NOT: attn.decode
func.func @other_causal_alignment(%q: tensor<1x4x1x8xf32>, %k: tensor<1x4x1x8xf32>, %v: tensor<1x4x1x8xf32>, %pk: tensor<1x4x8x8xf32>, %pv: tensor<1x4x8x8xf32>) -> (tensor<1x4x1x8xf32>, tensor<1x4x9x8xf32>, tensor<1x4x9x8xf32>) {
  %kc = tensor.concat dim(2) %pk, %k : (tensor<1x4x8x8xf32>, tensor<1x4x1x8xf32>) -> tensor<1x4x9x8xf32>
  %vc = tensor.concat dim(2) %pv, %v : (tensor<1x4x8x8xf32>, tensor<1x4x1x8xf32>) -> tensor<1x4x9x8xf32>
  %o = tensor.empty() : tensor<1x4x1x8xf32>
  %r = attn.attention heads(4, 4) scale(1.0) causal(0) ins(%q, %kc, %vc : tensor<1x4x1x8xf32>, tensor<1x4x9x8xf32>, tensor<1x4x9x8xf32>) outs(%o : tensor<1x4x1x8xf32>) -> tensor<1x4x1x8xf32>
  return %r, %kc, %vc : tensor<1x4x1x8xf32>, tensor<1x4x9x8xf32>, tensor<1x4x9x8xf32>
}

// -----

// Near miss: the past argument is also read elsewhere, so it cannot become
// the cache that the op overwrites.
// CHECK-LABEL: func.func @past_read_elsewhere
// CHECK-NOT: attn.decode
func.func @past_read_elsewhere(%q: tensor<1x4x1x8xf32>, %k: tensor<1x4x1x8xf32>, %v: tensor<1x4x1x8xf32>, %pk: tensor<1x4x8x8xf32>, %pv: tensor<1x4x8x8xf32>) -> (tensor<1x4x1x8xf32>, tensor<1x4x8x8xf32>) {
  %kc = tensor.concat dim(2) %pk, %k : (tensor<1x4x8x8xf32>, tensor<1x4x1x8xf32>) -> tensor<1x4x9x8xf32>
  %vc = tensor.concat dim(2) %pv, %v : (tensor<1x4x8x8xf32>, tensor<1x4x1x8xf32>) -> tensor<1x4x9x8xf32>
  %o = tensor.empty() : tensor<1x4x1x8xf32>
  %r = attn.attention heads(4, 4) scale(1.0) ins(%q, %kc, %vc : tensor<1x4x1x8xf32>, tensor<1x4x9x8xf32>, tensor<1x4x9x8xf32>) outs(%o : tensor<1x4x1x8xf32>) -> tensor<1x4x1x8xf32>
  return %r, %pk : tensor<1x4x1x8xf32>, tensor<1x4x8x8xf32>
}
