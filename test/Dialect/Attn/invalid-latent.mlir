// RUN: attn-opt %s -split-input-file -verify-diagnostics

// Each case breaks exactly one verifier rule of the latent (MLA) decode.

func.func @latent_rank_positive(%q: memref<2x4x1x20xf32>, %c: memref<2x1x1x16xf32>, %r: memref<2x1x1x4xf32>, %o: memref<2x4x1x16xf32>, %lc: memref<2x1x64x16xf32>, %rc: memref<2x1x64x4xf32>, %p: index) {
  // expected-error @+1 {{'latent' rank must be positive, got 0}}
  attn.decode heads(4, 1) scale(0.5) causal latent(0) ins(%q, %c, %r : memref<2x4x1x20xf32>, memref<2x1x1x16xf32>, memref<2x1x1x4xf32>) position(%p) outs(%o, %lc, %rc : memref<2x4x1x16xf32>, memref<2x1x64x16xf32>, memref<2x1x64x4xf32>)
  return
}

// -----

func.func @latent_one_kv_head(%q: memref<2x4x1x20xf32>, %c: memref<2x2x1x16xf32>, %r: memref<2x2x1x4xf32>, %o: memref<2x4x1x16xf32>, %lc: memref<2x2x64x16xf32>, %rc: memref<2x2x64x4xf32>, %p: index) {
  // expected-error @+1 {{needs one key/value head, got 2}}
  attn.decode heads(4, 2) scale(0.5) causal latent(16) ins(%q, %c, %r : memref<2x4x1x20xf32>, memref<2x2x1x16xf32>, memref<2x2x1x4xf32>) position(%p) outs(%o, %lc, %rc : memref<2x4x1x16xf32>, memref<2x2x64x16xf32>, memref<2x2x64x4xf32>)
  return
}

// -----

func.func @latent_query_width(%q: memref<2x4x1x24xf32>, %c: memref<2x1x1x16xf32>, %r: memref<2x1x1x4xf32>, %o: memref<2x4x1x16xf32>, %lc: memref<2x1x64x16xf32>, %rc: memref<2x1x64x4xf32>, %p: index) {
  // expected-error @+1 {{'latent' query's head size must be the latent rank plus the rotary size, 16 + 4 = 20, got 24}}
  attn.decode heads(4, 1) scale(0.5) causal latent(16) ins(%q, %c, %r : memref<2x4x1x24xf32>, memref<2x1x1x16xf32>, memref<2x1x1x4xf32>) position(%p) outs(%o, %lc, %rc : memref<2x4x1x16xf32>, memref<2x1x64x16xf32>, memref<2x1x64x4xf32>)
  return
}

// -----

func.func @latent_init_width(%q: memref<2x4x1x20xf32>, %c: memref<2x1x1x16xf32>, %r: memref<2x1x1x4xf32>, %o: memref<2x4x1x20xf32>, %lc: memref<2x1x64x16xf32>, %rc: memref<2x1x64x4xf32>, %p: index) {
  // expected-error @+1 {{'init' dimension 3 (latent rank)}}
  attn.decode heads(4, 1) scale(0.5) causal latent(16) ins(%q, %c, %r : memref<2x4x1x20xf32>, memref<2x1x1x16xf32>, memref<2x1x1x4xf32>) position(%p) outs(%o, %lc, %rc : memref<2x4x1x20xf32>, memref<2x1x64x16xf32>, memref<2x1x64x4xf32>)
  return
}

// -----

func.func @latent_cache_rank(%q: memref<2x4x1x20xf32>, %c: memref<2x1x1x16xf32>, %r: memref<2x1x1x4xf32>, %o: memref<2x4x1x16xf32>, %lc: memref<2x1x64x12xf32>, %rc: memref<2x1x64x4xf32>, %p: index) {
  // expected-error @+1 {{'key_cache' dimension 3 (latent rank)}}
  attn.decode heads(4, 1) scale(0.5) causal latent(16) ins(%q, %c, %r : memref<2x4x1x20xf32>, memref<2x1x1x16xf32>, memref<2x1x1x4xf32>) position(%p) outs(%o, %lc, %rc : memref<2x4x1x16xf32>, memref<2x1x64x12xf32>, memref<2x1x64x4xf32>)
  return
}

// -----

func.func @latent_new_latent(%q: memref<2x4x1x20xf32>, %c: memref<2x1x1x12xf32>, %r: memref<2x1x1x4xf32>, %o: memref<2x4x1x16xf32>, %lc: memref<2x1x64x16xf32>, %rc: memref<2x1x64x4xf32>, %p: index) {
  // expected-error @+1 {{'key' dimension 3 (latent rank)}}
  attn.decode heads(4, 1) scale(0.5) causal latent(16) ins(%q, %c, %r : memref<2x4x1x20xf32>, memref<2x1x1x12xf32>, memref<2x1x1x4xf32>) position(%p) outs(%o, %lc, %rc : memref<2x4x1x16xf32>, memref<2x1x64x16xf32>, memref<2x1x64x4xf32>)
  return
}

// -----

func.func @latent_new_rope(%q: memref<2x4x1x20xf32>, %c: memref<2x1x1x16xf32>, %r: memref<2x1x1x2xf32>, %o: memref<2x4x1x16xf32>, %lc: memref<2x1x64x16xf32>, %rc: memref<2x1x64x4xf32>, %p: index) {
  // expected-error @+1 {{'value' dimension 3 (rotary size)}}
  attn.decode heads(4, 1) scale(0.5) causal latent(16) ins(%q, %c, %r : memref<2x4x1x20xf32>, memref<2x1x1x16xf32>, memref<2x1x1x2xf32>) position(%p) outs(%o, %lc, %rc : memref<2x4x1x16xf32>, memref<2x1x64x16xf32>, memref<2x1x64x4xf32>)
  return
}

// -----

func.func @latent_cache_length(%q: memref<2x4x1x20xf32>, %c: memref<2x1x1x16xf32>, %r: memref<2x1x1x4xf32>, %o: memref<2x4x1x16xf32>, %lc: memref<2x1x64x16xf32>, %rc: memref<2x1x32x4xf32>, %p: index) {
  // expected-error @+1 {{'value_cache' dimension 2 (cache length)}}
  attn.decode heads(4, 1) scale(0.5) causal latent(16) ins(%q, %c, %r : memref<2x4x1x20xf32>, memref<2x1x1x16xf32>, memref<2x1x1x4xf32>) position(%p) outs(%o, %lc, %rc : memref<2x4x1x16xf32>, memref<2x1x64x16xf32>, memref<2x1x32x4xf32>)
  return
}

// -----

func.func @latent_not_ring(%q: memref<2x4x1x20xf32>, %c: memref<2x1x1x16xf32>, %r: memref<2x1x1x4xf32>, %o: memref<2x4x1x16xf32>, %lc: memref<2x1x64x16xf32>, %rc: memref<2x1x64x4xf32>, %p: index) {
  // expected-error @+1 {{'latent' caches are not supported with paged, 8-bit or ring caches or a tree mask}}
  attn.decode heads(4, 1) scale(0.5) causal window(31, 0) ring latent(16) ins(%q, %c, %r : memref<2x4x1x20xf32>, memref<2x1x1x16xf32>, memref<2x1x1x4xf32>) position(%p) outs(%o, %lc, %rc : memref<2x4x1x16xf32>, memref<2x1x64x16xf32>, memref<2x1x64x4xf32>)
  return
}
