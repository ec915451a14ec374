// RUN: attn-opt %s -split-input-file -attn-share-kv="kv-heads=2 method=exact" -verify-diagnostics | FileCheck %s

// method=exact merges only heads it can prove identical.

// Exact sharing cannot know the heads of function arguments.
func.func @exact_function_arguments(%q: tensor<1x4x4x16xf32>, %k: tensor<1x4x6x16xf32>, %v: tensor<1x4x6x16xf32>) -> tensor<1x4x4x16xf32> {
  %o = tensor.empty() : tensor<1x4x4x16xf32>
  // expected-error @+1 {{exact KV sharing impossible: the key heads of a group are not provably identical (use method=mean)}}
  %r = attn.attention heads(4, 4) scale(0.25) ins(%q, %k, %v : tensor<1x4x4x16xf32>, tensor<1x4x6x16xf32>, tensor<1x4x6x16xf32>) outs(%o : tensor<1x4x4x16xf32>) -> tensor<1x4x4x16xf32>
  return %r : tensor<1x4x4x16xf32>
}

// -----

// K = V = X W with W's columns of heads 0/1 and 2/3 equal: the projection
// already shares heads, so exact sharing is lossless and accepted.
// CHECK-LABEL: func.func @exact_identical_projection
// CHECK: attn.attention heads(4, 2)
// CHECK-SAME: attn.kv_heads_before = 4
func.func @exact_identical_projection(%x: tensor<6x3xf32>, %q: tensor<1x4x6x2xf32>) -> tensor<1x4x6x2xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[1.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 4.0], [0.5, 0.0, 0.5, 0.0, -1.0, 2.0, -1.0, 2.0], [0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0]]> : tensor<3x8xf32>
  %e = tensor.empty() : tensor<6x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<6x8xf32>) -> tensor<6x8xf32>
  %kv = linalg.matmul ins(%x, %w : tensor<6x3xf32>, tensor<3x8xf32>) outs(%f : tensor<6x8xf32>) -> tensor<6x8xf32>
  %kv4 = tensor.expand_shape %kv [[0, 1], [2, 3]] output_shape [1, 6, 4, 2] : tensor<6x8xf32> into tensor<1x6x4x2xf32>
  %et = tensor.empty() : tensor<1x4x6x2xf32>
  %k = linalg.transpose ins(%kv4 : tensor<1x6x4x2xf32>) outs(%et : tensor<1x4x6x2xf32>) permutation = [0, 2, 1, 3]
  %o = tensor.empty() : tensor<1x4x6x2xf32>
  
  %r = attn.attention heads(4, 4) scale(0.5) ins(%q, %k, %k : tensor<1x4x6x2xf32>, tensor<1x4x6x2xf32>, tensor<1x4x6x2xf32>) outs(%o : tensor<1x4x6x2xf32>) -> tensor<1x4x6x2xf32>
  return %r : tensor<1x4x6x2xf32>
}

// -----

// Near miss: one weight of head 3 differs from head 2, so exact sharing
// would lose information and is refused.
func.func @exact_refused_when_heads_differ(%x: tensor<6x3xf32>, %q: tensor<1x4x6x2xf32>) -> tensor<1x4x6x2xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[1.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 4.0], [0.5, 0.0, 0.5, 0.0, -1.0, 2.0, -1.0, 2.5], [0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0]]> : tensor<3x8xf32>
  %e = tensor.empty() : tensor<6x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<6x8xf32>) -> tensor<6x8xf32>
  %kv = linalg.matmul ins(%x, %w : tensor<6x3xf32>, tensor<3x8xf32>) outs(%f : tensor<6x8xf32>) -> tensor<6x8xf32>
  %kv4 = tensor.expand_shape %kv [[0, 1], [2, 3]] output_shape [1, 6, 4, 2] : tensor<6x8xf32> into tensor<1x6x4x2xf32>
  %et = tensor.empty() : tensor<1x4x6x2xf32>
  %k = linalg.transpose ins(%kv4 : tensor<1x6x4x2xf32>) outs(%et : tensor<1x4x6x2xf32>) permutation = [0, 2, 1, 3]
  %o = tensor.empty() : tensor<1x4x6x2xf32>
  // expected-error @+1 {{exact KV sharing impossible: the key heads of a group are not provably identical (use method=mean)}}
  %r = attn.attention heads(4, 4) scale(0.5) ins(%q, %k, %k : tensor<1x4x6x2xf32>, tensor<1x4x6x2xf32>, tensor<1x4x6x2xf32>) outs(%o : tensor<1x4x6x2xf32>) -> tensor<1x4x6x2xf32>
  return %r : tensor<1x4x6x2xf32>
}

// -----

// The same projection with its weights in a dense_resource blob (as the
// importer keeps weights of 4 KiB or more): identical heads are still proven.
// CHECK-LABEL: func.func @exact_identical_resource_projection
// CHECK: attn.attention heads(4, 2)
func.func @exact_identical_resource_projection(%x: tensor<6x3xf32>, %q: tensor<1x4x6x2xf32>) -> tensor<1x4x6x2xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense_resource<w_same> : tensor<3x8xf32>
  %e = tensor.empty() : tensor<6x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<6x8xf32>) -> tensor<6x8xf32>
  %kv = linalg.matmul ins(%x, %w : tensor<6x3xf32>, tensor<3x8xf32>) outs(%f : tensor<6x8xf32>) -> tensor<6x8xf32>
  %kv4 = tensor.expand_shape %kv [[0, 1], [2, 3]] output_shape [1, 6, 4, 2] : tensor<6x8xf32> into tensor<1x6x4x2xf32>
  %et = tensor.empty() : tensor<1x4x6x2xf32>
  %k = linalg.transpose ins(%kv4 : tensor<1x6x4x2xf32>) outs(%et : tensor<1x4x6x2xf32>) permutation = [0, 2, 1, 3]
  %o = tensor.empty() : tensor<1x4x6x2xf32>
  %r = attn.attention heads(4, 4) scale(0.5) ins(%q, %k, %k : tensor<1x4x6x2xf32>, tensor<1x4x6x2xf32>, tensor<1x4x6x2xf32>) outs(%o : tensor<1x4x6x2xf32>) -> tensor<1x4x6x2xf32>
  return %r : tensor<1x4x6x2xf32>
}

{-#
  dialect_resources: {
    builtin: {
      w_same: "0x040000000000803F000000400000803F00000040000040400000804000004040000080400000003F000000000000003F00000000000080BF00000040000080BF00000040000000000000803F000000000000803F0000803F0000803F0000803F0000803F"
    }
  }
#-}

// -----

// Near miss in a dense_resource blob: one byte pattern of head 3 differs.
func.func @exact_refused_resource_heads_differ(%x: tensor<6x3xf32>, %q: tensor<1x4x6x2xf32>) -> tensor<1x4x6x2xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense_resource<w_differ> : tensor<3x8xf32>
  %e = tensor.empty() : tensor<6x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<6x8xf32>) -> tensor<6x8xf32>
  %kv = linalg.matmul ins(%x, %w : tensor<6x3xf32>, tensor<3x8xf32>) outs(%f : tensor<6x8xf32>) -> tensor<6x8xf32>
  %kv4 = tensor.expand_shape %kv [[0, 1], [2, 3]] output_shape [1, 6, 4, 2] : tensor<6x8xf32> into tensor<1x6x4x2xf32>
  %et = tensor.empty() : tensor<1x4x6x2xf32>
  %k = linalg.transpose ins(%kv4 : tensor<1x6x4x2xf32>) outs(%et : tensor<1x4x6x2xf32>) permutation = [0, 2, 1, 3]
  %o = tensor.empty() : tensor<1x4x6x2xf32>
  // expected-error @+1 {{exact KV sharing impossible: the key heads of a group are not provably identical (use method=mean)}}
  %r = attn.attention heads(4, 4) scale(0.5) ins(%q, %k, %k : tensor<1x4x6x2xf32>, tensor<1x4x6x2xf32>, tensor<1x4x6x2xf32>) outs(%o : tensor<1x4x6x2xf32>) -> tensor<1x4x6x2xf32>
  return %r : tensor<1x4x6x2xf32>
}

{-#
  dialect_resources: {
    builtin: {
      w_differ: "0x040000000000803F000000400000803F00000040000040400000804000004040000080400000003F000000000000003F00000000000080BF00000040000080BF00002040000000000000803F000000000000803F0000803F0000803F0000803F0000803F"
    }
  }
#-}
