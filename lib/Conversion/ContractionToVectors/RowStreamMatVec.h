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

#include <optional>

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

/// Helpers the forms of the conversion share.
/// The loop positions that each result of a projected-permutation map reads.
SmallVector<unsigned> loopsOf(AffineMap map);
/// The memref's innermost stride is 1.
bool innermostContiguous(Value memref);

/// The rows M of a matched contraction: every loop but n and k, each read
/// by the lhs and the output.
struct ContractionRows {
  SmallVector<unsigned> loops;
  int64_t count = 1;
  /// at[r][l]: the index of row loop l in row r (row-major over `loops`).
  SmallVector<SmallVector<int64_t>> at;

  /// The indices `map` reads in row r at k = `kv` and n = `nv`.
  SmallVector<Value> indices(OpBuilder &b, Location loc,
                             const MatchedContraction &c, AffineMap map,
                             int64_t r, Value kv, Value nv) const;
};

/// The rows of `c`, if every loop but n and k is a row loop and there are
/// 1 to `maxRows` rows.
std::optional<ContractionRows> contractionRows(const MatchedContraction &c,
                                               int64_t maxRows);
/// `lanes` elements of `memref` from `indices` (zero past its end unless
/// `inBounds`), widened to f32.
Value readLanesAsF32(OpBuilder &b, Location loc, Value memref,
                     ValueRange indices, int64_t lanes, bool inBounds);

} // namespace mlir::attn

#endif // ATTN_LIB_CONVERSION_CONTRACTIONTOVECTORS_ROWSTREAMMATVEC_H
