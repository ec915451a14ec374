// The cuda target does not lower tree masks or ring caches yet: each is an
// error at the op, not a wrong kernel.
// RUN: attn-opt %s --convert-attn-to-gpu -split-input-file -verify-diagnostics

func.func @tree(%q: memref<2x4x3x8xf32>, %k: memref<2x2x3x8xf32>,
                %v: memref<2x2x3x8xf32>, %pos: memref<2xi32>,
                %tree: memref<3x3xi1>, %o: memref<2x4x3x8xf32>,
                %kc: memref<2x2x16x8xf32>, %vc: memref<2x2x16x8xf32>) {
  // expected-error @below {{the cuda target does not lower a tree_mask or ring attn.decode yet}}
  attn.decode heads(4, 2) scale(0.25) causal
      ins(%q, %k, %v : memref<2x4x3x8xf32>, memref<2x2x3x8xf32>, memref<2x2x3x8xf32>)
      positions(%pos : memref<2xi32>) tree_mask(%tree : memref<3x3xi1>)
      outs(%o, %kc, %vc : memref<2x4x3x8xf32>, memref<2x2x16x8xf32>, memref<2x2x16x8xf32>)
  return
}

// -----

func.func @ring(%q: memref<2x4x1x8xf32>, %k: memref<2x2x1x8xf32>,
                %v: memref<2x2x1x8xf32>, %pos: memref<2xi32>,
                %o: memref<2x4x1x8xf32>,
                %kc: memref<2x2x8x8xf32>, %vc: memref<2x2x8x8xf32>) {
  // expected-error @below {{the cuda target does not lower a tree_mask or ring attn.decode yet}}
  attn.decode heads(4, 2) scale(0.25) causal window(7, 0) ring
      ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x2x1x8xf32>, memref<2x2x1x8xf32>)
      positions(%pos : memref<2xi32>)
      outs(%o, %kc, %vc : memref<2x4x1x8xf32>, memref<2x2x8x8xf32>, memref<2x2x8x8xf32>)
  return
}
