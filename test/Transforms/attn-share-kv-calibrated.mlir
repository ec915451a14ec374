// RUN: attn-opt %s -attn-share-kv="kv-heads=2 method=calibrated" | FileCheck %s

// Calibrated sharing uses the weights attn-compile fitted: a weighted pool
// of each group ([N, g] constant), a per-query-head map on Q before the op
// and a per-head map on its output after it; the calibration attributes are
// consumed.
// CHECK-LABEL: func.func @calibrated
// CHECK: %[[W:.+]] = arith.constant dense<{{\[\[}}7.500000e-01, 2.500000e-01], [5.000000e-01, 5.000000e-01]]> : tensor<2x2xf32>
// CHECK: %[[K:.+]] = linalg.generic {{.+}} ins(%{{.+}}, %[[W]] : tensor<1x2x2x6x2xf32>, tensor<2x2xf32>)
// CHECK: %[[QM:.+]] = linalg.generic {{.+}} ins(%{{.+}}, %{{.+}} : tensor<1x4x4x2xf32>, tensor<4x2x2xf32>)
// CHECK: %[[O:.+]] = attn.attention heads(4, 2) scale(2.500000e-01) ins(%[[QM]], %[[K]], %{{.+}} :
// CHECK-NOT: attn.share_
// CHECK: %[[OM:.+]] = linalg.generic {{.+}} ins(%[[O]], %{{.+}} : tensor<1x4x4x2xf32>, tensor<4x2x2xf32>)
// CHECK: return %[[OM]]
func.func @calibrated(%q: tensor<1x4x4x2xf32>, %k: tensor<1x4x6x2xf32>, %v: tensor<1x4x6x2xf32>) -> tensor<1x4x4x2xf32> {
  %o = tensor.empty() : tensor<1x4x4x2xf32>
  %r = attn.attention heads(4, 4) scale(0.25) ins(%q, %k, %v : tensor<1x4x4x2xf32>, tensor<1x4x6x2xf32>, tensor<1x4x6x2xf32>) outs(%o : tensor<1x4x4x2xf32>) {
    attn.share_key_weights = dense<[0.75, 0.25, 0.5, 0.5]> : tensor<4xf64>,
    attn.share_value_weights = dense<[0.5, 0.5, 1.0, 0.0]> : tensor<4xf64>,
    attn.share_query_maps = dense<[[[1.0, 0.0], [0.0, 1.0]], [[2.0, 0.0], [0.0, 2.0]], [[1.0, 0.5], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]]> : tensor<4x2x2xf64>,
    attn.share_output_maps = dense<[[[1.0, 0.0], [0.0, 1.0]], [[0.5, 0.0], [0.0, 0.5]], [[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]]> : tensor<4x2x2xf64>
  } -> tensor<1x4x4x2xf32>
  return %r : tensor<1x4x4x2xf32>
}
