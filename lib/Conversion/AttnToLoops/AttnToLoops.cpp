//===- AttnToLoops.cpp - lower attn ops to flash-style loops --------------===//

#include "attn/Conversion/AttnToLoops/AttnToLoops.h"

#include "FlashKernel.h"
#include "PagedDecode.h"
#include "attn/Conversion/ArgumentBuffer.h"
#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "KernelEmitter.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
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
  a.inlineBF16Widening = options.inlineBF16Widening;
  a.overlapTileWidening = options.overlapTileWidening;
  a.keyRowsInOrder = options.keyRowsInOrder;
  a.groupedTileKeys = options.groupedTileKeys;
  a.f16GroupedTileKeys = options.f16GroupedTileKeys;
  a.claimWorkItems = options.claimWorkItems;
  a.tileAlignment = options.tileAlignment;
  a.bf16DotProducts = options.bf16DotProducts;
  a.query = op.getQuery();
  a.out = op.getInit();
  a.mask = op.getMask();
  a.qHeads = op.getQHeads();
  a.kvHeads = op.getKvHeads();
  a.scale = op.getScale().convertToDouble();
  a.softcap = softcapOf(op.getSoftcapAttr());
  return a;
}

/// The op's window attributes into `a`.
template <typename OpTy>
void describeWindow(OpTy op, FlashAttention &a) {
  a.windowLeft = op.getWindowLeftBound();
  a.windowRight = op.getWindowRightBound();
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
    Location loc = op.getLoc();
    FlashAttention a = describeCommon(op, options);
    a.key = op.getKey();
    a.value = op.getValue();
    a.kvSeqLens = op.getKvSeqLens();
    a.keyEnd = memref::DimOp::create(rewriter, loc, op.getKey(), 2);
    if (IntegerAttr offset = op.getCausalOffsetAttr()) {
      a.causal = true;
      a.queryOffset =
          arith::ConstantIndexOp::create(rewriter, loc, offset.getInt());
    }
    describeWindow(op, a);
    buildFlashAttention(rewriter, loc, a);
    rewriter.eraseOp(op);
    return success();
  }

  AttnToLoopsOptions options;
};

/// attn.decode on memrefs -> check every row's position against the cache
/// capacity; if all fit, copy the new rows into the caches at their
/// positions, then the flash loop nest over each row's prefix
/// [0, pos[b] + Sn). A position outside the cache (a caller's bug) writes
/// nothing: the run reports it through the runtime (kPositionErrorHook, when
/// declared) and the output becomes NaN.
struct LowerDecode : OpRewritePattern<DecodeOp> {
  LowerDecode(MLIRContext *ctx, AttnToLoopsOptions options)
      : OpRewritePattern(ctx), options(options) {}
  LogicalResult matchAndRewrite(DecodeOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureBufferSemantics())
      return rewriter.notifyMatchFailure(op, "expects memrefs");
    if (failed(checkStaticHeads(op, op.getQuery(), op.getValue(), rewriter)) ||
        (op.isLatent() &&
         failed(checkStaticHeads(op, op.getQuery(), op.getKeyCache(),
                                 rewriter))))
      return failure();
    Location loc = op.getLoc();
    if (op.isPaged()) {
      FlashAttention a = describeCommon(op, options);
      describeWindow(op, a);
      buildPagedDecode(rewriter, op, a);
      rewriter.eraseOp(op);
      return success();
    }
    Emitter e{rewriter, loc};
    Value count = e.dim(op.getKey(), 2);
    Value capacity = e.dim(op.getKeyCache(), 2);
    Value positions = op.getPositions();
    auto positionAt = [&](Value b) -> Value {
      Value p = memref::LoadOp::create(rewriter, loc, positions, b);
      return arith::IndexCastOp::create(rewriter, loc, rewriter.getIndexType(),
                                        p);
    };
    // pos < 0 or end = pos + Sn > Smax (a ring has no end).
    Value ringSlots = op.isRing() ? capacity : Value();
    auto outside = [&](Value p, Value end) -> Value {
      if (ringSlots)
        return e.cmp(arith::CmpIPredicate::slt, p, e.idx(0));
      Value tooFar = e.cmp(arith::CmpIPredicate::sgt, end, capacity);
      return arith::OrIOp::create(
          rewriter, loc, e.cmp(arith::CmpIPredicate::slt, p, e.idx(0)), tooFar);
    };

    // All rows fit; else the first bad row. The largest end pos[b] + Sn.
    Value inRange, badRow, end;
    if (positions) {
      Value batch = e.dim(op.getQuery(), 0);
      auto scan = scf::ForOp::create(rewriter, loc, e.idx(0), batch, e.idx(1),
                                     ValueRange{e.idx(-1), e.idx(0)});
      {
        OpBuilder::InsertionGuard guard(rewriter);
        rewriter.setInsertionPointToStart(scan.getBody());
        Value b = scan.getInductionVar();
        Value p = positionAt(b);
        Value rowEnd = e.add(p, count);
        Value first = scan.getRegionIterArgs()[0];
        Value isFirst = arith::AndIOp::create(
            rewriter, loc, outside(p, rowEnd),
            e.cmp(arith::CmpIPredicate::slt, first, e.idx(0)));
        scf::YieldOp::create(
            rewriter, loc,
            ValueRange{e.select(isFirst, b, first),
                       e.max(scan.getRegionIterArgs()[1], rowEnd)});
      }
      badRow = scan.getResult(0);
      end = scan.getResult(1);
      inRange = e.cmp(arith::CmpIPredicate::slt, badRow, e.idx(0));
    } else {
      Value p = op.getPosition();
      end = e.add(p, count);
      inRange = arith::XOrIOp::create(
          rewriter, loc, outside(p, end),
          arith::ConstantOp::create(rewriter, loc, rewriter.getBoolAttr(true)));
    }
    auto guard = scf::IfOp::create(rewriter, loc, inRange,
                                   /*withElseRegion=*/true);
    rewriter.setInsertionPointToStart(&guard.getElseRegion().front());
    reportBadPosition(op, e, badRow, count, capacity);
    rewriter.setInsertionPointToStart(&guard.getThenRegion().front());
    for (auto [fresh, cache, scale] :
         {std::tuple{op.getKey(), op.getKeyCache(), op.getKeyScale()},
          std::tuple{op.getValue(), op.getValueCache(), op.getValueScale()}}) {
      // A cache of another element type (8-bit codes, a narrower float),
      // or a ring whose new entries may wrap around, is written element by
      // element through the encoder.
      if (getElementTypeOrSelf(cache.getType()) !=
              getElementTypeOrSelf(fresh.getType()) ||
          ringSlots) {
        if (!positions) {
          appendConverted(e, fresh, cache, scale, op.getPosition(), Value(),
                          ringSlots);
          continue;
        }
        e.loop(e.idx(0), e.dim(op.getQuery(), 0), e.idx(1), [&](Value b) {
          appendConverted(e, fresh, cache, scale, positionAt(b), b, ringSlots);
        });
        continue;
      }
      if (!positions) {
        appendRows(rewriter, loc, fresh, cache, op.getPosition(), Value());
        continue;
      }
      e.loop(e.idx(0), e.dim(op.getQuery(), 0), e.idx(1), [&](Value b) {
        appendRows(rewriter, loc, fresh, cache, positionAt(b), b);
      });
    }
    FlashAttention a = describeCommon(op, options);
    a.key = op.getKeyCache();
    a.value = op.getValueCache();
    // Latent (MLA): key rows [latent, rope] from the two caches, value rows
    // the latent itself, so each cached element is read once per step.
    if (op.isLatent()) {
      a.keyRope = op.getValueCache();
      a.value = op.getKeyCache();
    }
    a.keyEnd = end;
    a.keyScale = op.getKeyScale();
    a.valueScale = op.getValueScale();
    a.causal = op.getCausal();
    a.treeMask = op.getTreeMask();
    a.ringSlots = ringSlots;
    // Query row i stands at pos[b] + Sn - Sq + i.
    if (positions) {
      a.rowPositions = positions;
      a.newKeys = count;
    } else {
      a.queryOffset = e.sub(end, e.dim(op.getQuery(), 2));
    }
    describeWindow(op, a);
    buildFlashAttention(rewriter, loc, a);
    rewriter.eraseOp(op);
    return success();
  }

  AttnToLoopsOptions options;

private:
  /// NaN output, and a call of the runtime's hook naming the position's
  /// buffer, the row (-1 for one position), the position, Sn and Smax.
  static void reportBadPosition(DecodeOp op, Emitter &e, Value badRow,
                                Value count, Value capacity) {
    OpBuilder &b = e.b;
    Value positions = op.getPositions();
    Value row = badRow, position;
    int64_t buffer;
    if (positions) {
      position = memref::LoadOp::create(b, e.loc, positions, badRow);
      buffer = argumentBuffer(positions);
    } else {
      position = op.getPosition();
      row = e.idx(-1);
      buffer = argumentBuffer(position);
    }
    reportDecodeError(b, op, buffer, row, position, count, capacity);
  }

  /// cache[b, h, position + t, :] = fresh[b, h, t, :], for every b (`row`
  /// null) or for b = `row`.
  static void appendRows(PatternRewriter &rewriter, Location loc, Value fresh,
                         Value cache, Value position, Value row) {
    auto type = cast<MemRefType>(fresh.getType());
    OpFoldResult zero = rewriter.getIndexAttr(0), one = rewriter.getIndexAttr(1);
    SmallVector<OpFoldResult> sizes;
    for (int64_t d = 0; d < 4; ++d)
      sizes.push_back(type.isDynamicDim(d)
                          ? OpFoldResult(memref::DimOp::create(rewriter, loc,
                                                               fresh, d)
                                             .getResult())
                          : rewriter.getIndexAttr(type.getDimSize(d)));
    SmallVector<OpFoldResult> strides(4, one);
    SmallVector<OpFoldResult> cacheOffsets{zero, zero, position, zero};
    SmallVector<OpFoldResult> freshOffsets(4, zero);
    Value source = fresh;
    if (row) {
      sizes[0] = one;
      cacheOffsets[0] = row;
      freshOffsets[0] = row;
      source = memref::SubViewOp::create(rewriter, loc, fresh, freshOffsets,
                                         sizes, strides);
    }
    Value window = memref::SubViewOp::create(rewriter, loc, cache, cacheOffsets,
                                             sizes, strides);
    memref::CopyOp::create(rewriter, loc, source, window);
  }
};

struct ConvertAttnToLoopsPass
    : attn::impl::ConvertAttnToLoopsBase<ConvertAttnToLoopsPass> {
  using Base::Base;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    bool anyDecode = false;
    module.walk([&](DecodeOp) { anyDecode = true; });
    if (anyDecode)
      declareAttnRuntimeHooks(module);
    RewritePatternSet patterns(&getContext());
    if (rowLanes != 0 && rowLanes != 8 && rowLanes != 16) {
      getOperation().emitError("row-lanes must be 0, 8 or 16, got ")
          << static_cast<int64_t>(rowLanes);
      return signalPassFailure();
    }
    if (tileAlignment != 0 &&
        (tileAlignment < 2 || !llvm::isPowerOf2_64(tileAlignment))) {
      getOperation().emitError("tile-alignment must be 0 or a power of two "
                               "of at least 2 bytes, got ")
          << static_cast<int64_t>(tileAlignment);
      return signalPassFailure();
    }
    populateAttnToLoopsConversionPatterns(patterns,
                                          {rowLanes, inlineBF16Widening,
                                           overlapTileWidening,
                                           keyRowsInOrder, groupedTileKeys,
                                           f16GroupedTileKeys, claimWorkItems,
                                           tileAlignment, bf16DotProducts});
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

void mlir::attn::reportDecodeError(OpBuilder &b, DecodeOp op, int64_t buffer,
                                   Value row, Value value, Value entries,
                                   Value limit) {
  Location loc = op.getLoc();
  auto outType = cast<MemRefType>(op.getInit().getType());
  Value nan = arith::ConstantOp::create(
      b, loc,
      b.getFloatAttr(outType.getElementType(),
                     std::numeric_limits<double>::quiet_NaN()));
  linalg::FillOp::create(b, loc, nan, op.getInit());
  if (!SymbolTable::lookupNearestSymbolFrom(
          op, b.getStringAttr(kPositionErrorHook)))
    return;
  auto i64 = [&](Value v) -> Value {
    Type t = b.getI64Type();
    if (v.getType() == t)
      return v;
    if (v.getType().isIndex())
      return arith::IndexCastOp::create(b, loc, t, v);
    return arith::ExtSIOp::create(b, loc, t, v);
  };
  Value bufferValue =
      arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(buffer));
  func::CallOp::create(b, loc, kPositionErrorHook, TypeRange{},
                       ValueRange{bufferValue, i64(row), i64(value),
                                  i64(entries), i64(limit)});
}

void mlir::attn::declareAttnRuntimeHooks(ModuleOp module) {
  if (SymbolTable::lookupSymbolIn(module, kPositionErrorHook))
    return;
  OpBuilder b = OpBuilder::atBlockBegin(module.getBody());
  Type i64 = b.getI64Type();
  auto hook = func::FuncOp::create(
      b, module.getLoc(), kPositionErrorHook,
      b.getFunctionType({i64, i64, i64, i64, i64}, {}));
  hook.setPrivate();
}

void mlir::attn::populateAttnToLoopsConversionPatterns(
    RewritePatternSet &patterns, const AttnToLoopsOptions &options) {
  patterns.add<LowerAttention, LowerDecode>(patterns.getContext(), options);
}
