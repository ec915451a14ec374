// A small model of upstream ops: a matmul, an elementwise exp (a libm call
// after lowering), integer arithmetic on a scalar and several outputs.
#map = affine_map<(d0) -> (d0)>
#scalar = affine_map<(d0) -> ()>
func.func @forward(%a: tensor<64x32xf32> {attn.name = "a"},
                   %b: tensor<32x48xf32> {attn.name = "b"},
                   %x: tensor<1000xf32> {attn.name = "x"},
                   %ids: tensor<5xi64> {attn.name = "input_ids"},
                   %offset: tensor<i64> {attn.name = "offset"})
    -> (tensor<64x48xf32> {attn.name = "product"},
        tensor<1000xf32> {attn.name = "exp_x"},
        tensor<5xi64> {attn.name = "shifted_ids"}) {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<64x48xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<64x48xf32>) -> tensor<64x48xf32>
  %product = linalg.matmul ins(%a, %b : tensor<64x32xf32>, tensor<32x48xf32>)
                           outs(%init : tensor<64x48xf32>) -> tensor<64x48xf32>
  %e = tensor.empty() : tensor<1000xf32>
  %exp = linalg.exp ins(%x : tensor<1000xf32>) outs(%e : tensor<1000xf32>) -> tensor<1000xf32>
  %ie = tensor.empty() : tensor<5xi64>
  %shifted = linalg.generic {indexing_maps = [#map, #scalar, #map],
                             iterator_types = ["parallel"]}
      ins(%ids, %offset : tensor<5xi64>, tensor<i64>) outs(%ie : tensor<5xi64>) {
  ^bb0(%id: i64, %off: i64, %out: i64):
    %s = arith.addi %id, %off : i64
    linalg.yield %s : i64
  } -> tensor<5xi64>
  return %product, %exp, %shifted : tensor<64x48xf32>, tensor<1000xf32>, tensor<5xi64>
}
