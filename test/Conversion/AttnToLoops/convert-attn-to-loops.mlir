// RUN: attn-opt %s --split-input-file --convert-attn-to-loops=row-lanes=8 \
// RUN:   | FileCheck %s --check-prefixes=CHECK,LANES8
// RUN: attn-opt %s --split-input-file --convert-attn-to-loops=row-lanes=16 \
// RUN:   | FileCheck %s --check-prefixes=CHECK,LANES16

// GQA, 8 query heads on 2 KV heads, 3 query rows: a work item holds the
// 4 heads x 3 rows = 12 rows of one KV head, which go across vector lanes
// (row-vector kernel, 8 lanes for fewer than 16 rows). The work items
// (batch, KV head, query tile, key split), here 2 x 2 x 1 x 1, are claimed
// from a counter in the first scf.parallel (its index split into batch and
// KV head, the stack buffers allocated before the claim loop;
// convert-attn-to-loops-claim-work-items.mlir) and K/V are
// indexed by the KV head, so each K/V element is loaded once for all the
// rows of its group and broadcast: S^T and Acc^T are register-blocked outer
// products (vector.fma with iter_args accumulators, no horizontal
// reduction). Keys come in tiles of 30 with an online softmax (tile max,
// rescale exp(m_old - m_new), exact 0 for masked keys); a second
// scf.parallel merges the key splits and writes the output. Nothing is
// reduced across scf.parallel iterations (no scf.reduce), so
// convert-scf-to-openmp needs no OpenMP reductions; the tile max is a
// compare and select (one vmaxps) and exp a polynomial in the vector unit
// (VectorExp.cpp: the power of two added to the exponent bits with a shift),
// not a libm call.

// CHECK-LABEL: func.func @gqa(
// CHECK-SAME:    %[[Q:[^:]+]]: memref<2x8x3x16xf32>, %[[K:[^:]+]]: memref<2x2x45x16xf32>,
// CHECK-SAME:    %[[V:[^:]+]]: memref<2x2x45x16xf32>, %[[O:[^:]+]]: memref<2x8x3x16xf32>)
// CHECK:         %[[SCRATCH:.+]] = memref.alloc(
// CHECK:         scf.parallel (%{{[^)]+}}) = (%c0) to (%c4) step (%c1) {
// CHECK-NOT:       scf.reduce
// CHECK:           %[[QT:.+]] = memref.alloca() : memref<16x16xf32>
// CHECK:           memref.atomic_rmw addi
// CHECK:             %[[B:.+]] = arith.divui %{{.+}}, %c2 : index
// CHECK-NEXT:        %[[G:.+]] = arith.remui %{{.+}}, %c2 : index
// CHECK:           memref.load %[[Q]]
// CHECK:           memref.store %{{.+}}, %[[QT]]
// CHECK:           scf.for %{{.+}} step %c30
// CHECK:             scf.for {{.+}} iter_args({{.+}}) -> (vector<8xf32>, vector<8xf32>,
// CHECK:               vector.load %[[QT]]
// CHECK:               %[[KE:.+]] = memref.load %[[K]][%[[B]], %[[G]],
// CHECK:               %[[KB:.+]] = vector.broadcast %[[KE]] : f32 to vector<8xf32>
// CHECK:               vector.fma %[[KB]]
// CHECK:             arith.cmpf ogt, {{.+}} : vector<8xf32>
// CHECK-NEXT:        arith.select {{.+}} : vector<8xi1>, vector<8xf32>
// CHECK-NOT:         math.exp
// CHECK:             arith.shli {{.+}} : vector<8xi32>
// CHECK:             arith.select {{.+}} : vector<8xi1>, vector<8xf32>
// CHECK:             %[[VE:.+]] = memref.load %[[V]][%[[B]], %[[G]],
// CHECK:             %[[VB:.+]] = vector.broadcast %[[VE]] : f32 to vector<8xf32>
// CHECK:             vector.fma %[[VB]]
// CHECK:         scf.parallel (%{{[^,]+}}, %{{[^,]+}}, %{{[^)]+}}) =
// CHECK-NOT:       scf.reduce
// CHECK:           vector.transfer_write %{{.+}}, %[[O]]
// CHECK:         memref.dealloc %[[SCRATCH]]
// CHECK-NOT:     attn.attention
func.func @gqa(%q: memref<2x8x3x16xf32>, %k: memref<2x2x45x16xf32>,
               %v: memref<2x2x45x16xf32>, %o: memref<2x8x3x16xf32>) {
  attn.attention heads(8, 2) scale(0.25)
    ins(%q, %k, %v : memref<2x8x3x16xf32>, memref<2x2x45x16xf32>,
                     memref<2x2x45x16xf32>)
    outs(%o : memref<2x8x3x16xf32>)
  return
}

// -----

// MQA decode row (32 query heads on 1 KV head, head size 80) takes the
// grouped decode kernel with the rows across the lanes: 32 rows fill four
// 8-lane vectors (6 keys x 2 chunks = 12 accumulators) or two 16-lane
// vectors (12 keys x 2 chunks = 24 accumulators) per score block, the next
// values then run with the value dimension across the lanes (rows x value
// chunks of accumulators), so no horizontal sum at all; the next tile's rows
// are prefetched in the first value blocks.

// CHECK-LABEL: func.func @mqa(
// LANES8:        scf.for {{.+}} iter_args({{.+}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>) {
// LANES16:       scf.for {{.+}} iter_args({{.+}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>) {
// CHECK-NOT:     vector.reduction {{.+}} : vector<{{[0-9]+}}xf32>
func.func @mqa(%q: memref<1x32x1x80xf32>, %k: memref<1x1x300x80xf32>,
               %v: memref<1x1x300x80xf32>, %o: memref<1x32x1x80xf32>) {
  attn.attention heads(32, 1) scale(0.1)
    ins(%q, %k, %v : memref<1x32x1x80xf32>, memref<1x1x300x80xf32>,
                     memref<1x1x300x80xf32>)
    outs(%o : memref<1x32x1x80xf32>)
  return
}

// -----

// Row-vector kernel with a mask and a causal limit that differs between the
// rows of a vector (2 query positions per head): both are applied one score
// at a time after the vectorised scores, before the softmax.

// CHECK-LABEL: func.func @gqa_mask_causal(
// CHECK-SAME:    %[[M:[^:]+]]: memref<1x1x2x40xi1>
// CHECK:         scf.parallel
// CHECK:           scf.for
// CHECK:             vector.fma
// CHECK:             %[[KEEP:.+]] = memref.load %[[M]]
// CHECK:             arith.select %[[KEEP]]
// CHECK:             arith.cmpi sgt
// CHECK:             arith.cmpf ogt
func.func @gqa_mask_causal(%q: memref<1x8x2x16xf32>, %k: memref<1x1x40x16xf32>,
                           %v: memref<1x1x40x16xf32>, %m: memref<1x1x2x40xi1>,
                           %o: memref<1x8x2x16xf32>) {
  attn.attention heads(8, 1) scale(0.25) causal(38)
    ins(%q, %k, %v : memref<1x8x2x16xf32>, memref<1x1x40x16xf32>,
                     memref<1x1x40x16xf32>)
    mask(%m : memref<1x1x2x40xi1>)
    outs(%o : memref<1x8x2x16xf32>)
  return
}

// -----

// Decode on f16 caches with 4 query heads per KV head and one query row
// takes the grouped decode kernel: key and value rows are read as vectors of the lane width at f16 and widened
// in registers (arith.extf right after each read, no f32 tile), and with at
// most half a vector of rows the head dimension runs across the lanes:
// lanes/4 keys x 4 rows of accumulators folded into one vector of scores by
// vector.shuffle + addf (no vector.reduction), then the online softmax on
// full row-periodic vectors, the next tile's key and value rows prefetched
// through flat views of the caches, spread over the score loop (key rows)
// and the value loop (value rows). The new rows are copied into the caches at
// `position` first, then the keys [0, position + Sn) are attended (a dynamic
// bound); the split count depends on that bound. f16 is widened with
// arith.extf on load and narrowed with arith.truncf on the final store.
// A position outside the cache writes nothing, makes the output NaN and
// reports the position's argument (3), the row (-1: one position), the
// position, Sn and the capacity to the runtime.

// CHECK-LABEL: func.func private @attn_rt_report_position_error(i64, i64, i64, i64, i64)
// CHECK-LABEL: func.func @decode_f16(
// CHECK-SAME:    %[[POS:[^:]+]]: index
// CHECK-SAME:    %[[OUT:[^:]+]]: memref<1x8x1x16xf16>, %[[KC:[^:]+]]: memref<1x2x128x16xf16>, %[[VC:[^:]+]]: memref<1x2x128x16xf16>)
// CHECK-DAG:     %[[NAN:.+]] = arith.constant 0x7E00 : f16
// CHECK-DAG:     %[[ARG3:.+]] = arith.constant 3 : i64
// CHECK-DAG:     %[[NOROW:.+]] = arith.constant -1 : i64
// CHECK:         %[[END:.+]] = arith.addi %[[POS]], %c1
// CHECK:         %[[TOOFAR:.+]] = arith.cmpi sgt, %[[END]], %c128
// CHECK:         %[[NEG:.+]] = arith.cmpi slt, %[[POS]], %c0
// CHECK:         %[[BAD:.+]] = arith.ori %[[NEG]], %[[TOOFAR]]
// CHECK:         scf.if %[[BAD]] {
// CHECK:           linalg.fill ins(%[[NAN]] : f16) outs(%[[OUT]] :
// CHECK:           %[[POS64:.+]] = arith.index_cast %[[POS]] : index to i64
// CHECK:           func.call @attn_rt_report_position_error(%[[ARG3]], %[[NOROW]], %[[POS64]], %c1_i64, %c128_i64)
// CHECK:         } else {
// CHECK:         %[[KWIN:.+]] = memref.subview %[[KC]][0, 0, %[[POS]], 0] [1, 2, 1, 16]
// CHECK:         memref.copy %{{.+}}, %[[KWIN]]
// CHECK:         %[[VWIN:.+]] = memref.subview %[[VC]][0, 0, %[[POS]], 0] [1, 2, 1, 16]
// CHECK:         memref.copy %{{.+}}, %[[VWIN]]
// CHECK:         scf.parallel
// CHECK:           arith.minsi {{.*}}%[[END]]
// CHECK:           %[[KF:.+]] = memref.collapse_shape %[[KC]] {{\[\[}}0, 1, 2, 3]] : memref<1x2x128x16xf16> into memref<4096xf16>
// CHECK:           %[[VF:.+]] = memref.collapse_shape %[[VC]] {{\[\[}}0, 1, 2, 3]]
// CHECK:           memref.prefetch %[[KF]]
// LANES8:          vector.transfer_read %[[KC]]{{.*}} vector<8xf16>
// LANES8-NEXT:     arith.extf %{{.+}} : vector<8xf16> to vector<8xf32>
// LANES16:         vector.transfer_read %[[KC]]{{.*}} vector<16xf16>
// LANES16-NEXT:    arith.extf %{{.+}} : vector<16xf16> to vector<16xf32>
// CHECK-NOT:       memref.alloca
// CHECK-NOT:       vector.reduction
// LANES8:          vector.shuffle {{.*}} : vector<8xf32>, vector<8xf32>
// LANES16:         vector.shuffle {{.*}} : vector<16xf32>, vector<16xf32>
// LANES8:          arith.cmpf ogt, {{.*}} : vector<8xf32>
// LANES16:         arith.cmpf ogt, {{.*}} : vector<16xf32>
// CHECK:           memref.prefetch %[[VF]]
// LANES8:          vector.transfer_read %[[VC]]{{.*}} vector<8xf16>
// LANES8-NEXT:     arith.extf %{{.+}} : vector<8xf16> to vector<8xf32>
// LANES16:         vector.transfer_read %[[VC]]{{.*}} vector<16xf16>
// LANES16-NEXT:    arith.extf %{{.+}} : vector<16xf16> to vector<16xf32>
// CHECK:         scf.parallel
// CHECK:           arith.truncf %{{.+}} : vector<8xf32> to vector<8xf16>
// CHECK-NOT:     attn.decode
func.func @decode_f16(%q: memref<1x8x1x16xf16>, %k: memref<1x2x1x16xf16>,
                      %v: memref<1x2x1x16xf16>, %pos: index,
                      %o: memref<1x8x1x16xf16>, %kc: memref<1x2x128x16xf16>,
                      %vc: memref<1x2x128x16xf16>) {
  attn.decode heads(8, 2) scale(0.25) causal
    ins(%q, %k, %v : memref<1x8x1x16xf16>, memref<1x2x1x16xf16>,
                     memref<1x2x1x16xf16>)
    position(%pos)
    outs(%o, %kc, %vc : memref<1x8x1x16xf16>, memref<1x2x128x16xf16>,
                        memref<1x2x128x16xf16>)
  return
}

// -----

// Every score modifier at once: kv_seq_lens cuts the key range of the batch
// (loaded, cast to index, min with the key count), softcap divides by the cap
// before the mask is applied, the boolean mask selects -inf for false, and
// causal(42) hides key j from row i when j > i + 42.

// CHECK-LABEL: func.func @modifiers(
// CHECK-SAME:    %[[M:[^:]+]]: memref<3x45xi1>, %[[LENS:[^:]+]]: memref<1xi32>
// CHECK:         scf.parallel
// CHECK:           %[[LEN:.+]] = memref.load %[[LENS]]
// CHECK:           arith.index_cast %[[LEN]] : i32 to index
// CHECK:           scf.for
// CHECK:             vector.reduction <add>
// CHECK:             arith.divf %{{.+}}, %cst
// CHECK:             %[[KEEP:.+]] = memref.load %[[M]]
// CHECK:             arith.select %[[KEEP]]
// CHECK:             arith.cmpi sgt
// CHECK-NOT:     attn.attention
func.func @modifiers(%q: memref<1x4x3x16xf32>, %k: memref<1x4x45x16xf32>,
                     %v: memref<1x4x45x16xf32>, %m: memref<3x45xi1>,
                     %lens: memref<1xi32>, %o: memref<1x4x3x16xf32>) {
  attn.attention heads(4, 4) scale(0.25) causal(42) softcap(30.0)
    ins(%q, %k, %v : memref<1x4x3x16xf32>, memref<1x4x45x16xf32>,
                     memref<1x4x45x16xf32>)
    mask(%m : memref<3x45xi1>) kv_seq_lens(%lens : memref<1xi32>)
    outs(%o : memref<1x4x3x16xf32>)
  return
}

// -----

// An additive f16 mask is widened and added to the score; a head size that
// is not a multiple of the vector width (7) reads out-of-bounds lanes as 0
// (transfer_read without in_bounds) and writes only the valid lanes.

// CHECK-LABEL: func.func @additive_mask_odd_head(
// CHECK-SAME:    %[[K:[^:]+]]: memref<1x1x9x7xf32>
// CHECK-SAME:    %[[M:[^:]+]]: memref<1x3x2x9xf16>
// CHECK:         scf.parallel
// CHECK:           vector.transfer_read %[[K]]{{.+}} : memref<1x1x9x7xf32>, vector<8xf32>
// CHECK:           %[[ADD:.+]] = memref.load %[[M]]
// CHECK:           %[[WIDE:.+]] = arith.extf %[[ADD]] : f16 to f32
// CHECK:           arith.addf %{{.+}}, %[[WIDE]]
// CHECK:         scf.parallel
// CHECK:           vector.transfer_write {{.+}} : vector<8xf32>, memref<1x3x2x7xf32>
func.func @additive_mask_odd_head(%q: memref<1x3x2x7xf32>, %k: memref<1x1x9x7xf32>,
                                  %v: memref<1x1x9x7xf32>, %m: memref<1x3x2x9xf16>,
                                  %o: memref<1x3x2x7xf32>) {
  attn.attention heads(3, 1) scale(0.5)
    ins(%q, %k, %v : memref<1x3x2x7xf32>, memref<1x1x9x7xf32>,
                     memref<1x1x9x7xf32>)
    mask(%m : memref<1x3x2x9xf16>)
    outs(%o : memref<1x3x2x7xf32>)
  return
}
