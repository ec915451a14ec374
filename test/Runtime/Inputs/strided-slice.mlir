// A strided slice returned as an output: bufferises to a memref.copy from a
// strided view, which calls the runtime's memrefCopy.
func.func @f(%a: tensor<4x6xf32> {attn.name = "a"}) -> (tensor<2x3xf32> {attn.name = "s"}) {
  %s = tensor.extract_slice %a[1, 0] [2, 3] [2, 2] : tensor<4x6xf32> to tensor<2x3xf32>
  return %s : tensor<2x3xf32>
}
