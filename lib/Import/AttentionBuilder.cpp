//===- AttentionBuilder.cpp - attention over [B, H, S, D] tensors ---------===//

#include "AttentionBuilder.h"

#include "ImportContext.h"
#include "LinalgBuilders.h"
#include "ShapeUtils.h"

#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn::onnx_import;

/// window(left, right) attributes of `spec` (-1 for an unbounded side), or
/// none without a window.
static std::pair<IntegerAttr, IntegerAttr> windowAttrs(OpBuilder &b,
                                                       const AttentionSpec &spec) {
  if (!spec.windowLeft && !spec.windowRight)
    return {};
  return {b.getI64IntegerAttr(spec.windowLeft.value_or(-1)),
          b.getI64IntegerAttr(spec.windowRight.value_or(-1))};
}

Value mlir::attn::onnx_import::buildAttentionOp(OpBuilder &b, Location loc,
                                                const AttentionSpec &spec,
                                                StringRef source) {
  ArrayRef<int64_t> q = shapeOf(spec.query), v = shapeOf(spec.value);
  SmallVector<int64_t> outShape = {q[0], q[1], q[2], v[3]};
  Type elementType = elementTypeOf(spec.query);
  Value init = emptyTensor(b, loc, outShape, elementType);
  IntegerAttr causal;
  if (spec.causalOffset)
    causal = b.getI64IntegerAttr(*spec.causalOffset);
  FloatAttr softcap;
  if (spec.softcap > 0)
    softcap = b.getF64FloatAttr(spec.softcap);
  auto [left, right] = windowAttrs(b, spec);
  auto op = attn::AttentionOp::create(
      b, loc, TypeRange{init.getType()}, spec.query, spec.key, spec.value,
      spec.mask, spec.kvLens, init, b.getI64IntegerAttr(spec.qHeads),
      b.getI64IntegerAttr(spec.kvHeads), b.getF64FloatAttr(spec.scale), causal,
      softcap, left, right);
  op->setAttr("attn.source", b.getStringAttr(source));
  return op->getResult(0);
}

SmallVector<Value> mlir::attn::onnx_import::buildDecodeOp(
    OpBuilder &b, Location loc, const AttentionSpec &spec, Value positions,
    Value keyCache, Value valueCache, StringRef source) {
  ArrayRef<int64_t> q = shapeOf(spec.query), v = shapeOf(spec.value);
  Type elementType = elementTypeOf(spec.query);
  Value init = emptyTensor(b, loc, {q[0], q[1], q[2], v[3]}, elementType);
  FloatAttr softcap;
  if (spec.softcap > 0)
    softcap = b.getF64FloatAttr(spec.softcap);
  auto [left, right] = windowAttrs(b, spec);
  auto op = attn::DecodeOp::create(
      b, loc, TypeRange{init.getType(), keyCache.getType(), valueCache.getType()},
      spec.query, spec.key, spec.value, /*position=*/Value(), positions,
      spec.mask, init, keyCache, valueCache, b.getI64IntegerAttr(spec.qHeads),
      b.getI64IntegerAttr(spec.kvHeads), b.getF64FloatAttr(spec.scale),
      spec.causalOffset ? b.getUnitAttr() : UnitAttr(), softcap, left, right);
  op->setAttr("attn.source", b.getStringAttr(source));
  return SmallVector<Value>(op->getResults());
}

/// [B, S, H*D] -> [B, H, S, D].
Value mlir::attn::onnx_import::splitHeads(OpBuilder &b, Location loc, Value x,
                                          int64_t heads) {
  ArrayRef<int64_t> s = shapeOf(x);
  Value r = buildReshape(b, loc, x, {s[0], s[1], heads, s[2] / heads});
  return buildTranspose(b, loc, r, {0, 2, 1, 3});
}

/// [B, H, S, D] -> [B, S, H*D].
Value mlir::attn::onnx_import::mergeHeads(OpBuilder &b, Location loc, Value x) {
  ArrayRef<int64_t> s = shapeOf(x);
  Value t = buildTranspose(b, loc, x, {0, 2, 1, 3});
  return buildReshape(b, loc, t, {s[0], s[2], s[1] * s[3]});
}

std::optional<std::pair<Value, int64_t>>
mlir::attn::onnx_import::peelRepeatKV(OpBuilder &b, Location loc, Value kv) {
  auto collapse = kv.getDefiningOp<tensor::CollapseShapeOp>();
  if (!collapse || collapse.getSrcType().getRank() != 5)
    return std::nullopt;
  SmallVector<ReassociationIndices> groups = collapse.getReassociationIndices();
  if (groups.size() != 4 || groups[1] != ReassociationIndices{1, 2})
    return std::nullopt;
  auto copy = collapse.getSrc().getDefiningOp<linalg::GenericOp>();
  if (!copy || copy.getNumDpsInputs() != 1 || copy.getNumDpsInits() != 1 ||
      copy.getNumParallelLoops() != 5)
    return std::nullopt;
  Block &body = copy.getRegion().front();
  auto yield = dyn_cast<linalg::YieldOp>(body.getTerminator());
  if (body.getOperations().size() != 1 || !yield ||
      yield.getValues().size() != 1 ||
      yield.getValues()[0] != body.getArgument(0))
    return std::nullopt;
  SmallVector<AffineMap> maps = copy.getIndexingMapsArray();
  if (!maps[1].isIdentity())
    return std::nullopt;
  // The input map reads (d0, d1, [0,] d3, d4): dim 2 is broadcast.
  MLIRContext *ctx = b.getContext();
  auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
  AffineExpr zero = getAffineConstantExpr(0, ctx);
  Value source = copy.getDpsInputOperand(0)->get();
  ArrayRef<int64_t> shape = shapeOf(source);
  AffineMap m = maps[0];
  bool fromRank5 =
      m == AffineMap::get(5, 0, {d(0), d(1), zero, d(3), d(4)}, ctx) &&
      shape.size() == 5 && shape[2] == 1;
  bool fromRank4 = m == AffineMap::get(5, 0, {d(0), d(1), d(3), d(4)}, ctx);
  if (!fromRank5 && !fromRank4)
    return std::nullopt;
  int64_t group = collapse.getSrcType().getDimSize(2);
  if (fromRank5) {
    // Look through the unsqueeze that made the broadcast dim.
    auto unsqueeze = source.getDefiningOp<tensor::ExpandShapeOp>();
    if (unsqueeze && unsqueeze.getSrcType().getRank() == 4 &&
        unsqueeze.getReassociationIndices()[2] == ReassociationIndices{2, 3})
      source = unsqueeze.getSrc();
    else
      source = buildReshape(b, loc, source,
                            {shape[0], shape[1], shape[3], shape[4]});
  }
  return std::make_pair(source, group);
}

FailureOr<int64_t> mlir::attn::onnx_import::prependPast(
    NodeContext &ctx, OpBuilder &b, Location loc, unsigned pastKey,
    int64_t batch, int64_t heads, int64_t keyDim, int64_t valueDim,
    ArrayRef<StringRef> dimNames, Value &k, Value &v) {
  const ImportedValue *pk = ctx.input(pastKey), *pv = ctx.input(pastKey + 1);
  if (failed(expectShape(ctx, "past_key", pk->shape,
                         {batch, heads, -1, keyDim}, dimNames)) ||
      failed(expectShape(ctx, "past_value", pv->shape,
                         {batch, heads, pk->shape[2], valueDim}, dimNames)))
    return failure();
  int64_t past = pk->shape[2];
  if (past > 0) {
    k = tensor::ConcatOp::create(b, loc, 2,
                                 ValueRange{ctx.value(pastKey), k});
    v = tensor::ConcatOp::create(b, loc, 2,
                                 ValueRange{ctx.value(pastKey + 1), v});
  }
  return past;
}

namespace {

/// out[b, kh, g, i, n] = sum_c lhs[b, kh, g, i, c] * rhs[b, kh, <c,n>],
/// where `rhsNC` says rhs is [b, kh, n, c] (K) rather than [b, kh, c, n] (V).
/// Grouping the query heads as [Hkv, G] lets every query head of a group
/// read the same K/V head without repeating it.
Value groupedContraction(OpBuilder &b, Location loc, Value lhs5, Value rhs,
                         bool rhsNC, Type acc) {
  MLIRContext *ctx = b.getContext();
  ArrayRef<int64_t> l = shapeOf(lhs5), r = shapeOf(rhs);
  int64_t n = rhsNC ? r[2] : r[3];
  SmallVector<int64_t> outShape = {l[0], l[1], l[2], l[3], n};
  auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
  // Loops: b kh g i n c.
  AffineMap lhsMap = AffineMap::get(6, 0, {d(0), d(1), d(2), d(3), d(5)}, ctx);
  AffineMap rhsMap = rhsNC
                         ? AffineMap::get(6, 0, {d(0), d(1), d(4), d(5)}, ctx)
                         : AffineMap::get(6, 0, {d(0), d(1), d(5), d(4)}, ctx);
  AffineMap outMap = AffineMap::get(6, 0, {d(0), d(1), d(2), d(3), d(4)}, ctx);
  SmallVector<utils::IteratorType> iterators(5, utils::IteratorType::parallel);
  iterators.push_back(utils::IteratorType::reduction);
  Value init = filledTensor(b, loc, outShape, acc, 0.0);
  auto op = linalg::GenericOp::create(
      b, loc, TypeRange{init.getType()}, ValueRange{lhs5, rhs},
      ValueRange{init}, {lhsMap, rhsMap, outMap}, iterators,
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        Value x = convertScalar(nb, nloc, args[0], acc);
        Value y = convertScalar(nb, nloc, args[1], acc);
        Value p = arith::MulFOp::create(nb, nloc, x, y);
        Value sum = arith::AddFOp::create(nb, nloc, args[2], p);
        linalg::YieldOp::create(nb, nloc, sum);
      });
  return op.getResult(0);
}

} // namespace

DecomposedAttention
mlir::attn::onnx_import::buildDecomposedAttention(OpBuilder &b, Location loc,
                                                  const AttentionSpec &spec) {
  DecomposedAttention r;
  ArrayRef<int64_t> q = shapeOf(spec.query), k = shapeOf(spec.key),
                    v = shapeOf(spec.value);
  int64_t batch = q[0], hq = q[1], sq = q[2], hkv = k[1], t = k[2];
  int64_t group = hq / hkv;
  Type elementType = elementTypeOf(spec.query);
  Type acc = elementType.isF64() ? elementType : b.getF32Type();
  double inf = std::numeric_limits<double>::infinity();

  Value q5 = buildReshape(b, loc, spec.query, {batch, hkv, group, sq, q[3]});
  Value s5 = groupedContraction(b, loc, q5, spec.key, /*rhsNC=*/true, acc);
  SmallVector<int64_t> scoreShape = {batch, hq, sq, t};
  Value s = buildReshape(b, loc, s5, scoreShape);
  r.scaled = buildElementwise(
      b, loc, s, scoreShape, acc,
      [&](OpBuilder &nb, Location l, ValueRange args) -> Value {
        return arith::MulFOp::create(nb, l, args[0],
                                     scalarConstant(nb, l, acc, spec.scale));
      });

  r.capped = r.scaled;
  if (spec.softcap > 0)
    r.capped = buildElementwise(
        b, loc, r.scaled, scoreShape, acc,
        [&](OpBuilder &nb, Location l, ValueRange args) -> Value {
          Value c = scalarConstant(nb, l, acc, spec.softcap);
          Value th = math::TanhOp::create(
              nb, l, arith::DivFOp::create(nb, l, args[0], c));
          return arith::MulFOp::create(nb, l, th, c);
        });

  // Bias: float mask added; bool mask, causality, lengths and the window
  // give -inf.
  r.biased = r.capped;
  bool window = spec.windowLeft || spec.windowRight;
  if (spec.mask || spec.kvLens || spec.causalOffset || window) {
    SmallVector<Value> inputs = {r.capped};
    if (spec.mask)
      inputs.push_back(spec.mask);
    if (spec.kvLens)
      inputs.push_back(buildReshape(b, loc, spec.kvLens, {batch, 1, 1, 1}));
    bool boolMask = spec.mask && elementTypeOf(spec.mask).isInteger(1);
    r.biased = buildIndexedElementwise(
        b, loc, inputs, scoreShape, acc,
        [&](OpBuilder &nb, Location l, ValueRange args) -> Value {
          unsigned next = 1;
          Value x = args[0];
          Value ninf = scalarConstant(nb, l, acc, -inf);
          if (spec.mask) {
            Value m = args[next++];
            if (boolMask)
              x = arith::SelectOp::create(nb, l, m, x, ninf);
            else
              x = arith::AddFOp::create(nb, l, x, convertScalar(nb, l, m, acc));
          }
          Value i = args[args.size() - 2], j = args[args.size() - 1];
          if (spec.kvLens) {
            Value len = arith::IndexCastOp::create(nb, l, nb.getIndexType(),
                                                   args[next++]);
            Value past =
                arith::CmpIOp::create(nb, l, arith::CmpIPredicate::sge, j, len);
            x = arith::SelectOp::create(nb, l, past, ninf, x);
          }
          if (spec.causalOffset) {
            Value limit = arith::AddIOp::create(
                nb, l, i,
                arith::ConstantIndexOp::create(nb, l, *spec.causalOffset));
            Value future = arith::CmpIOp::create(
                nb, l, arith::CmpIPredicate::sgt, j, limit);
            x = arith::SelectOp::create(nb, l, future, ninf, x);
          }
          // The window stands at p = i + causal offset: keys [p - left,
          // p + right], compared as j + left < p and j > p + right.
          auto index = [&](int64_t c) {
            return arith::ConstantIndexOp::create(nb, l, c).getResult();
          };
          auto plus = [&](Value v, int64_t c) {
            return arith::AddIOp::create(nb, l, v, index(c)).getResult();
          };
          auto maskWhere = [&](arith::CmpIPredicate pred, Value lhs,
                               Value rhs) {
            Value out = arith::CmpIOp::create(nb, l, pred, lhs, rhs);
            x = arith::SelectOp::create(nb, l, out, ninf, x);
          };
          Value p = plus(i, spec.causalOffset.value_or(0));
          if (spec.windowLeft)
            maskWhere(arith::CmpIPredicate::slt, plus(j, *spec.windowLeft), p);
          if (spec.windowRight)
            maskWhere(arith::CmpIPredicate::sgt, j, plus(p, *spec.windowRight));
          return x;
        });
  }

  r.weights = buildSoftmaxLastDim(b, loc, r.biased);
  Value p5 = buildReshape(b, loc, r.weights, {batch, hkv, group, sq, t});
  Value o5 = groupedContraction(b, loc, p5, spec.value, /*rhsNC=*/false, acc);
  Value o = buildReshape(b, loc, o5, {batch, hq, sq, v[3]});
  r.output = buildCast(b, loc, o, elementType);
  return r;
}
