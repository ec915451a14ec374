// RUN: attn-opt %s --split-input-file \
// RUN:   --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" \
// RUN:   | FileCheck %s

// attn.decode writes the caches it was given: with writable cache arguments
// the memref op appends into those very buffers, no copy and no allocation
// for them; only the fresh output gets a buffer. Its results are the cache
// arguments themselves.

// CHECK-LABEL: func.func @decode_in_place(
// CHECK-SAME:    %[[Q:[^:]+]]: memref<1x8x1x16xf32>, %[[K:[^:]+]]: memref<1x2x1x16xf32>,
// CHECK-SAME:    %[[V:[^:]+]]: memref<1x2x1x16xf32>, %[[POS:[^:]+]]: index,
// CHECK-SAME:    %[[KC:[^:]+]]: memref<1x2x128x16xf32>, %[[VC:[^:]+]]: memref<1x2x128x16xf32>)
// CHECK-NOT:     memref.copy
// CHECK:         %[[OUT:.+]] = memref.alloc() {{.*}} : memref<1x8x1x16xf32>
// CHECK-NOT:     memref.copy
// CHECK-NOT:     memref.alloc
// CHECK:         attn.decode heads(8, 2) scale({{[^)]+}}) causal
// CHECK-SAME:      ins(%[[Q]], %[[K]], %[[V]] :
// CHECK-SAME:      position(%[[POS]])
// CHECK-SAME:      outs(%[[OUT]], %[[KC]], %[[VC]] :
// CHECK-NOT:     memref.copy
// CHECK:         return %[[OUT]], %[[KC]], %[[VC]]
func.func @decode_in_place(
    %q: tensor<1x8x1x16xf32>, %k: tensor<1x2x1x16xf32>,
    %v: tensor<1x2x1x16xf32>, %pos: index,
    %kc: tensor<1x2x128x16xf32>, %vc: tensor<1x2x128x16xf32>)
    -> (tensor<1x8x1x16xf32>, tensor<1x2x128x16xf32>, tensor<1x2x128x16xf32>) {
  %init = tensor.empty() : tensor<1x8x1x16xf32>
  %o, %kc2, %vc2 = attn.decode heads(8, 2) scale(0.25) causal
      ins(%q, %k, %v : tensor<1x8x1x16xf32>, tensor<1x2x1x16xf32>,
                       tensor<1x2x1x16xf32>)
      position(%pos)
      outs(%init, %kc, %vc : tensor<1x8x1x16xf32>, tensor<1x2x128x16xf32>,
                             tensor<1x2x128x16xf32>)
      -> tensor<1x8x1x16xf32>, tensor<1x2x128x16xf32>, tensor<1x2x128x16xf32>
  return %o, %kc2, %vc2
      : tensor<1x8x1x16xf32>, tensor<1x2x128x16xf32>, tensor<1x2x128x16xf32>
}

// -----

// Near miss: the old key cache is read after the decode, so appending in
// place would clobber it. Only then does the key cache get a private copy;
// the value cache, not read again, is still updated in place.

// CHECK-LABEL: func.func @decode_old_cache_read_later(
// CHECK-SAME:    %[[KC:[^:]+]]: memref<1x1x64x16xf32>, %[[VC:[^:]+]]: memref<1x1x64x16xf32>)
// CHECK:         %[[KCOPY:.+]] = memref.alloc() {{.*}} : memref<1x1x64x16xf32>
// CHECK:         memref.copy %[[KC]], %[[KCOPY]]
// CHECK-NOT:     memref.copy
// CHECK:         attn.decode
// CHECK-SAME:      outs(%{{[^,]+}}, %[[KCOPY]], %[[VC]] :
// CHECK:         memref.load %[[KC]]
func.func @decode_old_cache_read_later(
    %q: tensor<1x2x1x16xf32>, %k: tensor<1x1x1x16xf32>,
    %v: tensor<1x1x1x16xf32>, %pos: index,
    %kc: tensor<1x1x64x16xf32>, %vc: tensor<1x1x64x16xf32>)
    -> (tensor<1x2x1x16xf32>, tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32>, f32) {
  %init = tensor.empty() : tensor<1x2x1x16xf32>
  %o, %kc2, %vc2 = attn.decode heads(2, 1) scale(0.25)
      ins(%q, %k, %v : tensor<1x2x1x16xf32>, tensor<1x1x1x16xf32>,
                       tensor<1x1x1x16xf32>)
      position(%pos)
      outs(%init, %kc, %vc : tensor<1x2x1x16xf32>, tensor<1x1x64x16xf32>,
                             tensor<1x1x64x16xf32>)
      -> tensor<1x2x1x16xf32>, tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32>
  %c0 = arith.constant 0 : index
  %old = tensor.extract %kc[%c0, %c0, %pos, %c0] : tensor<1x1x64x16xf32>
  return %o, %kc2, %vc2, %old
      : tensor<1x2x1x16xf32>, tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32>, f32
}

// -----

// attn.attention becomes the same op on memrefs writing a new buffer for its
// destination (tensor.empty is never read, so nothing is copied into it);
// mask and kv_seq_lens operands are read in place.

// CHECK-LABEL: func.func @attention(
// CHECK-SAME:    %[[Q:[^:]+]]: memref<2x4x3x8xf16>, %[[K:[^:]+]]: memref<2x2x5x8xf16>,
// CHECK-SAME:    %[[V:[^:]+]]: memref<2x2x5x8xf16>, %[[M:[^:]+]]: memref<3x5xi1>,
// CHECK-SAME:    %[[L:[^:]+]]: memref<2xi64>)
// CHECK-NOT:     memref.copy
// CHECK:         %[[OUT:.+]] = memref.alloc() {{.*}} : memref<2x4x3x8xf16>
// CHECK-NEXT:    attn.attention heads(4, 2) scale({{[^)]+}}) causal(2) softcap({{[^)]+}})
// CHECK-SAME:      ins(%[[Q]], %[[K]], %[[V]] :
// CHECK-SAME:      mask(%[[M]] : memref<3x5xi1>) kv_seq_lens(%[[L]] : memref<2xi64>)
// CHECK-SAME:      outs(%[[OUT]] : memref<2x4x3x8xf16>)
// CHECK-NOT:     ->
// CHECK:         return %[[OUT]]
func.func @attention(%q: tensor<2x4x3x8xf16>, %k: tensor<2x2x5x8xf16>,
                     %v: tensor<2x2x5x8xf16>, %m: tensor<3x5xi1>,
                     %lens: tensor<2xi64>) -> tensor<2x4x3x8xf16> {
  %init = tensor.empty() : tensor<2x4x3x8xf16>
  %o = attn.attention heads(4, 2) scale(0.35) causal(2) softcap(20.0)
      ins(%q, %k, %v : tensor<2x4x3x8xf16>, tensor<2x2x5x8xf16>,
                       tensor<2x2x5x8xf16>)
      mask(%m : tensor<3x5xi1>) kv_seq_lens(%lens : tensor<2xi64>)
      outs(%init : tensor<2x4x3x8xf16>) -> tensor<2x4x3x8xf16>
  return %o : tensor<2x4x3x8xf16>
}
