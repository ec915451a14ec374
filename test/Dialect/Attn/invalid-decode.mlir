// RUN: attn-opt %s -split-input-file -verify-diagnostics

// Each case breaks exactly one verifier rule specific to attn.decode.

func.func @decode_heads_not_dividing(%q: memref<1x6x1x16xf32>, %k: memref<1x4x1x16xf32>, %v: memref<1x4x1x16xf32>, %o: memref<1x6x1x16xf32>, %kc: memref<1x4x64x16xf32>, %vc: memref<1x4x64x16xf32>, %p: index) {
  // expected-error @+1 {{q_heads (6) must be a multiple of kv_heads (4)}}
  attn.decode heads(6, 4) scale(0.25) ins(%q, %k, %v : memref<1x6x1x16xf32>, memref<1x4x1x16xf32>, memref<1x4x1x16xf32>) position(%p) outs(%o, %kc, %vc : memref<1x6x1x16xf32>, memref<1x4x64x16xf32>, memref<1x4x64x16xf32>)
  return
}

// -----

func.func @key_cache_rank(%q: memref<1x8x1x16xf32>, %k: memref<1x2x1x16xf32>, %v: memref<1x2x1x16xf32>, %o: memref<1x8x1x16xf32>, %kc: memref<2x64x16xf32>, %vc: memref<1x2x64x16xf32>, %p: index) {
  // expected-error @+1 {{'key_cache' must have rank 4 ([B, Hkv, Smax, D]), got rank 3}}
  attn.decode heads(8, 2) scale(0.25) ins(%q, %k, %v : memref<1x8x1x16xf32>, memref<1x2x1x16xf32>, memref<1x2x1x16xf32>) position(%p) outs(%o, %kc, %vc : memref<1x8x1x16xf32>, memref<2x64x16xf32>, memref<1x2x64x16xf32>)
  return
}

// -----

func.func @value_cache_rank(%q: memref<1x8x1x16xf32>, %k: memref<1x2x1x16xf32>, %v: memref<1x2x1x16xf32>, %o: memref<1x8x1x16xf32>, %kc: memref<1x2x64x16xf32>, %vc: memref<2x64x16xf32>, %p: index) {
  // expected-error @+1 {{'value_cache' must have rank 4 ([B, Hkv, Smax, Dv]), got rank 3}}
  attn.decode heads(8, 2) scale(0.25) ins(%q, %k, %v : memref<1x8x1x16xf32>, memref<1x2x1x16xf32>, memref<1x2x1x16xf32>) position(%p) outs(%o, %kc, %vc : memref<1x8x1x16xf32>, memref<1x2x64x16xf32>, memref<2x64x16xf32>)
  return
}

// -----

func.func @key_cache_heads(%q: memref<1x8x1x16xf32>, %k: memref<1x2x1x16xf32>, %v: memref<1x2x1x16xf32>, %o: memref<1x8x1x16xf32>, %kc: memref<1x8x64x16xf32>, %vc: memref<1x2x64x16xf32>, %p: index) {
  // The cache holds the KV heads, not one copy per query head.
  // expected-error @+1 {{'key_cache' dimension 1 (key/value heads) is 8, expected 2}}
  attn.decode heads(8, 2) scale(0.25) ins(%q, %k, %v : memref<1x8x1x16xf32>, memref<1x2x1x16xf32>, memref<1x2x1x16xf32>) position(%p) outs(%o, %kc, %vc : memref<1x8x1x16xf32>, memref<1x8x64x16xf32>, memref<1x2x64x16xf32>)
  return
}

// -----

func.func @key_cache_head_size(%q: memref<1x8x1x16xf32>, %k: memref<1x2x1x16xf32>, %v: memref<1x2x1x16xf32>, %o: memref<1x8x1x16xf32>, %kc: memref<1x2x64x32xf32>, %vc: memref<1x2x64x16xf32>, %p: index) {
  // expected-error @+1 {{'key_cache' dimension 3 (head size) is 32, expected 16}}
  attn.decode heads(8, 2) scale(0.25) ins(%q, %k, %v : memref<1x8x1x16xf32>, memref<1x2x1x16xf32>, memref<1x2x1x16xf32>) position(%p) outs(%o, %kc, %vc : memref<1x8x1x16xf32>, memref<1x2x64x32xf32>, memref<1x2x64x16xf32>)
  return
}

// -----

func.func @value_cache_length(%q: memref<1x8x1x16xf32>, %k: memref<1x2x1x16xf32>, %v: memref<1x2x1x16xf32>, %o: memref<1x8x1x16xf32>, %kc: memref<1x2x64x16xf32>, %vc: memref<1x2x32x16xf32>, %p: index) {
  // expected-error @+1 {{'value_cache' dimension 2 (cache length) is 32, expected 64}}
  attn.decode heads(8, 2) scale(0.25) ins(%q, %k, %v : memref<1x8x1x16xf32>, memref<1x2x1x16xf32>, memref<1x2x1x16xf32>) position(%p) outs(%o, %kc, %vc : memref<1x8x1x16xf32>, memref<1x2x64x16xf32>, memref<1x2x32x16xf32>)
  return
}

// -----

func.func @new_value_count(%q: memref<1x8x1x16xf32>, %k: memref<1x2x1x16xf32>, %v: memref<1x2x2x16xf32>, %o: memref<1x8x1x16xf32>, %kc: memref<1x2x64x16xf32>, %vc: memref<1x2x64x16xf32>, %p: index) {
  // expected-error @+1 {{'value' dimension 2 (new key count) is 2, expected 1}}
  attn.decode heads(8, 2) scale(0.25) ins(%q, %k, %v : memref<1x8x1x16xf32>, memref<1x2x1x16xf32>, memref<1x2x2x16xf32>) position(%p) outs(%o, %kc, %vc : memref<1x8x1x16xf32>, memref<1x2x64x16xf32>, memref<1x2x64x16xf32>)
  return
}

// -----

func.func @append_overflows_cache(%q: memref<1x8x1x16xf32>, %k: memref<1x2x8x16xf32>, %v: memref<1x2x8x16xf32>, %o: memref<1x8x1x16xf32>, %kc: memref<1x2x4x16xf32>, %vc: memref<1x2x4x16xf32>, %p: index) {
  // expected-error @+1 {{'key' appends 8 positions, more than the cache holds (4)}}
  attn.decode heads(8, 2) scale(0.25) ins(%q, %k, %v : memref<1x8x1x16xf32>, memref<1x2x8x16xf32>, memref<1x2x8x16xf32>) position(%p) outs(%o, %kc, %vc : memref<1x8x1x16xf32>, memref<1x2x4x16xf32>, memref<1x2x4x16xf32>)
  return
}

// -----

// The caches may be narrower than the queries (docs/AttnDialect.md,
// "Quantised KV caches"), but both caches have one type.
func.func @cache_element_type(%q: memref<1x8x1x16xf32>, %k: memref<1x2x1x16xf32>, %v: memref<1x2x1x16xf32>, %o: memref<1x8x1x16xf32>, %kc: memref<1x2x64x16xf16>, %vc: memref<1x2x64x16xf32>, %p: index) {
  // expected-error @+1 {{key_cache and value_cache must have one element type, got 'f16' and 'f32'}}
  attn.decode heads(8, 2) scale(0.25) ins(%q, %k, %v : memref<1x8x1x16xf32>, memref<1x2x1x16xf32>, memref<1x2x1x16xf32>) position(%p) outs(%o, %kc, %vc : memref<1x8x1x16xf32>, memref<1x2x64x16xf16>, memref<1x2x64x16xf32>)
  return
}

// -----

func.func @decode_mask_spans_cache(%q: memref<1x8x1x16xf32>, %k: memref<1x2x1x16xf32>, %v: memref<1x2x1x16xf32>, %o: memref<1x8x1x16xf32>, %kc: memref<1x2x64x16xf32>, %vc: memref<1x2x64x16xf32>, %p: index, %m: memref<1x1xi1>) {
  // The decode mask covers the whole cache (Smax), not just the new keys.
  // expected-error @+1 {{'mask' dimension 1 (key length) is 1, expected 64}}
  attn.decode heads(8, 2) scale(0.25) ins(%q, %k, %v : memref<1x8x1x16xf32>, memref<1x2x1x16xf32>, memref<1x2x1x16xf32>) position(%p) mask(%m : memref<1x1xi1>) outs(%o, %kc, %vc : memref<1x8x1x16xf32>, memref<1x2x64x16xf32>, memref<1x2x64x16xf32>)
  return
}

// -----

func.func @decode_tensor_results(%q: tensor<1x8x1x16xf32>, %k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %o: tensor<1x8x1x16xf32>, %kc: tensor<1x2x64x16xf32>, %vc: tensor<1x2x64x16xf32>, %p: index) -> tensor<1x8x1x16xf32> {
  // On tensors the op returns the output and both updated caches.
  // expected-error @+1 {{on tensors must have 3 result(s), one per destination}}
  %r = attn.decode heads(8, 2) scale(0.25) ins(%q, %k, %v : tensor<1x8x1x16xf32>, tensor<1x2x1x16xf32>, tensor<1x2x1x16xf32>) position(%p) outs(%o, %kc, %vc : tensor<1x8x1x16xf32>, tensor<1x2x64x16xf32>, tensor<1x2x64x16xf32>) -> tensor<1x8x1x16xf32>
  return %r : tensor<1x8x1x16xf32>
}
