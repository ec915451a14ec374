//===- ContractionToVectors.cpp - vector loops for matmuls on memrefs -----===//
//
// A decode step is a chain of matrix-vector products ([1, 1, K] x [K, N]):
// convert-linalg-to-loops turns them into scalar loops with the reduction
// innermost and strided weight reads. This conversion emits, for a linalg
// contraction (one n and one k loop, f32/f16/bf16 operands, weights
// contiguous along n):
//
//   scf.parallel over (batch..., m, n tiles of U vectors)
//     acc[u] = f32(out[..., n0 + u*VL : +VL])                (U vectors)
//     scf.for k:
//       prefetch rhs[k + kPrefetchRows, n0 ..]               (per line)
//       acc[u] = fma(splat(f32(lhs[..., k])), f32(rhs[k, n0 + u*VL : +VL]),
//                    acc[u])
//     out[..., n0 + u*VL : +VL] = acc[u]                     (rounded)
//
// so each weight row is streamed once with full vectors, at its own width
// (f16/bf16 weights are widened in registers: half the bytes of f32), and
// accumulated in f32. U is as large as the register file allows while the
// tiles still give a few work items per matrix: a wide tile makes each
// weight row's piece a long contiguous run (fewer, longer streams for the
// hardware prefetcher), and the software prefetch a few rows ahead covers
// the jump from one row to the next. Tails are masked transfers (none when
// the lanes divide N: the unroll divides the vectors of a row).
//
// With many rows (a prefill's [B, S, K] x [K, N], at least kMinBlockedRows)
// a work item computes R rows (4 with 16 lanes, 2 below; a divisor of the
// innermost row loop) by U vectors: R splats and U weight vectors feed
// R x U FMAs per k, so the weights are read once per R rows instead of once
// per row, and the column tiles are the outermost parallel loop, so a
// tile's weight panel stays in cache while every row block reads it. Each
// output element still accumulates its k terms in order with the same FMAs:
// the results are bitwise those of the one-row kernel. Other contractions
// are left to convert-linalg-to-loops.
//
// With the row-streaming option (set for AMD Zen 4, whose hardware
// prefetchers lose the tiled kernel's strided row pieces), a decode matvec
// with few rows reads whole weight rows in memory order and splits K
// between work items instead (RowStreamMatVec.cpp).
//
// Weights stored [N, K] (k innermost: Gemm with transB, or decode weights
// that attn-transpose-matvec-weights transposed) with few rows take dot
// products over whole weight rows instead (DotMatVec.cpp), on every target.
//
//===----------------------------------------------------------------------===//

#include "RowStreamMatVec.h"

#include "attn/Conversion/FloatWidening.h"
#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/Transforms/WideningCopy.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attn {
#define GEN_PASS_DEF_CONVERTCONTRACTIONTOVECTORS
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using mlir::attn::innermostContiguous;
using mlir::attn::loopsOf;

namespace {

/// Work items a matrix should at least split into (when it has the
/// columns): enough for a few threads with static scheduling.
constexpr int64_t kMinWorkItems = 4;
/// Rows (the product of the loops only the lhs and the output read) from
/// which a work item computes several rows at once: a prefill's projections
/// rather than a decode step's.
constexpr int64_t kMinBlockedRows = 64;
/// Weight rows between the one read and the one prefetched.
constexpr int64_t kPrefetchRows = 8;

/// Float types the kernel reads and writes (it computes in f32).
bool isSupportedFloat(Type t) { return t.isF32() || t.isF16() || t.isBF16(); }

/// Vectors of accumulators per work item for `vectors` output vectors per
/// row and `outer` rows: the largest divisor of `vectors` up to `maxUnroll`
/// that still leaves kMinWorkItems work items; the largest divisor up to
/// `maxUnroll` when none does.
int64_t chooseUnroll(int64_t vectors, int64_t outer, int64_t maxUnroll) {
  int64_t fallback = 1;
  for (int64_t u = std::min(vectors, maxUnroll); u >= 1; --u) {
    if (vectors % u != 0)
      continue;
    if (fallback == 1)
      fallback = u;
    if (vectors / u * outer >= kMinWorkItems)
      return u;
  }
  return fallback;
}

/// The elementwise linalg.generic that fills `buffer` (a memref.alloc read
/// only by `consumer`, apart from deallocations) with arith.extf of a
/// narrower float memref of the same shape and identity layout, placed
/// before `consumer` in its block; null when there is none. A weight stored
/// f16/bf16 and widened in the graph reaches the contraction this way: the
/// contraction can read the narrow memref instead and widen in registers.
linalg::GenericOp wideningProducer(Value buffer, Operation *consumer) {
  if (!buffer.getDefiningOp<memref::AllocOp>())
    return nullptr;
  linalg::GenericOp writer;
  for (Operation *user : buffer.getUsers()) {
    if (user == consumer || isa<memref::DeallocOp>(user))
      continue;
    auto generic = dyn_cast<linalg::GenericOp>(user);
    if (!generic || writer || !attn::isWideningCopy(generic) ||
        generic.getDpsInitOperand(0)->get() != buffer)
      return nullptr;
    writer = generic;
  }
  if (!writer || writer->getBlock() != consumer->getBlock() ||
      !writer->isBeforeInBlock(consumer))
    return nullptr;
  auto source = cast<MemRefType>(writer.getDpsInputOperand(0)->get().getType());
  auto target = cast<MemRefType>(buffer.getType());
  if (!isSupportedFloat(source.getElementType()) ||
      source.getShape() != target.getShape() ||
      !source.getLayout().isIdentity() || !target.getLayout().isIdentity())
    return nullptr;
  return writer;
}

struct VectorizeContraction
    : OpInterfaceRewritePattern<linalg::LinalgOp> {
  VectorizeContraction(MLIRContext *ctx, int64_t lanes, bool rowStreaming,
                       bool claimChunks, int64_t prefetchBytes)
      : OpInterfaceRewritePattern(ctx), lanes(lanes),
        rowStreaming(rowStreaming), claimChunks(claimChunks),
        prefetchBytes(prefetchBytes) {}

  LogicalResult matchAndRewrite(linalg::LinalgOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 2 ||
        op.getNumDpsInits() != 1 || !linalg::isaContractionOpInterface(op))
      return rewriter.notifyMatchFailure(op, "not a contraction on memrefs");
    for (Value v : op->getOperands())
      if (!isSupportedFloat(cast<MemRefType>(v.getType()).getElementType()))
        return rewriter.notifyMatchFailure(op, "not f32, f16 or bf16");
    FailureOr<linalg::ContractionDimensions> dims =
        linalg::inferContractionDims(op);
    if (failed(dims) || dims->n.size() != 1 ||
        dims->k.size() != 1)
      return rewriter.notifyMatchFailure(op, "not one n and one k loop");
    unsigned n = dims->n[0], k = dims->k[0];
    SmallVector<int64_t> ranges = op.getStaticLoopRanges();
    if (llvm::any_of(ranges, ShapedType::isDynamic))
      return rewriter.notifyMatchFailure(op, "dynamic loop ranges");
    for (AffineMap map : op.getIndexingMapsArray())
      if (!map.isProjectedPermutation())
        return rewriter.notifyMatchFailure(op, "indexing map not a projection");

    OpOperand *lhs = nullptr, *rhs = nullptr;
    for (OpOperand *operand : op.getDpsInputOperands()) {
      AffineMap map = op.getMatchingIndexingMap(operand);
      (map.isFunctionOfDim(n) ? rhs : lhs) = operand;
    }
    OpOperand *out = op.getDpsInitOperand(0);
    AffineMap rhsMap = op.getMatchingIndexingMap(rhs);
    AffineMap outMap = op.getMatchingIndexingMap(out);
    if (!lhs || !rhs || op.getMatchingIndexingMap(lhs).isFunctionOfDim(n))
      return rewriter.notifyMatchFailure(op, "no operand without n");
    // Weights widened by a separate elementwise op: read the narrow ones.
    Value weights = rhs->get();
    linalg::GenericOp widening = wideningProducer(weights, op);
    if (widening)
      weights = widening.getDpsInputOperand(0)->get();
    AffineMap lhsMap = op.getMatchingIndexingMap(lhs);

    // Weights [N, K] (k innermost) and few rows: dot products over weight
    // rows (DotMatVec.cpp).
    if (loopsOf(rhsMap).back() == k &&
        attn::emitDotMatVec(rewriter,
                            {op, lhs->get(), weights, lhsMap, rhsMap,
                             out->get(), outMap, n, k, ranges},
                            lanes, claimChunks)) {
      eraseWithWidening(rewriter, op, widening);
      return success();
    }
    // Vectors run along n: the weights and the output must be contiguous
    // there.
    if (loopsOf(rhsMap).back() != n || loopsOf(outMap).back() != n ||
        !innermostContiguous(rhs->get()) || !innermostContiguous(out->get()))
      return rewriter.notifyMatchFailure(op, "weights not contiguous along n");

    if (rowStreaming &&
        attn::emitRowStreamMatVec(rewriter,
                                  {op, lhs->get(), weights, lhsMap, rhsMap,
                                   out->get(), outMap, n, k, ranges},
                                  lanes, claimChunks, prefetchBytes)) {
      eraseWithWidening(rewriter, op, widening);
      return success();
    }

    Location loc = op.getLoc();
    int64_t vectors = (ranges[n] + lanes - 1) / lanes;
    int64_t outer = 1;
    for (unsigned l = 0; l < ranges.size(); ++l)
      if (l != n && l != k)
        outer *= ranges[l];
    // Many rows (a prefill): a tile of R rows shares each weight vector.
    std::optional<unsigned> m;
    int64_t rows = 1, rowsPerTile = 1;
    for (unsigned l = 0; l < ranges.size(); ++l)
      if (l != n && l != k && lhsMap.isFunctionOfDim(l) &&
          !rhsMap.isFunctionOfDim(l) && outMap.isFunctionOfDim(l)) {
        m = l;
        rows *= ranges[l];
      }
    if (m && rows >= kMinBlockedRows)
      for (int64_t r = lanes == 16 ? 4 : 2; r >= 2; --r)
        if (ranges[*m] % r == 0) {
          rowsPerTile = r;
          break;
        }
    // Accumulators + the splats + a weight vector within the register file
    // (16 vector registers below AVX-512, 32 with it).
    int64_t maxUnroll = rowsPerTile > 1 ? (lanes == 16 ? 6 : 4)
                        : lanes == 16   ? 16
                                        : 8;
    int64_t unroll = chooseUnroll(vectors, outer / rowsPerTile, maxUnroll);
    int64_t tile = lanes * unroll;
    // Row tiles iterate the column tiles outermost: a tile's weight panel
    // (K x tile) stays in cache while every row block reads it.
    SmallVector<unsigned> parallelLoops;
    if (rowsPerTile > 1)
      parallelLoops.push_back(n);
    for (unsigned l = 0; l < ranges.size(); ++l)
      if (l != k && (rowsPerTile == 1 || l != n))
        parallelLoops.push_back(l);
    SmallVector<Value> lower, upper, steps;
    for (unsigned l : parallelLoops) {
      lower.push_back(arith::ConstantIndexOp::create(rewriter, loc, 0));
      int64_t count = l == n                  ? (ranges[l] + tile - 1) / tile
                      : m && l == *m          ? ranges[l] / rowsPerTile
                                              : ranges[l];
      upper.push_back(arith::ConstantIndexOp::create(rewriter, loc, count));
      steps.push_back(arith::ConstantIndexOp::create(rewriter, loc, 1));
    }
    Type f32 = rewriter.getF32Type();
    auto vecType = VectorType::get({lanes}, f32);
    auto elementOf = [](Value v) {
      return cast<MemRefType>(v.getType()).getElementType();
    };
    Type rhsElement = elementOf(weights), outElement = elementOf(out->get());
    // Weight elements per 64-byte cache line.
    int64_t perLine = 512 / rhsElement.getIntOrFloatBitWidth();
    // The unroll divides the vectors per row: when the lanes divide N too,
    // no vector crosses the end of a row and no transfer needs a mask.
    bool inBounds = ranges[n] % lanes == 0;
    auto build = [&](OpBuilder &b, Location loc, ValueRange ivs) {
      auto index = [&](int64_t v) {
        return arith::ConstantIndexOp::create(b, loc, v).getResult();
      };
      auto readF32 = [&](OpBuilder &rb, Value memref, ValueRange idx) {
        return attn::readLanesAsF32(rb, loc, memref, idx, lanes, inBounds);
      };
      SmallVector<Value> iv(ranges.size());
      for (auto [l, v] : llvm::zip(parallelLoops, ivs))
        iv[l] = v;
      Value n0 = arith::MulIOp::create(b, loc, iv[n], index(tile));
      // The loop indices of row r of the tile (m = its first row + r).
      SmallVector<SmallVector<Value>> rowIv(rowsPerTile, iv);
      if (rowsPerTile > 1) {
        Value first = arith::MulIOp::create(b, loc, iv[*m], index(rowsPerTile));
        for (int64_t r = 0; r < rowsPerTile; ++r)
          rowIv[r][*m] =
              r == 0 ? first : arith::AddIOp::create(b, loc, first, index(r));
      }
      auto indices = [&](ArrayRef<Value> at, AffineMap map, Value nValue) {
        SmallVector<Value> idx;
        for (unsigned l : loopsOf(map))
          idx.push_back(l == n ? nValue : at[l]);
        return idx;
      };
      // Accumulator r * unroll + u: row r, vector u of the tile.
      SmallVector<Value> columns, acc;
      for (int64_t u = 0; u < unroll; ++u)
        columns.push_back(arith::AddIOp::create(b, loc, n0, index(u * lanes)));
      for (int64_t r = 0; r < rowsPerTile; ++r)
        for (int64_t u = 0; u < unroll; ++u)
          acc.push_back(
              readF32(b, out->get(), indices(rowIv[r], outMap, columns[u])));
      // Prefetched columns: one per cache line of the tile, clamped to the
      // last column (a tail tile's lines past it are not needed).
      SmallVector<Value> lineColumns;
      Value lastColumn = index(ranges[n] - 1);
      for (int64_t c = 0; c < tile; c += perLine)
        lineColumns.push_back(arith::MinSIOp::create(
            b, loc, arith::AddIOp::create(b, loc, n0, index(c)), lastColumn));
      Value lastRow = index(ranges[k] - 1);
      auto kLoop = scf::ForOp::create(
          b, loc, index(0), index(ranges[k]), index(1), acc,
          [&](OpBuilder &kb, Location loc, Value kv, ValueRange carried) {
            SmallVector<Value> ahead(iv);
            ahead[k] = arith::MinSIOp::create(
                kb, loc,
                arith::AddIOp::create(kb, loc, kv,
                                      arith::ConstantIndexOp::create(
                                          kb, loc, kPrefetchRows)),
                lastRow);
            for (Value column : lineColumns)
              memref::PrefetchOp::create(kb, loc, weights,
                                         indices(ahead, rhsMap, column),
                                         /*isWrite=*/false,
                                         /*localityHint=*/3,
                                         /*isDataCache=*/true);
            SmallVector<Value> splats;
            for (int64_t r = 0; r < rowsPerTile; ++r) {
              SmallVector<Value> at(rowIv[r]);
              at[k] = kv;
              Value a = memref::LoadOp::create(kb, loc, lhs->get(),
                                               indices(at, lhsMap, Value()));
              splats.push_back(vector::BroadcastOp::create(
                  kb, loc, vecType, attn::extendToF32(kb, loc, a)));
            }
            // Each weight vector is read once for the tile's rows; every
            // output element still accumulates its k terms in order.
            SmallVector<Value> next(carried.begin(), carried.end());
            SmallVector<Value> at(iv);
            at[k] = kv;
            for (int64_t u = 0; u < unroll; ++u) {
              Value w = readF32(kb, weights, indices(at, rhsMap, columns[u]));
              for (int64_t r = 0; r < rowsPerTile; ++r)
                next[r * unroll + u] = vector::FMAOp::create(
                    kb, loc, splats[r], w, carried[r * unroll + u]);
            }
            scf::YieldOp::create(kb, loc, next);
          });
      for (int64_t r = 0; r < rowsPerTile; ++r)
        for (int64_t u = 0; u < unroll; ++u)
          vector::TransferWriteOp::create(
              b, loc,
              attn::truncateFromF32(b, loc, kLoop.getResult(r * unroll + u),
                                    outElement),
              out->get(), indices(rowIv[r], outMap, columns[u]),
              ArrayRef<bool>{inBounds});
    };
    scf::ParallelOp::create(rewriter, loc, lower, upper, steps, build);
    eraseWithWidening(rewriter, op, widening);
    return success();
  }

  /// Erases the converted `op` and, when it read weights widened by
  /// `widening`, the widening and its f32 buffer (no reader left).
  static void eraseWithWidening(PatternRewriter &rewriter, Operation *op,
                                linalg::GenericOp widening) {
    rewriter.eraseOp(op);
    if (!widening)
      return;
    Value buffer = widening.getDpsInitOperand(0)->get();
    rewriter.eraseOp(widening);
    for (Operation *user : llvm::make_early_inc_range(buffer.getUsers()))
      rewriter.eraseOp(user);
    rewriter.eraseOp(buffer.getDefiningOp());
  }

  int64_t lanes;
  bool rowStreaming;
  bool claimChunks;
  int64_t prefetchBytes;
};

struct ConvertContractionToVectorsPass
    : attn::impl::ConvertContractionToVectorsBase<
          ConvertContractionToVectorsPass> {
  using Base::Base;
  void runOnOperation() override {
    int64_t lanes = vectorLanes;
    // Unset: 256-bit vectors. The pass does not look at the host;
    // attn-compile-pipeline passes the width of the target it compiles for.
    if (lanes == 0)
      lanes = 8;
    if (lanes != 4 && lanes != 8 && lanes != 16) {
      getOperation().emitError("vector-lanes must be 0, 4, 8 or 16, got ")
          << lanes;
      return signalPassFailure();
    }
    RewritePatternSet patterns(&getContext());
    patterns.add<VectorizeContraction>(&getContext(), lanes, rowStreaming,
                                       claimChunks, prefetchBytes);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
