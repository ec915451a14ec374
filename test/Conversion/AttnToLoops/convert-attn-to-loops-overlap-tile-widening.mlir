// RUN: attn-opt %s --convert-attn-to-loops="row-lanes=16 overlap-tile-widening=1" \
// RUN:   | FileCheck %s
// RUN: attn-opt %s --convert-attn-to-loops=row-lanes=16 \
// RUN:   | FileCheck %s --check-prefix=LOOPS

// MQA, 32 query heads on f16 caches, with overlap-tile-widening (set by
// attn-compile for AMD Zen 4 and later): two f32 tiles of 36 keys, the
// first key tile widened before the tile loop, then in each tile one
// vector of the value tile widened (vector<16xf16> read, extf, store) per
// step of the score loop and one vector of the next key tile per step of
// the value loop; the FMA loops read their broadcast elements from the
// other tile. Without the option one tile is shared and each is widened
// in a loop of its own (LOOPS).

// CHECK-LABEL: func.func @decode_mqa32_f16(
// CHECK:         %[[KEYS:.+]] = memref.alloca() : memref<36x128xf32>
// CHECK-NEXT:    %[[VALUES:.+]] = memref.alloca() : memref<36x128xf32>
// Key tile 0, before the tile loop.
// CHECK:         scf.for
// CHECK:           vector.transfer_read %[[KC:[a-z0-9_]+]][{{.+}} : memref<1x1x2000x128xf16>, vector<16xf16>
// CHECK-NEXT:      arith.extf
// CHECK-NEXT:      vector.store %{{.+}}, %[[KEYS]]
// CHECK:         scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c36 {
// The score loop (full tiles): one value-tile vector per head-dimension step.
// CHECK:           scf.for %{{.+}} = %c0 to %c36 step %c12 {
// CHECK:             scf.for %{{.+}} = %c0 to %c128 step %c1 iter_args(
// CHECK:               vector.transfer_read %[[VC:[a-z0-9_]+]][{{.+}} : memref<1x1x2000x128xf16>, vector<16xf16>
// CHECK-NEXT:          arith.extf
// CHECK-NEXT:          vector.store %{{.+}}, %[[VALUES]]
// CHECK:               memref.load %[[KEYS]]
// CHECK:               vector.fma
// The value loop: one vector of the next tile's keys per key step.
// CHECK:           scf.for %{{.+}} = %c0 to %c120 step %c12 {
// CHECK:             scf.for %{{.+}} = %c0 to %{{.+}} step %c1 iter_args(
// CHECK:               vector.transfer_read %[[KC]][{{.+}} : memref<1x1x2000x128xf16>, vector<16xf16>
// CHECK-NEXT:          arith.extf
// CHECK-NEXT:          vector.store %{{.+}}, %[[KEYS]]
// CHECK:               memref.load %[[VALUES]]
// CHECK:               vector.fma

// LOOPS-LABEL: func.func @decode_mqa32_f16(
// LOOPS:         memref.alloca() : memref<36x128xf32>
// LOOPS-NOT:     memref.alloca() : memref<36x128xf32>
// LOOPS:         scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c36 {
// LOOPS-NEXT:      arith.subi
// LOOPS-NEXT:      arith.minsi
// LOOPS:           scf.for %{{.+}} = %c0 to %{{.+}} step %c1 {
// LOOPS:             vector.transfer_read {{.+}} : memref<1x1x2000x128xf16>, vector<16xf16>
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
