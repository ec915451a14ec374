//===- AttnCanonicalize.cpp - canonicalisation patterns of attn ops -------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::attn;

namespace {

/// Pattern: attn.attention causal(N) with N >= Skv - 1 -> attn.attention
/// Every key j < Skv satisfies j <= i + N for every row i >= 0, so the causal
/// mask removes nothing. Kept with a window, which stands at i + N.
struct DropNoOpCausal : OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    IntegerAttr offset = op.getCausalOffsetAttr();
    int64_t skv = op.getKeyType().getDimSize(2);
    if (!offset || ShapedType::isDynamic(skv) || offset.getInt() < skv - 1 ||
        op.getWindowLeftAttr())
      return failure();
    rewriter.modifyOpInPlace(op, [&] { op.removeCausalOffsetAttr(); });
    return success();
  }
};

/// Pattern: attn.attention mask(splat 0.0 | splat true) -> attn.attention
/// A constant mask that adds zero or keeps every key changes nothing.
struct DropNoOpMask : OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    Value mask = op.getMask();
    SplatElementsAttr splat;
    if (!mask || !matchPattern(mask, m_Constant(&splat)))
      return failure();
    Type elementType = splat.getElementType();
    bool noOp = elementType.isInteger(1)
                    ? splat.getSplatValue<bool>()
                    : splat.getSplatValue<APFloat>().isZero();
    if (!noOp)
      return failure();
    rewriter.modifyOpInPlace(op, [&] { op.getMaskMutable().clear(); });
    return success();
  }
};

} // namespace

void AttentionOp::getCanonicalizationPatterns(RewritePatternSet &patterns,
                                              MLIRContext *context) {
  patterns.add<DropNoOpCausal, DropNoOpMask>(context);
}
