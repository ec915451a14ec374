// RUN: attn-opt %s --split-input-file --convert-attn-to-loops=row-lanes=16 \
// RUN:   | FileCheck %s --check-prefixes=CHECK,LANES16
// RUN: attn-opt %s --split-input-file --convert-attn-to-loops=row-lanes=8 \
// RUN:   | FileCheck %s --check-prefixes=CHECK,LANES8

// Which kernel a work item takes. One query row per head and 4 query heads
// per KV head: the grouped decode kernel (GroupedDecodeKernel.cpp), with the
// head dimension across the lanes: key rows read as vectors of the lane
// width, lanes/4 keys x 4 rows of accumulators folded into one vector of
// scores with shuffles (no horizontal sum per score); the next tile's rows
// prefetched through a flat view of each cache, spread over the score loop
// (key rows) and the value loop (value rows).

// CHECK-LABEL: func.func @decode_group4(
// CHECK-SAME:    %[[K:[^:]+]]: memref<1x2x300x64xf32>, %[[V:[^:]+]]: memref<1x2x300x64xf32>
// CHECK:         scf.parallel
// CHECK:           %[[KF:.+]] = memref.collapse_shape %[[K]] {{\[\[}}0, 1, 2, 3]] : memref<1x2x300x64xf32> into memref<38400xf32>
// CHECK:           %[[VF:.+]] = memref.collapse_shape %[[V]] {{\[\[}}0, 1, 2, 3]]
// CHECK:           memref.prefetch %[[KF]]
// LANES16:         vector.transfer_read %[[K]]{{.*}} : memref<1x2x300x64xf32>, vector<16xf32>
// LANES8:          vector.transfer_read %[[K]]{{.*}} : memref<1x2x300x64xf32>, vector<8xf32>
// CHECK-NOT:       vector.reduction
// LANES16:         vector.shuffle {{.*}} [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23] : vector<16xf32>, vector<16xf32>
// LANES8:          vector.shuffle {{.*}} [0, 1, 2, 3, 8, 9, 10, 11] : vector<8xf32>, vector<8xf32>
// CHECK:           memref.prefetch %[[VF]]
// CHECK:         scf.parallel
func.func @decode_group4(%q: memref<1x8x1x64xf32>, %k: memref<1x2x300x64xf32>,
                         %v: memref<1x2x300x64xf32>, %o: memref<1x8x1x64xf32>) {
  attn.attention heads(8, 2) scale(0.125)
    ins(%q, %k, %v : memref<1x8x1x64xf32>, memref<1x2x300x64xf32>,
                     memref<1x2x300x64xf32>)
    outs(%o : memref<1x8x1x64xf32>)
  return
}

// -----

// 2 query heads per KV head (and MHA) take the same kernel: lanes/2 keys x
// 2 rows of accumulators per vector of scores.

// CHECK-LABEL: func.func @decode_group2(
// CHECK-SAME:    %[[K:[^:]+]]: memref<1x4x300x64xf32>
// LANES16:       scf.for {{.+}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>) {
// LANES8:        scf.for {{.+}} -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>) {
// CHECK-NOT:     vector.reduction
// CHECK:         memref.prefetch
// CHECK-NOT:     vector.reduction
// CHECK:         return
func.func @decode_group2(%q: memref<1x8x1x64xf32>, %k: memref<1x4x300x64xf32>,
                         %v: memref<1x4x300x64xf32>, %o: memref<1x8x1x64xf32>) {
  attn.attention heads(8, 4) scale(0.125)
    ins(%q, %k, %v : memref<1x8x1x64xf32>, memref<1x4x300x64xf32>,
                     memref<1x4x300x64xf32>)
    outs(%o : memref<1x8x1x64xf32>)
  return
}

// -----

// Near miss: a mask keeps the row-vector kernel (key elements loaded one at
// a time and broadcast, the mask applied per score, no prefetch).

// CHECK-LABEL: func.func @decode_group8_mask(
// CHECK-SAME:    %[[K:[^:]+]]: memref<1x1x300x64xf32>
// CHECK-SAME:    %[[M:[^:]+]]: memref<1x8x1x300xi1>
// CHECK-NOT:     memref.prefetch
// CHECK:         memref.load %[[K]]
// CHECK:         memref.load %[[M]]
// CHECK-NOT:     memref.prefetch
// CHECK:         return
func.func @decode_group8_mask(%q: memref<1x8x1x64xf32>, %k: memref<1x1x300x64xf32>,
                              %v: memref<1x1x300x64xf32>, %m: memref<1x8x1x300xi1>,
                              %o: memref<1x8x1x64xf32>) {
  attn.attention heads(8, 1) scale(0.125)
    ins(%q, %k, %v : memref<1x8x1x64xf32>, memref<1x1x300x64xf32>,
                     memref<1x1x300x64xf32>)
    mask(%m : memref<1x8x1x300xi1>)
    outs(%o : memref<1x8x1x64xf32>)
  return
}

// -----

// Near miss: 4 query rows per head (prefill) keep the row-vector kernel.

// CHECK-LABEL: func.func @prefill_group8(
// CHECK-NOT:     memref.prefetch
// CHECK:         return
func.func @prefill_group8(%q: memref<1x8x4x64xf32>, %k: memref<1x1x300x64xf32>,
                          %v: memref<1x1x300x64xf32>, %o: memref<1x8x4x64xf32>) {
  attn.attention heads(8, 1) scale(0.125)
    ins(%q, %k, %v : memref<1x8x4x64xf32>, memref<1x1x300x64xf32>,
                     memref<1x1x300x64xf32>)
    outs(%o : memref<1x8x4x64xf32>)
  return
}

// -----

// MQA, 32 query heads on bf16 caches: rows across the lanes (12 keys x 2
// row vectors of accumulators, tiles of 36 keys), so key splits are
// multiples of 36 keys. Each tile's key and value rows are widened even/odd
// split (a shift and a mask per vector) into one f32 stack tile; Q^T and
// Acc^T are [128 x 32]; the value loop broadcasts value elements of that
// tile against probability row vectors (Acc^T blocks of 12 elements x 2 row
// vectors); fewer lines than prefetch slots, so each prefetch sits in an
// scf.if.

// CHECK-LABEL: func.func @decode_mqa32_bf16(
// CHECK:         arith.ceildivui %{{.+}}, %c36 : index
// CHECK-NEXT:    arith.muli %{{.+}}, %c36 : index
// CHECK:         %[[QT:.+]] = memref.alloca() : memref<128x32xf32>
// CHECK:         %[[ACCT:.+]] = memref.alloca() : memref<128x32xf32>
// CHECK:         %[[TILE:.+]] = memref.alloca() : memref<36x128xf32>
// CHECK:         scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c36 {
// LANES16:         arith.shli %{{.+}} : vector<16xi32>
// LANES16-NEXT:    arith.andi %{{.+}} : vector<16xi32>
// LANES8:          arith.shli %{{.+}} : vector<8xi32>
// LANES8-NEXT:     arith.andi %{{.+}} : vector<8xi32>
// CHECK:           arith.cmpi ult, %{{.+}}, %c144 : index
// CHECK-NEXT:      scf.if
// CHECK-NEXT:        arith.divui
// CHECK:             memref.prefetch
// CHECK:           memref.load %[[TILE]]
// LANES16:         vector.load %{{.+}}[%{{.+}}, %{{.+}}] : memref<36x32xf32>, vector<16xf32>
// LANES8:          vector.load %{{.+}}[%{{.+}}, %{{.+}}] : memref<36x32xf32>, vector<8xf32>
// CHECK:           memref.load %[[TILE]]
// CHECK:           vector.fma
// CHECK:           vector.store %{{.+}}, %[[ACCT]]
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
