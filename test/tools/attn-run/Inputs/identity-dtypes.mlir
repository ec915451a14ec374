// Returns its inputs: one per dtype that the runtime supports.
func.func @identity(%f32: tensor<2x3xf32> {attn.name = "f32"},
                    %f16: tensor<4xf16> {attn.name = "f16"},
                    %bf16: tensor<2x2xbf16> {attn.name = "bf16"},
                    %f64: tensor<3xf64> {attn.name = "f64"},
                    %i64: tensor<i64> {attn.name = "i64"},
                    %i32: tensor<3xi32> {attn.name = "i32"},
                    %i16: tensor<3xi16> {attn.name = "i16"},
                    %i8: tensor<3xi8> {attn.name = "i8"},
                    %u8: tensor<3xui8> {attn.name = "u8"},
                    %b: tensor<2x3xi1> {attn.name = "mask"})
    -> (tensor<2x3xf32> {attn.name = "out_f32"}, tensor<4xf16> {attn.name = "out_f16"},
        tensor<2x2xbf16> {attn.name = "out_bf16"}, tensor<3xf64> {attn.name = "out_f64"},
        tensor<i64> {attn.name = "out_i64"}, tensor<3xi32> {attn.name = "out_i32"},
        tensor<3xi16> {attn.name = "out_i16"}, tensor<3xi8> {attn.name = "out_i8"},
        tensor<3xui8> {attn.name = "out_u8"}, tensor<2x3xi1> {attn.name = "out_mask"}) {
  return %f32, %f16, %bf16, %f64, %i64, %i32, %i16, %i8, %u8, %b
    : tensor<2x3xf32>, tensor<4xf16>, tensor<2x2xbf16>, tensor<3xf64>, tensor<i64>,
      tensor<3xi32>, tensor<3xi16>, tensor<3xi8>, tensor<3xui8>, tensor<2x3xi1>
}
