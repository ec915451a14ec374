// RUN: attn-opt %s -split-input-file -verify-diagnostics

// Each case breaks exactly one verifier rule of the serving forms: per-row
// decode positions and sliding windows.

func.func @position_and_positions(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kc: memref<2x4x64x8xf32>, %vc: memref<2x4x64x8xf32>, %p: index, %pos: memref<2xi64>) {
  // expected-error @+1 {{needs exactly one of 'position' (one index for the batch) and 'positions' ([B], one per row)}}
  attn.decode heads(4, 4) scale(0.5) ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) position(%p) positions(%pos : memref<2xi64>) outs(%o, %kc, %vc : memref<2x4x1x8xf32>, memref<2x4x64x8xf32>, memref<2x4x64x8xf32>)
  return
}

// -----

func.func @no_position(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kc: memref<2x4x64x8xf32>, %vc: memref<2x4x64x8xf32>) {
  // expected-error @+1 {{needs exactly one of 'position'}}
  attn.decode heads(4, 4) scale(0.5) ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) outs(%o, %kc, %vc : memref<2x4x1x8xf32>, memref<2x4x64x8xf32>, memref<2x4x64x8xf32>)
  return
}

// -----

func.func @positions_rank(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kc: memref<2x4x64x8xf32>, %vc: memref<2x4x64x8xf32>, %pos: memref<2x1xi64>) {
  // expected-error @+1 {{'positions' must have rank 1 ([B])}}
  attn.decode heads(4, 4) scale(0.5) ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) positions(%pos : memref<2x1xi64>) outs(%o, %kc, %vc : memref<2x4x1x8xf32>, memref<2x4x64x8xf32>, memref<2x4x64x8xf32>)
  return
}

// -----

func.func @positions_batch(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kc: memref<2x4x64x8xf32>, %vc: memref<2x4x64x8xf32>, %pos: memref<3xi64>) {
  // expected-error @+1 {{'positions' dimension 0 (batch) is 3, expected 2}}
  attn.decode heads(4, 4) scale(0.5) ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) positions(%pos : memref<3xi64>) outs(%o, %kc, %vc : memref<2x4x1x8xf32>, memref<2x4x64x8xf32>, memref<2x4x64x8xf32>)
  return
}

// -----

func.func @positions_float(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kc: memref<2x4x64x8xf32>, %vc: memref<2x4x64x8xf32>, %pos: memref<2xf32>) {
  // expected-error @+1 {{operand #3 must be ranked tensor of 32-bit signless integer or 64-bit signless integer values or memref of 32-bit signless integer or 64-bit signless integer values, but got 'memref<2xf32>'}}
  "attn.decode"(%q, %k, %v, %pos, %o, %kc, %vc) <{operandSegmentSizes = array<i32: 1, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 0>, q_heads = 4 : i64, kv_heads = 4 : i64, scale = 0.5 : f64}> : (memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2xf32>, memref<2x4x1x8xf32>, memref<2x4x64x8xf32>, memref<2x4x64x8xf32>) -> ()
  return
}

// -----

func.func @positions_tensor_on_memrefs(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kc: memref<2x4x64x8xf32>, %vc: memref<2x4x64x8xf32>, %pos: tensor<2xi64>) {
  // expected-error @+1 {{operands must be all tensors or all memrefs, not a mix}}
  attn.decode heads(4, 4) scale(0.5) ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) positions(%pos : tensor<2xi64>) outs(%o, %kc, %vc : memref<2x4x1x8xf32>, memref<2x4x64x8xf32>, memref<2x4x64x8xf32>)
  return
}

// -----

func.func @decode_window_negative(%q: memref<2x4x1x8xf32>, %k: memref<2x4x1x8xf32>, %v: memref<2x4x1x8xf32>, %o: memref<2x4x1x8xf32>, %kc: memref<2x4x64x8xf32>, %vc: memref<2x4x64x8xf32>, %pos: memref<2xi64>) {
  // expected-error @+1 {{window left must be -1 (unbounded) or >= 0, got -2}}
  attn.decode heads(4, 4) scale(0.5) causal window(-2, 0) ins(%q, %k, %v : memref<2x4x1x8xf32>, memref<2x4x1x8xf32>, memref<2x4x1x8xf32>) positions(%pos : memref<2xi64>) outs(%o, %kc, %vc : memref<2x4x1x8xf32>, memref<2x4x64x8xf32>, memref<2x4x64x8xf32>)
  return
}

// -----

func.func @attention_window_right_negative(%q: memref<1x2x4x8xf32>, %k: memref<1x1x4x8xf32>, %v: memref<1x1x4x8xf32>, %o: memref<1x2x4x8xf32>) {
  // expected-error @+1 {{window right must be -1 (unbounded) or >= 0, got -5}}
  attn.attention heads(2, 1) scale(1.0) window(3, -5) ins(%q, %k, %v : memref<1x2x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4x8xf32>) outs(%o : memref<1x2x4x8xf32>)
  return
}

// -----

func.func @attention_window_unbounded_both(%q: memref<1x2x4x8xf32>, %k: memref<1x1x4x8xf32>, %v: memref<1x1x4x8xf32>, %o: memref<1x2x4x8xf32>) {
  // expected-error @+1 {{window(-1, -1) bounds nothing; drop it}}
  attn.attention heads(2, 1) scale(1.0) window(-1, -1) ins(%q, %k, %v : memref<1x2x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4x8xf32>) outs(%o : memref<1x2x4x8xf32>)
  return
}

// -----

func.func @attention_window_one_side(%q: memref<1x2x4x8xf32>, %k: memref<1x1x4x8xf32>, %v: memref<1x1x4x8xf32>, %o: memref<1x2x4x8xf32>) {
  // The generic form can give one side only.
  // expected-error @+1 {{needs both window_left and window_right, or neither}}
  "attn.attention"(%q, %k, %v, %o) <{operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 1>, q_heads = 2 : i64, kv_heads = 1 : i64, scale = 1.0 : f64, window_left = 3 : i64}> : (memref<1x2x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4x8xf32>, memref<1x2x4x8xf32>) -> ()
  return
}
