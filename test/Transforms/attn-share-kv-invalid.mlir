// RUN: attn-opt %s -split-input-file -attn-share-kv="kv-heads=4 method=calibrated" -verify-diagnostics
// RUN: not attn-opt %s -attn-share-kv="kv-heads=2 method=median" 2>&1 | FileCheck %s --check-prefix=METHOD
// RUN: not attn-opt %s -attn-share-kv="kv-heads=-2" 2>&1 | FileCheck %s --check-prefix=NEGATIVE

// An unknown method and a negative head count are errors before anything
// changes.
// METHOD: unknown method 'median' (expected mean, exact, calibrated or aligned)
// NEGATIVE: attn-share-kv: kv-heads=-2 must be positive (0 leaves attention alone)

// kv-heads must divide the query and KV heads: 4 does not divide 6.
func.func @target_not_dividing(%q: tensor<1x6x4x16xf32>, %k: tensor<1x6x6x16xf32>, %v: tensor<1x6x6x16xf32>) -> tensor<1x6x4x16xf32> {
  %o = tensor.empty() : tensor<1x6x4x16xf32>
  // expected-error @+1 {{kv-heads=4 must divide the query heads (6) and the KV heads (6)}}
  %r = attn.attention heads(6, 6) scale(0.25) ins(%q, %k, %v : tensor<1x6x4x16xf32>, tensor<1x6x6x16xf32>, tensor<1x6x6x16xf32>) outs(%o : tensor<1x6x4x16xf32>) -> tensor<1x6x4x16xf32>
  return %r : tensor<1x6x4x16xf32>
}

// -----

// method=calibrated without the calibration results on the op.
func.func @calibrated_without_weights(%q: tensor<1x8x4x16xf32>, %k: tensor<1x8x6x16xf32>, %v: tensor<1x8x6x16xf32>) -> tensor<1x8x4x16xf32> {
  %o = tensor.empty() : tensor<1x8x4x16xf32>
  // expected-error @+1 {{method=calibrated needs the calibration weights 'attn.share_key_weights' and 'attn.share_value_weights' (one per KV head) on the op}}
  %r = attn.attention heads(8, 8) scale(0.25) ins(%q, %k, %v : tensor<1x8x4x16xf32>, tensor<1x8x6x16xf32>, tensor<1x8x6x16xf32>) outs(%o : tensor<1x8x4x16xf32>) -> tensor<1x8x4x16xf32>
  return %r : tensor<1x8x4x16xf32>
}
