// RUN: attn-opt %s -split-input-file -convert-contraction-to-vectors=vector-lanes=16 | FileCheck %s
// RUN: attn-opt %s -split-input-file -convert-contraction-to-vectors=vector-lanes=8 | FileCheck %s --check-prefix=LANES8
// RUN: not attn-opt %s -split-input-file -convert-contraction-to-vectors=vector-lanes=5 2>&1 | FileCheck %s --check-prefix=BAD-LANES

// A decode-step projection [1, 1, K] x [K, N]: an scf.parallel over
// (batch, m, tiles of columns); N = 1000 is 63 vectors of 16, so a tile is 9
// vectors (the largest divisor of 63 up to 16 that leaves at least 4 work
// items: 7 tiles of 144 columns, the last one masked). Each tile carries
// nine vectors of 16 through a loop over the 256 weight rows: it prefetches
// the row 8 ahead (clamped to the last row), one prefetch per cache line of
// the tile (clamped to the last column), then FMAs of a splat of x[k].
// CHECK-LABEL: func.func @matvec
// CHECK-SAME:    (%[[X:.+]]: memref<1x1x256xf32>, %[[W:.+]]: memref<256x1000xf32>, %[[O:.+]]: memref<1x1x1000xf32>)
// CHECK:         scf.parallel (%[[B:.+]], %[[M:.+]], %[[T:.+]]) = (%c0, %c0, %c0) to (%c1, %c1, %c7) step
// CHECK:           %[[N0:.+]] = arith.muli %[[T]], %c144
// CHECK:           vector.transfer_read %[[O]][%[[B]], %[[M]], %[[N0]]], %{{.+}} : memref<1x1x1000xf32>, vector<16xf32>
// CHECK:           %[[COL0:.+]] = arith.minsi %[[N0]], %c999
// CHECK:           scf.for %[[K:.+]] = %c0 to %c256 step %c1 iter_args(
// CHECK:             %[[AHEAD:.+]] = arith.addi %[[K]], %c8
// CHECK:             %[[ROW:.+]] = arith.minsi %[[AHEAD]], %c255
// CHECK:             memref.prefetch %[[W]][%[[ROW]], %[[COL0]]], read, locality<3>, data
// CHECK-COUNT-8:     memref.prefetch %[[W]][%[[ROW]],
// CHECK:             %[[A:.+]] = memref.load %[[X]][%[[B]], %[[M]], %[[K]]]
// CHECK:             %[[S:.+]] = vector.broadcast %[[A]] : f32 to vector<16xf32>
// CHECK:             %[[R:.+]] = vector.transfer_read %[[W]][%[[K]], %[[N0]]]
// CHECK:             vector.fma %[[S]], %[[R]], %{{.+}} : vector<16xf32>
// CHECK-COUNT-8:     vector.fma
// CHECK:             scf.yield
// CHECK-COUNT-9:   vector.transfer_write
// CHECK-NOT:     linalg.generic
// LANES8-LABEL: func.func @matvec
// LANES8:         scf.parallel {{.*}} to (%c1, %c1, %c25)
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

// Near miss: weights stored [N, K] (contiguous along k) with more rows than
// the dot-product form takes (64 > 16; convert-contraction-to-vectors-dot.mlir
// has the form): left alone.
// CHECK-LABEL: func.func @transposed_weights
// CHECK:         linalg.generic
// CHECK-NOT:     vector.fma
func.func @transposed_weights(%x: memref<64x256xf32>, %w: memref<1000x256xf32>, %o: memref<64x1000xf32>) {
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %w : memref<64x256xf32>, memref<1000x256xf32>) outs(%o : memref<64x1000xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %c, %m : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// f16 and bf16 operands are read at their width and widened in registers
// (arith.extf right after each transfer_read), accumulated in f32 and
// rounded once on the store: f32 activations by bf16 weights, and f16
// throughout. Dynamic sizes and tensors are left alone.
// CHECK-LABEL: func.func @bf16_weights
// CHECK:         scf.for
// CHECK:           memref.prefetch
// CHECK:           %[[W:.+]] = vector.transfer_read {{.*}} {in_bounds = [true]} : memref<576x1536xbf16>, vector<16xbf16>
// CHECK-NEXT:      %[[WF:.+]] = arith.extf %[[W]] : vector<16xbf16> to vector<16xf32>
// CHECK-NEXT:      vector.fma {{.*}}, %[[WF]], {{.*}} : vector<16xf32>
// CHECK-NOT:     linalg.matmul
// CHECK-LABEL: func.func @f16
// CHECK:           %[[A:.+]] = memref.load {{.*}} : memref<4x64xf16>
// CHECK-NEXT:      %[[AF:.+]] = arith.extf %[[A]] : f16 to f32
// CHECK-NEXT:      vector.broadcast %[[AF]] : f32 to vector<16xf32>
// CHECK:           arith.extf {{.*}} : vector<16xf16> to vector<16xf32>
// CHECK:           vector.fma
// CHECK:         arith.truncf {{.*}} : vector<16xf32> to vector<16xf16>
// CHECK-NOT:     linalg.matmul
// CHECK-LABEL: func.func @dynamic
// CHECK:         linalg.matmul
// CHECK-LABEL: func.func @on_tensors
// CHECK:         linalg.matmul
func.func @bf16_weights(%x: memref<1x576xf32>, %w: memref<576x1536xbf16>, %o: memref<1x1536xf32>) {
  linalg.matmul ins(%x, %w : memref<1x576xf32>, memref<576x1536xbf16>) outs(%o : memref<1x1536xf32>)
  return
}
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

// -----

// Weights stored f16 and widened by an elementwise linalg.generic into an
// f32 buffer that only the contraction reads (an ONNX Cast of a narrow
// initializer): the contraction reads the f16 memref directly, widening in
// registers, and the widening op and its buffer are gone.
// CHECK-LABEL: func.func @widened_weights
// CHECK-SAME:    (%[[X:.+]]: memref<1x64xf32>, %[[W16:.+]]: memref<64x256xf16>, %[[O:.+]]: memref<1x256xf32>)
// CHECK-NOT:     memref.alloc
// CHECK-NOT:     linalg.generic
// CHECK:         scf.parallel
// CHECK:           memref.prefetch %[[W16]]
// CHECK:           vector.transfer_read %[[W16]]{{.*}} : memref<64x256xf16>, vector<16xf16>
// CHECK:           arith.extf {{.*}} : vector<16xf16> to vector<16xf32>
// CHECK-NOT:     memref.dealloc
// CHECK:         return
func.func @widened_weights(%x: memref<1x64xf32>, %w16: memref<64x256xf16>, %o: memref<1x256xf32>) {
  %w = memref.alloc() : memref<64x256xf32>
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]} ins(%w16 : memref<64x256xf16>) outs(%w : memref<64x256xf32>) {
  ^bb0(%a: f16, %b: f32):
    %e = arith.extf %a : f16 to f32
    linalg.yield %e : f32
  }
  linalg.matmul ins(%x, %w : memref<1x64xf32>, memref<64x256xf32>) outs(%o : memref<1x256xf32>)
  memref.dealloc %w : memref<64x256xf32>
  return
}

// -----

// Near miss: the widened buffer has another reader, so the widening stays
// and the contraction reads the f32 buffer.
// CHECK-LABEL: func.func @widened_twice_read
// CHECK:         linalg.generic
// CHECK:         vector.transfer_read {{.*}} : memref<64x256xf32>, vector<16xf32>
// CHECK:         memref.copy
func.func @widened_twice_read(%x: memref<1x64xf32>, %w16: memref<64x256xf16>, %o: memref<1x256xf32>, %c: memref<64x256xf32>) {
  %w = memref.alloc() : memref<64x256xf32>
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]} ins(%w16 : memref<64x256xf16>) outs(%w : memref<64x256xf32>) {
  ^bb0(%a: f16, %b: f32):
    %e = arith.extf %a : f16 to f32
    linalg.yield %e : f32
  }
  linalg.matmul ins(%x, %w : memref<1x64xf32>, memref<64x256xf32>) outs(%o : memref<1x256xf32>)
  memref.copy %w, %c : memref<64x256xf32> to memref<64x256xf32>
  return
}

// -----

// A prefill's projection (2 x 64 = 128 rows, at least 64): a work item
// computes 4 rows (16 lanes; 2 with 8) by up to 6 vectors (4 with 8 lanes),
// so each weight vector read serves the 4 rows. Column tiles are the
// outermost parallel loop (a tile's weight panel stays in cache while the
// row blocks read it); every output element still accumulates its k terms
// in order, as the one-row kernel does.
// CHECK-LABEL: func.func @prefill_rows
// CHECK-SAME:    (%[[X:.+]]: memref<2x64x256xf32>, %[[W:.+]]: memref<256x96xf32>, %[[O:.+]]: memref<2x64x96xf32>)
// CHECK:         scf.parallel (%[[T:.+]], %[[B:.+]], %[[MB:.+]]) = (%c0, %c0, %c0) to (%c1, %c2, %c16) step
// CHECK:           %[[N0:.+]] = arith.muli %[[T]], %c96
// CHECK:           %[[M0:.+]] = arith.muli %[[MB]], %c4
// CHECK:           %[[M1:.+]] = arith.addi %[[M0]], %c1
// CHECK:           %[[M2:.+]] = arith.addi %[[M0]], %c2
// CHECK:           %[[M3:.+]] = arith.addi %[[M0]], %c3
// CHECK:           vector.transfer_read %[[O]][%[[B]], %[[M0]], %[[N0]]]
// CHECK-COUNT-23:  vector.transfer_read %[[O]]
// CHECK:           scf.for %[[K:.+]] = %c0 to %c256 step %c1 iter_args(
// CHECK-COUNT-6:     memref.prefetch %[[W]]
// CHECK:             %[[A0:.+]] = memref.load %[[X]][%[[B]], %[[M0]], %[[K]]]
// CHECK:             %[[S0:.+]] = vector.broadcast %[[A0]]
// CHECK:             %[[A1:.+]] = memref.load %[[X]][%[[B]], %[[M1]], %[[K]]]
// CHECK:             %[[S1:.+]] = vector.broadcast %[[A1]]
// CHECK:             %[[A2:.+]] = memref.load %[[X]][%[[B]], %[[M2]], %[[K]]]
// CHECK:             %[[S2:.+]] = vector.broadcast %[[A2]]
// CHECK:             %[[A3:.+]] = memref.load %[[X]][%[[B]], %[[M3]], %[[K]]]
// CHECK:             %[[S3:.+]] = vector.broadcast %[[A3]]
// CHECK:             %[[R0:.+]] = vector.transfer_read %[[W]][%[[K]], %[[N0]]]
// CHECK-NEXT:        vector.fma %[[S0]], %[[R0]]
// CHECK-NEXT:        vector.fma %[[S1]], %[[R0]]
// CHECK-NEXT:        vector.fma %[[S2]], %[[R0]]
// CHECK-NEXT:        vector.fma %[[S3]], %[[R0]]
// CHECK-COUNT-5:     vector.transfer_read %[[W]]
// CHECK:             scf.yield
// CHECK:           vector.transfer_write %{{.+}}, %[[O]][%[[B]], %[[M0]], %[[N0]]]
// CHECK-COUNT-23:  vector.transfer_write
// LANES8-LABEL: func.func @prefill_rows
// LANES8:         scf.parallel {{.*}} to (%c3, %c2, %c32)
// LANES8-COUNT-8: vector.fma {{.*}} : vector<8xf32>
// LANES8-NOT:     vector.fma
// LANES8:         scf.yield
func.func @prefill_rows(%x: memref<2x64x256xf32>, %w: memref<256x96xf32>, %o: memref<2x64x96xf32>) {
  linalg.generic {indexing_maps = [affine_map<(b, m, n, k) -> (b, m, k)>, affine_map<(b, m, n, k) -> (k, n)>, affine_map<(b, m, n, k) -> (b, m, n)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%x, %w : memref<2x64x256xf32>, memref<256x96xf32>) outs(%o : memref<2x64x96xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %c, %m : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// 67 rows, which no block of 2 to 4 rows divides: one row per work item.
// CHECK-LABEL: func.func @prime_rows
// CHECK:         scf.parallel (%{{.+}}, %{{.+}}) = (%c0, %c0) to (%c67, %c1)
// CHECK:           memref.load
// CHECK-NOT:       memref.load
// CHECK:           scf.yield
func.func @prime_rows(%x: memref<67x64xf32>, %w: memref<64x32xf32>, %o: memref<67x32xf32>) {
  linalg.matmul ins(%x, %w : memref<67x64xf32>, memref<64x32xf32>) outs(%o : memref<67x32xf32>)
  return
}
