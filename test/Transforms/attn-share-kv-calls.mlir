// RUN: attn-opt %s -split-input-file -attn-share-kv="kv-heads=2" -verify-diagnostics | FileCheck %s

// attn-share-kv changes the type of a decode step (its past argument and
// present result shrink to 2 heads); a caller keeps its own types and
// meaning: it pools the 4-head past it passes (as the step used to) and
// repeats each shared head of the present it gets back over its group of 2.
// CHECK-LABEL: func.func @step
// CHECK-SAME: %{{[a-z0-9]+}}: tensor<1x2x5x16xf32>
// CHECK-SAME: -> (tensor<1x4x1x16xf32>, tensor<1x2x6x16xf32>)
// CHECK-LABEL: func.func @caller
// CHECK-SAME: %[[PK:[a-z0-9]+]]: tensor<1x4x5x16xf32>
// CHECK-SAME: -> (tensor<1x4x1x16xf32>, tensor<1x4x6x16xf32>)
// CHECK: %[[PK5:.+]] = tensor.expand_shape %[[PK]] {{\[\[}}0], [1, 2], [3], [4]] output_shape [1, 2, 2, 5, 16]
// CHECK: %[[POOLED:.+]] = linalg.generic {{.+}} ins(%[[PK5]] : tensor<1x2x2x5x16xf32>)
// CHECK: %[[R:.+]]:2 = call @step(%{{.+}}, %{{.+}}, %{{.+}}, %[[POOLED]]) : (tensor<1x4x1x16xf32>, tensor<1x4x1x16xf32>, tensor<1x4x6x16xf32>, tensor<1x2x5x16xf32>) -> (tensor<1x4x1x16xf32>, tensor<1x2x6x16xf32>)
// CHECK: %[[B:.+]] = linalg.broadcast ins(%[[R]]#1 : tensor<1x2x6x16xf32>) outs(%{{.+}} : tensor<1x2x2x6x16xf32>) dimensions = [2]
// CHECK: %[[REP:.+]] = tensor.collapse_shape %[[B]] {{\[\[}}0], [1, 2], [3], [4]] : tensor<1x2x2x6x16xf32> into tensor<1x4x6x16xf32>
// CHECK: return %[[R]]#0, %[[REP]] : tensor<1x4x1x16xf32>, tensor<1x4x6x16xf32>
func.func @step(%q: tensor<1x4x1x16xf32>, %k: tensor<1x4x1x16xf32>, %v: tensor<1x4x6x16xf32>, %pk: tensor<1x4x5x16xf32>) -> (tensor<1x4x1x16xf32>, tensor<1x4x6x16xf32>) {
  %kc = tensor.concat dim(2) %pk, %k : (tensor<1x4x5x16xf32>, tensor<1x4x1x16xf32>) -> tensor<1x4x6x16xf32>
  %o = tensor.empty() : tensor<1x4x1x16xf32>
  %r = attn.attention heads(4, 4) scale(0.25) causal(5) ins(%q, %kc, %v : tensor<1x4x1x16xf32>, tensor<1x4x6x16xf32>, tensor<1x4x6x16xf32>) outs(%o : tensor<1x4x1x16xf32>) -> tensor<1x4x1x16xf32>
  return %r, %kc : tensor<1x4x1x16xf32>, tensor<1x4x6x16xf32>
}
func.func @caller(%q: tensor<1x4x1x16xf32>, %k: tensor<1x4x1x16xf32>, %v: tensor<1x4x6x16xf32>, %pk: tensor<1x4x5x16xf32>) -> (tensor<1x4x1x16xf32>, tensor<1x4x6x16xf32>) {
  %r:2 = func.call @step(%q, %k, %v, %pk) : (tensor<1x4x1x16xf32>, tensor<1x4x1x16xf32>, tensor<1x4x6x16xf32>, tensor<1x4x5x16xf32>) -> (tensor<1x4x1x16xf32>, tensor<1x4x6x16xf32>)
  return %r#0, %r#1 : tensor<1x4x1x16xf32>, tensor<1x4x6x16xf32>
}

// -----

// Several blocks and returns: both exits return the present cache at result
// 1, so both return the shared heads and the function has one new type.
// CHECK-LABEL: func.func @two_exits
// CHECK-SAME: -> (tensor<1x4x1x16xf32>, tensor<1x2x6x16xf32>)
// CHECK: %[[KC:.+]] = tensor.concat dim(2) {{.+}} -> tensor<1x2x6x16xf32>
// CHECK: attn.attention heads(4, 2)
// CHECK: return %{{.+}}, %[[KC]] : tensor<1x4x1x16xf32>, tensor<1x2x6x16xf32>
// CHECK: return %{{.+}}, %[[KC]] : tensor<1x4x1x16xf32>, tensor<1x2x6x16xf32>
func.func @two_exits(%q: tensor<1x4x1x16xf32>, %k: tensor<1x4x1x16xf32>, %v: tensor<1x4x6x16xf32>, %pk: tensor<1x4x5x16xf32>, %skip: i1) -> (tensor<1x4x1x16xf32>, tensor<1x4x6x16xf32>) {
  %kc = tensor.concat dim(2) %pk, %k : (tensor<1x4x5x16xf32>, tensor<1x4x1x16xf32>) -> tensor<1x4x6x16xf32>
  %o = tensor.empty() : tensor<1x4x1x16xf32>
  %r = attn.attention heads(4, 4) scale(0.25) ins(%q, %kc, %v : tensor<1x4x1x16xf32>, tensor<1x4x6x16xf32>, tensor<1x4x6x16xf32>) outs(%o : tensor<1x4x1x16xf32>) -> tensor<1x4x1x16xf32>
  cf.cond_br %skip, ^zero, ^out
^out:
  return %r, %kc : tensor<1x4x1x16xf32>, tensor<1x4x6x16xf32>
^zero:
  return %o, %kc : tensor<1x4x1x16xf32>, tensor<1x4x6x16xf32>
}

// -----

// Returns that disagree: one exit returns the present cache (2 shared heads
// after the pass), the other a tensor of the former 4 heads at that result;
// no function type fits both, an error before anything changes.
func.func @exits_disagree(%q: tensor<1x4x1x16xf32>, %k: tensor<1x4x1x16xf32>, %v: tensor<1x4x6x16xf32>, %pk: tensor<1x4x5x16xf32>, %old: tensor<1x4x6x16xf32>, %skip: i1) -> (tensor<1x4x1x16xf32>, tensor<1x4x6x16xf32>) {
  %kc = tensor.concat dim(2) %pk, %k : (tensor<1x4x5x16xf32>, tensor<1x4x1x16xf32>) -> tensor<1x4x6x16xf32>
  %o = tensor.empty() : tensor<1x4x1x16xf32>
  %r = attn.attention heads(4, 4) scale(0.25) ins(%q, %kc, %v : tensor<1x4x1x16xf32>, tensor<1x4x6x16xf32>, tensor<1x4x6x16xf32>) outs(%o : tensor<1x4x1x16xf32>) -> tensor<1x4x1x16xf32>
  cf.cond_br %skip, ^zero, ^out
^out:
  return %r, %kc : tensor<1x4x1x16xf32>, tensor<1x4x6x16xf32>
^zero:
  // expected-error @+1 {{attn-share-kv: result #1 of @exits_disagree would hold 2 shared KV heads on one return and the former heads on another; the function cannot have one result type}}
  return %o, %old : tensor<1x4x1x16xf32>, tensor<1x4x6x16xf32>
}

// -----

// A use of the symbol other than func.call cannot follow the new type: an
// error at that use, before anything changes.
func.func @taken_as_value(%q: tensor<1x4x1x16xf32>, %k: tensor<1x4x6x16xf32>, %v: tensor<1x4x6x16xf32>) -> (tensor<1x4x1x16xf32>, tensor<1x4x6x16xf32>) {
  %o = tensor.empty() : tensor<1x4x1x16xf32>
  %r = attn.attention heads(4, 4) scale(0.25) ins(%q, %k, %v : tensor<1x4x1x16xf32>, tensor<1x4x6x16xf32>, tensor<1x4x6x16xf32>) outs(%o : tensor<1x4x1x16xf32>) -> tensor<1x4x1x16xf32>
  return %r, %k : tensor<1x4x1x16xf32>, tensor<1x4x6x16xf32>
}
func.func @holder() -> ((tensor<1x4x1x16xf32>, tensor<1x4x6x16xf32>, tensor<1x4x6x16xf32>) -> (tensor<1x4x1x16xf32>, tensor<1x4x6x16xf32>)) {
  // expected-error @+1 {{attn-share-kv: cannot update this use of @taken_as_value, whose signature changes when its KV heads are shared (only func.call sites can be updated)}}
  %f = func.constant @taken_as_value : (tensor<1x4x1x16xf32>, tensor<1x4x6x16xf32>, tensor<1x4x6x16xf32>) -> (tensor<1x4x1x16xf32>, tensor<1x4x6x16xf32>)
  return %f : (tensor<1x4x1x16xf32>, tensor<1x4x6x16xf32>, tensor<1x4x6x16xf32>) -> (tensor<1x4x1x16xf32>, tensor<1x4x6x16xf32>)
}

// -----

// An op inside a function that no return reads as a cache keeps the
// signature: calls need no change (no pooling at the call site).
// CHECK-LABEL: func.func private @private_layer
// CHECK-SAME: -> tensor<1x4x1x16xf32>
// CHECK: attn.attention heads(4, 2)
// CHECK-LABEL: func.func @calls_layer
// CHECK-NEXT: %[[R:.+]] = call @private_layer(%{{.+}}, %{{.+}}, %{{.+}}) : (tensor<1x4x1x16xf32>, tensor<1x4x6x16xf32>, tensor<1x4x6x16xf32>) -> tensor<1x4x1x16xf32>
// CHECK-NEXT: return %[[R]]
func.func private @private_layer(%q: tensor<1x4x1x16xf32>, %k: tensor<1x4x6x16xf32>, %v: tensor<1x4x6x16xf32>) -> tensor<1x4x1x16xf32> {
  %o = tensor.empty() : tensor<1x4x1x16xf32>
  %r = attn.attention heads(4, 4) scale(0.25) ins(%q, %k, %v : tensor<1x4x1x16xf32>, tensor<1x4x6x16xf32>, tensor<1x4x6x16xf32>) outs(%o : tensor<1x4x1x16xf32>) -> tensor<1x4x1x16xf32>
  return %r : tensor<1x4x1x16xf32>
}
func.func @calls_layer(%q: tensor<1x4x1x16xf32>, %k: tensor<1x4x6x16xf32>, %v: tensor<1x4x6x16xf32>) -> tensor<1x4x1x16xf32> {
  %r = func.call @private_layer(%q, %k, %v) : (tensor<1x4x1x16xf32>, tensor<1x4x6x16xf32>, tensor<1x4x6x16xf32>) -> tensor<1x4x1x16xf32>
  return %r : tensor<1x4x1x16xf32>
}
