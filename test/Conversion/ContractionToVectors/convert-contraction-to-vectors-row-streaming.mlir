// RUN: attn-opt %s -split-input-file -convert-contraction-to-vectors="vector-lanes=16 row-streaming=true" -canonicalize | FileCheck %s
// RUN: attn-opt %s -split-input-file -convert-contraction-to-vectors="vector-lanes=16 row-streaming=false" -canonicalize | FileCheck %s --check-prefix=OFF

// A decode-step projection [1, 1, 256] x [256, 1000] streams the weight rows:
// K splits into 2 chunks of 128 rows (an scf.parallel over the chunks), each
// zeroes its partial row (1008 floats: N rounded up to 16 lanes) in a scratch
// alloc, then reads its rows as 4 streams of L = 32 rows: for k in the
// chunk's first 32 rows, rows k, k + L, k + 2L and k + 3L, splats of their
// x into one partial vector (one load and store per 4 FMAs), 62 full vectors
// in order and a masked 63rd (N = 1000 = 62 x 16 + 8); the rows past the
// streams (none here) one at a time. A sequential loop then adds the two
// chunks' partials to the output in chunk order. Off (the default), the
// tiled kernel: tiles of columns with prefetch.
// CHECK-LABEL: func.func @matvec
// CHECK-SAME:    (%[[X:.+]]: memref<1x1x256xf32>, %[[W:.+]]: memref<256x1000xf32>, %[[O:.+]]: memref<1x1x1000xf32>)
// CHECK:         %[[P:.+]] = memref.alloc() {alignment = 64 : i64} : memref<2016xf32>
// CHECK:         scf.parallel (%[[C:.+]]) = (%c0) to (%c2) step (%c1) {
// CHECK:           %[[K0:.+]] = arith.muli %[[C]], %c128
// CHECK:           %[[END:.+]] = arith.addi %[[K0]], %c128
// CHECK:           %[[K1:.+]] = arith.minsi %[[END]], %c256
// CHECK:           %[[BASE:.+]] = arith.muli %[[C]], %c1008
// CHECK:           scf.for %[[Z:.+]] = %c0 to %c1008 step %c16 {
// CHECK:             vector.store %{{.+}}, %[[P]]
// CHECK:           %[[ROWS:.+]] = arith.subi %[[K1]], %[[K0]]
// CHECK:           %[[L:.+]] = arith.divui %[[ROWS]], %c4
// CHECK:           %[[SEND:.+]] = arith.addi %[[K0]], %[[L]]
// CHECK:           scf.for %[[K:.+]] = %[[K0]] to %[[SEND]] step %c1 {
// CHECK:             %[[K1S:.+]] = arith.addi %[[K]], %[[L]]
// CHECK:             %[[K2S:.+]] = arith.addi %[[K1S]], %[[L]]
// CHECK:             %[[K3S:.+]] = arith.addi %[[K2S]], %[[L]]
// CHECK:             %[[A:.+]] = memref.load %[[X]][%c0, %c0, %[[K]]]
// CHECK:             %[[S:.+]] = vector.broadcast %[[A]] : f32 to vector<16xf32>
// CHECK:             memref.load %[[X]][%c0, %c0, %[[K3S]]]
// CHECK:             scf.for %[[N:.+]] = %c0 to %c992 step %c16 {
// CHECK:               %[[R:.+]] = vector.transfer_read %[[W]][%[[K]], %[[N]]], %{{.+}} {in_bounds = [true]}
// CHECK:               vector.transfer_read %[[W]][%[[K1S]], %[[N]]]
// CHECK:               vector.transfer_read %[[W]][%[[K2S]], %[[N]]]
// CHECK:               vector.transfer_read %[[W]][%[[K3S]], %[[N]]]
// CHECK:               %[[AT:.+]] = arith.addi %[[BASE]], %[[N]]
// CHECK:               %[[ACC:.+]] = vector.load %[[P]][%[[AT]]]
// CHECK:               %[[F:.+]] = vector.fma %[[S]], %[[R]], %[[ACC]] : vector<16xf32>
// CHECK-COUNT-3:       vector.fma
// CHECK-NEXT:          vector.store %{{.+}}, %[[P]][%[[AT]]]
// CHECK:             }
// CHECK:             vector.transfer_read %[[W]][%[[K]], %c992], %{{.+}} : memref<256x1000xf32>, vector<16xf32>
// CHECK:             vector.fma
// CHECK:           scf.for %{{.+}} = %{{.+}} to %[[K1]] step %c1 {
// CHECK:           scf.reduce
// CHECK:         scf.for %[[N2:.+]] = %c0 to %c992 step %c16 {
// CHECK:           %[[OUT:.+]] = vector.transfer_read %[[O]][%c0, %c0, %[[N2]]]
// CHECK:           %[[P0:.+]] = vector.load %[[P]][%[[N2]]]
// CHECK:           %[[S0:.+]] = arith.addf %[[OUT]], %[[P0]]
// CHECK:           %[[AT1:.+]] = arith.addi %[[N2]], %c1008
// CHECK:           %[[P1:.+]] = vector.load %[[P]][%[[AT1]]]
// CHECK:           %[[S1:.+]] = arith.addf %[[S0]], %[[P1]]
// CHECK:           vector.transfer_write %[[S1]], %[[O]][%c0, %c0, %[[N2]]] {in_bounds = [true]}
// CHECK:         vector.transfer_write %{{.+}}, %[[O]][%c0, %c0, %c992] : vector<16xf32>, memref<1x1x1000xf32>
// CHECK:         memref.dealloc %[[P]]
// CHECK-NOT:     linalg.generic
// OFF-LABEL: func.func @matvec
// OFF-NOT:     memref.alloc
// OFF:         scf.parallel (%{{.+}}) = (%c0) to (%c7)
// OFF:           memref.prefetch
func.func @matvec(%x: memref<1x1x256xf32>, %w: memref<256x1000xf32>, %o: memref<1x1x1000xf32>) {
  linalg.generic {indexing_maps = [affine_map<(b, m, n, k) -> (b, m, k)>, affine_map<(b, m, n, k) -> (k, n)>, affine_map<(b, m, n, k) -> (b, m, n)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%x, %w : memref<1x1x256xf32>, memref<256x1000xf32>) outs(%o : memref<1x1x1000xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %c, %m : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// Four rows (batch-4 decode) by f16 weights into an f16 output: blocks of 4
// weight rows (16 splats), each weight vector widened in registers and fed
// to 4 rows; a partial vector takes the block's 4 FMAs between its load and
// its store. K = 517 is 4 chunks of 132 rows: the last chunk's rows past its
// last whole block (517 - 396 = 121 = 30 x 4 + 1) run one at a time. The
// sum of the output and the 4 partials is rounded once to f16.
// CHECK-LABEL: func.func @batch4_f16
// CHECK:         memref.alloc() {alignment = 64 : i64} : memref<3328xf32>
// CHECK:         scf.parallel (%{{.+}}) = (%c0) to (%c4) step (%c1) {
// CHECK:           %[[BLOCKS:.+]] = arith.divui %{{.+}}, %c4
// CHECK:           scf.for %{{.+}} = %{{.+}} to %[[BEND:.+]] step %c4 {
// CHECK-COUNT-16:    vector.broadcast
// CHECK:             scf.for %{{.+}} = %c0 to %c192 step %c16 {
// CHECK-COUNT-4:       arith.extf {{.*}} : vector<16xf16> to vector<16xf32>
// CHECK:               vector.load
// CHECK-COUNT-4:       vector.fma
// CHECK-NEXT:          vector.store
// CHECK:           scf.for %{{.+}} = %[[BEND]] to %{{.+}} step %c1 {
// CHECK-COUNT-4:     vector.broadcast
// CHECK:         scf.for
// CHECK:           arith.extf {{.*}} : vector<16xf16> to vector<16xf32>
// CHECK-COUNT-4:   arith.addf
// CHECK:           arith.truncf {{.*}} : vector<16xf32> to vector<16xf16>
// CHECK:         memref.dealloc
// OFF-LABEL: func.func @batch4_f16
// OFF-NOT:     memref.alloc
// OFF:         memref.prefetch
func.func @batch4_f16(%x: memref<4x517xf32>, %w: memref<517x200xf16>, %o: memref<4x200xf16>) {
  linalg.matmul ins(%x, %w : memref<4x517xf32>, memref<517x200xf16>) outs(%o : memref<4x200xf16>)
  return
}

// -----

// lm_head [1, 576] x [576, 49152]: a partial row is 192 KiB, so 2 chunks
// (512 KiB of partials at most) instead of 576 / 128 = 4; each pass over the
// partial row takes one row of each of the 4 streams (one load and store of
// a partial vector per 4 FMAs).
// CHECK-LABEL: func.func @lm_head
// CHECK:         memref.alloc() {alignment = 64 : i64} : memref<98304xf32>
// CHECK:         scf.parallel (%{{.+}}) = (%c0) to (%c2) step (%c1) {
// CHECK:           arith.muli %{{.+}}, %c288
// CHECK:           scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c1 {
// CHECK-COUNT-4:     vector.broadcast
// CHECK:             scf.for %{{.+}} = %c0 to %c49152 step %c16 {
// CHECK-COUNT-4:       vector.transfer_read
// CHECK:               vector.load
// CHECK-COUNT-4:       vector.fma
// CHECK-NEXT:          vector.store
func.func @lm_head(%x: memref<1x576xf32>, %w: memref<576x49152xf32>, %o: memref<1x49152xf32>) {
  linalg.matmul ins(%x, %w : memref<1x576xf32>, memref<576x49152xf32>) outs(%o : memref<1x49152xf32>)
  return
}

// -----

// Weights stored bf16 and widened by an elementwise op into a buffer that
// only the contraction reads: the row-streaming form reads the bf16 memref
// and the widening and its buffer are gone.
// CHECK-LABEL: func.func @widened_weights
// CHECK-SAME:    (%[[X:.+]]: memref<1x64xf32>, %[[W16:.+]]: memref<64x256xbf16>, %[[O:.+]]: memref<1x256xf32>)
// CHECK-NOT:     linalg.generic
// CHECK:         %[[P:.+]] = memref.alloc() {alignment = 64 : i64} : memref<256xf32>
// CHECK:         vector.transfer_read %[[W16]]{{.*}} : memref<64x256xbf16>, vector<16xbf16>
// CHECK:         arith.extf {{.*}} : vector<16xbf16> to vector<16xf32>
// CHECK:         memref.dealloc %[[P]]
// CHECK-NOT:     memref.dealloc
// CHECK:         return
func.func @widened_weights(%x: memref<1x64xf32>, %w16: memref<64x256xbf16>, %o: memref<1x256xf32>) {
  %w = memref.alloc() : memref<64x256xf32>
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]} ins(%w16 : memref<64x256xbf16>) outs(%w : memref<64x256xf32>) {
  ^bb0(%a: bf16, %b: f32):
    %e = arith.extf %a : bf16 to f32
    linalg.yield %e : f32
  }
  linalg.matmul ins(%x, %w : memref<1x64xf32>, memref<64x256xf32>) outs(%o : memref<1x256xf32>)
  memref.dealloc %w : memref<64x256xf32>
  return
}

// -----

// Near misses, kept on the tiled kernel: 17 rows (more than 16: a prefill
// or large batch), a partial row over 256 KiB (N = 70000 f32), and weights
// with a batch loop ([B, K, N]: not one weight matrix).
// CHECK-LABEL: func.func @many_rows
// CHECK-NOT:     memref.alloc
// CHECK:         memref.prefetch
// CHECK-LABEL: func.func @wide_partials
// CHECK-NOT:     memref.alloc
// CHECK:         memref.prefetch
// CHECK-LABEL: func.func @batched_weights
// CHECK-NOT:     memref.alloc
// CHECK:         memref.prefetch
func.func @many_rows(%x: memref<17x64xf32>, %w: memref<64x256xf32>, %o: memref<17x256xf32>) {
  linalg.matmul ins(%x, %w : memref<17x64xf32>, memref<64x256xf32>) outs(%o : memref<17x256xf32>)
  return
}
func.func @wide_partials(%x: memref<1x64xf32>, %w: memref<64x70000xf32>, %o: memref<1x70000xf32>) {
  linalg.matmul ins(%x, %w : memref<1x64xf32>, memref<64x70000xf32>) outs(%o : memref<1x70000xf32>)
  return
}
func.func @batched_weights(%x: memref<2x1x64xf32>, %w: memref<2x64x256xf32>, %o: memref<2x1x256xf32>) {
  linalg.batch_matmul ins(%x, %w : memref<2x1x64xf32>, memref<2x64x256xf32>) outs(%o : memref<2x1x256xf32>)
  return
}
