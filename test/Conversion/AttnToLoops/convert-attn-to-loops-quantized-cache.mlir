// RUN: attn-opt %s -split-input-file --convert-attn-to-loops | FileCheck %s
// RUN: attn-opt %s -split-input-file --convert-attn-to-loops --convert-attn-to-loops | FileCheck %s --check-prefix=NOATTN
// RUN: attn-opt %s -split-input-file --attn-cpu-pipeline | FileCheck %s --check-prefix=LLVM

// int8 caches: the append divides by scale[b, h], rounds to nearest even,
// clamps to [-127, 127] and stores i8 codes element by element (no
// memref.copy into the cache); the kernel reads i8 chunks, widens them
// (sitofp) and multiplies by the (b, KV head) scale.
// CHECK-LABEL: func.func @decode_int8
// CHECK-SAME: %[[KC:[a-z0-9]+]]: memref<1x2x64x16xi8>, %[[VC:[a-z0-9]+]]: memref<1x2x64x16xi8>, %[[KS:[a-z0-9]+]]: memref<1x2xf32>, %[[VS:[a-z0-9]+]]: memref<1x2xf32>
// CHECK-NOT: memref.copy
// CHECK: %[[S:.+]] = memref.load %[[KS]]
// CHECK: %[[X:.+]] = arith.divf %{{.+}}, %[[S]] : f32
// CHECK: %[[R:.+]] = math.roundeven %[[X]] : f32
// CHECK: %[[LO:.+]] = arith.maxnumf %[[R]], %{{.+}} : f32
// CHECK: %[[HI:.+]] = arith.minnumf %[[LO]], %{{.+}} : f32
// CHECK: %[[Q:.+]] = arith.fptosi %[[HI]] : f32 to i8
// CHECK: memref.store %[[Q]], %[[KC]]
// CHECK: memref.load %[[VS]]
// CHECK: memref.store %{{.+}}, %[[VC]]
// CHECK: scf.parallel
// CHECK: %[[KR:.+]] = vector.transfer_read %[[KC]]{{.+}} : memref<1x2x64x16xi8>, vector<8xi8>
// CHECK: %[[KF:.+]] = arith.sitofp %[[KR]] : vector<8xi8> to vector<8xf32>
// CHECK: %[[KSC:.+]] = memref.load %[[KS]]
// CHECK: %[[KSV:.+]] = vector.broadcast %[[KSC]]
// CHECK: arith.mulf %[[KF]], %[[KSV]] : vector<8xf32>
// CHECK: vector.transfer_read %[[VC]]{{.+}} : memref<1x2x64x16xi8>, vector<8xi8>
// CHECK: memref.load %[[VS]]
// NOATTN-NOT: attn.decode
// LLVM-LABEL: llvm.func @decode_int8
// LLVM-NOT: attn.
func.func @decode_int8(%q: memref<1x4x1x16xf32>, %k: memref<1x2x1x16xf32>, %v: memref<1x2x1x16xf32>, %o: memref<1x4x1x16xf32>, %kc: memref<1x2x64x16xi8>, %vc: memref<1x2x64x16xi8>, %ks: memref<1x2xf32>, %vs: memref<1x2xf32>, %p: index) {
  attn.decode heads(4, 2) scale(0.25) causal ins(%q, %k, %v : memref<1x4x1x16xf32>, memref<1x2x1x16xf32>, memref<1x2x1x16xf32>) position(%p) outs(%o, %kc, %vc : memref<1x4x1x16xf32>, memref<1x2x64x16xi8>, memref<1x2x64x16xi8>) cache_scales(%ks, %vs : memref<1x2xf32>, memref<1x2xf32>)
  return
}

// -----

// fp8 caches, per-row positions and a window: the append encodes E4M3 with
// integer operations (|x| saturated at 448, subnormals below 2^-6, f32
// bits rounded to 3 mantissa bits) and bitcasts the byte; the kernel
// bitcasts the codes to i8 and rebuilds f32 bits (no fp8 arithmetic, which
// LLVM lacks), then scales. The whole CPU pipeline leaves no fp8 type.
// CHECK-LABEL: func.func @decode_fp8
// CHECK: math.absf
// CHECK: arith.minnumf %{{.+}}, %{{.+}} : f32
// CHECK: math.roundeven
// CHECK: arith.bitcast %{{.+}} : f32 to i32
// CHECK: %[[B:.+]] = arith.trunci %{{.+}} : i32 to i8
// CHECK: %[[F8:.+]] = arith.bitcast %[[B]] : i8 to f8E4M3FN
// CHECK: memref.store %[[F8]]
// CHECK: vector.transfer_read {{.+}} : memref<3x1x64x8xf8E4M3FN>, vector<8xf8E4M3FN>
// CHECK: arith.bitcast %{{.+}} : vector<8xf8E4M3FN> to vector<8xi8>
// CHECK: arith.extui %{{.+}} : vector<8xi8> to vector<8xi32>
// CHECK: arith.bitcast %{{.+}} : vector<8xi32> to vector<8xf32>
// LLVM-LABEL: llvm.func @decode_fp8
// LLVM-NOT: f8E4M3FN
// LLVM-NOT: attn.
func.func @decode_fp8(%q: memref<3x4x1x8xf16>, %k: memref<3x1x1x8xf16>, %v: memref<3x1x1x8xf16>, %o: memref<3x4x1x8xf16>, %kc: memref<3x1x64x8xf8E4M3FN>, %vc: memref<3x1x64x8xf8E4M3FN>, %ks: memref<3x1xf32>, %vs: memref<3x1xf32>, %pos: memref<3xi64>) {
  attn.decode heads(4, 1) scale(0.5) causal window(31, 0) ins(%q, %k, %v : memref<3x4x1x8xf16>, memref<3x1x1x8xf16>, memref<3x1x1x8xf16>) positions(%pos : memref<3xi64>) outs(%o, %kc, %vc : memref<3x4x1x8xf16>, memref<3x1x64x8xf8E4M3FN>, memref<3x1x64x8xf8E4M3FN>) cache_scales(%ks, %vs : memref<3x1xf32>, memref<3x1xf32>)
  return
}

// -----

// A float cache narrower than the queries: truncf on append, extf on read,
// no scales.
// CHECK-LABEL: func.func @decode_f16_cache
// CHECK-NOT: memref.copy
// CHECK: arith.truncf %{{.+}} : f32 to f16
// CHECK: memref.store %{{.+}} : memref<1x2x32x8xf16>
// CHECK: vector.transfer_read {{.+}} : memref<1x2x32x8xf16>, vector<8xf16>
// CHECK: arith.extf %{{.+}} : vector<8xf16> to vector<8xf32>
func.func @decode_f16_cache(%q: memref<1x2x1x8xf32>, %k: memref<1x2x1x8xf32>, %v: memref<1x2x1x8xf32>, %o: memref<1x2x1x8xf32>, %kc: memref<1x2x32x8xf16>, %vc: memref<1x2x32x8xf16>, %p: index) {
  attn.decode heads(2, 2) scale(0.5) ins(%q, %k, %v : memref<1x2x1x8xf32>, memref<1x2x1x8xf32>, memref<1x2x1x8xf32>) position(%p) outs(%o, %kc, %vc : memref<1x2x1x8xf32>, memref<1x2x32x8xf16>, memref<1x2x32x8xf16>)
  return
}
