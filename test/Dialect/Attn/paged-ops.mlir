// RUN: attn-opt %s | FileCheck %s
// RUN: attn-opt %s --mlir-print-op-generic | attn-opt | FileCheck %s
// RUN: attn-opt %s --mlir-print-op-generic | FileCheck %s --check-prefix=GENERIC

// Round trip of the paged decode: page pools [num_pages, Hkv, page_size, D]
// read through a block table [B, max_pages], with per-row positions.

// CHECK-LABEL: func.func @paged_decode
// CHECK-SAME: %[[POS:[a-z0-9]+]]: tensor<4xi32>, %[[TABLE:[a-z0-9]+]]: tensor<4x8xi32>
// CHECK: attn.decode heads(8, 2) scale(2.500000e-01) causal
// CHECK-SAME: positions(%[[POS]] : tensor<4xi32>)
// CHECK-SAME: block_table(%[[TABLE]] : tensor<4x8xi32>)
// CHECK-SAME: outs(%{{.+}}, %{{.+}}, %{{.+}} : tensor<4x8x1x16xf32>, tensor<64x2x16x16xf32>, tensor<64x2x16x16xf32>)
// GENERIC-LABEL: sym_name = "paged_decode"
// GENERIC: "attn.decode"
// GENERIC-SAME: operandSegmentSizes = array<i32: 1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 0, 0, 0>
func.func @paged_decode(%q: tensor<4x8x1x16xf32>, %k: tensor<4x2x1x16xf32>, %v: tensor<4x2x1x16xf32>, %o: tensor<4x8x1x16xf32>, %kp: tensor<64x2x16x16xf32>, %vp: tensor<64x2x16x16xf32>, %pos: tensor<4xi32>, %table: tensor<4x8xi32>) -> (tensor<4x8x1x16xf32>, tensor<64x2x16x16xf32>, tensor<64x2x16x16xf32>) {
  %r:3 = attn.decode heads(8, 2) scale(0.25) causal ins(%q, %k, %v : tensor<4x8x1x16xf32>, tensor<4x2x1x16xf32>, tensor<4x2x1x16xf32>) positions(%pos : tensor<4xi32>) block_table(%table : tensor<4x8xi32>) outs(%o, %kp, %vp : tensor<4x8x1x16xf32>, tensor<64x2x16x16xf32>, tensor<64x2x16x16xf32>) -> tensor<4x8x1x16xf32>, tensor<64x2x16x16xf32>, tensor<64x2x16x16xf32>
  return %r#0, %r#1, %r#2 : tensor<4x8x1x16xf32>, tensor<64x2x16x16xf32>, tensor<64x2x16x16xf32>
}

// On memrefs, with a window, a mask over the capacity (4 pages x 8 = 32
// positions), Dv != D, i64 table and dynamic pool and table sizes.
// CHECK-LABEL: func.func @paged_decode_memref
// CHECK: attn.decode heads(4, 4) scale(5.000000e-01) causal window(7, 0)
// CHECK-SAME: block_table(%{{.+}} : memref<2x?xi64>)
// CHECK-SAME: mask(%{{.+}} : memref<2x4x1x32xi1>)
func.func @paged_decode_memref(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x4xf32>, %o: memref<2x4x1x4xf32>, %kp: memref<?x4x8x8xf32>, %vp: memref<?x4x8x4xf32>, %pos: memref<2xi64>, %table: memref<2x?xi64>, %m: memref<2x4x1x32xi1>) {
  attn.decode heads(4, 4) scale(0.5) causal window(7, 0) ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x4xf32>) positions(%pos : memref<2xi64>) block_table(%table : memref<2x?xi64>) mask(%m : memref<2x4x1x32xi1>) outs(%o, %kp, %vp : memref<2x4x1x4xf32>, memref<?x4x8x8xf32>, memref<?x4x8x4xf32>)
  return
}
