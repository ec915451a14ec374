// RUN: attn-opt %s -split-input-file -attn-share-kv="kv-heads=2" | FileCheck %s
// RUN: attn-opt %s -split-input-file -attn-share-kv="kv-heads=1" | FileCheck %s --check-prefix=MQA

// Mean pooling of an MHA layer without a cache: each new KV head averages two
// old ones (weight 1/2), the op states heads(4, 2) and remembers 4.
// CHECK-LABEL: func.func @mha_to_gqa
// CHECK: %[[K5:.+]] = tensor.expand_shape %{{.+}} {{\[\[}}0], [1, 2], [3], [4]] output_shape [1, 2, 2, 6, 16]
// CHECK: %[[KM:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%[[K5]] : tensor<1x2x2x6x16xf32>)
// CHECK: arith.constant 5.000000e-01 : f32
// CHECK: attn.attention heads(4, 2) scale(2.500000e-01) ins(%{{.+}}, %[[KM]], %{{.+}} : tensor<1x4x4x16xf32>, tensor<1x2x6x16xf32>, tensor<1x2x6x16xf32>)
// CHECK-SAME: attn.kv_heads_before = 4
// MQA-LABEL: func.func @mha_to_gqa
// MQA: arith.constant 2.500000e-01 : f32
// MQA: attn.attention heads(4, 1)
func.func @mha_to_gqa(%q: tensor<1x4x4x16xf32>, %k: tensor<1x4x6x16xf32>, %v: tensor<1x4x6x16xf32>) -> tensor<1x4x4x16xf32> {
  %o = tensor.empty() : tensor<1x4x4x16xf32>
  %r = attn.attention heads(4, 4) scale(0.25) ins(%q, %k, %v : tensor<1x4x4x16xf32>, tensor<1x4x6x16xf32>, tensor<1x4x6x16xf32>) outs(%o : tensor<1x4x4x16xf32>) -> tensor<1x4x4x16xf32>
  return %r : tensor<1x4x4x16xf32>
}

// -----

// With a KV cache only the new keys/values are pooled; the past arguments and
// the present results shrink to the new head count, so the cache does too.
// CHECK-LABEL: func.func @decode_step_cache_shrinks
// CHECK-SAME: %[[PK:[a-z0-9]+]]: tensor<1x2x5x16xf32>, %[[PV:[a-z0-9]+]]: tensor<1x2x5x16xf32>
// CHECK-SAME: -> (tensor<1x4x1x16xf32>, tensor<1x2x6x16xf32>, tensor<1x2x6x16xf32>)
// CHECK: %[[KN:.+]] = linalg.generic
// CHECK: %[[KC:.+]] = tensor.concat dim(2) %[[PK]], %[[KN]] : (tensor<1x2x5x16xf32>, tensor<1x2x1x16xf32>) -> tensor<1x2x6x16xf32>
// CHECK: attn.attention heads(4, 2) {{.+}} causal(5)
// CHECK: return %{{.+}}, %[[KC]], %{{.+}} : tensor<1x4x1x16xf32>, tensor<1x2x6x16xf32>, tensor<1x2x6x16xf32>
func.func @decode_step_cache_shrinks(%q: tensor<1x4x1x16xf32>, %k: tensor<1x4x1x16xf32>, %v: tensor<1x4x1x16xf32>, %pk: tensor<1x4x5x16xf32>, %pv: tensor<1x4x5x16xf32>) -> (tensor<1x4x1x16xf32>, tensor<1x4x6x16xf32>, tensor<1x4x6x16xf32>) {
  %kc = tensor.concat dim(2) %pk, %k : (tensor<1x4x5x16xf32>, tensor<1x4x1x16xf32>) -> tensor<1x4x6x16xf32>
  %vc = tensor.concat dim(2) %pv, %v : (tensor<1x4x5x16xf32>, tensor<1x4x1x16xf32>) -> tensor<1x4x6x16xf32>
  %o = tensor.empty() : tensor<1x4x1x16xf32>
  %r = attn.attention heads(4, 4) scale(0.25) causal(5) ins(%q, %kc, %vc : tensor<1x4x1x16xf32>, tensor<1x4x6x16xf32>, tensor<1x4x6x16xf32>) outs(%o : tensor<1x4x1x16xf32>) -> tensor<1x4x1x16xf32>
  return %r, %kc, %vc : tensor<1x4x1x16xf32>, tensor<1x4x6x16xf32>, tensor<1x4x6x16xf32>
}

// -----

// A step without past (prefill: the empty concat folded away) returns the
// keys and values it attends to as the present cache: the returned cache
// holds the shared heads as well.
// CHECK-LABEL: func.func @present_without_past
// CHECK-SAME: -> (tensor<1x4x3x16xf32>, tensor<1x2x3x16xf32>, tensor<1x2x3x16xf32>)
// CHECK: %[[KM:.+]] = linalg.generic
// CHECK: %[[VM:.+]] = linalg.generic
// CHECK: %[[O:.+]] = attn.attention heads(4, 2) {{.+}} ins(%{{.+}}, %[[KM]], %[[VM]] :
// CHECK: return %[[O]], %[[KM]], %[[VM]]
func.func @present_without_past(%q: tensor<1x4x3x16xf32>, %k: tensor<1x4x3x16xf32>, %v: tensor<1x4x3x16xf32>) -> (tensor<1x4x3x16xf32>, tensor<1x4x3x16xf32>, tensor<1x4x3x16xf32>) {
  %o = tensor.empty() : tensor<1x4x3x16xf32>
  %r = attn.attention heads(4, 4) scale(0.25) causal(0) ins(%q, %k, %v : tensor<1x4x3x16xf32>, tensor<1x4x3x16xf32>, tensor<1x4x3x16xf32>) outs(%o : tensor<1x4x3x16xf32>) -> tensor<1x4x3x16xf32>
  return %r, %k, %v : tensor<1x4x3x16xf32>, tensor<1x4x3x16xf32>, tensor<1x4x3x16xf32>
}
