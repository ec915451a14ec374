//===- ShareKV.cpp - convert attention to fewer key/value heads -----------===//
//
// Pattern: attn.attention heads(Hq, Hkv) over K, V -> heads(Hq, N) over
// pool(K), pool(V), where pool averages groups of Hkv / N consecutive heads.
// With a KV cache (K = concat(past, new)) only the new keys are pooled and
// the cache argument shrinks.
//
//===----------------------------------------------------------------------===//

#include "HeadIdentity.h"

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNSHAREKV
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// [B, H, S, D] -> [B, N, S, D]: new head n is sum_r w[n * g + r] * head
/// n * g + r (g = H / N), with w = 1 / g when `weights` is empty (mean).
Value poolHeads(OpBuilder &b, Location loc, Value x, int64_t newHeads,
                ArrayRef<double> weights) {
  auto type = cast<RankedTensorType>(x.getType());
  int64_t heads = type.getDimSize(1), group = heads / newHeads;
  Type elementType = type.getElementType();
  auto grouped = RankedTensorType::get(
      {type.getDimSize(0), newHeads, group, type.getDimSize(2),
       type.getDimSize(3)},
      elementType);
  Value five = tensor::ExpandShapeOp::create(
      b, loc, grouped, x,
      ArrayRef<ReassociationIndices>{{0}, {1, 2}, {3}, {4}});
  SmallVector<int64_t> outShape{type.getDimSize(0), newHeads,
                                type.getDimSize(2), type.getDimSize(3)};
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(elementType));
  Value empty = tensor::EmptyOp::create(b, loc, outShape, elementType);
  Value init = linalg::FillOp::create(b, loc, zero, empty).getResult(0);
  MLIRContext *ctx = b.getContext();
  AffineExpr bb, n, s, d, r;
  bindDims(ctx, bb, n, s, d, r);
  SmallVector<Value> inputs{five};
  SmallVector<AffineMap> maps{AffineMap::get(5, 0, {bb, n, r, s, d}, ctx)};
  if (!weights.empty()) {
    SmallVector<APFloat> values;
    for (double w : weights) {
      APFloat value(w);
      bool lost;
      value.convert(cast<FloatType>(elementType).getFloatSemantics(),
                    APFloat::rmNearestTiesToEven, &lost);
      values.push_back(value);
    }
    auto weightType = RankedTensorType::get({newHeads, group}, elementType);
    inputs.push_back(arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(weightType, values)));
    maps.push_back(AffineMap::get(5, 0, {n, r}, ctx));
  }
  maps.push_back(AffineMap::get(5, 0, {bb, n, s, d}, ctx));
  SmallVector<utils::IteratorType> iterators(4, utils::IteratorType::parallel);
  iterators.push_back(utils::IteratorType::reduction);
  auto uniform = FloatAttr::get(elementType, 1.0 / static_cast<double>(group));
  auto pooled = linalg::GenericOp::create(
      b, loc, init.getType(), inputs, ValueRange{init}, maps, iterators,
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        Value w = weights.empty() ? arith::ConstantOp::create(nb, nl, uniform)
                                  : args[1];
        Value scaled = arith::MulFOp::create(nb, nl, args[0], w);
        Value sum = arith::AddFOp::create(nb, nl, args.back(), scaled);
        linalg::YieldOp::create(nb, nl, sum);
      });
  return pooled->getResult(0);
}

/// x [B, H, S, W] -> y with y[b, h, s, :] = maps[h] (W x W) * x[b, h, s, :].
Value mapHeads(OpBuilder &b, Location loc, Value x, DenseElementsAttr maps) {
  auto type = cast<RankedTensorType>(x.getType());
  Type elementType = type.getElementType();
  Value matrices = arith::ConstantOp::create(
      b, loc,
      maps.getType().getElementType() == elementType
          ? maps
          : cast<DenseElementsAttr>(DenseElementsAttr::get(
                RankedTensorType::get(maps.getType().getShape(), elementType),
                llvm::to_vector(llvm::map_range(
                    maps.getValues<APFloat>(), [&](APFloat v) {
                      bool lost;
                      v.convert(cast<FloatType>(elementType).getFloatSemantics(),
                                APFloat::rmNearestTiesToEven, &lost);
                      return v;
                    })))));
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(elementType));
  Value empty = tensor::EmptyOp::create(b, loc, type.getShape(), elementType);
  Value init = linalg::FillOp::create(b, loc, zero, empty).getResult(0);
  MLIRContext *ctx = b.getContext();
  AffineExpr bb, h, s, d, e;
  bindDims(ctx, bb, h, s, d, e);
  SmallVector<AffineMap> indexing{AffineMap::get(5, 0, {bb, h, s, e}, ctx),
                                  AffineMap::get(5, 0, {h, d, e}, ctx),
                                  AffineMap::get(5, 0, {bb, h, s, d}, ctx)};
  SmallVector<utils::IteratorType> iterators(4, utils::IteratorType::parallel);
  iterators.push_back(utils::IteratorType::reduction);
  auto mapped = linalg::GenericOp::create(
      b, loc, init.getType(), ValueRange{x, matrices}, ValueRange{init},
      indexing, iterators, [&](OpBuilder &nb, Location nl, ValueRange args) {
        Value product = arith::MulFOp::create(nb, nl, args[0], args[1]);
        Value sum = arith::AddFOp::create(nb, nl, args[2], product);
        linalg::YieldOp::create(nb, nl, sum);
      });
  return mapped->getResult(0);
}

/// A `past` cache that can shrink in place: a function argument used only
/// by this concatenation.
bool isShrinkableCache(Value past, tensor::ConcatOp concat) {
  auto arg = dyn_cast<BlockArgument>(past);
  return arg && isa<func::FuncOp>(arg.getOwner()->getParentOp()) &&
         llvm::all_of(arg.getUsers(),
                      [&](Operation *user) { return user == concat; });
}

struct AttnShareKVPass : attn::impl::AttnShareKVBase<AttnShareKVPass> {
  using Base::Base;

  void runOnOperation() override {
    if (kvHeads == 0)
      return;
    func::FuncOp func = getOperation();
    if (method != "mean" && method != "exact" && method != "calibrated") {
      func.emitError() << "attn-share-kv: unknown method '" << method
                       << "' (expected mean, exact or calibrated)";
      return signalPassFailure();
    }
    SmallVector<AttentionOp> ops;
    func.walk([&](AttentionOp op) {
      if (op.getNumResults() == 1)
        ops.push_back(op);
    });
    bool changed = false;
    for (AttentionOp op : ops) {
      if (failed(convert(op, changed)))
        return signalPassFailure();
    }
    if (changed) {
      Block &entry = func.getBody().front();
      auto ret = cast<func::ReturnOp>(entry.getParentOp()
                                          ->getRegion(0)
                                          .back()
                                          .getTerminator());
      func.setType(FunctionType::get(&getContext(), entry.getArgumentTypes(),
                                     ret.getOperandTypes()));
    }
  }

private:
  LogicalResult convert(AttentionOp op, bool &changed) {
    int64_t hq = op.getQHeads(), hkv = op.getKvHeads(), n = kvHeads;
    if (hkv == n)
      return success();
    if (n > hkv)
      return op.emitError() << "cannot share " << hkv << " KV heads as " << n
                            << ": the target is above the current KV head count";
    if (hq % n != 0 || hkv % n != 0)
      return op.emitError() << "kv-heads=" << n
                            << " must divide the query heads (" << hq
                            << ") and the KV heads (" << hkv << ")";
    if (!op.getKeyType().hasStaticShape() || !op.getValueType().hasStaticShape())
      return op.emitError() << "attn-share-kv needs static K/V shapes";
    for (OpOperand *operand : {&op.getKeyMutable(), &op.getValueMutable()}) {
      if (method == "exact" && !headsAreIdentical(freshPart(operand->get()),
                                                 hkv / n))
        return op.emitError()
               << "exact KV sharing impossible: the "
               << (operand == &op.getKeyMutable() ? "key" : "value")
               << " heads of a group are not provably identical (use "
                  "method=mean)";
    }
    SmallVector<double> keyWeights, valueWeights;
    DenseElementsAttr queryMaps, outputMaps;
    if (method == "calibrated" &&
        failed(readCalibration(op, keyWeights, valueWeights, queryMaps,
                               outputMaps)))
      return failure();
    OpBuilder b(op);
    op.getKeyMutable().set(share(b, op.getLoc(), op.getKey(), n, keyWeights));
    op.getValueMutable().set(
        share(b, op.getLoc(), op.getValue(), n, valueWeights));
    if (queryMaps)
      op.getQueryMutable().set(
          mapHeads(b, op.getLoc(), op.getQuery(), queryMaps));
    if (outputMaps) {
      b.setInsertionPointAfter(op);
      Value mapped = mapHeads(b, op.getLoc(), op.getResult(0), outputMaps);
      op.getResult(0).replaceAllUsesExcept(mapped, mapped.getDefiningOp());
    }
    if (!op->hasAttr("attn.kv_heads_before"))
      op->setAttr("attn.kv_heads_before", b.getI64IntegerAttr(hkv));
    op.setKvHeads(n);
    changed = true;
    return success();
  }

  /// The calibration results attn-compile attaches to each op: per old KV
  /// head pooling weights for K and V, and optional per-query-head maps.
  LogicalResult readCalibration(AttentionOp op, SmallVector<double> &keys,
                                SmallVector<double> &values,
                                DenseElementsAttr &queryMaps,
                                DenseElementsAttr &outputMaps) {
    auto read = [&](StringRef name, SmallVector<double> &out) {
      auto attr = op->getAttrOfType<DenseFPElementsAttr>(name);
      if (!attr || attr.getNumElements() != op.getKvHeads())
        return false;
      for (APFloat v : attr.getValues<APFloat>())
        out.push_back(v.convertToDouble());
      return true;
    };
    if (!read("attn.share_key_weights", keys) ||
        !read("attn.share_value_weights", values))
      return op.emitError()
             << "method=calibrated needs the calibration weights "
                "'attn.share_key_weights' and 'attn.share_value_weights' "
                "(one per KV head) on the op; attn-compile --calibration "
                "computes them";
    queryMaps = op->getAttrOfType<DenseElementsAttr>("attn.share_query_maps");
    outputMaps = op->getAttrOfType<DenseElementsAttr>("attn.share_output_maps");
    int64_t hq = op.getQHeads(), d = op.getQueryType().getDimSize(3);
    int64_t dv = op.getValueType().getDimSize(3);
    if ((queryMaps && queryMaps.getType().getShape() != ArrayRef<int64_t>{hq, d, d}) ||
        (outputMaps &&
         outputMaps.getType().getShape() != ArrayRef<int64_t>{hq, dv, dv}))
      return op.emitError() << "calibration head maps must be [Hq, D, D] and "
                               "[Hq, Dv, Dv]";
    for (StringRef name : {"attn.share_key_weights", "attn.share_value_weights",
                           "attn.share_query_maps", "attn.share_output_maps"})
      op->removeAttr(name);
    return success();
  }

  /// The keys/values computed at this step: `new` of concat(past, new).
  static Value freshPart(Value x) {
    if (auto concat = x.getDefiningOp<tensor::ConcatOp>();
        concat && concat.getDim() == 2 && concat.getInputs().size() == 2)
      return concat.getInputs()[1];
    return x;
  }

  /// `x` with `n` heads; a concat(past, new) keeps its shape of a cache.
  Value share(OpBuilder &b, Location loc, Value x, int64_t n,
              ArrayRef<double> weights) {
    auto concat = x.getDefiningOp<tensor::ConcatOp>();
    if (!concat || concat.getDim() != 2 || concat.getInputs().size() != 2) {
      // Returned as well, x is the present cache (a step without past, the
      // empty concat folded away): the cache holds the shared heads too.
      Value pooled = poolHeads(b, loc, x, n, weights);
      x.replaceUsesWithIf(pooled, [](OpOperand &use) {
        return isa<func::ReturnOp>(use.getOwner());
      });
      return pooled;
    }
    Value past = concat.getInputs()[0], fresh = concat.getInputs()[1];
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(concat);
    Value newFresh = poolHeads(b, loc, fresh, n, weights);
    Value newPast;
    if (isShrinkableCache(past, concat)) {
      auto type = cast<RankedTensorType>(past.getType());
      SmallVector<int64_t> shape(type.getShape());
      shape[1] = n;
      past.setType(RankedTensorType::get(shape, type.getElementType()));
      newPast = past;
    } else {
      newPast = poolHeads(b, loc, past, n, weights);
    }
    Value joined = tensor::ConcatOp::create(b, concat.getLoc(), 2,
                                            ValueRange{newPast, newFresh});
    concat.getResult().replaceAllUsesWith(joined);
    concat.erase();
    return joined;
  }
};

} // namespace
