//===- LinalgMatchers.h - structural matchers over linalg tensors -*- C++ -*-===//
//
// Small, independent recognisers used to raise attention: copies (transposes
// and broadcasts), elementwise steps, reductions and contractions, each
// understood through the LinalgOp interface so named ops and linalg.generic
// match alike.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_DIALECT_ATTN_TRANSFORMS_LINALGMATCHERS_H
#define ATTN_LIB_DIALECT_ATTN_TRANSFORMS_LINALGMATCHERS_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Value.h"

#include <optional>

namespace mlir::attn::match {

/// The scalar every element of `v` holds: a scalar or splat `arith.constant`,
/// or a `linalg.fill` of one.
std::optional<double> splatValue(Value v);

/// A linalg op that only copies its single input: for each output dimension,
/// the input dimension it reads, or -1 where it broadcasts (a dimension the
/// input map leaves out, or a constant 0 on a unit input dimension).
struct Copy {
  Value input;
  SmallVector<int64_t> inputDimOf;
  bool isPermutation() const;
};
std::optional<Copy> matchCopy(Value result);

/// What one elementwise op does to the value flowing through it.
struct Step {
  enum Kind { Scale, Tanh, Cast, AddMask, BoolMask };
  Kind kind;
  Value main;           ///< the input the chain continues through
  double factor = 1.0;  ///< Scale
  Value side;           ///< AddMask / BoolMask: the mask tensor
  AffineMap sideMap;    ///< its indexing map in the op's loop space
  bool keepWhenTrue = true; ///< BoolMask: true keeps the key
};
std::optional<Step> matchStep(Value result);

/// `x / sum_last(x)` style and other softmax spellings: the softmax input.
/// Recognises linalg.softmax over the last dimension and the decomposition
/// div(exp(s - max_last(s)), sum_last(exp(s - max_last(s)))), optionally
/// followed by where(isnan(p), 0, p).
std::optional<Value> matchSoftmax(Value result);

/// The source of a reshape that only merges or splits the leading batch and
/// head dims ([B*H, S, T] <-> [B, H, S, T]), as torch-mlir wraps
/// batch_matmul; null otherwise.
Value throughBatchReshape(Value v);

/// A zero-initialised contraction with one m, n and k loop.
struct Contraction {
  linalg::LinalgOp op;
  SmallVector<unsigned> batch;
  unsigned m, n, k;
  OpOperand *lhs; ///< the operand indexed by m and k
  OpOperand *rhs; ///< the operand indexed by n and k
};
std::optional<Contraction> matchContraction(Value result);

} // namespace mlir::attn::match

#endif // ATTN_LIB_DIALECT_ATTN_TRANSFORMS_LINALGMATCHERS_H
