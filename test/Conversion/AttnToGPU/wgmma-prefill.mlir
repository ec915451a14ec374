// With wgmma-prefill, attn.attention prompts of 128 or more f16/bf16 rows
// with D = Dv = 128 take the sm_90a wgmma kernel (WgmmaPrefill.cpp): 256
// threads (two warpgroups of 64 query rows), dynamic shared memory for Q
// and two stages of K/V tiles (128-byte swizzled, 1 KiB aligned by hand),
// cp.async loads, S = Q K^T by nvvm.wgmma.mma_async from shared memory
// (8 k-steps, the first without accumulating), the softmax on its
// registers, O += P V by inline-PTX wgmma with P in registers.
// Other shapes keep the mma.sync kernel; without the option nothing changes.
// RUN: attn-opt %s --convert-attn-to-gpu="wgmma-prefill=true" -split-input-file | FileCheck %s
// RUN: attn-opt %s --convert-attn-to-gpu -split-input-file | FileCheck %s --check-prefix=OFF
// RUN: attn-opt %s --split-input-file --attn-cuda-pipeline="cubin-format=isa" | FileCheck %s --check-prefix=PTX

// CHECK-LABEL: func.func @causal_gqa_f16
// CHECK: %[[SMEM:.*]] = arith.constant 164864 : i32
// CHECK: gpu.launch_func @attn_kernels::@attn_wgmma_prefill_0 blocks in (%c8{{.*}}, %c32{{.*}}, %c2{{.*}}) threads in (%c256{{.*}}, %c1{{.*}}, %c1{{.*}}) dynamic_shared_memory_size %[[SMEM]]
// CHECK: gpu.func @attn_wgmma_prefill_0
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
// CHECK: gpu.dynamic_shared_memory
// CHECK: memref.view {{.*}} to memref<81920xf16, #gpu.address_space<workgroup>>
// CHECK: nvgpu.device_async_copy {{.*}} 8 {bypassL1}
// CHECK: nvvm.cp.async.commit.group
// The first tile: S = Q K^T alone.
// CHECK: scf.if
// CHECK: nvvm.cp.async.wait.group 0
// CHECK: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// CHECK: gpu.barrier
// CHECK: nvvm.wgmma.fence.aligned
// CHECK: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 128, k = 16>, D[<f32>, <zero>], A[<f16>, <one>, <row>], B[<f16>, <one>, <col>]
// CHECK-COUNT-7: nvvm.wgmma.mma_async {{.*}} D[<f32>, <one>]
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK: math.exp2 {{.*}} fastmath<afn>
// The other tiles: S of tile j, then P V of tile j - 1 (P from registers);
// the softmax of tile j waits for the first group only.
// CHECK: scf.for
// CHECK: nvvm.cp.async.wait.group 0
// CHECK: gpu.barrier
// CHECK: nvvm.cp.async.commit.group
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-COUNT-8: nvvm.wgmma.mma_async
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-COUNT-8: llvm.inline_asm has_side_effects {{.*}}wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK: nvvm.wgmma.wait.group.sync.aligned 1
// CHECK: math.exp2 {{.*}} fastmath<afn>
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK: scf.yield
// CHECK: scf.for
// CHECK: arith.select
// CHECK: scf.yield
// P V of the last tile.
// CHECK: scf.if
// CHECK-COUNT-8: llvm.inline_asm has_side_effects {{.*}}wgmma.mma_async
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// OFF-LABEL: func.func @causal_gqa_f16
// OFF: gpu.launch_func @attn_kernels::@attn_prefill_0
// PTX-LABEL: llvm.func @causal_gqa_f16
// PTX: .entry attn_wgmma_prefill_0
// PTX-SAME: cp.async.cg.shared.global
// PTX-SAME: fence.proxy.async.shared::cta
// PTX-SAME: wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16
// PTX-SAME: ex2.approx
// PTX-SAME: wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {{.*}}, p, 1, 1, 1;
func.func @causal_gqa_f16(%q: memref<2x32x1024x128xf16>, %k: memref<2x8x1024x128xf16>,
                          %v: memref<2x8x1024x128xf16>, %o: memref<2x32x1024x128xf16>) {
  attn.attention heads(32, 8) scale(0.0883883476) causal(0)
      ins(%q, %k, %v : memref<2x32x1024x128xf16>, memref<2x8x1024x128xf16>, memref<2x8x1024x128xf16>)
      outs(%o : memref<2x32x1024x128xf16>)
  return
}

// -----

// bf16 takes the bf16 forms of both wgmmas.
// CHECK-LABEL: func.func @mha_bf16
// CHECK: gpu.launch_func @attn_kernels::@attn_wgmma_prefill_0
// CHECK: nvvm.wgmma.mma_async {{.*}} A[<bf16>, <one>, <row>], B[<bf16>, <one>, <col>]
// CHECK: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16
func.func @mha_bf16(%q: memref<1x4x300x128xbf16>, %k: memref<1x4x500x128xbf16>,
                    %v: memref<1x4x500x128xbf16>, %o: memref<1x4x300x128xbf16>) {
  attn.attention heads(4, 4) scale(0.0883883476)
      ins(%q, %k, %v : memref<1x4x300x128xbf16>, memref<1x4x500x128xbf16>, memref<1x4x500x128xbf16>)
      outs(%o : memref<1x4x300x128xbf16>)
  return
}

// -----

// D = 64 and fewer than 128 rows keep the mma.sync kernel.
// CHECK-LABEL: func.func @d64_f16
// CHECK: gpu.launch_func @attn_kernels::@attn_prefill_0
// CHECK-LABEL: func.func @short_f16
// CHECK: gpu.launch_func @attn_kernels::@attn_prefill_1
func.func @d64_f16(%q: memref<1x4x512x64xf16>, %k: memref<1x4x512x64xf16>,
                   %v: memref<1x4x512x64xf16>, %o: memref<1x4x512x64xf16>) {
  attn.attention heads(4, 4) scale(0.125)
      ins(%q, %k, %v : memref<1x4x512x64xf16>, memref<1x4x512x64xf16>, memref<1x4x512x64xf16>)
      outs(%o : memref<1x4x512x64xf16>)
  return
}
func.func @short_f16(%q: memref<1x4x100x128xf16>, %k: memref<1x4x512x128xf16>,
                     %v: memref<1x4x512x128xf16>, %o: memref<1x4x100x128xf16>) {
  attn.attention heads(4, 4) scale(0.125)
      ins(%q, %k, %v : memref<1x4x100x128xf16>, memref<1x4x512x128xf16>, memref<1x4x512x128xf16>)
      outs(%o : memref<1x4x100x128xf16>)
  return
}
