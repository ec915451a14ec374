// RUN: attn-opt %s | FileCheck %s
// RUN: attn-opt %s --mlir-print-op-generic | attn-opt | FileCheck %s

// Round trip of attn.decode with 8-bit caches (int8, fp8 E4M3) and their
// per (batch row, KV head) f32 scales, and of a narrower float cache.

// CHECK-LABEL: func.func @decode_int8_cache
// CHECK: attn.decode heads(8, 2) scale(2.500000e-01) causal
// CHECK-SAME: outs(%{{.*}}, %{{.*}}, %{{.*}} : tensor<2x8x1x16xf32>, tensor<2x2x128x16xi8>, tensor<2x2x128x16xi8>)
// CHECK-SAME: cache_scales(%{{.*}}, %{{.*}} : tensor<2x2xf32>, tensor<2x2xf32>)
func.func @decode_int8_cache(%q: tensor<2x8x1x16xf32>, %k: tensor<2x2x1x16xf32>, %v: tensor<2x2x1x16xf32>, %o: tensor<2x8x1x16xf32>, %kc: tensor<2x2x128x16xi8>, %vc: tensor<2x2x128x16xi8>, %ks: tensor<2x2xf32>, %vs: tensor<2x2xf32>, %p: index) -> (tensor<2x8x1x16xf32>, tensor<2x2x128x16xi8>, tensor<2x2x128x16xi8>) {
  %r:3 = attn.decode heads(8, 2) scale(0.25) causal ins(%q, %k, %v : tensor<2x8x1x16xf32>, tensor<2x2x1x16xf32>, tensor<2x2x1x16xf32>) position(%p) outs(%o, %kc, %vc : tensor<2x8x1x16xf32>, tensor<2x2x128x16xi8>, tensor<2x2x128x16xi8>) cache_scales(%ks, %vs : tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x8x1x16xf32>, tensor<2x2x128x16xi8>, tensor<2x2x128x16xi8>
  return %r#0, %r#1, %r#2 : tensor<2x8x1x16xf32>, tensor<2x2x128x16xi8>, tensor<2x2x128x16xi8>
}

// CHECK-LABEL: func.func @decode_fp8_cache_positions_window
// CHECK: attn.decode heads(4, 1) scale(5.000000e-01) causal window(31, 0)
// CHECK-SAME: positions(%{{.*}} : memref<3xi64>)
// CHECK-SAME: memref<3x1x64x8xf8E4M3FN>, memref<3x1x64x8xf8E4M3FN>)
// CHECK-SAME: cache_scales(%{{.*}}, %{{.*}} : memref<3x1xf32>, memref<3x1xf32>)
func.func @decode_fp8_cache_positions_window(%q: memref<3x4x1x8xf16>, %k: memref<3x1x1x8xf16>, %v: memref<3x1x1x8xf16>, %o: memref<3x4x1x8xf16>, %kc: memref<3x1x64x8xf8E4M3FN>, %vc: memref<3x1x64x8xf8E4M3FN>, %ks: memref<3x1xf32>, %vs: memref<3x1xf32>, %pos: memref<3xi64>) {
  attn.decode heads(4, 1) scale(0.5) causal window(31, 0) ins(%q, %k, %v : memref<3x4x1x8xf16>, memref<3x1x1x8xf16>, memref<3x1x1x8xf16>) positions(%pos : memref<3xi64>) outs(%o, %kc, %vc : memref<3x4x1x8xf16>, memref<3x1x64x8xf8E4M3FN>, memref<3x1x64x8xf8E4M3FN>) cache_scales(%ks, %vs : memref<3x1xf32>, memref<3x1xf32>)
  return
}

// A float cache narrower than the queries takes no scales.
// CHECK-LABEL: func.func @decode_f16_cache_f32_query
// CHECK: memref<1x2x32x8xf16>, memref<1x2x32x8xf16>)
// CHECK-NOT: cache_scales
func.func @decode_f16_cache_f32_query(%q: memref<1x2x1x8xf32>, %k: memref<1x2x1x8xf32>, %v: memref<1x2x1x8xf32>, %o: memref<1x2x1x8xf32>, %kc: memref<1x2x32x8xf16>, %vc: memref<1x2x32x8xf16>, %p: index) {
  attn.decode heads(2, 2) scale(0.5) ins(%q, %k, %v : memref<1x2x1x8xf32>, memref<1x2x1x8xf32>, memref<1x2x1x8xf32>) position(%p) outs(%o, %kc, %vc : memref<1x2x1x8xf32>, memref<1x2x32x8xf16>, memref<1x2x32x8xf16>)
  return
}
