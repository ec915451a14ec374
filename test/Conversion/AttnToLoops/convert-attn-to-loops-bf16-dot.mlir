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
