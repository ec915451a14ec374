// RUN: attn-opt %s --attn-linalg-to-gpu -cse -split-input-file | FileCheck %s

// A decode-step projection y[0, n] += x[0, k] * W[k, n], f32: 16 column
// groups x 16 K slices per block; 512 columns of 4 -> 8 column blocks, K
// split over 2 blocks (a wave needs more than 8 blocks, each thread keeps
// at least 4 rows); 16-byte loads of W rows, four rows in flight; the
// slices summed in shared memory; the blocks add into y atomically.
// CHECK-LABEL: func.func @matvec_f32
// CHECK-SAME: %[[X:[a-z0-9]+]]: memref<1x128xf32>, %[[W:[a-z0-9]+]]: memref<128x512xf32>, %[[Y:[a-z0-9]+]]: memref<1x512xf32>
// CHECK-DAG: %[[C8:.+]] = arith.constant 8 : index
// CHECK-DAG: %[[C2:.+]] = arith.constant 2 : index
// CHECK-DAG: %[[C256:.+]] = arith.constant 256 : index
// CHECK: gpu.launch blocks(%{{.+}}, %{{.+}}, %{{.+}}) in (%{{.+}} = %[[C8]], %{{.+}} = %[[C2]], %{{.+}} = %{{.+}}) threads(%{{.+}}, %{{.+}}, %{{.+}}) in (%{{.+}} = %[[C256]], %{{.+}} = %{{.+}}, %{{.+}} = %{{.+}}) workgroup(%[[SMEM:.+]] : memref<16x64xf32, #gpu.address_space<workgroup>>)
// CHECK: scf.for {{.*}} iter_args(%[[ACC:.+]] = %{{.+}}) -> (vector<4xf32>)
// CHECK-COUNT-4: vector.load %[[W]][%{{.+}}, %{{.+}}] {alignment = 16 : i64} : memref<128x512xf32>, vector<4xf32>
// CHECK: memref.load %[[X]]
// CHECK: vector.fma
// CHECK: vector.store %{{.+}}, %[[SMEM]]
// CHECK: gpu.barrier
// CHECK: scf.if
// CHECK-COUNT-16: vector.load %[[SMEM]]
// CHECK-COUNT-4: memref.atomic_rmw addf %{{.+}}, %[[Y]]
// CHECK-NOT: linalg.
func.func @matvec_f32(%x: memref<1x128xf32>, %w: memref<128x512xf32>, %y: memref<1x512xf32>) {
  linalg.matmul ins(%x, %w : memref<1x128xf32>, memref<128x512xf32>) outs(%y : memref<1x512xf32>)
  return
}

// -----

// f16 weights and output (two rows of x, as the importer's 3-D form
// writes them): 8 columns a thread, f32 accumulation, one block along K
// (no f16 atomics), so narrower column blocks (4 threads, 64 slices of K)
// to make more of them: 2 blocks; the result is added to y in f32 and
// rounded once.
// CHECK-LABEL: func.func @matvec_f16
// CHECK-DAG: %[[C2:.+]] = arith.constant 2 : index
// CHECK: gpu.launch blocks(%{{.+}}, %{{.+}}, %{{.+}}) in (%{{.+}} = %[[C2]], {{.*}} workgroup(%[[SMEM:.+]] : memref<64x32xf32, #gpu.address_space<workgroup>>)
// CHECK: scf.for {{.*}} -> (vector<8xf32>, vector<8xf32>)
// CHECK: vector.load %{{.+}} {alignment = 16 : i64} : memref<256x64xf16>, vector<8xf16>
// CHECK: arith.extf %{{.+}} : vector<8xf16> to vector<8xf32>
// CHECK-NOT: atomic_rmw
// CHECK: arith.truncf %{{.+}} : f32 to f16
// CHECK: memref.store
#x3 = affine_map<(b, s, n, k) -> (b, s, k)>
#w2 = affine_map<(b, s, n, k) -> (k, n)>
#y3 = affine_map<(b, s, n, k) -> (b, s, n)>
func.func @matvec_f16(%x: memref<2x1x256xf16>, %w: memref<256x64xf16>, %y: memref<2x1x64xf16>) {
  linalg.generic {indexing_maps = [#x3, #w2, #y3], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%x, %w : memref<2x1x256xf16>, memref<256x64xf16>) outs(%y : memref<2x1x64xf16>) {
  ^bb0(%a: f16, %b: f16, %o: f16):
    %m = arith.mulf %a, %b : f16
    %s = arith.addf %o, %m : f16
    linalg.yield %s : f16
  }
  return
}

// -----

// A transposed weight (W[n, k], a matmul with transposed maps) is not the matvec
// kernel's form: a warp per output column, lanes strided over k (coalesced
// along W's rows), a butterfly of shuffles, lane 0 adds into y.
// CHECK-LABEL: func.func @matvec_transposed
// CHECK-DAG: %[[C12:.+]] = arith.constant 12 : index
// CHECK: gpu.launch blocks(%{{.+}}, %{{.+}}, %{{.+}}) in (%{{.+}} = %[[C12]],
// CHECK-NOT: workgroup
// CHECK: scf.for {{.*}} iter_args(%{{.+}} = %{{.+}}) -> (f32)
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK-COUNT-5: gpu.shuffle  xor
// CHECK: scf.if
// CHECK: memref.load %arg2
// CHECK: memref.store
func.func @matvec_transposed(%x: memref<1x128xf32>, %w: memref<96x128xf32>, %y: memref<1x96xf32>) {
  linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
    ins(%x, %w : memref<1x128xf32>, memref<96x128xf32>) outs(%y : memref<1x96xf32>)
  return
}

// -----

// A softmax's row max over a long row (a vocabulary): a block per row,
// lanes over the row from -inf, shuffles, then the 8 warps' maxima through
// shared memory.
// CHECK-LABEL: func.func @rowmax_long
// CHECK-DAG: %[[C3:.+]] = arith.constant 3 : index
// CHECK: gpu.launch blocks(%{{.+}}, %{{.+}}, %{{.+}}) in (%{{.+}} = %[[C3]], {{.*}} workgroup(%[[SMEM:.+]] : memref<8xf32, #gpu.address_space<workgroup>>)
// CHECK-NOT: scf.if
// CHECK: %[[NINF:.+]] = arith.constant 0xFF800000 : f32
// CHECK: scf.for {{.*}} iter_args(%{{.+}} = %[[NINF]]) -> (f32)
// CHECK: arith.maximumf
// CHECK-COUNT-5: gpu.shuffle  xor
// CHECK: memref.store %{{.+}}, %[[SMEM]]
// CHECK: gpu.barrier
// CHECK-COUNT-8: memref.load %[[SMEM]]
func.func @rowmax_long(%x: memref<3x4096xf32>, %y: memref<3xf32>) {
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i)>], iterator_types = ["parallel", "reduction"]} ins(%x : memref<3x4096xf32>) outs(%y : memref<3xf32>) {
  ^bb0(%a: f32, %b: f32):
    %m = arith.maximumf %a, %b : f32
    linalg.yield %m : f32
  }
  return
}

// -----

// An RMSNorm's sum of squares of f16 rows with the square fused in: a warp
// per row (10 rows: 2 blocks of 8 warps, the last warps guarded), the
// square of the f16 input accumulated in f32, rounded to f16 once at the
// end.
// CHECK-LABEL: func.func @sumsq_f16
// CHECK-DAG: %[[C2:.+]] = arith.constant 2 : index
// CHECK: gpu.launch blocks(%{{.+}}, %{{.+}}, %{{.+}}) in (%{{.+}} = %[[C2]],
// CHECK: scf.if
// CHECK: scf.for {{.*}} -> (f32)
// CHECK: arith.mulf %{{.+}}, %{{.+}} : f16
// CHECK: arith.extf
// CHECK: gpu.shuffle  xor
// CHECK: arith.truncf %{{.+}} : f32 to f16
func.func @sumsq_f16(%x: memref<10x576xf16>, %y: memref<10xf16>) {
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i)>], iterator_types = ["parallel", "reduction"]} ins(%x : memref<10x576xf16>) outs(%y : memref<10xf16>) {
  ^bb0(%a: f16, %b: f16):
    %q = arith.mulf %a, %a : f16
    %s = arith.addf %q, %b : f16
    linalg.yield %s : f16
  }
  return
}

// -----

// Near misses of the matvec kernel: 301 f32 columns are not whole 16-byte
// groups (no vector loads of W rows), so the product is a cooperative
// reduction (a warp per column, 301 columns in 38 blocks of 8 warps).
// CHECK-LABEL: func.func @odd_columns
// CHECK-DAG: %[[C38:.+]] = arith.constant 38 : index
// CHECK: gpu.launch blocks(%{{.+}}, %{{.+}}, %{{.+}}) in (%{{.+}} = %[[C38]],
// CHECK-NOT: vector.load
// CHECK: gpu.shuffle  xor
func.func @odd_columns(%x: memref<1x128xf32>, %w: memref<128x301xf32>, %y: memref<1x301xf32>) {
  linalg.matmul ins(%x, %w : memref<1x128xf32>, memref<128x301xf32>) outs(%y : memref<1x301xf32>)
  return
}

// -----

// Near miss of the cooperative reduction: a product (mulf) is not an
// add/max/min combiner, so the row stays in one thread (no shuffles).
// CHECK-LABEL: func.func @row_product
// CHECK: gpu.launch
// CHECK: scf.for {{.*}} iter_args
// CHECK: arith.mulf
// CHECK-NOT: gpu.shuffle
func.func @row_product(%x: memref<4x128xf32>, %y: memref<4xf32>) {
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i)>], iterator_types = ["parallel", "reduction"]} ins(%x : memref<4x128xf32>) outs(%y : memref<4xf32>) {
  ^bb0(%a: f32, %b: f32):
    %m = arith.mulf %a, %b : f32
    linalg.yield %m : f32
  }
  return
}
