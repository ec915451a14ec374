// RUN: attn-opt %s \
// RUN:   --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" \
// RUN:   | FileCheck %s

// The page pools of a paged decode are destinations updated in place, like
// contiguous caches: no copy and no allocation for them, the block table and
// the positions are read where they are.

// CHECK-LABEL: func.func @paged_in_place(
// CHECK-SAME:    %[[POS:[^:]+]]: memref<2xi32>, %[[TABLE:[^:]+]]: memref<2x4xi32>,
// CHECK-SAME:    %[[KP:[^:]+]]: memref<32x2x16x16xf32>, %[[VP:[^:]+]]: memref<32x2x16x16xf32>)
// CHECK-NOT:     memref.copy
// CHECK:         %[[OUT:.+]] = memref.alloc() {{.*}} : memref<2x8x1x16xf32>
// CHECK-NOT:     memref.copy
// CHECK-NOT:     memref.alloc
// CHECK:         attn.decode heads(8, 2)
// CHECK-SAME:      positions(%[[POS]] : memref<2xi32>) block_table(%[[TABLE]] : memref<2x4xi32>)
// CHECK-SAME:      outs(%[[OUT]], %[[KP]], %[[VP]] :
// CHECK-NOT:     memref.copy
// CHECK:         return %[[OUT]], %[[KP]], %[[VP]]
func.func @paged_in_place(
    %q: tensor<2x8x1x16xf32>, %k: tensor<2x2x1x16xf32>,
    %v: tensor<2x2x1x16xf32>, %pos: tensor<2xi32>, %table: tensor<2x4xi32>,
    %kp: tensor<32x2x16x16xf32>, %vp: tensor<32x2x16x16xf32>)
    -> (tensor<2x8x1x16xf32>, tensor<32x2x16x16xf32>, tensor<32x2x16x16xf32>) {
  %init = tensor.empty() : tensor<2x8x1x16xf32>
  %o, %kp2, %vp2 = attn.decode heads(8, 2) scale(0.25) causal
      ins(%q, %k, %v : tensor<2x8x1x16xf32>, tensor<2x2x1x16xf32>,
                       tensor<2x2x1x16xf32>)
      positions(%pos : tensor<2xi32>) block_table(%table : tensor<2x4xi32>)
      outs(%init, %kp, %vp : tensor<2x8x1x16xf32>, tensor<32x2x16x16xf32>,
                             tensor<32x2x16x16xf32>)
      -> tensor<2x8x1x16xf32>, tensor<32x2x16x16xf32>, tensor<32x2x16x16xf32>
  return %o, %kp2, %vp2
      : tensor<2x8x1x16xf32>, tensor<32x2x16x16xf32>, tensor<32x2x16x16xf32>
}
