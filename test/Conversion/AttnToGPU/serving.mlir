// The serving forms on the cuda target: per-row positions (read by the
// kernels from the device buffer) and sliding windows (a key range per
// query row, split-K over the window's span only).
// RUN: attn-opt %s --convert-attn-to-gpu -split-input-file -verify-diagnostics | FileCheck %s

// Per-row i32 positions, GQA 4/2 f32 (CUDA-core kernel), causal window(3, 0):
// the positions buffer goes to the check, append and partial kernels, with
// the run's error record (one runtime call at the function's entry). The
// check kernel (one block) scans the rows, keeps the first bad one (an
// atomic min in shared memory) and thread 0 sets the record: buffer 3 (the
// positions argument), the row, the position, Sn = 1, capacity 16, as
// attn_rt_report_position_error takes them. The append and partial kernels
// read the record's first word (one load a block): set, the step writes no
// cache entry and gives NaN, as on the CPU. The partial kernel's keys:
// [max(0, p - 3), min(pos + Sn, p + 1)) with p = pos[b] + Sn - Sq + row. A
// window of 4 keys needs one split.
// CHECK-LABEL: func.func private @attn_rt_cuda_error_record() -> !llvm.ptr
// CHECK-LABEL: func.func @positions_window
// CHECK-SAME: %[[POS:[a-z0-9]+]]: memref<2xi32>
// CHECK-NEXT: %[[REC:.+]] = call @attn_rt_cuda_error_record()
// CHECK-NOT: memref.load
// CHECK: gpu.launch_func @attn_kernels::@attn_check_0
// CHECK-SAME: args(%[[POS]] : memref<2xi32>, %[[REC]] : !llvm.ptr)
// CHECK: gpu.launch_func @attn_kernels::@attn_append_0
// CHECK-SAME: %[[POS]] : memref<2xi32>, %[[REC]] : !llvm.ptr)
// CHECK-NOT: gpu.alloc
// CHECK: gpu.launch_func @attn_kernels::@attn_partial_0 blocks in (%c1
// CHECK-SAME: %[[POS]] : memref<2xi32>, %[[REC]] : !llvm.ptr, %arg4 : memref<2x4x1x8xf32>)
// CHECK-NOT: attn_merge
// CHECK: gpu.func @attn_check_0(%[[CPOS:.+]]: memref<2xi32>, %[[CREC:.+]]: !llvm.ptr) workgroup(%[[FIRST:.+]] : memref<2xi32, #gpu.address_space<workgroup>>)
// CHECK: scf.for %[[R:.+]] = %thread_id_x to %c2 step %c256
// CHECK:   memref.load %[[CPOS]][%[[R]]] : memref<2xi32>
// CHECK:   arith.cmpi sgt, %{{.+}}, %c16
// CHECK:   arith.cmpi slt
// CHECK:   memref.atomic_rmw mins %{{.+}}, %[[FIRST]][%c0
// CHECK: gpu.barrier
// CHECK: %[[BAD:.+]] = memref.load %[[FIRST]]
// CHECK: arith.cmpi ne, %[[BAD]], %c2147483647_i32
// CHECK: llvm.cmpxchg %[[CREC]], %c0_i64, %c1_i64 acq_rel monotonic
// CHECK: %[[BUF:.+]] = arith.constant 3 : i64
// CHECK: llvm.store %[[BUF]]
// CHECK-COUNT-4: llvm.store
// CHECK: gpu.func @attn_append_0
// CHECK: %[[BID:.+]] = gpu.block_id x
// CHECK: %[[B:.+]] = arith.divui %[[BID]], %c2
// CHECK: %[[SET:.+]] = llvm.load %arg5 : !llvm.ptr -> i64
// CHECK: %[[CLEAR:.+]] = arith.cmpi eq, %[[SET]], %c0_i64
// CHECK: %[[P:.+]] = memref.load %arg4[%[[B]]] : memref<2xi32>
// CHECK: scf.if %[[CLEAR]]
// CHECK: gpu.func @attn_partial_0
// CHECK: %[[BY:.+]] = gpu.block_id y
// CHECK: %[[ROWP:.+]] = memref.load %arg3[%{{.+}}] : memref<2xi32>
// CHECK: %[[ROWI:.+]] = arith.index_cast %[[ROWP]]
// CHECK: %[[LEN:.+]] = arith.addi %[[ROWI]], %c1
// CHECK: %[[WORD:.+]] = llvm.load %arg4 : !llvm.ptr -> i64
// CHECK: %[[FIT:.+]] = arith.cmpi eq, %[[WORD]]
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
// CHECK-SAME: %arg3 : memref<2xi64>, %{{.+}} : !llvm.ptr, %arg4 : memref<2x8x1x128xf16>)
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
  // expected-error @below {{the cuda target needs static shapes for the caches, positions, block table, scales and tree mask; 'memref<?xi64>' is not}}
  attn.decode heads(4, 2) scale(0.25) causal
      ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x2x1x8xf32>, memref<2x2x1x8xf32>)
      positions(%pos : memref<?xi64>)
      outs(%o, %kc, %vc : memref<2x4x1x8xf32>, memref<2x2x16x8xf32>, memref<2x2x16x8xf32>)
  return
}

// -----

// Paged caches (vLLM layout), GQA 4/2 f32 on CUDA cores: the pools go to the
// kernels as they are (no gpu.alloc, no copy of a pool: the host code is the
// record call and three launches). The check kernel scans the positions,
// then, when they all fit, the table entries of the pages covering
// [0, pos[b] + Sn) of every row (ceil((pos + 1) / 4) of 4 columns) against
// the pool's 16 pages, and reports the first bad entry with the table's
// buffer (4), its row and column (-(column + 1)) and the pool's size. The
// append stores each new row into slot pos % 4 of page table[b, pos / 4];
// the partial kernel turns every key index j into (table[b, j / 4], j % 4)
// as it loads the key and value rows from the pools.
// CHECK-LABEL: func.func @paged
// CHECK-SAME: %[[POS:[a-z0-9]+]]: memref<2xi32>, %[[TABLE:[a-z0-9]+]]: memref<2x4xi32>, %[[O:[a-z0-9]+]]: memref<2x4x1x8xf32>, %[[KP:[a-z0-9]+]]: memref<16x2x4x8xf32>, %[[VP:[a-z0-9]+]]: memref<16x2x4x8xf32>
// CHECK-NEXT: %[[REC:.+]] = call @attn_rt_cuda_error_record()
// CHECK-NOT: gpu.alloc
// CHECK-NOT: gpu.memcpy
// CHECK: gpu.launch_func @attn_kernels::@attn_check_0
// CHECK-SAME: args(%[[POS]] : memref<2xi32>, %[[TABLE]] : memref<2x4xi32>, %[[REC]] : !llvm.ptr)
// CHECK-NOT: gpu.alloc
// CHECK-NOT: gpu.memcpy
// CHECK: gpu.launch_func @attn_kernels::@attn_append_0
// CHECK-SAME: %[[KP]] : memref<16x2x4x8xf32>, %[[VP]] : memref<16x2x4x8xf32>, %[[POS]] : memref<2xi32>, %[[TABLE]] : memref<2x4xi32>, %[[REC]] : !llvm.ptr)
// CHECK-NOT: gpu.alloc
// CHECK-NOT: gpu.memcpy
// CHECK: gpu.launch_func @attn_kernels::@attn_partial_0
// CHECK-SAME: args(%{{.+}} : memref<2x4x1x8xf32>, %[[KP]] : memref<16x2x4x8xf32>, %[[VP]] : memref<16x2x4x8xf32>, %[[POS]] : memref<2xi32>, %[[TABLE]] : memref<2x4xi32>, %[[REC]] : !llvm.ptr, %[[O]] : memref<2x4x1x8xf32>)
// CHECK-NEXT: return
// CHECK: gpu.func @attn_check_0(%[[CPOS:.+]]: memref<2xi32>, %[[CTAB:.+]]: memref<2x4xi32>, %[[CREC:.+]]: !llvm.ptr)
// CHECK: memref.atomic_rmw mins %{{.+}}, %[[SMEM:.+]][%c0
// CHECK: gpu.barrier
// CHECK: scf.if
// CHECK:   scf.for %[[E:.+]] = %thread_id_x to %c8 step %c256
// CHECK:     %[[R:.+]] = arith.divui %[[E]], %c4
// CHECK:     %[[C:.+]] = arith.remui %[[E]], %c4
// CHECK:     %[[USED:.+]] = arith.ceildivsi %{{.+}}, %c4
// CHECK:     arith.cmpi slt, %[[C]], %[[USED]]
// CHECK:     %[[ENTRY:.+]] = memref.load %[[CTAB]][%[[R]], %[[C]]] : memref<2x4xi32>
// CHECK:     arith.cmpi sge, %{{.+}}, %c16
// CHECK:     memref.atomic_rmw mins %{{.+}}, %[[SMEM]][%c1
// CHECK: } else {
// CHECK:   llvm.cmpxchg %[[CREC]]
// CHECK:   arith.constant 4 : i64
// CHECK: gpu.func @attn_append_0(%{{.+}}: memref<16x2x4x8xf32>, %[[AV:.+]]: memref<16x2x4x8xf32>, %[[APOS:.+]]: memref<2xi32>, %[[ATAB:.+]]: memref<2x4xi32>, %{{.+}}: !llvm.ptr)
// CHECK: %[[AB:.+]] = arith.divui %block_id_x, %c2
// CHECK: scf.if
// CHECK:   %[[AT:.+]] = arith.addi
// CHECK:   %[[COL:.+]] = arith.divui %[[AT]], %c4
// CHECK:   %[[PAGE:.+]] = memref.load %[[ATAB]][%[[AB]], %[[COL]]] : memref<2x4xi32>
// CHECK:   %[[PI:.+]] = arith.index_cast %[[PAGE]]
// CHECK:   %[[PLO:.+]] = arith.maxsi %[[PI]], %c0
// CHECK:   %[[PG:.+]] = arith.minsi %[[PLO]], %c15
// CHECK:   %[[SLOT:.+]] = arith.remui %[[AT]], %c4
// CHECK:   memref.store %{{.+}}, %{{.+}}[%[[PG]], %{{.+}}, %[[SLOT]], %{{.+}}] : memref<16x2x4x8xf32>
// CHECK:   memref.store %{{.+}}, %[[AV]][%[[PG]], %{{.+}}, %[[SLOT]], %{{.+}}] : memref<16x2x4x8xf32>
// CHECK: gpu.func @attn_partial_0(%{{.+}}: memref<2x4x1x8xf32>, %[[PK:.+]]: memref<16x2x4x8xf32>, %[[PV:.+]]: memref<16x2x4x8xf32>, %{{.+}}: memref<2xi32>, %[[PTAB:.+]]: memref<2x4xi32>
// CHECK: scf.for
// CHECK:   %[[J:.+]] = arith.minsi %{{.+}}, %c15
// CHECK:   %[[JC:.+]] = arith.divui %[[J]], %c4
// CHECK:   memref.load %[[PTAB]][%{{.+}}, %[[JC]]] : memref<2x4xi32>
// CHECK:   %[[KPG:.+]] = arith.minsi %{{.+}}, %c15
// CHECK:   %[[KSLOT:.+]] = arith.remui %[[J]], %c4
// CHECK:   vector.load %[[PK]][%[[KPG]], %{{.+}}, %[[KSLOT]], %{{.+}}] {{.*}} : memref<16x2x4x8xf32>, vector<4xf32>
// CHECK:   vector.load %[[PV]][%[[KPG]], %{{.+}}, %[[KSLOT]], %{{.+}}] {{.*}} : memref<16x2x4x8xf32>, vector<4xf32>
func.func @paged(%q: memref<2x4x1x8xf32>, %k: memref<2x2x1x8xf32>,
                 %v: memref<2x2x1x8xf32>, %pos: memref<2xi32>,
                 %table: memref<2x4xi32>, %o: memref<2x4x1x8xf32>,
                 %kp: memref<16x2x4x8xf32>, %vp: memref<16x2x4x8xf32>) {
  attn.decode heads(4, 2) scale(0.25) causal
      ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x2x1x8xf32>, memref<2x2x1x8xf32>)
      positions(%pos : memref<2xi32>) block_table(%table : memref<2x4xi32>)
      outs(%o, %kp, %vp : memref<2x4x1x8xf32>, memref<16x2x4x8xf32>, memref<16x2x4x8xf32>)
  return
}

// -----

// Paged GQA 8/2 f16 at D = 128 takes the tensor-core kernel: its 16-byte
// key and value loads come straight from the pools at (table[b, j / 16],
// j % 16) with an i64 table; the only allocation is the split workspace.
// CHECK-LABEL: func.func @paged_tc
// CHECK-NOT: gpu.memcpy
// CHECK: gpu.alloc () : memref<4x4x8x1x130xf32>
// CHECK-NOT: gpu.memcpy
// CHECK: gpu.launch_func @attn_kernels::@attn_partial_0
// CHECK-SAME: %arg6 : memref<256x2x16x128xf16>, %arg7 : memref<256x2x16x128xf16>, %arg3 : memref<4xi64>, %arg4 : memref<4x64xi64>
// CHECK: gpu.func @attn_partial_0(%{{.+}}: memref<4x8x1x128xf16>, %[[PK:.+]]: memref<256x2x16x128xf16>, %[[PV:.+]]: memref<256x2x16x128xf16>, %{{.+}}: memref<4xi64>, %[[PTAB:.+]]: memref<4x64xi64>
// CHECK: %[[KC:.+]] = arith.divui %[[KJ:.+]], %c16
// CHECK: memref.load %[[PTAB]][%{{.+}}, %[[KC]]] : memref<4x64xi64>
// CHECK: %[[KPG:.+]] = arith.minsi %{{.+}}, %c255
// CHECK: %[[KS:.+]] = arith.remui %[[KJ]], %c16
// CHECK-COUNT-4: vector.load %[[PK]][%[[KPG]], %{{.+}}, %[[KS]], %{{.+}}] {alignment = 16 : i64} : memref<256x2x16x128xf16>, vector<8xf16>
// CHECK: scf.for
// CHECK: memref.load %[[PTAB]]
// CHECK: vector.load %[[PV]]
// CHECK: nvvm.mma.sync
func.func @paged_tc(%q: memref<4x8x1x128xf16>, %k: memref<4x2x1x128xf16>,
                    %v: memref<4x2x1x128xf16>, %pos: memref<4xi64>,
                    %table: memref<4x64xi64>, %o: memref<4x8x1x128xf16>,
                    %kp: memref<256x2x16x128xf16>, %vp: memref<256x2x16x128xf16>) {
  attn.decode heads(8, 2) scale(0.0883883476) causal
      ins(%q, %k, %v : memref<4x8x1x128xf16>, memref<4x2x1x128xf16>, memref<4x2x1x128xf16>)
      positions(%pos : memref<4xi64>) block_table(%table : memref<4x64xi64>)
      outs(%o, %kp, %vp : memref<4x8x1x128xf16>, memref<256x2x16x128xf16>, memref<256x2x16x128xf16>)
  return
}

// -----

// int8 caches with [B, Hkv] scales: the append divides by the row's scale
// and stores clamp(roundeven(x / s), -127, 127); the partial kernel (CUDA
// cores: f32 queries) converts the codes
// to f32, folds the key scale into the query and the value scale into the
// accumulator.
// CHECK-LABEL: func.func @int8_cache
// CHECK: gpu.launch_func @attn_kernels::@attn_append_0
// CHECK-SAME: %arg7 : memref<2x2xf32>, %arg8 : memref<2x2xf32>, %{{.+}} : !llvm.ptr)
// CHECK: gpu.func @attn_append_0
// CHECK: %[[S:.+]] = memref.load %{{.+}} : memref<2x2xf32>
// CHECK: scf.for
// CHECK:   %[[X:.+]] = memref.load %{{.+}} : memref<2x2x1x8xf32>
// CHECK:   %[[D:.+]] = arith.divf %[[X]], %[[S]] : f32
// CHECK:   %[[R:.+]] = math.roundeven %[[D]] : f32
// CHECK:   %[[LO:.+]] = arith.maxnumf %[[R]], %cst{{.*}} : f32
// CHECK:   %[[HI:.+]] = arith.minnumf %[[LO]], %cst{{.*}} : f32
// CHECK:   %[[CODE:.+]] = arith.fptosi %[[HI]] : f32 to i8
// CHECK:   memref.store %[[CODE]], %{{.+}} : memref<2x2x16x8xi8>
// CHECK: gpu.func @attn_partial_0(%{{.+}}: memref<2x4x1x8xf32>, %[[K8:.+]]: memref<2x2x16x8xi8>, %[[V8:.+]]: memref<2x2x16x8xi8>, %{{.+}}: index, %[[KS:.+]]: memref<2x2xf32>, %[[VS:.+]]: memref<2x2xf32>
// CHECK: %[[KSC:.+]] = memref.load %[[KS]]
// CHECK: %[[QS:.+]] = arith.mulf %cst{{.*}}, %[[KSC]] : f32
// CHECK: scf.for
// CHECK:   %[[KC:.+]] = vector.load %[[K8]]{{.+}} : memref<2x2x16x8xi8>, vector<4xi8>
// CHECK:   arith.sitofp %[[KC]] : vector<4xi8> to vector<4xf32>
// CHECK:   %[[VC:.+]] = vector.load %[[V8]]{{.+}} : memref<2x2x16x8xi8>, vector<4xi8>
// CHECK:   arith.sitofp %[[VC]] : vector<4xi8> to vector<4xf32>
// CHECK: scf.yield
// CHECK: memref.load %[[VS]]
// CHECK-NOT: nvvm.mma.sync
// CHECK: gpu.return
func.func @int8_cache(%q: memref<2x4x1x8xf32>, %k: memref<2x2x1x8xf32>,
                      %v: memref<2x2x1x8xf32>, %p: index,
                      %o: memref<2x4x1x8xf32>, %kc: memref<2x2x16x8xi8>,
                      %vc: memref<2x2x16x8xi8>, %ks: memref<2x2xf32>,
                      %vs: memref<2x2xf32>) {
  attn.decode heads(4, 2) scale(0.25) causal
      ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x2x1x8xf32>, memref<2x2x1x8xf32>)
      position(%p)
      outs(%o, %kc, %vc : memref<2x4x1x8xf32>, memref<2x2x16x8xi8>, memref<2x2x16x8xi8>)
      cache_scales(%ks, %vs : memref<2x2xf32>, memref<2x2xf32>)
  return
}
// -----

// fp8 E4M3 caches with f16 queries, GQA 8/2, D = 64: the append rounds
// x / s to 3 mantissa bits (nearest even) saturated at 448, subnormals
// below 2^-6; the tensor-core kernel loads 8 codes (8 bytes) at a time,
// decodes their bits to f32 and rounds them to f16 (exact: every E4M3
// value is an f16) as mma operands, the key scale folded into the score
// scale and the value scale applied to the accumulators.
// CHECK-LABEL: func.func @fp8_cache
// CHECK: gpu.func @attn_append_0
// CHECK: arith.divf
// CHECK: math.absf
// CHECK: arith.minnumf %{{.+}}, %cst{{.*}} : f32
// CHECK: math.roundeven
// CHECK: arith.bitcast %{{.+}} : i8 to f8E4M3FN
// CHECK: memref.store %{{.+}} : memref<1x2x32x64xf8E4M3FN>
// CHECK: gpu.func @attn_partial_0(%{{.+}}: memref<1x8x1x64xf16>, %[[K8:.+]]: memref<1x2x32x64xf8E4M3FN>, %[[V8:.+]]: memref<1x2x32x64xf8E4M3FN>, %{{.+}}: memref<1xi32>, %[[KS:.+]]: memref<1x2xf32>, %[[VS:.+]]: memref<1x2xf32>
// CHECK: %[[KSC:.+]] = memref.load %[[KS]]
// CHECK: arith.mulf %cst{{.*}}, %[[KSC]] : f32
// CHECK: %[[F8:.+]] = vector.load %[[K8]]{{.+}} {alignment = 8 : i64} : memref<1x2x32x64xf8E4M3FN>, vector<8xf8E4M3FN>
// CHECK: %[[BYTES:.+]] = arith.bitcast %[[F8]] : vector<8xf8E4M3FN> to vector<8xi8>
// CHECK: arith.extui %[[BYTES]] : vector<8xi8> to vector<8xi32>
// CHECK: %[[F32:.+]] = arith.bitcast %{{.+}} : vector<8xi32> to vector<8xf32>
// CHECK: arith.truncf %[[F32]] : vector<8xf32> to vector<8xf16>
// CHECK: scf.for
// CHECK: vector.load %[[V8]]{{.+}} : memref<1x2x32x64xf8E4M3FN>, vector<8xf8E4M3FN>
// CHECK: nvvm.mma.sync
// CHECK: scf.yield
// CHECK: memref.load %[[VS]]
func.func @fp8_cache(%q: memref<1x8x1x64xf16>, %k: memref<1x2x1x64xf16>,
                     %v: memref<1x2x1x64xf16>, %pos: memref<1xi32>,
                     %o: memref<1x8x1x64xf16>, %kc: memref<1x2x32x64xf8E4M3FN>,
                     %vc: memref<1x2x32x64xf8E4M3FN>, %ks: memref<1x2xf32>,
                     %vs: memref<1x2xf32>) {
  attn.decode heads(8, 2) scale(0.125) causal
      ins(%q, %k, %v : memref<1x8x1x64xf16>, memref<1x2x1x64xf16>, memref<1x2x1x64xf16>)
      positions(%pos : memref<1xi32>)
      outs(%o, %kc, %vc : memref<1x8x1x64xf16>, memref<1x2x32x64xf8E4M3FN>, memref<1x2x32x64xf8E4M3FN>)
      cache_scales(%ks, %vs : memref<1x2xf32>, memref<1x2xf32>)
  return
}
