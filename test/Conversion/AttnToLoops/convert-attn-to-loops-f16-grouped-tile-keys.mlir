// RUN: attn-opt %s --split-input-file \
// RUN:   --convert-attn-to-loops="row-lanes=16 f16-grouped-tile-keys=128" \
// RUN:   | FileCheck %s
// RUN: attn-opt %s --split-input-file \
// RUN:   --convert-attn-to-loops="row-lanes=16 f16-grouped-tile-keys=128 grouped-tile-keys=64" \
// RUN:   | FileCheck %s --check-prefix=BOTH

// f16-grouped-tile-keys (attn-compile sets 128 on AMD Zen 4): GQA decode in
// the periodic layout with 4 or more query heads per KV head on an f16 key
// cache takes online-softmax tiles of that many keys; G 2 on f16, and bf16
// or f32 caches, keep grouped-tile-keys' tiles (32 without it).

// CHECK-LABEL: func.func @decode_gqa4_f16(
// CHECK:         scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c128 {
// CHECK:           scf.for %{{.+}} = %c0 to %c128 step %c4 {
// BOTH-LABEL: func.func @decode_gqa4_f16(
// BOTH:         scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c128 {
func.func @decode_gqa4_f16(%q: memref<1x32x1x128xf32>, %k: memref<1x8x1x128xf32>,
    %v: memref<1x8x1x128xf32>, %pos: index, %o: memref<1x32x1x128xf32>,
    %kc: memref<1x8x4000x128xf16>, %vc: memref<1x8x4000x128xf16>) {
  attn.decode heads(32, 8) scale(0.125)
    ins(%q, %k, %v : memref<1x32x1x128xf32>, memref<1x8x1x128xf32>,
                     memref<1x8x1x128xf32>)
    position(%pos)
    outs(%o, %kc, %vc : memref<1x32x1x128xf32>, memref<1x8x4000x128xf16>,
                        memref<1x8x4000x128xf16>)
  return
}

// -----

// CHECK-LABEL: func.func @decode_gqa8_f16(
// CHECK:         scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c128 {
// CHECK:           scf.for %{{.+}} = %c0 to %c128 step %c2 {
func.func @decode_gqa8_f16(%q: memref<2x32x1x128xf32>, %k: memref<2x4x1x128xf32>,
    %v: memref<2x4x1x128xf32>, %pos: index, %o: memref<2x32x1x128xf32>,
    %kc: memref<2x4x4000x128xf16>, %vc: memref<2x4x4000x128xf16>) {
  attn.decode heads(32, 4) scale(0.125)
    ins(%q, %k, %v : memref<2x32x1x128xf32>, memref<2x4x1x128xf32>,
                     memref<2x4x1x128xf32>)
    position(%pos)
    outs(%o, %kc, %vc : memref<2x32x1x128xf32>, memref<2x4x4000x128xf16>,
                        memref<2x4x4000x128xf16>)
  return
}

// -----

// CHECK-LABEL: func.func @decode_gqa2_f16(
// CHECK:         scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c32 {
// CHECK:           scf.for %{{.+}} = %c0 to %c32 step %c8 {
// BOTH-LABEL: func.func @decode_gqa2_f16(
// BOTH:         scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c64 {
func.func @decode_gqa2_f16(%q: memref<1x32x1x128xf32>, %k: memref<1x16x1x128xf32>,
    %v: memref<1x16x1x128xf32>, %pos: index, %o: memref<1x32x1x128xf32>,
    %kc: memref<1x16x4000x128xf16>, %vc: memref<1x16x4000x128xf16>) {
  attn.decode heads(32, 16) scale(0.125)
    ins(%q, %k, %v : memref<1x32x1x128xf32>, memref<1x16x1x128xf32>,
                     memref<1x16x1x128xf32>)
    position(%pos)
    outs(%o, %kc, %vc : memref<1x32x1x128xf32>, memref<1x16x4000x128xf16>,
                        memref<1x16x4000x128xf16>)
  return
}

// -----

// CHECK-LABEL: func.func @decode_gqa4_bf16(
// CHECK:         scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c32 {
// BOTH-LABEL: func.func @decode_gqa4_bf16(
// BOTH:         scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c64 {
func.func @decode_gqa4_bf16(%q: memref<1x32x1x128xf32>, %k: memref<1x8x1x128xf32>,
    %v: memref<1x8x1x128xf32>, %pos: index, %o: memref<1x32x1x128xf32>,
    %kc: memref<1x8x4000x128xbf16>, %vc: memref<1x8x4000x128xbf16>) {
  attn.decode heads(32, 8) scale(0.125)
    ins(%q, %k, %v : memref<1x32x1x128xf32>, memref<1x8x1x128xf32>,
                     memref<1x8x1x128xf32>)
    position(%pos)
    outs(%o, %kc, %vc : memref<1x32x1x128xf32>, memref<1x8x4000x128xbf16>,
                        memref<1x8x4000x128xbf16>)
  return
}

// -----

// CHECK-LABEL: func.func @decode_gqa4_f32(
// CHECK:         scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c32 {
func.func @decode_gqa4_f32(%q: memref<1x32x1x128xf32>, %k: memref<1x8x1x128xf32>,
    %v: memref<1x8x1x128xf32>, %pos: index, %o: memref<1x32x1x128xf32>,
    %kc: memref<1x8x4000x128xf32>, %vc: memref<1x8x4000x128xf32>) {
  attn.decode heads(32, 8) scale(0.125)
    ins(%q, %k, %v : memref<1x32x1x128xf32>, memref<1x8x1x128xf32>,
                     memref<1x8x1x128xf32>)
    position(%pos)
    outs(%o, %kc, %vc : memref<1x32x1x128xf32>, memref<1x8x4000x128xf32>,
                        memref<1x8x4000x128xf32>)
  return
}

// -----

// MQA (rows across) keeps its 36-key tiles.

// CHECK-LABEL: func.func @decode_mqa_f16(
// CHECK:         scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c36 {
func.func @decode_mqa_f16(%q: memref<1x32x1x128xf32>, %k: memref<1x1x1x128xf32>,
    %v: memref<1x1x1x128xf32>, %pos: index, %o: memref<1x32x1x128xf32>,
    %kc: memref<1x1x4000x128xf16>, %vc: memref<1x1x4000x128xf16>) {
  attn.decode heads(32, 1) scale(0.125)
    ins(%q, %k, %v : memref<1x32x1x128xf32>, memref<1x1x1x128xf32>,
                     memref<1x1x1x128xf32>)
    position(%pos)
    outs(%o, %kc, %vc : memref<1x32x1x128xf32>, memref<1x1x4000x128xf16>,
                        memref<1x1x4000x128xf16>)
  return
}
