//===- DotMatVec.cpp - decode matvecs on weights stored [N, K] ------------===//
//
// A contraction whose weights are stored with k innermost (`x[M, K] x
// W^T` with W^T [N, K]: ONNX Gemm with transB, and the decode projections
// that attn-transpose-matvec-weights stores transposed) computes each
// output element as a dot product over one contiguous weight row. With few
// rows M this form reads every weight once, in whole rows, and keeps no
// partial sums in memory:
//
//   scf.parallel (%c) = (0) to (C)               (chunk c: columns [n0, n1))
//     q = (n1 - n0) / S
//     scf.for j = 0 to q                          (S columns n0 + j + s q)
//       acc[r][s][u] = 0                          (R x S x U vectors)
//       scf.for k = 0 to K step U * lanes         (iter_args: acc)
//         x[r][u] = f32(lhs[r, k + u * lanes : +lanes])
//         acc[r][s][u] = fma(x[r][u], f32(W^T[col s, k + u * lanes : +lanes]),
//                            acc[r][s][u])
//       (the vectors past the last whole step; a masked one past K)
//       out[r, col s] = round(f32(out[r, col s]) + reduce_add(acc[r][s][..]))
//     scf.for n = n0 + S q to n1                  (the columns left, one each)
//
// With one row (a decode step) S = 1 and U = 2: each chunk is one stream of
// whole weight rows in memory order, two FMA chains per row, the
// activations in L1, no partial sums in memory (the row-streaming form over
// [K, N] weights, RowStreamMatVec.cpp, loads and stores a partial output
// vector per 4 FMAs). With more rows, S columns j, j + q, j + 2q, j + 3q
// (as many as the accumulators allow) share each activation load. The
// horizontal sum (reassociated: a tree) is paid once per output element
// and row, against K / lanes FMAs.
//
// Measured on the Zen 4 VM (SmolLM2-135M's f32 decode step at context 512,
// its weights transposed by attn-transpose-matvec-weights; interleaved runs
// in random order under SCHED_FIFO, paired medians; bench/RESULTS.md): one
// stream 1.016-1.029x faster than the row-streaming form on 1 thread (a
// control copy 1.004x), the same on 2; four distant rows per step (the
// form a C replica had favoured) 0.97x, four with a 1 KiB prefetch 1.02x,
// four FMA chains 0.96x. Before this form a contraction on [N, K] weights
// (ONNX Gemm with transB) fell to convert-linalg-to-loops' scalar loops.
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

/// Rows (M) up to which a contraction on [N, K] weights takes this form:
/// each weight vector feeds M FMAs from one load; the activations (M x K)
/// stay in L1.
constexpr int64_t kMaxDotRows = 16;
/// Columns a chunk should have at least, and the most chunks: a few work
/// items per thread, each a long run of weight rows.
constexpr int64_t kMinChunkColumns = 32;
constexpr int64_t kMaxChunks = 8;
/// With claimed chunks (claim-chunks): finer ones, which the threads take
/// from a shared counter.
constexpr int64_t kMinClaimColumns = 16;
constexpr int64_t kMaxClaimChunks = 32;
/// Weight rows read together (the streams of one step).
constexpr int64_t kMaxStreams = 4;

/// Accumulator registers: 24 of AVX-512's 32, 12 of AVX2's 16; the rest
/// hold the activations and a weight vector.
int64_t accumulatorBudget(int64_t lanes) { return lanes == 16 ? 24 : 12; }

} // namespace

bool mlir::attn::emitDotMatVec(RewriterBase &rewriter,
                               const MatchedContraction &c, int64_t lanes,
                               bool claimChunks) {
  unsigned n = c.n, k = c.k;
  SmallVector<unsigned> rhsLoops = loopsOf(c.rhsMap);
  SmallVector<unsigned> lhsLoops = loopsOf(c.lhsMap);
  if (rhsLoops.size() != 2 || rhsLoops[0] != n || rhsLoops[1] != k ||
      lhsLoops.empty() || lhsLoops.back() != k ||
      !innermostContiguous(c.lhs) || !innermostContiguous(c.weights))
    return false;
  std::optional<ContractionRows> rowSet = contractionRows(c, kMaxDotRows);
  int64_t cols = c.ranges[n], depth = c.ranges[k];
  if (!rowSet || cols < 1 || depth < 1)
    return false;
  int64_t rows = rowSet->count;

  // S columns per step: one with one row (a single stream of whole weight
  // rows in memory order), else as many as the accumulators allow, up to
  // kMaxStreams; U vectors of k per column (two with one row: two FMA
  // chains).
  int64_t streams =
      rows == 1 ? 1
                : std::clamp<int64_t>(accumulatorBudget(lanes) / rows, 1,
                                      kMaxStreams);
  int64_t unroll = rows == 1 && depth >= 2 * lanes ? 2 : 1;
  int64_t step = unroll * lanes;
  int64_t fullDepth = depth / step * step;
  int64_t chunks =
      claimChunks
          ? std::clamp<int64_t>(cols / kMinClaimColumns, 1, kMaxClaimChunks)
          : std::clamp<int64_t>(cols / kMinChunkColumns, 1, kMaxChunks);
  int64_t chunkCols = (cols + chunks - 1) / chunks;
  chunks = (cols + chunkCols - 1) / chunkCols;

  Location loc = c.op->getLoc();
  Type f32 = rewriter.getF32Type();
  auto vecType = VectorType::get({lanes}, f32);
  Type outElement = cast<MemRefType>(c.out.getType()).getElementType();
  auto index = [&](OpBuilder &b, int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, loc, v);
  };
  auto indices = [&](OpBuilder &b, AffineMap map, int64_t r, Value kv,
                     Value nv) {
    return rowSet->indices(b, loc, c, map, r, kv, nv);
  };

  // acc[(r * S + s) * U + u] for the `columns` (S or fewer) of one step.
  auto dotColumns = [&](OpBuilder &b, ArrayRef<Value> columns) {
    int64_t s = columns.size();
    int64_t count = rows * s * unroll;
    Value zero = arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(vecType, b.getF32FloatAttr(0)));
    SmallVector<Value> acc(count, zero);
    // One step of `vectors` vectors from `kv` (the last one masked unless
    // `inBounds`), updating `sums`.
    auto accumulate = [&](OpBuilder &ab, Value kv, int64_t vectors,
                          bool inBounds, SmallVector<Value> &sums) {
      for (int64_t u = 0; u < vectors; ++u) {
        Value ku = u == 0 ? kv
                          : arith::AddIOp::create(ab, loc, kv,
                                                  index(ab, u * lanes))
                                .getResult();
        bool full = inBounds || u + 1 < vectors;
        SmallVector<Value> x;
        for (int64_t r = 0; r < rows; ++r)
          x.push_back(attn::readLanesAsF32(
              ab, loc, c.lhs, indices(ab, c.lhsMap, r, ku, Value()), lanes,
              full));
        for (int64_t j = 0; j < s; ++j) {
          Value w = attn::readLanesAsF32(ab, loc, c.weights,
                                         ValueRange{columns[j], ku}, lanes,
                                         full);
          for (int64_t r = 0; r < rows; ++r) {
            Value &a = sums[(r * s + j) * unroll + u];
            a = vector::FMAOp::create(ab, loc, x[r], w, a);
          }
        }
      }
    };
    if (fullDepth > 0) {
      auto loop = scf::ForOp::create(
          b, loc, index(b, 0), index(b, fullDepth), index(b, step), acc,
          [&](OpBuilder &lb, Location, Value kv, ValueRange carried) {
            SmallVector<Value> sums(carried.begin(), carried.end());
            accumulate(lb, kv, unroll, /*inBounds=*/true, sums);
            scf::YieldOp::create(lb, loc, sums);
          });
      acc.assign(loop.getResults().begin(), loop.getResults().end());
    }
    // Past the whole steps: the vectors left one at a time (u = 0: into
    // each column's first accumulator), the last one masked when the lanes
    // do not divide K.
    for (int64_t at = fullDepth; at < depth; at += lanes)
      accumulate(b, index(b, at), 1, at + lanes <= depth, acc);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < s; ++j) {
        Value v = acc[(r * s + j) * unroll];
        for (int64_t u = 1; u < unroll; ++u)
          v = arith::AddFOp::create(b, loc, v, acc[(r * s + j) * unroll + u]);
        SmallVector<Value> at = indices(b, c.outMap, r, Value(), columns[j]);
        Value init = attn::extendToF32(
            b, loc, memref::LoadOp::create(b, loc, c.out, at));
        Value sum = vector::ReductionOp::create(
            b, loc, vector::CombiningKind::ADD, v, init,
            arith::FastMathFlags::reassoc);
        memref::StoreOp::create(b, loc,
                                attn::truncateFromF32(b, loc, sum, outElement),
                                c.out, at);
      }
  };

  auto chunkBody = [&](OpBuilder &b, Value chunk) {
    Value n0 = arith::MulIOp::create(b, loc, chunk, index(b, chunkCols));
    Value n1 = arith::MinSIOp::create(
        b, loc, arith::AddIOp::create(b, loc, n0, index(b, chunkCols)),
        index(b, cols));
    Value span = arith::SubIOp::create(b, loc, n1, n0);
    Value q = arith::DivUIOp::create(b, loc, span, index(b, streams));
    scf::ForOp::create(
        b, loc, index(b, 0), q, index(b, 1), ValueRange{},
        [&](OpBuilder &jb, Location, Value j, ValueRange) {
          SmallVector<Value> columns{arith::AddIOp::create(jb, loc, n0, j)};
          for (int64_t s = 1; s < streams; ++s)
            columns.push_back(
                arith::AddIOp::create(jb, loc, columns.back(), q));
          dotColumns(jb, columns);
          scf::YieldOp::create(jb, loc);
        });
    if (streams == 1)
      return;
    Value rest = arith::AddIOp::create(
        b, loc, n0, arith::MulIOp::create(b, loc, q, index(b, streams)));
    scf::ForOp::create(b, loc, rest, n1, index(b, 1), ValueRange{},
                       [&](OpBuilder &cb, Location, Value col, ValueRange) {
                         dotColumns(cb, {col});
                         scf::YieldOp::create(cb, loc);
                       });
  };
  buildItemLoop(rewriter, loc, index(rewriter, chunks), claimChunks,
                chunkBody);
  return true;
}
