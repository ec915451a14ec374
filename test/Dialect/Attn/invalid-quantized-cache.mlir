// RUN: attn-opt %s -split-input-file -verify-diagnostics

// Each case breaks exactly one verifier rule of quantised decode caches.

func.func @int8_without_scales(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kc: memref<2x4x64x8xi8>, %vc: memref<2x4x64x8xi8>, %p: index) {
  // expected-error @+1 {{has 'i8' caches, which need 'cache_scales' (f32 [B, Hkv])}}
  attn.decode heads(4, 4) scale(0.5) ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) position(%p) outs(%o, %kc, %vc : memref<2x4x1x8xf32>, memref<2x4x64x8xi8>, memref<2x4x64x8xi8>)
  return
}

// -----

func.func @fp8_without_scales(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kc: memref<2x4x64x8xf8E4M3FN>, %vc: memref<2x4x64x8xf8E4M3FN>, %p: index) {
  // expected-error @+1 {{has 'f8E4M3FN' caches, which need 'cache_scales'}}
  attn.decode heads(4, 4) scale(0.5) ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) position(%p) outs(%o, %kc, %vc : memref<2x4x1x8xf32>, memref<2x4x64x8xf8E4M3FN>, memref<2x4x64x8xf8E4M3FN>)
  return
}

// -----

func.func @float_with_scales(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kc: memref<2x4x64x8xf32>, %vc: memref<2x4x64x8xf32>, %p: index, %ks: memref<2x4xf32>, %vs: memref<2x4xf32>) {
  // expected-error @+1 {{has 'f32' caches: 'cache_scales' are only for i8 or f8E4M3FN caches}}
  attn.decode heads(4, 4) scale(0.5) ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) position(%p) outs(%o, %kc, %vc : memref<2x4x1x8xf32>, memref<2x4x64x8xf32>, memref<2x4x64x8xf32>) cache_scales(%ks, %vs : memref<2x4xf32>, memref<2x4xf32>)
  return
}

// -----

func.func @mixed_cache_types(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kc: memref<2x4x64x8xi8>, %vc: memref<2x4x64x8xf8E4M3FN>, %p: index, %ks: memref<2x4xf32>, %vs: memref<2x4xf32>) {
  // expected-error @+1 {{key_cache and value_cache must have one element type, got 'i8' and 'f8E4M3FN'}}
  attn.decode heads(4, 4) scale(0.5) ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) position(%p) outs(%o, %kc, %vc : memref<2x4x1x8xf32>, memref<2x4x64x8xi8>, memref<2x4x64x8xf8E4M3FN>) cache_scales(%ks, %vs : memref<2x4xf32>, memref<2x4xf32>)
  return
}

// -----

func.func @scale_heads(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kc: memref<2x4x64x8xi8>, %vc: memref<2x4x64x8xi8>, %p: index, %ks: memref<2x2xf32>, %vs: memref<2x4xf32>) {
  // expected-error @+1 {{'key_scale' must be [B, Hkv] = [2, 4] (one scale per batch row and KV head), got 'memref<2x2xf32>'}}
  attn.decode heads(4, 4) scale(0.5) ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) position(%p) outs(%o, %kc, %vc : memref<2x4x1x8xf32>, memref<2x4x64x8xi8>, memref<2x4x64x8xi8>) cache_scales(%ks, %vs : memref<2x2xf32>, memref<2x4xf32>)
  return
}

// -----

func.func @scale_rank(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kc: memref<2x4x64x8xi8>, %vc: memref<2x4x64x8xi8>, %p: index, %ks: memref<2x4xf32>, %vs: memref<8xf32>) {
  // expected-error @+1 {{'value_scale' must be [B, Hkv] = [2, 4]}}
  attn.decode heads(4, 4) scale(0.5) ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) position(%p) outs(%o, %kc, %vc : memref<2x4x1x8xf32>, memref<2x4x64x8xi8>, memref<2x4x64x8xi8>) cache_scales(%ks, %vs : memref<2x4xf32>, memref<8xf32>)
  return
}

// -----

// Scales are f32 (the ODS type constraint).
func.func @f16_scales(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kc: memref<2x4x64x8xi8>, %vc: memref<2x4x64x8xi8>, %p: index, %ks: memref<2x4xf16>, %vs: memref<2x4xf16>) {
  // expected-error @+1 {{operand #7 must be ranked tensor of 32-bit float values or memref of 32-bit float values}}
  "attn.decode"(%q, %k, %v, %p, %o, %kc, %vc, %ks, %vs) <{kv_heads = 4 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 0>, q_heads = 4 : i64, scale = 5.000000e-01 : f64}> : (memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, index, memref<2x4x1x8xf32>, memref<2x4x64x8xi8>, memref<2x4x64x8xi8>, memref<2x4xf16>, memref<2x4xf16>) -> ()
  return
}

// -----

// The new keys stay float: an i8 key is refused by the type constraint.
func.func @int8_new_keys(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xi8>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kc: memref<2x4x64x8xi8>, %vc: memref<2x4x64x8xi8>, %p: index, %ks: memref<2x4xf32>, %vs: memref<2x4xf32>) {
  // expected-error @+1 {{operand #1 must be ranked tensor of 16-bit float or bfloat16 type or 32-bit float values or memref of 16-bit float or bfloat16 type or 32-bit float values}}
  attn.decode heads(4, 4) scale(0.5) ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xi8>, memref<2x4x1x8xf32>) position(%p) outs(%o, %kc, %vc : memref<2x4x1x8xf32>, memref<2x4x64x8xi8>, memref<2x4x64x8xi8>) cache_scales(%ks, %vs : memref<2x4xf32>, memref<2x4xf32>)
  return
}

// -----

func.func @key_scale_only(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kc: memref<2x4x64x8xi8>, %vc: memref<2x4x64x8xi8>, %p: index, %ks: memref<2x4xf32>) {
  // expected-error @+1 {{needs both 'key_scale' and 'value_scale' or neither}}
  "attn.decode"(%q, %k, %v, %p, %o, %kc, %vc, %ks) <{kv_heads = 4 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0>, q_heads = 4 : i64, scale = 5.000000e-01 : f64}> : (memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, index, memref<2x4x1x8xf32>, memref<2x4x64x8xi8>, memref<2x4x64x8xi8>, memref<2x4xf32>) -> ()
  return
}
