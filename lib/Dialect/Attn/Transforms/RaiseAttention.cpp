//===- RaiseAttention.cpp - raise decomposed attention to attn.attention --===//
//
// Pattern: P V with P = softmax(mask(softcap(scale * Q K^T))) and K, V
// broadcast from Hkv heads by repeat_kv -> attn.attention heads(Hq, Hkv).
// The matching is structural (LinalgMatchers.h); this file assembles the
// pieces and builds the op from the KV tensors as they were before repeat_kv.
//
//===----------------------------------------------------------------------===//

#include "LinalgMatchers.h"
#include "RaiseAttentionMasks.h"

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNRAISEATTENTION
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::match;

namespace {

/// How a KV tensor behind repeat_kv becomes [B, Hkv, S, D] when the
/// broadcast's input is not already that: planned while matching, built
/// only once the whole attention has matched.
enum class KVReshape {
  None,
  DropRepeatDim, ///< [B, Hkv, 1, S, D] -> collapse of dims 1 and 2
  AddHeadDim,    ///< [B, S, D] -> expand to [B, 1, S, D]
};

/// A tensor seen as [batch, heads, rows, cols]: logical dimension l is
/// dimension pos[l] of `value`, or of `value` after `reshape` (which then
/// has type `reshaped` and an identity layout).
struct View {
  Value value;
  SmallVector<int64_t, 4> pos;
  KVReshape reshape = KVReshape::None;
  RankedTensorType reshaped;

  ShapedType type() const {
    return reshape == KVReshape::None ? cast<ShapedType>(value.getType())
                                      : reshaped;
  }
  int64_t dim(unsigned l) const { return type().getDimSize(pos[l]); }
  bool isIdentity() const {
    return pos == SmallVector<int64_t, 4>{0, 1, 2, 3};
  }
};

/// The view of a contraction operand whose map reads (batch..., row, col).
/// With one batch loop the operand must be a collapse of [B, H] in 4-D.
std::optional<View> operandView(const Contraction &c, OpOperand *operand,
                                unsigned row, unsigned col) {
  linalg::LinalgOp op = c.op;
  AffineMap map = op.getMatchingIndexingMap(operand);
  SmallVector<unsigned> loops(c.batch.begin(), c.batch.end());
  loops.append({row, col});
  SmallVector<int64_t> pos;
  for (unsigned loop : loops) {
    std::optional<unsigned> p =
        map.getResultPosition(getAffineDimExpr(loop, map.getContext()));
    if (!p)
      return std::nullopt;
    pos.push_back(*p);
  }
  Value value = operand->get();
  if (map.getNumResults() != loops.size())
    return std::nullopt;
  if (loops.size() == 4)
    return View{value, SmallVector<int64_t, 4>(pos.begin(), pos.end())};
  if (loops.size() != 3)
    return std::nullopt;
  auto collapse = value.getDefiningOp<tensor::CollapseShapeOp>();
  if (!collapse || collapse.getSrcType().getRank() != 4)
    return std::nullopt;
  auto groups = collapse.getReassociationIndices();
  if (groups[pos[0]].size() != 2 || groups[pos[1]].size() != 1 ||
      groups[pos[2]].size() != 1)
    return std::nullopt;
  return View{collapse.getSrc(),
              {groups[pos[0]][0], groups[pos[0]][1], groups[pos[1]][0],
               groups[pos[2]][0]}};
}

/// Looks through transposes (and, with `scale`, multiplications by a
/// constant, as torch.export splits sqrt(scale) over Q and K).
void lookThrough(View &view, double *scale) {
  // A planned reshape has no producer to look through yet.
  if (view.reshape != KVReshape::None)
    return;
  while (true) {
    if (std::optional<Copy> copy = matchCopy(view.value);
        copy && copy->isPermutation()) {
      for (int64_t &p : view.pos)
        p = copy->inputDimOf[p];
      view.value = copy->input;
      continue;
    }
    if (std::optional<Step> step = matchStep(view.value);
        scale && step && step->kind == Step::Scale) {
      *scale *= step->factor;
      view.value = step->main;
      continue;
    }
    return;
  }
}

/// The KV tensor behind a repeat_kv broadcast of an identity-layout
/// [B, Hq, S, D] view, as an identity view of [B, Hkv, S, D], and Hkv;
/// std::nullopt when `view` is not such a broadcast. Pure analysis: a
/// reshape the KV tensor needs is planned in the view, not built. Handled
/// spellings:
///   collapse([B, Hkv, R, S, D] <- broadcast over dim 2)   (Llama repeat_kv)
///   broadcast over dim 1 from [B, S, D] or [B, 1, S, D]   (single KV head)
///   broadcast of the head dim from size 1 in any layout   (MatMul's
///                            broadcast, as Falcon's MQA exports it)
/// A repeat whose copies are outer ([R, Hkv], as Tile makes) is not
/// repeat_kv: query head h would read KV head h % Hkv, so it stays.
std::optional<std::pair<View, int64_t>> peelRepeatKV(const View &view) {
  if (view.reshape != KVReshape::None)
    return std::nullopt;
  // A single KV head broadcast in place: the copy reads every other dim as
  // it is and the head dim from a unit dim.
  if (std::optional<Copy> copy = matchCopy(view.value)) {
    auto in = cast<RankedTensorType>(copy->input.getType());
    bool headOnly = in.getRank() == 4 && view.dim(1) > 1;
    for (unsigned l = 0; l < 4 && headOnly; ++l) {
      int64_t p = view.pos[l], from = copy->inputDimOf[p];
      headOnly = l == 1 ? from == -1 && in.getDimSize(p) == 1 : from == p;
    }
    if (headOnly)
      return std::make_pair(View{copy->input, view.pos}, int64_t(1));
  }
  if (!view.isIdentity())
    return std::nullopt;
  Value x = view.value;
  auto type = cast<RankedTensorType>(x.getType());
  auto asIs = [](Value v, int64_t kvHeads) {
    return std::make_pair(View{v, {0, 1, 2, 3}}, kvHeads);
  };
  auto planned = [](Value v, KVReshape reshape, RankedTensorType four,
                    int64_t kvHeads) {
    return std::make_pair(View{v, {0, 1, 2, 3}, reshape, four}, kvHeads);
  };
  Value five;
  if (auto collapse = x.getDefiningOp<tensor::CollapseShapeOp>()) {
    auto groups = collapse.getReassociationIndices();
    if (collapse.getSrcType().getRank() == 5 && groups[1].size() == 2 &&
        groups[1][0] == 1)
      five = collapse.getSrc();
  } else if (auto reshape = x.getDefiningOp<tensor::ReshapeOp>()) {
    auto src = cast<RankedTensorType>(reshape.getSource().getType());
    if (src.getRank() == 5 && src.hasStaticShape() && type.hasStaticShape() &&
        src.getDimSize(0) == type.getDimSize(0) &&
        src.getDimSize(3) == type.getDimSize(2) &&
        src.getDimSize(4) == type.getDimSize(3))
      five = reshape.getSource();
  }
  if (five) {
    std::optional<Copy> copy = matchCopy(five);
    if (!copy)
      return std::nullopt;
    auto in = cast<RankedTensorType>(copy->input.getType());
    const auto &d = copy->inputDimOf;
    int64_t kvHeads = cast<ShapedType>(five.getType()).getDimSize(1);
    if (in.getRank() == 4 && d == SmallVector<int64_t>{0, 1, -1, 2, 3})
      return asIs(copy->input, kvHeads);
    if (in.getRank() == 5 && in.getDimSize(2) == 1 &&
        d == SmallVector<int64_t>{0, 1, -1, 3, 4}) {
      Value src = copy->input;
      if (auto expand = src.getDefiningOp<tensor::ExpandShapeOp>();
          expand && expand.getSrcType().getRank() == 4)
        return asIs(expand.getSrc(), kvHeads);
      auto four = RankedTensorType::get(
          {in.getDimSize(0), in.getDimSize(1), in.getDimSize(3),
           in.getDimSize(4)},
          in.getElementType());
      return planned(src, KVReshape::DropRepeatDim, four, kvHeads);
    }
    return std::nullopt;
  }
  std::optional<Copy> copy = matchCopy(x);
  if (!copy || type.getDimSize(1) <= 1)
    return std::nullopt;
  auto in = cast<RankedTensorType>(copy->input.getType());
  const auto &d = copy->inputDimOf;
  if (in.getRank() == 3 && d == SmallVector<int64_t>{0, -1, 1, 2}) {
    auto four = RankedTensorType::get(
        {in.getDimSize(0), 1, in.getDimSize(1), in.getDimSize(2)},
        in.getElementType());
    return planned(copy->input, KVReshape::AddHeadDim, four, 1);
  }
  return std::nullopt;
}

/// `view` as a [B, H, rows, cols] tensor: the planned reshape, then a
/// transpose when the layout needs one.
Value materialize(OpBuilder &b, Location loc, const View &view) {
  switch (view.reshape) {
  case KVReshape::DropRepeatDim:
    return tensor::CollapseShapeOp::create(
        b, loc, view.reshaped, view.value,
        ArrayRef<ReassociationIndices>{{0}, {1, 2}, {3}, {4}});
  case KVReshape::AddHeadDim:
    return tensor::ExpandShapeOp::create(
        b, loc, view.reshaped, view.value,
        ArrayRef<ReassociationIndices>{{0, 1}, {2}, {3}});
  case KVReshape::None:
    break;
  }
  if (view.isIdentity())
    return view.value;
  auto type = view.type();
  SmallVector<int64_t> shape;
  for (unsigned l = 0; l < 4; ++l)
    shape.push_back(view.dim(l));
  Value init = tensor::EmptyOp::create(b, loc, shape, type.getElementType());
  return linalg::TransposeOp::create(b, loc, view.value, init, view.pos)
      ->getResult(0);
}

/// The score transformations between Q K^T and the softmax, in order.
struct ScoreChain {
  double scale = 1.0;
  std::optional<double> softcap;
  SmallVector<Step> masks;
};

/// Parses scale* [tanh scale+]? mask* (casts anywhere), the order exporters
/// write; anything else (say a scale after a mask) is not raised.
std::optional<ScoreChain> parseChain(ArrayRef<Step> forward) {
  ScoreChain chain;
  size_t i = 0;
  auto takeScales = [&](double &factor) {
    for (; i < forward.size(); ++i) {
      if (forward[i].kind == Step::Scale)
        factor *= forward[i].factor;
      else if (forward[i].kind != Step::Cast)
        return;
    }
  };
  takeScales(chain.scale);
  if (i < forward.size() && forward[i].kind == Step::Tanh) {
    ++i;
    double cap = 1.0;
    takeScales(cap);
    if (!(cap > 0.0))
      return std::nullopt;
    chain.softcap = cap;
    chain.scale *= cap;
  }
  for (; i < forward.size(); ++i) {
    if (forward[i].kind == Step::AddMask || forward[i].kind == Step::BoolMask)
      chain.masks.push_back(forward[i]);
    else if (forward[i].kind != Step::Cast)
      return std::nullopt;
  }
  return chain;
}

/// Everything the raised op is built from, found without creating IR.
struct AttentionPlan {
  View q, k, v;
  int64_t qHeads, kvHeads;
  double scale;
  std::optional<double> softcap;
  MaskPlan masks;
  RankedTensorType attentionType; ///< [B, Hq, Sq, Dv]
};

/// Raises one attention rooted at its P V contraction. Matching is pure
/// analysis and decides everything; the rewrite cannot fail.
struct RaiseAttentionPattern : OpInterfaceRewritePattern<linalg::LinalgOp> {
  using OpInterfaceRewritePattern::OpInterfaceRewritePattern;

  LogicalResult matchAndRewrite(linalg::LinalgOp op,
                                PatternRewriter &rewriter) const override {
    FailureOr<AttentionPlan> plan = matchAttention(op, rewriter);
    if (failed(plan))
      return failure();
    rewrite(op, *plan, rewriter);
    return success();
  }

private:
  FailureOr<AttentionPlan> matchAttention(linalg::LinalgOp op,
                                          PatternRewriter &rewriter) const {
    if (op->getNumResults() != 1)
      return failure();
    // A half-precision P V accumulates in f32 and is rounded by a cast of
    // its own (how f16 graphs are imported): the attention then replaces
    // the cast, which has the operands' element type.
    Value pvResult = op->getResult(0);
    if (std::optional<Step> cast = matchStep(pvResult);
        cast && cast->kind == Step::Cast && matchContraction(cast->main))
      pvResult = cast->main;
    std::optional<Contraction> pv = matchContraction(pvResult);
    if (!pv || !hasCanonicalLayout(*pv, /*checkLhs=*/true))
      return rewriter.notifyMatchFailure(op, "not a P V contraction");

    // P = softmax(S), possibly through casts.
    Value p = pv->lhs->get();
    while (true) {
      if (Value src = throughBatchReshape(p)) {
        p = src;
        continue;
      }
      std::optional<Step> step = matchStep(p);
      if (!step || step->kind != Step::Cast)
        break;
      p = step->main;
    }
    std::optional<Value> s = matchSoftmax(p);
    if (!s)
      return rewriter.notifyMatchFailure(op, "P is not a softmax");

    // S = chain(Q K^T).
    SmallVector<Step> backward;
    Value cur = *s;
    std::optional<Contraction> qk;
    while (!(qk = matchContraction(cur))) {
      if (Value src = throughBatchReshape(cur)) {
        cur = src;
        continue;
      }
      std::optional<Step> step = matchStep(cur);
      if (!step || backward.size() > 16)
        return rewriter.notifyMatchFailure(op, "scores are not Q K^T");
      backward.push_back(*step);
      cur = step->main;
    }
    if (qk->batch.size() != pv->batch.size() ||
        !hasCanonicalLayout(*qk, /*checkLhs=*/false))
      return rewriter.notifyMatchFailure(op, "Q K^T layout");
    std::optional<ScoreChain> chain =
        parseChain(SmallVector<Step>(llvm::reverse(backward)));
    if (!chain)
      return rewriter.notifyMatchFailure(op, "unsupported score chain");

    // Q, K, V as [B, H, S, D] views.
    std::optional<View> q = operandView(*qk, qk->lhs, qk->m, qk->k);
    std::optional<View> k = operandView(*qk, qk->rhs, qk->n, qk->k);
    std::optional<View> v = operandView(*pv, pv->rhs, pv->k, pv->n);
    if (!q || !k || !v)
      return rewriter.notifyMatchFailure(op, "operands are not [B, H, S, D]");
    double scale = chain->scale;
    lookThrough(*q, &scale);
    lookThrough(*k, &scale);
    lookThrough(*v, nullptr);

    int64_t qHeads = q->dim(1);
    int64_t kvHeads = k->dim(1);
    auto peeledK = peelRepeatKV(*k);
    auto peeledV = peelRepeatKV(*v);
    if (peeledK.has_value() != peeledV.has_value() ||
        (peeledK && peeledK->second != peeledV->second))
      return rewriter.notifyMatchFailure(op, "K and V repeated differently");
    if (peeledK) {
      k = peeledK->first;
      v = peeledV->first;
      lookThrough(*k, &scale);
      lookThrough(*v, nullptr);
      kvHeads = peeledK->second;
    }
    if (kvHeads <= 0 || qHeads % kvHeads != 0 || k->dim(1) != kvHeads ||
        v->dim(1) != kvHeads)
      return rewriter.notifyMatchFailure(op, "head counts");

    Type elementType = q->type().getElementType();
    auto resultType = cast<RankedTensorType>(op->getResult(0).getType());
    if (k->type().getElementType() != elementType ||
        v->type().getElementType() != elementType ||
        resultType.getElementType() != elementType)
      return rewriter.notifyMatchFailure(op, "mixed element types");

    SmallVector<int64_t> outShape{q->dim(0), qHeads, q->dim(2), v->dim(3)};
    std::optional<MaskPlan> masks =
        planMasks(chain->masks, outShape, k->dim(2));
    if (!masks)
      return rewriter.notifyMatchFailure(op, "unsupported mask layout");

    // The op's init is a tensor.empty of this shape, which needs it static.
    auto attentionType = RankedTensorType::get(outShape, elementType);
    if (!attentionType.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "dynamic attention shape");
    bool resultFits =
        resultType.getRank() == 4
            ? resultType == attentionType
            : resultType.getRank() == 3 &&
                  tensor::CollapseShapeOp::inferCollapsedType(
                      attentionType, batchHeadGroups()) == resultType;
    if (!resultFits)
      return rewriter.notifyMatchFailure(op, "result shape");
    return AttentionPlan{*q,    *k,    *v, qHeads, kvHeads, scale,
                         chain->softcap, std::move(*masks), attentionType};
  }

  void rewrite(linalg::LinalgOp op, const AttentionPlan &plan,
               PatternRewriter &rewriter) const {
    Location loc = op.getLoc();
    rewriter.setInsertionPoint(op);
    Value query = materialize(rewriter, loc, plan.q);
    Value key = materialize(rewriter, loc, plan.k);
    Value value = materialize(rewriter, loc, plan.v);
    Value mask = buildMask(rewriter, loc, plan.masks);
    Value init = tensor::EmptyOp::create(rewriter, loc,
                                         plan.attentionType.getShape(),
                                         plan.attentionType.getElementType());
    auto attention = AttentionOp::create(
        rewriter, loc, TypeRange{plan.attentionType}, query, key, value, mask,
        /*kv_seq_lens=*/Value(), init,
        rewriter.getI64IntegerAttr(plan.qHeads),
        rewriter.getI64IntegerAttr(plan.kvHeads),
        rewriter.getF64FloatAttr(plan.scale),
        plan.masks.causalOffset
            ? rewriter.getI64IntegerAttr(*plan.masks.causalOffset)
            : IntegerAttr(),
        plan.softcap ? rewriter.getF64FloatAttr(*plan.softcap) : FloatAttr());
    // A sliding-window (band) mask becomes window(L, 0): the lowering then
    // visits O(window) keys per query instead of O(Skv).
    if (plan.masks.windowLeft) {
      attention.setWindowLeftAttr(
          rewriter.getI64IntegerAttr(*plan.masks.windowLeft));
      attention.setWindowRightAttr(rewriter.getI64IntegerAttr(0));
    }
    attention->setAttr("attn.source", rewriter.getStringAttr("raised"));
    Value result = attention->getResult(0);
    auto resultType = cast<RankedTensorType>(op->getResult(0).getType());
    if (resultType.getRank() == 3)
      result = tensor::CollapseShapeOp::create(rewriter, loc, resultType,
                                               result, batchHeadGroups());
    rewriter.replaceOp(op, result);
  }

  /// [[0, 1], [2], [3]]: (batch, heads) merged, as 3-D matmuls see them.
  static SmallVector<ReassociationIndices> batchHeadGroups() {
    return {{0, 1}, {2}, {3}};
  }

  /// The output is (batch..., m, n) in order and, with `checkLhs`, the lhs
  /// is read as (batch..., m, k): how S flows into the softmax and P out.
  static bool hasCanonicalLayout(const Contraction &c, bool checkLhs) {
    auto inOrder = [&](AffineMap map, unsigned last) {
      SmallVector<unsigned> loops(c.batch.begin(), c.batch.end());
      loops.append({c.m, last});
      if (map.getNumResults() != loops.size())
        return false;
      for (auto [i, loop] : llvm::enumerate(loops))
        if (map.getResult(i) != getAffineDimExpr(loop, map.getContext()))
          return false;
      return true;
    };
    linalg::LinalgOp op = c.op;
    AffineMap out = op.getIndexingMapsArray().back();
    return inOrder(out, c.n) &&
           (!checkLhs || inOrder(op.getMatchingIndexingMap(c.lhs), c.k));
  }
};

struct AttnRaiseAttentionPass
    : attn::impl::AttnRaiseAttentionBase<AttnRaiseAttentionPass> {
  using Base::Base;
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateRaiseAttentionLayoutPatterns(patterns);
    populateRaiseAttentionPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::attn::populateRaiseAttentionPatterns(RewritePatternSet &patterns) {
  patterns.add<RaiseAttentionPattern>(patterns.getContext());
}
