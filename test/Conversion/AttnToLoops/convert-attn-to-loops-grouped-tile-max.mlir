// RUN: attn-opt %s --convert-attn-to-loops=row-lanes=16 | FileCheck %s

// The grouped decode kernel with the rows across the lanes (MQA, G 32):
// the score loop's epilogue stores each block's scores and folds them,
// while they are still in registers, into the tile's maximum per row (a
// tree of compares and selects over the 12 keys of the block and the
// maximum so far, one per row vector); the online softmax then starts from
// that maximum: after the tile max is loaded, the only loop over the keys
// of the tile is the one that makes the probabilities. (Before, a loop of
// its own reloaded the scores for a dependent chain of 36 maxima.)

// CHECK-LABEL: func.func @decode_mqa32_f32(
// CHECK:         %[[SCORES:.+]] = memref.alloca() : memref<36x32xf32>
// CHECK-NEXT:    %[[TMAX:.+]] = memref.alloca() : memref<32xf32>
// Reset per tile, before the score blocks.
// CHECK:         vector.store %[[NEGINF:.+]], %[[TMAX]][%c0{{.*}}] : memref<32xf32>, vector<16xf32>
// CHECK-NEXT:    vector.store %[[NEGINF]], %[[TMAX]][%c16{{.*}}] : memref<32xf32>, vector<16xf32>
// CHECK:         %[[ACC:.+]]:24 = scf.for
// CHECK:         vector.store %[[ACC]]#23, %[[SCORES]]
// CHECK-NEXT:    %[[OFF:.+]] = arith.muli
// CHECK-NEXT:    %[[OLD:.+]] = vector.load %[[TMAX]][%[[OFF]]]
// CHECK-NEXT:    arith.cmpf ogt, %[[ACC]]#0, %[[ACC]]#2 : vector<16xf32>
// CHECK-COUNT-11: arith.cmpf ogt
// CHECK:         vector.store %{{.+}}, %[[TMAX]]
// CHECK:         arith.cmpf ogt, %[[ACC]]#1, %[[ACC]]#3 : vector<16xf32>
// CHECK-COUNT-11: arith.cmpf ogt
// CHECK:         vector.store %{{.+}}, %[[TMAX]]
// The softmax, per row vector: the tile max joins the running max, then
// one loop over the keys (the probabilities).
// CHECK:         scf.for %[[R:.+]] = %c0{{.*}} to %c32{{.*}} step %c16
// CHECK-NEXT:      %[[M:.+]] = vector.load %[[TMAX]][%[[R]]]
// CHECK-NOT:       scf.for
// CHECK:           scf.for {{.+}} to %c36{{.*}} step %c1{{.*}} iter_args({{.+}}) -> (vector<16xf32>) {
// CHECK-NEXT:        vector.load %[[SCORES]]
// CHECK-NEXT:        arith.subf
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
