// RUN: attn-opt %s -split-input-file -attn-outline-repeats=min-ops=2 | FileCheck %s
// RUN: attn-opt %s -split-input-file -attn-outline-repeats | FileCheck %s --check-prefix=SHORT
// RUN: attn-opt %s -split-input-file -attn-outline-repeats="anchor-ops=linalg.add min-ops=2" | FileCheck %s --check-prefix=ANCHOR

// SHORT-NOT: call @
// ANCHOR: call @three_layers_repeat0(

// Three layers that differ only in their (non-splat) weight: one function,
// three calls in order, each passing its layer's weight, the previous
// layer's output and its own caches; the shared tensor.empty is recomputed
// inside, and the updated caches are returned.
// CHECK-LABEL: func.func @three_layers(
// CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<1x2x1x4xf32>, %[[POS:[a-z0-9]+]]: index,
// CHECK-SAME: %[[K0:[a-z0-9]+]]: tensor<1x1x8x4xf32> {bufferization.writable = true}, %[[V0:[a-z0-9]+]]: tensor<1x1x8x4xf32> {bufferization.writable = true}
// CHECK-SAME: %[[K1:[a-z0-9]+]]: tensor<1x1x8x4xf32> {bufferization.writable = true}, %[[V1:[a-z0-9]+]]: tensor<1x1x8x4xf32> {bufferization.writable = true}
// CHECK-SAME: %[[K2:[a-z0-9]+]]: tensor<1x1x8x4xf32> {bufferization.writable = true}, %[[V2:[a-z0-9]+]]: tensor<1x1x8x4xf32> {bufferization.writable = true}
// CHECK-DAG: %[[W0:.+]] = arith.constant dense<{{\[\[\[\[}}1.0
// CHECK-DAG: %[[W1:.+]] = arith.constant dense<{{\[\[\[\[}}1.1
// CHECK-DAG: %[[W2:.+]] = arith.constant dense<{{\[\[\[\[}}2.1
// CHECK-NOT: linalg.add
// CHECK-NOT: attn.decode
// CHECK: %[[L0:.+]]:3 = call @three_layers_repeat0(%[[X]], %[[W0]], %[[POS]], %[[K0]], %[[V0]]) {no_inline}
// CHECK: %[[L1:.+]]:3 = call @three_layers_repeat0(%[[L0]]#0, %[[W1]], %[[POS]], %[[K1]], %[[V1]]) {no_inline}
// CHECK: %[[L2:.+]]:3 = call @three_layers_repeat0(%[[L1]]#0, %[[W2]], %[[POS]], %[[K2]], %[[V2]]) {no_inline}
// CHECK: return %[[L2]]#0, %[[L0]]#1, %[[L0]]#2, %[[L1]]#1, %[[L1]]#2, %[[L2]]#1, %[[L2]]#2
// CHECK-LABEL: func.func private @three_layers_repeat0(
// CHECK-SAME: %[[A:[a-z0-9]+]]: tensor<1x2x1x4xf32>, %[[W:[a-z0-9]+]]: tensor<1x2x1x4xf32>, %[[P:[a-z0-9]+]]: index,
// CHECK-SAME: %[[KC:[a-z0-9]+]]: tensor<1x1x8x4xf32>, %[[VC:[a-z0-9]+]]: tensor<1x1x8x4xf32>)
// CHECK-SAME: -> (tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>)
// CHECK-SAME: attributes {attn.outlined, no_inline, passthrough = ["noinline"]}
// CHECK: %[[E:.+]] = tensor.empty() : tensor<1x2x1x4xf32>
// CHECK: %[[Q:.+]] = linalg.add ins(%[[A]], %[[W]] : {{.*}}) outs(%[[E]] :
// CHECK: %[[N:.+]] = tensor.extract_slice %[[Q]]
// CHECK: %[[D:.+]]:3 = attn.decode heads(2, 1) scale(5.000000e-01) causal ins(%[[Q]], %[[N]], %[[N]] : {{.*}}) position(%[[P]]) outs(%[[E]], %[[KC]], %[[VC]] :
// CHECK: return %[[D]]#0, %[[D]]#1, %[[D]]#2
func.func @three_layers(%x: tensor<1x2x1x4xf32>, %pos: index, %k0: tensor<1x1x8x4xf32> {bufferization.writable = true}, %v0: tensor<1x1x8x4xf32> {bufferization.writable = true}, %k1: tensor<1x1x8x4xf32> {bufferization.writable = true}, %v1: tensor<1x1x8x4xf32> {bufferization.writable = true}, %k2: tensor<1x1x8x4xf32> {bufferization.writable = true}, %v2: tensor<1x1x8x4xf32> {bufferization.writable = true})
    -> (tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) {
  %e = tensor.empty() : tensor<1x2x1x4xf32>
  %w0 = arith.constant dense<[[[[1.0, 2.0, 3.0, 4.0]], [[5.0, 6.0, 7.0, 8.0]]]]> : tensor<1x2x1x4xf32>
  %w1 = arith.constant dense<[[[[11.0, 12.0, 13.0, 14.0]], [[15.0, 16.0, 17.0, 18.0]]]]> : tensor<1x2x1x4xf32>
  %w2 = arith.constant dense<[[[[21.0, 22.0, 23.0, 24.0]], [[25.0, 26.0, 27.0, 28.0]]]]> : tensor<1x2x1x4xf32>
  %q0 = linalg.add ins(%x, %w0 : tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>) outs(%e : tensor<1x2x1x4xf32>) -> tensor<1x2x1x4xf32>
  %n0 = tensor.extract_slice %q0[0, 0, 0, 0] [1, 1, 1, 4] [1, 1, 1, 1] : tensor<1x2x1x4xf32> to tensor<1x1x1x4xf32>
  %o0, %k0c, %v0c = attn.decode heads(2, 1) scale(0.5) causal
      ins(%q0, %n0, %n0 : tensor<1x2x1x4xf32>, tensor<1x1x1x4xf32>, tensor<1x1x1x4xf32>) position(%pos)
      outs(%e, %k0, %v0 : tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) -> tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>
  %q1 = linalg.add ins(%o0, %w1 : tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>) outs(%e : tensor<1x2x1x4xf32>) -> tensor<1x2x1x4xf32>
  %n1 = tensor.extract_slice %q1[0, 0, 0, 0] [1, 1, 1, 4] [1, 1, 1, 1] : tensor<1x2x1x4xf32> to tensor<1x1x1x4xf32>
  %o1, %k1c, %v1c = attn.decode heads(2, 1) scale(0.5) causal
      ins(%q1, %n1, %n1 : tensor<1x2x1x4xf32>, tensor<1x1x1x4xf32>, tensor<1x1x1x4xf32>) position(%pos)
      outs(%e, %k1, %v1 : tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) -> tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>
  %q2 = linalg.add ins(%o1, %w2 : tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>) outs(%e : tensor<1x2x1x4xf32>) -> tensor<1x2x1x4xf32>
  %n2 = tensor.extract_slice %q2[0, 0, 0, 0] [1, 1, 1, 4] [1, 1, 1, 1] : tensor<1x2x1x4xf32> to tensor<1x1x1x4xf32>
  %o2, %k2c, %v2c = attn.decode heads(2, 1) scale(0.5) causal
      ins(%q2, %n2, %n2 : tensor<1x2x1x4xf32>, tensor<1x1x1x4xf32>, tensor<1x1x1x4xf32>) position(%pos)
      outs(%e, %k2, %v2 : tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) -> tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>
  return %o2, %k0c, %v0c, %k1c, %v1c, %k2c, %v2c : tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>
}

// -----

// Two kinds of layer, alternating (attention scale 0.5, 0.25, 0.5, 0.25):
// two functions, each called twice, every call reading the previous call's
// output (the outputs of one group are live-ins of the other).
// CHECK-LABEL: func.func @alternating(
// CHECK: %[[A0:.+]]:3 = call @alternating_repeat0(%{{[a-z0-9]+}}, %{{[a-z0-9_]+}}, %{{[a-z0-9]+}}, %{{[a-z0-9]+}}, %{{[a-z0-9]+}})
// CHECK: %[[B1:.+]]:3 = call @alternating_repeat1(%[[A0]]#0,
// CHECK: %[[A2:.+]]:3 = call @alternating_repeat0(%[[B1]]#0,
// CHECK: %[[B3:.+]]:3 = call @alternating_repeat1(%[[A2]]#0,
// CHECK: return %[[B3]]#0, %[[A0]]#1, %[[A0]]#2, %[[B1]]#1, %[[B1]]#2, %[[A2]]#1, %[[A2]]#2, %[[B3]]#1, %[[B3]]#2
// CHECK-LABEL: func.func private @alternating_repeat0(
// CHECK: attn.decode heads(2, 1) scale(5.000000e-01)
// CHECK-LABEL: func.func private @alternating_repeat1(
// CHECK: attn.decode heads(2, 1) scale(2.500000e-01)
func.func @alternating(%x: tensor<1x2x1x4xf32>, %pos: index, %k0: tensor<1x1x8x4xf32> {bufferization.writable = true}, %v0: tensor<1x1x8x4xf32> {bufferization.writable = true}, %k1: tensor<1x1x8x4xf32> {bufferization.writable = true}, %v1: tensor<1x1x8x4xf32> {bufferization.writable = true}, %k2: tensor<1x1x8x4xf32> {bufferization.writable = true}, %v2: tensor<1x1x8x4xf32> {bufferization.writable = true}, %k3: tensor<1x1x8x4xf32> {bufferization.writable = true}, %v3: tensor<1x1x8x4xf32> {bufferization.writable = true})
    -> (tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) {
  %e = tensor.empty() : tensor<1x2x1x4xf32>
  %w0 = arith.constant dense<[[[[1.0, 2.0, 3.0, 4.0]], [[5.0, 6.0, 7.0, 8.0]]]]> : tensor<1x2x1x4xf32>
  %w1 = arith.constant dense<[[[[11.0, 12.0, 13.0, 14.0]], [[15.0, 16.0, 17.0, 18.0]]]]> : tensor<1x2x1x4xf32>
  %w2 = arith.constant dense<[[[[21.0, 22.0, 23.0, 24.0]], [[25.0, 26.0, 27.0, 28.0]]]]> : tensor<1x2x1x4xf32>
  %w3 = arith.constant dense<[[[[31.0, 32.0, 33.0, 34.0]], [[35.0, 36.0, 37.0, 38.0]]]]> : tensor<1x2x1x4xf32>
  %q0 = linalg.add ins(%x, %w0 : tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>) outs(%e : tensor<1x2x1x4xf32>) -> tensor<1x2x1x4xf32>
  %n0 = tensor.extract_slice %q0[0, 0, 0, 0] [1, 1, 1, 4] [1, 1, 1, 1] : tensor<1x2x1x4xf32> to tensor<1x1x1x4xf32>
  %o0, %k0c, %v0c = attn.decode heads(2, 1) scale(0.5) causal
      ins(%q0, %n0, %n0 : tensor<1x2x1x4xf32>, tensor<1x1x1x4xf32>, tensor<1x1x1x4xf32>) position(%pos)
      outs(%e, %k0, %v0 : tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) -> tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>
  %q1 = linalg.add ins(%o0, %w1 : tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>) outs(%e : tensor<1x2x1x4xf32>) -> tensor<1x2x1x4xf32>
  %n1 = tensor.extract_slice %q1[0, 0, 0, 0] [1, 1, 1, 4] [1, 1, 1, 1] : tensor<1x2x1x4xf32> to tensor<1x1x1x4xf32>
  %o1, %k1c, %v1c = attn.decode heads(2, 1) scale(0.25) causal
      ins(%q1, %n1, %n1 : tensor<1x2x1x4xf32>, tensor<1x1x1x4xf32>, tensor<1x1x1x4xf32>) position(%pos)
      outs(%e, %k1, %v1 : tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) -> tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>
  %q2 = linalg.add ins(%o1, %w2 : tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>) outs(%e : tensor<1x2x1x4xf32>) -> tensor<1x2x1x4xf32>
  %n2 = tensor.extract_slice %q2[0, 0, 0, 0] [1, 1, 1, 4] [1, 1, 1, 1] : tensor<1x2x1x4xf32> to tensor<1x1x1x4xf32>
  %o2, %k2c, %v2c = attn.decode heads(2, 1) scale(0.5) causal
      ins(%q2, %n2, %n2 : tensor<1x2x1x4xf32>, tensor<1x1x1x4xf32>, tensor<1x1x1x4xf32>) position(%pos)
      outs(%e, %k2, %v2 : tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) -> tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>
  %q3 = linalg.add ins(%o2, %w3 : tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>) outs(%e : tensor<1x2x1x4xf32>) -> tensor<1x2x1x4xf32>
  %n3 = tensor.extract_slice %q3[0, 0, 0, 0] [1, 1, 1, 4] [1, 1, 1, 1] : tensor<1x2x1x4xf32> to tensor<1x1x1x4xf32>
  %o3, %k3c, %v3c = attn.decode heads(2, 1) scale(0.25) causal
      ins(%q3, %n3, %n3 : tensor<1x2x1x4xf32>, tensor<1x1x1x4xf32>, tensor<1x1x1x4xf32>) position(%pos)
      outs(%e, %k3, %v3 : tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) -> tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>
  return %o3, %k0c, %v0c, %k1c, %v1c, %k2c, %v2c, %k3c, %v3c : tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>
}

// -----

// Layers sharing one weight value: the weight is the same for every call,
// so it is not an argument but a constant of the outlined function.
// CHECK-LABEL: func.func @shared_weight(
// CHECK: call @shared_weight_repeat0(%{{[a-z0-9]+}}, %{{[a-z0-9]+}}, %{{[a-z0-9]+}}, %{{[a-z0-9]+}}) {no_inline} : (tensor<1x2x1x4xf32>, index, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>)
// CHECK: call @shared_weight_repeat0(
// CHECK-LABEL: func.func private @shared_weight_repeat0(
// CHECK: %[[W:.+]] = arith.constant dense<{{\[\[\[\[}}1.0
// CHECK: linalg.add ins(%{{.+}}, %[[W]] :
func.func @shared_weight(%x: tensor<1x2x1x4xf32>, %pos: index, %k0: tensor<1x1x8x4xf32> {bufferization.writable = true}, %v0: tensor<1x1x8x4xf32> {bufferization.writable = true}, %k1: tensor<1x1x8x4xf32> {bufferization.writable = true}, %v1: tensor<1x1x8x4xf32> {bufferization.writable = true})
    -> (tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) {
  %e = tensor.empty() : tensor<1x2x1x4xf32>
  %w0 = arith.constant dense<[[[[1.0, 2.0, 3.0, 4.0]], [[5.0, 6.0, 7.0, 8.0]]]]> : tensor<1x2x1x4xf32>
  %w1 = arith.constant dense<[[[[1.0, 2.0, 3.0, 4.0]], [[5.0, 6.0, 7.0, 8.0]]]]> : tensor<1x2x1x4xf32>
  %q0 = linalg.add ins(%x, %w0 : tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>) outs(%e : tensor<1x2x1x4xf32>) -> tensor<1x2x1x4xf32>
  %n0 = tensor.extract_slice %q0[0, 0, 0, 0] [1, 1, 1, 4] [1, 1, 1, 1] : tensor<1x2x1x4xf32> to tensor<1x1x1x4xf32>
  %o0, %k0c, %v0c = attn.decode heads(2, 1) scale(0.5) causal
      ins(%q0, %n0, %n0 : tensor<1x2x1x4xf32>, tensor<1x1x1x4xf32>, tensor<1x1x1x4xf32>) position(%pos)
      outs(%e, %k0, %v0 : tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) -> tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>
  %q1 = linalg.add ins(%o0, %w1 : tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>) outs(%e : tensor<1x2x1x4xf32>) -> tensor<1x2x1x4xf32>
  %n1 = tensor.extract_slice %q1[0, 0, 0, 0] [1, 1, 1, 4] [1, 1, 1, 1] : tensor<1x2x1x4xf32> to tensor<1x1x1x4xf32>
  %o1, %k1c, %v1c = attn.decode heads(2, 1) scale(0.5) causal
      ins(%q1, %n1, %n1 : tensor<1x2x1x4xf32>, tensor<1x1x1x4xf32>, tensor<1x1x1x4xf32>) position(%pos)
      outs(%e, %k1, %v1 : tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) -> tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>
  return %o1, %k0c, %v0c, %k1c, %v1c : tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>
}

// -----

// A value both layers share that is computed from constants (a product of
// constants here, a mask in a model) is not recomputed in every call: the
// caller computes it once and passes it; the tensor.empty is recomputed.
// CHECK-LABEL: func.func @shared_computed(
// CHECK: %[[M:.+]] = linalg.mul
// CHECK: call @shared_computed_repeat0(%{{[a-z0-9]+}}, %{{[a-z0-9_]+}}, %[[M]],
// CHECK: call @shared_computed_repeat0(%{{[a-z0-9#]+}}, %{{[a-z0-9_]+}}, %[[M]],
// CHECK-LABEL: func.func private @shared_computed_repeat0(
// CHECK-NOT: linalg.mul
// CHECK: tensor.empty
// CHECK-NOT: linalg.mul
// CHECK: return
func.func @shared_computed(%x: tensor<1x2x1x4xf32>, %pos: index, %k0: tensor<1x1x8x4xf32> {bufferization.writable = true}, %v0: tensor<1x1x8x4xf32> {bufferization.writable = true}, %k1: tensor<1x1x8x4xf32> {bufferization.writable = true}, %v1: tensor<1x1x8x4xf32> {bufferization.writable = true})
    -> (tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) {
  %e = tensor.empty() : tensor<1x2x1x4xf32>
  %c = arith.constant dense<[[[[100.0, 101.0, 102.0, 103.0]], [[104.0, 105.0, 106.0, 107.0]]]]> : tensor<1x2x1x4xf32>
  %m = linalg.mul ins(%c, %c : tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>) outs(%e : tensor<1x2x1x4xf32>) -> tensor<1x2x1x4xf32>
  %w0 = arith.constant dense<[[[[1.0, 2.0, 3.0, 4.0]], [[5.0, 6.0, 7.0, 8.0]]]]> : tensor<1x2x1x4xf32>
  %w1 = arith.constant dense<[[[[11.0, 12.0, 13.0, 14.0]], [[15.0, 16.0, 17.0, 18.0]]]]> : tensor<1x2x1x4xf32>
  %p0 = linalg.add ins(%x, %w0 : tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>) outs(%e : tensor<1x2x1x4xf32>) -> tensor<1x2x1x4xf32>
  %q0 = linalg.add ins(%p0, %m : tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>) outs(%e : tensor<1x2x1x4xf32>) -> tensor<1x2x1x4xf32>
  %n0 = tensor.extract_slice %q0[0, 0, 0, 0] [1, 1, 1, 4] [1, 1, 1, 1] : tensor<1x2x1x4xf32> to tensor<1x1x1x4xf32>
  %o0, %k0c, %v0c = attn.decode heads(2, 1) scale(0.5) causal
      ins(%q0, %n0, %n0 : tensor<1x2x1x4xf32>, tensor<1x1x1x4xf32>, tensor<1x1x1x4xf32>) position(%pos)
      outs(%e, %k0, %v0 : tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) -> tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>
  %p1 = linalg.add ins(%o0, %w1 : tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>) outs(%e : tensor<1x2x1x4xf32>) -> tensor<1x2x1x4xf32>
  %q1 = linalg.add ins(%p1, %m : tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>) outs(%e : tensor<1x2x1x4xf32>) -> tensor<1x2x1x4xf32>
  %n1 = tensor.extract_slice %q1[0, 0, 0, 0] [1, 1, 1, 4] [1, 1, 1, 1] : tensor<1x2x1x4xf32> to tensor<1x1x1x4xf32>
  %o1, %k1c, %v1c = attn.decode heads(2, 1) scale(0.5) causal
      ins(%q1, %n1, %n1 : tensor<1x2x1x4xf32>, tensor<1x1x1x4xf32>, tensor<1x1x1x4xf32>) position(%pos)
      outs(%e, %k1, %v1 : tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) -> tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>
  return %o1, %k0c, %v0c, %k1c, %v1c : tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>
}

// -----

// Near miss: the layers' attention scales differ (an attribute): nothing
// is outlined.
// CHECK-LABEL: func.func @scale_differs(
// CHECK-NOT: call
// CHECK: attn.decode heads(2, 1) scale(5.000000e-01)
// CHECK: attn.decode heads(2, 1) scale(2.500000e-01)
// CHECK-NOT: func.func private
func.func @scale_differs(%x: tensor<1x2x1x4xf32>, %pos: index, %k0: tensor<1x1x8x4xf32> {bufferization.writable = true}, %v0: tensor<1x1x8x4xf32> {bufferization.writable = true}, %k1: tensor<1x1x8x4xf32> {bufferization.writable = true}, %v1: tensor<1x1x8x4xf32> {bufferization.writable = true})
    -> (tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) {
  %e = tensor.empty() : tensor<1x2x1x4xf32>
  %w0 = arith.constant dense<[[[[1.0, 2.0, 3.0, 4.0]], [[5.0, 6.0, 7.0, 8.0]]]]> : tensor<1x2x1x4xf32>
  %w1 = arith.constant dense<[[[[11.0, 12.0, 13.0, 14.0]], [[15.0, 16.0, 17.0, 18.0]]]]> : tensor<1x2x1x4xf32>
  %q0 = linalg.add ins(%x, %w0 : tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>) outs(%e : tensor<1x2x1x4xf32>) -> tensor<1x2x1x4xf32>
  %n0 = tensor.extract_slice %q0[0, 0, 0, 0] [1, 1, 1, 4] [1, 1, 1, 1] : tensor<1x2x1x4xf32> to tensor<1x1x1x4xf32>
  %o0, %k0c, %v0c = attn.decode heads(2, 1) scale(0.5) causal
      ins(%q0, %n0, %n0 : tensor<1x2x1x4xf32>, tensor<1x1x1x4xf32>, tensor<1x1x1x4xf32>) position(%pos)
      outs(%e, %k0, %v0 : tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) -> tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>
  %q1 = linalg.add ins(%o0, %w1 : tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>) outs(%e : tensor<1x2x1x4xf32>) -> tensor<1x2x1x4xf32>
  %n1 = tensor.extract_slice %q1[0, 0, 0, 0] [1, 1, 1, 4] [1, 1, 1, 1] : tensor<1x2x1x4xf32> to tensor<1x1x1x4xf32>
  %o1, %k1c, %v1c = attn.decode heads(2, 1) scale(0.25) causal
      ins(%q1, %n1, %n1 : tensor<1x2x1x4xf32>, tensor<1x1x1x4xf32>, tensor<1x1x1x4xf32>) position(%pos)
      outs(%e, %k1, %v1 : tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) -> tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>
  return %o1, %k0c, %v0c, %k1c, %v1c : tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>
}

// -----

// Near miss: the layers' constants differ but are splats (they fold into
// the code, so they are not weights to pass): nothing is outlined.
// CHECK-LABEL: func.func @splat_differs(
// CHECK-NOT: call
// CHECK-COUNT-2: attn.decode
// CHECK-NOT: func.func private
func.func @splat_differs(%x: tensor<1x2x1x4xf32>, %pos: index, %k0: tensor<1x1x8x4xf32> {bufferization.writable = true}, %v0: tensor<1x1x8x4xf32> {bufferization.writable = true}, %k1: tensor<1x1x8x4xf32> {bufferization.writable = true}, %v1: tensor<1x1x8x4xf32> {bufferization.writable = true})
    -> (tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) {
  %e = tensor.empty() : tensor<1x2x1x4xf32>
  %w0 = arith.constant dense<1.0> : tensor<1x2x1x4xf32>
  %w1 = arith.constant dense<2.0> : tensor<1x2x1x4xf32>
  %q0 = linalg.add ins(%x, %w0 : tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>) outs(%e : tensor<1x2x1x4xf32>) -> tensor<1x2x1x4xf32>
  %n0 = tensor.extract_slice %q0[0, 0, 0, 0] [1, 1, 1, 4] [1, 1, 1, 1] : tensor<1x2x1x4xf32> to tensor<1x1x1x4xf32>
  %o0, %k0c, %v0c = attn.decode heads(2, 1) scale(0.5) causal
      ins(%q0, %n0, %n0 : tensor<1x2x1x4xf32>, tensor<1x1x1x4xf32>, tensor<1x1x1x4xf32>) position(%pos)
      outs(%e, %k0, %v0 : tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) -> tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>
  %q1 = linalg.add ins(%o0, %w1 : tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>) outs(%e : tensor<1x2x1x4xf32>) -> tensor<1x2x1x4xf32>
  %n1 = tensor.extract_slice %q1[0, 0, 0, 0] [1, 1, 1, 4] [1, 1, 1, 1] : tensor<1x2x1x4xf32> to tensor<1x1x1x4xf32>
  %o1, %k1c, %v1c = attn.decode heads(2, 1) scale(0.5) causal
      ins(%q1, %n1, %n1 : tensor<1x2x1x4xf32>, tensor<1x1x1x4xf32>, tensor<1x1x1x4xf32>) position(%pos)
      outs(%e, %k1, %v1 : tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) -> tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>
  return %o1, %k0c, %v0c, %k1c, %v1c : tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>
}

// -----

// Near miss: the second layer adds its operands the other way round (the
// weight where the first layer has its input): nothing is outlined.
// CHECK-LABEL: func.func @flow_differs(
// CHECK-NOT: call
// CHECK-COUNT-2: attn.decode
// CHECK-NOT: func.func private
func.func @flow_differs(%x: tensor<1x2x1x4xf32>, %pos: index, %k0: tensor<1x1x8x4xf32> {bufferization.writable = true}, %v0: tensor<1x1x8x4xf32> {bufferization.writable = true}, %k1: tensor<1x1x8x4xf32> {bufferization.writable = true}, %v1: tensor<1x1x8x4xf32> {bufferization.writable = true})
    -> (tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) {
  %e = tensor.empty() : tensor<1x2x1x4xf32>
  %w0 = arith.constant dense<[[[[1.0, 2.0, 3.0, 4.0]], [[5.0, 6.0, 7.0, 8.0]]]]> : tensor<1x2x1x4xf32>
  %w1 = arith.constant dense<[[[[11.0, 12.0, 13.0, 14.0]], [[15.0, 16.0, 17.0, 18.0]]]]> : tensor<1x2x1x4xf32>
  %q0 = linalg.add ins(%x, %w0 : tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>) outs(%e : tensor<1x2x1x4xf32>) -> tensor<1x2x1x4xf32>
  %n0 = tensor.extract_slice %q0[0, 0, 0, 0] [1, 1, 1, 4] [1, 1, 1, 1] : tensor<1x2x1x4xf32> to tensor<1x1x1x4xf32>
  %o0, %k0c, %v0c = attn.decode heads(2, 1) scale(0.5) causal
      ins(%q0, %n0, %n0 : tensor<1x2x1x4xf32>, tensor<1x1x1x4xf32>, tensor<1x1x1x4xf32>) position(%pos)
      outs(%e, %k0, %v0 : tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) -> tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>
  %q1 = linalg.add ins(%w1, %o0 : tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>) outs(%e : tensor<1x2x1x4xf32>) -> tensor<1x2x1x4xf32>
  %n1 = tensor.extract_slice %q1[0, 0, 0, 0] [1, 1, 1, 4] [1, 1, 1, 1] : tensor<1x2x1x4xf32> to tensor<1x1x1x4xf32>
  %o1, %k1c, %v1c = attn.decode heads(2, 1) scale(0.5) causal
      ins(%q1, %n1, %n1 : tensor<1x2x1x4xf32>, tensor<1x1x1x4xf32>, tensor<1x1x1x4xf32>) position(%pos)
      outs(%e, %k1, %v1 : tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) -> tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>
  return %o1, %k0c, %v0c, %k1c, %v1c : tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>
}

// -----

// Nothing repeats: the function is left as it is.
// CHECK-LABEL: func.func @single_layer(
// CHECK-NOT: call
// CHECK: attn.decode
// CHECK-NOT: func.func private
func.func @single_layer(%x: tensor<1x2x1x4xf32>, %pos: index, %k0: tensor<1x1x8x4xf32> {bufferization.writable = true}, %v0: tensor<1x1x8x4xf32> {bufferization.writable = true})
    -> (tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) {
  %e = tensor.empty() : tensor<1x2x1x4xf32>
  %w0 = arith.constant dense<[[[[1.0, 2.0, 3.0, 4.0]], [[5.0, 6.0, 7.0, 8.0]]]]> : tensor<1x2x1x4xf32>
  %q0 = linalg.add ins(%x, %w0 : tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>) outs(%e : tensor<1x2x1x4xf32>) -> tensor<1x2x1x4xf32>
  %n0 = tensor.extract_slice %q0[0, 0, 0, 0] [1, 1, 1, 4] [1, 1, 1, 1] : tensor<1x2x1x4xf32> to tensor<1x1x1x4xf32>
  %o0, %k0c, %v0c = attn.decode heads(2, 1) scale(0.5) causal
      ins(%q0, %n0, %n0 : tensor<1x2x1x4xf32>, tensor<1x1x1x4xf32>, tensor<1x1x1x4xf32>) position(%pos)
      outs(%e, %k0, %v0 : tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) -> tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>
  return %o0, %k0c, %v0c : tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>
}

// -----

// Weights stored f16 and widened by an elementwise extf (an ONNX Cast of a
// narrow initializer): each call passes its layer's f16 weight and the
// outlined layer widens it itself, next to the op that reads it (where the
// contraction lowering reads the narrow weight in place of the copy). The
// caller keeps no widened copy.
// CHECK-LABEL: func.func @narrow_weights(
// CHECK-DAG: %[[W0:.+]] = arith.constant dense<{{\[\[\[\[}}1.0{{.*}}> : tensor<1x2x1x4xf16>
// CHECK-DAG: %[[W1:.+]] = arith.constant dense<{{\[\[\[\[}}1.1{{.*}}> : tensor<1x2x1x4xf16>
// CHECK-NOT: linalg.generic
// CHECK: %[[L0:.+]]:3 = call @narrow_weights_repeat0(%{{[a-z0-9]+}}, %[[W0]], %{{.*}}) {no_inline} : (tensor<1x2x1x4xf32>, tensor<1x2x1x4xf16>,
// CHECK: call @narrow_weights_repeat0(%[[L0]]#0, %[[W1]], %{{.*}}) {no_inline} : (tensor<1x2x1x4xf32>, tensor<1x2x1x4xf16>,
// CHECK-LABEL: func.func private @narrow_weights_repeat0(
// CHECK-SAME: %[[A:[a-z0-9]+]]: tensor<1x2x1x4xf32>, %[[W:[a-z0-9]+]]: tensor<1x2x1x4xf16>,
// CHECK: %[[WIDE:.+]] = linalg.generic {{.*}} ins(%[[W]] : tensor<1x2x1x4xf16>)
// CHECK: arith.extf
// CHECK: linalg.add ins(%[[A]], %[[WIDE]] :
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @narrow_weights(%x: tensor<1x2x1x4xf32>, %pos: index, %k0: tensor<1x1x8x4xf32> {bufferization.writable = true}, %v0: tensor<1x1x8x4xf32> {bufferization.writable = true}, %k1: tensor<1x1x8x4xf32> {bufferization.writable = true}, %v1: tensor<1x1x8x4xf32> {bufferization.writable = true})
    -> (tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) {
  %e = tensor.empty() : tensor<1x2x1x4xf32>
  %w0 = arith.constant dense<[[[[1.0, 2.0, 3.0, 4.0]], [[5.0, 6.0, 7.0, 8.0]]]]> : tensor<1x2x1x4xf16>
  %w1 = arith.constant dense<[[[[11.0, 12.0, 13.0, 14.0]], [[15.0, 16.0, 17.0, 18.0]]]]> : tensor<1x2x1x4xf16>
  %we0 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%w0 : tensor<1x2x1x4xf16>) outs(%e : tensor<1x2x1x4xf32>) {
  ^bb0(%in: f16, %out: f32):
    %f = arith.extf %in : f16 to f32
    linalg.yield %f : f32
  } -> tensor<1x2x1x4xf32>
  %we1 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%w1 : tensor<1x2x1x4xf16>) outs(%e : tensor<1x2x1x4xf32>) {
  ^bb0(%in: f16, %out: f32):
    %f = arith.extf %in : f16 to f32
    linalg.yield %f : f32
  } -> tensor<1x2x1x4xf32>
  %q0 = linalg.add ins(%x, %we0 : tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>) outs(%e : tensor<1x2x1x4xf32>) -> tensor<1x2x1x4xf32>
  %n0 = tensor.extract_slice %q0[0, 0, 0, 0] [1, 1, 1, 4] [1, 1, 1, 1] : tensor<1x2x1x4xf32> to tensor<1x1x1x4xf32>
  %o0, %k0c, %v0c = attn.decode heads(2, 1) scale(0.5) causal
      ins(%q0, %n0, %n0 : tensor<1x2x1x4xf32>, tensor<1x1x1x4xf32>, tensor<1x1x1x4xf32>) position(%pos)
      outs(%e, %k0, %v0 : tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) -> tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>
  %q1 = linalg.add ins(%o0, %we1 : tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>) outs(%e : tensor<1x2x1x4xf32>) -> tensor<1x2x1x4xf32>
  %n1 = tensor.extract_slice %q1[0, 0, 0, 0] [1, 1, 1, 4] [1, 1, 1, 1] : tensor<1x2x1x4xf32> to tensor<1x1x1x4xf32>
  %o1, %k1c, %v1c = attn.decode heads(2, 1) scale(0.5) causal
      ins(%q1, %n1, %n1 : tensor<1x2x1x4xf32>, tensor<1x1x1x4xf32>, tensor<1x1x1x4xf32>) position(%pos)
      outs(%e, %k1, %v1 : tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) -> tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>
  return %o1, %k0c, %v0c, %k1c, %v1c : tensor<1x2x1x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>
}
