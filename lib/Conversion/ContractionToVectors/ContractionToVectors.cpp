//===- ContractionToVectors.cpp - vector loops for matmuls on memrefs -----===//
//
// A decode step is a chain of matrix-vector products ([1, 1, K] x [K, N]):
// convert-linalg-to-loops turns them into scalar loops with the reduction
// innermost and strided weight reads. This conversion emits, for a linalg
// contraction (one n and one k loop, f32, weights contiguous along n):
//
//   scf.parallel over (batch..., m, n tiles)
//     acc[u] = out[..., n0 + u*VL : +VL]            (U vectors)
//     scf.for k: acc[u] = fma(splat(lhs[..., k]), rhs[..., k, n0 + u*VL : +VL], acc[u])
//     out[..., n0 + u*VL : +VL] = acc[u]
//
// so each weight row is streamed once with full vectors. Tails are masked
// transfers. Other contractions are left to convert-linalg-to-loops.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/Passes.h"

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

namespace {

/// Vectors of accumulators per work item.
constexpr int64_t kUnroll = 4;

/// The loop positions that each result of a projected-permutation map reads.
SmallVector<unsigned> loopsOf(AffineMap map) {
  SmallVector<unsigned> loops;
  for (AffineExpr e : map.getResults())
    loops.push_back(cast<AffineDimExpr>(e).getPosition());
  return loops;
}

/// The memref's innermost stride is 1.
bool innermostContiguous(Value memref) {
  auto type = cast<MemRefType>(memref.getType());
  if (type.getRank() == 0)
    return false;
  SmallVector<int64_t> strides;
  int64_t offset;
  return succeeded(type.getStridesAndOffset(strides, offset)) &&
         strides.back() == 1;
}

struct VectorizeContraction
    : OpInterfaceRewritePattern<linalg::LinalgOp> {
  VectorizeContraction(MLIRContext *ctx, int64_t lanes)
      : OpInterfaceRewritePattern(ctx), lanes(lanes) {}

  LogicalResult matchAndRewrite(linalg::LinalgOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 2 ||
        op.getNumDpsInits() != 1 || !linalg::isaContractionOpInterface(op))
      return rewriter.notifyMatchFailure(op, "not a contraction on memrefs");
    for (Value v : op->getOperands())
      if (!cast<MemRefType>(v.getType()).getElementType().isF32())
        return rewriter.notifyMatchFailure(op, "not f32");
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
    // Vectors run along n: the weights and the output must be contiguous
    // there, and the lhs must not depend on n.
    if (!lhs || !rhs || op.getMatchingIndexingMap(lhs).isFunctionOfDim(n) ||
        loopsOf(rhsMap).back() != n || loopsOf(outMap).back() != n ||
        !innermostContiguous(rhs->get()) || !innermostContiguous(out->get()))
      return rewriter.notifyMatchFailure(op, "weights not contiguous along n");

    Location loc = op.getLoc();
    int64_t tile = lanes * kUnroll;
    SmallVector<Value> lower, upper, steps;
    SmallVector<unsigned> parallelLoops;
    for (unsigned l = 0; l < ranges.size(); ++l) {
      if (l == k)
        continue;
      parallelLoops.push_back(l);
      lower.push_back(arith::ConstantIndexOp::create(rewriter, loc, 0));
      int64_t count = l == n ? (ranges[l] + tile - 1) / tile : ranges[l];
      upper.push_back(arith::ConstantIndexOp::create(rewriter, loc, count));
      steps.push_back(arith::ConstantIndexOp::create(rewriter, loc, 1));
    }
    auto vecType = VectorType::get({lanes}, rewriter.getF32Type());
    Value zero = arith::ConstantOp::create(rewriter, loc,
                                           rewriter.getF32FloatAttr(0.0f));
    auto build = [&](OpBuilder &b, Location loc, ValueRange ivs) {
      SmallVector<Value> iv(ranges.size());
      for (auto [l, v] : llvm::zip(parallelLoops, ivs))
        iv[l] = v;
      Value n0 = arith::MulIOp::create(
          b, loc, iv[n], arith::ConstantIndexOp::create(b, loc, tile));
      auto indices = [&](AffineMap map, Value nValue) {
        SmallVector<Value> idx;
        for (unsigned l : loopsOf(map))
          idx.push_back(l == n ? nValue : iv[l]);
        return idx;
      };
      SmallVector<Value> columns, acc;
      for (int64_t u = 0; u < kUnroll; ++u) {
        columns.push_back(arith::AddIOp::create(
            b, loc, n0, arith::ConstantIndexOp::create(b, loc, u * lanes)));
        acc.push_back(vector::TransferReadOp::create(
            b, loc, vecType, out->get(), indices(outMap, columns.back()), zero,
            ArrayRef<bool>{false}));
      }
      auto kLoop = scf::ForOp::create(
          b, loc, arith::ConstantIndexOp::create(b, loc, 0),
          arith::ConstantIndexOp::create(b, loc, ranges[k]),
          arith::ConstantIndexOp::create(b, loc, 1), acc,
          [&](OpBuilder &kb, Location loc, Value kv, ValueRange carried) {
            iv[k] = kv;
            Value a = memref::LoadOp::create(
                kb, loc, lhs->get(),
                indices(op.getMatchingIndexingMap(lhs), Value()));
            Value splat = vector::BroadcastOp::create(kb, loc, vecType, a);
            SmallVector<Value> next;
            for (int64_t u = 0; u < kUnroll; ++u) {
              Value w = vector::TransferReadOp::create(
                  kb, loc, vecType, rhs->get(), indices(rhsMap, columns[u]),
                  zero, ArrayRef<bool>{false});
              next.push_back(
                  vector::FMAOp::create(kb, loc, splat, w, carried[u]));
            }
            scf::YieldOp::create(kb, loc, next);
          });
      for (int64_t u = 0; u < kUnroll; ++u)
        vector::TransferWriteOp::create(b, loc, kLoop.getResult(u), out->get(),
                                        indices(outMap, columns[u]),
                                        ArrayRef<bool>{false});
    };
    scf::ParallelOp::create(rewriter, loc, lower, upper, steps, build);
    rewriter.eraseOp(op);
    return success();
  }

  int64_t lanes;
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
    patterns.add<VectorizeContraction>(&getContext(), lanes);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
