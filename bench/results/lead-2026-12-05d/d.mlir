func.func @decode(%query: tensor<1x9x1x64xf32> {attn.name = "query"}, %key: tensor<1x3x1x64xf32> {attn.name = "key"},
    %value: tensor<1x3x1x64xf32> {attn.name = "value"}, %position: tensor<i64> {attn.name = "position"},
    %key_cache: tensor<1x3x768x64xf32> {attn.name = "key_cache"}, %value_cache: tensor<1x3x768x64xf32> {attn.name = "value_cache"})
    -> (tensor<1x9x1x64xf32> {attn.name = "out"}) {
  %init = tensor.empty() : tensor<1x9x1x64xf32>
  %pos_i64 = tensor.extract %position[] : tensor<i64>
  %pos = arith.index_cast %pos_i64 : i64 to index
  %out, %nk, %nv = attn.decode heads(9, 3) scale(1.25000000000000000e-01)
      ins(%query, %key, %value : tensor<1x9x1x64xf32>, tensor<1x3x1x64xf32>, tensor<1x3x1x64xf32>) position(%pos)
      outs(%init, %key_cache, %value_cache : tensor<1x9x1x64xf32>, tensor<1x3x768x64xf32>, tensor<1x3x768x64xf32>)
      -> tensor<1x9x1x64xf32>, tensor<1x3x768x64xf32>, tensor<1x3x768x64xf32>
  return %out : tensor<1x9x1x64xf32>
}
