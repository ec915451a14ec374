//===- RowStreamMatVec.h - decode matvecs that stream weight rows -*- C++ -*-===//
//
// The decode forms of convert-contraction-to-vectors (private to the
// conversion): a decode step's [M, K] x [K, N] with few rows, the weights
// read in memory order, K split into chunks that accumulate partial rows
// (row streaming); and [M, K] x [N, K]^T as dot products over weight rows.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_CONTRACTIONTOVECTORS_ROWSTREAMMATVEC_H
#define ATTN_LIB_CONVERSION_CONTRACTIONTOVECTORS_ROWSTREAMMATVEC_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::attn {

/// A contraction the conversion matched: one n and one k loop, static
/// ranges, projected-permutation maps, weights and output contiguous along n.
struct MatchedContraction {
  linalg::LinalgOp op;
  Value lhs;     ///< the activations (no n)
  Value weights; ///< what the kernel reads: the narrow memref when widened
  AffineMap lhsMap, rhsMap;
  Value out;
  AffineMap outMap;
  unsigned n, k;
  SmallVector<int64_t> ranges;
};

/// Emits the row-streaming form of `c` before its op, if it applies: the
/// weights are [K, N] (no other loop), the rows M (the product of the other
/// loops) are at most kMaxStreamRows and M x N f32 partials fit the scratch
/// budget. Returns false (and emits nothing) otherwise. The caller erases
/// the op. With `claimChunks` the threads claim finer chunks of K from a
/// shared counter instead of a static split of the chunks. With
/// `prefetchBytes` > 0 every full weight vector read also prefetches (into
/// L2) the weights that many bytes further in memory order.
bool emitRowStreamMatVec(RewriterBase &rewriter, const MatchedContraction &c,
                         int64_t lanes, bool claimChunks,
                         int64_t prefetchBytes);

/// Emits the dot-product form of `c` (DotMatVec.cpp) before its op, if it
/// applies: the weights are [N, K] (k innermost, no other loop), the lhs is
/// contiguous along k and the rows M are at most 16. Returns false (and
/// emits nothing) otherwise. The caller erases the op.
bool emitDotMatVec(RewriterBase &rewriter, const MatchedContraction &c,
                   int64_t lanes, bool claimChunks);

/// Helpers both forms of the conversion use.
/// The loop positions that each result of a projected-permutation map reads.
SmallVector<unsigned> loopsOf(AffineMap map);
/// `lanes` elements of `memref` from `indices` (zero past its end unless
/// `inBounds`), widened to f32.
Value readLanesAsF32(OpBuilder &b, Location loc, Value memref,
                     ValueRange indices, int64_t lanes, bool inBounds);

} // namespace mlir::attn

#endif // ATTN_LIB_CONVERSION_CONTRACTIONTOVECTORS_ROWSTREAMMATVEC_H
