//===- RaiseAttentionLayouts.cpp - batch reshapes around transposes -------===//
//
// Exporters that run matmuls in 3-D merge (batch, heads) into one dim,
// transpose K there and split the batch again for the 4-D matmul
// (torch.export of scaled_dot_product_attention with repeat_kv). Moving the
// split before the transpose lets it meet the collapse that merged the
// dims, so that K is seen as a 4-D transpose of the repeat_kv broadcast,
// the form attn-raise-attention matches.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;

namespace {

/// Pattern: expand_shape(linalg.transpose(Y, [0, a, b]), [[0, 1], [2], [3]])
///       -> linalg.transpose(expand_shape(Y, [[0, 1], [2], [3]]),
///                           [0, 1, a + 1, b + 1])
struct SplitBatchBeforeTranspose : OpRewritePattern<tensor::ExpandShapeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(tensor::ExpandShapeOp expand,
                                PatternRewriter &rewriter) const override {
    auto transpose = expand.getSrc().getDefiningOp<linalg::TransposeOp>();
    if (!transpose || !transpose->hasOneUse() ||
        !transpose.hasPureTensorSemantics())
      return rewriter.notifyMatchFailure(expand, "not a transpose's result");
    ArrayRef<int64_t> perm = transpose.getPermutation();
    auto groups = expand.getReassociationIndices();
    if (perm.size() != 3 || perm[0] != 0 || groups.size() != 3 ||
        groups[0].size() != 2 || groups[1].size() != 1 ||
        groups[2].size() != 1)
      return rewriter.notifyMatchFailure(expand, "not a batch split");
    auto resultType = expand.getResultType();
    if (ShapedType::isDynamic(resultType.getDimSize(0)) ||
        ShapedType::isDynamic(resultType.getDimSize(1)))
      return rewriter.notifyMatchFailure(expand, "dynamic batch split");
    Value y = transpose.getInput();
    auto yType = cast<RankedTensorType>(y.getType());
    SmallVector<int64_t> splitShape = {resultType.getDimSize(0),
                                       resultType.getDimSize(1),
                                       yType.getDimSize(1),
                                       yType.getDimSize(2)};
    if (llvm::any_of(splitShape, ShapedType::isDynamic))
      return rewriter.notifyMatchFailure(expand, "dynamic sizes");
    Location loc = expand.getLoc();
    auto splitType =
        RankedTensorType::get(splitShape, yType.getElementType());
    Value split = tensor::ExpandShapeOp::create(
        rewriter, loc, splitType, y,
        ArrayRef<ReassociationIndices>{{0, 1}, {2}, {3}});
    Value init = tensor::EmptyOp::create(rewriter, loc, resultType.getShape(),
                                         resultType.getElementType());
    SmallVector<int64_t> splitPerm = {0, 1, perm[1] + 1, perm[2] + 1};
    rewriter.replaceOp(expand, linalg::TransposeOp::create(
                                   rewriter, loc, split, init, splitPerm)
                                   ->getResults());
    return success();
  }
};

} // namespace

void mlir::attn::populateRaiseAttentionLayoutPatterns(
    RewritePatternSet &patterns) {
  patterns.add<SplitBatchBeforeTranspose>(patterns.getContext());
  // Lets the split meet the collapse that merged (batch, heads, repeats).
  tensor::ExpandShapeOp::getCanonicalizationPatterns(patterns,
                                                     patterns.getContext());
}
