// RUN: attn-opt %s -split-input-file -verify-diagnostics

// Each case breaks exactly one verifier rule of attn.attention / attn.decode.

func.func @zero_heads(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %o: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{head counts must be positive, got heads(4, 0)}}
  %r = attn.attention heads(4, 0) scale(0.25) ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @heads_not_dividing(%q: tensor<1x9x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %o: tensor<1x9x8x16xf32>) -> tensor<1x9x8x16xf32> {
  // expected-error @+1 {{q_heads (9) must be a multiple of kv_heads (2)}}
  %r = attn.attention heads(9, 2) scale(0.25) ins(%q, %k, %v : tensor<1x9x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) outs(%o : tensor<1x9x8x16xf32>) -> tensor<1x9x8x16xf32>
  return %r : tensor<1x9x8x16xf32>
}

// -----

func.func @scale_not_finite(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %o: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{scale must be finite}}
  %r = attn.attention heads(4, 2) scale(0x7FF0000000000000) ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @softcap_not_positive(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %o: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{softcap must be positive and finite}}
  %r = attn.attention heads(4, 2) scale(0.25) softcap(-1.0) ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @negative_causal_offset(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %o: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{causal offset must be non-negative, got -1}}
  %r = attn.attention heads(4, 2) scale(0.25) causal(-1) ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @query_rank(%q: tensor<4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %o: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'query' must have rank 4 ([B, Hq, Sq, D]), got rank 3}}
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @key_rank(%q: tensor<1x4x8x16xf32>, %k: tensor<2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %o: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'key' must have rank 4 ([B, Hkv, Skv, D]), got rank 3}}
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<2x8x16xf32>, tensor<1x2x8x16xf32>) outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @value_rank(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<2x8x16xf32>, %o: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'value' must have rank 4 ([B, Hkv, Skv, Dv]), got rank 3}}
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<2x8x16xf32>) outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @init_rank(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %o: tensor<4x8x16xf32>) -> tensor<4x8x16xf32> {
  // expected-error @+1 {{'init' must have rank 4 ([B, Hq, Sq, Dv]), got rank 3}}
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) outs(%o : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  return %r : tensor<4x8x16xf32>
}

// -----

func.func @query_heads(%q: tensor<1x8x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %o: tensor<1x8x8x16xf32>) -> tensor<1x8x8x16xf32> {
  // expected-error @+1 {{'query' dimension 1 (query heads) is 8, expected 4}}
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<1x8x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) outs(%o : tensor<1x8x8x16xf32>) -> tensor<1x8x8x16xf32>
  return %r : tensor<1x8x8x16xf32>
}

// -----

func.func @key_batch(%q: tensor<1x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %o: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'key' dimension 0 (batch) is 2, expected 1}}
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<1x2x8x16xf32>) outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @key_heads(%q: tensor<1x4x8x16xf32>, %k: tensor<1x4x8x16xf32>, %v: tensor<1x2x8x16xf32>, %o: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'key' dimension 1 (key/value heads) is 4, expected 2}}
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>) outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @key_head_size(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x8xf32>, %v: tensor<1x2x8x16xf32>, %o: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'key' dimension 3 (head size) is 8, expected 16}}
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x2x8x8xf32>, tensor<1x2x8x16xf32>) outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @value_batch(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<3x2x8x16xf32>, %o: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'value' dimension 0 (batch) is 3, expected 1}}
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<3x2x8x16xf32>) outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @value_heads(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x1x8x16xf32>, %o: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'value' dimension 1 (key/value heads) is 1, expected 2}}
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x1x8x16xf32>) outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @value_length(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x9x16xf32>, %o: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'value' dimension 2 (key length) is 9, expected 8}}
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x9x16xf32>) outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @init_batch(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %o: tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{'init' dimension 0 (batch) is 2, expected 1}}
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) outs(%o : tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32>
  return %r : tensor<2x4x8x16xf32>
}

// -----

func.func @init_heads(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %o: tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32> {
  // expected-error @+1 {{'init' dimension 1 (query heads) is 2, expected 4}}
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) outs(%o : tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32>
  return %r : tensor<1x2x8x16xf32>
}

// -----

func.func @init_length(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %o: tensor<1x4x1x16xf32>) -> tensor<1x4x1x16xf32> {
  // expected-error @+1 {{'init' dimension 2 (query length) is 1, expected 8}}
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) outs(%o : tensor<1x4x1x16xf32>) -> tensor<1x4x1x16xf32>
  return %r : tensor<1x4x1x16xf32>
}

// -----

func.func @init_value_head_size(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x32xf32>, %o: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'init' dimension 3 (value head size) is 16, expected 32}}
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x32xf32>) outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @key_element_type(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf16>, %v: tensor<1x2x8x16xf32>, %o: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'key' element type 'f16' does not match 'query' element type 'f32'}}
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf16>, tensor<1x2x8x16xf32>) outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @value_element_type(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xbf16>, %o: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'value' element type 'bf16' does not match 'query' element type 'f32'}}
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xbf16>) outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @init_element_type(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %o: tensor<1x4x8x16xf16>) -> tensor<1x4x8x16xf16> {
  // expected-error @+1 {{'init' element type 'f16' does not match 'query' element type 'f32'}}
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) outs(%o : tensor<1x4x8x16xf16>) -> tensor<1x4x8x16xf16>
  return %r : tensor<1x4x8x16xf16>
}

// -----

func.func @integer_query(%q: tensor<1x4x8x16xi32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %o: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{operand #0 must be ranked tensor of 16-bit float or bfloat16 type or 32-bit float values or memref of 16-bit float or bfloat16 type or 32-bit float values}}
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<1x4x8x16xi32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @mask_rank(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %o: tensor<1x4x8x16xf32>, %m: tensor<8xi1>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'mask' must have rank 2, 3 or 4 (broadcastable to [B, Hq, Sq, Skv]), got rank 1}}
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) mask(%m : tensor<8xi1>) outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @mask_key_length(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %o: tensor<1x4x8x16xf32>, %m: tensor<8x1xf32>) -> tensor<1x4x8x16xf32> {
  // The key dimension of a mask never broadcasts.
  // expected-error @+1 {{'mask' dimension 1 (key length) is 1, expected 8}}
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) mask(%m : tensor<8x1xf32>) outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @mask_heads(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %o: tensor<1x4x8x16xf32>, %m: tensor<2x8x8xi1>) -> tensor<1x4x8x16xf32> {
  // A 3-D mask spans query heads (or broadcasts with 1), not KV heads.
  // expected-error @+1 {{'mask' dimension 0 (query heads) is 2, expected 4 or 1}}
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) mask(%m : tensor<2x8x8xi1>) outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @mask_batch(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>, %o: tensor<2x4x8x16xf32>, %m: tensor<3x1x8x8xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{'mask' dimension 0 (batch) is 3, expected 2 or 1}}
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) mask(%m : tensor<3x1x8x8xf32>) outs(%o : tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32>
  return %r : tensor<2x4x8x16xf32>
}

// -----

func.func @mask_element_type(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %o: tensor<1x4x8x16xf32>, %m: tensor<8x8xi8>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{operand #3 must be ranked tensor of 1-bit signless integer or 16-bit float or bfloat16 type or 32-bit float values or memref of 1-bit signless integer or 16-bit float or bfloat16 type or 32-bit float values}}
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) mask(%m : tensor<8x8xi8>) outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @kv_seq_lens_rank(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %o: tensor<1x4x8x16xf32>, %l: tensor<1x1xi32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'kv_seq_lens' must have rank 1 ([B])}}
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) kv_seq_lens(%l : tensor<1x1xi32>) outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @kv_seq_lens_batch(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %o: tensor<1x4x8x16xf32>, %l: tensor<2xi64>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'kv_seq_lens' dimension 0 (batch) is 2, expected 1}}
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) kv_seq_lens(%l : tensor<2xi64>) outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @mixed_tensor_memref(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %o: memref<1x4x8x16xf32>) {
  // expected-error @+1 {{operands must be all tensors or all memrefs, not a mix}}
  attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) outs(%o : memref<1x4x8x16xf32>)
  return
}

// -----

func.func @memref_with_result(%q: memref<1x4x8x16xf32>, %k: memref<1x2x8x16xf32>, %v: memref<1x2x8x16xf32>, %o: memref<1x4x8x16xf32>) {
  // expected-error @+1 {{on memrefs must have no results}}
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : memref<1x4x8x16xf32>, memref<1x2x8x16xf32>, memref<1x2x8x16xf32>) outs(%o : memref<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return
}

// -----

func.func @tensor_without_result(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %o: tensor<1x4x8x16xf32>) {
  // expected-error @+1 {{on tensors must have 1 result(s), one per destination}}
  attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) outs(%o : tensor<1x4x8x16xf32>)
  return
}

// -----

func.func @result_type(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %o: tensor<1x4x8x16xf32>) -> tensor<1x4x8x?xf32> {
  // expected-error @+1 {{result 0 type 'tensor<1x4x8x?xf32>' does not match its destination type 'tensor<1x4x8x16xf32>'}}
  %r = attn.attention heads(4, 2) scale(0.25) ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x?xf32>
  return %r : tensor<1x4x8x?xf32>
}
