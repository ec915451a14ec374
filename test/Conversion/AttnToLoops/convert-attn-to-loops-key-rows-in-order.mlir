// RUN: attn-opt %s --split-input-file \
// RUN:   --convert-attn-to-loops="row-lanes=16 key-rows-in-order=1" \
// RUN:   | FileCheck %s
// RUN: attn-opt %s --split-input-file --convert-attn-to-loops=row-lanes=16 \
// RUN:   | FileCheck %s --check-prefix=COLUMNS

// MHA on an f16 cache with key-rows-in-order (set by attn-compile for AMD
// Zen 4 and later): tiles of 64 keys; the scores as a loop over the tile's
// keys (KeyRowLoop.cpp, as on f32 caches): each step prefetches the 4 lines
// of the key row 2 KiB (1024 f16) ahead and reads its row whole (8 vectors
// of 16 lanes, columns 0 to 112 in order, one FMA chain), then blocks of 16
// keys fold the stored sums. Without the option: tiles of 32 keys and a loop
// over the head dimension that reads one vector of every row per step
// (COLUMNS).

// CHECK-LABEL: func.func @decode_mha_f16(
// CHECK:         %[[SUMS:.+]] = memref.alloca() : memref<1024xf32>
// CHECK:         scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c64 {
// CHECK:           scf.for %[[K:.+]] = %c0 to %c64 step %c1 {
// CHECK:             %[[AHEAD:.+]] = arith.addi %{{.+}}, %c1024 : index
// CHECK-COUNT-4:     memref.prefetch %{{.+}} : memref<16384000xf16>
// CHECK-NOT:         memref.prefetch
// CHECK:             %[[R0:.+]] = vector.transfer_read %{{.+}}[%{{.+}}, %{{.+}}, %{{.+}}, %c0], %{{.+}} {in_bounds = [true]} : memref<1x32x4000x128xf16>, vector<16xf16>
// CHECK:             %[[W0:.+]] = arith.extf %[[R0]] : vector<16xf16> to vector<16xf32>
// CHECK:             %[[S0:.+]] = vector.fma %[[W0]], %{{.+}}, %{{.+}} : vector<16xf32>
// CHECK:             vector.transfer_read %{{.+}}[%{{.+}}, %{{.+}}, %{{.+}}, %c16], %{{.+}} {in_bounds = [true]} : memref<1x32x4000x128xf16>, vector<16xf16>
// CHECK:             vector.transfer_read %{{.+}}[%{{.+}}, %{{.+}}, %{{.+}}, %c112], %{{.+}} {in_bounds = [true]} : memref<1x32x4000x128xf16>, vector<16xf16>
// CHECK:             vector.store %{{.+}}, %[[SUMS]][%{{.+}}] : memref<1024xf32>, vector<16xf32>
// CHECK-NEXT:      }
// CHECK:           scf.for %{{.+}} = %c0 to %c64 step %c16 {
// CHECK-NOT:         vector.transfer_read
// CHECK-COUNT-16:    vector.load %[[SUMS]]

// COLUMNS-LABEL: func.func @decode_mha_f16(
// COLUMNS:         scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c32 {
// COLUMNS:         scf.for %{{.+}} = %c0 to %c32 step %c16 {
// COLUMNS:           scf.for %{{.+}} = %c0 to %c128 step %c16 iter_args(
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

// -----

// MHA on a bf16 cache: the same key loop; each step reads 32 elements (one
// line) as 16 32-bit words and widens them with a shift (the even elements)
// and a mask (the odd ones), against the queries stored even/odd split.

// CHECK-LABEL: func.func @decode_mha_bf16(
// CHECK:         scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c64 {
// CHECK:           scf.for %{{.+}} = %c0 to %c64 step %c1 {
// CHECK-COUNT-4:     memref.prefetch %{{.+}} : memref<16384000xbf16>
// CHECK:             %[[RAW:.+]] = vector.transfer_read %{{.+}}[%{{.+}}, %{{.+}}, %{{.+}}, %c0], %{{.+}} {in_bounds = [true]} : memref<1x32x4000x128xbf16>, vector<32xbf16>
// CHECK:             %[[WORDS:.+]] = vector.bitcast %[[RAW]] : vector<32xbf16> to vector<16xi32>
// CHECK:             %[[EVENI:.+]] = arith.shli %[[WORDS]], %{{.+}} : vector<16xi32>
// CHECK:             %[[EVEN:.+]] = vector.bitcast %[[EVENI]] : vector<16xi32> to vector<16xf32>
// CHECK:             %[[ODDI:.+]] = arith.andi %[[WORDS]], %{{.+}} : vector<16xi32>
// CHECK:             %[[ODD:.+]] = vector.bitcast %[[ODDI]] : vector<16xi32> to vector<16xf32>
// CHECK:             %[[QE:.+]] = vector.load %{{.+}}[%c0, %c0] : memref<1x128xf32>, vector<16xf32>
// CHECK:             %[[S0:.+]] = vector.fma %[[EVEN]], %[[QE]], %{{.+}} : vector<16xf32>
// CHECK:             %[[QO:.+]] = vector.load %{{.+}}[%c0, %c16] : memref<1x128xf32>, vector<16xf32>
// CHECK:             vector.fma %[[ODD]], %[[QO]], %[[S0]] : vector<16xf32>
// CHECK:             vector.transfer_read %{{.+}}[%{{.+}}, %{{.+}}, %{{.+}}, %c96], %{{.+}} {in_bounds = [true]} : memref<1x32x4000x128xbf16>, vector<32xbf16>
// CHECK-NOT:         vector.transfer_read
// CHECK:             vector.store
// CHECK-NEXT:      }
func.func @decode_mha_bf16(%q: memref<1x32x1x128xf32>, %k: memref<1x32x1x128xf32>,
                           %v: memref<1x32x1x128xf32>, %pos: index,
                           %o: memref<1x32x1x128xf32>,
                           %kc: memref<1x32x4000x128xbf16>,
                           %vc: memref<1x32x4000x128xbf16>) {
  attn.decode heads(32, 32) scale(0.125)
    ins(%q, %k, %v : memref<1x32x1x128xf32>, memref<1x32x1x128xf32>,
                     memref<1x32x1x128xf32>)
    position(%pos)
    outs(%o, %kc, %vc : memref<1x32x1x128xf32>, memref<1x32x4000x128xbf16>,
                        memref<1x32x4000x128xbf16>)
  return
}

// -----

// GQA-4 keeps the column loop and tiles of 32 keys (measured slower in
// order on Zen 4).

// CHECK-LABEL: func.func @decode_gqa4_f16(
// CHECK:         scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c32 {
// CHECK:         scf.for %{{.+}} = %c0 to %c128 step %c16 iter_args(
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

// MHA on an f32 cache: in order too, in tiles of 64 keys, but as a loop over
// the tile's keys (KeyRowLoop.cpp: the straight-line form was interleaved
// across rows by LLVM's scheduler): each step prefetches the 8 lines of the
// key row 2 KiB (512 f32) ahead, reads its row whole (columns 0 to 112, one
// FMA chain) and stores the 16-lane sum; blocks of 16 keys then fold those
// sums. The value loop prefetches its row 2 KiB ahead the same way.

// CHECK-LABEL: func.func @decode_mha_f32(
// CHECK:         %[[SUMS:.+]] = memref.alloca() : memref<1024xf32>
// CHECK:         scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c64 {
// CHECK:           scf.for %[[K:.+]] = %c0 to %c64 step %c1 {
// CHECK:             %[[ROW:.+]] = arith.muli %{{.+}}, %c128 : index
// CHECK:             %[[AHEAD:.+]] = arith.addi %[[ROW]], %c512 : index
// CHECK:             %[[AT0:.+]] = arith.minsi %[[AHEAD]], %{{.+}} : index
// CHECK:             memref.prefetch %{{.+}}[%[[AT0]]], read, locality<2>, data
// CHECK:             %[[LINE1:.+]] = arith.addi %[[AHEAD]], %c16 : index
// CHECK:             arith.minsi %[[LINE1]], %{{.+}} : index
// CHECK-COUNT-7:     memref.prefetch
// CHECK:             %[[KEY:.+]] = arith.addi %{{.+}}, %[[K]] : index
// CHECK:             %[[R0:.+]] = vector.transfer_read %{{.+}}[%{{.+}}, %{{.+}}, %[[KEY]], %c0], %{{.+}} {in_bounds = [true]} : memref<1x32x4000x128xf32>, vector<16xf32>
// CHECK:             %[[S0:.+]] = vector.fma %[[R0]], %{{.+}}, %{{.+}} : vector<16xf32>
// CHECK:             %[[R1:.+]] = vector.transfer_read %{{.+}}[%{{.+}}, %{{.+}}, %[[KEY]], %c16]
// CHECK:             vector.fma %[[R1]], %{{.+}}, %[[S0]]
// CHECK:             vector.transfer_read %{{.+}}[%{{.+}}, %{{.+}}, %[[KEY]], %c112]
// CHECK:             vector.store %{{.+}}, %[[SUMS]][%{{.+}}] : memref<1024xf32>, vector<16xf32>
// CHECK-NEXT:      }
// CHECK:           scf.for %{{.+}} = %c0 to %c64 step %c16 {
// CHECK-NOT:         vector.transfer_read
// CHECK-COUNT-16:    vector.load %[[SUMS]]
// CHECK:             vector.shuffle
// The last tile (the else branch) clamps the keys past its end to its last key.
// CHECK:           scf.for %{{.+}} = %c0 to %c64 step %c1 {
// CHECK:             arith.minsi %{{.+}}, %{{.+}} : index
// CHECK:             memref.prefetch
// The value loop: its row's lines 2 KiB ahead, then the row.
// CHECK:           scf.for %{{.+}} = %c0 to %{{.+}} step %c1 iter_args(
// CHECK:             %[[VAHEAD:.+]] = arith.addi %{{.+}}, %c512 : index
// CHECK-COUNT-8:     memref.prefetch
// CHECK:             vector.transfer_read %{{.+}}[%{{.+}}, %{{.+}}, %{{.+}}, %c0]

// COLUMNS-LABEL: func.func @decode_mha_f32(
// COLUMNS:         scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c32 {
// COLUMNS:         scf.for %{{.+}} = %c0 to %c128 step %c16 iter_args(
func.func @decode_mha_f32(%q: memref<1x32x1x128xf32>, %k: memref<1x32x1x128xf32>,
                          %v: memref<1x32x1x128xf32>, %pos: index,
                          %o: memref<1x32x1x128xf32>,
                          %kc: memref<1x32x4000x128xf32>,
                          %vc: memref<1x32x4000x128xf32>) {
  attn.decode heads(32, 32) scale(0.125)
    ins(%q, %k, %v : memref<1x32x1x128xf32>, memref<1x32x1x128xf32>,
                     memref<1x32x1x128xf32>)
    position(%pos)
    outs(%o, %kc, %vc : memref<1x32x1x128xf32>, memref<1x32x4000x128xf32>,
                        memref<1x32x4000x128xf32>)
  return
}

// -----

// GQA-4 (4 query rows a KV head) on an f32 cache, D = 128: 4 rows x 8
// vectors of value accumulators are over the register budget, so with
// key-rows-in-order the value blocks take whole value rows of one query row
// each (wholeValueRowBlock): a loop over the 4 rows, 8 accumulators each, whose
// key loop reads the row's 8 vectors in address order and spreads 2 of the
// next tile's value prefetches over each key step. Without the option:
// blocks of all 4 rows x 4 vectors (half rows), 16 accumulators.

// CHECK-LABEL: func.func @decode_gqa4_f32(
// CHECK:         scf.for %{{.+}} = %c0 to %c4 step %c1 {
// CHECK-COUNT-8:   arith.mulf {{.*}} : vector<16xf32>
// CHECK:           %{{.+}}:8 = scf.for %{{.+}} = %c0 to %{{.+}} step %c1 iter_args(
// CHECK-COUNT-2:     memref.prefetch
// CHECK:             vector.transfer_read %{{.+}}[%{{.+}}, %{{.+}}, %{{.+}}, %c0], %{{.+}} {in_bounds = [true]} : memref<1x2x4000x128xf32>, vector<16xf32>
// CHECK:             vector.transfer_read %{{.+}}[%{{.+}}, %{{.+}}, %{{.+}}, %c112], %{{.+}} {in_bounds = [true]} : memref<1x2x4000x128xf32>, vector<16xf32>
// CHECK-COUNT-8:     vector.fma
// CHECK-NOT:         vector.fma
// CHECK:             scf.yield

// COLUMNS-LABEL: func.func @decode_gqa4_f32(
// COLUMNS-NOT:     %{{.+}}:8 = scf.for
// COLUMNS:         %{{.+}}:16 = scf.for %{{.+}} = %c0 to %{{.+}} step %c1 iter_args(
func.func @decode_gqa4_f32(%q: memref<1x8x1x128xf32>, %k: memref<1x2x1x128xf32>,
                           %v: memref<1x2x1x128xf32>, %pos: index,
                           %o: memref<1x8x1x128xf32>,
                           %kc: memref<1x2x4000x128xf32>,
                           %vc: memref<1x2x4000x128xf32>) {
  attn.decode heads(8, 2) scale(0.125)
    ins(%q, %k, %v : memref<1x8x1x128xf32>, memref<1x2x1x128xf32>,
                     memref<1x2x1x128xf32>)
    position(%pos)
    outs(%o, %kc, %vc : memref<1x8x1x128xf32>, memref<1x2x4000x128xf32>,
                        memref<1x2x4000x128xf32>)
  return
}

// -----

// The same on an f16 cache keeps the blocks of all 4 rows x half rows: one
// row per block would widen each value row 4 times.

// CHECK-LABEL: func.func @decode_gqa4_f16(
// CHECK-NOT:     %{{.+}}:8 = scf.for
// CHECK:         %{{.+}}:16 = scf.for %{{.+}} = %c0 to %{{.+}} step %c1 iter_args(
func.func @decode_gqa4_f16(%q: memref<1x8x1x128xf32>, %k: memref<1x2x1x128xf32>,
                           %v: memref<1x2x1x128xf32>, %pos: index,
                           %o: memref<1x8x1x128xf32>,
                           %kc: memref<1x2x4000x128xf16>,
                           %vc: memref<1x2x4000x128xf16>) {
  attn.decode heads(8, 2) scale(0.125)
    ins(%q, %k, %v : memref<1x8x1x128xf32>, memref<1x2x1x128xf32>,
                     memref<1x2x1x128xf32>)
    position(%pos)
    outs(%o, %kc, %vc : memref<1x8x1x128xf32>, memref<1x2x4000x128xf16>,
                        memref<1x2x4000x128xf16>)
  return
}

// -----

// G 8 on an f32 cache with D = 256: whole value rows of 2 query rows would
// take 2 x 16 accumulators, over the register budget, so the value blocks
// keep all 8 rows x 2 vectors (16 accumulators).

// CHECK-LABEL: func.func @decode_g8_f32_d256(
// CHECK-NOT:     %{{.+}}:32 = scf.for
// CHECK:         %{{.+}}:16 = scf.for %{{.+}} = %c0 to %{{.+}} step %c1 iter_args(
func.func @decode_g8_f32_d256(%q: memref<1x16x1x256xf32>, %k: memref<1x2x1x256xf32>,
                              %v: memref<1x2x1x256xf32>, %pos: index,
                              %o: memref<1x16x1x256xf32>,
                              %kc: memref<1x2x4000x256xf32>,
                              %vc: memref<1x2x4000x256xf32>) {
  attn.decode heads(16, 2) scale(0.0625)
    ins(%q, %k, %v : memref<1x16x1x256xf32>, memref<1x2x1x256xf32>,
                     memref<1x2x1x256xf32>)
    position(%pos)
    outs(%o, %kc, %vc : memref<1x16x1x256xf32>, memref<1x2x4000x256xf32>,
                        memref<1x2x4000x256xf32>)
  return
}
