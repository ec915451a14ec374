// RUN: attn-opt %s -split-input-file -convert-contraction-to-vectors="vector-lanes=16" -canonicalize | FileCheck %s
// RUN: attn-opt %s -split-input-file -convert-contraction-to-vectors="vector-lanes=8 row-streaming=true" -canonicalize | FileCheck %s --check-prefix=AVX2

// Weights stored [N, K] (k innermost: ONNX Gemm with transB) with one row:
// each output element is a dot product over one weight row. N = 1000 splits
// into 8 chunks of 125 columns (an scf.parallel), each read one column
// (weight row) at a time in memory order: two accumulators over K = 200 in
// steps of 32 (to 192), then a masked vector for the last 8 elements (zero
// padded: both the activations and the weights), the two accumulators
// added and summed (a reassociated reduction) onto the output's value.
// CHECK-LABEL: func.func @matvec_nt
// CHECK-SAME:    (%[[X:.+]]: memref<1x1x200xf32>, %[[W:.+]]: memref<1000x200xf32>, %[[O:.+]]: memref<1x1x1000xf32>)
// CHECK-NOT:     memref.alloc
// CHECK:         scf.parallel (%[[C:.+]]) = (%c0) to (%c8) step (%c1) {
// CHECK:           %[[N0:.+]] = arith.muli %[[C]], %c125
// CHECK:           %[[END:.+]] = arith.addi %[[N0]], %c125
// CHECK:           %[[N1:.+]] = arith.minsi %[[END]], %c1000
// CHECK:           %[[SPAN:.+]] = arith.subi %[[N1]], %[[N0]]
// CHECK:           scf.for %[[J:.+]] = %c0 to %[[SPAN]] step %c1 {
// CHECK:             %[[N:.+]] = arith.addi %[[N0]], %[[J]]
// CHECK:             %[[ACC:.+]]:2 = scf.for %[[K:.+]] = %c0 to %c192 step %c32 iter_args(%[[A0:.+]] = %{{.+}}, %[[A1:.+]] = %{{.+}})
// CHECK:               %[[X0:.+]] = vector.transfer_read %[[X]][%c0, %c0, %[[K]]], %{{.+}} {in_bounds = [true]}
// CHECK:               %[[W0:.+]] = vector.transfer_read %[[W]][%[[N]], %[[K]]], %{{.+}} {in_bounds = [true]}
// CHECK:               %[[F0:.+]] = vector.fma %[[X0]], %[[W0]], %[[A0]] : vector<16xf32>
// CHECK:               %[[K16:.+]] = arith.addi %[[K]], %c16
// CHECK:               vector.transfer_read %[[X]][%c0, %c0, %[[K16]]]
// CHECK:               vector.transfer_read %[[W]][%[[N]], %[[K16]]]
// CHECK:               %[[F1:.+]] = vector.fma %{{.+}}, %{{.+}}, %[[A1]]
// CHECK:               scf.yield %[[F0]], %[[F1]]
// CHECK:             %[[XT:.+]] = vector.transfer_read %[[X]][%c0, %c0, %c192], %{{.+}} : memref<1x1x200xf32>, vector<16xf32>
// CHECK:             %[[WT:.+]] = vector.transfer_read %[[W]][%[[N]], %c192], %{{.+}} : memref<1000x200xf32>, vector<16xf32>
// CHECK:             %[[T:.+]] = vector.fma %[[XT]], %[[WT]], %[[ACC]]#0
// CHECK:             %[[SUM:.+]] = arith.addf %[[T]], %[[ACC]]#1
// CHECK:             %[[INIT:.+]] = memref.load %[[O]][%c0, %c0, %[[N]]]
// CHECK:             %[[R:.+]] = vector.reduction <add>, %[[SUM]], %[[INIT]] fastmath<reassoc> : vector<16xf32> into f32
// CHECK:             memref.store %[[R]], %[[O]][%c0, %c0, %[[N]]]
// CHECK-NOT:     linalg.generic
// With 8 lanes (and row-streaming set: [N, K] weights take the dot form on
// every target): steps of 16 to 192, then the 8 elements left as one whole
// vector (no mask).
// AVX2-LABEL: func.func @matvec_nt
// AVX2:         scf.for %{{.+}} = %c0 to %c192 step %c16 iter_args
// AVX2:           vector.transfer_read {{.*}} {in_bounds = [true]} : memref<1000x200xf32>, vector<8xf32>
// AVX2:         vector.transfer_read %{{.+}}[%{{.+}}, %c192], %{{.+}} {in_bounds = [true]} : memref<1000x200xf32>, vector<8xf32>
// AVX2:         vector.reduction <add>, {{.*}} fastmath<reassoc> : vector<8xf32> into f32
func.func @matvec_nt(%x: memref<1x1x200xf32>, %w: memref<1000x200xf32>, %o: memref<1x1x1000xf32>) {
  linalg.generic {indexing_maps = [affine_map<(b, m, n, k) -> (b, m, k)>, affine_map<(b, m, n, k) -> (n, k)>, affine_map<(b, m, n, k) -> (b, m, n)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%x, %w : memref<1x1x200xf32>, memref<1000x200xf32>) outs(%o : memref<1x1x1000xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %c, %m : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// Four rows by f16 weights [10, 40] into an f16 output: one chunk (10 < 32
// columns), four columns per step (j, j + 2, j + 4, j + 6 for j < 2: 16
// accumulators), one activation vector per row shared by the four weight
// rows, each weight vector widened once and fed to the four rows; the
// masked tail at 32; each sum rounded once to f16; the two columns past the
// steps (8 and 9) one at a time.
// CHECK-LABEL: func.func @batch4_f16
// CHECK:         scf.for %[[J:.+]] = %c0 to %c2 step %c1 {
// CHECK:           %[[C1:.+]] = arith.addi %[[J]], %c2
// CHECK:           %[[C2:.+]] = arith.addi %[[J]], %c4
// CHECK:           %[[C3:.+]] = arith.addi %[[J]], %c6
// CHECK:           scf.for %{{.+}} = %c0 to %c32 step %c16 iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>) {
// CHECK-COUNT-4:     vector.transfer_read %{{.+}} : memref<4x40xf32>, vector<16xf32>
// CHECK:             vector.transfer_read %{{.+}}[%[[J]], %{{.+}}]{{.*}} : memref<10x40xf16>, vector<16xf16>
// CHECK-NEXT:        arith.extf {{.*}} : vector<16xf16> to vector<16xf32>
// CHECK-COUNT-4:     vector.fma
// CHECK:             vector.transfer_read %{{.+}}[%[[C1]], %{{.+}}]
// CHECK:             vector.transfer_read %{{.+}}[%[[C2]], %{{.+}}]
// CHECK:             vector.transfer_read %{{.+}}[%[[C3]], %{{.+}}]
// CHECK:           vector.transfer_read %{{.+}}[%[[J]], %c32], %{{.+}} : memref<10x40xf16>, vector<16xf16>
// CHECK-COUNT-16:  vector.reduction <add>
// CHECK:           arith.truncf {{.*}} : f32 to f16
// CHECK:         scf.for %{{.+}} = %c8 to %c10 step %c1 {
// CHECK-COUNT-4:   vector.reduction <add>
// CHECK-NOT:     linalg.matmul
func.func @batch4_f16(%x: memref<4x40xf32>, %w: memref<10x40xf16>, %o: memref<4x10xf16>) {
  linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
    ins(%x, %w : memref<4x40xf32>, memref<10x40xf16>) outs(%o : memref<4x10xf16>)
  return
}

// -----

// [N, K] weights stored bf16 and widened by an elementwise op into a buffer
// only the contraction reads: the kernel reads the bf16 memref and the
// widening and its buffer are gone.
// CHECK-LABEL: func.func @widened_weights
// CHECK-SAME:    (%[[X:.+]]: memref<1x64xf32>, %[[W16:.+]]: memref<256x64xbf16>, %[[O:.+]]: memref<1x256xf32>)
// CHECK-NOT:     linalg.generic
// CHECK-NOT:     memref.alloc
// CHECK:         vector.transfer_read %[[W16]]{{.*}} : memref<256x64xbf16>, vector<16xbf16>
// CHECK:         arith.extf {{.*}} : vector<16xbf16> to vector<16xf32>
// CHECK-NOT:     memref.dealloc
// CHECK:         return
func.func @widened_weights(%x: memref<1x64xf32>, %w16: memref<256x64xbf16>, %o: memref<1x256xf32>) {
  %w = memref.alloc() : memref<256x64xf32>
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]} ins(%w16 : memref<256x64xbf16>) outs(%w : memref<256x64xf32>) {
  ^bb0(%a: bf16, %b: f32):
    %e = arith.extf %a : bf16 to f32
    linalg.yield %e : f32
  }
  linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
    ins(%x, %w : memref<1x64xf32>, memref<256x64xf32>) outs(%o : memref<1x256xf32>)
  memref.dealloc %w : memref<256x64xf32>
  return
}

// -----

// Near misses, left to convert-linalg-to-loops: 17 rows (more than 16), the
// activations read with k outermost ([K, M]: not contiguous along k), and
// weights with a batch loop ([B, N, K]: not one weight matrix).
// CHECK-LABEL: func.func @many_rows
// CHECK:         linalg.matmul
// CHECK-LABEL: func.func @lhs_k_outer
// CHECK:         linalg.generic
// CHECK-LABEL: func.func @batched_weights
// CHECK:         linalg.batch_matmul
func.func @many_rows(%x: memref<17x64xf32>, %w: memref<256x64xf32>, %o: memref<17x256xf32>) {
  linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
    ins(%x, %w : memref<17x64xf32>, memref<256x64xf32>) outs(%o : memref<17x256xf32>)
  return
}
func.func @lhs_k_outer(%x: memref<64x2xf32>, %w: memref<256x64xf32>, %o: memref<2x256xf32>) {
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (k, m)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %w : memref<64x2xf32>, memref<256x64xf32>) outs(%o : memref<2x256xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %c, %m : f32
    linalg.yield %s : f32
  }
  return
}
func.func @batched_weights(%x: memref<2x1x64xf32>, %w: memref<2x256x64xf32>, %o: memref<2x1x256xf32>) {
  linalg.batch_matmul indexing_maps = [affine_map<(b, m, n, k) -> (b, m, k)>, affine_map<(b, m, n, k) -> (b, n, k)>, affine_map<(b, m, n, k) -> (b, m, n)>]
    ins(%x, %w : memref<2x1x64xf32>, memref<2x256x64xf32>) outs(%o : memref<2x1x256xf32>)
  return
}
