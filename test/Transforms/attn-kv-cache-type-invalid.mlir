// RUN: attn-opt %s -split-input-file -attn-kv-cache-type=type=int8 -verify-diagnostics
// RUN: not attn-opt %s -split-input-file -attn-kv-cache-type=type=int4 2>&1 | FileCheck %s --check-prefix=TYPE

// TYPE: unknown KV-cache type 'int4' (expected f32, f16, bf16, int8 or fp8)

// expected-error @below {{--kv-cache-type=int8: the model has no attn.decode KV caches}}
module {
  func.func @prefill(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
    %o = tensor.empty() : tensor<1x2x4x8xf32>
    %r = attn.attention heads(2, 2) scale(0.5) ins(%q, %k, %v : tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) outs(%o : tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
    return %r : tensor<1x2x4x8xf32>
  }
}

// -----

// The caches are not tied to results (not a fused decode step's inouts).
func.func @not_tied(%q: tensor<1x2x1x8xf32>, %k: tensor<1x2x1x8xf32>, %v: tensor<1x2x1x8xf32>, %kc: tensor<1x2x32x8xf32>, %vc: tensor<1x2x32x8xf32>, %i: index) -> tensor<1x2x1x8xf32> {
  %o = tensor.empty() : tensor<1x2x1x8xf32>
  // expected-error @+1 {{caches are not the in-place cache arguments of an uncalled function}}
  %r:3 = attn.decode heads(2, 2) scale(0.5) ins(%q, %k, %v : tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>) position(%i) outs(%o, %kc, %vc : tensor<1x2x1x8xf32>, tensor<1x2x32x8xf32>, tensor<1x2x32x8xf32>) -> tensor<1x2x1x8xf32>, tensor<1x2x32x8xf32>, tensor<1x2x32x8xf32>
  return %r#0 : tensor<1x2x1x8xf32>
}

// -----

func.func @already_int8(%q: tensor<1x2x1x8xf32>, %k: tensor<1x2x1x8xf32>, %v: tensor<1x2x1x8xf32>, %kc: tensor<1x2x32x8xi8> {attn.tied_result = 1 : i64}, %vc: tensor<1x2x32x8xi8> {attn.tied_result = 2 : i64}, %ks: tensor<1x2xf32>, %vs: tensor<1x2xf32>, %i: index) -> (tensor<1x2x1x8xf32>, tensor<1x2x32x8xi8>, tensor<1x2x32x8xi8>) {
  %o = tensor.empty() : tensor<1x2x1x8xf32>
  // expected-error @+1 {{has 'i8' caches already; --kv-cache-type converts float caches}}
  %r:3 = attn.decode heads(2, 2) scale(0.5) ins(%q, %k, %v : tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>) position(%i) outs(%o, %kc, %vc : tensor<1x2x1x8xf32>, tensor<1x2x32x8xi8>, tensor<1x2x32x8xi8>) cache_scales(%ks, %vs : tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x2x1x8xf32>, tensor<1x2x32x8xi8>, tensor<1x2x32x8xi8>
  return %r#0, %r#1, %r#2 : tensor<1x2x1x8xf32>, tensor<1x2x32x8xi8>, tensor<1x2x32x8xi8>
}

// -----

// Latent (MLA) caches store every element once; they have no 8-bit form yet.
func.func @latent(%q: tensor<1x4x1x20xf32>, %c: tensor<1x1x1x16xf32>, %r: tensor<1x1x1x4xf32>, %lc: tensor<1x1x32x16xf32> {attn.tied_result = 1 : i64}, %rc: tensor<1x1x32x4xf32> {attn.tied_result = 2 : i64}, %i: index) -> (tensor<1x4x1x16xf32>, tensor<1x1x32x16xf32>, tensor<1x1x32x4xf32>) {
  %o = tensor.empty() : tensor<1x4x1x16xf32>
  // expected-error @+1 {{has latent (MLA) caches; --kv-cache-type does not convert them yet}}
  %res:3 = attn.decode heads(4, 1) scale(0.5) causal latent(16) ins(%q, %c, %r : tensor<1x4x1x20xf32>, tensor<1x1x1x16xf32>, tensor<1x1x1x4xf32>) position(%i) outs(%o, %lc, %rc : tensor<1x4x1x16xf32>, tensor<1x1x32x16xf32>, tensor<1x1x32x4xf32>) -> tensor<1x4x1x16xf32>, tensor<1x1x32x16xf32>, tensor<1x1x32x4xf32>
  return %res#0, %res#1, %res#2 : tensor<1x4x1x16xf32>, tensor<1x1x32x16xf32>, tensor<1x1x32x4xf32>
}
