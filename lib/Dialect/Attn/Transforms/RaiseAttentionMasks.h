//===- RaiseAttentionMasks.h - masks of raised attention -------*- C++ -*-===//
//
// Turns the masks found between Q K^T and the softmax into the single mask
// operand (or causal offset) of attn.attention.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_DIALECT_ATTN_TRANSFORMS_RAISEATTENTIONMASKS_H
#define ATTN_LIB_DIALECT_ATTN_TRANSFORMS_RAISEATTENTIONMASKS_H

#include "LinalgMatchers.h"

namespace mlir::attn {

struct MaskPlan {
  bool ok = false;
  Value mask;                         ///< null when no mask is left
  std::optional<int64_t> causalOffset; ///< a constant causal mask, recognised
};

/// `outShape` is [B, Hq, Sq, Dv] and `keyLength` is Skv. Constant masks of
/// causal shape become a causal offset; one mask is used as it is (reshaped
/// to rank 4 when its dims skip one of [B, Hq, Sq, Skv]); several, or a
/// boolean mask that keeps where false, are combined into one additive f32
/// mask by a linalg.generic.
MaskPlan planMasks(OpBuilder &b, Location loc, ArrayRef<match::Step> masks,
                   ArrayRef<int64_t> outShape, int64_t keyLength);

} // namespace mlir::attn

#endif // ATTN_LIB_DIALECT_ATTN_TRANSFORMS_RAISEATTENTIONMASKS_H
