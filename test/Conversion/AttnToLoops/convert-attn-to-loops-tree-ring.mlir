// RUN: attn-opt %s --split-input-file --convert-attn-to-loops -canonicalize | FileCheck %s

// A ring decode, causal window(15, 0) over W = 16 slots: the position scan
// refuses only negative positions (no capacity check), the append stores
// position pos + t into slot (pos + t) % 16 element by element (no
// contiguous copy: the new rows may wrap around), and the kernel visits the
// keys [max(pos - 15, 0), pos + 1) of the window only, reading key j from
// slot j % 16.
// CHECK-LABEL: func.func @ring(
// CHECK-SAME:    %[[POS:[^:]+]]: memref<2xi32>
// CHECK-SAME:    %[[KC:[^:]+]]: memref<2x4x16x8xf32>, %[[VC:[^:]+]]: memref<2x4x16x8xf32>)
// CHECK:         scf.for
// CHECK-NOT:       arith.cmpi sgt
// CHECK:           arith.cmpi slt
// CHECK:         scf.yield
// CHECK:         scf.if
// CHECK:           %[[SLOT:.+]] = arith.remui %{{.+}}, %c16
// CHECK:           memref.store %{{.+}}, %[[KC]][%{{.+}}, %{{.+}}, %[[SLOT]], %{{.+}}]
// CHECK-NOT:       memref.copy
// CHECK:           scf.parallel
// CHECK:             %[[LO:.+]] = arith.subi %{{.+}}, %c15
// CHECK:             %[[BEGIN:.+]] = arith.maxsi %[[LO]], %c0
// CHECK:             scf.for %{{.+}} = %{{.+}} to
// CHECK:               %[[J:.+]] = arith.addi
// CHECK:               %[[S:.+]] = arith.remui %[[J]], %c16
// CHECK:               vector.transfer_read %[[KC]][%{{.+}}, %{{.+}}, %[[S]], %c0]
func.func @ring(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %pos: memref<2xi32>, %o: memref<2x4x1x8xf32>, %kc: memref<2x4x16x8xf32>, %vc: memref<2x4x16x8xf32>) {
  attn.decode heads(4, 4) scale(0.5) causal window(15, 0) ring ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) positions(%pos : memref<2xi32>) outs(%o, %kc, %vc : memref<2x4x1x8xf32>, memref<2x4x16x8xf32>, memref<2x4x16x8xf32>)
  return
}

// -----

// A tree mask over 3 draft tokens (MHA: the per-row kernel): each score of
// key j at or after the first draft's position p = pos[b] reads
// tree[b, row, j - p] and becomes -inf where it is false.
// CHECK-LABEL: func.func @tree(
// CHECK-SAME:    %[[TREE:[^:]+]]: memref<2x3x3xi1>
// CHECK:         scf.parallel
// CHECK:           %[[NEW:.+]] = arith.cmpi sge, %[[J:.+]], %[[P:.+]] : index
// CHECK:           %[[T:.+]] = arith.subi %[[J]], %[[P]]
// CHECK:           %[[SAFE:.+]] = arith.select %[[NEW]], %[[T]], %c0
// CHECK:           %[[KEEP:.+]] = memref.load %[[TREE]][%{{.+}}, %{{.+}}, %[[SAFE]]] : memref<2x3x3xi1>
// CHECK:           %[[DROP:.+]] = arith.xori %[[KEEP]], %true
// CHECK:           %[[HIDE:.+]] = arith.andi %[[NEW]], %[[DROP]]
// CHECK:           arith.select %[[HIDE]], %cst{{.*}}, %{{.+}} : f32
func.func @tree(%q: memref<2x4x3x8xf32>, %k: memref<2x4x3x8xf32>, %v: memref<2x4x3x8xf32>, %pos: memref<2xi32>, %tree: memref<2x3x3xi1>, %o: memref<2x4x3x8xf32>, %kc: memref<2x4x16x8xf32>, %vc: memref<2x4x16x8xf32>) {
  attn.decode heads(4, 4) scale(0.5) causal ins(%q, %k, %v : memref<2x4x3x8xf32>, memref<2x4x3x8xf32>, memref<2x4x3x8xf32>) positions(%pos : memref<2xi32>) tree_mask(%tree : memref<2x3x3xi1>) outs(%o, %kc, %vc : memref<2x4x3x8xf32>, memref<2x4x16x8xf32>, memref<2x4x16x8xf32>)
  return
}
