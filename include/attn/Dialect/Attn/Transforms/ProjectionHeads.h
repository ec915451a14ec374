//===- ProjectionHeads.h - attention heads made by constant projections -*- C++ -*-===//
//
// Recognises an attention operand [B, H, S, D] that a projection with a
// constant weight computes (x @ W, optional bias, an optional split of a
// fused projection, the split into heads, then head-uniform linear steps:
// transposes and RoPE), and recomputes it with fewer or mapped heads by
// rewriting the weight and bias, so the graph computes only the new heads.
// Also the output projection that reads an attention's result.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_TRANSFORMS_PROJECTIONHEADS_H
#define ATTN_DIALECT_ATTN_TRANSFORMS_PROJECTIONHEADS_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"

#include <optional>
#include <vector>

namespace mlir::attn {

/// operand = steps(split_heads([slice](x @ W [+ bias]))).
struct HeadProjection {
  Value operand;
  linalg::LinalgOp matmul;       ///< zero-initialised contraction
  OpOperand *weight = nullptr;   ///< its constant, rank-2 operand
  unsigned weightColumnAxis = 1; ///< the weight axis the output columns index
  unsigned resultColumnAxis = 0; ///< the matmul result axis of the columns
  Value bias;                    ///< rank-1 constant, or null
  linalg::LinalgOp biasAdd;      ///< the op adding it, or null
  tensor::ExtractSliceOp split;  ///< a fused projection's slice, or null
  int64_t columnOffset = 0;      ///< the first column of the heads
  tensor::ExpandShapeOp heads;   ///< [..., H * D, ...] -> [..., H, D, ...]
  int64_t numHeads = 0, headDim = 0;
  int64_t inputWidth = 0;        ///< the contraction size (model width)
  /// Some step acts along D (RoPE's tables, halves); then only maps that
  /// commute with rotate-half RoPE fold into the weight.
  bool actsAlongD = false;
  /// Every step along D is a rotate-half slice or concat of two halves.
  bool rotateHalf = true;
  /// The head-uniform steps between the head split and the operand.
  SmallVector<Operation *> steps;
};

/// The projection that computes `operand`, or std::nullopt.
std::optional<HeadProjection> matchHeadProjection(Value operand);

/// Whether per-head maps [H, D, D] (row-major) can move before the steps:
/// any map when no step acts along D; on rotate-half RoPE steps, maps made
/// of 2x2 rotation-and-scale blocks on the planes (i, i + D/2).
bool mapsCommute(const HeadProjection &p, ArrayRef<double> maps);

/// `p.operand` recomputed with `newHeads` heads, new head n being
/// sum_r weights[r] * maps[r] * head r over the group r in [n g, (n+1) g)
/// (`maps` [H, D, D] row-major, empty: identity), by a new projection whose
/// weight and bias are combined the same way. Built right after the
/// operand's definition; the old ops stay for other users. With `weight`
/// ([newHeads * D, inputWidth] row-major, one row per new column; bias
/// [newHeads * D] if the projection has one) that weight is used as it is
/// instead (`--share-kv-method=joint`'s fitted projections).
Value rebuildHeadProjection(OpBuilder &b, const HeadProjection &p,
                            int64_t newHeads, ArrayRef<double> weights,
                            ArrayRef<double> maps,
                            ArrayRef<double> weight = {},
                            ArrayRef<double> bias = {});

/// Erases the steps, head splits and fused-projection slices of the
/// rebuilt projections that nothing reads any more.
void eraseUnusedSteps(ArrayRef<const HeadProjection *> rebuilt);

/// After eraseUnusedSteps, rebuilds a fused projection (QKV) that `p`'s
/// heads were a slice of over the columns its remaining slices read, so
/// the old heads' columns are no longer computed (once per projection).
void narrowFusedProjection(OpBuilder &b, const HeadProjection &p);

/// out = collapse(transpose(attention result)) @ W: the [B, S, Hq * Dv]
/// context read by a contraction with a constant weight [Hq * Dv, dout]
/// (or transposed).
struct OutputProjection {
  linalg::LinalgOp matmul;
  OpOperand *weight = nullptr;
  unsigned weightRowAxis = 0; ///< the weight axis the context indexes
  int64_t heads = 0, valueDim = 0, outputWidth = 0;
};

/// The output projection reading `result` (its only use), or std::nullopt.
std::optional<OutputProjection> matchOutputProjection(Value result);

/// Replaces the output projection's weight by W' with rows
/// W'[h Dv + j] = sum_i maps[h][i][j] W[h Dv + i]: the result of attention
/// head h read through maps[h] ([Hq, Dv, Dv] row-major).
void foldOutputMaps(OpBuilder &b, const OutputProjection &p,
                    ArrayRef<double> maps);

/// Replaces the output projection's weight by `weight` [Hq * Dv, dout]
/// row-major (in the context-rows orientation whatever the stored one).
void replaceOutputWeight(OpBuilder &b, const OutputProjection &p,
                         ArrayRef<double> weight);

/// The constant's elements as doubles (f64, f32, f16, bf16), row-major.
std::optional<std::vector<double>> readConstant(Value v);

/// The float elements of a dense attribute as doubles; empty when `attr`
/// is null or not a dense elements attribute (an optional share-kv map).
std::vector<double> denseDoubles(Attribute attr);

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_TRANSFORMS_PROJECTIONHEADS_H
