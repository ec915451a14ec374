//===- HeadIdentity.h - prove key/value heads identical --------*- C++ -*-===//

#ifndef ATTN_LIB_DIALECT_ATTN_TRANSFORMS_HEADIDENTITY_H
#define ATTN_LIB_DIALECT_ATTN_TRANSFORMS_HEADIDENTITY_H

#include "mlir/IR/Value.h"

namespace mlir::attn {

/// Whether the heads (dimension 1) of the [B, H, S, D] tensor `x` are equal
/// within every group of `group` consecutive heads, for all inputs of the
/// function: proven by following `x` back to constants (projection weights,
/// biases) through ops that treat every head alike. False when unsure.
bool headsAreIdentical(Value x, int64_t group);

} // namespace mlir::attn

#endif // ATTN_LIB_DIALECT_ATTN_TRANSFORMS_HEADIDENTITY_H
