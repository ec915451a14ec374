//===- RowStreamMatVec.cpp - decode matvecs that stream weight rows -------===//
//
// A decode step's projection [M, K] x [K, N] with few rows M reads every
// weight once: it is a stream of K x N weights at the memory's read rate,
// if the weights are read in memory order. The tiled kernel (a tile of
// columns per work item, k innermost) reads each row's piece of the tile
// and jumps N elements to the next: on AMD Zen 4 the pieces land on other
// pages and the hardware streamers never train (10-12 GB/s against 21-28
// GB/s read in order, measured with C microbenchmarks; bench/RESULTS.md
// has the whole decoder). This form
// reads whole rows in order and splits K instead of N between work items:
//
//   %part = memref.alloc : C x M x Np f32       (Np: N rounded up to lanes)
//   scf.parallel (%c) = (0) to (C)              (chunk c: rows [k0, k1))
//     part[c, r, :] = 0                         (r < M)
//     scf.for k = k0 to k0 + KB * blocks step KB
//       s[r][j] = splat(f32(lhs[r, k + j]))     (j < KB)
//       scf.for n = 0 to N step lanes           (a masked vector past the
//         w[j] = f32(W[k + j, n : +lanes])       last full one)
//         part[c, r, n : +lanes] = fma(s[r][j], w[j], part[c, r, n : +lanes])
//     scf.for k = (the rows left) ... one row at a time, the same
//   scf.for n = 0 to N step lanes               (sequential, chunk order)
//     out[r, n : +lanes] = round(f32(out[r, n : +lanes]) + part[0, r, ..]
//                                + ... + part[C - 1, r, ..])
//   memref.dealloc %part
//
// The partial rows (M x Np f32 per chunk) stay in L1/L2 while the weights
// stream past; each output element sums its chunks in chunk order, so the
// result does not depend on the thread count. f16/bf16 weights are read at
// their width and widened in registers. With M > 1 each weight vector feeds
// M FMAs; KB rows a block keep a partial vector in a register across KB
// weight rows, so the partials are loaded and stored once per KB rows.
//
// With one row (M = 1) the KB = 4 rows of a block are not neighbours but
// four streams: a chunk of R rows is read as rows k, k + L, k + 2L, k + 3L
// for k in its first L = R / 4 rows (the R - 4L rows left one at a time),
// so one core keeps four distant runs of lines in flight instead of one.
// On the Zen 4 VM, SmolLM2-135M's decode step (f32 weights, context 512)
// ran 1.17-1.19x faster on 1 thread and 1.12x on 2 than with one row at a
// time (lm_head's 4 neighbouring rows made 4 streams alone: 1.14x / 1.07x);
// 8 streams 1.03x / 1.09x (interleaved runs under SCHED_FIFO against the
// old kernel and a copy of it; bench/RESULTS.md). With more rows the
// blocks keep neighbouring rows (not measured as streams).
//
//===----------------------------------------------------------------------===//

#include "RowStreamMatVec.h"

#include "attn/Conversion/ClaimLoop.h"
#include "attn/Conversion/FloatWidening.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;

namespace {

/// Rows (M) up to which a decode matvec streams its weight rows: each
/// weight vector feeds M FMAs; more rows is a prefill's or a large batch's
/// matmul, better served by the tiled kernel's row tiles.
constexpr int64_t kMaxStreamRows = 16;
/// Bytes of one chunk's partial rows (M x Np f32): within L2 beside the
/// weight stream (lm_head's [576 x 49152] is 192 KiB).
constexpr int64_t kMaxPartialBytes = 256 * 1024;
/// Bytes of all chunks' partial rows: fewer chunks for wide matrices.
constexpr int64_t kMaxScratchBytes = 512 * 1024;
/// Weight rows a chunk should have at least, and the most chunks: enough
/// work items for a few threads, each a long run of rows.
constexpr int64_t kMinChunkRows = 128;
constexpr int64_t kMaxChunks = 8;

/// Claimed chunks (claim-chunks): threads take the chunks from a counter,
/// so a thread that streams faster (its core's share of the memory, the
/// machine's other jobs) takes more of them instead of waiting at the
/// loop's end. Finer chunks than the static split's: at least
/// kMinClaimRows rows, at most kMaxClaimChunks, and partials up to
/// kMaxClaimScratchBytes (lm_head: 9 chunks of 64 rows, 1.7 MiB, summed
/// from L2/L3 once per step). Splitting a wide N into column blocks
/// instead (rows of 16 KiB pieces, 192 KiB apart) halved lm_head's rate on
/// Zen 4: the weights must stream whole rows.
constexpr int64_t kMinClaimRows = 64;
constexpr int64_t kMaxClaimChunks = 16;
constexpr int64_t kMaxClaimScratchBytes = 2 * 1024 * 1024;

/// Weight rows per block for `rows` rows: the splats (rows x KB) and a
/// weight vector per row of the block within the register file. One row
/// takes 4 streams (see the file comment); more rows KB neighbouring rows.
int64_t rowsPerBlock(int64_t rows) {
  return rows == 1 ? 4 : std::clamp<int64_t>(16 / rows, 1, 4);
}

Type elementOf(Value memref) {
  return cast<MemRefType>(memref.getType()).getElementType();
}

} // namespace

SmallVector<unsigned> mlir::attn::loopsOf(AffineMap map) {
  SmallVector<unsigned> loops;
  for (AffineExpr e : map.getResults())
    loops.push_back(cast<AffineDimExpr>(e).getPosition());
  return loops;
}

bool mlir::attn::innermostContiguous(Value memref) {
  auto type = cast<MemRefType>(memref.getType());
  if (type.getRank() == 0)
    return false;
  SmallVector<int64_t> strides;
  int64_t offset;
  return succeeded(type.getStridesAndOffset(strides, offset)) &&
         strides.back() == 1;
}

std::optional<mlir::attn::ContractionRows>
mlir::attn::contractionRows(const MatchedContraction &c, int64_t maxRows) {
  mlir::attn::ContractionRows rows;
  for (unsigned l = 0; l < c.ranges.size(); ++l) {
    if (l == c.n || l == c.k)
      continue;
    if (!c.lhsMap.isFunctionOfDim(l) || !c.outMap.isFunctionOfDim(l))
      return std::nullopt;
    rows.loops.push_back(l);
    rows.count *= c.ranges[l];
  }
  if (rows.count < 1 || rows.count > maxRows)
    return std::nullopt;
  rows.at.assign(rows.count, SmallVector<int64_t>(c.ranges.size()));
  for (int64_t r = 0; r < rows.count; ++r) {
    int64_t rest = r;
    for (unsigned l : llvm::reverse(rows.loops)) {
      rows.at[r][l] = rest % c.ranges[l];
      rest /= c.ranges[l];
    }
  }
  return rows;
}

SmallVector<Value>
mlir::attn::ContractionRows::indices(OpBuilder &b, Location loc,
                                     const MatchedContraction &c, AffineMap map,
                                     int64_t r, Value kv, Value nv) const {
  SmallVector<Value> idx;
  for (unsigned l : loopsOf(map))
    idx.push_back(l == c.n   ? nv
                  : l == c.k ? kv
                             : arith::ConstantIndexOp::create(b, loc, at[r][l])
                                   .getResult());
  return idx;
}

Value mlir::attn::readLanesAsF32(OpBuilder &b, Location loc, Value memref,
                                 ValueRange indices, int64_t lanes,
                                 bool inBounds) {
  Type element = elementOf(memref);
  Value pad = arith::ConstantOp::create(b, loc, b.getZeroAttr(element));
  Value v = vector::TransferReadOp::create(
      b, loc, VectorType::get({lanes}, element), memref, indices, pad,
      ArrayRef<bool>{inBounds});
  return attn::extendToF32(b, loc, v);
}

bool mlir::attn::emitRowStreamMatVec(RewriterBase &rewriter,
                                     const MatchedContraction &c,
                                     int64_t lanes, bool claimChunks,
                                     int64_t prefetchBytes) {
  unsigned n = c.n, k = c.k;
  SmallVector<unsigned> rhsLoops = loopsOf(c.rhsMap);
  if (rhsLoops.size() != 2 || rhsLoops[0] != k || rhsLoops[1] != n)
    return false;
  // Every other loop is a row (m) loop: read by the lhs and the output.
  std::optional<ContractionRows> rowSet = contractionRows(c, kMaxStreamRows);
  if (!rowSet)
    return false;
  int64_t rows = rowSet->count;
  int64_t cols = c.ranges[n], depth = c.ranges[k];
  int64_t paddedCols = (cols + lanes - 1) / lanes * lanes;
  int64_t partialBytes = rows * paddedCols * 4;
  if (cols < 1 || depth < 1 || partialBytes > kMaxPartialBytes)
    return false;
  int64_t block = rowsPerBlock(rows);
  int64_t chunks =
      claimChunks
          ? std::clamp<int64_t>(depth / kMinClaimRows, 1, kMaxClaimChunks)
          : std::clamp<int64_t>(depth / kMinChunkRows, 1, kMaxChunks);
  chunks = std::min(chunks, std::max<int64_t>(1, (claimChunks ? kMaxClaimScratchBytes
                                                               : kMaxScratchBytes) /
                                                     partialBytes));
  // Chunks of a whole number of blocks; no chunk is empty.
  int64_t chunkRows = (depth + chunks - 1) / chunks;
  chunkRows = (chunkRows + block - 1) / block * block;
  chunks = (depth + chunkRows - 1) / chunkRows;

  Location loc = c.op->getLoc();
  Type f32 = rewriter.getF32Type();
  auto vecType = VectorType::get({lanes}, f32);
  int64_t fullCols = cols / lanes * lanes;
  auto index = [&](OpBuilder &b, int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, loc, v);
  };
  auto indices = [&](OpBuilder &b, AffineMap map, int64_t r, Value kv,
                     Value nv) {
    return rowSet->indices(b, loc, c, map, r, kv, nv);
  };
  auto readF32 = [&](OpBuilder &b, Value memref, ValueRange idx,
                     bool inBounds) {
    return attn::readLanesAsF32(b, loc, memref, idx, lanes, inBounds);
  };
  // Full vectors in an scf.for, then the masked tail vector (if any).
  auto forEachVector = [&](OpBuilder &b,
                           function_ref<void(OpBuilder &, Value, bool)> step) {
    if (fullCols > 0)
      scf::ForOp::create(b, loc, index(b, 0), index(b, fullCols),
                         index(b, lanes), ValueRange{},
                         [&](OpBuilder &fb, Location, Value nv, ValueRange) {
                           step(fb, nv, /*inBounds=*/true);
                           scf::YieldOp::create(fb, loc);
                         });
    if (fullCols < cols)
      step(b, index(b, fullCols), /*inBounds=*/false);
  };

  // Software prefetch `prefetchBytes` ahead in the weights' memory order
  // (a flat view; only for weights with the identity layout), into L2
  // (locality 2, prefetcht1): the hardware streamers alone keep too few
  // lines in flight; into L1 (prefetcht0) it was slower on Zen 4.
  Value flatWeights;
  int64_t elementBytes =
      elementOf(c.weights).getIntOrFloatBitWidth() / 8;
  int64_t prefetchElements = prefetchBytes / elementBytes;
  auto weightsType = cast<MemRefType>(c.weights.getType());
  if (prefetchElements > 0 && weightsType.getLayout().isIdentity())
    flatWeights = memref::CollapseShapeOp::create(
        rewriter, loc, c.weights, ArrayRef<ReassociationIndices>{{0, 1}});
  Value part = memref::AllocOp::create(
      rewriter, loc, MemRefType::get({chunks * rows * paddedCols}, f32),
      rewriter.getI64IntegerAttr(64));
  auto chunkBody = [&](OpBuilder &b, Value chunk) {
    Value k0 = arith::MulIOp::create(b, loc, chunk, index(b, chunkRows));
    Value k1 = arith::MinSIOp::create(
        b, loc, arith::AddIOp::create(b, loc, k0, index(b, chunkRows)),
        index(b, depth));
    // Offset of the chunk's partial row r in `part`.
    Value chunkBase =
        arith::MulIOp::create(b, loc, chunk, index(b, rows * paddedCols));
    SmallVector<Value> rowBase;
    for (int64_t r = 0; r < rows; ++r)
      rowBase.push_back(
          arith::AddIOp::create(b, loc, chunkBase, index(b, r * paddedCols)));
    auto partAt = [&](OpBuilder &pb, int64_t r, Value nv) {
      return arith::AddIOp::create(pb, loc, rowBase[r], nv).getResult();
    };
    Value zero = arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(vecType, b.getF32FloatAttr(0)));
    scf::ForOp::create(b, loc, index(b, 0), index(b, paddedCols),
                       index(b, lanes), ValueRange{},
                       [&](OpBuilder &zb, Location, Value nv, ValueRange) {
                         for (int64_t r = 0; r < rows; ++r)
                           vector::StoreOp::create(zb, loc, zero, part,
                                                   partAt(zb, r, nv));
                         scf::YieldOp::create(zb, loc);
                       });
    // Blocks of `kb` weight rows k + j * `stride` (j < kb) for k from
    // `from` to `to` by `step`: neighbours (stride 1, step kb) or streams.
    auto streamRows = [&](Value from, Value to, int64_t kb, int64_t step,
                          Value stride) {
      scf::ForOp::create(
          b, loc, from, to, index(b, step), ValueRange{},
          [&](OpBuilder &kbld, Location, Value kv, ValueRange) {
            SmallVector<Value> kRows{kv};
            for (int64_t j = 1; j < kb; ++j)
              kRows.push_back(
                  arith::AddIOp::create(kbld, loc, kRows.back(), stride));
            SmallVector<Value> splats; // row r, block row j: r * kb + j
            for (int64_t r = 0; r < rows; ++r)
              for (int64_t j = 0; j < kb; ++j) {
                Value a = memref::LoadOp::create(
                    kbld, loc, c.lhs,
                    indices(kbld, c.lhsMap, r, kRows[j], Value()));
                splats.push_back(vector::BroadcastOp::create(
                    kbld, loc, vecType, attn::extendToF32(kbld, loc, a)));
              }
            forEachVector(kbld, [&](OpBuilder &vb, Value nv, bool inBounds) {
              SmallVector<Value> w;
              for (int64_t j = 0; j < kb; ++j)
                w.push_back(readF32(vb, c.weights, ValueRange{kRows[j], nv},
                                    inBounds));
              if (flatWeights && inBounds)
                for (int64_t j = 0; j < kb; ++j) {
                  Value at = arith::AddIOp::create(
                      vb, loc,
                      arith::MulIOp::create(vb, loc, kRows[j], index(vb, cols)),
                      nv);
                  at = arith::MinSIOp::create(
                      vb, loc,
                      arith::AddIOp::create(vb, loc, at,
                                            index(vb, prefetchElements)),
                      index(vb, depth * cols - 1));
                  memref::PrefetchOp::create(vb, loc, flatWeights,
                                             ValueRange{at}, /*isWrite=*/false,
                                             /*localityHint=*/2,
                                             /*isDataCache=*/true);
                }
              for (int64_t r = 0; r < rows; ++r) {
                Value at = partAt(vb, r, nv);
                Value acc = vector::LoadOp::create(vb, loc, vecType, part, at);
                for (int64_t j = 0; j < kb; ++j)
                  acc = vector::FMAOp::create(vb, loc, splats[r * kb + j],
                                              w[j], acc);
                vector::StoreOp::create(vb, loc, acc, part, at);
              }
            });
            scf::YieldOp::create(kbld, loc);
          });
    };
    Value one = index(b, 1);
    if (block == 1) {
      streamRows(k0, k1, 1, 1, one);
      return;
    }
    // `blocks` whole blocks (with one row: 4 streams of `blocks` rows), then
    // the chunk's rows past them (the last chunk's).
    Value blocks = arith::DivUIOp::create(
        b, loc, arith::SubIOp::create(b, loc, k1, k0), index(b, block));
    Value blockEnd = arith::AddIOp::create(
        b, loc, k0, arith::MulIOp::create(b, loc, blocks, index(b, block)));
    if (rows == 1)
      streamRows(k0, arith::AddIOp::create(b, loc, k0, blocks), block, 1,
                 blocks);
    else
      streamRows(k0, blockEnd, block, block, one);
    streamRows(blockEnd, k1, 1, 1, one);
  };
  buildItemLoop(rewriter, loc, index(rewriter, chunks), claimChunks,
                chunkBody);

  // The output's initial value plus the chunks' partials, in chunk order,
  // rounded once to the output's type.
  Type outElement = elementOf(c.out);
  forEachVector(rewriter, [&](OpBuilder &b, Value nv, bool inBounds) {
    for (int64_t r = 0; r < rows; ++r) {
      SmallVector<Value> at = indices(b, c.outMap, r, Value(), nv);
      Value acc = readF32(b, c.out, at, inBounds);
      for (int64_t ch = 0; ch < chunks; ++ch) {
        Value offset = arith::AddIOp::create(
            b, loc, nv, index(b, (ch * rows + r) * paddedCols));
        acc = arith::AddFOp::create(
            b, loc, acc, vector::LoadOp::create(b, loc, vecType, part, offset));
      }
      vector::TransferWriteOp::create(
          b, loc, attn::truncateFromF32(b, loc, acc, outElement), c.out, at,
          ArrayRef<bool>{inBounds});
    }
  });
  memref::DeallocOp::create(rewriter, loc, part);
  return true;
}
