// f32 -> bf16 -> f32.
#id = affine_map<(d0) -> (d0)>
func.func @round_trip(%a: tensor<16xf32> {attn.name = "a"})
    -> (tensor<16xbf16> {attn.name = "bf16"}, tensor<16xf32> {attn.name = "back"}) {
  %e = tensor.empty() : tensor<16xbf16>
  %b = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%a : tensor<16xf32>) outs(%e : tensor<16xbf16>) {
  ^bb0(%x: f32, %o: bf16):
    %t = arith.truncf %x : f32 to bf16
    linalg.yield %t : bf16
  } -> tensor<16xbf16>
  %e2 = tensor.empty() : tensor<16xf32>
  %back = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%b : tensor<16xbf16>) outs(%e2 : tensor<16xf32>) {
  ^bb0(%x: bf16, %o: f32):
    %t = arith.extf %x : bf16 to f32
    linalg.yield %t : f32
  } -> tensor<16xf32>
  return %b, %back : tensor<16xbf16>, tensor<16xf32>
}
