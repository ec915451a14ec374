// RUN: attn-opt %s -split-input-file -attn-kv-cache-type=type=int8 | FileCheck %s --check-prefix=INT8
// RUN: attn-opt %s -split-input-file -attn-kv-cache-type=type=fp8 | FileCheck %s --check-prefix=FP8
// RUN: attn-opt %s -split-input-file -attn-kv-cache-type=type=bf16 | FileCheck %s --check-prefix=BF16
// RUN: attn-opt %s -split-input-file -attn-kv-cache-type=type=f32 | FileCheck %s --check-prefix=F32

// A fused decode step (GQA 8/2, batch 2): the tied cache arguments, the
// op's cache results and the function's results change type together;
// 8-bit caches gain [B, Hkv] f32 scale arguments named after the key cache.
// INT8-LABEL: func.func @step
// INT8-SAME: %[[KC:[a-z0-9]+]]: tensor<2x2x64x16xi8> {attn.name = "past.0.key", attn.tied_result = 1 : i64
// INT8-SAME: %[[VC:[a-z0-9]+]]: tensor<2x2x64x16xi8> {attn.name = "past.0.value", attn.tied_result = 2 : i64
// INT8-SAME: %[[KS:[a-z0-9]+]]: tensor<2x2xf32> {attn.name = "past.0.key.key_scale"}
// INT8-SAME: %[[VS:[a-z0-9]+]]: tensor<2x2xf32> {attn.name = "past.0.key.value_scale"}
// INT8-SAME: -> (tensor<2x8x1x16xf32>, tensor<2x2x64x16xi8>, tensor<2x2x64x16xi8>)
// INT8: %[[D:.+]]:3 = attn.decode heads(8, 2) scale(2.500000e-01) causal
// INT8-SAME: outs(%{{.+}}, %[[KC]], %[[VC]] : tensor<2x8x1x16xf32>, tensor<2x2x64x16xi8>, tensor<2x2x64x16xi8>)
// INT8-SAME: cache_scales(%[[KS]], %[[VS]] : tensor<2x2xf32>, tensor<2x2xf32>)
// INT8: return %[[D]]#0, %[[D]]#1, %[[D]]#2
// FP8-LABEL: func.func @step
// FP8-SAME: tensor<2x2x64x16xf8E4M3FN>
// FP8: attn.decode
// FP8-SAME: cache_scales(
// BF16-LABEL: func.func @step
// BF16-SAME: tensor<2x2x64x16xbf16>
// BF16-NOT: _scale
// BF16-SAME: -> (tensor<2x8x1x16xf32>, tensor<2x2x64x16xbf16>, tensor<2x2x64x16xbf16>)
// BF16: attn.decode
// BF16-NOT: cache_scales
// F32-LABEL: func.func @step
// F32-SAME: tensor<2x2x64x16xf32>
// F32-NOT: cache_scales
func.func @step(%q: tensor<2x8x1x16xf32>, %k: tensor<2x2x1x16xf32>, %v: tensor<2x2x1x16xf32>, %kc: tensor<2x2x64x16xf32> {attn.name = "past.0.key", attn.tied_result = 1 : i64, bufferization.writable = true}, %vc: tensor<2x2x64x16xf32> {attn.name = "past.0.value", attn.tied_result = 2 : i64, bufferization.writable = true}, %pos: tensor<i64> {attn.name = "cache_position"}) -> (tensor<2x8x1x16xf32>, tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32>) {
  %p = tensor.extract %pos[] : tensor<i64>
  %i = arith.index_cast %p : i64 to index
  %o = tensor.empty() : tensor<2x8x1x16xf32>
  %r:3 = attn.decode heads(8, 2) scale(0.25) causal ins(%q, %k, %v : tensor<2x8x1x16xf32>, tensor<2x2x1x16xf32>, tensor<2x2x1x16xf32>) position(%i) outs(%o, %kc, %vc : tensor<2x8x1x16xf32>, tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32>) -> tensor<2x8x1x16xf32>, tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32>
  return %r#0, %r#1, %r#2 : tensor<2x8x1x16xf32>, tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32>
}

// -----

// Two layers: each op gets its own pair of scales, in op order.
// INT8-LABEL: func.func @two_layers
// INT8-SAME: {attn.name = "l0.key.key_scale"}
// INT8-SAME: {attn.name = "l0.key.value_scale"}
// INT8-SAME: {attn.name = "l1.key.key_scale"}
// INT8-SAME: {attn.name = "l1.key.value_scale"}
// INT8-COUNT-2: cache_scales(
func.func @two_layers(%q: tensor<1x2x1x8xf32>, %k: tensor<1x2x1x8xf32>, %v: tensor<1x2x1x8xf32>, %k0: tensor<1x2x32x8xf32> {attn.name = "l0.key", attn.tied_result = 1 : i64}, %v0: tensor<1x2x32x8xf32> {attn.name = "l0.value", attn.tied_result = 2 : i64}, %k1: tensor<1x2x32x8xf32> {attn.name = "l1.key", attn.tied_result = 3 : i64}, %v1: tensor<1x2x32x8xf32> {attn.name = "l1.value", attn.tied_result = 4 : i64}, %i: index) -> (tensor<1x2x1x8xf32>, tensor<1x2x32x8xf32>, tensor<1x2x32x8xf32>, tensor<1x2x32x8xf32>, tensor<1x2x32x8xf32>) {
  %o = tensor.empty() : tensor<1x2x1x8xf32>
  %a:3 = attn.decode heads(2, 2) scale(0.5) ins(%q, %k, %v : tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>) position(%i) outs(%o, %k0, %v0 : tensor<1x2x1x8xf32>, tensor<1x2x32x8xf32>, tensor<1x2x32x8xf32>) -> tensor<1x2x1x8xf32>, tensor<1x2x32x8xf32>, tensor<1x2x32x8xf32>
  %b:3 = attn.decode heads(2, 2) scale(0.5) ins(%a#0, %k, %v : tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>) position(%i) outs(%o, %k1, %v1 : tensor<1x2x1x8xf32>, tensor<1x2x32x8xf32>, tensor<1x2x32x8xf32>) -> tensor<1x2x1x8xf32>, tensor<1x2x32x8xf32>, tensor<1x2x32x8xf32>
  return %b#0, %a#1, %a#2, %b#1, %b#2 : tensor<1x2x1x8xf32>, tensor<1x2x32x8xf32>, tensor<1x2x32x8xf32>, tensor<1x2x32x8xf32>, tensor<1x2x32x8xf32>
}
