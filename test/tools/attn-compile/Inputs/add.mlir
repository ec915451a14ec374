func.func @add(%x: tensor<4xf32> {attn.name = "x"}, %y: tensor<4xf32> {attn.name = "y"})
    -> (tensor<4xf32> {attn.name = "sum"}) {
  %e = tensor.empty() : tensor<4xf32>
  %r = linalg.add ins(%x, %y : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  return %r : tensor<4xf32>
}
