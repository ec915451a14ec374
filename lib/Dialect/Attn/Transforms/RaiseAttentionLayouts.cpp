//===- RaiseAttentionLayouts.cpp - attention layouts made canonical -------===//
//
// Rewrites that bring exported attention into the form attn-raise-attention
// matches:
// - Exporters that run matmuls in 3-D merge (batch, heads) into one dim,
//   transpose K there and split the batch again for the 4-D matmul
//   (torch.export of scaled_dot_product_attention with repeat_kv). Moving
//   the split before the transpose lets it meet the collapse that merged
//   the dims, so that K is seen as a 4-D transpose of the repeat_kv
//   broadcast.
// - Multi-query models that leave the KV head to MatMul's broadcasting
//   (Falcon: [B, H, S, D] x [B, 1, D, T]) import as contractions whose K or
//   V map reads the unit head dim at the constant 0. Spelling that
//   broadcast as a copy of its own gives the repeat_kv form.
//
//===----------------------------------------------------------------------===//

#include "LinalgMatchers.h"

#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::attn;

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

/// A two-input generic whose body is acc + a * b (casts allowed): a
/// contraction, whatever its maps (isaContractionOpInterface also wants
/// projected permutations, which an in-map broadcast is not).
bool isMulAddGeneric(linalg::GenericOp op) {
  return op.getNumDpsInputs() == 2 && op.getNumDpsInits() == 1 &&
         op.hasPureTensorSemantics() &&
         linalg::detail::isContractionBody(
             *op.getBlock(), [](Operation *mul, Operation *add) {
               return isa<arith::MulFOp>(mul) && isa<arith::AddFOp>(add);
             });
}

/// The loops that input `input` of `op` reads at the constant 0 of a unit
/// dim while the other input and the result have them (MatMul broadcasting
/// a batch dim of size 1; numpy aligns the operand's dim r with the
/// result's dim r): result position -> loop. Empty when there is none, the
/// map has other constants or a broadcast loop has no static size.
SmallVector<std::pair<unsigned, unsigned>> inMapBroadcasts(linalg::GenericOp op,
                                                           unsigned input) {
  SmallVector<std::pair<unsigned, unsigned>> found;
  OpOperand *operand = op.getDpsInputOperand(input);
  AffineMap map = op.getMatchingIndexingMap(operand);
  AffineMap other = op.getMatchingIndexingMap(op.getDpsInputOperand(1 - input));
  AffineMap out = op.getIndexingMapsArray().back();
  auto type = cast<ShapedType>(operand->get().getType());
  if (map.getNumResults() != out.getNumResults())
    return {};
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  for (auto [r, expr] : llvm::enumerate(map.getResults())) {
    if (isa<AffineDimExpr>(expr))
      continue;
    auto c = dyn_cast<AffineConstantExpr>(expr);
    auto loop = dyn_cast<AffineDimExpr>(out.getResult(r));
    if (!c || c.getValue() != 0 || type.getDimSize(r) != 1 || !loop ||
        map.isFunctionOfDim(loop.getPosition()) ||
        !other.isFunctionOfDim(loop.getPosition()) ||
        ShapedType::isDynamic(ranges[loop.getPosition()]))
      return {};
    found.push_back({unsigned(r), loop.getPosition()});
  }
  return found;
}

/// Pattern: the P V contraction of an attention (P a softmax) and its
/// Q K^T contraction, where K or V is read with an in-map broadcast ->
/// the same contractions over an explicit broadcast copy of that operand.
struct BroadcastAttentionOperands : OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(linalg::GenericOp pv,
                                PatternRewriter &rewriter) const override {
    if (!isMulAddGeneric(pv))
      return rewriter.notifyMatchFailure(pv, "not a contraction");
    // P = softmax(S) through casts; S = steps(Q K^T).
    int pIndex = -1;
    Value scores;
    for (unsigned i = 0; i < 2 && pIndex < 0; ++i) {
      Value p = pv.getDpsInputOperand(i)->get();
      while (std::optional<match::Step> step = match::matchStep(p)) {
        if (step->kind != match::Step::Cast)
          break;
        p = step->main;
      }
      if (std::optional<Value> s = match::matchSoftmax(p)) {
        pIndex = i;
        scores = *s;
      }
    }
    if (pIndex < 0)
      return rewriter.notifyMatchFailure(pv, "no softmax operand");
    // Back through elementwise ops (scale, softcap, masks, casts) along the
    // input of the scores' shape that they read as is. match::matchStep
    // cannot take these steps yet: a mask step must lead to a contraction
    // it recognises, which the in-map broadcast is not.
    linalg::GenericOp qk;
    for (int depth = 0; depth < 16 && scores; ++depth) {
      auto g = scores.getDefiningOp<linalg::GenericOp>();
      if (!g)
        break;
      if (isMulAddGeneric(g)) {
        qk = g;
        break;
      }
      Value next;
      if (g.getNumLoops() == g.getNumParallelLoops() &&
          g.getIndexingMapsArray().back().isIdentity())
        for (OpOperand *in : g.getDpsInputOperands())
          if (g.getMatchingIndexingMap(in).isIdentity() &&
              in->get().getType() == scores.getType() && !next)
            next = in->get();
      scores = next;
    }
    SmallVector<std::pair<linalg::GenericOp, unsigned>> targets;
    if (!inMapBroadcasts(pv, 1 - pIndex).empty())
      targets.push_back({pv, 1 - pIndex});
    if (qk)
      for (unsigned i = 0; i < 2; ++i)
        if (!inMapBroadcasts(qk, i).empty())
          targets.push_back({qk, i});
    if (targets.empty())
      return rewriter.notifyMatchFailure(pv, "no in-map broadcast");
    for (auto [op, input] : targets)
      broadcastOperand(rewriter, op, input);
    return success();
  }

private:
  static void broadcastOperand(PatternRewriter &rewriter, linalg::GenericOp op,
                               unsigned input) {
    SmallVector<std::pair<unsigned, unsigned>> broadcasts =
        inMapBroadcasts(op, input);
    OpOperand *operand = op.getDpsInputOperand(input);
    AffineMap map = op.getMatchingIndexingMap(operand);
    auto type = cast<RankedTensorType>(operand->get().getType());
    SmallVector<int64_t> ranges = op.getStaticLoopRanges();
    SmallVector<int64_t> shape(type.getShape());
    SmallVector<AffineExpr> results(map.getResults());
    MLIRContext *ctx = op.getContext();
    for (auto [r, loop] : broadcasts) {
      shape[r] = ranges[loop];
      results[r] = getAffineDimExpr(loop, ctx);
    }
    // copy[i...] = input[i with the broadcast dims at 0].
    unsigned rank = type.getRank();
    SmallVector<AffineExpr> read;
    for (unsigned d = 0; d < rank; ++d)
      read.push_back(getAffineDimExpr(d, ctx));
    for (auto [r, loop] : broadcasts)
      read[r] = getAffineConstantExpr(0, ctx);
    Location loc = op.getLoc();
    rewriter.setInsertionPoint(op);
    Value init =
        tensor::EmptyOp::create(rewriter, loc, shape, type.getElementType());
    auto copy = linalg::GenericOp::create(
        rewriter, loc, TypeRange{init.getType()}, ValueRange{operand->get()},
        ValueRange{init},
        ArrayRef<AffineMap>{AffineMap::get(rank, 0, read, ctx),
                            AffineMap::getMultiDimIdentityMap(rank, ctx)},
        SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
        [](OpBuilder &b, Location l, ValueRange args) {
          linalg::YieldOp::create(b, l, args[0]);
        });
    SmallVector<AffineMap> maps = op.getIndexingMapsArray();
    maps[input] = AffineMap::get(map.getNumDims(), 0, results, ctx);
    rewriter.modifyOpInPlace(op, [&] {
      op.setIndexingMapsAttr(rewriter.getAffineMapArrayAttr(maps));
      operand->set(copy->getResult(0));
    });
  }
};

} // namespace

void mlir::attn::populateRaiseAttentionLayoutPatterns(
    RewritePatternSet &patterns) {
  patterns.add<SplitBatchBeforeTranspose, BroadcastAttentionOperands>(
      patterns.getContext());
  // Lets the split meet the collapse that merged (batch, heads, repeats).
  tensor::ExpandShapeOp::getCanonicalizationPatterns(patterns,
                                                     patterns.getContext());
}
