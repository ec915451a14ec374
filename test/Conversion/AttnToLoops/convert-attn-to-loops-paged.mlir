// RUN: attn-opt %s --split-input-file --convert-attn-to-loops | FileCheck %s

// attn.decode over a paged cache: page pools [64 pages, 2 heads, 16 slots,
// 16] read through a [2, 8] block table (capacity 8 * 16 = 128). What it
// proves:
// 1. no copy of the cache: no memref.copy at all, and the only allocation
//    is the kernel's split scratch (nothing of the pools' size);
// 2. the positions are checked against max_pages * page_size = 128, then
//    the table entries of pages [0, ceil((pos + Sn) / 16)) of every row
//    against the 64 pages of the pool; the first bad one goes to the runtime
//    hook (table argument 7, its row, the entry, -(column + 1), 64);
// 3. the append stores each new row at (table[b, t / 16], h, t % 16);
// 4. the kernel reads every key and value through the table: the page
//    index of a key comes from a load of the table, its slot is the key
//    index modulo 16, so tiles cross pages freely.

// CHECK-LABEL: func.func @paged_gqa(
// CHECK-SAME:    %[[KP:[^:]+]]: memref<64x2x16x16xf32>, %[[VP:[^:]+]]: memref<64x2x16x16xf32>, %[[POS:[^:]+]]: memref<2xi32>, %[[TABLE:[^:]+]]: memref<2x8xi32>)
// CHECK-NOT:     memref.copy
// CHECK-NOT:     memref.alloc
// CHECK:         %[[SCAN:.+]]:2 = scf.for %[[B:.+]] = %c0 to %c2 step %c1 iter_args(
// CHECK:           %[[P:.+]] = memref.load %[[POS]][%[[B]]] : memref<2xi32>
// CHECK:           arith.cmpi sgt, %{{.+}}, %c128 : index
// CHECK:         scf.if
// CHECK:           scf.for %[[TB:.+]] = %c0 to %c2
// CHECK:             %[[USED:.+]] = arith.ceildivui %{{.+}}, %c16 : index
// CHECK:             scf.for %[[COL:.+]] = %c0 to %[[USED]]
// CHECK:               %[[ENTRY:.+]] = memref.load %[[TABLE]][%[[TB]], %[[COL]]] : memref<2x8xi32>
// CHECK:               %[[PAGE:.+]] = arith.index_cast %[[ENTRY]] : i32 to index
// CHECK:               arith.cmpi sge, %[[PAGE]], %c64 : index
// CHECK:               arith.cmpi slt, %[[PAGE]], %c0 : index
// CHECK:           scf.if
// Append of the keys into the page holding each position.
// CHECK:             %[[J:.+]] = arith.addi
// CHECK:             %[[COLUMN:.+]] = arith.divui %[[J]], %c16 : index
// CHECK:             %[[E:.+]] = memref.load %[[TABLE]][%{{.+}}, %[[COLUMN]]] : memref<2x8xi32>
// CHECK:             %[[APAGE:.+]] = arith.index_cast %[[E]] : i32 to index
// CHECK:             %[[SLOT:.+]] = arith.remui %[[J]], %c16 : index
// CHECK:             memref.store %{{.+}}, %[[KP]][%[[APAGE]], %{{.+}}, %[[SLOT]], %{{.+}}] : memref<64x2x16x16xf32>
// CHECK:             memref.store %{{.+}}, %[[VP]][%{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}] : memref<64x2x16x16xf32>
// CHECK-NOT:         memref.copy
// CHECK:             %[[SCRATCH:.+]] = memref.alloc({{.*}}) : memref<?x2x?x?x4x18xf32>
// CHECK-NOT:         memref.copy
// CHECK-NOT:         memref.alloc(
// Scores: the key row's page and slot through the table.
// CHECK:             %[[KCOL:.+]] = arith.divui %[[KJ:.+]], %c16 : index
// CHECK:             %[[KE:.+]] = memref.load %[[TABLE]][%{{.+}}, %[[KCOL]]] : memref<2x8xi32>
// CHECK:             %[[KPAGE:.+]] = arith.index_cast %[[KE]] : i32 to index
// CHECK:             %[[KSLOT:.+]] = arith.remui %[[KJ]], %c16 : index
// CHECK:             vector.transfer_read %[[KP]][%[[KPAGE]], %{{.+}}, %[[KSLOT]], %{{.+}}]
// Values likewise.
// CHECK:             %[[VE:.+]] = memref.load %[[TABLE]]
// CHECK:             %[[VPAGE:.+]] = arith.index_cast %[[VE]] : i32 to index
// CHECK:             %[[VSLOT:.+]] = arith.remui
// CHECK:             vector.transfer_read %[[VP]][%[[VPAGE]], %{{.+}}, %[[VSLOT]], %{{.+}}]
// CHECK:             memref.dealloc %[[SCRATCH]]
// CHECK:           } else {
// CHECK:             %[[BADENTRY:.+]] = memref.load %[[TABLE]]
// CHECK:             %[[NEGCOL:.+]] = arith.subi %c-1, %{{.+}} : index
// CHECK:             linalg.fill
// CHECK:             func.call @attn_rt_report_position_error(%c7_i64, %{{.+}}, %{{.+}}, %{{.+}}, %c64_i64)
// CHECK:         } else {
// CHECK:           func.call @attn_rt_report_position_error(%c6_i64, %{{.+}}, %{{.+}}, %c1_i64, %c128_i64)
// CHECK-NOT:     memref.copy
// CHECK:         return
func.func private @attn_rt_report_position_error(i64, i64, i64, i64, i64)
func.func @paged_gqa(%q: memref<2x8x1x16xf32>, %k: memref<2x2x1x16xf32>, %v: memref<2x2x1x16xf32>, %o: memref<2x8x1x16xf32>, %kp: memref<64x2x16x16xf32>, %vp: memref<64x2x16x16xf32>, %pos: memref<2xi32>, %t: memref<2x8xi32>) {
  attn.decode heads(8, 2) scale(0.25) causal ins(%q, %k, %v : memref<2x8x1x16xf32>, memref<2x2x1x16xf32>, memref<2x2x1x16xf32>) positions(%pos : memref<2xi32>) block_table(%t : memref<2x8xi32>) outs(%o, %kp, %vp : memref<2x8x1x16xf32>, memref<64x2x16x16xf32>, memref<64x2x16x16xf32>)
  return
}

// -----

// Eight query heads per KV head take the grouped decode kernel: its key
// and value elements (both broadcast against row vectors) are loaded
// through the table as well, still with no copy and without the prefetch of
// contiguous caches.
// CHECK-LABEL: func.func @paged_row_vector(
// CHECK-SAME:    %[[KP:[^:]+]]: memref<32x1x8x16xf32>, %[[VP:[^:]+]]: memref<32x1x8x16xf32>, %[[POS:[^:]+]]: memref<3xi64>, %[[TABLE:[^:]+]]: memref<3x4xi64>)
// CHECK-NOT:     memref.copy
// CHECK:         memref.store %{{.+}}, %[[KP]]
// CHECK:         memref.store %{{.+}}, %[[VP]]
// CHECK-NOT:     memref.copy
// CHECK:         %[[KE:.+]] = memref.load %[[TABLE]][%{{.+}}, %{{.+}}] : memref<3x4xi64>
// CHECK:         %[[KPAGE:.+]] = arith.index_cast %[[KE]] : i64 to index
// CHECK:         memref.load %[[KP]][%[[KPAGE]], %{{.+}}, %{{.+}}, %{{.+}}] : memref<32x1x8x16xf32>
// CHECK:         %[[VE:.+]] = memref.load %[[TABLE]][%{{.+}}, %{{.+}}] : memref<3x4xi64>
// CHECK:         %[[VPAGE:.+]] = arith.index_cast %[[VE]] : i64 to index
// CHECK:         memref.load %[[VP]][%[[VPAGE]], %{{.+}}, %{{.+}}, %{{.+}}] : memref<32x1x8x16xf32>
// CHECK-NOT:     memref.copy
// CHECK-NOT:     memref.prefetch
// CHECK:         return
func.func @paged_row_vector(%q: memref<3x8x1x16xf32>, %k: memref<3x1x1x16xf32>, %v: memref<3x1x1x16xf32>, %o: memref<3x8x1x16xf32>, %kp: memref<32x1x8x16xf32>, %vp: memref<32x1x8x16xf32>, %pos: memref<3xi64>, %t: memref<3x4xi64>) {
  attn.decode heads(8, 1) scale(0.25) ins(%q, %k, %v : memref<3x8x1x16xf32>, memref<3x1x1x16xf32>, memref<3x1x1x16xf32>) positions(%pos : memref<3xi64>) block_table(%t : memref<3x4xi64>) outs(%o, %kp, %vp : memref<3x8x1x16xf32>, memref<32x1x8x16xf32>, memref<32x1x8x16xf32>)
  return
}
