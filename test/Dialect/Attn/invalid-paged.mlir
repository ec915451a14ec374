// RUN: attn-opt %s -split-input-file -verify-diagnostics

// Each case breaks exactly one verifier rule of the paged decode
// (block_table with page pools [num_pages, Hkv, page_size, D]).

func.func @paged_needs_positions(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kp: memref<16x4x8x8xf32>, %vp: memref<16x4x8x8xf32>, %p: index, %t: memref<2x4xi32>) {
  // expected-error @+1 {{with a 'block_table' needs per-row 'positions' ([B]), not one 'position'}}
  attn.decode heads(4, 4) scale(0.5) ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) position(%p) block_table(%t : memref<2x4xi32>) outs(%o, %kp, %vp : memref<2x4x1x8xf32>, memref<16x4x8x8xf32>, memref<16x4x8x8xf32>)
  return
}

// -----

func.func @table_rank(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kp: memref<16x4x8x8xf32>, %vp: memref<16x4x8x8xf32>, %pos: memref<2xi32>, %t: memref<8xi32>) {
  // expected-error @+1 {{'block_table' must have rank 2 ([B, max_pages]), got rank 1}}
  attn.decode heads(4, 4) scale(0.5) ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) positions(%pos : memref<2xi32>) block_table(%t : memref<8xi32>) outs(%o, %kp, %vp : memref<2x4x1x8xf32>, memref<16x4x8x8xf32>, memref<16x4x8x8xf32>)
  return
}

// -----

func.func @table_batch(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kp: memref<16x4x8x8xf32>, %vp: memref<16x4x8x8xf32>, %pos: memref<2xi32>, %t: memref<3x4xi32>) {
  // expected-error @+1 {{'block_table' dimension 0 (batch) is 3, expected 2}}
  attn.decode heads(4, 4) scale(0.5) ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) positions(%pos : memref<2xi32>) block_table(%t : memref<3x4xi32>) outs(%o, %kp, %vp : memref<2x4x1x8xf32>, memref<16x4x8x8xf32>, memref<16x4x8x8xf32>)
  return
}

// -----

func.func @table_float(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kp: memref<16x4x8x8xf32>, %vp: memref<16x4x8x8xf32>, %pos: memref<2xi32>, %t: memref<2x4xf32>) {
  // expected-error @+1 {{operand #4 must be ranked tensor of 32-bit signless integer or 64-bit signless integer values or memref of 32-bit signless integer or 64-bit signless integer values}}
  attn.decode heads(4, 4) scale(0.5) ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) positions(%pos : memref<2xi32>) block_table(%t : memref<2x4xf32>) outs(%o, %kp, %vp : memref<2x4x1x8xf32>, memref<16x4x8x8xf32>, memref<16x4x8x8xf32>)
  return
}

// -----

func.func @table_i16(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kp: memref<16x4x8x8xf32>, %vp: memref<16x4x8x8xf32>, %pos: memref<2xi32>, %t: memref<2x4xi16>) {
  // expected-error @+1 {{operand #4 must be ranked tensor of 32-bit signless integer or 64-bit signless integer values or memref of 32-bit signless integer or 64-bit signless integer values}}
  attn.decode heads(4, 4) scale(0.5) ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) positions(%pos : memref<2xi32>) block_table(%t : memref<2x4xi16>) outs(%o, %kp, %vp : memref<2x4x1x8xf32>, memref<16x4x8x8xf32>, memref<16x4x8x8xf32>)
  return
}

// -----

func.func @pool_rank(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kp: memref<16x4x64xf32>, %vp: memref<16x4x8x8xf32>, %pos: memref<2xi32>, %t: memref<2x4xi32>) {
  // expected-error @+1 {{'key_cache' must have rank 4 ([num_pages, Hkv, page_size, D]), got rank 3}}
  attn.decode heads(4, 4) scale(0.5) ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) positions(%pos : memref<2xi32>) block_table(%t : memref<2x4xi32>) outs(%o, %kp, %vp : memref<2x4x1x8xf32>, memref<16x4x64xf32>, memref<16x4x8x8xf32>)
  return
}

// -----

func.func @pool_pages_differ(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kp: memref<16x4x8x8xf32>, %vp: memref<12x4x8x8xf32>, %pos: memref<2xi32>, %t: memref<2x4xi32>) {
  // expected-error @+1 {{'value_cache' dimension 0 (number of pages, as in 'key_cache') is 12, expected 16}}
  attn.decode heads(4, 4) scale(0.5) ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) positions(%pos : memref<2xi32>) block_table(%t : memref<2x4xi32>) outs(%o, %kp, %vp : memref<2x4x1x8xf32>, memref<16x4x8x8xf32>, memref<12x4x8x8xf32>)
  return
}

// -----

func.func @pool_page_size_differs(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kp: memref<16x4x8x8xf32>, %vp: memref<16x4x16x8xf32>, %pos: memref<2xi32>, %t: memref<2x4xi32>) {
  // expected-error @+1 {{'value_cache' dimension 2 (page size, as in 'key_cache') is 16, expected 8}}
  attn.decode heads(4, 4) scale(0.5) ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) positions(%pos : memref<2xi32>) block_table(%t : memref<2x4xi32>) outs(%o, %kp, %vp : memref<2x4x1x8xf32>, memref<16x4x8x8xf32>, memref<16x4x16x8xf32>)
  return
}

// -----

func.func @pool_heads(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kp: memref<16x2x8x8xf32>, %vp: memref<16x4x8x8xf32>, %pos: memref<2xi32>, %t: memref<2x4xi32>) {
  // expected-error @+1 {{'key_cache' dimension 1 (key/value heads) is 2, expected 4}}
  attn.decode heads(4, 4) scale(0.5) ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) positions(%pos : memref<2xi32>) block_table(%t : memref<2x4xi32>) outs(%o, %kp, %vp : memref<2x4x1x8xf32>, memref<16x2x8x8xf32>, memref<16x4x8x8xf32>)
  return
}

// -----

func.func @pool_head_size(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kp: memref<16x4x8x16xf32>, %vp: memref<16x4x8x8xf32>, %pos: memref<2xi32>, %t: memref<2x4xi32>) {
  // expected-error @+1 {{'key_cache' dimension 3 (head size) is 16, expected 8}}
  attn.decode heads(4, 4) scale(0.5) ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) positions(%pos : memref<2xi32>) block_table(%t : memref<2x4xi32>) outs(%o, %kp, %vp : memref<2x4x1x8xf32>, memref<16x4x8x16xf32>, memref<16x4x8x8xf32>)
  return
}

// -----

func.func @page_size_zero(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kp: memref<16x4x0x8xf32>, %vp: memref<16x4x0x8xf32>, %pos: memref<2xi32>, %t: memref<2x4xi32>) {
  // expected-error @+1 {{page size ('key_cache' dimension 2) must be positive}}
  attn.decode heads(4, 4) scale(0.5) ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) positions(%pos : memref<2xi32>) block_table(%t : memref<2x4xi32>) outs(%o, %kp, %vp : memref<2x4x1x8xf32>, memref<16x4x0x8xf32>, memref<16x4x0x8xf32>)
  return
}

// -----

// Capacity is max_pages * page_size = 2 * 4 = 8: appending 9 cannot fit.
func.func @append_past_capacity(%q: memref<2x4x1x8xf32>, %k: memref<2x4x9x8xf32>, %v: memref<2x4x9x8xf32>, %o: memref<2x4x1x8xf32>, %kp: memref<16x4x4x8xf32>, %vp: memref<16x4x4x8xf32>, %pos: memref<2xi32>, %t: memref<2x2xi32>) {
  // expected-error @+1 {{'key' appends 9 positions, more than the cache holds (8)}}
  attn.decode heads(4, 4) scale(0.5) ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x9x8xf32>, memref<2x4x9x8xf32>) positions(%pos : memref<2xi32>) block_table(%t : memref<2x2xi32>) outs(%o, %kp, %vp : memref<2x4x1x8xf32>, memref<16x4x4x8xf32>, memref<16x4x4x8xf32>)
  return
}

// -----

// The mask spans the capacity (2 pages x 4 = 8 positions), not a page.
func.func @mask_length(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kp: memref<16x4x4x8xf32>, %vp: memref<16x4x4x8xf32>, %pos: memref<2xi32>, %t: memref<2x2xi32>, %m: memref<2x4x1x4xi1>) {
  // expected-error @+1 {{'mask' dimension 3 (key length) is 4, expected 8}}
  attn.decode heads(4, 4) scale(0.5) ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) positions(%pos : memref<2xi32>) block_table(%t : memref<2x2xi32>) mask(%m : memref<2x4x1x4xi1>) outs(%o, %kp, %vp : memref<2x4x1x8xf32>, memref<16x4x4x8xf32>, memref<16x4x4x8xf32>)
  return
}

// -----

func.func @paged_int8(%q: memref<2x4x1x8xf32>, %k: memref<2x2x1x8xf32>,
                      %v: memref<2x2x1x8xf32>, %pos: memref<2xi32>,
                      %table: memref<2x4xi32>, %o: memref<2x4x1x8xf32>,
                      %kp: memref<16x2x4x8xi8>, %vp: memref<16x2x4x8xi8>,
                      %ks: memref<2x2xf32>, %vs: memref<2x2xf32>) {
  // expected-error @below {{8-bit caches are not supported with a 'block_table' yet}}
  attn.decode heads(4, 2) scale(0.25) causal
      ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x2x1x8xf32>, memref<2x2x1x8xf32>)
      positions(%pos : memref<2xi32>) block_table(%table : memref<2x4xi32>)
      outs(%o, %kp, %vp : memref<2x4x1x8xf32>, memref<16x2x4x8xi8>, memref<16x2x4x8xi8>)
      cache_scales(%ks, %vs : memref<2x2xf32>, memref<2x2xf32>)
  return
}
