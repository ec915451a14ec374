// RUN: attn-opt %s --convert-attn-to-loops="row-lanes=16 inline-bf16-widening=1" \
// RUN:   | FileCheck %s
// RUN: attn-opt %s --convert-attn-to-loops=row-lanes=16 \
// RUN:   | FileCheck %s --check-prefix=TILE

// MQA, 32 query heads on bf16 caches, with inline-bf16-widening (set by
// attn-compile for AMD Zen 4 and later): no f32 key/value stack tile; the
// score loop steps over the head dimension 2 elements at a time, one 32-bit
// word of each key row broadcast and widened by a shift (element d) and a
// mask (element d + 1) against 2 x 2 row vectors of Q^T; the value loop
// does the same with words of the value rows against the probability row
// vectors. Q^T and Acc^T keep the natural row order. Without the option the
// tile stays (TILE).

// CHECK-LABEL: func.func @decode_mqa32_bf16(
// CHECK:         memref.alloca() : memref<128x32xf32>
// CHECK:         memref.alloca() : memref<128x32xf32>
// CHECK-NOT:     memref.alloca() : memref<36x128xf32>
// CHECK:         scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c36 {
// CHECK:           scf.for %{{.+}} = %c0 to %c128 step %c2 iter_args(
// CHECK:             vector.load %{{.+}} : memref<1x1x2000x128xbf16>, vector<2xbf16>
// CHECK-NEXT:        vector.bitcast %{{.+}} : vector<2xbf16> to vector<1xi32>
// CHECK-NEXT:        vector.extract
// CHECK-NEXT:        vector.broadcast %{{.+}} : i32 to vector<16xi32>
// CHECK-NEXT:        arith.shli %{{.+}} : vector<16xi32>
// CHECK-NEXT:        arith.andi %{{.+}} : vector<16xi32>
// CHECK:             vector.fma
// CHECK:           scf.for %{{.+}} = %c0 to %{{.+}} step %c1 iter_args(
// CHECK:             vector.load %{{.+}} : memref<1x1x2000x128xbf16>, vector<2xbf16>
// CHECK:             arith.shli %{{.+}} : vector<16xi32>
// CHECK-NEXT:        arith.andi %{{.+}} : vector<16xi32>
// CHECK:             vector.fma

// TILE-LABEL: func.func @decode_mqa32_bf16(
// TILE:         memref.alloca() : memref<36x128xf32>
// TILE-NOT:     vector<2xbf16>
func.func @decode_mqa32_bf16(%q: memref<1x32x1x128xf32>, %k: memref<1x1x1x128xf32>,
                             %v: memref<1x1x1x128xf32>, %pos: index,
                             %o: memref<1x32x1x128xf32>,
                             %kc: memref<1x1x2000x128xbf16>,
                             %vc: memref<1x1x2000x128xbf16>) {
  attn.decode heads(32, 1) scale(0.125)
    ins(%q, %k, %v : memref<1x32x1x128xf32>, memref<1x1x1x128xf32>,
                     memref<1x1x1x128xf32>)
    position(%pos)
    outs(%o, %kc, %vc : memref<1x32x1x128xf32>, memref<1x1x2000x128xbf16>,
                        memref<1x1x2000x128xbf16>)
  return
}
