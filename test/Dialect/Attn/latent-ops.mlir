// RUN: attn-opt %s | FileCheck %s
// RUN: attn-opt %s --mlir-print-op-generic | attn-opt | FileCheck %s

// Round trip of the latent (MLA) decode: key_cache holds the latent
// [B, 1, Smax, r], value_cache the rotary key [B, 1, Smax, rope]; the query
// is r + rope wide, the output r.

// CHECK-LABEL: func.func @latent_decode
// CHECK: attn.decode heads(4, 1) scale(2.500000e-01) causal latent(16)
// CHECK-SAME: outs(%{{.+}}, %{{.+}}, %{{.+}} : tensor<2x4x1x16xf32>, tensor<2x1x64x16xf32>, tensor<2x1x64x4xf32>)
func.func @latent_decode(%q: tensor<2x4x1x20xf32>, %c: tensor<2x1x1x16xf32>, %r: tensor<2x1x1x4xf32>, %o: tensor<2x4x1x16xf32>, %lc: tensor<2x1x64x16xf32>, %rc: tensor<2x1x64x4xf32>, %p: index) -> (tensor<2x4x1x16xf32>, tensor<2x1x64x16xf32>, tensor<2x1x64x4xf32>) {
  %res:3 = attn.decode heads(4, 1) scale(0.25) causal latent(16) ins(%q, %c, %r : tensor<2x4x1x20xf32>, tensor<2x1x1x16xf32>, tensor<2x1x1x4xf32>) position(%p) outs(%o, %lc, %rc : tensor<2x4x1x16xf32>, tensor<2x1x64x16xf32>, tensor<2x1x64x4xf32>) -> tensor<2x4x1x16xf32>, tensor<2x1x64x16xf32>, tensor<2x1x64x4xf32>
  return %res#0, %res#1, %res#2 : tensor<2x4x1x16xf32>, tensor<2x1x64x16xf32>, tensor<2x1x64x4xf32>
}

// Per-row positions and a window work as on the plain form.
// CHECK-LABEL: func.func @latent_positions
// CHECK: attn.decode heads(8, 1) scale(5.000000e-01) causal window(31, 0) latent(8)
// CHECK-SAME: positions(%{{.+}} : memref<2xi64>)
func.func @latent_positions(%q: memref<2x8x2x10xf32>, %c: memref<2x1x2x8xf32>, %r: memref<2x1x2x2xf32>, %o: memref<2x8x2x8xf32>, %lc: memref<2x1x64x8xf32>, %rc: memref<2x1x64x2xf32>, %pos: memref<2xi64>) {
  attn.decode heads(8, 1) scale(0.5) causal window(31, 0) latent(8) ins(%q, %c, %r : memref<2x8x2x10xf32>, memref<2x1x2x8xf32>, memref<2x1x2x2xf32>) positions(%pos : memref<2xi64>) outs(%o, %lc, %rc : memref<2x8x2x8xf32>, memref<2x1x64x8xf32>, memref<2x1x64x2xf32>)
  return
}
