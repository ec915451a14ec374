// RUN: attn-opt %s -split-input-file -convert-contraction-to-vectors=vector-lanes=16 | FileCheck %s
// RUN: attn-opt %s -split-input-file -convert-contraction-to-vectors=vector-lanes=8 | FileCheck %s --check-prefix=LANES8
// RUN: not attn-opt %s -split-input-file -convert-contraction-to-vectors=vector-lanes=5 2>&1 | FileCheck %s --check-prefix=BAD-LANES

// A decode-step projection [1, 1, K] x [K, N]: an scf.parallel over
// (batch, m, tiles of 64 columns); each tile carries four vectors of 16
// through a loop over the 256 weight rows, FMAs of a splat of x[k].
// CHECK-LABEL: func.func @matvec
// CHECK-SAME:    (%[[X:.+]]: memref<1x1x256xf32>, %[[W:.+]]: memref<256x1000xf32>, %[[O:.+]]: memref<1x1x1000xf32>)
// CHECK:         scf.parallel (%[[B:.+]], %[[M:.+]], %[[T:.+]]) = (%c0, %c0, %c0) to (%c1, %c1, %c16) step
// CHECK:           %[[N0:.+]] = arith.muli %[[T]], %c64
// CHECK:           vector.transfer_read %[[O]][%[[B]], %[[M]], %[[N0]]], %{{.+}} : memref<1x1x1000xf32>, vector<16xf32>
// CHECK:           scf.for %[[K:.+]] = %c0 to %c256 step %c1 iter_args(
// CHECK:             %[[A:.+]] = memref.load %[[X]][%[[B]], %[[M]], %[[K]]]
// CHECK:             %[[S:.+]] = vector.broadcast %[[A]] : f32 to vector<16xf32>
// CHECK:             %[[R:.+]] = vector.transfer_read %[[W]][%[[K]], %[[N0]]]
// CHECK:             vector.fma %[[S]], %[[R]], %{{.+}} : vector<16xf32>
// CHECK-COUNT-3:     vector.fma
// CHECK:             scf.yield
// CHECK-COUNT-4:   vector.transfer_write
// CHECK-NOT:     linalg.generic
// LANES8-LABEL: func.func @matvec
// LANES8:         scf.parallel {{.*}} to (%c1, %c1, %c32)
// LANES8:         vector.fma {{.*}} : vector<8xf32>
func.func @matvec(%x: memref<1x1x256xf32>, %w: memref<256x1000xf32>, %o: memref<1x1x1000xf32>) {
  linalg.generic {indexing_maps = [affine_map<(b, m, n, k) -> (b, m, k)>, affine_map<(b, m, n, k) -> (k, n)>, affine_map<(b, m, n, k) -> (b, m, n)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%x, %w : memref<1x1x256xf32>, memref<256x1000xf32>) outs(%o : memref<1x1x1000xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %c, %m : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// The named op works the same; a strided (subview) lhs is fine.
// CHECK-LABEL: func.func @named_matmul
// CHECK:         scf.parallel
// CHECK:           vector.fma
// CHECK-NOT:     linalg.matmul
func.func @named_matmul(%x: memref<4x64xf32, strided<[128, 1]>>, %w: memref<64x32xf32>, %o: memref<4x32xf32>) {
  linalg.matmul ins(%x, %w : memref<4x64xf32, strided<[128, 1]>>, memref<64x32xf32>) outs(%o : memref<4x32xf32>)
  return
}

// -----

// Near miss: weights stored [N, K] (contiguous along k): left alone.
// CHECK-LABEL: func.func @transposed_weights
// CHECK:         linalg.generic
// CHECK-NOT:     vector.fma
func.func @transposed_weights(%x: memref<1x256xf32>, %w: memref<1000x256xf32>, %o: memref<1x1000xf32>) {
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %w : memref<1x256xf32>, memref<1000x256xf32>) outs(%o : memref<1x1000xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %c, %m : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// Near misses: f16 operands, dynamic sizes, and tensors are left alone.
// CHECK-LABEL: func.func @f16
// CHECK:         linalg.matmul
// CHECK-LABEL: func.func @dynamic
// CHECK:         linalg.matmul
// CHECK-LABEL: func.func @on_tensors
// CHECK:         linalg.matmul
func.func @f16(%x: memref<4x64xf16>, %w: memref<64x32xf16>, %o: memref<4x32xf16>) {
  linalg.matmul ins(%x, %w : memref<4x64xf16>, memref<64x32xf16>) outs(%o : memref<4x32xf16>)
  return
}
func.func @dynamic(%x: memref<?x64xf32>, %w: memref<64x32xf32>, %o: memref<?x32xf32>) {
  linalg.matmul ins(%x, %w : memref<?x64xf32>, memref<64x32xf32>) outs(%o : memref<?x32xf32>)
  return
}
func.func @on_tensors(%x: tensor<4x64xf32>, %w: tensor<64x32xf32>, %o: tensor<4x32xf32>) -> tensor<4x32xf32> {
  %r = linalg.matmul ins(%x, %w : tensor<4x64xf32>, tensor<64x32xf32>) outs(%o : tensor<4x32xf32>) -> tensor<4x32xf32>
  return %r : tensor<4x32xf32>
}

// BAD-LANES: error: vector-lanes must be 0, 4, 8 or 16, got 5
