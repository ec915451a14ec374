// RUN: attn-opt %s --split-input-file \
// RUN:   --convert-attn-to-loops="row-lanes=16 grouped-tile-keys=128" \
// RUN:   | FileCheck %s
// RUN: attn-opt %s --split-input-file --convert-attn-to-loops=row-lanes=16 \
// RUN:   | FileCheck %s --check-prefix=DEFAULT

// grouped-tile-keys (not set by attn-compile: an experiment knob):
// GQA decode in the periodic layout (2 to lanes / 2 query heads per KV head)
// takes online-softmax tiles of that many keys, in score blocks of
// lanes / Gp keys (G 4: 4 keys, G 8: 2 keys); MHA and the rows-across layout
// (MQA) keep their tiles. Without the option: tiles of 32 keys.

// CHECK-LABEL: func.func @decode_gqa4_f16(
// CHECK:         scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c128 {
// CHECK:           scf.for %{{.+}} = %c0 to %c128 step %c4 {
// CHECK:             scf.for %{{.+}} = %c0 to %c128 step %c16 iter_args(

// DEFAULT-LABEL: func.func @decode_gqa4_f16(
// DEFAULT:         scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c32 {
// DEFAULT:           scf.for %{{.+}} = %c0 to %c32 step %c4 {
func.func @decode_gqa4_f16(%q: memref<1x32x1x128xf32>, %k: memref<1x8x1x128xf32>,
                           %v: memref<1x8x1x128xf32>, %pos: index,
                           %o: memref<1x32x1x128xf32>,
                           %kc: memref<1x8x4000x128xf16>,
                           %vc: memref<1x8x4000x128xf16>) {
  attn.decode heads(32, 8) scale(0.125)
    ins(%q, %k, %v : memref<1x32x1x128xf32>, memref<1x8x1x128xf32>,
                     memref<1x8x1x128xf32>)
    position(%pos)
    outs(%o, %kc, %vc : memref<1x32x1x128xf32>, memref<1x8x4000x128xf16>,
                        memref<1x8x4000x128xf16>)
  return
}

// -----

// CHECK-LABEL: func.func @decode_gqa8_bf16(
// CHECK:         scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c128 {
// CHECK:           scf.for %{{.+}} = %c0 to %c128 step %c2 {

// DEFAULT-LABEL: func.func @decode_gqa8_bf16(
// DEFAULT:         scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c32 {
// DEFAULT:           scf.for %{{.+}} = %c0 to %c32 step %c2 {
func.func @decode_gqa8_bf16(%q: memref<2x32x1x128xf32>, %k: memref<2x4x1x128xf32>,
                            %v: memref<2x4x1x128xf32>, %pos: index,
                            %o: memref<2x32x1x128xf32>,
                            %kc: memref<2x4x4000x128xbf16>,
                            %vc: memref<2x4x4000x128xbf16>) {
  attn.decode heads(32, 4) scale(0.125)
    ins(%q, %k, %v : memref<2x32x1x128xf32>, memref<2x4x1x128xf32>,
                     memref<2x4x1x128xf32>)
    position(%pos)
    outs(%o, %kc, %vc : memref<2x32x1x128xf32>, memref<2x4x4000x128xbf16>,
                        memref<2x4x4000x128xbf16>)
  return
}

// -----

// MHA (no key-rows-in-order) keeps 32-key tiles; MQA (rows across) its 36.

// CHECK-LABEL: func.func @decode_mha_f16(
// CHECK:         scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c32 {
// CHECK-LABEL: func.func @decode_mqa_f16(
// CHECK:         scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c36 {
func.func @decode_mha_f16(%q: memref<1x32x1x128xf32>, %k: memref<1x32x1x128xf32>,
                          %v: memref<1x32x1x128xf32>, %pos: index,
                          %o: memref<1x32x1x128xf32>,
                          %kc: memref<1x32x4000x128xf16>,
                          %vc: memref<1x32x4000x128xf16>) {
  attn.decode heads(32, 32) scale(0.125)
    ins(%q, %k, %v : memref<1x32x1x128xf32>, memref<1x32x1x128xf32>,
                     memref<1x32x1x128xf32>)
    position(%pos)
    outs(%o, %kc, %vc : memref<1x32x1x128xf32>, memref<1x32x4000x128xf16>,
                        memref<1x32x4000x128xf16>)
  return
}
func.func @decode_mqa_f16(%q: memref<1x32x1x128xf32>, %k: memref<1x1x1x128xf32>,
                          %v: memref<1x1x1x128xf32>, %pos: index,
                          %o: memref<1x32x1x128xf32>,
                          %kc: memref<1x1x4000x128xf16>,
                          %vc: memref<1x1x4000x128xf16>) {
  attn.decode heads(32, 1) scale(0.125)
    ins(%q, %k, %v : memref<1x32x1x128xf32>, memref<1x1x1x128xf32>,
                     memref<1x1x1x128xf32>)
    position(%pos)
    outs(%o, %kc, %vc : memref<1x32x1x128xf32>, memref<1x1x4000x128xf16>,
                        memref<1x1x4000x128xf16>)
  return
}
