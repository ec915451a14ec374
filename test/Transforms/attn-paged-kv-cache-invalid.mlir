// RUN: attn-opt %s -split-input-file -attn-paged-kv-cache=page-size=4 -verify-diagnostics

// No decode at all.
// expected-error @+1 {{--paged-kv-cache: the model has no fused decode step (an attn.decode; compile a decode-step model with --max-seq)}}
module {
func.func @none(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}
}

// -----

// One position for the whole batch.
func.func @scalar(%q: tensor<1x4x1x8xf32>, %k: tensor<1x4x1x8xf32>, %v: tensor<1x4x1x8xf32>, %kc: tensor<1x4x64x8xf32>, %vc: tensor<1x4x64x8xf32>, %p: index) -> (tensor<1x4x1x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32>) {
  %o = tensor.empty() : tensor<1x4x1x8xf32>
  // expected-error @+1 {{takes one position for the batch: a paged decode needs a position per row (compile with --per-row-positions)}}
  %r:3 = attn.decode heads(4, 4) scale(0.5) causal ins(%q, %k, %v : tensor<1x4x1x8xf32>, tensor<1x4x1x8xf32>, tensor<1x4x1x8xf32>) position(%p) outs(%o, %kc, %vc : tensor<1x4x1x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32>) -> tensor<1x4x1x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32>
  return %r#0, %r#1, %r#2 : tensor<1x4x1x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32>
}

// -----

// The cache result is read again after the step: its shape cannot change.
func.func @reused(%q: tensor<1x4x1x8xf32>, %k: tensor<1x4x1x8xf32>, %v: tensor<1x4x1x8xf32>, %kc: tensor<1x4x64x8xf32>, %vc: tensor<1x4x64x8xf32>, %p: tensor<1xi64>) -> (tensor<1x4x1x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32>) {
  %o = tensor.empty() : tensor<1x4x1x8xf32>
  // expected-error @+1 {{caches are not arguments of an uncalled function used only by this op and returned only: --paged-kv-cache cannot turn them into page pools}}
  %r:3 = attn.decode heads(4, 4) scale(0.5) causal ins(%q, %k, %v : tensor<1x4x1x8xf32>, tensor<1x4x1x8xf32>, tensor<1x4x1x8xf32>) positions(%p : tensor<1xi64>) outs(%o, %kc, %vc : tensor<1x4x1x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32>) -> tensor<1x4x1x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32>
  %c = tensor.empty() : tensor<1x4x64x8xf32>
  %copy = linalg.copy ins(%r#1 : tensor<1x4x64x8xf32>) outs(%c : tensor<1x4x64x8xf32>) -> tensor<1x4x64x8xf32>
  return %r#0, %r#1, %r#2, %copy : tensor<1x4x1x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32>
}

// -----

// Caches made inside the function, not passed in.
func.func @local(%q: tensor<1x4x1x8xf32>, %k: tensor<1x4x1x8xf32>, %v: tensor<1x4x1x8xf32>, %p: tensor<1xi64>) -> tensor<1x4x1x8xf32> {
  %o = tensor.empty() : tensor<1x4x1x8xf32>
  %kc = tensor.empty() : tensor<1x4x64x8xf32>
  // expected-error @+1 {{caches are not arguments of an uncalled function}}
  %r:3 = attn.decode heads(4, 4) scale(0.5) causal ins(%q, %k, %v : tensor<1x4x1x8xf32>, tensor<1x4x1x8xf32>, tensor<1x4x1x8xf32>) positions(%p : tensor<1xi64>) outs(%o, %kc, %kc : tensor<1x4x1x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32>) -> tensor<1x4x1x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32>
  return %r#0 : tensor<1x4x1x8xf32>
}

// -----

// Layers of different capacities cannot share one table.
func.func @capacities(%q: tensor<1x4x1x8xf32>, %k: tensor<1x4x1x8xf32>, %v: tensor<1x4x1x8xf32>, %kc: tensor<1x4x64x8xf32>, %vc: tensor<1x4x64x8xf32>, %kc1: tensor<1x4x32x8xf32>, %vc1: tensor<1x4x32x8xf32>, %p: tensor<1xi64>) -> (tensor<1x4x1x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x32x8xf32>, tensor<1x4x32x8xf32>) {
  %o = tensor.empty() : tensor<1x4x1x8xf32>
  %r:3 = attn.decode heads(4, 4) scale(0.5) causal ins(%q, %k, %v : tensor<1x4x1x8xf32>, tensor<1x4x1x8xf32>, tensor<1x4x1x8xf32>) positions(%p : tensor<1xi64>) outs(%o, %kc, %vc : tensor<1x4x1x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32>) -> tensor<1x4x1x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32>
  // expected-error @+1 {{has batch 1 and cache capacity 32, the first decode 1 and 64: the layers share one block table}}
  %s:3 = attn.decode heads(4, 4) scale(0.5) causal ins(%q, %k, %v : tensor<1x4x1x8xf32>, tensor<1x4x1x8xf32>, tensor<1x4x1x8xf32>) positions(%p : tensor<1xi64>) outs(%o, %kc1, %vc1 : tensor<1x4x1x8xf32>, tensor<1x4x32x8xf32>, tensor<1x4x32x8xf32>) -> tensor<1x4x1x8xf32>, tensor<1x4x32x8xf32>, tensor<1x4x32x8xf32>
  return %r#0, %r#1, %r#2, %s#1, %s#2 : tensor<1x4x1x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x32x8xf32>, tensor<1x4x32x8xf32>
}

// -----

// 8-bit caches cannot be paged.
func.func @int8(%q: tensor<1x4x1x8xf32>, %k: tensor<1x4x1x8xf32>, %v: tensor<1x4x1x8xf32>, %kc: tensor<1x4x64x8xi8>, %vc: tensor<1x4x64x8xi8>, %p: tensor<1xi64>, %ks: tensor<1x4xf32>, %vs: tensor<1x4xf32>) -> (tensor<1x4x1x8xf32>, tensor<1x4x64x8xi8>, tensor<1x4x64x8xi8>) {
  %o = tensor.empty() : tensor<1x4x1x8xf32>
  // expected-error @+1 {{has 8-bit caches ('i8'): paged caches must be float (drop --kv-cache-type=int8|fp8)}}
  %r:3 = attn.decode heads(4, 4) scale(0.5) causal ins(%q, %k, %v : tensor<1x4x1x8xf32>, tensor<1x4x1x8xf32>, tensor<1x4x1x8xf32>) positions(%p : tensor<1xi64>) outs(%o, %kc, %vc : tensor<1x4x1x8xf32>, tensor<1x4x64x8xi8>, tensor<1x4x64x8xi8>) cache_scales(%ks, %vs : tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<1x4x1x8xf32>, tensor<1x4x64x8xi8>, tensor<1x4x64x8xi8>
  return %r#0, %r#1, %r#2 : tensor<1x4x1x8xf32>, tensor<1x4x64x8xi8>, tensor<1x4x64x8xi8>
}
