// Tree masks (speculative-decode verification) and ring caches (window
// layers) on the cuda target, as attn.decode defines them and the CPU
// lowers them (AttnToLoops/TreeMask.cpp, the ring slots of
// WindowRingCache): the tree is one more operand of the partial kernel,
// applied to the new tokens' keys; a ring is addressed slot j % W by the
// append and the partial kernel, and the check kernel refuses only a
// negative position.
// RUN: attn-opt %s --convert-attn-to-gpu -split-input-file -verify-diagnostics | FileCheck %s

// A [B, Sn, Sn] i8 tree, GQA 4/2 f32 (CUDA-core kernel), i32 positions:
// the append is unchanged (every draft token written at pos[b] + t); the
// partial kernel takes the tree after the error record and, per key j of
// the loop, keeps it iff j < pos[b] (a cache key) or tree[b, row, j -
// pos[b]] != 0 (the index clamped into the tree for keys past the end).
// CHECK-LABEL: func.func @tree_cuda_cores
// CHECK-SAME: %[[POS:[a-z0-9]+]]: memref<2xi32>, %[[TREE:[a-z0-9]+]]: memref<2x3x3xi8>
// CHECK: gpu.launch_func @attn_kernels::@attn_check_0
// CHECK: gpu.launch_func @attn_kernels::@attn_append_0
// CHECK-SAME: args(%{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}, %[[POS]] : memref<2xi32>, %{{.+}} : !llvm.ptr)
// CHECK: gpu.launch_func @attn_kernels::@attn_partial_0 blocks in (%c1{{[_0-9]*}}, %c4{{[_0-9]*}}, %c3{{[_0-9]*}})
// CHECK-SAME: %[[POS]] : memref<2xi32>, %{{.+}} : !llvm.ptr, %[[TREE]] : memref<2x3x3xi8>, %{{.+}} : memref<2x4x3x8xf32>)
// CHECK: gpu.func @attn_append_0
// CHECK: %[[AP:.+]] = arith.addi %{{.+}}, %{{.+}} : index
// CHECK-NOT: arith.remui %[[AP]]
// CHECK: memref.store %{{.+}}, %arg2[%{{.+}}, %{{.+}}, %[[AP]], %{{.+}}] : memref<2x2x16x8xf32>
// CHECK: gpu.func @attn_partial_0(%{{.+}}: memref<2x2x16x8xf32>, %{{.+}}: memref<2x2x16x8xf32>, %[[KPOS:.+]]: memref<2xi32>, %{{.+}}: !llvm.ptr, %[[KTREE:.+]]: memref<2x3x3xi8>,
// CHECK: %[[B:.+]] = arith.divui %{{.+}}, %c2
// CHECK: %[[P32:.+]] = memref.load %[[KPOS]][%[[B]]] : memref<2xi32>
// CHECK: %[[P:.+]] = arith.index_cast %[[P32]] : i32 to index
// CHECK: scf.for
// CHECK: %[[J:.+]] = arith.addi %arg{{[0-9]+}}, %{{.+}} : index
// CHECK: %[[INRANGE:.+]] = arith.cmpi slt, %[[J]], %{{.+}} : index
// CHECK: %[[OLD:.+]] = arith.cmpi slt, %[[J]], %[[P]] : index
// CHECK: %[[T0:.+]] = arith.subi %[[J]], %[[P]] : index
// CHECK: %[[T1:.+]] = arith.select %[[OLD]], %c0{{.*}}, %[[T0]] : index
// CHECK: %[[T:.+]] = arith.minsi %[[T1]], %c2{{.*}} : index
// CHECK: %[[E:.+]] = memref.load %[[KTREE]][%[[B]], %block_id_z, %[[T]]] : memref<2x3x3xi8>
// CHECK: %[[NZ:.+]] = arith.cmpi ne, %[[E]], %c0_i8{{.*}} : i8
// CHECK: %[[KEEP:.+]] = arith.ori %[[OLD]], %[[NZ]] : i1
// CHECK: arith.andi %[[INRANGE]], %[[KEEP]] : i1
func.func @tree_cuda_cores(%q: memref<2x4x3x8xf32>, %k: memref<2x2x3x8xf32>,
                           %v: memref<2x2x3x8xf32>, %pos: memref<2xi32>,
                           %tree: memref<2x3x3xi8>, %o: memref<2x4x3x8xf32>,
                           %kc: memref<2x2x16x8xf32>, %vc: memref<2x2x16x8xf32>) {
  attn.decode heads(4, 2) scale(0.25) causal
      ins(%q, %k, %v : memref<2x4x3x8xf32>, memref<2x2x3x8xf32>, memref<2x2x3x8xf32>)
      positions(%pos : memref<2xi32>) tree_mask(%tree : memref<2x3x3xi8>)
      outs(%o, %kc, %vc : memref<2x4x3x8xf32>, memref<2x2x16x8xf32>, memref<2x2x16x8xf32>)
  return
}

// -----

// A ring of W = 8 slots for window(7, 0), one position for the batch: the
// check kernel tests only pos < 0 (a ring has no capacity: no comparison
// with 8); the append writes slot (pos + t) % 8; the partial kernel reads
// key j from slot j % 8, with no clamp to the last slot.
// CHECK-LABEL: func.func @ring_scalar
// CHECK: gpu.func @attn_check_0
// CHECK-NOT: arith.cmpi sgt
// CHECK: arith.cmpi slt, %{{.+}}, %c0
// CHECK-NOT: arith.cmpi sgt
// CHECK: gpu.func @attn_append_0
// CHECK: %[[AP:.+]] = arith.addi %{{.+}}, %{{.+}} : index
// CHECK: %[[SLOT:.+]] = arith.remui %[[AP]], %c8 : index
// CHECK: memref.store %{{.+}}, %arg2[%{{.+}}, %{{.+}}, %[[SLOT]], %{{.+}}] : memref<1x2x8x8xf32>
// CHECK: memref.store %{{.+}}, %arg3[%{{.+}}, %{{.+}}, %[[SLOT]], %{{.+}}] : memref<1x2x8x8xf32>
// CHECK: gpu.func @attn_partial_0
// CHECK: scf.for
// CHECK-NOT: arith.minsi %{{.+}}, %c7
// CHECK: %[[RS:.+]] = arith.remui %{{.+}}, %c8{{.*}} : index
// CHECK: vector.load %arg1[%{{.+}}, %{{.+}}, %[[RS]], %{{.+}}]
// CHECK: vector.load %arg2[%{{.+}}, %{{.+}}, %[[RS]], %{{.+}}]
func.func @ring_scalar(%q: memref<1x4x1x8xf32>, %k: memref<1x2x1x8xf32>,
                       %v: memref<1x2x1x8xf32>, %p: index,
                       %o: memref<1x4x1x8xf32>,
                       %kc: memref<1x2x8x8xf32>, %vc: memref<1x2x8x8xf32>) {
  attn.decode heads(4, 2) scale(0.25) causal window(7, 0) ring
      ins(%q, %k, %v : memref<1x4x1x8xf32>, memref<1x2x1x8xf32>, memref<1x2x1x8xf32>)
      position(%p)
      outs(%o, %kc, %vc : memref<1x4x1x8xf32>, memref<1x2x8x8xf32>, memref<1x2x8x8xf32>)
  return
}

// -----

// Both on tensor cores: GQA 8/1 f16, D = Dv = 64, a ring of 36 slots for
// window(31, 0) and Sq = Sn = 4 with a [Sn, Sn] i1 tree shared by the batch
// (no batch index), i64 positions. A query sees at most 32 keys: one split
// (no merge). The keys (one iteration ahead) and the values are read from
// their ring slots; the tree applies to the scores of the mma's columns.
// CHECK-LABEL: func.func @ring_tree_tensor_cores
// CHECK-NOT: gpu.alloc
// CHECK: gpu.launch_func @attn_kernels::@attn_partial_0 blocks in (%c1{{[_0-9]*}}, %c2{{[_0-9]*}}, %c4{{[_0-9]*}})
// CHECK-SAME: %arg4 : memref<4x4xi1>
// CHECK-NOT: attn_merge
// CHECK: gpu.func @attn_append_0
// CHECK: arith.remui %{{.+}}, %c36 : index
// CHECK: gpu.func @attn_partial_0
// CHECK: %[[FIRST:.+]] = arith.remui %{{.+}}, %c36{{.*}} : index
// CHECK: vector.load %arg1[%{{.+}}, %{{.+}}, %[[FIRST]], %{{.+}}]
// CHECK: scf.for
// CHECK: %[[VS:.+]] = arith.remui %{{.+}}, %c36{{.*}} : index
// CHECK: vector.load %arg2[%{{.+}}, %{{.+}}, %[[VS]], %{{.+}}]
// CHECK: nvvm.mma.sync
// CHECK: memref.load %arg5[%block_id_z, %{{.+}}] : memref<4x4xi1>
// CHECK: nvvm.mma.sync
func.func @ring_tree_tensor_cores(%q: memref<2x8x4x64xf16>, %k: memref<2x1x4x64xf16>,
                                  %v: memref<2x1x4x64xf16>, %pos: memref<2xi64>,
                                  %tree: memref<4x4xi1>, %o: memref<2x8x4x64xf16>,
                                  %kc: memref<2x1x36x64xf16>, %vc: memref<2x1x36x64xf16>) {
  attn.decode heads(8, 1) scale(0.125) causal window(31, 0) ring
      ins(%q, %k, %v : memref<2x8x4x64xf16>, memref<2x1x4x64xf16>, memref<2x1x4x64xf16>)
      positions(%pos : memref<2xi64>) tree_mask(%tree : memref<4x4xi1>)
      outs(%o, %kc, %vc : memref<2x8x4x64xf16>, memref<2x1x36x64xf16>, memref<2x1x36x64xf16>)
  return
}

// -----

// A tree over paged f16 pools (f32 queries): each key's page comes from the
// table, and the tree applies per key as above.
// CHECK-LABEL: func.func @tree_paged
// CHECK: gpu.func @attn_partial_0
// CHECK: scf.for
// CHECK: memref.load %arg4[%{{.+}}, %{{.+}}] : memref<2x4xi32>
// CHECK: memref.load %arg6[%{{.+}}, %block_id_z, %{{.+}}] : memref<2x2x2xi1>
func.func @tree_paged(%q: memref<2x4x2x8xf32>, %k: memref<2x2x2x8xf32>,
                      %v: memref<2x2x2x8xf32>, %pos: memref<2xi32>,
                      %table: memref<2x4xi32>, %tree: memref<2x2x2xi1>,
                      %o: memref<2x4x2x8xf32>,
                      %kp: memref<8x2x4x8xf16>, %vp: memref<8x2x4x8xf16>) {
  attn.decode heads(4, 2) scale(0.25) causal
      ins(%q, %k, %v : memref<2x4x2x8xf32>, memref<2x2x2x8xf32>, memref<2x2x2x8xf32>)
      positions(%pos : memref<2xi32>) block_table(%table : memref<2x4xi32>)
      tree_mask(%tree : memref<2x2x2xi1>)
      outs(%o, %kp, %vp : memref<2x4x2x8xf32>, memref<8x2x4x8xf16>, memref<8x2x4x8xf16>)
  return
}

// -----

// What the kernels are not built for is an error at the op: a tree mask of
// dynamic shape.
func.func @tree_dynamic(%q: memref<2x4x3x8xf32>, %k: memref<2x2x3x8xf32>,
                        %v: memref<2x2x3x8xf32>, %pos: memref<2xi32>,
                        %tree: memref<?x3x3xi1>, %o: memref<2x4x3x8xf32>,
                        %kc: memref<2x2x16x8xf32>, %vc: memref<2x2x16x8xf32>) {
  // expected-error @below {{the cuda target needs static shapes for the caches, positions, block table, scales and tree mask; 'memref<?x3x3xi1>' is not}}
  attn.decode heads(4, 2) scale(0.25) causal
      ins(%q, %k, %v : memref<2x4x3x8xf32>, memref<2x2x3x8xf32>, memref<2x2x3x8xf32>)
      positions(%pos : memref<2xi32>) tree_mask(%tree : memref<?x3x3xi1>)
      outs(%o, %kc, %vc : memref<2x4x3x8xf32>, memref<2x2x16x8xf32>, memref<2x2x16x8xf32>)
  return
}
