// RUN: attn-opt %s --attn-linalg-to-gpu -cse -split-input-file | FileCheck %s

// A prompt projection in the importer's 3-D form, f16: 300 rows x 1536
// columns give 3 x 12 blocks of 128 x 128 and 3 x 24 of 128 x 64 (fewer
// than the 132 multiprocessors), so 64 x 64 tiles: 24 x 5 blocks of 256
// threads; two shared-memory stages of A [64 x 32] and B [32 x 64] (rows
// padded by 8 elements); 18 K-tiles of 32; cp.async with zero-filled
// edges, ldmatrix (.trans for B [k, n]), mma.sync m16n8k16 into f32
// accumulators.
// CHECK-LABEL: func.func @gemm_f16
// CHECK-DAG: %[[C24:.+]] = arith.constant 24 : index
// CHECK-DAG: %[[C5:.+]] = arith.constant 5 : index
// CHECK-DAG: %[[C256:.+]] = arith.constant 256 : index
// CHECK: gpu.launch blocks(%{{.+}}, %{{.+}}, %{{.+}}) in (%{{.+}} = %[[C24]], %{{.+}} = %[[C5]], %{{.+}} = %{{.+}}) threads(%{{.+}}, %{{.+}}, %{{.+}}) in (%{{.+}} = %[[C256]], %{{.+}} = %{{.+}}, %{{.+}} = %{{.+}}) workgroup(%[[SA:.+]] : memref<2x64x40xf16, #gpu.address_space<workgroup>>, %[[SB:.+]] : memref<2x32x72xf16, #gpu.address_space<workgroup>>)
// CHECK: memref.collapse_shape %{{.+}} {{\[\[}}0, 1], [2]] : memref<1x300x576xf16> into memref<300x576xf16>
// CHECK: nvgpu.device_async_copy {{.*}}, 8, %{{.+}} {bypassL1}
// CHECK: nvvm.cp.async.commit.group
// CHECK: scf.for
// CHECK: scf.if
// CHECK: nvvm.cp.async.wait.group 1
// CHECK: gpu.barrier
// CHECK: nvgpu.ldmatrix %[[SA]][{{.+}}] {numTiles = 4 : i32, transpose = false}
// CHECK: nvgpu.ldmatrix %[[SB]][{{.+}}] {numTiles = 4 : i32, transpose = true}
// CHECK: nvvm.mma.sync {{.*}}f16
// CHECK: gpu.barrier
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
// transposed weight W[n, k] (ldmatrix without .trans, B stages [128 x 32]),
// bf16 operands, f32 output.
// CHECK-LABEL: func.func @gemm_transposed_bf16
// CHECK-DAG: %[[C16:.+]] = arith.constant 16 : index
// CHECK: gpu.launch blocks(%{{.+}}, %{{.+}}, %{{.+}}) in (%{{.+}} = %[[C16]], %{{.+}} = %[[C16]], {{.*}} workgroup(%[[SA:.+]] : memref<2x128x40xbf16, #gpu.address_space<workgroup>>, %[[SB:.+]] : memref<2x128x40xbf16, #gpu.address_space<workgroup>>)
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
// B's rows of batch z start at z * K.
// CHECK-LABEL: func.func @bmm_f16
// CHECK-DAG: %[[C4:.+]] = arith.constant 4 : index
// CHECK: gpu.launch blocks(%{{.+}}, %{{.+}}, %{{.+}}) in (%{{.+}} = %{{.+}}, %{{.+}} = %{{.+}}, %{{.+}} = %[[C4]]) {{.*}} workgroup(%{{.+}} : memref<2x64x40xf16, #gpu.address_space<workgroup>>, %{{.+}} : memref<2x32x72xf16, #gpu.address_space<workgroup>>)
// CHECK: memref.collapse_shape %{{.+}} {{\[\[}}0, 1], [2]] : memref<4x72x64xf16> into memref<288x64xf16>
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
