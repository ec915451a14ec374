//===- AbsorbLatentProjections.cpp - MLA: attend over the latent ----------===//
//
// Pattern (multi-head latent attention as exported, every step):
//   kv   = latent [B, 1, T, r] @ W [r, H * E]       (kv_b_proj, whole cache)
//   X    = transpose(reshape(kv, [B, T, H, E]))      [B, H, T, E]
//   K    = concat(X[..., a:a+nope], bcast_heads(R))  R: rotary key [B, 1, T, rope]
//   V    = X[..., b:b+vd]
//   o    = attn.attention heads(H, H) (Q, K, V)
// -> the up-projections move onto the query and the output:
//   Q'   = concat(Q[..., :nope] @_h Wk_h^T, Q[..., nope:])    [B, H, S, r+rope]
//   o'   = attn.attention heads(H, 1) (Q', concat(latent, R), latent)
//   o    = o'[b, h] @ Wv_h                                     [B, H, S, vd]
// with Wk_h = W[:, h*E + a : +nope], Wv_h = W[:, h*E + b : +vd]. Scores are
// q_h . (c Wk_h) = (q_h Wk_h^T) . c, and sum_t p_t (c_t Wv_h) =
// (sum_t p_t c_t) Wv_h, so the result is the same up to rounding, while the
// per-step O(T * H * r * (nope + vd)) re-projection of the cache disappears.
//
//===----------------------------------------------------------------------===//

#include "LinalgMatchers.h"
#include "MulAdd.h"

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNABSORBLATENTPROJECTIONS
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// Everything the rewrite needs, found before anything changes.
struct LatentPlan {
  AttentionOp op;
  Value latent;  ///< [B, 1, T, r] or [B, T, r]: the up-projection's input
  Value weight;  ///< [r, H * E]
  Value ropeKey; ///< [B, 1, T, rope] or [B, T, rope]
  int64_t heads, rank, nope, rope, vd, headWidth, keyOffset, valueOffset;
};

/// `x[0, 0, 0, off : off + size]` of a rank-4 tensor (unit strides, whole
/// leading dims): the source and the offset.
std::optional<std::pair<Value, int64_t>> lastDimSlice(Value v) {
  auto slice = v.getDefiningOp<tensor::ExtractSliceOp>();
  if (!slice || slice.getSourceType().getRank() != 4 ||
      slice.getResultType().getRank() != 4 || !slice.hasUnitStride())
    return std::nullopt;
  ArrayRef<int64_t> offsets = slice.getStaticOffsets();
  ArrayRef<int64_t> sizes = slice.getStaticSizes();
  for (int d = 0; d < 3; ++d)
    if (offsets[d] != 0 || sizes[d] != slice.getSourceType().getDimSize(d))
      return std::nullopt;
  if (ShapedType::isDynamic(offsets[3]))
    return std::nullopt;
  return std::make_pair(slice.getSource(), offsets[3]);
}

/// out[batch..., m, n] = sum_k lhs[batch..., m, k] * rhs[k, n] with a zero
/// init: the lhs and rhs. (The batch dims are not in rhs, which the generic
/// contraction matcher would count as more m dims.)
std::optional<std::pair<Value, Value>> matchRightWeightMatmul(Value v) {
  auto op = v.getDefiningOp<linalg::LinalgOp>();
  if (!op || op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1 ||
      !linalg::isaContractionOpInterface(op))
    return std::nullopt;
  std::optional<double> init = match::splatValue(op.getDpsInitOperand(0)->get());
  if (!init || *init != 0.0)
    return std::nullopt;
  unsigned loops = op.getNumLoops();
  auto outRank = cast<ShapedType>(v.getType()).getRank();
  if (outRank < 2 || loops != unsigned(outRank) + 1)
    return std::nullopt;
  MLIRContext *ctx = v.getContext();
  auto dims = [&](ArrayRef<unsigned> ds) {
    SmallVector<AffineExpr> exprs;
    for (unsigned d : ds)
      exprs.push_back(getAffineDimExpr(d, ctx));
    return AffineMap::get(loops, 0, exprs, ctx);
  };
  SmallVector<unsigned> outDims, lhsDims;
  for (unsigned d = 0; d < unsigned(outRank); ++d)
    outDims.push_back(d);
  lhsDims.assign(outDims.begin(), outDims.end() - 1);
  lhsDims.push_back(outRank); // k
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  if (maps[2] != dims(outDims) || maps[0] != dims(lhsDims) ||
      maps[1] != dims({unsigned(outRank), unsigned(outRank) - 1}))
    return std::nullopt;
  return std::make_pair(op.getDpsInputOperand(0)->get(),
                        op.getDpsInputOperand(1)->get());
}

/// A [B, 1, T, x] or [B, T, x] tensor as the rank-4 form.
bool isHeadlessSequence(ShapedType t, int64_t b, int64_t seq) {
  if (t.getRank() == 4)
    return t.getDimSize(0) == b && t.getDimSize(1) == 1 &&
           t.getDimSize(2) == seq;
  return t.getRank() == 3 && t.getDimSize(0) == b && t.getDimSize(1) == seq;
}

std::optional<LatentPlan> matchLatentAttention(AttentionOp op) {
  if (op.getNumResults() != 1 || op.getQHeads() != op.getKvHeads())
    return std::nullopt;
  ShapedType qType = op.getQueryType(), kType = op.getKeyType(),
             vType = op.getValueType();
  if (!qType.hasStaticShape() || !kType.hasStaticShape() ||
      !vType.hasStaticShape() || !qType.getElementType().isF32() ||
      !kType.getElementType().isF32() || !vType.getElementType().isF32())
    return std::nullopt;
  int64_t batch = kType.getDimSize(0), heads = kType.getDimSize(1),
          seq = kType.getDimSize(2);

  // K = concat(nope part, rotary part) on the head dim.
  auto concat = op.getKey().getDefiningOp<tensor::ConcatOp>();
  if (!concat || concat.getDim() != 3 || concat.getInputs().size() != 2)
    return std::nullopt;
  Value keyNope = concat.getInputs()[0], keyRope = concat.getInputs()[1];
  auto nopeSlice = lastDimSlice(keyNope);
  auto valueSlice = lastDimSlice(op.getValue());
  if (!nopeSlice || !valueSlice || nopeSlice->first != valueSlice->first)
    return std::nullopt;
  Value perHead = nopeSlice->first; // [B, H, T, E]
  auto perHeadType = cast<ShapedType>(perHead.getType());
  int64_t width = perHeadType.getDimSize(3);

  // X = transpose(Y, [0, 2, 1, 3]), Y [B, T, H, E] a reshape of kv.
  std::optional<match::Copy> transpose = match::matchCopy(perHead);
  if (!transpose ||
      transpose->inputDimOf != SmallVector<int64_t>{0, 2, 1, 3})
    return std::nullopt;
  // Reshapes keep the row-major order, so [batch..., T, H*E] with
  // prod(batch) = B reads as [B, T, H, E] whatever reshapes lie between.
  Value kv = transpose->input;
  for (int depth = 0; depth < 4; ++depth) {
    if (auto e = kv.getDefiningOp<tensor::ExpandShapeOp>())
      kv = e.getSrc();
    else if (auto c = kv.getDefiningOp<tensor::CollapseShapeOp>())
      kv = c.getSrc();
    else
      break;
  }
  auto kvType = cast<ShapedType>(kv.getType());
  if (!kvType.hasStaticShape() || kvType.getRank() < 2 ||
      kvType.getDimSize(kvType.getRank() - 1) != heads * width ||
      kvType.getDimSize(kvType.getRank() - 2) != seq ||
      kvType.getNumElements() != batch * seq * heads * width)
    return std::nullopt;
  auto matmul = matchRightWeightMatmul(kv);
  if (!matmul)
    return std::nullopt;
  auto latentType = cast<ShapedType>(matmul->first.getType());
  if (!isHeadlessSequence(latentType, batch, seq))
    return std::nullopt;

  // The rotary key: one head broadcast to all.
  std::optional<match::Copy> bcast = match::matchCopy(keyRope);
  if (!bcast)
    return std::nullopt;
  auto ropeType = cast<ShapedType>(bcast->input.getType());
  SmallVector<int64_t> want =
      ropeType.getRank() == 4 ? SmallVector<int64_t>{0, -1, 2, 3}
                              : SmallVector<int64_t>{0, -1, 1, 2};
  if (bcast->inputDimOf != want || !isHeadlessSequence(ropeType, batch, seq))
    return std::nullopt;

  LatentPlan p{op,
               matmul->first,
               matmul->second,
               bcast->input,
               heads,
               latentType.getDimSize(latentType.getRank() - 1),
               cast<ShapedType>(keyNope.getType()).getDimSize(3),
               cast<ShapedType>(keyRope.getType()).getDimSize(3),
               vType.getDimSize(3),
               width,
               nopeSlice->second,
               valueSlice->second};
  // Worth it when the absorbed attention (S rows of r + rope and r per key)
  // costs less than re-projecting the cache plus the per-head attention:
  // always for decode, not for long prefills.
  int64_t rows = qType.getDimSize(2);
  if (rows * (2 * p.rank + p.rope) >
      p.rank * (p.nope + p.vd) + rows * (p.nope + p.rope + p.vd))
    return std::nullopt;
  // The cache's up-projection must die with the rewrite.
  if (!perHead.hasNUses(2) || !keyNope.hasOneUse() ||
      !op.getValue().hasOneUse() || !op.getKey().hasOneUse())
    return std::nullopt;
  return p;
}

/// A [B, 1, T, x] view of a [B, 1, T, x] or [B, T, x] tensor.
Value asRank4(OpBuilder &b, Location loc, Value v) {
  auto t = cast<RankedTensorType>(v.getType());
  if (t.getRank() == 4)
    return v;
  SmallVector<int64_t> shape = {t.getDimSize(0), 1, t.getDimSize(1),
                                t.getDimSize(2)};
  return tensor::ExpandShapeOp::create(
      b, loc, RankedTensorType::get(shape, t.getElementType()), v,
      ArrayRef<ReassociationIndices>{{0, 1}, {2}, {3}});
}

Value sliceLast(OpBuilder &b, Location loc, Value v, int64_t offset,
                int64_t size) {
  auto t = cast<RankedTensorType>(v.getType());
  SmallVector<OpFoldResult> offsets(t.getRank(), b.getIndexAttr(0)),
      sizes, strides(t.getRank(), b.getIndexAttr(1));
  for (int64_t d : t.getShape())
    sizes.push_back(b.getIndexAttr(d));
  offsets.back() = b.getIndexAttr(offset);
  sizes.back() = b.getIndexAttr(size);
  return tensor::ExtractSliceOp::create(b, loc, v, offsets, sizes, strides);
}

/// out[b, h, s, j] = sum_i x[b, h, s, i] * w(i, j, h) with w read as
/// [i, h, j] (`weightTransposed`: [j, h, i]).
Value perHeadMatmul(OpBuilder &b, Location loc, Value x, Value w,
                    bool weightTransposed, int64_t outWidth) {
  auto xt = cast<RankedTensorType>(x.getType());
  SmallVector<int64_t> shape(xt.getShape());
  shape.back() = outWidth;
  Type f32 = xt.getElementType();
  Value zero = arith::ConstantOp::create(b, loc, b.getFloatAttr(f32, 0.0));
  Value init = linalg::FillOp::create(
                   b, loc, zero,
                   ValueRange{tensor::EmptyOp::create(b, loc, shape, f32)})
                   .getResult(0);
  MLIRContext *ctx = b.getContext();
  AffineExpr bb, h, s, j, i;
  bindDims(ctx, bb, h, s, j, i);
  SmallVector<AffineMap> maps = {
      AffineMap::get(5, 0, {bb, h, s, i}, ctx),
      AffineMap::get(5, 0,
                     weightTransposed ? ArrayRef<AffineExpr>{j, h, i}
                                      : ArrayRef<AffineExpr>{i, h, j},
                     ctx),
      AffineMap::get(5, 0, {bb, h, s, j}, ctx)};
  return buildMulAdd(b, loc, x, w, init, maps, /*reductions=*/1);
}

void absorb(const LatentPlan &p) {
  AttentionOp op = p.op;
  OpBuilder b(op);
  Location loc = op.getLoc();
  Type f32 = op.getQueryType().getElementType();
  // W [r, H*E] -> [r, H, E]; the key and value columns of every head.
  Value w3 = tensor::ExpandShapeOp::create(
      b, loc, RankedTensorType::get({p.rank, p.heads, p.headWidth}, f32),
      p.weight, ArrayRef<ReassociationIndices>{{0}, {1, 2}});
  Value wKey = sliceLast(b, loc, w3, p.keyOffset, p.nope);
  Value wValue = sliceLast(b, loc, w3, p.valueOffset, p.vd);

  Value query = op.getQuery();
  Value qNope = sliceLast(b, loc, query, 0, p.nope);
  Value qRope = sliceLast(b, loc, query, p.nope, p.rope);
  Value qLatent = perHeadMatmul(b, loc, qNope, wKey, /*transposed=*/true,
                                p.rank);
  Value newQuery = tensor::ConcatOp::create(b, loc, 3, {qLatent, qRope});
  Value latent = asRank4(b, loc, p.latent);
  Value newKey =
      tensor::ConcatOp::create(b, loc, 3, {latent, asRank4(b, loc, p.ropeKey)});

  SmallVector<int64_t> outShape(op.getQueryType().getShape());
  outShape.back() = p.rank;
  Value init = tensor::EmptyOp::create(b, loc, outShape, f32);
  auto attention = AttentionOp::create(
      b, loc, TypeRange{init.getType()}, newQuery, newKey, latent,
      op.getMask(), op.getKvSeqLens(), init, op.getQHeadsAttr(),
      b.getI64IntegerAttr(1), op.getScaleAttr(), op.getCausalOffsetAttr(),
      op.getSoftcapAttr(), op.getWindowLeftAttr(), op.getWindowRightAttr());
  for (NamedAttribute attr : op->getDiscardableAttrs())
    attention->setAttr(attr.getName(), attr.getValue());
  attention->setAttr(
      "attn.latent",
      b.getDictionaryAttr(
          {b.getNamedAttr("rank", b.getI64IntegerAttr(p.rank)),
           b.getNamedAttr("rope_dim", b.getI64IntegerAttr(p.rope)),
           b.getNamedAttr("heads_before", b.getI64IntegerAttr(p.heads)),
           b.getNamedAttr("head_dim_before",
                          b.getI64IntegerAttr(p.nope + p.rope)),
           b.getNamedAttr("v_head_dim_before", b.getI64IntegerAttr(p.vd))}));
  Value out = perHeadMatmul(b, loc, attention.getResult(0), wValue,
                            /*transposed=*/false, p.vd);
  op.getResult(0).replaceAllUsesWith(out);
  op.erase();
}

struct AttnAbsorbLatentProjectionsPass
    : attn::impl::AttnAbsorbLatentProjectionsBase<
          AttnAbsorbLatentProjectionsPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<LatentPlan> plans;
    getOperation().walk([&](AttentionOp op) {
      if (std::optional<LatentPlan> p = matchLatentAttention(op))
        plans.push_back(*p);
    });
    for (const LatentPlan &p : plans)
      absorb(p);
  }
};

} // namespace
