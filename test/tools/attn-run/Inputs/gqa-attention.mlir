// Grouped-query attention, 8 query heads sharing 2 KV heads, causal with
// the query rows at the end of 64 keys (ONNX alignment: offset 48).
func.func @gqa(%q: tensor<2x8x16x32xf32> {attn.name = "q"}, %k: tensor<2x2x64x32xf32> {attn.name = "k"},
               %v: tensor<2x2x64x32xf32> {attn.name = "v"}) -> (tensor<2x8x16x32xf32> {attn.name = "out"}) {
  %init = tensor.empty() : tensor<2x8x16x32xf32>
  %o = attn.attention heads(8, 2) scale(0.17677669529663687) causal(48)
         ins(%q, %k, %v : tensor<2x8x16x32xf32>, tensor<2x2x64x32xf32>, tensor<2x2x64x32xf32>)
         outs(%init : tensor<2x8x16x32xf32>) -> tensor<2x8x16x32xf32>
  return %o : tensor<2x8x16x32xf32>
}
