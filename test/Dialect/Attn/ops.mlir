// RUN: attn-opt %s | FileCheck %s
// RUN: attn-opt %s --mlir-print-op-generic | attn-opt | FileCheck %s
// RUN: attn-opt %s --mlir-print-op-generic | FileCheck %s --check-prefix=GENERIC

// Round trip of every optional piece of both ops, in custom and generic form.

// Grouped-query attention: the printed op states 8 query heads over 2 KV heads.
// CHECK-LABEL: func.func @gqa_causal_bool_mask
// CHECK-SAME: (%[[Q:.+]]: tensor<1x8x16x16xf32>, %[[K:.+]]: tensor<1x2x16x16xf32>, %[[V:.+]]: tensor<1x2x16x16xf32>, %[[O:.+]]: tensor<1x8x16x16xf32>, %[[M:.+]]: tensor<16x16xi1>)
// CHECK: attn.attention heads(8, 2) scale(2.500000e-01) causal(0)
// CHECK-SAME: ins(%[[Q]], %[[K]], %[[V]] :
// CHECK-SAME: mask(%[[M]] : tensor<16x16xi1>)
// CHECK-SAME: outs(%[[O]] : tensor<1x8x16x16xf32>) -> tensor<1x8x16x16xf32>
// GENERIC-LABEL: sym_name = "gqa_causal_bool_mask"
// GENERIC: "attn.attention"
// GENERIC-SAME: causal_offset = 0 : i64
// GENERIC-SAME: kv_heads = 2 : i64
// GENERIC-SAME: q_heads = 8 : i64
func.func @gqa_causal_bool_mask(%q: tensor<1x8x16x16xf32>, %k: tensor<1x2x16x16xf32>, %v: tensor<1x2x16x16xf32>, %o: tensor<1x8x16x16xf32>, %m: tensor<16x16xi1>) -> tensor<1x8x16x16xf32> {
  %r = attn.attention heads(8, 2) scale(0.25) causal(0) ins(%q, %k, %v : tensor<1x8x16x16xf32>, tensor<1x2x16x16xf32>, tensor<1x2x16x16xf32>) mask(%m : tensor<16x16xi1>) outs(%o : tensor<1x8x16x16xf32>) -> tensor<1x8x16x16xf32>
  return %r : tensor<1x8x16x16xf32>
}

// Multi-query attention with 71 query heads over one KV head, softcap, a 4-D
// additive mask that broadcasts over heads, per-batch KV lengths and a value
// head size different from the query's.
// CHECK-LABEL: func.func @mqa_71_softcap_lengths
// CHECK: attn.attention heads(71, 1) scale(1.250000e-01) softcap(3.000000e+01)
// CHECK-SAME: mask(%{{.+}} : tensor<2x1x3x40xf16>)
// CHECK-SAME: kv_seq_lens(%{{.+}} : tensor<2xi64>)
// CHECK-SAME: -> tensor<2x71x3x32xf16>
func.func @mqa_71_softcap_lengths(%q: tensor<2x71x3x64xf16>, %k: tensor<2x1x40x64xf16>, %v: tensor<2x1x40x32xf16>, %o: tensor<2x71x3x32xf16>, %m: tensor<2x1x3x40xf16>, %l: tensor<2xi64>) -> tensor<2x71x3x32xf16> {
  %r = attn.attention heads(71, 1) scale(0.125) softcap(30.0) ins(%q, %k, %v : tensor<2x71x3x64xf16>, tensor<2x1x40x64xf16>, tensor<2x1x40x32xf16>) mask(%m : tensor<2x1x3x40xf16>) kv_seq_lens(%l : tensor<2xi64>) outs(%o : tensor<2x71x3x32xf16>) -> tensor<2x71x3x32xf16>
  return %r : tensor<2x71x3x32xf16>
}

// 9 query heads over 3 KV heads, dynamic sequence lengths, 3-D mask.
// CHECK-LABEL: func.func @gqa_9_3_dynamic
// CHECK: attn.attention heads(9, 3) scale(1.000000e+00) causal(4)
// CHECK-SAME: mask(%{{.+}} : tensor<9x?x?xbf16>)
func.func @gqa_9_3_dynamic(%q: tensor<1x9x?x8xbf16>, %k: tensor<1x3x?x8xbf16>, %v: tensor<1x3x?x8xbf16>, %o: tensor<1x9x?x8xbf16>, %m: tensor<9x?x?xbf16>) -> tensor<1x9x?x8xbf16> {
  %r = attn.attention heads(9, 3) scale(1.0) causal(4) ins(%q, %k, %v : tensor<1x9x?x8xbf16>, tensor<1x3x?x8xbf16>, tensor<1x3x?x8xbf16>) mask(%m : tensor<9x?x?xbf16>) outs(%o : tensor<1x9x?x8xbf16>) -> tensor<1x9x?x8xbf16>
  return %r : tensor<1x9x?x8xbf16>
}

// The memref form has no results and writes its destination.
// CHECK-LABEL: func.func @attention_on_memrefs
// CHECK: attn.attention heads(4, 4) scale(5.000000e-01)
// CHECK-SAME: outs(%{{.+}} : memref<1x4x1x8xf32>)
// CHECK-NOT: ->
func.func @attention_on_memrefs(%q: memref<1x4x1x8xf32>, %k: memref<1x4x32x8xf32>, %v: memref<1x4x32x8xf32>, %o: memref<1x4x1x8xf32>) {
  attn.attention heads(4, 4) scale(0.5) ins(%q, %k, %v : memref<1x4x1x8xf32>, memref<1x4x32x8xf32>, memref<1x4x32x8xf32>) outs(%o : memref<1x4x1x8xf32>)
  return
}

// The decode form on tensors returns the output and both updated caches.
// CHECK-LABEL: func.func @decode_on_tensors
// CHECK-SAME: %[[POS:[a-z0-9]+]]: index
// CHECK: %{{.+}}:3 = attn.decode heads(8, 2) scale(2.500000e-01) causal
// CHECK-SAME: position(%[[POS]])
// CHECK-SAME: -> tensor<1x8x1x16xf32>, tensor<1x2x128x16xf32>, tensor<1x2x128x16xf32>
func.func @decode_on_tensors(%q: tensor<1x8x1x16xf32>, %k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %o: tensor<1x8x1x16xf32>, %kc: tensor<1x2x128x16xf32>, %vc: tensor<1x2x128x16xf32>, %pos: index) -> (tensor<1x8x1x16xf32>, tensor<1x2x128x16xf32>, tensor<1x2x128x16xf32>) {
  %r:3 = attn.decode heads(8, 2) scale(0.25) causal ins(%q, %k, %v : tensor<1x8x1x16xf32>, tensor<1x2x1x16xf32>, tensor<1x2x1x16xf32>) position(%pos) outs(%o, %kc, %vc : tensor<1x8x1x16xf32>, tensor<1x2x128x16xf32>, tensor<1x2x128x16xf32>) -> tensor<1x8x1x16xf32>, tensor<1x2x128x16xf32>, tensor<1x2x128x16xf32>
  return %r#0, %r#1, %r#2 : tensor<1x8x1x16xf32>, tensor<1x2x128x16xf32>, tensor<1x2x128x16xf32>
}

// The decode form on memrefs, with a mask over the whole cache and softcap.
// CHECK-LABEL: func.func @decode_on_memrefs
// CHECK: attn.decode heads(32, 1) scale(6.250000e-02) softcap(5.000000e+01)
// CHECK-SAME: mask(%{{.+}} : memref<1x1x4x256xi1>)
// CHECK-SAME: outs(%{{.+}}, %{{.+}}, %{{.+}} : memref<1x32x4x128xf16>, memref<1x1x256x128xf16>, memref<1x1x256x128xf16>)
func.func @decode_on_memrefs(%q: memref<1x32x4x128xf16>, %k: memref<1x1x4x128xf16>, %v: memref<1x1x4x128xf16>, %o: memref<1x32x4x128xf16>, %kc: memref<1x1x256x128xf16>, %vc: memref<1x1x256x128xf16>, %pos: index, %m: memref<1x1x4x256xi1>) {
  attn.decode heads(32, 1) scale(0.0625) softcap(50.0) ins(%q, %k, %v : memref<1x32x4x128xf16>, memref<1x1x4x128xf16>, memref<1x1x4x128xf16>) position(%pos) mask(%m : memref<1x1x4x256xi1>) outs(%o, %kc, %vc : memref<1x32x4x128xf16>, memref<1x1x256x128xf16>, memref<1x1x256x128xf16>)
  return
}
