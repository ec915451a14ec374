// attn.attention with 64 or more f16/bf16 query rows, D and Dv 64 or 128,
// no mask and no window takes the tensor-core prefill kernel
// (TensorCorePrefill.cpp); other prompts keep the flash-decoding kernels.
// RUN: attn-opt %s --convert-attn-to-gpu -split-input-file | FileCheck %s
// RUN: attn-opt %s --split-input-file --attn-cuda-pipeline="cubin-format=isa wgmma-prefill=false" | FileCheck %s --check-prefix=PTX

// GQA 32/8, causal, f16, D = 128: one launch of (Sq / 64 query tiles, Hq,
// B) blocks of 128 threads; K and V tiles of 64 rows (padded by 8 elements)
// in shared memory, filled by cp.async (16 bytes, bypassing L1); the KV
// head is the query head / 4; S = Q K^T from ldmatrix x4 (D / 16 mmas a
// key tile, 8 tiles), P V from ldmatrix.trans x4 (Dv / 8 mmas a k-step, 4
// k-steps); an unmasked loop over the tiles every row sees wholly, then a
// masked one (the diagonal).
// CHECK-LABEL: func.func @causal_gqa_f16
// CHECK-NOT: attn.attention
// CHECK: gpu.launch_func @attn_kernels::@attn_prefill_0 blocks in (%c16{{.*}}, %c32{{.*}}, %c2{{.*}}) threads in (%c128
// CHECK-NOT: gpu.launch_func
// CHECK: gpu.func @attn_prefill_0
// CHECK-SAME: workgroup(%[[KS:.*]] : memref<64x136xf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[VS:.*]] : memref<64x136xf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}) kernel
// CHECK-SAME: known_block_size = array<i32: 128, 1, 1>
// CHECK-SAME: nvvm.minctasm = 2
// CHECK: arith.divui %{{.*}}, %c4
// CHECK: nvgpu.device_async_copy {{.*}}, %[[KS]][{{.*}}], 8 {bypassL1}
// CHECK: nvvm.cp.async.commit.group
// CHECK: nvgpu.device_async_copy {{.*}}, %[[VS]][{{.*}}], 8 {bypassL1}
// CHECK: scf.for
// CHECK: nvvm.cp.async.wait.group 1
// CHECK: gpu.barrier
// CHECK: nvgpu.ldmatrix %[[KS]]{{.*}} {numTiles = 4 : i32, transpose = false}
// CHECK-COUNT-2: nvvm.mma.sync {{.*}} shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (vector<2xf16>, vector<2xf16>, f32)
// CHECK: math.fma
// CHECK: math.exp2 {{.*}} fastmath<afn>
// CHECK: nvgpu.ldmatrix %[[VS]]{{.*}} {numTiles = 4 : i32, transpose = true}
// CHECK: scf.yield
// CHECK: scf.for
// CHECK: arith.select
// CHECK: scf.yield
// CHECK: nvvm.cp.async.wait.group 0
// CHECK: vector.store {{.*}} : memref<2x32x1024x128xf16>, vector<2xf16>
// PTX-LABEL: llvm.func @causal_gqa_f16
// PTX: .entry attn_prefill_0
// PTX-SAME: .shared .align 16 .b8
// PTX-SAME: .shared .align 16 .b8
// PTX-SAME: cp.async.cg.shared.global
// PTX-SAME: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// PTX-SAME: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// PTX-SAME: ex2.approx
// PTX-SAME: ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
func.func @causal_gqa_f16(%q: memref<2x32x1024x128xf16>, %k: memref<2x8x1024x128xf16>,
                          %v: memref<2x8x1024x128xf16>, %o: memref<2x32x1024x128xf16>) {
  attn.attention heads(32, 8) scale(0.0883883476) causal(0)
      ins(%q, %k, %v : memref<2x32x1024x128xf16>, memref<2x8x1024x128xf16>, memref<2x8x1024x128xf16>)
      outs(%o : memref<2x32x1024x128xf16>)
  return
}

// -----

// MQA bf16, D = 64, Sq != Skv with softcap and kv_seq_lens (passed to the
// kernel, read per batch row): bf16 operands go to the mma
// as i32 pairs; 3 query tiles for 130 rows (the last one partly past Sq).
// CHECK-LABEL: func.func @mqa_bf16_softcap_lens
// CHECK: gpu.launch_func @attn_kernels::@attn_prefill_0 blocks in (%c3{{.*}}, %c8{{.*}}, %c1{{.*}}) threads in (%c128
// CHECK-SAME: args({{.*}}, %{{.*}} : memref<1xi32>, %{{.*}} : memref<1x8x130x64xbf16>)
// CHECK: gpu.func @attn_prefill_0
// CHECK-SAME: workgroup(%{{.*}} : memref<64x72xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<64x72xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK: memref.load %{{.*}} : memref<1xi32>
// CHECK: nvvm.mma.sync {{.*}} : (i32, i32, f32)
// CHECK: vector.store {{.*}} : memref<1x8x130x64xbf16>, vector<2xbf16>
// PTX-LABEL: llvm.func @mqa_bf16_softcap_lens
// PTX: .entry attn_prefill_0
// PTX-SAME: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
func.func @mqa_bf16_softcap_lens(%q: memref<1x8x130x64xbf16>, %k: memref<1x1x300x64xbf16>,
                                 %v: memref<1x1x300x64xbf16>, %lens: memref<1xi32>,
                                 %o: memref<1x8x130x64xbf16>) {
  attn.attention heads(8, 1) scale(0.125) causal(170) softcap(30.0)
      ins(%q, %k, %v : memref<1x8x130x64xbf16>, memref<1x1x300x64xbf16>, memref<1x1x300x64xbf16>)
      kv_seq_lens(%lens : memref<1xi32>)
      outs(%o : memref<1x8x130x64xbf16>)
  return
}

// -----

// What stays on the flash-decoding kernels: a mask, a window, f32, fewer
// than 64 query rows, D = 96.
// CHECK-LABEL: func.func @not_prefill
// CHECK-NOT: attn_prefill
// CHECK-COUNT-5: gpu.launch_func @attn_kernels::@attn_partial_
// CHECK-NOT: attn_prefill
// PTX-LABEL: llvm.func @not_prefill
// PTX-NOT: attn_prefill
func.func @not_prefill(%q: memref<1x4x64x64xf16>, %k: memref<1x4x64x64xf16>,
                       %v: memref<1x4x64x64xf16>, %o: memref<1x4x64x64xf16>,
                       %m: memref<1x1x64x64xi1>,
                       %qf: memref<1x4x64x64xf32>, %kf: memref<1x4x64x64xf32>,
                       %vf: memref<1x4x64x64xf32>, %of: memref<1x4x64x64xf32>,
                       %qs: memref<1x4x63x64xf16>, %os: memref<1x4x63x64xf16>,
                       %q96: memref<1x4x64x96xf16>, %k96: memref<1x4x64x96xf16>,
                       %v96: memref<1x4x64x96xf16>, %o96: memref<1x4x64x96xf16>) {
  attn.attention heads(4, 4) scale(0.125)
      ins(%q, %k, %v : memref<1x4x64x64xf16>, memref<1x4x64x64xf16>, memref<1x4x64x64xf16>)
      mask(%m : memref<1x1x64x64xi1>)
      outs(%o : memref<1x4x64x64xf16>)
  attn.attention heads(4, 4) scale(0.125) window(16, 0)
      ins(%q, %k, %v : memref<1x4x64x64xf16>, memref<1x4x64x64xf16>, memref<1x4x64x64xf16>)
      outs(%o : memref<1x4x64x64xf16>)
  attn.attention heads(4, 4) scale(0.125)
      ins(%qf, %kf, %vf : memref<1x4x64x64xf32>, memref<1x4x64x64xf32>, memref<1x4x64x64xf32>)
      outs(%of : memref<1x4x64x64xf32>)
  attn.attention heads(4, 4) scale(0.125)
      ins(%qs, %k, %v : memref<1x4x63x64xf16>, memref<1x4x64x64xf16>, memref<1x4x64x64xf16>)
      outs(%os : memref<1x4x63x64xf16>)
  attn.attention heads(4, 4) scale(0.125)
      ins(%q96, %k96, %v96 : memref<1x4x64x96xf16>, memref<1x4x64x96xf16>, memref<1x4x64x96xf16>)
      outs(%o96 : memref<1x4x64x96xf16>)
  return
}
