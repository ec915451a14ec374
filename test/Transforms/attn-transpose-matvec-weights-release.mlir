// RUN: attn-opt %s -attn-transpose-matvec-weights=release-replaced -canonicalize | FileCheck %s

// release-replaced frees the blob of a replaced constant unless another
// attribute of the module still refers to it: @a's constant is transposed
// (its only use is a projection), @b returns a constant of the same blob,
// which keeps its data. (A freed blob is not printed either way: the
// printer writes only the blobs that the module refers to; what this case
// checks is that a shared blob keeps its bytes.)

// CHECK-LABEL: func.func @a
// CHECK:         %[[WT:.+]] = arith.constant dense<{{\[}}[8.000000e+00, 1.000000e+01], [9.000000e+00, 1.100000e+01]]> : tensor<2x2xf32>
// CHECK:         linalg.generic {{.*}} ins(%{{.+}}, %[[WT]] : tensor<1x2xf32>, tensor<2x2xf32>)
// CHECK-LABEL: func.func @b
// CHECK:         %[[W:.+]] = arith.constant dense_resource<ws> : tensor<2x2xf32>
// CHECK:         return %[[W]]
// CHECK:       dialect_resources
// CHECK:         ws: "0x0400000000000041000010410000204100003041"
func.func @a(%x: tensor<1x2xf32>) -> tensor<1x2xf32> {
  %w = arith.constant dense_resource<ws> : tensor<2x2xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2xf32>) -> tensor<1x2xf32>
  %y = linalg.matmul ins(%x, %w : tensor<1x2xf32>, tensor<2x2xf32>) outs(%f : tensor<1x2xf32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}
func.func @b() -> tensor<2x2xf32> {
  %w = arith.constant dense_resource<ws> : tensor<2x2xf32>
  return %w : tensor<2x2xf32>
}

{-#
  dialect_resources: {
    builtin: {
      ws: "0x0400000000000041000010410000204100003041"
    }
  }
#-}
