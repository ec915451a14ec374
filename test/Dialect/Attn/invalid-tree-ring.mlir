// RUN: attn-opt %s -split-input-file -verify-diagnostics

// Each case breaks exactly one verifier rule of the decode's tree mask
// (speculative-decode verification) or ring caches (window layers).

func.func @tree_rank(%q: memref<2x4x3x8xf32>, %k: memref<2x4x3x8xf32>, %v: memref<2x4x3x8xf32>, %o: memref<2x4x3x8xf32>, %kc: memref<2x4x16x8xf32>, %vc: memref<2x4x16x8xf32>, %pos: memref<2xi32>, %tree: memref<3xi1>) {
  // expected-error @+1 {{'tree_mask' must have rank 2 ([Sn, Sn]) or 3 ([B, Sn, Sn]), got rank 1}}
  attn.decode heads(4, 4) scale(0.5) causal ins(%q, %k, %v : memref<2x4x3x8xf32>, memref<2x4x3x8xf32>, memref<2x4x3x8xf32>) positions(%pos : memref<2xi32>) tree_mask(%tree : memref<3xi1>) outs(%o, %kc, %vc : memref<2x4x3x8xf32>, memref<2x4x16x8xf32>, memref<2x4x16x8xf32>)
  return
}

// -----

func.func @tree_needs_sq_eq_sn(%q: memref<2x4x1x8xf32>, %k: memref<2x4x3x8xf32>, %v: memref<2x4x3x8xf32>, %o: memref<2x4x1x8xf32>, %kc: memref<2x4x16x8xf32>, %vc: memref<2x4x16x8xf32>, %pos: memref<2xi32>, %tree: memref<3x3xi1>) {
  // expected-error @+1 {{with a 'tree_mask' needs one query row per new token (Sq == Sn), got Sq = 1 and Sn = 3}}
  attn.decode heads(4, 4) scale(0.5) causal ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x3x8xf32>, memref<2x4x3x8xf32>) positions(%pos : memref<2xi32>) tree_mask(%tree : memref<3x3xi1>) outs(%o, %kc, %vc : memref<2x4x1x8xf32>, memref<2x4x16x8xf32>, memref<2x4x16x8xf32>)
  return
}

// -----

func.func @tree_batch(%q: memref<2x4x3x8xf32>, %k: memref<2x4x3x8xf32>, %v: memref<2x4x3x8xf32>, %o: memref<2x4x3x8xf32>, %kc: memref<2x4x16x8xf32>, %vc: memref<2x4x16x8xf32>, %pos: memref<2xi32>, %tree: memref<3x3x3xi1>) {
  // expected-error @+1 {{'tree_mask' dimension 0 (batch) is 3, expected 2}}
  attn.decode heads(4, 4) scale(0.5) causal ins(%q, %k, %v : memref<2x4x3x8xf32>, memref<2x4x3x8xf32>, memref<2x4x3x8xf32>) positions(%pos : memref<2xi32>) tree_mask(%tree : memref<3x3x3xi1>) outs(%o, %kc, %vc : memref<2x4x3x8xf32>, memref<2x4x16x8xf32>, memref<2x4x16x8xf32>)
  return
}

// -----

func.func @tree_rows(%q: memref<2x4x3x8xf32>, %k: memref<2x4x3x8xf32>, %v: memref<2x4x3x8xf32>, %o: memref<2x4x3x8xf32>, %kc: memref<2x4x16x8xf32>, %vc: memref<2x4x16x8xf32>, %pos: memref<2xi32>, %tree: memref<4x3xi1>) {
  // expected-error @+1 {{'tree_mask' dimension 0 (new query rows) is 4, expected 3}}
  attn.decode heads(4, 4) scale(0.5) causal ins(%q, %k, %v : memref<2x4x3x8xf32>, memref<2x4x3x8xf32>, memref<2x4x3x8xf32>) positions(%pos : memref<2xi32>) tree_mask(%tree : memref<4x3xi1>) outs(%o, %kc, %vc : memref<2x4x3x8xf32>, memref<2x4x16x8xf32>, memref<2x4x16x8xf32>)
  return
}

// -----

func.func @tree_tokens(%q: memref<2x4x3x8xf32>, %k: memref<2x4x3x8xf32>, %v: memref<2x4x3x8xf32>, %o: memref<2x4x3x8xf32>, %kc: memref<2x4x16x8xf32>, %vc: memref<2x4x16x8xf32>, %pos: memref<2xi32>, %tree: memref<2x3x2xi1>) {
  // expected-error @+1 {{'tree_mask' dimension 2 (new tokens) is 2, expected 3}}
  attn.decode heads(4, 4) scale(0.5) causal ins(%q, %k, %v : memref<2x4x3x8xf32>, memref<2x4x3x8xf32>, memref<2x4x3x8xf32>) positions(%pos : memref<2xi32>) tree_mask(%tree : memref<2x3x2xi1>) outs(%o, %kc, %vc : memref<2x4x3x8xf32>, memref<2x4x16x8xf32>, memref<2x4x16x8xf32>)
  return
}

// -----

func.func @tree_element_type(%q: memref<2x4x3x8xf32>, %k: memref<2x4x3x8xf32>, %v: memref<2x4x3x8xf32>, %o: memref<2x4x3x8xf32>, %kc: memref<2x4x16x8xf32>, %vc: memref<2x4x16x8xf32>, %pos: memref<2xi32>, %tree: memref<3x3xf32>) {
  // expected-error @+1 {{operand #7 must be ranked tensor of 1-bit signless integer or 8-bit signless integer values or memref of 1-bit signless integer or 8-bit signless integer values}}
  attn.decode heads(4, 4) scale(0.5) causal ins(%q, %k, %v : memref<2x4x3x8xf32>, memref<2x4x3x8xf32>, memref<2x4x3x8xf32>) positions(%pos : memref<2xi32>) tree_mask(%tree : memref<3x3xf32>) outs(%o, %kc, %vc : memref<2x4x3x8xf32>, memref<2x4x16x8xf32>, memref<2x4x16x8xf32>)
  return
}

// -----

func.func @ring_needs_causal(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kc: memref<2x4x16x8xf32>, %vc: memref<2x4x16x8xf32>, %pos: memref<2xi32>) {
  // expected-error @+1 {{'ring' caches need 'causal'}}
  attn.decode heads(4, 4) scale(0.5) window(7, 0) ring ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) positions(%pos : memref<2xi32>) outs(%o, %kc, %vc : memref<2x4x1x8xf32>, memref<2x4x16x8xf32>, memref<2x4x16x8xf32>)
  return
}

// -----

func.func @ring_needs_window(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kc: memref<2x4x16x8xf32>, %vc: memref<2x4x16x8xf32>, %pos: memref<2xi32>) {
  // expected-error @+1 {{'ring' caches need a window bounded on the left, window(L, 0) with L >= 0}}
  attn.decode heads(4, 4) scale(0.5) causal ring ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) positions(%pos : memref<2xi32>) outs(%o, %kc, %vc : memref<2x4x1x8xf32>, memref<2x4x16x8xf32>, memref<2x4x16x8xf32>)
  return
}

// -----

func.func @ring_left_unbounded(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kc: memref<2x4x16x8xf32>, %vc: memref<2x4x16x8xf32>, %pos: memref<2xi32>) {
  // expected-error @+1 {{'ring' caches need a window bounded on the left, window(L, 0) with L >= 0}}
  attn.decode heads(4, 4) scale(0.5) causal window(-1, 0) ring ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) positions(%pos : memref<2xi32>) outs(%o, %kc, %vc : memref<2x4x1x8xf32>, memref<2x4x16x8xf32>, memref<2x4x16x8xf32>)
  return
}

// -----

func.func @ring_right_zero(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kc: memref<2x4x16x8xf32>, %vc: memref<2x4x16x8xf32>, %pos: memref<2xi32>) {
  // expected-error @+1 {{'ring' caches need window(L, 0), got right bound 2}}
  attn.decode heads(4, 4) scale(0.5) causal window(7, 2) ring ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) positions(%pos : memref<2xi32>) outs(%o, %kc, %vc : memref<2x4x1x8xf32>, memref<2x4x16x8xf32>, memref<2x4x16x8xf32>)
  return
}

// -----

func.func @ring_too_short(%q: memref<2x4x3x8xf32>, %k: memref<2x4x3x8xf32>, %v: memref<2x4x3x8xf32>, %o: memref<2x4x3x8xf32>, %kc: memref<2x4x16x8xf32>, %vc: memref<2x4x16x8xf32>, %pos: memref<2xi32>) {
  // expected-error @+1 {{'ring' cache of 16 slots is shorter than the window plus the queries, L + Sq = 15 + 3 = 18}}
  attn.decode heads(4, 4) scale(0.5) causal window(15, 0) ring ins(%q, %k, %v : memref<2x4x3x8xf32>, memref<2x4x3x8xf32>, memref<2x4x3x8xf32>) positions(%pos : memref<2xi32>) outs(%o, %kc, %vc : memref<2x4x3x8xf32>, memref<2x4x16x8xf32>, memref<2x4x16x8xf32>)
  return
}

// -----

func.func @ring_dynamic(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kc: memref<2x4x?x8xf32>, %vc: memref<2x4x?x8xf32>, %pos: memref<2xi32>) {
  // expected-error @+1 {{'ring' caches need static cache and query lengths (to check W >= L + Sq)}}
  attn.decode heads(4, 4) scale(0.5) causal window(7, 0) ring ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) positions(%pos : memref<2xi32>) outs(%o, %kc, %vc : memref<2x4x1x8xf32>, memref<2x4x?x8xf32>, memref<2x4x?x8xf32>)
  return
}

// -----

func.func @ring_no_mask(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kc: memref<2x4x16x8xf32>, %vc: memref<2x4x16x8xf32>, %pos: memref<2xi32>, %m: memref<2x4x1x16xi1>) {
  // expected-error @+1 {{'ring' caches take no 'mask' (it would span the unbounded positions); use 'tree_mask' over the new tokens}}
  attn.decode heads(4, 4) scale(0.5) causal window(7, 0) ring ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) positions(%pos : memref<2xi32>) mask(%m : memref<2x4x1x16xi1>) outs(%o, %kc, %vc : memref<2x4x1x8xf32>, memref<2x4x16x8xf32>, memref<2x4x16x8xf32>)
  return
}

// -----

func.func @ring_not_paged(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kp: memref<16x4x8x8xf32>, %vp: memref<16x4x8x8xf32>, %pos: memref<2xi32>, %t: memref<2x4xi32>) {
  // expected-error @+1 {{'ring' caches cannot be paged ('block_table')}}
  attn.decode heads(4, 4) scale(0.5) causal window(7, 0) ring ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) positions(%pos : memref<2xi32>) block_table(%t : memref<2x4xi32>) outs(%o, %kp, %vp : memref<2x4x1x8xf32>, memref<16x4x8x8xf32>, memref<16x4x8x8xf32>)
  return
}
