// The serving forms on the cuda target: per-row positions (read by the
// kernels from the device buffer) and sliding windows (a key range per
// query row, split-K over the window's span only).
// RUN: attn-opt %s --convert-attn-to-gpu -split-input-file -verify-diagnostics | FileCheck %s

// Per-row i32 positions, GQA 4/2 f32 (CUDA-core kernel), causal window(3, 0):
// the positions buffer goes to the append and partial kernels. Every block
// checks all rows (one bad row: no cache write, NaN output, as on the CPU),
// then reads its own row's position; the append guards its stores with the
// check. The partial kernel's keys: [max(0, p - 3), min(pos + Sn, p + 1))
// with p = pos[b] + Sn - Sq + row. A window of 4 keys needs one split.
// CHECK-LABEL: func.func @positions_window
// CHECK-SAME: %[[POS:[a-z0-9]+]]: memref<2xi32>
// CHECK-NOT: memref.load
// CHECK: gpu.launch_func @attn_kernels::@attn_append_0
// CHECK-SAME: %[[POS]] : memref<2xi32>)
// CHECK-NOT: gpu.alloc
// CHECK: gpu.launch_func @attn_kernels::@attn_partial_0 blocks in (%c1
// CHECK-SAME: %[[POS]] : memref<2xi32>, %arg4 : memref<2x4x1x8xf32>)
// CHECK-NOT: attn_merge
// CHECK: gpu.func @attn_append_0
// CHECK: %[[BID:.+]] = gpu.block_id x
// CHECK: %[[B:.+]] = arith.divui %[[BID]], %c2
// CHECK: %[[ALL:.+]] = scf.for %[[R:.+]] = %c0{{.*}} to %c2{{.*}} iter_args(%[[OK:.+]] = %true)
// CHECK:   memref.load %arg4[%[[R]]] : memref<2xi32>
// CHECK:   arith.cmpi sle, %{{.+}}, %c16
// CHECK:   arith.cmpi sge
// CHECK: %[[P:.+]] = memref.load %arg4[%[[B]]] : memref<2xi32>
// CHECK: scf.if %[[ALL]]
// CHECK: gpu.func @attn_partial_0
// CHECK: %[[BY:.+]] = gpu.block_id y
// CHECK: %[[ROWP:.+]] = memref.load %arg3[%{{.+}}] : memref<2xi32>
// CHECK: %[[ROWI:.+]] = arith.index_cast %[[ROWP]]
// CHECK: %[[LEN:.+]] = arith.addi %[[ROWI]], %c1
// CHECK: %[[FIT:.+]] = scf.for
// CHECK: %[[END0:.+]] = arith.select %[[FIT]], %[[LEN]]
// CHECK: %[[QP:.+]] = arith.addi %{{.+}}, %block_id_z
// CHECK: arith.addi %[[QP]], %c1
// CHECK: arith.minsi %[[END0]]
// CHECK: %[[LEFT:.+]] = arith.subi %[[QP]], %c3
// CHECK: %[[BEGIN:.+]] = arith.maxsi %c0{{.*}}, %[[LEFT]]
// CHECK: arith.maxsi %{{.+}}, %[[BEGIN]]
// CHECK: arith.select %[[FIT]], %{{.+}}, %cst
func.func @positions_window(%q: memref<2x4x1x8xf32>, %k: memref<2x2x1x8xf32>,
                            %v: memref<2x2x1x8xf32>, %pos: memref<2xi32>,
                            %o: memref<2x4x1x8xf32>, %kc: memref<2x2x16x8xf32>,
                            %vc: memref<2x2x16x8xf32>) {
  attn.decode heads(4, 2) scale(0.25) causal window(3, 0)
      ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x2x1x8xf32>, memref<2x2x1x8xf32>)
      positions(%pos : memref<2xi32>)
      outs(%o, %kc, %vc : memref<2x4x1x8xf32>, memref<2x2x16x8xf32>, memref<2x2x16x8xf32>)
  return
}

// -----

// Tensor cores (GQA 8/1 f16, D = 128) with i64 positions over a 32K cache:
// without a window 128 splits (three blocks an SM, at least four iterations
// each); window(255, 0) lets a query see
// 256 keys, one split of four 64-key iterations (O(window) per step).
// CHECK-LABEL: func.func @tc_positions_long
// CHECK: gpu.alloc () : memref<128x2x8x1x130xf32>
// CHECK: gpu.launch_func @attn_kernels::@attn_partial_0 blocks in (%c128
// CHECK-SAME: %arg3 : memref<2xi64>
// CHECK-LABEL: func.func @tc_positions_window
// CHECK-NOT: gpu.alloc
// CHECK: gpu.launch_func @attn_kernels::@attn_partial_1 blocks in (%c1
// CHECK-SAME: %arg3 : memref<2xi64>, %arg4 : memref<2x8x1x128xf16>)
// CHECK-NOT: attn_merge_1
// The tensor-core kernels read their row's i64 position.
// CHECK: gpu.func @attn_partial_0
// CHECK: memref.load %arg3[%{{.+}}] : memref<2xi64>
// CHECK: nvvm.mma.sync
// CHECK: gpu.func @attn_partial_1
// CHECK: arith.subi %{{.+}}, %c255
// CHECK: nvvm.mma.sync
func.func @tc_positions_long(%q: memref<2x8x1x128xf16>, %k: memref<2x1x1x128xf16>,
                             %v: memref<2x1x1x128xf16>, %pos: memref<2xi64>,
                             %o: memref<2x8x1x128xf16>, %kc: memref<2x1x32768x128xf16>,
                             %vc: memref<2x1x32768x128xf16>) {
  attn.decode heads(8, 1) scale(0.0883883476) causal
      ins(%q, %k, %v : memref<2x8x1x128xf16>, memref<2x1x1x128xf16>, memref<2x1x1x128xf16>)
      positions(%pos : memref<2xi64>)
      outs(%o, %kc, %vc : memref<2x8x1x128xf16>, memref<2x1x32768x128xf16>, memref<2x1x32768x128xf16>)
  return
}
func.func @tc_positions_window(%q: memref<2x8x1x128xf16>, %k: memref<2x1x1x128xf16>,
                               %v: memref<2x1x1x128xf16>, %pos: memref<2xi64>,
                               %o: memref<2x8x1x128xf16>, %kc: memref<2x1x32768x128xf16>,
                               %vc: memref<2x1x32768x128xf16>) {
  attn.decode heads(8, 1) scale(0.0883883476) causal window(255, 0)
      ins(%q, %k, %v : memref<2x8x1x128xf16>, memref<2x1x1x128xf16>, memref<2x1x1x128xf16>)
      positions(%pos : memref<2xi64>)
      outs(%o, %kc, %vc : memref<2x8x1x128xf16>, memref<2x1x32768x128xf16>, memref<2x1x32768x128xf16>)
  return
}

// -----

// attn.attention (Sq > 1) with a two-sided window and no causal limit:
// query row i stands at i and sees keys [i - 4, i + 2].
// CHECK-LABEL: func.func @attention_window
// CHECK: gpu.func @attn_partial_0
// CHECK: %[[ROW:.+]] = gpu.block_id z
// CHECK: %[[RIGHT:.+]] = arith.addi %[[ROW]], %c3
// CHECK: arith.minsi %c40{{.*}}, %[[RIGHT]]
// CHECK: %[[LEFT:.+]] = arith.subi %[[ROW]], %c4
// CHECK: arith.maxsi %c0{{.*}}, %[[LEFT]]
func.func @attention_window(%q: memref<1x2x9x8xf32>, %k: memref<1x2x40x8xf32>,
                            %v: memref<1x2x40x8xf32>, %o: memref<1x2x9x8xf32>) {
  attn.attention heads(2, 2) scale(0.35) window(4, 2)
      ins(%q, %k, %v : memref<1x2x9x8xf32>, memref<1x2x40x8xf32>, memref<1x2x40x8xf32>)
      outs(%o : memref<1x2x9x8xf32>)
  return
}

// -----

// Dynamic positions are refused.
func.func @dynamic_positions(%q: memref<2x4x1x8xf32>, %k: memref<2x2x1x8xf32>,
                             %v: memref<2x2x1x8xf32>, %pos: memref<?xi64>,
                             %o: memref<2x4x1x8xf32>, %kc: memref<2x2x16x8xf32>,
                             %vc: memref<2x2x16x8xf32>) {
  // expected-error @below {{the cuda target needs a static positions shape}}
  attn.decode heads(4, 2) scale(0.25) causal
      ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x2x1x8xf32>, memref<2x2x1x8xf32>)
      positions(%pos : memref<?xi64>)
      outs(%o, %kc, %vc : memref<2x4x1x8xf32>, memref<2x2x16x8xf32>, memref<2x2x16x8xf32>)
  return
}

// -----

// Paged caches (a block table over page pools) are refused, not lowered as
// contiguous caches.
func.func @paged(%q: memref<2x4x1x8xf32>, %k: memref<2x2x1x8xf32>,
                 %v: memref<2x2x1x8xf32>, %pos: memref<2xi32>,
                 %table: memref<2x4xi32>, %o: memref<2x4x1x8xf32>,
                 %kp: memref<16x2x4x8xf32>, %vp: memref<16x2x4x8xf32>) {
  // expected-error @below {{the cuda target does not lower a paged attn.decode (block_table) yet}}
  attn.decode heads(4, 2) scale(0.25) causal
      ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x2x1x8xf32>, memref<2x2x1x8xf32>)
      positions(%pos : memref<2xi32>) block_table(%table : memref<2x4xi32>)
      outs(%o, %kp, %vp : memref<2x4x1x8xf32>, memref<16x2x4x8xf32>, memref<16x2x4x8xf32>)
  return
}

// -----

// 8-bit caches (with their scales) are refused.
func.func @int8_cache(%q: memref<2x4x1x8xf32>, %k: memref<2x2x1x8xf32>,
                      %v: memref<2x2x1x8xf32>, %p: index,
                      %o: memref<2x4x1x8xf32>, %kc: memref<2x2x16x8xi8>,
                      %vc: memref<2x2x16x8xi8>, %ks: memref<2x2xf32>,
                      %vs: memref<2x2xf32>) {
  // expected-error @below {{the cuda target does not lower 8-bit or mixed-type KV caches yet}}
  attn.decode heads(4, 2) scale(0.25) causal
      ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x2x1x8xf32>, memref<2x2x1x8xf32>)
      position(%p)
      outs(%o, %kc, %vc : memref<2x4x1x8xf32>, memref<2x2x16x8xi8>, memref<2x2x16x8xi8>)
      cache_scales(%ks, %vs : memref<2x2xf32>, memref<2x2xf32>)
  return
}
