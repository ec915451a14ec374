// RUN: attn-opt %s --convert-attn-to-loops="row-lanes=16 scalef-exp=true" | FileCheck %s --check-prefix=SCALEF
// RUN: attn-opt %s --convert-attn-to-loops=row-lanes=16 | FileCheck %s --check-prefix=ADD

// The online softmax's exp on 16 lanes: with scalef-exp (AVX-512 targets) a
// degree-6 polynomial and vscalefps by n (a float), no integer exponent
// add; without, the degree-7 polynomial and n << 23 added to the bits.

// SCALEF-LABEL: func.func @decode_mqa32_f32(
// SCALEF:         arith.cmpf olt, %{{.+}} : vector<16xf32>
// SCALEF-NEXT:    %[[X:.+]] = arith.select
// SCALEF-NEXT:    %[[Z:.+]] = vector.fma %[[X]], %{{.+}}, %[[MAGIC:.+]] : vector<16xf32>
// SCALEF-NEXT:    %[[N:.+]] = arith.subf %[[Z]], %[[MAGIC]] : vector<16xf32>
// SCALEF-NEXT:    vector.fma %[[N]]
// SCALEF-NEXT:    %[[F:.+]] = vector.fma %[[N]]
// SCALEF-NEXT:    vector.fma %{{.+}}, %[[F]]
// SCALEF-NEXT:    vector.fma %{{.+}}, %[[F]]
// SCALEF-NEXT:    vector.fma %{{.+}}, %[[F]]
// SCALEF-NEXT:    vector.fma %{{.+}}, %[[F]]
// SCALEF-NEXT:    vector.fma %{{.+}}, %[[F]]
// SCALEF-NEXT:    %[[P:.+]] = vector.fma %{{.+}}, %[[F]]
// SCALEF-NEXT:    llvm.call_intrinsic "llvm.x86.avx512.mask.scalef.ps.512"(%[[P]], %[[N]], %[[P]], %{{.+}}, %{{.+}}) : (vector<16xf32>, vector<16xf32>, vector<16xf32>, i16, i32) -> vector<16xf32>
// SCALEF-NOT:     arith.shli {{.+}} : vector<16xi32>

// ADD-LABEL: func.func @decode_mqa32_f32(
// ADD-NOT:     llvm.call_intrinsic
// ADD:         arith.shli %{{.+}} : vector<16xi32>
// ADD-NOT:     llvm.call_intrinsic
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
