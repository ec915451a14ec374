// RUN: attn-opt %s -split-input-file -convert-contraction-to-vectors="vector-lanes=16 row-streaming=true claim-chunks=true" -canonicalize | FileCheck %s
// RUN: attn-opt %s -split-input-file -convert-contraction-to-vectors="vector-lanes=16 row-streaming=true claim-chunks=true prefetch-bytes=2048" -canonicalize | FileCheck %s --check-prefix=PF
// RUN: attn-opt %s -split-input-file -convert-contraction-to-vectors="vector-lanes=16 claim-chunks=true prefetch-bytes=2048" -canonicalize | FileCheck %s --check-prefix=TILED

// A decode-step projection [1, 576] x [576, 1536] with claimed chunks: 9
// chunks of 64 rows (K / 64), each a work item that a thread claims from a
// shared counter (an atomic add in an scf.while inside the scf.parallel)
// instead of the static split's 4 chunks of 144 rows. The partials (9 x
// 1536 floats) are summed in chunk order after the loop.
// CHECK-LABEL: func.func @mlp_up
// CHECK-SAME:    (%[[X:.+]]: memref<1x576xf32>, %[[W:.+]]: memref<576x1536xf32>, %[[O:.+]]: memref<1x1536xf32>)
// CHECK:         %[[P:.+]] = memref.alloc() {alignment = 64 : i64} : memref<13824xf32>
// CHECK:         %[[CNT:.+]] = memref.alloca() : memref<1xi64>
// CHECK:         memref.store %{{.+}}, %[[CNT]][%c0]
// CHECK:         scf.parallel (%{{.+}}) = (%c0) to (%c9) step (%c1) {
// CHECK:           scf.while : () -> i64 {
// CHECK:             %[[NEXT:.+]] = memref.atomic_rmw addi %{{.+}}, %[[CNT]][%c0]
// CHECK:             %[[MORE:.+]] = arith.cmpi slt, %[[NEXT]], %c9_i64
// CHECK:             scf.condition(%[[MORE]]) %[[NEXT]]
// CHECK:           } do {
// CHECK:           ^bb0(%[[ITEM:.+]]: i64):
// CHECK:             %[[C:.+]] = arith.index_cast %[[ITEM]]
// CHECK:             %[[K0:.+]] = arith.muli %[[C]], %c64
// CHECK:             %[[BASE:.+]] = arith.muli %[[C]], %c1536
// CHECK:             scf.for %{{.+}} = %c0 to %c1536 step %c16 {
// CHECK:               vector.store %{{.+}}, %[[P]]
// CHECK:             scf.for %[[K:.+]] = %[[K0]] to %{{.+}} step %c1 {
// CHECK:               memref.load %[[X]][%c0, %[[K]]]
// CHECK:               scf.for %[[N:.+]] = %c0 to %c1536 step %c16 {
// CHECK:                 vector.transfer_read %[[W]][%[[K]], %[[N]]]
// CHECK-COUNT-4:         vector.fma
// CHECK:           scf.reduce
// CHECK:         scf.for %[[N2:.+]] = %c0 to %c1536 step %c16 {
// CHECK:           vector.transfer_read %[[O]][%c0, %[[N2]]]
// CHECK-COUNT-9:   arith.addf
// CHECK:           vector.transfer_write
// CHECK:         memref.dealloc %[[P]]
// Prefetch 2048 bytes (512 f32) ahead in the weights' memory order: a flat
// view, k * 1536 + n + 512, clamped to the last element.
// PF-LABEL: func.func @mlp_up
// PF:         %[[FLAT:.+]] = memref.collapse_shape %{{.+}} {{\[\[}}0, 1]] : memref<576x1536xf32> into memref<884736xf32>
// PF:         scf.while
// PF:               vector.transfer_read
// PF:               %[[ROW:.+]] = arith.muli %{{.+}}, %c1536
// PF:               %[[AT:.+]] = arith.addi %[[ROW]], %{{.+}}
// PF:               %[[AHEAD:.+]] = arith.addi %[[AT]], %c512
// PF:               %[[CLAMP:.+]] = arith.minsi %[[AHEAD]], %c884735
// PF:               memref.prefetch %[[FLAT]][%[[CLAMP]]], read, locality<2>, data
// PF:               vector.fma
// Without row-streaming neither option changes the tiled kernel.
// TILED-LABEL: func.func @mlp_up
// TILED-NOT:     scf.while
// TILED-NOT:     memref.collapse_shape
// TILED:         scf.parallel
func.func @mlp_up(%x: memref<1x576xf32>, %w: memref<576x1536xf32>, %o: memref<1x1536xf32>) {
  linalg.matmul ins(%x, %w : memref<1x576xf32>, memref<576x1536xf32>) outs(%o : memref<1x1536xf32>)
  return
}

// -----

// lm_head [576, 49152]: a partial row is 192 KiB; claimed chunks may take
// 2 MiB of partials, so 9 chunks of 64 rows (1.7 MiB) instead of the static
// split's 2. The weights still stream whole rows (a row of each of the 4
// streams per pass over the partial row).
// CHECK-LABEL: func.func @lm_head
// CHECK:         memref.alloc() {alignment = 64 : i64} : memref<442368xf32>
// CHECK:         scf.parallel (%{{.+}}) = (%c0) to (%c9) step (%c1) {
// CHECK:           scf.while
// CHECK:             scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c1 {
// CHECK-COUNT-4:       vector.broadcast
// CHECK:               scf.for %{{.+}} = %c0 to %c49152 step %c16 {
// CHECK:         scf.for %{{.+}} = %c0 to %c49152 step %c16 {
// CHECK-COUNT-9:   arith.addf
func.func @lm_head(%x: memref<1x576xf32>, %w: memref<576x49152xf32>, %o: memref<1x49152xf32>) {
  linalg.matmul ins(%x, %w : memref<1x576xf32>, memref<576x49152xf32>) outs(%o : memref<1x49152xf32>)
  return
}

// -----

// bf16 weights: the prefetch distance is in bytes, 2048 bytes = 1024
// elements ahead.
// PF-LABEL: func.func @bf16_weights
// PF:         memref.collapse_shape %{{.+}} : memref<128x256xbf16> into memref<32768xbf16>
// PF:         arith.addi %{{.+}}, %c1024
// PF:         memref.prefetch
func.func @bf16_weights(%x: memref<1x128xf32>, %w: memref<128x256xbf16>, %o: memref<1x256xf32>) {
  linalg.matmul ins(%x, %w : memref<1x128xf32>, memref<128x256xbf16>) outs(%o : memref<1x256xf32>)
  return
}

// -----

// Weights stored [N, K] (the dot-product form) with claimed chunks: N = 1536
// in 32 chunks of 48 columns (N / 16, at most 32) claimed from the counter,
// each column a dot product over its weight row.
// CHECK-LABEL: func.func @dot_claimed
// CHECK:         memref.alloca() : memref<1xi64>
// CHECK:         scf.parallel (%{{.+}}) = (%c0) to (%c32) step (%c1) {
// CHECK:           scf.while : () -> i64 {
// CHECK:             memref.atomic_rmw addi
// CHECK:           } do {
// CHECK:             arith.muli %{{.+}}, %c48
// CHECK:             scf.for
// CHECK:               vector.reduction <add>
func.func @dot_claimed(%x: memref<1x576xf32>, %w: memref<1536x576xf32>, %o: memref<1x1536xf32>) {
  linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
    ins(%x, %w : memref<1x576xf32>, memref<1536x576xf32>) outs(%o : memref<1x1536xf32>)
  return
}
