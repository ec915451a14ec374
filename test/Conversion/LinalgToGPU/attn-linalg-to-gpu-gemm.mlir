// RUN: attn-opt %s --attn-linalg-to-gpu -cse -split-input-file | FileCheck %s

// A prompt projection in the importer's 3-D form, f16: 300 rows x 1536
// columns give 3 x 12 blocks of 128 x 128 and 3 x 24 of 128 x 64 (fewer
// than the 132 multiprocessors), so 64 x 64 tiles: 5 x 24 blocks of 256
// threads (grid x over the M tiles: M < N); four stages of A [64 x 64] and B [64 x 64] (rows padded by 8
// elements) in 73728 bytes of dynamic shared memory, B's after A's 36864;
// 9 K-tiles of 64, three in flight before the loop; cp.async with
// zero-filled edges, ldmatrix (.trans for B [k, n]), mma.sync m16n8k16
// into f32 accumulators; the output's initial value is read (no fill).
// CHECK-LABEL: func.func @gemm_f16
// CHECK-DAG: %[[C24:.+]] = arith.constant 24 : index
// CHECK-DAG: %[[C5:.+]] = arith.constant 5 : index
// CHECK-DAG: %[[C256:.+]] = arith.constant 256 : index
// CHECK-DAG: %[[BYTES:.+]] = arith.constant 73728 : i32
// CHECK: gpu.launch blocks(%{{.+}}, %{{.+}}, %{{.+}}) in (%{{.+}} = %[[C5]], %{{.+}} = %[[C24]], %{{.+}} = %{{.+}}) threads(%{{.+}}, %{{.+}}, %{{.+}}) in (%{{.+}} = %[[C256]], %{{.+}} = %{{.+}}, %{{.+}} = %{{.+}}) dynamic_shared_memory_size %[[BYTES]]
// CHECK: memref.collapse_shape %{{.+}} {{\[\[}}0, 1], [2]] : memref<1x300x576xf16> into memref<300x576xf16>
// CHECK: %[[DYN:.+]] = gpu.dynamic_shared_memory : memref<?xi8, #gpu.address_space<workgroup>>
// CHECK: %[[SA:.+]] = memref.view %[[DYN]][%{{.+}}][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<4x64x72xf16, #gpu.address_space<workgroup>>
// CHECK: %[[SB:.+]] = memref.view %[[DYN]][%{{.+}}][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<4x64x72xf16, #gpu.address_space<workgroup>>
// CHECK: nvgpu.device_async_copy {{.*}}, 8, %{{.+}} {bypassL1}
// CHECK: nvvm.cp.async.commit.group
// CHECK: nvvm.cp.async.commit.group
// CHECK: nvvm.cp.async.commit.group
// CHECK-NOT: nvvm.cp.async.commit.group
// CHECK: scf.for
// CHECK: nvvm.cp.async.wait.group 2
// CHECK-NEXT: gpu.barrier
// CHECK: scf.if
// CHECK: nvgpu.device_async_copy
// CHECK: nvvm.cp.async.commit.group
// CHECK-COUNT-2: nvgpu.ldmatrix %[[SA]][{{.+}}] {numTiles = 4 : i32, transpose = false}
// CHECK: nvgpu.ldmatrix %[[SB]][{{.+}}] {numTiles = 4 : i32, transpose = true}
// CHECK: nvvm.mma.sync {{.*}}f16
// CHECK-NOT: gpu.barrier
// CHECK: scf.yield
// CHECK: nvvm.cp.async.wait.group 0
// CHECK: scf.if
// CHECK: vector.load %{{.+}} {alignment = 4 : i64} : memref<300x1536xf16>, vector<2xf16>
// CHECK: vector.store
// CHECK-NOT: linalg.
func.func @gemm_f16(%x: memref<1x300x576xf16>, %w: memref<576x1536xf16>, %y: memref<1x300x1536xf16>) {
  linalg.generic {indexing_maps = [affine_map<(b, s, n, k) -> (b, s, k)>, affine_map<(b, s, n, k) -> (k, n)>, affine_map<(b, s, n, k) -> (b, s, n)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%x, %w : memref<1x300x576xf16>, memref<576x1536xf16>) outs(%y : memref<1x300x1536xf16>) {
  ^bb0(%a: f16, %b: f16, %o: f16):
    %m = arith.mulf %a, %b : f16
    %s = arith.addf %o, %m : f16
    linalg.yield %s : f16
  }
  return
}

// -----

// 128 x 128 tiles when there are enough of them (16 x 16 blocks); a
// transposed weight W[n, k] (ldmatrix without .trans, B stages [128 x 64]),
// bf16 operands, f32 output; K = 64 is one K-tile: two stages, not three.
// CHECK-LABEL: func.func @gemm_transposed_bf16
// CHECK-DAG: %[[C16:.+]] = arith.constant 16 : index
// CHECK-DAG: %[[BYTES:.+]] = arith.constant 73728 : i32
// CHECK: gpu.launch blocks(%{{.+}}, %{{.+}}, %{{.+}}) in (%{{.+}} = %[[C16]], %{{.+}} = %[[C16]], {{.*}} dynamic_shared_memory_size %[[BYTES]]
// CHECK: memref.view {{.*}} to memref<2x128x72xbf16, #gpu.address_space<workgroup>>
// CHECK: %[[SB:.+]] = memref.view {{.*}} to memref<2x128x72xbf16, #gpu.address_space<workgroup>>
// CHECK: nvgpu.ldmatrix %[[SB]][{{.+}}] {numTiles = 4 : i32, transpose = false}
// CHECK: nvvm.mma.sync {{.*}}bf16
// CHECK: vector.load %{{.+}} : memref<2048x2048xf32>, vector<2xf32>
func.func @gemm_transposed_bf16(%x: memref<2048x64xbf16>, %w: memref<2048x64xbf16>, %y: memref<2048x2048xf32>) {
  linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
    ins(%x, %w : memref<2048x64xbf16>, memref<2048x64xbf16>) outs(%y : memref<2048x2048xf32>)
  return
}

// -----

// batch_matmul: the batch on the grid's z dimension (4), 64 x 64 tiles,
// B's rows of batch z start at z * K; K = 72 is two K-tiles (the second
// zero-filled past 72): two stages.
// CHECK-LABEL: func.func @bmm_f16
// CHECK-DAG: %[[C4:.+]] = arith.constant 4 : index
// CHECK: gpu.launch blocks(%{{.+}}, %{{.+}}, %{{.+}}) in (%{{.+}} = %{{.+}}, %{{.+}} = %{{.+}}, %{{.+}} = %[[C4]]) {{.*}} dynamic_shared_memory_size
// CHECK: memref.collapse_shape %{{.+}} {{\[\[}}0, 1], [2]] : memref<4x72x64xf16> into memref<288x64xf16>
// CHECK: memref.view {{.*}} to memref<2x64x72xf16, #gpu.address_space<workgroup>>
// CHECK: memref.view {{.*}} to memref<2x64x72xf16, #gpu.address_space<workgroup>>
// CHECK: nvvm.mma.sync
func.func @bmm_f16(%x: memref<4x128x72xf16>, %w: memref<4x72x64xf16>, %y: memref<4x128x64xf16>) {
  linalg.batch_matmul ins(%x, %w : memref<4x128x72xf16>, memref<4x72x64xf16>) outs(%y : memref<4x128x64xf16>)
  return
}

// -----

// Not this kernel: f32 operands (CUDA cores), fewer than 64 rows, a K that
// is not a multiple of 8 (no 16-byte rows for cp.async).
// CHECK-LABEL: func.func @not_gemm
// CHECK-NOT: nvvm.mma.sync
// CHECK: return
func.func @not_gemm(%x: memref<128x64xf32>, %w: memref<64x64xf32>, %y: memref<128x64xf32>,
                    %a: memref<32x64xf16>, %b: memref<64x64xf16>, %c: memref<32x64xf16>,
                    %d: memref<128x60xf16>, %e: memref<60x64xf16>, %f: memref<128x64xf16>) {
  linalg.matmul ins(%x, %w : memref<128x64xf32>, memref<64x64xf32>) outs(%y : memref<128x64xf32>)
  linalg.matmul ins(%a, %b : memref<32x64xf16>, memref<64x64xf16>) outs(%c : memref<32x64xf16>)
  linalg.matmul ins(%d, %e : memref<128x60xf16>, memref<60x64xf16>) outs(%f : memref<128x64xf16>)
  return
}

// -----

// A zero fill followed by its product: 2048 x 4096 x 4096 gives 16 x 32
// blocks of 128 x 128 (grid x over the M tiles) (three stages of 128 x 72 + 64 x 136 f16: 107520
// bytes, two blocks a multiprocessor); the fill is not launched and the
// epilogue stores the sums without reading y. The fill of %z is kept: an
// op reads %z before its product.
// CHECK-LABEL: func.func @zero_fill
// CHECK-DAG: %[[BYTES:.+]] = arith.constant 107520 : i32
// CHECK-DAG: %[[C16:.+]] = arith.constant 16 : index
// CHECK-DAG: %[[C32:.+]] = arith.constant 32 : index
// CHECK: gpu.launch blocks(%{{.+}}, %{{.+}}, %{{.+}}) in (%{{.+}} = %[[C16]], %{{.+}} = %[[C32]], {{.*}} dynamic_shared_memory_size %[[BYTES]]
// CHECK: memref.view {{.*}} to memref<3x128x72xf16, #gpu.address_space<workgroup>>
// CHECK: memref.view {{.*}} to memref<3x64x136xf16, #gpu.address_space<workgroup>>
// CHECK: nvvm.cp.async.wait.group 1
// CHECK: nvvm.cp.async.wait.group 0
// CHECK-NOT: vector.load
// CHECK: vector.store %{{.+}}, %{{.+}} : memref<2048x4096xf16>, vector<2xf16>
// CHECK: gpu.terminator
// The kept fill of %z, the copy that reads it, then z's product.
// CHECK: gpu.launch
// CHECK: memref.store %{{.+}}, %{{.+}} : memref<2048x4096xf16>
// CHECK: gpu.launch
// CHECK: memref.load %{{.+}} : memref<2048x4096xf16>
// CHECK: gpu.launch {{.*}} dynamic_shared_memory_size
// CHECK: vector.load %{{.+}} : memref<2048x4096xf16>, vector<2xf16>
// CHECK-NOT: linalg.
func.func @zero_fill(%x: memref<2048x4096xf16>, %w: memref<4096x4096xf16>, %y: memref<2048x4096xf16>,
                     %z: memref<2048x4096xf16>, %copy: memref<2048x4096xf16>) {
  %zero = arith.constant 0.0 : f16
  linalg.fill ins(%zero : f16) outs(%y : memref<2048x4096xf16>)
  linalg.matmul ins(%x, %w : memref<2048x4096xf16>, memref<4096x4096xf16>) outs(%y : memref<2048x4096xf16>)
  linalg.fill ins(%zero : f16) outs(%z : memref<2048x4096xf16>)
  linalg.copy ins(%z : memref<2048x4096xf16>) outs(%copy : memref<2048x4096xf16>)
  linalg.matmul ins(%x, %w : memref<2048x4096xf16>, memref<4096x4096xf16>) outs(%z : memref<2048x4096xf16>)
  return
}

// -----

// A zero fill whose product is not the tensor-core kernel's (f32
// operands): the fill is lowered before the product, which reads it; a
// non-zero fill is always kept.
// CHECK-LABEL: func.func @fill_kept
// CHECK: gpu.launch
// CHECK: memref.store
// CHECK: gpu.launch
// CHECK-NOT: nvvm.mma.sync
// CHECK: gpu.launch
// CHECK: memref.store
// CHECK: gpu.launch {{.*}} dynamic_shared_memory_size
// CHECK: vector.load %{{.+}} : memref<256x64xf16>, vector<2xf16>
// CHECK-NOT: linalg.
func.func @fill_kept(%x: memref<256x64xf32>, %w: memref<64x64xf32>, %y: memref<256x64xf32>,
                     %a: memref<256x64xf16>, %b: memref<64x64xf16>, %c: memref<256x64xf16>) {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f16
  linalg.fill ins(%zero : f32) outs(%y : memref<256x64xf32>)
  linalg.matmul ins(%x, %w : memref<256x64xf32>, memref<64x64xf32>) outs(%y : memref<256x64xf32>)
  linalg.fill ins(%one : f16) outs(%c : memref<256x64xf16>)
  linalg.matmul ins(%a, %b : memref<256x64xf16>, memref<64x64xf16>) outs(%c : memref<256x64xf16>)
  return
}

// -----

// The prompt's q / o projection, 2048 x 576 x 576: 16 x 9 = 144 blocks of
// 128 x 64 would be one a multiprocessor, so 64 x 64 tiles (9 x 32
// blocks, grid x over the N tiles: N < M), four stages in 73728 bytes.
// CHECK-LABEL: func.func @q_proj
// CHECK-DAG: %[[C9:.+]] = arith.constant 9 : index
// CHECK-DAG: %[[C32:.+]] = arith.constant 32 : index
// CHECK: gpu.launch blocks(%{{.+}}, %{{.+}}, %{{.+}}) in (%{{.+}} = %[[C9]], %{{.+}} = %[[C32]], {{.*}} dynamic_shared_memory_size
// CHECK: memref.view {{.*}} to memref<4x64x72xf16, #gpu.address_space<workgroup>>
// CHECK: memref.view {{.*}} to memref<4x64x72xf16, #gpu.address_space<workgroup>>
func.func @q_proj(%x: memref<2048x576xf16>, %w: memref<576x576xf16>, %y: memref<2048x576xf16>) {
  linalg.matmul ins(%x, %w : memref<2048x576xf16>, memref<576x576xf16>) outs(%y : memref<2048x576xf16>)
  return
}

// -----

// The zero fill is kept when a view of the buffer (made before the fill)
// is read between the fill and the product.
// CHECK-LABEL: func.func @fill_kept_view
// CHECK: gpu.launch
// CHECK: memref.store
// CHECK: gpu.launch
// CHECK: memref.load
// CHECK: gpu.launch {{.*}} dynamic_shared_memory_size
// CHECK: vector.load %{{.+}} : memref<256x128xf16>, vector<2xf16>
func.func @fill_kept_view(%a: memref<256x64xf16>, %b: memref<64x128xf16>, %c: memref<256x128xf16>,
                          %copy: memref<64x64xf16, strided<[128, 1]>>) {
  %zero = arith.constant 0.0 : f16
  %view = memref.subview %c[0, 0] [64, 64] [1, 1] : memref<256x128xf16> to memref<64x64xf16, strided<[128, 1]>>
  linalg.fill ins(%zero : f16) outs(%c : memref<256x128xf16>)
  linalg.copy ins(%view : memref<64x64xf16, strided<[128, 1]>>) outs(%copy : memref<64x64xf16, strided<[128, 1]>>)
  linalg.matmul ins(%a, %b : memref<256x64xf16>, memref<64x128xf16>) outs(%c : memref<256x128xf16>)
  return
}
