// RUN: attn-opt %s -split-input-file -attn-raise-attention -canonicalize -cse | FileCheck %s

// Half-precision attention as the ONNX importer writes an f16 graph: every
// elementwise step computed in f32 between extf and truncf, Q K^T and P V
// accumulated in f32 from f16 operands and rounded by casts of their own,
// the causal mask a folded i1 constant with f16's lowest (-65504) as the
// fill, the softmax in f32. The attention replaces the final truncf and
// keeps f16 operands and result.

#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#sc = affine_map<(d0, d1, d2, d3) -> ()>
#mk = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
#red = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, 0)>
#qk_q = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
#qk_k = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d4, d3)>
#qk_o = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>

// CHECK-LABEL: func.func @f16_prompt
// CHECK-SAME: (%[[Q:.+]]: tensor<1x2x4x8xf16>, %[[K:.+]]: tensor<1x2x4x8xf16>, %[[V:.+]]: tensor<1x2x4x8xf16>)
// CHECK: %[[O:.+]] = attn.attention heads(2, 2) scale(2.500000e-01) causal(0)
// CHECK-SAME: ins(%[[Q]], %[[K]], %[[V]] : tensor<1x2x4x8xf16>, tensor<1x2x4x8xf16>, tensor<1x2x4x8xf16>)
// CHECK-SAME: -> tensor<1x2x4x8xf16>
// CHECK-NOT: linalg
// CHECK: return %[[O]]
func.func @f16_prompt(%q: tensor<1x2x4x8xf16>, %k: tensor<1x2x4x8xf16>, %v: tensor<1x2x4x8xf16>) -> tensor<1x2x4x8xf16> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %four = arith.constant dense<4.0> : tensor<f16>
  %fill = arith.constant dense<-6.550400e+04> : tensor<f16>
  %causal = arith.constant dense<[[true, false, false, false], [true, true, false, false], [true, true, true, false], [true, true, true, true]]> : tensor<4x4xi1>
  %et = tensor.empty() : tensor<1x2x8x4xf16>
  %kt = linalg.transpose ins(%k : tensor<1x2x4x8xf16>) outs(%et : tensor<1x2x8x4xf16>) permutation = [0, 1, 3, 2]
  %e32 = tensor.empty() : tensor<1x2x4x4xf32>
  %z32 = linalg.fill ins(%zero : f32) outs(%e32 : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %s32 = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %kt : tensor<1x2x4x8xf16>, tensor<1x2x8x4xf16>) outs(%z32 : tensor<1x2x4x4xf32>) {
  ^bb0(%a: f16, %b: f16, %acc: f32):
    %a32 = arith.extf %a : f16 to f32
    %b32 = arith.extf %b : f16 to f32
    %m = arith.mulf %a32, %b32 : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<1x2x4x4xf32>
  %e16 = tensor.empty() : tensor<1x2x4x4xf16>
  %s16 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s32 : tensor<1x2x4x4xf32>) outs(%e16 : tensor<1x2x4x4xf16>) {
  ^bb0(%in: f32, %out: f16):
    %t = arith.truncf %in : f32 to f16
    linalg.yield %t : f16
  } -> tensor<1x2x4x4xf16>
  %scaled = linalg.generic {indexing_maps = [#id, #sc, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s16, %four : tensor<1x2x4x4xf16>, tensor<f16>) outs(%e16 : tensor<1x2x4x4xf16>) {
  ^bb0(%in: f16, %d: f16, %out: f16):
    %x = arith.extf %in : f16 to f32
    %y = arith.extf %d : f16 to f32
    %r = arith.divf %x, %y : f32
    %t = arith.truncf %r : f32 to f16
    linalg.yield %t : f16
  } -> tensor<1x2x4x4xf16>
  %masked = linalg.generic {indexing_maps = [#mk, #id, #sc, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%causal, %scaled, %fill : tensor<4x4xi1>, tensor<1x2x4x4xf16>, tensor<f16>) outs(%e16 : tensor<1x2x4x4xf16>) {
  ^bb0(%c: i1, %in: f16, %f: f16, %out: f16):
    %r = arith.select %c, %in, %f : f16
    linalg.yield %r : f16
  } -> tensor<1x2x4x4xf16>
  %x32 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%masked : tensor<1x2x4x4xf16>) outs(%e32 : tensor<1x2x4x4xf32>) {
  ^bb0(%in: f16, %out: f32):
    %r = arith.extf %in : f16 to f32
    linalg.yield %r : f32
  } -> tensor<1x2x4x4xf32>
  %er = tensor.empty() : tensor<1x2x4x1xf32>
  %mi = linalg.fill ins(%ninf : f32) outs(%er : tensor<1x2x4x1xf32>) -> tensor<1x2x4x1xf32>
  %max = linalg.generic {indexing_maps = [#id, #red], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%x32 : tensor<1x2x4x4xf32>) outs(%mi : tensor<1x2x4x1xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %r = arith.maximumf %in, %acc : f32
    linalg.yield %r : f32
  } -> tensor<1x2x4x1xf32>
  %exp = linalg.generic {indexing_maps = [#id, #red, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%x32, %max : tensor<1x2x4x4xf32>, tensor<1x2x4x1xf32>) outs(%e32 : tensor<1x2x4x4xf32>) {
  ^bb0(%in: f32, %mx: f32, %out: f32):
    %ninf2 = arith.constant 0xFF800000 : f32
    %zero2 = arith.constant 0.0 : f32
    %isinf = arith.cmpf oeq, %mx, %ninf2 : f32
    %d = arith.subf %in, %mx : f32
    %e = math.exp %d : f32
    %r = arith.select %isinf, %zero2, %e : f32
    linalg.yield %r : f32
  } -> tensor<1x2x4x4xf32>
  %zi = linalg.fill ins(%zero : f32) outs(%er : tensor<1x2x4x1xf32>) -> tensor<1x2x4x1xf32>
  %sum = linalg.generic {indexing_maps = [#id, #red], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%exp : tensor<1x2x4x4xf32>) outs(%zi : tensor<1x2x4x1xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %r = arith.addf %in, %acc : f32
    linalg.yield %r : f32
  } -> tensor<1x2x4x1xf32>
  %p32 = linalg.generic {indexing_maps = [#id, #red, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%exp, %sum : tensor<1x2x4x4xf32>, tensor<1x2x4x1xf32>) outs(%e32 : tensor<1x2x4x4xf32>) {
  ^bb0(%in: f32, %sm: f32, %out: f32):
    %zero2 = arith.constant 0.0 : f32
    %isz = arith.cmpf oeq, %sm, %zero2 : f32
    %d = arith.divf %in, %sm : f32
    %r = arith.select %isz, %zero2, %d : f32
    linalg.yield %r : f32
  } -> tensor<1x2x4x4xf32>
  %p16 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%p32 : tensor<1x2x4x4xf32>) outs(%e16 : tensor<1x2x4x4xf16>) {
  ^bb0(%in: f32, %out: f16):
    %t = arith.truncf %in : f32 to f16
    linalg.yield %t : f16
  } -> tensor<1x2x4x4xf16>
  %eo32 = tensor.empty() : tensor<1x2x4x8xf32>
  %zo = linalg.fill ins(%zero : f32) outs(%eo32 : tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  %o32 = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%p16, %v : tensor<1x2x4x4xf16>, tensor<1x2x4x8xf16>) outs(%zo : tensor<1x2x4x8xf32>) {
  ^bb0(%a: f16, %b: f16, %acc: f32):
    %a32 = arith.extf %a : f16 to f32
    %b32 = arith.extf %b : f16 to f32
    %m = arith.mulf %a32, %b32 : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<1x2x4x8xf32>
  %eo16 = tensor.empty() : tensor<1x2x4x8xf16>
  %o16 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%o32 : tensor<1x2x4x8xf32>) outs(%eo16 : tensor<1x2x4x8xf16>) {
  ^bb0(%in: f32, %out: f16):
    %t = arith.truncf %in : f32 to f16
    linalg.yield %t : f16
  } -> tensor<1x2x4x8xf16>
  return %o16 : tensor<1x2x4x8xf16>
}

// -----

#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#sc = affine_map<(d0, d1, d2, d3) -> ()>
#mk = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
#red = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, 0)>
#qk_q = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
#qk_k = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d4, d3)>
#qk_o = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>

// A promoted step that does more than one thing (here a division and an
// addition between extf and truncf) is not a scale: nothing is raised.
// CHECK-LABEL: func.func @f16_two_ops_in_step
// CHECK-NOT: attn.attention
// CHECK: linalg.generic
func.func @f16_two_ops_in_step(%q: tensor<1x2x4x8xf16>, %k: tensor<1x2x4x8xf16>, %v: tensor<1x2x4x8xf16>) -> tensor<1x2x4x8xf16> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %four = arith.constant dense<4.0> : tensor<f16>
  %fill = arith.constant dense<-6.550400e+04> : tensor<f16>
  %causal = arith.constant dense<[[true, false, false, false], [true, true, false, false], [true, true, true, false], [true, true, true, true]]> : tensor<4x4xi1>
  %et = tensor.empty() : tensor<1x2x8x4xf16>
  %kt = linalg.transpose ins(%k : tensor<1x2x4x8xf16>) outs(%et : tensor<1x2x8x4xf16>) permutation = [0, 1, 3, 2]
  %e32 = tensor.empty() : tensor<1x2x4x4xf32>
  %z32 = linalg.fill ins(%zero : f32) outs(%e32 : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %s32 = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %kt : tensor<1x2x4x8xf16>, tensor<1x2x8x4xf16>) outs(%z32 : tensor<1x2x4x4xf32>) {
  ^bb0(%a: f16, %b: f16, %acc: f32):
    %a32 = arith.extf %a : f16 to f32
    %b32 = arith.extf %b : f16 to f32
    %m = arith.mulf %a32, %b32 : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<1x2x4x4xf32>
  %e16 = tensor.empty() : tensor<1x2x4x4xf16>
  %s16 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s32 : tensor<1x2x4x4xf32>) outs(%e16 : tensor<1x2x4x4xf16>) {
  ^bb0(%in: f32, %out: f16):
    %t = arith.truncf %in : f32 to f16
    linalg.yield %t : f16
  } -> tensor<1x2x4x4xf16>
  %scaled = linalg.generic {indexing_maps = [#id, #sc, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s16, %four : tensor<1x2x4x4xf16>, tensor<f16>) outs(%e16 : tensor<1x2x4x4xf16>) {
  ^bb0(%in: f16, %d: f16, %out: f16):
    %x = arith.extf %in : f16 to f32
    %y = arith.extf %d : f16 to f32
    %r = arith.divf %x, %y : f32
    %r2 = arith.addf %r, %y : f32
    %t = arith.truncf %r2 : f32 to f16
    linalg.yield %t : f16
  } -> tensor<1x2x4x4xf16>
  %masked = linalg.generic {indexing_maps = [#mk, #id, #sc, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%causal, %scaled, %fill : tensor<4x4xi1>, tensor<1x2x4x4xf16>, tensor<f16>) outs(%e16 : tensor<1x2x4x4xf16>) {
  ^bb0(%c: i1, %in: f16, %f: f16, %out: f16):
    %r = arith.select %c, %in, %f : f16
    linalg.yield %r : f16
  } -> tensor<1x2x4x4xf16>
  %x32 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%masked : tensor<1x2x4x4xf16>) outs(%e32 : tensor<1x2x4x4xf32>) {
  ^bb0(%in: f16, %out: f32):
    %r = arith.extf %in : f16 to f32
    linalg.yield %r : f32
  } -> tensor<1x2x4x4xf32>
  %er = tensor.empty() : tensor<1x2x4x1xf32>
  %mi = linalg.fill ins(%ninf : f32) outs(%er : tensor<1x2x4x1xf32>) -> tensor<1x2x4x1xf32>
  %max = linalg.generic {indexing_maps = [#id, #red], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%x32 : tensor<1x2x4x4xf32>) outs(%mi : tensor<1x2x4x1xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %r = arith.maximumf %in, %acc : f32
    linalg.yield %r : f32
  } -> tensor<1x2x4x1xf32>
  %exp = linalg.generic {indexing_maps = [#id, #red, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%x32, %max : tensor<1x2x4x4xf32>, tensor<1x2x4x1xf32>) outs(%e32 : tensor<1x2x4x4xf32>) {
  ^bb0(%in: f32, %mx: f32, %out: f32):
    %ninf2 = arith.constant 0xFF800000 : f32
    %zero2 = arith.constant 0.0 : f32
    %isinf = arith.cmpf oeq, %mx, %ninf2 : f32
    %d = arith.subf %in, %mx : f32
    %e = math.exp %d : f32
    %r = arith.select %isinf, %zero2, %e : f32
    linalg.yield %r : f32
  } -> tensor<1x2x4x4xf32>
  %zi = linalg.fill ins(%zero : f32) outs(%er : tensor<1x2x4x1xf32>) -> tensor<1x2x4x1xf32>
  %sum = linalg.generic {indexing_maps = [#id, #red], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%exp : tensor<1x2x4x4xf32>) outs(%zi : tensor<1x2x4x1xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %r = arith.addf %in, %acc : f32
    linalg.yield %r : f32
  } -> tensor<1x2x4x1xf32>
  %p32 = linalg.generic {indexing_maps = [#id, #red, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%exp, %sum : tensor<1x2x4x4xf32>, tensor<1x2x4x1xf32>) outs(%e32 : tensor<1x2x4x4xf32>) {
  ^bb0(%in: f32, %sm: f32, %out: f32):
    %zero2 = arith.constant 0.0 : f32
    %isz = arith.cmpf oeq, %sm, %zero2 : f32
    %d = arith.divf %in, %sm : f32
    %r = arith.select %isz, %zero2, %d : f32
    linalg.yield %r : f32
  } -> tensor<1x2x4x4xf32>
  %p16 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%p32 : tensor<1x2x4x4xf32>) outs(%e16 : tensor<1x2x4x4xf16>) {
  ^bb0(%in: f32, %out: f16):
    %t = arith.truncf %in : f32 to f16
    linalg.yield %t : f16
  } -> tensor<1x2x4x4xf16>
  %eo32 = tensor.empty() : tensor<1x2x4x8xf32>
  %zo = linalg.fill ins(%zero : f32) outs(%eo32 : tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  %o32 = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%p16, %v : tensor<1x2x4x4xf16>, tensor<1x2x4x8xf16>) outs(%zo : tensor<1x2x4x8xf32>) {
  ^bb0(%a: f16, %b: f16, %acc: f32):
    %a32 = arith.extf %a : f16 to f32
    %b32 = arith.extf %b : f16 to f32
    %m = arith.mulf %a32, %b32 : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<1x2x4x8xf32>
  %eo16 = tensor.empty() : tensor<1x2x4x8xf16>
  %o16 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%o32 : tensor<1x2x4x8xf32>) outs(%eo16 : tensor<1x2x4x8xf16>) {
  ^bb0(%in: f32, %out: f16):
    %t = arith.truncf %in : f32 to f16
    linalg.yield %t : f16
  } -> tensor<1x2x4x8xf16>
  return %o16 : tensor<1x2x4x8xf16>
}

