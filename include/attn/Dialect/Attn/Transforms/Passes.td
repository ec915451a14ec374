//===- Passes.td - attn dialect transformation passes ------*- tablegen -*-===//

#ifndef ATTN_DIALECT_ATTN_TRANSFORMS_PASSES_TD
#define ATTN_DIALECT_ATTN_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def AttnRaiseAttention : Pass<"attn-raise-attention", "func::FuncOp"> {
  let summary = "Raise decomposed attention in linalg-on-tensors IR to attn.attention";
  let description = [{
    Finds `softmax(scale * Q K^T [softcapped] [+ mask]) V` spelled with linalg
    ops on tensors, as the ONNX importer and torch-mlir emit it: contractions
    as `linalg.matmul`/`linalg.batch_matmul`/`linalg.generic` (4-D, or 3-D
    over collapsed batch and head dims), transposes of K however they are
    written, the scale on the scores or split as a square root over Q and K,
    additive and boolean masks, softcap (`c * tanh(s / c)`), and softmax as
    `linalg.softmax` or decomposed (max, sub, exp, sum, div). The `repeat_kv`
    broadcasts in front of K and V (unsqueeze + broadcast + collapse, or a
    broadcast over the head axis as GPT-BigCode's single KV head) are folded
    away: the raised op reads the KV heads as they are and records their true
    count, so K and V are never materialised per query head.

    Anything that is not exactly attention is left alone: a repeat in the
    wrong head order (tile instead of interleave), a contraction accumulating
    into a non-zero init, a reduction over another dimension, or a softmax of
    something other than the scores.

    Example:

    ```mlir
    %kr = linalg.broadcast ins(%k : tensor<1x2x16x8xf32>)
            outs(%e5 : tensor<1x2x4x16x8xf32>) dimensions = [2]
    %kc = tensor.collapse_shape %kr [[0], [1, 2], [3], [4]]
            : tensor<1x2x4x16x8xf32> into tensor<1x8x16x8xf32>
    ... Q K^T, scale, softmax, P V over %kc and the same for V ...
    ```

    becomes

    ```mlir
    %o = attn.attention heads(8, 2) scale(0.35355) ins(%q, %k, %v : ...)
           outs(%init : tensor<1x8x16x8xf32>) -> tensor<1x8x16x8xf32>
    ```
  }];
  let dependentDialects = [
    "::mlir::attn::AttnDialect", "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

#endif // ATTN_DIALECT_ATTN_TRANSFORMS_PASSES_TD
