// RUN: attn-opt %s -split-input-file -attn-window-ring-cache -verify-diagnostics

// No window layer at all.
// expected-error @+1 {{--window-ring-cache: the model has no sliding-window decode layer (an attn.decode with causal window(L, 0), e.g. from GroupQueryAttention's local_window_size)}}
module {
func.func @global(%q: tensor<1x4x1x8xf32>, %k: tensor<1x4x1x8xf32>, %v: tensor<1x4x1x8xf32>, %kc: tensor<1x4x64x8xf32>, %vc: tensor<1x4x64x8xf32>, %p: index) -> (tensor<1x4x1x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32>) {
  %o = tensor.empty() : tensor<1x4x1x8xf32>
  %r:3 = attn.decode heads(4, 4) scale(0.5) causal ins(%q, %k, %v : tensor<1x4x1x8xf32>, tensor<1x4x1x8xf32>, tensor<1x4x1x8xf32>) position(%p) outs(%o, %kc, %vc : tensor<1x4x1x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32>) -> tensor<1x4x1x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32>
  return %r#0, %r#1, %r#2 : tensor<1x4x1x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32>
}
}

// -----

// The cache result is read again after the step: its shape cannot change.
func.func @reused(%q: tensor<1x4x1x8xf32>, %k: tensor<1x4x1x8xf32>, %v: tensor<1x4x1x8xf32>, %kc: tensor<1x4x64x8xf32>, %vc: tensor<1x4x64x8xf32>, %p: index) -> (tensor<1x4x1x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32>) {
  %o = tensor.empty() : tensor<1x4x1x8xf32>
  // expected-error @+1 {{window layer's caches are not arguments of an uncalled function used only by this op and returned only: --window-ring-cache cannot change their shape}}
  %r:3 = attn.decode heads(4, 4) scale(0.5) causal window(7, 0) ins(%q, %k, %v : tensor<1x4x1x8xf32>, tensor<1x4x1x8xf32>, tensor<1x4x1x8xf32>) position(%p) outs(%o, %kc, %vc : tensor<1x4x1x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32>) -> tensor<1x4x1x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32>
  %c = tensor.empty() : tensor<1x4x64x8xf32>
  %copy = linalg.copy ins(%r#1 : tensor<1x4x64x8xf32>) outs(%c : tensor<1x4x64x8xf32>) -> tensor<1x4x64x8xf32>
  return %r#0, %r#1, %r#2, %copy : tensor<1x4x1x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32>
}

// -----

// A window layer with a full mask over the cache.
func.func @masked(%q: tensor<1x4x1x8xf32>, %k: tensor<1x4x1x8xf32>, %v: tensor<1x4x1x8xf32>, %kc: tensor<1x4x64x8xf32>, %vc: tensor<1x4x64x8xf32>, %p: index, %m: tensor<1x1x1x64xi1>) -> (tensor<1x4x1x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32>) {
  %o = tensor.empty() : tensor<1x4x1x8xf32>
  // expected-error @+1 {{window layer has a 'mask': --window-ring-cache cannot keep its caches as rings}}
  %r:3 = attn.decode heads(4, 4) scale(0.5) causal window(7, 0) ins(%q, %k, %v : tensor<1x4x1x8xf32>, tensor<1x4x1x8xf32>, tensor<1x4x1x8xf32>) position(%p) mask(%m : tensor<1x1x1x64xi1>) outs(%o, %kc, %vc : tensor<1x4x1x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32>) -> tensor<1x4x1x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32>
  return %r#0, %r#1, %r#2 : tensor<1x4x1x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32>
}

// -----

// A latent (MLA) decode has no ring form yet.
func.func @latent(%q: tensor<1x4x1x20xf32>, %c: tensor<1x1x1x16xf32>, %r: tensor<1x1x1x4xf32>, %lc: tensor<1x1x64x16xf32>, %rc: tensor<1x1x64x4xf32>, %i: index) -> (tensor<1x4x1x16xf32>, tensor<1x1x64x16xf32>, tensor<1x1x64x4xf32>) {
  %o = tensor.empty() : tensor<1x4x1x16xf32>
  // expected-error @+1 {{window layer has latent (MLA) caches: --window-ring-cache cannot keep them as rings yet}}
  %res:3 = attn.decode heads(4, 1) scale(0.5) causal window(7, 0) latent(16) ins(%q, %c, %r : tensor<1x4x1x20xf32>, tensor<1x1x1x16xf32>, tensor<1x1x1x4xf32>) position(%i) outs(%o, %lc, %rc : tensor<1x4x1x16xf32>, tensor<1x1x64x16xf32>, tensor<1x1x64x4xf32>) -> tensor<1x4x1x16xf32>, tensor<1x1x64x16xf32>, tensor<1x1x64x4xf32>
  return %res#0, %res#1, %res#2 : tensor<1x4x1x16xf32>, tensor<1x1x64x16xf32>, tensor<1x1x64x4xf32>
}
