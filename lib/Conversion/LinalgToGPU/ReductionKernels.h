//===- ReductionKernels.h - dedicated kernels for linalg reductions -*- C++ -*-===//
//
// attn-linalg-to-gpu's fast forms: a matrix-vector product kernel (decode
// projections, MLP, lm_head) and a cooperative reduction kernel (norms,
// softmax pieces, transposed-weight products). Each returns success() when
// it replaced the op by a gpu.launch, failure() (the op untouched) when the
// op is not of its form; the caller then uses the generic lowering.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_LINALGTOGPU_REDUCTIONKERNELS_H
#define ATTN_LIB_CONVERSION_LINALGTOGPU_REDUCTIONKERNELS_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::attn::linalg_gpu {

/// y[rows, n] += sum_k x[rows, k] * W[k, n] with W a contiguous 2-D buffer
/// of f32/f16/bf16 whose rows are 16-byte multiples and few rows (M <= 8):
/// threads over 16-byte column groups (one `vector.load {alignment = 16}`
/// each), K split over the slices of a block (shared-memory reduction) and,
/// for f32 outputs, over blocks (atomic adds into the output).
LogicalResult lowerMatVec(RewriterBase &rewriter, linalg::GenericOp op);

/// A reduction whose combiner is a float add/max/min of the output with a
/// value computed from the inputs, with a reduction of at least 64 points:
/// a warp per output point (a block per point for long reductions), lanes
/// strided over the reduction, a shuffle (and shared-memory) tree, f32
/// accumulation.
LogicalResult lowerCooperativeReduction(RewriterBase &rewriter,
                                        linalg::GenericOp op);

} // namespace mlir::attn::linalg_gpu

#endif
