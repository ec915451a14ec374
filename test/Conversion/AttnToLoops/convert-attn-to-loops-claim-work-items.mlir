// RUN: attn-opt %s --split-input-file --convert-attn-to-loops \
// RUN:   | FileCheck %s --check-prefix=CLAIM --implicit-check-not=alloca_scope
// RUN: attn-opt %s --split-input-file \
// RUN:   --convert-attn-to-loops=claim-work-items=false \
// RUN:   | FileCheck %s --check-prefix=BLOCKS

// The work items of a decode step: 2 batch rows x 2 KV heads x 1 query tile
// x 4 key splits (position 2047 + 1 new row = 2048 keys, 512 per split) =
// 16 partials. By default (claim-work-items) the parallel loop has one
// iteration per item, and each iteration claims items from a counter
// (memref.atomic_rmw addi, starting at 0) until the counter passes the item
// count: a thread whose first iteration starts early takes items as long as
// there are any, whatever the static schedule gave it. The claimed index is
// split into (batch, KV head, tile, split) with the split fastest (one
// query tile here, so the items per KV head are the splits). The item's
// stack buffers are allocated once per parallel iteration, before the claim
// loop, and none inside it: no alloca_scope, so the scf.while body stays
// one block down to scf-to-cf. claim-work-items=false keeps the 4-D loop
// over the items.

// CLAIM-LABEL: func.func @decode_items(
// CLAIM:         %[[SCRATCH:.+]] = memref.alloc(%c2, %c1, %[[SPLITS:.+]]) : memref<?x2x?x?x4x18xf32>
// CLAIM-NEXT:    %[[PERBATCH:.+]] = arith.muli %[[SPLITS]], %c2 : index
// CLAIM-NEXT:    %[[COUNT:.+]] = arith.muli %[[PERBATCH]], %c2 : index
// CLAIM-NEXT:    %[[NEXT:.+]] = memref.alloca() : memref<1xi64>
// CLAIM-NEXT:    memref.store %c0_i64, %[[NEXT]][%c0] : memref<1xi64>
// CLAIM-NEXT:    %[[ITEMS:.+]] = arith.index_cast %[[COUNT]] : index to i64
// CLAIM-NEXT:    scf.parallel (%{{.+}}) = (%c0) to (%[[COUNT]]) step (%c1) {
// CLAIM-NEXT:      %[[QUERIES:.+]] = memref.alloca() : memref<4x16xf32>
// CLAIM-NEXT:      memref.alloca() : memref<4x16xf32>
// CLAIM-NEXT:      memref.alloca() : memref<128xf32>
// CLAIM-COUNT-3:   memref.alloca() : memref<8xf32>
// CLAIM-NEXT:      scf.while : () -> i64 {
// CLAIM-NEXT:        %[[CLAIMED:.+]] = memref.atomic_rmw addi %c1_i64, %[[NEXT]][%c0] : (i64, memref<1xi64>) -> i64
// CLAIM-NEXT:        %[[MORE:.+]] = arith.cmpi slt, %[[CLAIMED]], %[[ITEMS]] : i64
// CLAIM-NEXT:        scf.condition(%[[MORE]]) %[[CLAIMED]] : i64
// CLAIM-NEXT:      } do {
// CLAIM-NEXT:      ^bb0(%[[I64:.+]]: i64):
// CLAIM-NEXT:        %[[I:.+]] = arith.index_cast %[[I64]] : i64 to index
// CLAIM-NEXT:        %[[B:.+]] = arith.divui %[[I]], %[[PERBATCH]] : index
// CLAIM-NEXT:        %[[INBATCH:.+]] = arith.remui %[[I]], %[[PERBATCH]] : index
// CLAIM-NEXT:        %[[G:.+]] = arith.divui %[[INBATCH]], %[[SPLITS]] : index
// CLAIM-NEXT:        %[[INHEAD:.+]] = arith.remui %[[I]], %[[SPLITS]] : index
// CLAIM-NEXT:        %[[T:.+]] = arith.divui %[[INHEAD]], %[[SPLITS]] : index
// CLAIM-NEXT:        %[[S:.+]] = arith.remui %[[I]], %[[SPLITS]] : index
// CLAIM-NOT:         memref.alloca
// CLAIM:             memref.store %{{.+}}, %[[QUERIES]]
// CLAIM-NOT:         memref.alloca
// CLAIM:             vector.store %{{.+}}, %[[SCRATCH]][%[[B]], %[[G]], %[[T]], %[[S]], %{{.+}}, %c0]
// CLAIM-NOT:         memref.alloca
// CLAIM:             scf.yield
// CLAIM-NEXT:      }
// CLAIM-NEXT:      scf.reduce
// CLAIM-NEXT:    }
// CLAIM:         scf.parallel (%{{[^,]+}}, %{{[^,]+}}, %{{[^)]+}}) = (%c0, %c0, %c0) to (%c2, %c2, %c1)
// CLAIM:         memref.dealloc %[[SCRATCH]]

// BLOCKS-LABEL: func.func @decode_items(
// BLOCKS-NOT:    memref.atomic_rmw
// BLOCKS:        scf.parallel (%{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %{{[^)]+}}) = (%c0, %c0, %c0, %c0) to (%c2, %c2, %c1, %{{.+}})
// BLOCKS-NOT:    scf.while
// BLOCKS-NOT:    memref.atomic_rmw
// BLOCKS:        scf.parallel (%{{[^,]+}}, %{{[^,]+}}, %{{[^)]+}}) = (%c0, %c0, %c0) to (%c2, %c2, %c1)
func.func @decode_items(%q: memref<2x8x1x16xf32>, %k: memref<2x2x1x16xf32>,
                        %v: memref<2x2x1x16xf32>, %pos: index,
                        %o: memref<2x8x1x16xf32>, %kc: memref<2x2x2048x16xf32>,
                        %vc: memref<2x2x2048x16xf32>) {
  attn.decode heads(8, 2) scale(0.25) causal
    ins(%q, %k, %v : memref<2x8x1x16xf32>, memref<2x2x1x16xf32>,
                     memref<2x2x1x16xf32>)
    position(%pos)
    outs(%o, %kc, %vc : memref<2x8x1x16xf32>, memref<2x2x2048x16xf32>,
                        memref<2x2x2048x16xf32>)
  return
}

// -----

// Prefill claims its items the same way: here 3 key splits of 1100 keys
// (one batch row, KV head and query tile), the row-vector kernel (4 heads x
// 2 rows) with an f16 additive mask and softcap, the case whose per-item
// alloca_scope inside the claim loop once broke the lowering to LLVM
// (Integration/Decode/claimed-items-threads.test runs it). Its buffers too
// are the parallel iteration's.

// CLAIM-LABEL: func.func @prefill_items(
// CLAIM:         %[[SCRATCH:.+]] = memref.alloc(%c1, %c1, %c3) : memref<?x1x?x?x8x18xf32>
// CLAIM-NEXT:    %[[NEXT:.+]] = memref.alloca() : memref<1xi64>
// CLAIM-NEXT:    memref.store %c0_i64, %[[NEXT]][%c0] : memref<1xi64>
// CLAIM-NEXT:    scf.parallel (%{{.+}}) = (%c0) to (%c3) step (%c1) {
// CLAIM-NEXT:      %[[QT:.+]] = memref.alloca() : memref<16x8xf32>
// CLAIM-NEXT:      memref.alloca() : memref<16x8xf32>
// CLAIM-NEXT:      memref.alloca() : memref<30x8xf32>
// CLAIM-COUNT-3:   memref.alloca() : memref<8xf32>
// CLAIM-NEXT:      scf.while : () -> i64 {
// CLAIM-NEXT:        memref.atomic_rmw addi %c1_i64, %[[NEXT]][%c0]
// CLAIM-NOT:         memref.alloca
// CLAIM:             memref.store %{{.+}}, %[[QT]]
// CLAIM-NOT:         memref.alloca
// CLAIM:             vector.store %{{.+}}, %[[SCRATCH]]
// CLAIM-NOT:         memref.alloca
// CLAIM:           scf.reduce
// CLAIM:         scf.parallel (%{{[^,]+}}, %{{[^,]+}}, %{{[^)]+}}) = (%c0, %c0, %c0) to (%c1, %c1, %c1)

// BLOCKS-LABEL: func.func @prefill_items(
// BLOCKS-NOT:    memref.atomic_rmw
// BLOCKS:        scf.parallel (%{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %{{[^)]+}}) = (%c0, %c0, %c0, %c0) to (%c1, %c1, %c1, %c3)
// BLOCKS-NOT:    scf.while
func.func @prefill_items(%q: memref<1x4x2x16xf16>, %k: memref<1x1x1100x16xf16>,
                         %v: memref<1x1x1100x16xf16>,
                         %mask: memref<1x4x2x1100xf16>,
                         %o: memref<1x4x2x16xf16>) {
  attn.attention heads(4, 1) scale(1.0) softcap(5.0)
    ins(%q, %k, %v : memref<1x4x2x16xf16>, memref<1x1x1100x16xf16>,
                     memref<1x1x1100x16xf16>)
    mask(%mask : memref<1x4x2x1100xf16>)
    outs(%o : memref<1x4x2x16xf16>)
  return
}
