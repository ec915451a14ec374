// The serving forms of the attn ops, one of each, for the --report test:
// a windowed attention with per-row key lengths, a contiguous decode with
// one position, a paged decode with per-row positions and a window, an
// int8-cache decode with its scales, and a decode carrying an attribute
// the report does not know (printed generically).
func.func @serving(%q: tensor<2x8x16x16xf32>, %k: tensor<2x2x16x16xf32>,
                   %v: tensor<2x2x16x16xf32>, %init: tensor<2x8x16x16xf32>,
                   %lens: tensor<2xi32>,
                   %dq: tensor<2x8x1x16xf32>, %dk: tensor<2x2x1x16xf32>,
                   %dv: tensor<2x2x1x16xf32>, %dinit: tensor<2x8x1x16xf32>,
                   %pos: index, %kc: tensor<2x2x128x16xf32>,
                   %vc: tensor<2x2x128x16xf32>, %rows: tensor<2xi64>,
                   %table: tensor<2x8xi32>, %kp: tensor<64x2x16x16xf32>,
                   %vp: tensor<64x2x16x16xf32>, %kq: tensor<2x2x64x16xi8>,
                   %vq: tensor<2x2x64x16xi8>, %ks: tensor<2x2xf32>,
                   %vs: tensor<2x2xf32>)
    -> (tensor<2x8x16x16xf32>, tensor<2x8x1x16xf32>, tensor<2x8x1x16xf32>,
        tensor<2x8x1x16xf32>, tensor<2x8x1x16xf32>) {
  %a = attn.attention heads(8, 2) scale(0.25) causal(0) window(3, 0)
         ins(%q, %k, %v : tensor<2x8x16x16xf32>, tensor<2x2x16x16xf32>,
                          tensor<2x2x16x16xf32>)
         kv_seq_lens(%lens : tensor<2xi32>)
         outs(%init : tensor<2x8x16x16xf32>) -> tensor<2x8x16x16xf32> loc("windowed")
  %c:3 = attn.decode heads(8, 2) scale(0.25) causal
      ins(%dq, %dk, %dv : tensor<2x8x1x16xf32>, tensor<2x2x1x16xf32>,
                          tensor<2x2x1x16xf32>)
      position(%pos)
      outs(%dinit, %kc, %vc : tensor<2x8x1x16xf32>, tensor<2x2x128x16xf32>,
           tensor<2x2x128x16xf32>)
      -> tensor<2x8x1x16xf32>, tensor<2x2x128x16xf32>, tensor<2x2x128x16xf32> loc("contiguous")
  %p:3 = attn.decode heads(8, 2) scale(0.25) causal window(4095, 0)
      ins(%dq, %dk, %dv : tensor<2x8x1x16xf32>, tensor<2x2x1x16xf32>,
                          tensor<2x2x1x16xf32>)
      positions(%rows : tensor<2xi64>) block_table(%table : tensor<2x8xi32>)
      outs(%dinit, %kp, %vp : tensor<2x8x1x16xf32>, tensor<64x2x16x16xf32>,
           tensor<64x2x16x16xf32>)
      -> tensor<2x8x1x16xf32>, tensor<64x2x16x16xf32>, tensor<64x2x16x16xf32> loc("paged")
  %i:3 = attn.decode heads(8, 2) scale(0.25) causal
      ins(%dq, %dk, %dv : tensor<2x8x1x16xf32>, tensor<2x2x1x16xf32>,
                          tensor<2x2x1x16xf32>)
      positions(%rows : tensor<2xi64>)
      outs(%dinit, %kq, %vq : tensor<2x8x1x16xf32>, tensor<2x2x64x16xi8>,
           tensor<2x2x64x16xi8>)
      cache_scales(%ks, %vs : tensor<2x2xf32>, tensor<2x2xf32>)
      -> tensor<2x8x1x16xf32>, tensor<2x2x64x16xi8>, tensor<2x2x64x16xi8> loc("int8")
  %u:3 = attn.decode heads(8, 2) scale(0.25) causal
      ins(%dq, %dk, %dv : tensor<2x8x1x16xf32>, tensor<2x2x1x16xf32>,
                          tensor<2x2x1x16xf32>)
      positions(%rows : tensor<2xi64>)
      outs(%dinit, %kc, %vc : tensor<2x8x1x16xf32>, tensor<2x2x128x16xf32>,
           tensor<2x2x128x16xf32>)
      {future_form = 4 : i64, future_flag} -> tensor<2x8x1x16xf32>, tensor<2x2x128x16xf32>, tensor<2x2x128x16xf32> loc("unknown-attrs")
  return %a, %c#0, %p#0, %i#0, %u#0 : tensor<2x8x16x16xf32>, tensor<2x8x1x16xf32>,
      tensor<2x8x1x16xf32>, tensor<2x8x1x16xf32>, tensor<2x8x1x16xf32>
}

// A ring cache of 8 slots for window(5, 0) and 2 new tokens with a tree.
func.func @speculative(%q: tensor<2x8x2x16xf32>, %k: tensor<2x2x2x16xf32>,
                       %v: tensor<2x2x2x16xf32>, %o: tensor<2x8x2x16xf32>,
                       %kc: tensor<2x2x8x16xf32>, %vc: tensor<2x2x8x16xf32>,
                       %pos: tensor<2xi64>, %tree: tensor<2x2x2xi1>)
    -> tensor<2x8x2x16xf32> {
  %r:3 = attn.decode heads(8, 2) scale(0.25) causal window(5, 0) ring
      ins(%q, %k, %v : tensor<2x8x2x16xf32>, tensor<2x2x2x16xf32>,
                       tensor<2x2x2x16xf32>)
      positions(%pos : tensor<2xi64>) tree_mask(%tree : tensor<2x2x2xi1>)
      outs(%o, %kc, %vc : tensor<2x8x2x16xf32>, tensor<2x2x8x16xf32>,
           tensor<2x2x8x16xf32>)
      -> tensor<2x8x2x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32> loc("ring-tree")
  return %r#0 : tensor<2x8x2x16xf32>
}
