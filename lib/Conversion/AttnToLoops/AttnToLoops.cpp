//===- AttnToLoops.cpp - lower attn ops to flash-style loops --------------===//

#include "attn/Conversion/AttnToLoops/AttnToLoops.h"

#include "FlashKernel.h"
#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <limits>

namespace mlir::attn {
#define GEN_PASS_DEF_CONVERTATTNTOLOOPS
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// The requested width, 8 when unset (0). The pass does not look at the
/// host: attn-compile-pipeline passes the width of the target it compiles for.
int64_t resolveRowLanes(int64_t requested) {
  return requested == 16 ? 16 : 8;
}

std::optional<double> softcapOf(FloatAttr attr) {
  if (!attr)
    return std::nullopt;
  return attr.getValueAsDouble();
}

/// Static head sizes are required to size the on-stack row buffers.
LogicalResult checkStaticHeads(Operation *op, Value query, Value value,
                               PatternRewriter &rewriter) {
  if (ShapedType::isDynamic(cast<ShapedType>(query.getType()).getDimSize(3)) ||
      ShapedType::isDynamic(cast<ShapedType>(value.getType()).getDimSize(3)))
    return rewriter.notifyMatchFailure(op, "dynamic head size");
  return success();
}

/// What attn.attention and attn.decode share: queries, output, mask, heads,
/// scale and softcap; the caller sets the keys, values and their extent.
template <typename OpTy>
FlashAttention describeCommon(OpTy op, const AttnToLoopsOptions &options) {
  FlashAttention a;
  a.rowLanes = resolveRowLanes(options.rowLanes);
  a.query = op.getQuery();
  a.out = op.getInit();
  a.mask = op.getMask();
  a.qHeads = op.getQHeads();
  a.kvHeads = op.getKvHeads();
  a.scale = op.getScale().convertToDouble();
  a.softcap = softcapOf(op.getSoftcapAttr());
  return a;
}

/// attn.attention on memrefs -> the flash loop nest over all keys.
struct LowerAttention : OpRewritePattern<AttentionOp> {
  LowerAttention(MLIRContext *ctx, AttnToLoopsOptions options)
      : OpRewritePattern(ctx), options(options) {}
  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureBufferSemantics())
      return rewriter.notifyMatchFailure(op, "expects memrefs");
    if (failed(checkStaticHeads(op, op.getQuery(), op.getValue(), rewriter)))
      return failure();
    if (op.getWindowLeftAttr())
      return rewriter.notifyMatchFailure(op, "windows are not lowered yet");
    Location loc = op.getLoc();
    FlashAttention a = describeCommon(op, options);
    a.key = op.getKey();
    a.value = op.getValue();
    a.kvSeqLens = op.getKvSeqLens();
    a.keyEnd = memref::DimOp::create(rewriter, loc, op.getKey(), 2);
    if (IntegerAttr offset = op.getCausalOffsetAttr())
      a.causalOffset = arith::ConstantIndexOp::create(rewriter, loc, offset.getInt());
    buildFlashAttention(rewriter, loc, a);
    rewriter.eraseOp(op);
    return success();
  }

  AttnToLoopsOptions options;
};

/// attn.decode on memrefs -> copy the new rows into the caches at
/// `position`, then the flash loop nest over the prefix [0, position + Sn).
struct LowerDecode : OpRewritePattern<DecodeOp> {
  LowerDecode(MLIRContext *ctx, AttnToLoopsOptions options)
      : OpRewritePattern(ctx), options(options) {}
  LogicalResult matchAndRewrite(DecodeOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureBufferSemantics())
      return rewriter.notifyMatchFailure(op, "expects memrefs");
    if (failed(checkStaticHeads(op, op.getQuery(), op.getValue(), rewriter)))
      return failure();
    if (!op.getPosition() || op.getWindowLeftAttr())
      return rewriter.notifyMatchFailure(op, "serving forms not lowered yet");
    Location loc = op.getLoc();
    Value position = op.getPosition();
    Value count = memref::DimOp::create(rewriter, loc, op.getKey(), 2);
    Value end = arith::AddIOp::create(rewriter, loc, position, count);
    // A position outside the cache (a caller's bug) must not write out of
    // bounds: nothing is appended and the output becomes NaN.
    Value capacity = memref::DimOp::create(rewriter, loc, op.getKeyCache(), 2);
    Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
    Value inRange = arith::AndIOp::create(
        rewriter, loc,
        arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::sge,
                              position, zero),
        arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::sle, end,
                              capacity));
    auto guard = scf::IfOp::create(rewriter, loc, inRange,
                                   /*withElseRegion=*/true);
    rewriter.setInsertionPointToStart(&guard.getElseRegion().front());
    auto outType = cast<MemRefType>(op.getInit().getType());
    Value nan = arith::ConstantOp::create(
        rewriter, loc,
        rewriter.getFloatAttr(outType.getElementType(),
                              std::numeric_limits<double>::quiet_NaN()));
    linalg::FillOp::create(rewriter, loc, nan, op.getInit());
    rewriter.setInsertionPointToStart(&guard.getThenRegion().front());
    for (auto [fresh, cache] : {std::pair{op.getKey(), op.getKeyCache()},
                                std::pair{op.getValue(), op.getValueCache()}})
      appendRows(rewriter, loc, fresh, cache, position);
    FlashAttention a = describeCommon(op, options);
    a.key = op.getKeyCache();
    a.value = op.getValueCache();
    a.keyEnd = end;
    if (op.getCausal()) {
      // Query row i stands at position + Sn - Sq + i.
      Value sq = memref::DimOp::create(rewriter, loc, op.getQuery(), 2);
      a.causalOffset = arith::SubIOp::create(rewriter, loc, end, sq);
    }
    buildFlashAttention(rewriter, loc, a);
    rewriter.eraseOp(op);
    return success();
  }

  AttnToLoopsOptions options;

private:
  /// cache[b, h, position + t, :] = fresh[b, h, t, :].
  static void appendRows(PatternRewriter &rewriter, Location loc, Value fresh,
                         Value cache, Value position) {
    auto type = cast<MemRefType>(fresh.getType());
    SmallVector<OpFoldResult> offsets{rewriter.getIndexAttr(0),
                                      rewriter.getIndexAttr(0), position,
                                      rewriter.getIndexAttr(0)};
    SmallVector<OpFoldResult> sizes;
    for (int64_t d = 0; d < 4; ++d)
      sizes.push_back(type.isDynamicDim(d)
                          ? OpFoldResult(memref::DimOp::create(rewriter, loc,
                                                               fresh, d)
                                             .getResult())
                          : rewriter.getIndexAttr(type.getDimSize(d)));
    SmallVector<OpFoldResult> strides(4, rewriter.getIndexAttr(1));
    Value window = memref::SubViewOp::create(rewriter, loc, cache, offsets,
                                             sizes, strides);
    memref::CopyOp::create(rewriter, loc, fresh, window);
  }
};

struct ConvertAttnToLoopsPass
    : attn::impl::ConvertAttnToLoopsBase<ConvertAttnToLoopsPass> {
  using Base::Base;
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    if (rowLanes != 0 && rowLanes != 8 && rowLanes != 16) {
      getOperation().emitError("row-lanes must be 0, 8 or 16, got ")
          << static_cast<int64_t>(rowLanes);
      return signalPassFailure();
    }
    populateAttnToLoopsConversionPatterns(patterns, {rowLanes});
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    // exp and tanh as vectorisable polynomials instead of libm calls.
    RewritePatternSet math(&getContext());
    populateMathPolynomialApproximationPatterns(
        math, [](StringRef name) {
          return name == math::ExpOp::getOperationName() ||
                 name == math::TanhOp::getOperationName();
        });
    if (failed(applyPatternsGreedily(getOperation(), std::move(math))))
      return signalPassFailure();
    WalkResult leftover = getOperation().walk([](Operation *op) {
      if (!isa<AttentionOp, DecodeOp>(op))
        return WalkResult::advance();
      op->emitError() << "could not be lowered to loops (it needs memref "
                         "operands and static head sizes)";
      return WalkResult::interrupt();
    });
    if (leftover.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace

void mlir::attn::populateAttnToLoopsConversionPatterns(
    RewritePatternSet &patterns, const AttnToLoopsOptions &options) {
  patterns.add<LowerAttention, LowerDecode>(patterns.getContext(), options);
}
