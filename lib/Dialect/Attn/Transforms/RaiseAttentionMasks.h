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

/// One mask seen in the [B, Hq, Sq, Skv] space.
struct Mask4 {
  Value value;
  SmallVector<int64_t, 4> shape; ///< its size in each of the 4 dims, or 1
  bool isBool;
  bool keepWhenTrue;
};

/// What the masks between Q K^T and the softmax become; deciding it creates
/// no IR, so a pattern can still fail after planning.
struct MaskPlan {
  SmallVector<Mask4> masks;            ///< the masks left to apply
  std::optional<int64_t> causalOffset; ///< a constant causal mask, recognised
  /// A constant sliding-window (band) mask, recognised with the causal
  /// offset: keys below i + offset - windowLeft are masked (window(L, 0)).
  std::optional<int64_t> windowLeft;
};

/// `outShape` is [B, Hq, Sq, Dv] and `keyLength` is Skv. Constant masks of
/// causal shape become a causal offset, banded ones (sliding windows) a
/// causal offset and a left window; std::nullopt when a mask does not
/// fit the [B, Hq, Sq, Skv] space.
std::optional<MaskPlan> planMasks(ArrayRef<match::Step> masks,
                                  ArrayRef<int64_t> outShape,
                                  int64_t keyLength);

/// The mask operand of attn.attention for `plan` (null when no mask is
/// left): one mask is used as it is (reshaped to rank 4 when its dims skip
/// one of [B, Hq, Sq, Skv]); several, or a boolean mask that keeps where
/// false, are combined into one additive f32 mask by a linalg.generic.
Value buildMask(OpBuilder &b, Location loc, const MaskPlan &plan);

} // namespace mlir::attn

#endif // ATTN_LIB_DIALECT_ATTN_TRANSFORMS_RAISEATTENTIONMASKS_H
