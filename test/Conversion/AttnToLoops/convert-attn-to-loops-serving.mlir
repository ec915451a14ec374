// RUN: attn-opt %s --split-input-file --convert-attn-to-loops | FileCheck %s

// The serving forms of attn.decode / attn.attention: per-row positions and
// sliding windows.

// A ragged batch with a 256-key window over a 16k cache. What it proves:
// 1. one scan over the rows finds the first out-of-range row and the largest
//    end pos[b] + Sn; the caches are written only when every row fits, each
//    row at its own position; otherwise the runtime hook gets the argument
//    (3), the row, its position, Sn and the capacity;
// 2. O(window) work: the key splits divide min(max end, 256) keys (window
//    255 + the query tile of 1), not the 16384 of the cache, and each work
//    item's key loop starts at max(pos[b] - 255, 0) + split * keys-per-split
//    and ends at pos[b] + 1 (the causal limit).

// CHECK-LABEL: func.func private @attn_rt_report_position_error(i64, i64, i64, i64, i64)
// CHECK-LABEL: func.func @decode_window_positions(
// CHECK-SAME:    %[[POSITIONS:[^:]+]]: memref<2xi64>
// CHECK-SAME:    %[[KC:[^:]+]]: memref<2x4x16384x16xf32>, %[[VC:[^:]+]]: memref<2x4x16384x16xf32>)
// CHECK:         %[[SCAN:.+]]:2 = scf.for %[[B:.+]] = %c0 to %c2 step %c1 iter_args(%[[FIRST:.+]] = %c-1, %[[MAXEND:.+]] = %c0)
// CHECK:           %[[P:.+]] = memref.load %[[POSITIONS]][%[[B]]]
// CHECK:           %[[PI:.+]] = arith.index_cast %[[P]] : i64 to index
// CHECK:           %[[END:.+]] = arith.addi %[[PI]], %c1
// CHECK:           arith.cmpi sgt, %[[END]], %c16384
// CHECK:           arith.maxsi %[[MAXEND]], %[[END]]
// CHECK:         %[[OK:.+]] = arith.cmpi slt, %[[SCAN]]#0, %c0
// CHECK:         scf.if %[[OK]] {
// CHECK:           scf.for %[[R:.+]] = %c0 to %c2
// CHECK:             %[[RP:.+]] = memref.load %[[POSITIONS]][%[[R]]]
// CHECK:             %[[RPI:.+]] = arith.index_cast %[[RP]]
// CHECK:             memref.subview %[[KC]][%[[R]], 0, %[[RPI]], 0] [1, 4, 1, 16]
// CHECK:             memref.copy
// CHECK:           scf.for
// CHECK:             memref.subview %[[VC]]
// CHECK:           %[[SPAN:.+]] = arith.minsi %[[SCAN]]#1, %c256
// CHECK:           %[[PER:.+]] = arith.muli %{{.+}}, %c32
// CHECK:           %[[SPLITS0:.+]] = arith.ceildivui %[[SPAN]], %[[PER]] : index
// CHECK:           %[[SPLITS:.+]] = arith.maxsi %[[SPLITS0]], %c1
// CHECK:           %[[PERBATCH:.+]] = arith.muli %[[SPLITS]], %c4 : index
// CHECK:           %[[ITEMS:.+]] = arith.muli %[[PERBATCH]], %c2 : index
// CHECK:           scf.parallel (%{{.+}}) = (%c0) to (%[[ITEMS]]) step (%c1)
// CHECK:             memref.atomic_rmw addi
// CHECK:             %[[I:.+]] = arith.index_cast %{{.+}} : i64 to index
// CHECK-NEXT:        %[[IB:.+]] = arith.divui %[[I]], %[[PERBATCH]] : index
// CHECK:               %[[INHEAD:.+]] = arith.remui %[[I]], %[[SPLITS]] : index
// CHECK-NEXT:          %[[IT:.+]] = arith.divui %[[INHEAD]], %[[SPLITS]] : index
// CHECK-NEXT:          %[[IS:.+]] = arith.remui %[[I]], %[[SPLITS]] : index
// CHECK:             %[[IP:.+]] = memref.load %[[POSITIONS]][%[[IB]]]
// CHECK:             %[[IPI:.+]] = arith.index_cast %[[IP]]
// CHECK:             %[[FROM:.+]] = arith.addi %[[IT]], %[[IPI]]
// CHECK:             %[[LEFT:.+]] = arith.subi %[[FROM]], %c255
// CHECK:             %[[BEGIN:.+]] = arith.maxsi %[[LEFT]], %c0
// CHECK:             %[[SPLITOFF:.+]] = arith.muli %[[IS]], %[[PER]]
// CHECK:             %[[KB:.+]] = arith.addi %[[BEGIN]], %[[SPLITOFF]]
// CHECK:             %[[KE:.+]] = arith.minsi
// CHECK:             scf.for %{{.+}} = %[[KB]] to %[[KE]] step %c32
// CHECK:         } else {
// CHECK:           %[[BADP:.+]] = memref.load %[[POSITIONS]][%[[SCAN]]#0]
// CHECK:           %[[ROW:.+]] = arith.index_cast %[[SCAN]]#0 : index to i64
// CHECK:           func.call @attn_rt_report_position_error(%c3_i64, %[[ROW]], %[[BADP]], %c1_i64, %c16384_i64)
func.func @decode_window_positions(%q: memref<2x4x1x16xf32>, %k: memref<2x4x1x16xf32>, %v: memref<2x4x1x16xf32>, %pos: memref<2xi64>, %o: memref<2x4x1x16xf32>, %kc: memref<2x4x16384x16xf32>, %vc: memref<2x4x16384x16xf32>) {
  attn.decode heads(4, 4) scale(0.25) causal window(255, 0) ins(%q, %k, %v : memref<2x4x1x16xf32>, memref<2x4x1x16xf32>, memref<2x4x1x16xf32>) positions(%pos : memref<2xi64>) outs(%o, %kc, %vc : memref<2x4x1x16xf32>, memref<2x4x16384x16xf32>, memref<2x4x16384x16xf32>)
  return
}

// -----

// Without a window (near-miss of the case above) the splits divide the
// largest end itself: no min with a window span.
// CHECK-LABEL: func.func @decode_positions_no_window(
// CHECK:         %[[SCAN:.+]]:2 = scf.for
// CHECK:         scf.if
// CHECK-NOT:       arith.minsi %[[SCAN]]#1
// CHECK:           arith.ceildivui %[[SCAN]]#1, %c8
func.func @decode_positions_no_window(%q: memref<2x4x1x16xf32>, %k: memref<2x4x1x16xf32>, %v: memref<2x4x1x16xf32>, %pos: memref<2xi32>, %o: memref<2x4x1x16xf32>, %kc: memref<2x4x16384x16xf32>, %vc: memref<2x4x16384x16xf32>) {
  attn.decode heads(4, 4) scale(0.25) causal ins(%q, %k, %v : memref<2x4x1x16xf32>, memref<2x4x1x16xf32>, memref<2x4x1x16xf32>) positions(%pos : memref<2xi32>) outs(%o, %kc, %vc : memref<2x4x1x16xf32>, memref<2x4x16384x16xf32>, memref<2x4x16384x16xf32>)
  return
}

// -----

// A causal prefill window on attn.attention with rows across vector lanes
// (GQA 8/1, query tiles of 4 rows): a key tile is masked row by row only
// when it crosses the diagonal or the left edge of some row's window.
// CHECK-LABEL: func.func @attention_window_prefill(
// CHECK:         scf.parallel
// CHECK:           arith.subi %{{.+}}, %c15
// CHECK:           arith.maxsi %{{.+}}, %c0
// CHECK:           scf.for
// CHECK:             %[[CROSS_LEFT:.+]] = arith.cmpi slt, %{{.+}}, %{{.+}} : index
// CHECK:             %[[CROSS:.+]] = arith.ori %{{.+}}, %[[CROSS_LEFT]] : i1
// CHECK:             scf.if %[[CROSS]]
func.func @attention_window_prefill(%q: memref<1x8x64x16xf32>, %k: memref<1x1x64x16xf32>, %v: memref<1x1x64x16xf32>, %o: memref<1x8x64x16xf32>) {
  attn.attention heads(8, 1) scale(0.25) causal(0) window(15, 0) ins(%q, %k, %v : memref<1x8x64x16xf32>, memref<1x1x64x16xf32>, memref<1x1x64x16xf32>) outs(%o : memref<1x8x64x16xf32>)
  return
}
