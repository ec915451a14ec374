//===- KernelEmitter.h - builder helpers of the flash loop nests -*- C++ -*-===//
//
// Shared by FlashKernel.cpp (work items, merge, the per-row kernel),
// RowVectorKernel.cpp (query rows across vector lanes) and
// GroupedDecodeKernel.cpp (decode with shared KV heads).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTOLOOPS_KERNELEMITTER_H
#define ATTN_LIB_CONVERSION_ATTNTOLOOPS_KERNELEMITTER_H

#include "FlashKernel.h"
#include "QuantizedCache.h"

#include "attn/Conversion/FloatWidening.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/TypeUtilities.h"

#include <tuple>

namespace mlir::attn {

constexpr int64_t kWidth = 8; // f32 lanes of an AVX2 register

inline int64_t roundUp(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

/// Builder helpers with a fixed location.
struct Emitter {
  OpBuilder &b;
  Location loc;

  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value f32(double v) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
  }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubIOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
  Value div(Value x, Value y) { return arith::DivUIOp::create(b, loc, x, y); }
  Value rem(Value x, Value y) { return arith::RemUIOp::create(b, loc, x, y); }
  Value min(Value x, Value y) { return arith::MinSIOp::create(b, loc, x, y); }
  Value max(Value x, Value y) { return arith::MaxSIOp::create(b, loc, x, y); }
  Value ceilDiv(Value x, Value y) {
    return arith::CeilDivUIOp::create(b, loc, x, y);
  }
  Value dim(Value memref, int64_t d) {
    return memref::DimOp::create(b, loc, memref, d);
  }
  Value cmp(arith::CmpIPredicate p, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, p, x, y);
  }
  Value fcmp(arith::CmpFPredicate p, Value x, Value y) {
    return arith::CmpFOp::create(b, loc, p, x, y);
  }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, loc, c, x, y);
  }
  Value toF32(Value v) {
    Type element = getElementTypeOrSelf(v.getType());
    if (element.isF32())
      return v;
    if (isQuantizedCacheType(element))
      return decodeCacheCodes(*this, v);
    return extendToF32(b, loc, v);
  }
  Value fromF32(Value v, Type element) {
    return truncateFromF32(b, loc, v, element);
  }

  /// scf.for from lb to ub, body gets the induction variable.
  void loop(Value lb, Value ub, Value step,
            function_ref<void(Value)> body) {
    auto forOp = scf::ForOp::create(b, loc, lb, ub, step);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(forOp.getBody());
    body(forOp.getInductionVar());
  }
  void loop(int64_t lb, int64_t ub, function_ref<void(Value)> body) {
    loop(idx(lb), idx(ub), idx(1), body);
  }

  /// A vector<8xT> chunk of `memref` at `indices` (last index the chunk
  /// start); lanes past the end of the last dimension read 0.
  Value readChunk(Value memref, ValueRange indices, bool inBounds) {
    Type element = cast<MemRefType>(memref.getType()).getElementType();
    Value pad = arith::ConstantOp::create(b, loc, b.getZeroAttr(element));
    auto type = VectorType::get({kWidth}, element);
    return toF32(vector::TransferReadOp::create(b, loc, type, memref, indices,
                                                pad, ArrayRef<bool>{inBounds}));
  }
  void writeChunk(Value v, Value memref, ValueRange indices, bool inBounds) {
    Type element = cast<MemRefType>(memref.getType()).getElementType();
    vector::TransferWriteOp::create(b, loc, fromF32(v, element), memref,
                                    indices, ArrayRef<bool>{inBounds});
  }
  Value loadVec(Value memref, ValueRange indices, int64_t lanes = kWidth) {
    return vector::LoadOp::create(
        b, loc, VectorType::get({lanes}, b.getF32Type()), memref, indices);
  }
  void storeVec(Value v, Value memref, ValueRange indices) {
    vector::StoreOp::create(b, loc, v, memref, indices);
  }
  Value splat(Value scalar, int64_t lanes = kWidth) {
    return vector::BroadcastOp::create(
        b, loc, VectorType::get({lanes}, b.getF32Type()), scalar);
  }
};

/// The first and third indices of key j of batch row b in a.key / a.value:
/// (b, j), (b, j % W) in a ring, or through the block table of a paged
/// cache (page, slot).
inline std::pair<Value, Value> keyAddress(Emitter &e, const FlashAttention &a,
                                          Value b, Value j) {
  if (a.ringSlots)
    return {b, e.rem(j, a.ringSlots)};
  if (!a.blockTable)
    return {b, j};
  Value entry = memref::LoadOp::create(e.b, e.loc, a.blockTable,
                                       ValueRange{b, e.div(j, a.pageSize)});
  Value page =
      arith::IndexCastOp::create(e.b, e.loc, e.b.getIndexType(), entry);
  return {page, e.rem(j, a.pageSize)};
}

/// The static facts of one lowering.
struct Plan {
  int64_t group;     // query heads per KV head
  int64_t queryTile; // query rows per work item and head
  int64_t rows;      // group * queryTile
  int64_t rowBlock;  // rows computed together (1 or kRowBlock)
  int64_t paddedRows; // rows rounded up to rowBlock; extra rows are dummies
  int64_t headDim, valueDim, paddedHead, paddedValue;
  bool headInBounds, valueInBounds;
  bool rowVector = false; // query rows across vector lanes
  int64_t lanes = kWidth;  // vector length of the row-vector kernel
};

/// An f32 stack tile of `shape`, aligned to a.tileAlignment bytes (0: the
/// element's): the decode kernels' queries, accumulators, scores and
/// softmax state, read and written a vector at a time.
Value stackTile(Emitter &e, const FlashAttention &a, ArrayRef<int64_t> shape);

/// Head, query row and "is a real row" of local row r of tile t for KV head
/// g; dummy rows (r >= plan.rows) get the group's first head.
std::tuple<Value, Value, Value> safeHeadAndRow(Emitter &e, const Plan &plan,
                                               Value g, Value t, Value r);

/// Whether key j is hidden from query row `row` (at position row + offset)
/// by causality or the window; null when neither applies.
Value hiddenByPosition(Emitter &e, const FlashAttention &a, Value offset,
                       Value row, Value j);

/// exp(x) of a vector of f32 for x <= 0 (the online softmax), in 14 vector
/// instructions; inputs below -87 give a value in [0, 2^-125). In
/// VectorExp.cpp.
Value vectorExp(Emitter &e, Value x);

/// `x > y ? x : y` on vectors: one vmaxps (arith.maximumf adds NaN checks);
/// a NaN in y is kept, one in x is not (the probabilities still carry it).
Value vectorMax(Emitter &e, Value x, Value y);

/// One online-softmax step for `lanes` query rows at column `off` of
/// `scores` [tileKeys, rows] (-inf where hidden): the tile's maximum joins
/// runMax, scores become exp(s - max) (exactly 0 where hidden with
/// hiddenKeys; below 2^-125 without, for callers whose value loop skips
/// the keys that can be hidden), runSum is rescaled and grows by their sum,
/// alpha gets the rescale factor. `tileMax`, when given, is the tile's
/// maximum per row (made by the caller's score loop); otherwise a loop over
/// the scores finds it. Shared by the row-vector and grouped decode
/// kernels. In RowVectorKernel.cpp.
void onlineSoftmaxColumns(Emitter &e, Value scores, Value runMax, Value runSum,
                          Value alpha, Value off, int64_t tileKeys,
                          int64_t lanes, bool hiddenKeys = true,
                          Value tileMax = {});

/// Whether the tree mask (a.treeMask, set) hides key j from query row `row`
/// (< Sq) of batch row b whose first query stands at `offset`: j is a new
/// token (j >= offset) whose tree entry is false. In TreeMask.cpp.
Value hiddenByTree(Emitter &e, const FlashAttention &a, Value b, Value offset,
                   Value row, Value j);

/// `score` with the mask entry broadcast to [b, head, row, j] added (float
/// mask) or applied (i1 mask: false gives -inf).
Value applyMask(Emitter &e, Value mask, Value score, Value b, Value head,
                Value row, Value j);

/// The partial (acc, max, sum) of one work item with query rows across
/// vector lanes (plan.rowVector): see RowVectorKernel.cpp.
void buildRowVectorPartial(Emitter &e, const FlashAttention &a,
                           const Plan &plan, ValueRange item,
                           Value queryLength, Value keyBegin, Value keyEnd,
                           Value scratch);

/// An scf.parallel of `items` iterations whose iterations claim item
/// indices 0 .. items - 1 from a shared atomic counter until none is left;
/// buildItem(index) emits one item, whose stack buffers are hoisted to the
/// claiming iteration. In ClaimedWorkItems.cpp.
void buildClaimedWorkItems(Emitter &e, Value items,
                           function_ref<void(Value)> buildItem);

/// Whether a work item of `a` takes the grouped decode kernel: one query
/// row per head (decode; any number of query heads per KV head, MHA
/// included), no mask, tree, ring or latent key, and head sizes that are a
/// multiple of 8 lanes.
bool useGroupedDecodeKernel(const FlashAttention &a, const Plan &plan);

/// Keys per online-softmax tile of that kernel (32, or 36 / 48 with the
/// rows across the lanes): key splits are a multiple of it, so that only
/// the last split of a row ends in a partial tile.
int64_t groupedDecodeTileKeys(const FlashAttention &a, const Plan &plan);

/// rowSums[k * lanes ..] = sum over the head-dimension chunks c of
/// K[kt + k, c] * queries[0, c] (lanes wide, not yet summed across the
/// lanes) for the tileKeys keys of a tile, one key row read whole per loop
/// step (keys past `count` clamped to the last one when `clamp`); perKey(k)
/// is emitted first in each step. `splitBF16` (a bf16 cache, queries stored
/// even/odd split per block of 2 * lanes): each 2 * lanes elements are read
/// as 32-bit words and widened with a shift (even) and a mask (odd). In
/// KeyRowLoop.cpp.
void emitKeyRowDots(Emitter &e, const FlashAttention &a, Value b, Value g,
                    Value kt, Value count, bool clamp, int64_t tileKeys,
                    int64_t lanes, int64_t headDim, Value queries,
                    Value rowSums, bool splitBF16,
                    function_ref<void(Value)> perKey);

/// Slot `slot` of `slots` of widening the f32 tile [rows, dims] of `cache`
/// (scaled by `scale` when set): tile[r, :] = row firstRow + r (clamped to
/// lastRow), about rows * dims / lanes / slots vectors of `lanes` elements
/// per slot, so that the slots 0 .. slots - 1 together widen the whole
/// tile. In TileWidening.cpp.
void widenTileSlot(Emitter &e, const FlashAttention &a, Value b, Value g,
                   Value cache, Value scale, Value tile, Value firstRow,
                   Value lastRow, Value slot, int64_t slots, int64_t rows,
                   int64_t dims, int64_t lanes);

/// The partial (acc, max, sum) of one decode work item of a KV head shared
/// by G query heads: see GroupedDecodeKernel.cpp.
void buildGroupedDecodePartial(Emitter &e, const FlashAttention &a,
                               const Plan &plan, ValueRange item,
                               Value keyBegin, Value keyEnd, Value scratch);

} // namespace mlir::attn

#endif // ATTN_LIB_CONVERSION_ATTNTOLOOPS_KERNELEMITTER_H
