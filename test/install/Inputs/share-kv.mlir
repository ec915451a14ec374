// One MHA attention op for downstream-opt -attn-share-kv.
func.func @mha(%q: tensor<1x4x4x16xf32>, %k: tensor<1x4x6x16xf32>, %v: tensor<1x4x6x16xf32>) -> tensor<1x4x4x16xf32> {
  %o = tensor.empty() : tensor<1x4x4x16xf32>
  %r = attn.attention heads(4, 4) scale(0.25) ins(%q, %k, %v : tensor<1x4x4x16xf32>, tensor<1x4x6x16xf32>, tensor<1x4x6x16xf32>) outs(%o : tensor<1x4x4x16xf32>) -> tensor<1x4x4x16xf32>
  return %r : tensor<1x4x4x16xf32>
}
