//===- MulAdd.h - multiply-accumulate linalg.generic builder ---*- C++ -*-===//

#ifndef ATTN_LIB_DIALECT_ATTN_TRANSFORMS_MULADD_H
#define ATTN_LIB_DIALECT_ATTN_TRANSFORMS_MULADD_H

#include "mlir/IR/AffineMap.h"
#include "mlir/IR/Builders.h"

namespace mlir::attn {

/// init + sum of lhs * rhs over the reduction dimensions, as one
/// linalg.generic: `maps` index lhs, rhs and init over the same loop
/// dimensions, of which the last `reductions` are reductions (the others
/// parallel). Returns the generic's result, of init's type.
Value buildMulAdd(OpBuilder &b, Location loc, Value lhs, Value rhs,
                  Value init, ArrayRef<AffineMap> maps, unsigned reductions);

} // namespace mlir::attn

#endif // ATTN_LIB_DIALECT_ATTN_TRANSFORMS_MULADD_H
