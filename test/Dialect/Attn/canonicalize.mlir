// RUN: attn-opt %s -canonicalize -split-input-file | FileCheck %s

// Fold / no-fold pairs for the attn.attention canonicalisations.

// A causal offset of at least Skv - 1 masks nothing: the attribute goes.
// CHECK-LABEL: func.func @drop_noop_causal
// CHECK: attn.attention heads(4, 2) scale(2.500000e-01) ins(
func.func @drop_noop_causal(%q: tensor<1x4x1x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %o: tensor<1x4x1x16xf32>) -> tensor<1x4x1x16xf32> {
  %r = attn.attention heads(4, 2) scale(0.25) causal(7) ins(%q, %k, %v : tensor<1x4x1x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) outs(%o : tensor<1x4x1x16xf32>) -> tensor<1x4x1x16xf32>
  return %r : tensor<1x4x1x16xf32>
}

// -----

// Near miss: offset Skv - 2 still hides the last key from row 0.
// CHECK-LABEL: func.func @keep_causal
// CHECK: attn.attention heads(4, 2) scale(2.500000e-01) causal(6)
func.func @keep_causal(%q: tensor<1x4x1x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %o: tensor<1x4x1x16xf32>) -> tensor<1x4x1x16xf32> {
  %r = attn.attention heads(4, 2) scale(0.25) causal(6) ins(%q, %k, %v : tensor<1x4x1x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) outs(%o : tensor<1x4x1x16xf32>) -> tensor<1x4x1x16xf32>
  return %r : tensor<1x4x1x16xf32>
}

// -----

// Near miss: a window stands at the causal offset (query row i at i + N), so
// the offset stays even when it masks nothing itself.
// CHECK-LABEL: func.func @keep_causal_window
// CHECK: causal(7) window(3, 0)
func.func @keep_causal_window(%q: tensor<1x4x1x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %o: tensor<1x4x1x16xf32>) -> tensor<1x4x1x16xf32> {
  %r = attn.attention heads(4, 2) scale(0.25) causal(7) window(3, 0) ins(%q, %k, %v : tensor<1x4x1x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) outs(%o : tensor<1x4x1x16xf32>) -> tensor<1x4x1x16xf32>
  return %r : tensor<1x4x1x16xf32>
}

// -----

// Near miss: with a dynamic key length nothing is known about the offset.
// CHECK-LABEL: func.func @keep_causal_dynamic
// CHECK: causal(100)
func.func @keep_causal_dynamic(%q: tensor<1x4x1x16xf32>, %k: tensor<1x2x?x16xf32>, %v: tensor<1x2x?x16xf32>, %o: tensor<1x4x1x16xf32>) -> tensor<1x4x1x16xf32> {
  %r = attn.attention heads(4, 2) scale(0.25) causal(100) ins(%q, %k, %v : tensor<1x4x1x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>) outs(%o : tensor<1x4x1x16xf32>) -> tensor<1x4x1x16xf32>
  return %r : tensor<1x4x1x16xf32>
}

// -----

// An all-true boolean mask keeps every key: the mask goes.
// CHECK-LABEL: func.func @drop_all_true_mask
// CHECK-NOT: mask(
// CHECK: attn.attention
// CHECK-NOT: mask(
func.func @drop_all_true_mask(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %o: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  %m = arith.constant dense<true> : tensor<8x8xi1>
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) mask(%m : tensor<8x8xi1>) outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

// An all-zero additive mask adds nothing: the mask goes.
// CHECK-LABEL: func.func @drop_zero_additive_mask
// CHECK-NOT: mask(
func.func @drop_zero_additive_mask(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %o: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  %m = arith.constant dense<0.0> : tensor<1x1x8x8xf32>
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) mask(%m : tensor<1x1x8x8xf32>) outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

// Near miss: an all-false mask masks every key and must stay (rows give 0).
// CHECK-LABEL: func.func @keep_all_false_mask
// CHECK: mask(%{{.+}} : tensor<8x8xi1>)
func.func @keep_all_false_mask(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %o: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  %m = arith.constant dense<false> : tensor<8x8xi1>
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) mask(%m : tensor<8x8xi1>) outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

// Near miss: a non-splat constant mask must stay.
// CHECK-LABEL: func.func @keep_nonsplat_mask
// CHECK: mask(%{{.+}} : tensor<1x2xf32>)
func.func @keep_nonsplat_mask(%q: tensor<1x4x1x16xf32>, %k: tensor<1x2x2x16xf32>, %v: tensor<1x2x2x16xf32>, %o: tensor<1x4x1x16xf32>) -> tensor<1x4x1x16xf32> {
  %m = arith.constant dense<[[0.0, -1.0]]> : tensor<1x2xf32>
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<1x4x1x16xf32>, tensor<1x2x2x16xf32>, tensor<1x2x2x16xf32>) mask(%m : tensor<1x2xf32>) outs(%o : tensor<1x4x1x16xf32>) -> tensor<1x4x1x16xf32>
  return %r : tensor<1x4x1x16xf32>
}
