// A grouped-query attention (f32) and a fused decode step (f16).
func.func @layers(%q: tensor<1x8x16x16xf32>, %k: tensor<1x2x16x16xf32>,
                  %v: tensor<1x2x16x16xf32>, %init: tensor<1x8x16x16xf32>,
                  %dq: tensor<1x8x1x16xf16>, %dk: tensor<1x2x1x16xf16>,
                  %dv: tensor<1x2x1x16xf16>, %pos: index,
                  %dinit: tensor<1x8x1x16xf16>, %kcache: tensor<1x2x128x16xf16>,
                  %vcache: tensor<1x2x128x16xf16>)
    -> (tensor<1x8x16x16xf32>, tensor<1x8x1x16xf16>) {
  %o = attn.attention heads(8, 2) scale(0.25) causal(0)
         ins(%q, %k, %v : tensor<1x8x16x16xf32>, tensor<1x2x16x16xf32>,
                          tensor<1x2x16x16xf32>)
         outs(%init : tensor<1x8x16x16xf32>) -> tensor<1x8x16x16xf32> loc("layer0/attn")
  %d, %kc, %vc = attn.decode heads(8, 2) scale(0.25)
      ins(%dq, %dk, %dv : tensor<1x8x1x16xf16>, tensor<1x2x1x16xf16>,
                          tensor<1x2x1x16xf16>)
      position(%pos)
      outs(%dinit, %kcache, %vcache : tensor<1x8x1x16xf16>,
           tensor<1x2x128x16xf16>, tensor<1x2x128x16xf16>)
      -> tensor<1x8x1x16xf16>, tensor<1x2x128x16xf16>, tensor<1x2x128x16xf16>
  return %o, %d : tensor<1x8x16x16xf32>, tensor<1x8x1x16xf16>
}
