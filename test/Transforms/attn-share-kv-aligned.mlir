// RUN: attn-opt %s -split-input-file -attn-share-kv="kv-heads=1 method=aligned" -verify-diagnostics | FileCheck %s

// Aligned sharing maps every KV head by its mix ([Hkv, D, D]) before
// summing the group (weights 1), maps Q per query head before the op and
// the output per query head after it; the attributes are consumed.
// CHECK-LABEL: func.func @aligned
// CHECK: %[[KMIX:.+]] = arith.constant dense<{{.+}}> : tensor<2x2x2xf32>
// CHECK: %[[KM:.+]] = linalg.generic {{.+}} ins(%arg1, %[[KMIX]] : tensor<1x2x6x2xf32>, tensor<2x2x2xf32>)
// CHECK: tensor.expand_shape %[[KM]]
// CHECK: %[[KW:.+]] = arith.constant dense<1.000000e+00> : tensor<1x2xf32>
// CHECK: %[[K:.+]] = linalg.generic {{.+}} ins(%{{.+}}, %[[KW]] : tensor<1x1x2x6x2xf32>, tensor<1x2xf32>)
// CHECK: %[[VM:.+]] = linalg.generic {{.+}} ins(%{{.+}}, %{{.+}} : tensor<1x2x6x2xf32>, tensor<2x2x2xf32>)
// CHECK: %[[V:.+]] = linalg.generic {{.+}} ins(%{{.+}}, %{{.+}} : tensor<1x1x2x6x2xf32>, tensor<1x2xf32>)
// CHECK: %[[QM:.+]] = linalg.generic {{.+}} ins(%{{.+}}, %{{.+}} : tensor<1x4x4x2xf32>, tensor<4x2x2xf32>)
// CHECK: %[[O:.+]] = attn.attention heads(4, 1) scale(2.500000e-01) ins(%[[QM]], %[[K]], %[[V]] :
// CHECK-NOT: attn.share_
// CHECK: %[[OM:.+]] = linalg.generic {{.+}} ins(%[[O]], %{{.+}} : tensor<1x4x4x2xf32>, tensor<4x2x2xf32>)
// CHECK: return %[[OM]]
func.func @aligned(%q: tensor<1x4x4x2xf32>, %k: tensor<1x2x6x2xf32>, %v: tensor<1x2x6x2xf32>) -> tensor<1x4x4x2xf32> {
  %o = tensor.empty() : tensor<1x4x4x2xf32>
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<1x4x4x2xf32>, tensor<1x2x6x2xf32>, tensor<1x2x6x2xf32>) outs(%o : tensor<1x4x4x2xf32>) {
    attn.share_key_weights = dense<1.0> : tensor<2xf64>,
    attn.share_value_weights = dense<1.0> : tensor<2xf64>,
    attn.share_key_mixes = dense<[[[0.6, -0.8], [0.8, 0.6]], [[0.5, 0.0], [0.0, 0.5]]]> : tensor<2x2x2xf64>,
    attn.share_value_mixes = dense<[[[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 1.0]]]> : tensor<2x2x2xf64>,
    attn.share_query_maps = dense<[[[0.6, 0.8], [-0.8, 0.6]], [[0.6, 0.8], [-0.8, 0.6]], [[2.0, 0.0], [0.0, 2.0]], [[2.0, 0.0], [0.0, 2.0]]]> : tensor<4x2x2xf64>,
    attn.share_output_maps = dense<[[[1.0, 0.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 1.0]], [[0.0, 0.0], [0.0, 1.0]]]> : tensor<4x2x2xf64>
  } -> tensor<1x4x4x2xf32>
  return %r : tensor<1x4x4x2xf32>
}

// -----

// Without the mixes the op cannot be aligned: refused, naming what is missing.
func.func @missing_mixes(%q: tensor<1x4x4x2xf32>, %k: tensor<1x2x6x2xf32>, %v: tensor<1x2x6x2xf32>) -> tensor<1x4x4x2xf32> {
  %o = tensor.empty() : tensor<1x4x4x2xf32>
  // expected-error @+1 {{method=aligned needs 'attn.share_key_mixes' [Hkv, D, D], 'attn.share_value_mixes' [Hkv, Dv, Dv] and the head maps on the op}}
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<1x4x4x2xf32>, tensor<1x2x6x2xf32>, tensor<1x2x6x2xf32>) outs(%o : tensor<1x4x4x2xf32>) {
    attn.share_key_weights = dense<1.0> : tensor<2xf64>,
    attn.share_value_weights = dense<1.0> : tensor<2xf64>
  } -> tensor<1x4x4x2xf32>
  return %r : tensor<1x4x4x2xf32>
}
