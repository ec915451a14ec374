// With attn-device-buffers after it, as in the cuda pipeline (host copies
// become device copies; host code over buffers is refused):
// RUN: attn-opt %s --convert-attn-to-gpu --attn-device-buffers -split-input-file -verify-diagnostics | FileCheck %s
// The pass alone lowers the attention ops and leaves other host ops alone:
// RUN: not attn-opt %s --convert-attn-to-gpu -split-input-file 2>/dev/null | FileCheck %s --check-prefix=NOCHECK

// A GQA decode step whose position is read from a buffer: the run's error
// record (one runtime call at the function's entry), the check kernel (one
// block), the append kernel, a workspace for 16 key splits (B * Hkv = 4 blocks need them to
// fill the GPU; each split at least four iterations of 64 keys), the partial
// and merge kernels. The position buffer goes to the kernels and its host
// load disappears. A group of 4 f16 heads takes the tensor-core kernel:
// 16-byte loads of the queries, keys and values, mma.sync m16n8k16 for the
// scores (D / 16 k-steps of two key tiles) and for P V (Dv / 8 n-tiles),
// the row max shared by the four lanes of a row.
// CHECK-LABEL: func.func @decode_gqa
// CHECK-SAME: %[[Q:[a-z0-9]+]]: memref<2x8x1x128xf16>, %[[K:[a-z0-9]+]]: memref<2x2x1x128xf16>, %[[V:[a-z0-9]+]]: memref<2x2x1x128xf16>, %[[POS:[a-z0-9]+]]: memref<i64>, %[[KC:[a-z0-9]+]]: memref<2x2x4096x128xf16>, %[[VC:[a-z0-9]+]]: memref<2x2x4096x128xf16>, %[[O:[a-z0-9]+]]: memref<2x8x1x128xf16>
// CHECK-NEXT: %[[REC:.+]] = call @attn_rt_cuda_error_record() : () -> !llvm.ptr
// CHECK-NOT: memref.load
// CHECK: gpu.launch_func @attn_kernels::@attn_check_0 blocks in (%c1{{.*}}, %c1{{.*}}, %c1{{.*}}) threads in (%c256
// CHECK-SAME: args(%[[POS]] : memref<i64>, %[[REC]] : !llvm.ptr)
// CHECK: gpu.launch_func @attn_kernels::@attn_append_0
// CHECK-SAME: args(%[[K]] : {{.*}}, %[[V]] : {{.*}}, %[[KC]] : {{.*}}, %[[VC]] : {{.*}}, %[[POS]] : memref<i64>, %[[REC]] : !llvm.ptr)
// CHECK: %[[WS:.+]] = gpu.alloc () : memref<16x2x8x1x130xf32>
// CHECK: gpu.launch_func @attn_kernels::@attn_partial_0 blocks in (%c16{{.*}}, %c4{{.*}}, %c1{{.*}}) threads in (%c128
// CHECK-SAME: args(%[[Q]] : {{.*}}, %[[KC]] : {{.*}}, %[[VC]] : {{.*}}, %[[POS]] : memref<i64>, %[[REC]] : !llvm.ptr, %[[WS]] : memref<16x2x8x1x130xf32>)
// CHECK: gpu.launch_func @attn_kernels::@attn_merge_0
// CHECK-SAME: args(%[[WS]] : {{.*}}, %[[O]] : memref<2x8x1x128xf16>)
// CHECK: gpu.dealloc %[[WS]]
// CHECK: gpu.module @attn_kernels
// CHECK: gpu.func @attn_check_0
// CHECK: gpu.func @attn_append_0
// CHECK: gpu.func @attn_partial_0
// CHECK-SAME: workgroup(%{{.*}} : memref<4x4x132xf32, #gpu.address_space<workgroup>>) kernel
// CHECK-SAME: nvvm.minctasm = 3
// CHECK: vector.load %{{.*}} {alignment = 16 : i64} : memref<2x8x1x128xf16>, vector<8xf16>
// CHECK: scf.for
// CHECK-COUNT-8: vector.load %{{.*}} {alignment = 16 : i64} : memref<2x2x4096x128xf16>, vector<8xf16>
// CHECK-COUNT-8: vector.load %{{.*}} {alignment = 16 : i64} : memref<2x2x4096x128xf16>, vector<8xf16>
// CHECK-COUNT-16: nvvm.mma.sync {{.*}} shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (vector<2xf16>, vector<2xf16>, f32) -> !llvm.struct<(f32, f32, f32, f32)>
// CHECK: gpu.shuffle xor %{{.*}}, %c1_i32
// CHECK: gpu.shuffle xor %{{.*}}, %c2_i32
// CHECK: math.exp2 {{.*}} fastmath<afn>
// CHECK-COUNT-16: nvvm.mma.sync
// CHECK: scf.yield
// CHECK: gpu.barrier
// CHECK: gpu.func @attn_merge_0
func.func @decode_gqa(%q: memref<2x8x1x128xf16>, %k: memref<2x2x1x128xf16>,
                      %v: memref<2x2x1x128xf16>, %pos: memref<i64>,
                      %kc: memref<2x2x4096x128xf16>, %vc: memref<2x2x4096x128xf16>,
                      %o: memref<2x8x1x128xf16>) {
  %p = memref.load %pos[] : memref<i64>
  %pi = arith.index_cast %p : i64 to index
  attn.decode heads(8, 2) scale(0.125) causal
      ins(%q, %k, %v : memref<2x8x1x128xf16>, memref<2x2x1x128xf16>, memref<2x2x1x128xf16>) position(%pi)
      outs(%o, %kc, %vc : memref<2x8x1x128xf16>, memref<2x2x4096x128xf16>, memref<2x2x4096x128xf16>)
  return
}

// -----

// Short keys: one split, the partial kernel writes the output itself (no
// workspace, no merge); the mask and kv lengths are kernel arguments; a
// host copy of a buffer becomes gpu.memcpy.
// CHECK-LABEL: func.func @attention_one_split
// CHECK-NOT: gpu.alloc
// CHECK: gpu.launch_func @attn_kernels::@attn_partial_0 blocks in (%c1{{.*}}, %c2{{.*}}, %c3{{.*}}) threads in (%c128
// CHECK-SAME: memref<1x4x3x16xi1>, %{{.*}} : memref<1xi32>, %{{.*}} : memref<1x4x3x16xf32>)
// CHECK-NOT: attn_merge
// CHECK: gpu.memcpy %{{.*}}, %{{.*}} : memref<1x4x3x16xf32>, memref<1x4x3x16xf32>
// CHECK-NOT: memref.copy
func.func @attention_one_split(%q: memref<1x4x3x16xf32>, %k: memref<1x2x16x16xf32>,
                               %v: memref<1x2x16x16xf32>, %m: memref<1x4x3x16xi1>,
                               %lens: memref<1xi32>, %o: memref<1x4x3x16xf32>,
                               %o2: memref<1x4x3x16xf32>) {
  attn.attention heads(4, 2) scale(0.25) causal(13) softcap(30.0)
      ins(%q, %k, %v : memref<1x4x3x16xf32>, memref<1x2x16x16xf32>, memref<1x2x16x16xf32>)
      mask(%m : memref<1x4x3x16xi1>) kv_seq_lens(%lens : memref<1xi32>)
      outs(%o : memref<1x4x3x16xf32>)
  memref.copy %o, %o2 : memref<1x4x3x16xf32> to memref<1x4x3x16xf32>
  return
}

// -----

// Host code that would read device memory is refused by
// attn-device-buffers; convert-attn-to-gpu alone leaves it.
// NOCHECK-LABEL: func.func @host_fill
// NOCHECK: linalg.fill
func.func @host_fill(%q: memref<1x1x1x8xf32>, %k: memref<1x1x4x8xf32>,
                     %v: memref<1x1x4x8xf32>, %o: memref<1x1x1x8xf32>) {
  %c = arith.constant 1.0 : f32
  // expected-error @below {{the cuda target cannot run 'linalg.fill' on the host: it would access device memory from the CPU}}
  linalg.fill ins(%c : f32) outs(%q : memref<1x1x1x8xf32>)
  attn.attention heads(1, 1) scale(1.0)
      ins(%q, %k, %v : memref<1x1x1x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4x8xf32>)
      outs(%o : memref<1x1x1x8xf32>)
  return
}

// -----

// Dynamic shapes are not lowered.
func.func @dynamic(%q: memref<1x1x1x8xf32>, %k: memref<1x1x?x8xf32>,
                   %v: memref<1x1x?x8xf32>, %o: memref<1x1x1x8xf32>) {
  // expected-error @below {{the cuda target needs static shapes and identity layouts}}
  attn.attention heads(1, 1) scale(1.0)
      ins(%q, %k, %v : memref<1x1x1x8xf32>, memref<1x1x?x8xf32>, memref<1x1x?x8xf32>)
      outs(%o : memref<1x1x1x8xf32>)
  return
}

// -----

// The pass runs after bufferisation.
func.func @tensors(%q: tensor<1x1x1x8xf32>, %k: tensor<1x1x4x8xf32>,
                   %v: tensor<1x1x4x8xf32>, %o: tensor<1x1x1x8xf32>) -> tensor<1x1x1x8xf32> {
  // expected-error @below {{convert-attn-to-gpu expects memrefs}}
  %r = attn.attention heads(1, 1) scale(1.0)
      ins(%q, %k, %v : tensor<1x1x1x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>)
      outs(%o : tensor<1x1x1x8xf32>) -> tensor<1x1x1x8xf32>
  return %r : tensor<1x1x1x8xf32>
}

// -----

// A large value head: fewer query heads a block so that the merge buffer
// fits in 48 KiB of shared memory (here 2 x 4 warps x 1028 floats).
// CHECK-LABEL: func.func @wide_values
// CHECK: gpu.func @attn_partial_0
// CHECK-SAME: workgroup(%{{.*}} : memref<4x2x1028xf32, #gpu.address_space<workgroup>>)
func.func @wide_values(%q: memref<1x4x1x64xf16>, %k: memref<1x1x256x64xf16>,
                       %v: memref<1x1x256x1024xf16>, %o: memref<1x4x1x1024xf16>) {
  attn.attention heads(4, 1) scale(0.125)
      ins(%q, %k, %v : memref<1x4x1x64xf16>, memref<1x1x256x64xf16>, memref<1x1x256x1024xf16>)
      outs(%o : memref<1x4x1x1024xf16>)
  return
}

// -----

// A value head too large for one head a block is refused.
func.func @too_wide(%q: memref<1x1x1x8xf32>, %k: memref<1x1x4x8xf32>,
                    %v: memref<1x1x4x4096xf32>, %o: memref<1x1x1x4096xf32>) {
  // expected-error @below {{the cuda target supports value head sizes up to 3068, got 4096}}
  attn.attention heads(1, 1) scale(1.0)
      ins(%q, %k, %v : memref<1x1x1x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4x4096xf32>)
      outs(%o : memref<1x1x1x4096xf32>)
  return
}

// -----

// A group of 3 (9 query / 3 KV heads), f32, an odd head size: the CUDA-core
// kernel (tensor cores need a group of 4, f16/bf16, D % 32 == 0, Dv 64 or
// 128); three heads a block, lanes of a key row reduced by shuffles.
// CHECK-LABEL: func.func @cuda_cores
// CHECK: gpu.func @attn_partial_0
// CHECK-SAME: workgroup(%{{.*}} : memref<4x3x132xf32, #gpu.address_space<workgroup>>) kernel
// CHECK-SAME: nvvm.minctasm = 4
// CHECK-NOT: nvvm.mma.sync
// CHECK: gpu.func @attn_partial_1
// CHECK-NOT: nvvm.mma.sync
// CHECK: gpu.func @attn_partial_2
// CHECK-NOT: nvvm.mma.sync
// CHECK: gpu.func @attn_partial_3
// CHECK: nvvm.mma.sync {{.*}}multiplicandAPtxType = #nvvm.mma_type<bf16>{{.*}} : (i32, i32, f32)
func.func @cuda_cores(%q: memref<1x9x1x128xf16>, %k: memref<1x3x512x128xf16>,
                      %v: memref<1x3x512x128xf16>, %o: memref<1x9x1x128xf16>,
                      %q8: memref<1x8x1x64xf32>, %k8: memref<1x1x512x64xf32>,
                      %v8: memref<1x1x512x64xf32>, %o8: memref<1x8x1x64xf32>,
                      %q80: memref<1x8x1x80xbf16>, %k80: memref<1x1x512x80xbf16>,
                      %v80: memref<1x1x512x80xbf16>, %o80: memref<1x8x1x80xbf16>,
                      %q96: memref<1x8x1x96xbf16>, %k96: memref<1x1x512x96xbf16>,
                      %v64: memref<1x1x512x64xbf16>, %o64: memref<1x8x1x64xbf16>) {
  attn.attention heads(9, 3) scale(0.125)
      ins(%q, %k, %v : memref<1x9x1x128xf16>, memref<1x3x512x128xf16>, memref<1x3x512x128xf16>)
      outs(%o : memref<1x9x1x128xf16>)
  attn.attention heads(8, 1) scale(0.125)
      ins(%q8, %k8, %v8 : memref<1x8x1x64xf32>, memref<1x1x512x64xf32>, memref<1x1x512x64xf32>)
      outs(%o8 : memref<1x8x1x64xf32>)
  attn.attention heads(8, 1) scale(0.125)
      ins(%q80, %k80, %v80 : memref<1x8x1x80xbf16>, memref<1x1x512x80xbf16>, memref<1x1x512x80xbf16>)
      outs(%o80 : memref<1x8x1x80xbf16>)
  // D = 96, Dv = 64, bf16: tensor cores.
  attn.attention heads(8, 1) scale(0.125)
      ins(%q96, %k96, %v64 : memref<1x8x1x96xbf16>, memref<1x1x512x96xbf16>, memref<1x1x512x64xbf16>)
      outs(%o64 : memref<1x8x1x64xbf16>)
  return
}

// -----
