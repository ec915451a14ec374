// RUN: attn-opt %s --convert-attn-to-loops="row-lanes=16 bf16-dot-products=1" \
// RUN:   | FileCheck %s
// RUN: attn-opt %s --convert-attn-to-loops="row-lanes=16 inline-bf16-widening=1" \
// RUN:   | FileCheck %s --check-prefix=OFF

// MQA, 32 query heads on bf16 caches, with bf16-dot-products: Q^T as bf16
// pairs [64 x 64], the tile's value rows as pairs of keys [18 x 256] and
// the probabilities as pairs [18 x 64] (36-key tiles); the score loop steps
// over the head dimension 2 at a time, one 32-bit word of a key row
// broadcast as a bf16 pair into vdpbf16ps against 2 pair vectors of Q^T;
// the pair tiles are interleaved with shuffles; the value loop runs over
// pairs of keys, a word of the pair tile against the probability pairs.
// Without the option there are no dot products (OFF).

// CHECK-LABEL: func.func @decode_mqa32_bf16(
// CHECK-DAG:     memref.alloca() : memref<64x64xbf16>
// CHECK-DAG:     memref.alloca() : memref<18x256xbf16>
// CHECK-DAG:     memref.alloca() : memref<18x64xbf16>
// CHECK:         arith.truncf %{{.+}} : f32 to bf16
// CHECK:         scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c36 {
// CHECK:           scf.for %{{.+}} = %c0 to %c128 step %c2 iter_args(
// CHECK:             vector.load %{{.+}} : memref<64x64xbf16>, vector<32xbf16>
// CHECK:             vector.load %{{.+}} : memref<1x1x2000x128xbf16>, vector<2xbf16>
// CHECK-NEXT:        vector.bitcast %{{.+}} : vector<2xbf16> to vector<1xi32>
// CHECK-NEXT:        vector.extract
// CHECK-NEXT:        vector.broadcast %{{.+}} : i32 to vector<16xi32>
// CHECK-NEXT:        vector.bitcast %{{.+}} : vector<16xi32> to vector<32xbf16>
// CHECK-NEXT:        llvm.call_intrinsic "llvm.x86.avx512bf16.dpbf16ps.512"(%{{.+}}, %{{.+}}, %{{.+}}) : (vector<16xf32>, vector<32xbf16>, vector<32xbf16>) -> vector<16xf32>
// CHECK:           vector.shuffle %{{.+}}, %{{.+}} [0, 16, 1, 17, {{.+}}] : vector<16xbf16>, vector<16xbf16>
// CHECK:           arith.truncf %{{.+}} : vector<16xf32> to vector<16xbf16>
// CHECK:           scf.for %{{.+}} = %c0 to %{{.+}} step %c1 iter_args(
// CHECK:             vector.load %{{.+}} : memref<18x64xbf16>, vector<32xbf16>
// CHECK:             vector.load %{{.+}} : memref<18x256xbf16>, vector<2xbf16>
// CHECK:             llvm.call_intrinsic "llvm.x86.avx512bf16.dpbf16ps.512"

// OFF-LABEL: func.func @decode_mqa32_bf16(
// OFF-NOT:     dpbf16ps
// OFF-NOT:     xbf16>, vector<32xbf16>
func.func @decode_mqa32_bf16(%q: memref<1x32x1x128xf32>, %k: memref<1x1x1x128xf32>,
                             %v: memref<1x1x1x128xf32>, %pos: index,
                             %o: memref<1x32x1x128xf32>,
                             %kc: memref<1x1x2000x128xbf16>,
                             %vc: memref<1x1x2000x128xbf16>) {
  attn.decode heads(32, 1) scale(0.125)
    ins(%q, %k, %v : memref<1x32x1x128xf32>, memref<1x1x1x128xf32>,
                     memref<1x1x1x128xf32>)
    position(%pos)
    outs(%o, %kc, %vc : memref<1x32x1x128xf32>, memref<1x1x2000x128xbf16>,
                        memref<1x1x2000x128xbf16>)
  return
}

// GQA, 4 query heads per KV head on bf16 caches (the periodic layout, the
// head dimension across the lanes), with bf16-dot-products: the scaled
// queries also stored as bf16 rows [4 x 128] in natural order; the score
// loop steps over the head dimension 32 at a time, one 32-element load of
// each of the block's 4 key rows into vdpbf16ps against each row's 32
// query elements (16 dot products a step, lane i adding elements 2i and
// 2i + 1); after the softmax the probabilities rounded to bf16 and
// shuffled into pairs of keys per row [32 x 4 x 2]; the value loop over
// pairs of keys: two 32-element loads per value block, the even and odd
// pairs made with and/shift/or, vdpbf16ps against each row's probability
// pair, then the FMA loop for an odd count's last key. Without the option
// the loops are FMAs on widened keys and values (OFF).
// CHECK-LABEL: func.func @decode_gqa4_bf16(
// CHECK:         %[[QB:.+]] = memref.alloca() {{.*}}: memref<4x128xbf16>
// CHECK:         memref.store %{{.+}}, %[[QB]][%{{.+}}, %{{.+}}] : memref<4x128xbf16>
// CHECK:         scf.for %[[D:.+]] = %c0 to %c128 step %c32 iter_args(
// CHECK-COUNT-4:   vector.load %[[QB]][%{{.+}}, %[[D]]] : memref<4x128xbf16>, vector<32xbf16>
// CHECK:           vector.load %{{.+}}[%{{.+}}, %{{.+}}, %{{.+}}, %[[D]]] : memref<2x2x512x128xbf16>, vector<32xbf16>
// CHECK-COUNT-4:   llvm.call_intrinsic "llvm.x86.avx512bf16.dpbf16ps.512"
// CHECK:           vector.load %{{.+}}[%{{.+}}, %{{.+}}, %{{.+}}, %[[D]]] : memref<2x2x512x128xbf16>, vector<32xbf16>
// CHECK:         %[[PP:.+]] = arith.truncf %{{.+}} : vector<16xf32> to vector<16xbf16>
// CHECK-NEXT:    vector.shuffle %[[PP]], %[[PP]] [0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15]
// CHECK:         scf.for %{{.+}} = %c0 to %{{.+}} step %c1 iter_args(
// CHECK:           vector.load %{{.+}} : memref<128xbf16>, vector<2xbf16>
// CHECK:           vector.transfer_read %{{.+}} {in_bounds = [true]} : memref<2x2x512x128xbf16>, vector<32xbf16>
// CHECK:           vector.transfer_read %{{.+}} {in_bounds = [true]} : memref<2x2x512x128xbf16>, vector<32xbf16>
// CHECK:           arith.andi
// CHECK:           arith.shli
// CHECK:           arith.ori
// CHECK:           llvm.call_intrinsic "llvm.x86.avx512bf16.dpbf16ps.512"
// CHECK:         scf.for
// CHECK:           vector.fma
// OFF-LABEL: func.func @decode_gqa4_bf16(
// OFF-NOT:     dpbf16ps
// OFF-NOT:     memref<4x128xbf16>
func.func @decode_gqa4_bf16(%q: memref<2x8x1x128xf32>, %k: memref<2x2x1x128xf32>,
                            %v: memref<2x2x1x128xf32>, %pos: index,
                            %o: memref<2x8x1x128xf32>,
                            %kc: memref<2x2x512x128xbf16>,
                            %vc: memref<2x2x512x128xbf16>) {
  attn.decode heads(8, 2) scale(0.088388)
    ins(%q, %k, %v : memref<2x8x1x128xf32>, memref<2x2x1x128xf32>,
                     memref<2x2x1x128xf32>)
    position(%pos)
    outs(%o, %kc, %vc : memref<2x8x1x128xf32>, memref<2x2x512x128xbf16>,
                        memref<2x2x512x128xbf16>)
  return
}
