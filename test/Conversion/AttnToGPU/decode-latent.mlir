// A latent (MLA) attn.decode becomes the check and append kernels of every
// decode step (the append writes the latent and the rotary key, 512 and 64
// wide), the latent partial kernel (grid: 8 chunks of 16 heads x 49 key
// splits x B * Sq) and, with split keys, the merge of a [splits, B, Hq,
// Sq, r + 2] workspace. Tensor cores copy a tile of 32 keys x 592 with
// cp.async. In the PTX, mma.sync m16n8k16 on f16/bf16 (query heads as the
// rows), none on f32 (CUDA cores).
// RUN: attn-opt %s --split-input-file --convert-attn-to-gpu | FileCheck %s
// RUN: attn-opt %s --split-input-file --attn-cuda-pipeline="cubin-format=isa" | FileCheck %s --check-prefix=PTX

// CHECK-LABEL: func.func @deepseek_bf16
// CHECK: gpu.launch_func @attn_kernels::@attn_latent_0_check
// CHECK: gpu.launch_func @attn_kernels::@attn_latent_0_append blocks in (%{{[a-z0-9_]+}}, %{{[a-z0-9_]+}}, %{{[a-z0-9_]+}}) threads in (%c128
// CHECK-SAME: memref<1x1x1x512xbf16>, %{{.*}} : memref<1x1x1x64xbf16>, %{{.*}} : memref<1x1x4096x512xbf16>, %{{.*}} : memref<1x1x4096x64xbf16>
// CHECK: %[[WS:.*]] = gpu.alloc () : memref<49x1x128x1x514xf32>
// CHECK: %[[X:.*]] = arith.constant 8 : index
// CHECK: %[[Y:.*]] = arith.constant 49 : index
// CHECK: gpu.launch_func @attn_kernels::@attn_latent_0_partial blocks in (%[[X]], %[[Y]], %{{[a-z0-9_]+}})
// CHECK-SAME: %[[WS]] : memref<49x1x128x1x514xf32>
// CHECK: gpu.launch_func @attn_kernels::@attn_latent_0_merge
// CHECK: gpu.dealloc %[[WS]]
// CHECK: gpu.func @attn_latent_0_partial
// CHECK-SAME: workgroup(%{{.*}} : memref<32x592xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<4x16x32xf32, #gpu.address_space<workgroup>>
// CHECK: nvvm.mma.sync

// PTX-LABEL: llvm.func @deepseek_bf16
// PTX: gpu.binary @attn_kernels
// PTX-SAME: .entry attn_latent_0_partial
// PTX-SAME: cp.async.cg.shared.global
// PTX-SAME: cp.async.wait_group
// PTX-SAME: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// PTX-SAME: bar.sync
func.func @deepseek_bf16(%q: memref<1x128x1x576xbf16>, %c: memref<1x1x1x512xbf16>,
                         %r: memref<1x1x1x64xbf16>, %p: memref<1xi64>,
                         %o: memref<1x128x1x512xbf16>,
                         %lc: memref<1x1x4096x512xbf16>, %rc: memref<1x1x4096x64xbf16>) {
  attn.decode heads(128, 1) scale(0.0722) causal latent(512)
      ins(%q, %c, %r : memref<1x128x1x576xbf16>, memref<1x1x1x512xbf16>, memref<1x1x1x64xbf16>)
      positions(%p : memref<1xi64>)
      outs(%o, %lc, %rc : memref<1x128x1x512xbf16>, memref<1x1x4096x512xbf16>, memref<1x1x4096x64xbf16>)
  return
}

// -----

// CHECK-LABEL: func.func @export_f32
// CHECK: gpu.launch_func @attn_kernels::@attn_latent_0_check
// CHECK: gpu.launch_func @attn_kernels::@attn_latent_0_append
// CHECK-NOT: gpu.alloc
// CHECK: gpu.launch_func @attn_kernels::@attn_latent_0_partial
// CHECK-SAME: memref<1x4x1x16xf32>)
// CHECK-NOT: attn_latent_0_merge
// CHECK: gpu.func @attn_latent_0_partial
// CHECK-SAME: workgroup(%{{.*}} : memref<32x21xf32, #gpu.address_space<workgroup>>
// CHECK-NOT: nvvm.mma.sync
// CHECK: gpu.return

// PTX-LABEL: llvm.func @export_f32
// PTX: gpu.binary @attn_kernels
// PTX-SAME: .entry attn_latent_0_partial
// PTX-NOT: mma.sync
func.func @export_f32(%q: memref<1x4x1x20xf32>, %c: memref<1x1x1x16xf32>,
                      %r: memref<1x1x1x4xf32>, %p: index, %o: memref<1x4x1x16xf32>,
                      %lc: memref<1x1x64x16xf32>, %rc: memref<1x1x64x4xf32>) {
  attn.decode heads(4, 1) scale(0.25) causal latent(16)
      ins(%q, %c, %r : memref<1x4x1x20xf32>, memref<1x1x1x16xf32>, memref<1x1x1x4xf32>)
      position(%p)
      outs(%o, %lc, %rc : memref<1x4x1x16xf32>, memref<1x1x64x16xf32>, memref<1x1x64x4xf32>)
  return
}
