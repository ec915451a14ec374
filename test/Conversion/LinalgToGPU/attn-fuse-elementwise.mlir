// RUN: attn-opt %s --attn-fuse-elementwise | FileCheck %s

// An RMSNorm after a residual add, on tensors: the square goes into the
// sum of squares (which reads each element once); the residual sum has two
// users and stays; the projection keeps its own vector operand (the norm's
// output, broadcast along the columns: fusing it would recompute the norm
// per column) and stays a two-input product for the matvec kernel.
// CHECK-LABEL: func.func @norm_proj
// CHECK: %[[R:.+]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel"]} ins(%arg0, %arg1
// CHECK: arith.addf
// CHECK: %[[SUM:.+]] = linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%[[R]] : tensor<1x64xf32>)
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: %[[N:.+]] = linalg.generic {{.*}} ins(%[[R]], %[[SUM]]
// CHECK: math.rsqrt
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[N]], %arg2 : tensor<1x64xf32>, tensor<64x32xf32>)
// CHECK-NOT: linalg.generic
#id = affine_map<(i, j) -> (i, j)>
#row = affine_map<(i, j) -> (i)>
func.func @norm_proj(%a: tensor<1x64xf32>, %b: tensor<1x64xf32>, %w: tensor<64x32xf32>) -> tensor<1x32xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x64xf32>
  %r = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%a, %b : tensor<1x64xf32>, tensor<1x64xf32>) outs(%e : tensor<1x64xf32>) {
  ^bb0(%x: f32, %y: f32, %o: f32):
    %s = arith.addf %x, %y : f32
    linalg.yield %s : f32
  } -> tensor<1x64xf32>
  %e2 = tensor.empty() : tensor<1x64xf32>
  %sq = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%r : tensor<1x64xf32>) outs(%e2 : tensor<1x64xf32>) {
  ^bb0(%x: f32, %o: f32):
    %m = arith.mulf %x, %x : f32
    linalg.yield %m : f32
  } -> tensor<1x64xf32>
  %e3 = tensor.empty() : tensor<1xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e3 : tensor<1xf32>) -> tensor<1xf32>
  %sum = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]} ins(%sq : tensor<1x64xf32>) outs(%f : tensor<1xf32>) {
  ^bb0(%x: f32, %o: f32):
    %s = arith.addf %x, %o : f32
    linalg.yield %s : f32
  } -> tensor<1xf32>
  %e4 = tensor.empty() : tensor<1x64xf32>
  %n = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]} ins(%r, %sum : tensor<1x64xf32>, tensor<1xf32>) outs(%e4 : tensor<1x64xf32>) {
  ^bb0(%x: f32, %s: f32, %o: f32):
    %q = math.rsqrt %s : f32
    %m = arith.mulf %x, %q : f32
    linalg.yield %m : f32
  } -> tensor<1x64xf32>
  %e5 = tensor.empty() : tensor<1x32xf32>
  %f5 = linalg.fill ins(%zero : f32) outs(%e5 : tensor<1x32xf32>) -> tensor<1x32xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(i, j, k) -> (i, k)>, affine_map<(i, j, k) -> (k, j)>, affine_map<(i, j, k) -> (i, j)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%n, %w : tensor<1x64xf32>, tensor<64x32xf32>) outs(%f5 : tensor<1x32xf32>) {
  ^bb0(%x: f32, %v: f32, %o: f32):
    %m = arith.mulf %x, %v : f32
    %s = arith.addf %o, %m : f32
    linalg.yield %s : f32
  } -> tensor<1x32xf32>
  return %y : tensor<1x32xf32>
}
