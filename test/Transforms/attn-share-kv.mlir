// RUN: attn-opt %s -split-input-file -attn-share-kv="kv-heads=2" | FileCheck %s
// RUN: attn-opt %s -split-input-file -attn-share-kv="kv-heads=1" | FileCheck %s --check-prefix=MQA
// RUN: attn-opt %s -split-input-file -attn-share-kv="kv-heads=4" | FileCheck %s --check-prefix=MIXED
// RUN: attn-opt %s -split-input-file -attn-share-kv="kv-heads=0" | FileCheck %s --check-prefix=OFF

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
// An op that already has kv-heads KV heads is left as it is (no record of
// a conversion either); kv-heads=0 leaves every op alone.
// MIXED-LABEL: func.func @mha_to_gqa
// MIXED-NOT: linalg.generic
// MIXED: attn.attention heads(4, 4) scale(2.500000e-01) ins(%{{[a-z0-9]+}}, %{{[a-z0-9]+}}, %{{[a-z0-9]+}} :
// MIXED-NOT: attn.kv_heads_before
// OFF-LABEL: func.func @mha_to_gqa
// OFF-NOT: linalg.generic
// OFF: attn.attention heads(4, 4)
// OFF-NOT: attn.kv_heads_before
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

// -----

// A model that mixes layers: with kv-heads=4, the layer with 8 KV heads is
// pooled to 4 and the layer that already has 2 (fewer than 4) is left alone,
// so is its KV cache.
// MIXED-LABEL: func.func @mixed_layers
// MIXED-SAME: %[[PK8:[a-z0-9]+]]: tensor<1x4x5x16xf32>, %[[PK2:[a-z0-9]+]]: tensor<1x2x5x16xf32>
// MIXED-SAME: -> (tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x4x6x16xf32>, tensor<1x2x6x16xf32>)
// MIXED: attn.attention heads(8, 4) {{.+}} ins(%{{.+}} : tensor<1x8x1x16xf32>, tensor<1x4x6x16xf32>, tensor<1x4x6x16xf32>)
// MIXED-SAME: attn.kv_heads_before = 8
// MIXED: %[[KC2:.+]] = tensor.concat dim(2) %[[PK2]], %{{.+}} : (tensor<1x2x5x16xf32>, tensor<1x2x1x16xf32>) -> tensor<1x2x6x16xf32>
// MIXED: attn.attention heads(8, 2) {{.+}} ins(%{{.+}}, %[[KC2]], %{{.+}} :
// MIXED-NOT: attn.kv_heads_before
// MIXED: return
// With kv-heads=2 the same model pools only the 8-head layer, to 2.
// CHECK-LABEL: func.func @mixed_layers
// CHECK: attn.attention heads(8, 2) {{.+}}attn.kv_heads_before = 8
// CHECK: attn.attention heads(8, 2)
// CHECK-NOT: attn.kv_heads_before
func.func @mixed_layers(%q: tensor<1x8x1x16xf32>, %k8: tensor<1x8x1x16xf32>, %v8: tensor<1x8x1x16xf32>, %k2: tensor<1x2x1x16xf32>, %v2: tensor<1x2x1x16xf32>, %pk8: tensor<1x8x5x16xf32>, %pk2: tensor<1x2x5x16xf32>, %pv8: tensor<1x8x6x16xf32>, %pv2: tensor<1x2x6x16xf32>) -> (tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x6x16xf32>, tensor<1x2x6x16xf32>) {
  %kc8 = tensor.concat dim(2) %pk8, %k8 : (tensor<1x8x5x16xf32>, tensor<1x8x1x16xf32>) -> tensor<1x8x6x16xf32>
  %o = tensor.empty() : tensor<1x8x1x16xf32>
  %r8 = attn.attention heads(8, 8) scale(0.25) ins(%q, %kc8, %pv8 : tensor<1x8x1x16xf32>, tensor<1x8x6x16xf32>, tensor<1x8x6x16xf32>) outs(%o : tensor<1x8x1x16xf32>) -> tensor<1x8x1x16xf32>
  %kc2 = tensor.concat dim(2) %pk2, %k2 : (tensor<1x2x5x16xf32>, tensor<1x2x1x16xf32>) -> tensor<1x2x6x16xf32>
  %r2 = attn.attention heads(8, 2) scale(0.25) ins(%r8, %kc2, %pv2 : tensor<1x8x1x16xf32>, tensor<1x2x6x16xf32>, tensor<1x2x6x16xf32>) outs(%o : tensor<1x8x1x16xf32>) -> tensor<1x8x1x16xf32>
  return %r8, %r2, %kc8, %kc2 : tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x6x16xf32>, tensor<1x2x6x16xf32>
}
