// RUN: attn-opt %s --convert-attn-to-loops="row-lanes=16 tile-alignment=64" \
// RUN:   | FileCheck %s
// RUN: attn-opt %s --convert-attn-to-loops=row-lanes=16 \
// RUN:   | FileCheck %s --check-prefix=NATURAL

// The grouped decode kernel's stack tiles with tile-alignment=64 (set by
// attn-compile to one f32 vector of the target: 64 with AVX-512): every one
// of them 64-byte aligned, so that no 512-bit load or store of a tile
// straddles two cache lines. MQA on f16 caches (rows across the lanes: Q^T,
// Acc^T, scores, the tile's maximum, softmax state, the widened f32 tile)
// and GQA-4 on f32 caches (the periodic layout: queries, Acc, flat scores,
// state). Without the option the allocas carry no alignment (the
// element's).

// CHECK-LABEL: func.func @decode_mqa32_f16(
// CHECK:         memref.alloca() {alignment = 64 : i64} : memref<128x32xf32>
// CHECK-NEXT:    memref.alloca() {alignment = 64 : i64} : memref<128x32xf32>
// CHECK-NEXT:    memref.alloca() {alignment = 64 : i64} : memref<36x32xf32>
// CHECK-NEXT:    memref.alloca() {alignment = 64 : i64} : memref<32xf32>
// CHECK-NEXT:    memref.alloca() {alignment = 64 : i64} : memref<32xf32>
// CHECK-NEXT:    memref.alloca() {alignment = 64 : i64} : memref<32xf32>
// CHECK-NEXT:    memref.alloca() {alignment = 64 : i64} : memref<32xf32>
// CHECK-NEXT:    memref.alloca() {alignment = 64 : i64} : memref<36x128xf32>
// CHECK-NOT:     memref.alloca() : memref<{{.*}}xf32>
// CHECK-LABEL: func.func @decode_gqa4_f32(
// CHECK:         memref.alloca() {alignment = 64 : i64} : memref<4x128xf32>
// CHECK-NEXT:    memref.alloca() {alignment = 64 : i64} : memref<4x128xf32>
// CHECK-NEXT:    memref.alloca() {alignment = 64 : i64} : memref<128xf32>
// CHECK-NOT:     memref.alloca() : memref<{{.*}}xf32>

// NATURAL-LABEL: func.func @decode_mqa32_f16(
// NATURAL-NOT:     alignment
// NATURAL:         memref.alloca() : memref<128x32xf32>
// NATURAL-NOT:     alignment
// NATURAL-LABEL: func.func @decode_gqa4_f32(
// NATURAL-NOT:     alignment
// NATURAL:         memref.alloca() : memref<4x128xf32>
// NATURAL-NOT:     alignment
func.func @decode_mqa32_f16(%q: memref<1x32x1x128xf32>, %k: memref<1x1x1x128xf32>,
                            %v: memref<1x1x1x128xf32>, %pos: index,
                            %o: memref<1x32x1x128xf32>,
                            %kc: memref<1x1x2000x128xf16>,
                            %vc: memref<1x1x2000x128xf16>) {
  attn.decode heads(32, 1) scale(0.125)
    ins(%q, %k, %v : memref<1x32x1x128xf32>, memref<1x1x1x128xf32>,
                     memref<1x1x1x128xf32>)
    position(%pos)
    outs(%o, %kc, %vc : memref<1x32x1x128xf32>, memref<1x1x2000x128xf16>,
                        memref<1x1x2000x128xf16>)
  return
}

func.func @decode_gqa4_f32(%q: memref<1x32x1x128xf32>, %k: memref<1x8x1x128xf32>,
                           %v: memref<1x8x1x128xf32>, %pos: index,
                           %o: memref<1x32x1x128xf32>,
                           %kc: memref<1x8x2000x128xf32>,
                           %vc: memref<1x8x2000x128xf32>) {
  attn.decode heads(32, 8) scale(0.125)
    ins(%q, %k, %v : memref<1x32x1x128xf32>, memref<1x8x1x128xf32>,
                     memref<1x8x1x128xf32>)
    position(%pos)
    outs(%o, %kc, %vc : memref<1x32x1x128xf32>, memref<1x8x2000x128xf32>,
                        memref<1x8x2000x128xf32>)
  return
}
