// attn.attention with 64 or more f16/bf16 query rows and D and Dv 64 or 128
// takes the tensor-core prefill kernel (TensorCorePrefill.cpp), with any
// mask, window, softcap or kv_seq_lens; other prompts keep the
// flash-decoding kernels.
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

// A boolean mask broadcast over the heads ([B, 1, Sq, Skv], i1), causal:
// the mask is the kernel's fourth argument (before the output), read per
// element (i1 loads, one byte each) in every tile and applied by a select
// before the row max; the causal limit still skips the tiles above the
// diagonal (an unmasked loop, then a range-checked one).
// CHECK-LABEL: func.func @bool_mask_causal
// CHECK-NOT: attn_partial
// CHECK: gpu.launch_func @attn_kernels::@attn_prefill_0 blocks in (%c4{{.*}}, %c8{{.*}}, %c2{{.*}}) threads in (%c128
// CHECK-SAME: args(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : memref<2x1x256x256xi1>, %{{.*}} : memref<2x8x256x64xf16>)
// CHECK: gpu.func @attn_prefill_0
// CHECK: scf.for
// CHECK: memref.load %{{.*}}[%{{.*}}, %c0{{.*}}, %{{.*}}, %{{.*}}] : memref<2x1x256x256xi1>
// CHECK: nvvm.mma.sync
// CHECK: arith.select %{{.*}}, %{{.*}}, %cst{{.*}} : f32
// CHECK: math.fma
// CHECK: scf.yield
// CHECK: scf.for
// CHECK: memref.load {{.*}} : memref<2x1x256x256xi1>
// CHECK: arith.cmpi slt
// CHECK: scf.yield
// CHECK-NOT: scf.for
// CHECK: vector.store
// PTX-LABEL: llvm.func @bool_mask_causal
// PTX: .entry attn_prefill_0
// PTX-SAME: ld.global.b8
// PTX-SAME: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
func.func @bool_mask_causal(%q: memref<2x8x256x64xf16>, %k: memref<2x8x256x64xf16>,
                            %v: memref<2x8x256x64xf16>, %m: memref<2x1x256x256xi1>,
                            %o: memref<2x8x256x64xf16>) {
  attn.attention heads(8, 8) scale(0.125) causal(0)
      ins(%q, %k, %v : memref<2x8x256x64xf16>, memref<2x8x256x64xf16>, memref<2x8x256x64xf16>)
      mask(%m : memref<2x1x256x256xi1>)
      outs(%o : memref<2x8x256x64xf16>)
  return
}

// -----

// An additive f16 mask [Sq, Skv] (one for every batch row and head), GQA
// 16/2 bf16 at D = 128 with kv_seq_lens (after the mask among the
// arguments): its rows (600 bytes) are not whole 16-byte chunks, so it is
// read from global memory; Skv is even, so adjacent keys' entries come in
// one 32-bit load; the scores leave the raw form (scaled first) and the entry is added
// in log2 units by an fma.
// CHECK-LABEL: func.func @additive_mask_lens
// CHECK: gpu.launch_func @attn_kernels::@attn_prefill_0 blocks in (%c2{{[_0-9]*}}, %c16{{[_0-9]*}}, %c2{{[_0-9]*}})
// CHECK-SAME: %{{.*}} : memref<128x300xf16>, %{{.*}} : memref<2xi64>, %{{.*}} : memref<2x16x128x128xbf16>)
// CHECK: gpu.func @attn_prefill_0
// CHECK: memref.load %{{.*}} : memref<2xi64>
// CHECK: scf.for
// CHECK: vector.load %{{.*}}[%{{.*}}, %{{.*}}] {alignment = 4 : i64} : memref<128x300xf16>, vector<2xf16>
// CHECK: nvvm.mma.sync
// CHECK: arith.mulf %{{.*}}, %cst
// CHECK: math.fma %{{.*}}, %cst{{.*}}, %{{.*}} : f32
// PTX-LABEL: llvm.func @additive_mask_lens
// PTX: .entry attn_prefill_0
// PTX-SAME: ld.global.b32
// PTX-SAME: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
func.func @additive_mask_lens(%q: memref<2x16x128x128xbf16>, %k: memref<2x2x300x128xbf16>,
                              %v: memref<2x2x300x128xbf16>, %m: memref<128x300xf16>,
                              %lens: memref<2xi64>, %o: memref<2x16x128x128xbf16>) {
  attn.attention heads(16, 2) scale(0.0883883476)
      ins(%q, %k, %v : memref<2x16x128x128xbf16>, memref<2x2x300x128xbf16>, memref<2x2x300x128xbf16>)
      mask(%m : memref<128x300xf16>)
      kv_seq_lens(%lens : memref<2xi64>)
      outs(%o : memref<2x16x128x128xbf16>)
  return
}

// -----

// A full f16 mask whose rows are whole 16-byte chunks (Skv 256) is staged:
// a third shared-memory tile (64 rows x 64 keys, padded by 8), filled by
// cp.async 8 elements at a time in a group of its own (after the key
// tile's: K, mask, V in the prologue), read by each lane in pairs; the next
// mask tile is issued once the softmax has read this one (after the
// barrier before P V). No global load of the mask in the loop.
// CHECK-LABEL: func.func @staged_mask
// CHECK: gpu.func @attn_prefill_0
// CHECK-SAME: %[[MS:[a-z0-9]*]] : memref<64x72xf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}) kernel
// CHECK: nvgpu.device_async_copy {{.*}} to memref<64x136xf16
// CHECK: nvvm.cp.async.commit.group
// CHECK: nvgpu.device_async_copy %{{.*}}[%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}], %[[MS]][{{.*}}], 8 {bypassL1} : memref<2x4x128x256xf16> to memref<64x72xf16
// CHECK: nvvm.cp.async.commit.group
// CHECK: scf.for
// CHECK-NOT: memref<2x4x128x256xf16>, vector
// CHECK: vector.load %[[MS]][%{{.*}}, %{{.*}}] {alignment = 4 : i64} : memref<64x72xf16, #gpu.address_space<workgroup>>, vector<2xf16>
// CHECK: math.fma
// CHECK: gpu.barrier
// CHECK: scf.if
// CHECK: nvgpu.device_async_copy {{.*}}, %[[MS]]
// CHECK: nvvm.cp.async.commit.group
// CHECK: nvgpu.ldmatrix {{.*}}transpose = true
// PTX-LABEL: llvm.func @staged_mask
// PTX: .entry attn_prefill_0
// PTX-SAME: cp.async.cg.shared.global
// PTX-SAME: ld.shared.v2.b16
func.func @staged_mask(%q: memref<2x4x128x128xf16>, %k: memref<2x2x256x128xf16>,
                       %v: memref<2x2x256x128xf16>, %m: memref<2x4x128x256xf16>,
                       %o: memref<2x4x128x128xf16>) {
  attn.attention heads(4, 2) scale(0.0883883476) causal(128)
      ins(%q, %k, %v : memref<2x4x128x128xf16>, memref<2x2x256x128xf16>, memref<2x2x256x128xf16>)
      mask(%m : memref<2x4x128x256xf16>)
      outs(%o : memref<2x4x128x128xf16>)
  return
}

// -----

// An f32 additive mask per head broadcast over the rows ([Hq, 1, Skv]) with
// an odd Skv: one scalar load an entry (a pair would be misaligned), the
// row index 0; with softcap the entry is added after the cap.
// CHECK-LABEL: func.func @additive_f32_odd_softcap
// CHECK: gpu.func @attn_prefill_0
// CHECK: memref.load %{{.*}}[%{{.*}}, %c0{{.*}}, %{{.*}}] : memref<4x1x333xf32>
// CHECK-NOT: vector.load {{.*}} : memref<4x1x333xf32>
// CHECK: math.exp2
// CHECK: math.fma
func.func @additive_f32_odd_softcap(%q: memref<1x4x64x64xf16>, %k: memref<1x4x333x64xf16>,
                                    %v: memref<1x4x333x64xf16>, %m: memref<4x1x333xf32>,
                                    %o: memref<1x4x64x64xf16>) {
  attn.attention heads(4, 4) scale(0.125) softcap(20.0)
      ins(%q, %k, %v : memref<1x4x64x64xf16>, memref<1x4x333x64xf16>, memref<1x4x333x64xf16>)
      mask(%m : memref<4x1x333xf32>)
      outs(%o : memref<1x4x64x64xf16>)
  return
}

// -----

// A causal sliding window (Mistral's W = 256: window(255, 0)), MQA f16:
// a block walks only the tiles from its first row's window start to its
// last row's diagonal, in three loops: the leading edge (range-checked on
// both sides), the tiles every row sees wholly (no check), the trailing
// edge. No mask argument.
// CHECK-LABEL: func.func @causal_window
// CHECK: gpu.launch_func @attn_kernels::@attn_prefill_0 blocks in (%c16{{[_0-9]*}}, %c8{{[_0-9]*}}, %c1{{[_0-9]*}})
// CHECK-SAME: args(%{{.*}} : memref<1x8x1024x64xf16>, %{{.*}} : memref<1x1x1024x64xf16>, %{{.*}} : memref<1x1x1024x64xf16>, %{{.*}} : memref<1x8x1024x64xf16>)
// CHECK: gpu.func @attn_prefill_0
// CHECK: arith.addi %{{.*}}, %c-255
// CHECK: scf.for
// CHECK: arith.cmpi sge
// CHECK: scf.yield
// CHECK: scf.for
// CHECK-NOT: arith.cmpi sge
// CHECK: scf.yield
// CHECK: scf.for
// CHECK: arith.cmpi sge
// CHECK: scf.yield
// CHECK-NOT: scf.for
// CHECK: nvvm.cp.async.wait.group 0
func.func @causal_window(%q: memref<1x8x1024x64xf16>, %k: memref<1x1x1024x64xf16>,
                         %v: memref<1x1x1024x64xf16>, %o: memref<1x8x1024x64xf16>) {
  attn.attention heads(8, 1) scale(0.125) causal(0) window(255, 0)
      ins(%q, %k, %v : memref<1x8x1024x64xf16>, memref<1x1x1024x64xf16>, memref<1x1x1024x64xf16>)
      outs(%o : memref<1x8x1024x64xf16>)
  return
}

// -----

// A two-sided window without causal (window(32, 16): key j for row i when
// i - 32 <= j <= i + 16), bf16 D = 128: the right side bounds the end as
// the causal limit does.
// CHECK-LABEL: func.func @two_sided_window
// CHECK: gpu.func @attn_prefill_0
// CHECK: arith.addi %{{.*}}, %c17
// CHECK: arith.addi %{{.*}}, %c-32
// CHECK-COUNT-3: scf.for
// PTX-LABEL: llvm.func @two_sided_window
// PTX: .entry attn_prefill_0
// PTX-SAME: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
func.func @two_sided_window(%q: memref<1x4x200x128xbf16>, %k: memref<1x4x200x128xbf16>,
                            %v: memref<1x4x200x128xbf16>, %o: memref<1x4x200x128xbf16>) {
  attn.attention heads(4, 4) scale(0.0883883476) window(32, 16)
      ins(%q, %k, %v : memref<1x4x200x128xbf16>, memref<1x4x200x128xbf16>, memref<1x4x200x128xbf16>)
      outs(%o : memref<1x4x200x128xbf16>)
  return
}

// -----

// Head dimension 256 (Dv 128): tiles of 32 keys (K 32 x 264, V 32 x 136
// in shared memory: 33 KiB, static), 4 n-tiles of S a tile, 2 k-steps of
// P V; the S = Q K^T of a key tile is D / 16 = 16 mmas.
// CHECK-LABEL: func.func @head_dim_256
// CHECK: gpu.launch_func @attn_kernels::@attn_prefill_0 blocks in (%c2{{[_0-9]*}}, %c8{{[_0-9]*}}, %c1{{[_0-9]*}})
// CHECK: gpu.func @attn_prefill_0
// CHECK-SAME: workgroup(%[[KS:.*]] : memref<32x264xf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[VS:.*]] : memref<32x136xf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK: scf.for
// CHECK-COUNT-16: nvvm.mma.sync
// CHECK-NOT: nvvm.mma.sync
// CHECK: nvgpu.ldmatrix %[[KS]]
// PTX-LABEL: llvm.func @head_dim_256
// PTX: .entry attn_prefill_0
// PTX-SAME: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
func.func @head_dim_256(%q: memref<1x8x128x256xf16>, %k: memref<1x2x128x256xf16>,
                        %v: memref<1x2x128x128xf16>, %o: memref<1x8x128x128xf16>) {
  attn.attention heads(8, 2) scale(0.0625) causal(0)
      ins(%q, %k, %v : memref<1x8x128x256xf16>, memref<1x2x128x256xf16>, memref<1x2x128x128xf16>)
      outs(%o : memref<1x8x128x128xf16>)
  return
}

// -----

// What stays on the flash-decoding kernels: f32, fewer than 64 query rows,
// D = 96.
// CHECK-LABEL: func.func @not_prefill
// CHECK-NOT: attn_prefill
// CHECK-COUNT-3: gpu.launch_func @attn_kernels::@attn_partial_
// CHECK-NOT: attn_prefill
// PTX-LABEL: llvm.func @not_prefill
// PTX-NOT: attn_prefill
func.func @not_prefill(%q: memref<1x4x64x64xf16>, %k: memref<1x4x64x64xf16>,
                       %v: memref<1x4x64x64xf16>, %o: memref<1x4x64x64xf16>,
                       %qf: memref<1x4x64x64xf32>, %kf: memref<1x4x64x64xf32>,
                       %vf: memref<1x4x64x64xf32>, %of: memref<1x4x64x64xf32>,
                       %qs: memref<1x4x63x64xf16>, %os: memref<1x4x63x64xf16>,
                       %q96: memref<1x4x64x96xf16>, %k96: memref<1x4x64x96xf16>,
                       %v96: memref<1x4x64x96xf16>, %o96: memref<1x4x64x96xf16>) {
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
