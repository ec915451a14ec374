// The PTX of the tensor-core decode kernel for sm_90a: GQA f16 and MQA bf16
// take mma.sync m16n8k16 with f32 accumulators and 16-byte global loads; a
// group of 3 stays on CUDA cores (no mma).
// RUN: attn-opt %s --split-input-file --attn-cuda-pipeline="cubin-format=isa" | FileCheck %s

// CHECK-LABEL: llvm.func @gqa_f16
// CHECK: gpu.binary @attn_kernels
// CHECK-SAME: .target sm_90a
// CHECK-SAME: .entry attn_partial_0
// CHECK-SAME: ld.global.v4.b32
// CHECK-SAME: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// CHECK-SAME: shfl.sync.bfly
// CHECK-SAME: ex2.approx
// CHECK-NOT: mma.sync{{.*}}bf16
func.func @gqa_f16(%q: memref<8x32x1x128xf16>, %k: memref<8x8x4096x128xf16>,
                   %v: memref<8x8x4096x128xf16>, %o: memref<8x32x1x128xf16>) {
  attn.attention heads(32, 8) scale(0.0883883476)
      ins(%q, %k, %v : memref<8x32x1x128xf16>, memref<8x8x4096x128xf16>, memref<8x8x4096x128xf16>)
      outs(%o : memref<8x32x1x128xf16>)
  return
}

// -----

// CHECK-LABEL: llvm.func @mqa_bf16
// CHECK: gpu.binary @attn_kernels
// CHECK-SAME: .entry attn_partial_0
// CHECK-SAME: ld.global.v4.b32
// CHECK-SAME: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// CHECK-SAME: ex2.approx
func.func @mqa_bf16(%q: memref<8x32x1x128xbf16>, %k: memref<8x1x32768x128xbf16>,
                    %v: memref<8x1x32768x128xbf16>, %o: memref<8x32x1x128xbf16>) {
  attn.attention heads(32, 1) scale(0.0883883476)
      ins(%q, %k, %v : memref<8x32x1x128xbf16>, memref<8x1x32768x128xbf16>, memref<8x1x32768x128xbf16>)
      outs(%o : memref<8x32x1x128xbf16>)
  return
}

// -----

// CHECK-LABEL: llvm.func @group_of_3
// CHECK: gpu.binary @attn_kernels
// CHECK-SAME: ld.global.v4.b32
// CHECK-SAME: shfl.sync.bfly
// CHECK-NOT: mma.sync
func.func @group_of_3(%q: memref<1x9x1x64xf16>, %k: memref<1x3x1024x64xf16>,
                      %v: memref<1x3x1024x64xf16>, %o: memref<1x9x1x64xf16>) {
  attn.attention heads(9, 3) scale(0.125)
      ins(%q, %k, %v : memref<1x9x1x64xf16>, memref<1x3x1024x64xf16>, memref<1x3x1024x64xf16>)
      outs(%o : memref<1x9x1x64xf16>)
  return
}
