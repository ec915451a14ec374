// RUN: attn-opt %s | FileCheck %s
// RUN: attn-opt %s --mlir-print-op-generic | attn-opt | FileCheck %s
// RUN: attn-opt %s --mlir-print-op-generic | FileCheck %s --check-prefix=GENERIC

// Round trip of the speculative-decode tree mask ([B, Sn, Sn] or [Sn, Sn]
// over the new tokens) and of ring caches (window layers).

// CHECK-LABEL: func.func @tree_decode
// CHECK: attn.decode heads(8, 2) scale(2.500000e-01) causal
// CHECK-SAME: positions(%{{.+}} : tensor<4xi64>)
// CHECK-SAME: tree_mask(%{{.+}} : tensor<4x3x3xi1>)
// GENERIC-LABEL: sym_name = "tree_decode"
// GENERIC: "attn.decode"
// GENERIC-SAME: operandSegmentSizes = array<i32: 1, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1>
func.func @tree_decode(%q: tensor<4x8x3x16xf32>, %k: tensor<4x2x3x16xf32>, %v: tensor<4x2x3x16xf32>, %o: tensor<4x8x3x16xf32>, %kc: tensor<4x2x64x16xf32>, %vc: tensor<4x2x64x16xf32>, %pos: tensor<4xi64>, %tree: tensor<4x3x3xi1>) -> (tensor<4x8x3x16xf32>, tensor<4x2x64x16xf32>, tensor<4x2x64x16xf32>) {
  %r:3 = attn.decode heads(8, 2) scale(0.25) causal ins(%q, %k, %v : tensor<4x8x3x16xf32>, tensor<4x2x3x16xf32>, tensor<4x2x3x16xf32>) positions(%pos : tensor<4xi64>) tree_mask(%tree : tensor<4x3x3xi1>) outs(%o, %kc, %vc : tensor<4x8x3x16xf32>, tensor<4x2x64x16xf32>, tensor<4x2x64x16xf32>) -> tensor<4x8x3x16xf32>, tensor<4x2x64x16xf32>, tensor<4x2x64x16xf32>
  return %r#0, %r#1, %r#2 : tensor<4x8x3x16xf32>, tensor<4x2x64x16xf32>, tensor<4x2x64x16xf32>
}

// A ring of 132 slots for window(127, 0) and 4 queries (W = L + Sq + 1),
// with an i8 tree shared by the batch and one position.
// CHECK-LABEL: func.func @ring_tree_decode
// CHECK: attn.decode heads(4, 4) scale(5.000000e-01) causal window(127, 0) ring
// CHECK-SAME: position(%{{[a-z0-9]+}})
// CHECK-SAME: tree_mask(%{{.+}} : memref<4x4xi8>)
// GENERIC-LABEL: sym_name = "ring_tree_decode"
// GENERIC: "attn.decode"
// GENERIC-SAME: ring
func.func @ring_tree_decode(%q: memref<2x4x4x8xf32>, %k: memref<2x4x4x8xf32>, %v: memref<2x4x4x8xf32>, %o: memref<2x4x4x8xf32>, %kc: memref<2x4x132x8xf32>, %vc: memref<2x4x132x8xf32>, %p: index, %tree: memref<4x4xi8>) {
  attn.decode heads(4, 4) scale(0.5) causal window(127, 0) ring ins(%q, %k, %v : memref<2x4x4x8xf32>, memref<2x4x4x8xf32>, memref<2x4x4x8xf32>) position(%p) tree_mask(%tree : memref<4x4xi8>) outs(%o, %kc, %vc : memref<2x4x4x8xf32>, memref<2x4x132x8xf32>, memref<2x4x132x8xf32>)
  return
}

// An int8 ring (8-bit caches compose with rings).
// CHECK-LABEL: func.func @int8_ring
// CHECK: window(15, 0) ring
// CHECK-SAME: cache_scales
func.func @int8_ring(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kc: memref<2x4x16x8xi8>, %vc: memref<2x4x16x8xi8>, %pos: memref<2xi32>, %ks: memref<2x4xf32>, %vs: memref<2x4xf32>) {
  attn.decode heads(4, 4) scale(0.5) causal window(15, 0) ring ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) positions(%pos : memref<2xi32>) outs(%o, %kc, %vc : memref<2x4x1x8xf32>, memref<2x4x16x8xi8>, memref<2x4x16x8xi8>) cache_scales(%ks, %vs : memref<2x4xf32>, memref<2x4xf32>)
  return
}
