// RUN: attn-opt %s | FileCheck %s
// RUN: attn-opt %s --mlir-print-op-generic | attn-opt | FileCheck %s
// RUN: attn-opt %s --mlir-print-op-generic | FileCheck %s --check-prefix=GENERIC

// Round trip of the serving forms: per-row decode positions and sliding
// windows, in custom and generic form.

// A ragged batch: one position per row instead of one for the batch.
// CHECK-LABEL: func.func @decode_positions_per_row
// CHECK-SAME: %[[POS:[a-z0-9]+]]: tensor<4xi64>
// CHECK: attn.decode heads(8, 2) scale(2.500000e-01) causal
// CHECK-SAME: positions(%[[POS]] : tensor<4xi64>)
// CHECK-NOT: position(
// CHECK-SAME: outs(
// GENERIC-LABEL: sym_name = "decode_positions_per_row"
// GENERIC: "attn.decode"
// GENERIC-SAME: operandSegmentSizes = array<i32: 1, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 0>
func.func @decode_positions_per_row(%q: tensor<4x8x1x16xf32>, %k: tensor<4x2x1x16xf32>, %v: tensor<4x2x1x16xf32>, %o: tensor<4x8x1x16xf32>, %kc: tensor<4x2x128x16xf32>, %vc: tensor<4x2x128x16xf32>, %pos: tensor<4xi64>) -> (tensor<4x8x1x16xf32>, tensor<4x2x128x16xf32>, tensor<4x2x128x16xf32>) {
  %r:3 = attn.decode heads(8, 2) scale(0.25) causal ins(%q, %k, %v : tensor<4x8x1x16xf32>, tensor<4x2x1x16xf32>, tensor<4x2x1x16xf32>) positions(%pos : tensor<4xi64>) outs(%o, %kc, %vc : tensor<4x8x1x16xf32>, tensor<4x2x128x16xf32>, tensor<4x2x128x16xf32>) -> tensor<4x8x1x16xf32>, tensor<4x2x128x16xf32>, tensor<4x2x128x16xf32>
  return %r#0, %r#1, %r#2 : tensor<4x8x1x16xf32>, tensor<4x2x128x16xf32>, tensor<4x2x128x16xf32>
}

// i32 positions on memrefs, with a window of 31 keys to the left.
// CHECK-LABEL: func.func @decode_positions_i32_window
// CHECK: attn.decode heads(4, 4) scale(5.000000e-01) causal window(31, 0)
// CHECK-SAME: positions(%{{.+}} : memref<2xi32>)
// GENERIC-LABEL: sym_name = "decode_positions_i32_window"
// GENERIC: window_left = 31 : i64, window_right = 0 : i64
func.func @decode_positions_i32_window(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kc: memref<2x4x64x8xf32>, %vc: memref<2x4x64x8xf32>, %pos: memref<2xi32>) {
  attn.decode heads(4, 4) scale(0.5) causal window(31, 0) ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) positions(%pos : memref<2xi32>) outs(%o, %kc, %vc : memref<2x4x1x8xf32>, memref<2x4x64x8xf32>, memref<2x4x64x8xf32>)
  return
}

// A window on attention: causal, 3 keys to the left (ORT local_window_size 4).
// CHECK-LABEL: func.func @attention_causal_window
// CHECK: attn.attention heads(8, 2) scale(2.500000e-01) causal(0) window(3, 0)
// CHECK-SAME: kv_seq_lens(%{{.+}} : tensor<1xi32>)
func.func @attention_causal_window(%q: tensor<1x8x16x16xf32>, %k: tensor<1x2x16x16xf32>, %v: tensor<1x2x16x16xf32>, %o: tensor<1x8x16x16xf32>, %l: tensor<1xi32>) -> tensor<1x8x16x16xf32> {
  %r = attn.attention heads(8, 2) scale(0.25) causal(0) window(3, 0) ins(%q, %k, %v : tensor<1x8x16x16xf32>, tensor<1x2x16x16xf32>, tensor<1x2x16x16xf32>) kv_seq_lens(%l : tensor<1xi32>) outs(%o : tensor<1x8x16x16xf32>) -> tensor<1x8x16x16xf32>
  return %r : tensor<1x8x16x16xf32>
}

// A non-causal two-sided window, unbounded on the right (-1).
// CHECK-LABEL: func.func @attention_window_unbounded_right
// CHECK: attn.attention heads(2, 1) scale(1.000000e+00) window(2, -1)
func.func @attention_window_unbounded_right(%q: tensor<1x2x4x8xf32>, %k: tensor<1x1x4x8xf32>, %v: tensor<1x1x4x8xf32>, %o: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
  %r = attn.attention heads(2, 1) scale(1.0) window(2, -1) ins(%q, %k, %v : tensor<1x2x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) outs(%o : tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  return %r : tensor<1x2x4x8xf32>
}
