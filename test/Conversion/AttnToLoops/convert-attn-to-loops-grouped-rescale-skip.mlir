// RUN: attn-opt %s --convert-attn-to-loops=row-lanes=16 | FileCheck %s

// The grouped decode kernel with the rows across the lanes (MQA, G 32):
// after the online softmax, the value loops run in one of two copies, chosen
// per tile by whether any row's alpha differs from 1 (its maximum grew):
// the first multiplies the accumulators loaded per value block by alpha,
// the second loads them and goes straight to the key loop (alpha is exactly
// 1 there, so the results are the same to the bit).

// CHECK-LABEL: func.func @decode_mqa32_f32(
// Q^T, Acc^T, the scores, tile max, running max and sum, alpha.
// CHECK:         memref.alloca() : memref<128x32xf32>
// CHECK-NEXT:    %[[ACC:.+]] = memref.alloca() : memref<128x32xf32>
// CHECK-NEXT:    memref.alloca() : memref<36x32xf32>
// CHECK-COUNT-3: memref.alloca() : memref<32xf32>
// CHECK-NEXT:    %[[ALPHA:.+]] = memref.alloca() : memref<32xf32>
// The flag, after the softmax stored alpha.
// CHECK:         %[[A0:.+]] = vector.load %[[ALPHA]][%c0{{.*}}] : memref<32xf32>, vector<16xf32>
// CHECK-NEXT:    %[[N0:.+]] = arith.cmpf une, %[[A0]], %[[ONE:.+]] : vector<16xf32>
// CHECK-NEXT:    %[[A1:.+]] = vector.load %[[ALPHA]][%c16{{.*}}] : memref<32xf32>, vector<16xf32>
// CHECK-NEXT:    %[[N1:.+]] = arith.cmpf une, %[[A1]], %[[ONE]] : vector<16xf32>
// CHECK-NEXT:    %[[ANY:.+]] = arith.ori %[[N0]], %[[N1]] : vector<16xi1>
// CHECK-NEXT:    %[[FLAG:.+]] = vector.reduction <or>, %[[ANY]] : vector<16xi1> into i1
// CHECK-NEXT:    scf.if %[[FLAG]] {
// With the rescale: alpha loaded, each accumulator multiplied.
// CHECK:           %[[S0:.+]] = vector.load %[[ALPHA]]
// CHECK-NEXT:      %[[S1:.+]] = vector.load %[[ALPHA]]
// CHECK-NEXT:      %[[V0:.+]] = vector.load %[[ACC]]
// CHECK-NEXT:      arith.mulf %[[V0]], %[[S0]] : vector<16xf32>
// CHECK-NEXT:      %[[V1:.+]] = vector.load %[[ACC]]
// CHECK-NEXT:      arith.mulf %[[V1]], %[[S1]] : vector<16xf32>
// CHECK:           vector.fma
// CHECK:         } else {
// Without: the accumulators go into the key loop as loaded.
// CHECK-NOT:       memref<32xf32>
// CHECK-NOT:       arith.mulf {{.+}} : vector<16xf32>
// CHECK:           %[[W:.+]] = vector.load %[[ACC]]
// CHECK-COUNT-23:  vector.load %[[ACC]]
// CHECK-NOT:       arith.mulf {{.+}} : vector<16xf32>
// CHECK:           scf.for {{.+}} iter_args(%{{.+}} = %[[W]],
// CHECK:           vector.fma
func.func @decode_mqa32_f32(%q: memref<1x32x1x128xf32>, %k: memref<1x1x1x128xf32>,
                            %v: memref<1x1x1x128xf32>, %pos: index,
                            %o: memref<1x32x1x128xf32>,
                            %kc: memref<1x1x2000x128xf32>,
                            %vc: memref<1x1x2000x128xf32>) {
  attn.decode heads(32, 1) scale(0.125)
    ins(%q, %k, %v : memref<1x32x1x128xf32>, memref<1x1x1x128xf32>,
                     memref<1x1x1x128xf32>)
    position(%pos)
    outs(%o, %kc, %vc : memref<1x32x1x128xf32>, memref<1x1x2000x128xf32>,
                        memref<1x1x2000x128xf32>)
  return
}
