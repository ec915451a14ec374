// A slice at an offset read from an input: after bufferisation the host
// loads the offset, which the cuda target cannot do (the input is device
// memory).
func.func @pick(%x: tensor<8xf32> {attn.name = "x"}, %at: tensor<i64> {attn.name = "at"})
    -> (tensor<2xf32> {attn.name = "slice"}) {
  %i = tensor.extract %at[] : tensor<i64>
  %o = arith.index_cast %i : i64 to index
  %s = tensor.extract_slice %x[%o] [2] [1] : tensor<8xf32> to tensor<2xf32>
  return %s : tensor<2xf32>
}
