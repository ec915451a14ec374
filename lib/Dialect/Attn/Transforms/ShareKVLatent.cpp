//===- ShareKVLatent.cpp - convert MHA/GQA attention to latent (MLA) form -===//
//
// Pattern: attn.attention heads(Hq, Hkv) (Q, K, V)
//   -> c  = sum_g K_g EK_g + V_g EV_g          [B, 1, T, rank]   (the latent)
//      R  = sum_g K_g ER_g                     [B, 1, T, rope]   (rotary key)
//      o' = attn.attention heads(Hq, 1) (Q QM, concat_dim3(c, R), c)
//      o  = o' OM                               per query head
// with a KV cache concat(past, new) storing c and R instead of K and V.
// The maps come from calibration (lib/Calibration/LatentSharing.cpp) or,
// at full rank, are the lossless identity layout.
//
//===----------------------------------------------------------------------===//

#include "CallSites.h"
#include "MulAdd.h"

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/SymbolTable.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNSHAREKVLATENT
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

constexpr StringLiteral kKeyEncoder = "attn.latent_key_encoder";
constexpr StringLiteral kValueEncoder = "attn.latent_value_encoder";
constexpr StringLiteral kRopeEncoder = "attn.latent_rope_encoder";
constexpr StringLiteral kQueryMaps = "attn.latent_query_maps";
constexpr StringLiteral kOutputMaps = "attn.latent_output_maps";

/// The five maps of one op, as f32 tensors.
struct LatentMaps {
  DenseElementsAttr keyEncoder, valueEncoder, ropeEncoder, queryMaps,
      outputMaps;
};

/// What converting one op needs, checked before anything changes. With a
/// shrinkable cache, the past arguments and the concatenations.
struct Plan {
  AttentionOp op;
  LatentMaps maps;
  tensor::ConcatOp keyConcat, valueConcat;
  BlockArgument pastKey, pastValue;
  int64_t rope; ///< rope-dim, resolved for this op
};

/// `concat(past, new)` on the sequence dimension, or null.
tensor::ConcatOp cacheConcat(Value x) {
  auto concat = x.getDefiningOp<tensor::ConcatOp>();
  if (concat && concat.getDim() == 2 && concat.getInputs().size() == 2)
    return concat;
  return {};
}

DenseElementsAttr f32Attr(MLIRContext *ctx, ArrayRef<int64_t> shape,
                          ArrayRef<float> values) {
  auto type = RankedTensorType::get(shape, Float32Type::get(ctx));
  return DenseElementsAttr::get(type, values);
}

/// The lossless full-rank layout: the latent is every value head side by
/// side, the rotary key every key head; query head h reads its KV head's
/// block of the rotary key, and its output is its KV head's block of the
/// latent.
LatentMaps identityMaps(MLIRContext *ctx, int64_t hq, int64_t hkv, int64_t d,
                        int64_t dv) {
  int64_t rank = hkv * dv, rope = hkv * d, group = hq / hkv;
  std::vector<float> ek(hkv * d * rank, 0.f), ev(hkv * dv * rank, 0.f),
      er(hkv * d * rope, 0.f), qm(hq * d * (rank + rope), 0.f),
      om(hq * rank * dv, 0.f);
  for (int64_t g = 0; g < hkv; ++g) {
    for (int64_t e = 0; e < dv; ++e)
      ev[(g * dv + e) * rank + g * dv + e] = 1.f;
    for (int64_t i = 0; i < d; ++i)
      er[(g * d + i) * rope + g * d + i] = 1.f;
  }
  for (int64_t h = 0; h < hq; ++h) {
    int64_t g = h / group;
    for (int64_t i = 0; i < d; ++i)
      qm[(h * d + i) * (rank + rope) + rank + g * d + i] = 1.f;
    for (int64_t e = 0; e < dv; ++e)
      om[(h * rank + g * dv + e) * dv + e] = 1.f;
  }
  return {f32Attr(ctx, {hkv, d, rank}, ek), f32Attr(ctx, {hkv, dv, rank}, ev),
          f32Attr(ctx, {hkv, d, rope}, er),
          f32Attr(ctx, {hq, d, rank + rope}, qm),
          f32Attr(ctx, {hq, rank, dv}, om)};
}

/// out[b, t, j] = sum_{g, w} x[b, g, t, w] * e[g, w, j] (+ init).
Value encode(OpBuilder &b, Location loc, Value x, Value e, Value init) {
  MLIRContext *ctx = b.getContext();
  AffineExpr bb, t, j, g, w;
  bindDims(ctx, bb, t, j, g, w);
  SmallVector<AffineMap> maps = {AffineMap::get(5, 0, {bb, g, t, w}, ctx),
                                 AffineMap::get(5, 0, {g, w, j}, ctx),
                                 AffineMap::get(5, 0, {bb, t, j}, ctx)};
  return buildMulAdd(b, loc, x, e, init, maps, /*reductions=*/2);
}

/// out[b, h, s, j] = sum_i x[b, h, s, i] * m[h, i, j].
Value mapPerHead(OpBuilder &b, Location loc, Value x, Value m, Value init) {
  MLIRContext *ctx = b.getContext();
  AffineExpr bb, h, s, j, i;
  bindDims(ctx, bb, h, s, j, i);
  SmallVector<AffineMap> maps = {AffineMap::get(5, 0, {bb, h, s, i}, ctx),
                                 AffineMap::get(5, 0, {h, i, j}, ctx),
                                 AffineMap::get(5, 0, {bb, h, s, j}, ctx)};
  return buildMulAdd(b, loc, x, m, init, maps, /*reductions=*/1);
}

/// A zero-filled f32 tensor of `shape`, its dynamic sizes those of the
/// given dims of `like` (dims[i] for result dim i; -1: static).
Value zeros(OpBuilder &b, Location loc, ArrayRef<int64_t> shape, Value like,
            ArrayRef<int64_t> dims) {
  SmallVector<Value> dynamic;
  for (auto [i, size] : llvm::enumerate(shape))
    if (ShapedType::isDynamic(size))
      dynamic.push_back(tensor::DimOp::create(b, loc, like, dims[i]));
  Type f32 = b.getF32Type();
  Value empty = tensor::EmptyOp::create(
      b, loc, RankedTensorType::get(shape, f32), dynamic);
  Value zero = arith::ConstantOp::create(b, loc, b.getFloatAttr(f32, 0.0));
  return linalg::FillOp::create(b, loc, zero, ValueRange{empty}).getResult(0);
}

/// The latent (or rotary key) of keys `k` and values `v` (v may be null):
/// [B, 1, T, J].
Value latentOf(OpBuilder &b, Location loc, Value k, DenseElementsAttr ek,
               Value v, DenseElementsAttr ev) {
  auto kt = cast<RankedTensorType>(k.getType());
  int64_t j = cast<ShapedType>(ek.getType()).getDimSize(2);
  Value acc = zeros(b, loc, {kt.getDimSize(0), kt.getDimSize(2), j}, k,
                    {0, 2, -1});
  acc = encode(b, loc, k, arith::ConstantOp::create(b, loc, ek), acc);
  if (v)
    acc = encode(b, loc, v, arith::ConstantOp::create(b, loc, ev), acc);
  auto at = cast<RankedTensorType>(acc.getType());
  return tensor::ExpandShapeOp::create(
      b, loc,
      RankedTensorType::get({at.getDimSize(0), 1, at.getDimSize(1), j},
                            at.getElementType()),
      acc, ArrayRef<ReassociationIndices>{{0, 1}, {2}, {3}});
}

struct AttnShareKVLatentPass
    : attn::impl::AttnShareKVLatentBase<AttnShareKVLatentPass> {
  using Base::Base;

  void runOnOperation() override {
    if (rank == 0)
      return;
    ModuleOp module = getOperation();
    if (rank < 0 || ropeDim < -1) {
      module.emitError() << "attn-share-kv-latent: rank=" << rank.getValue()
                         << " must not be negative, rope-dim="
                         << ropeDim.getValue() << " not below -1";
      return signalPassFailure();
    }
    for (func::FuncOp func : definedFunctions(module))
      if (failed(convertFunction(func)))
        return signalPassFailure();
  }

private:
  /// Every refusal happens before the first change.
  LogicalResult convertFunction(func::FuncOp func) {
    SmallVector<Plan> plans;
    WalkResult walk = func.walk([&](AttentionOp op) {
      if (op.getNumResults() != 1 || op->hasAttr("attn.latent"))
        return WalkResult::advance();
      FailureOr<Plan> plan = planOp(func, op);
      if (failed(plan))
        return WalkResult::interrupt();
      plans.push_back(*plan);
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return failure();
    bool shrinks = llvm::any_of(plans, [](const Plan &p) { return p.pastKey; });
    if (shrinks && !SymbolTable::symbolKnownUseEmpty(func, getOperation()))
      return func.emitError()
             << "attn-share-kv-latent: @" << func.getSymName()
             << " is used elsewhere, and its KV cache arguments would change "
                "to the latent form";
    for (Plan &plan : plans)
      apply(plan);
    if (shrinks)
      func.setType(FunctionType::get(
          &getContext(), func.getBody().front().getArgumentTypes(),
          func.getBody().back().getTerminator()->getOperandTypes()));
    return success();
  }

  /// A `past` argument read only by its concatenation, which only `op` and
  /// the single return read: it can hold the latent form instead.
  BlockArgument shrinkablePast(func::FuncOp func, AttentionOp op,
                               tensor::ConcatOp concat) {
    if (!concat || !func.getBody().hasOneBlock())
      return {};
    auto arg = dyn_cast<BlockArgument>(concat.getInputs()[0]);
    if (!arg || arg.getOwner() != &func.getBody().front() || !arg.hasOneUse())
      return {};
    for (Operation *user : concat->getUsers())
      if (user != op.getOperation() && !isa<func::ReturnOp>(user))
        return {};
    return arg;
  }

  FailureOr<Plan> planOp(func::FuncOp func, AttentionOp op) {
    ShapedType qt = op.getQueryType();
    int64_t hq = op.getQHeads(), hkv = op.getKvHeads();
    int64_t d = qt.getDimSize(3), dv = op.getValueType().getDimSize(3);
    auto isF32 = [](Type t) {
      return isa<RankedTensorType>(t) &&
             cast<ShapedType>(t).getElementType().isF32();
    };
    if (!isF32(op.getQuery().getType()) || !isF32(op.getKey().getType()) ||
        !isF32(op.getValue().getType()) || ShapedType::isDynamic(d) ||
        ShapedType::isDynamic(dv) || ShapedType::isDynamic(qt.getDimSize(1)))
      return op.emitError() << "attn-share-kv-latent needs f32 tensors with "
                               "static head counts and head sizes";
    Plan plan{op, {}, {}, {}, {}, {}, ropeDim >= 0 ? ropeDim : d / 2};
    plan.keyConcat = cacheConcat(op.getKey());
    plan.valueConcat = cacheConcat(op.getValue());
    BlockArgument pk = shrinkablePast(func, op, plan.keyConcat),
                  pv = shrinkablePast(func, op, plan.valueConcat);
    if (pk && pv && pk != pv) {
      plan.pastKey = pk;
      plan.pastValue = pv;
    }
    if (FailureOr<LatentMaps> maps = readMaps(op, hq, hkv, d, dv, plan.rope);
        succeeded(maps))
      plan.maps = *maps;
    else
      return failure();
    return plan;
  }

  /// The calibration's maps on the op, or the identity at full rank.
  FailureOr<LatentMaps> readMaps(AttentionOp op, int64_t hq, int64_t hkv,
                                 int64_t d, int64_t dv, int64_t p) {
    int64_t r = rank;
    auto get = [&](StringRef name) {
      return op->getAttrOfType<DenseFPElementsAttr>(name);
    };
    if (!get(kKeyEncoder) && !get(kValueEncoder) && !get(kRopeEncoder) &&
        !get(kQueryMaps) && !get(kOutputMaps)) {
      if (r == hkv * dv && p == hkv * d)
        return identityMaps(op.getContext(), hq, hkv, d, dv);
      return op.emitError()
             << "attn-share-kv-latent: rank=" << r << " rope-dim=" << p
             << " needs the calibration maps '" << kKeyEncoder << "', '"
             << kValueEncoder << "', '" << kRopeEncoder << "', '"
             << kQueryMaps << "' and '" << kOutputMaps
             << "' on the op (attn-compile --calibration computes them); "
                "without them only full rank is possible (rank="
             << hkv * dv << " rope-dim=" << hkv * d << ")";
    }
    LatentMaps maps;
    struct Want {
      StringLiteral name;
      SmallVector<int64_t> shape;
      DenseElementsAttr *into;
    };
    Want wants[] = {{kKeyEncoder, {hkv, d, r}, &maps.keyEncoder},
                    {kValueEncoder, {hkv, dv, r}, &maps.valueEncoder},
                    {kRopeEncoder, {hkv, d, p}, &maps.ropeEncoder},
                    {kQueryMaps, {hq, d, r + p}, &maps.queryMaps},
                    {kOutputMaps, {hq, r, dv}, &maps.outputMaps}};
    for (Want &w : wants) {
      DenseFPElementsAttr attr = get(w.name);
      if (!attr || attr.getType().getShape() != ArrayRef<int64_t>(w.shape)) {
        InFlightDiagnostic diag = op.emitError()
                                  << "attn-share-kv-latent: '" << w.name
                                  << "' must be a float tensor of shape [";
        llvm::interleave(w.shape, diag, ", ");
        return diag << "] (rank=" << r << " rope-dim=" << p << ")";
      }
      SmallVector<float> values;
      for (APFloat v : attr.getValues<APFloat>())
        values.push_back(static_cast<float>(v.convertToDouble()));
      *w.into = f32Attr(op.getContext(), w.shape, values);
    }
    return maps;
  }

  /// Rewrites one planned op; cannot fail.
  void apply(Plan plan) {
    AttentionOp op = plan.op;
    OpBuilder b(op);
    Location loc = op.getLoc();
    const LatentMaps &m = plan.maps;
    int64_t hkv = op.getKvHeads(), d = op.getQueryType().getDimSize(3),
            dv = op.getValueType().getDimSize(3);
    Value latent, rope;
    if (plan.pastKey) {
      // Encode only the new tokens; the past arguments hold the latent form.
      Value newK = plan.keyConcat.getInputs()[1];
      Value newV = plan.valueConcat.getInputs()[1];
      b.setInsertionPoint(plan.keyConcat->isBeforeInBlock(plan.valueConcat)
                              ? plan.valueConcat
                              : plan.keyConcat);
      Value c = latentOf(b, loc, newK, m.keyEncoder, newV, m.valueEncoder);
      Value r = latentOf(b, loc, newK, m.ropeEncoder, Value(), {});
      auto retype = [&](BlockArgument arg, int64_t width) {
        auto t = cast<RankedTensorType>(arg.getType());
        arg.setType(RankedTensorType::get(
            {t.getDimSize(0), 1, t.getDimSize(2), width}, t.getElementType()));
      };
      retype(plan.pastKey, rank);
      retype(plan.pastValue, plan.rope);
      latent = tensor::ConcatOp::create(b, loc, 2, {plan.pastKey, c});
      rope = tensor::ConcatOp::create(b, loc, 2, {plan.pastValue, r});
      // The present caches are the latent and the rotary key now.
      plan.keyConcat.getResult().replaceAllUsesExcept(latent, op);
      plan.valueConcat.getResult().replaceAllUsesExcept(rope, op);
      b.setInsertionPoint(op);
    } else {
      latent = latentOf(b, loc, op.getKey(), m.keyEncoder, op.getValue(),
                        m.valueEncoder);
      rope = latentOf(b, loc, op.getKey(), m.ropeEncoder, Value(), {});
    }
    Value key = tensor::ConcatOp::create(b, loc, 3, {latent, rope});
    ShapedType qt = op.getQueryType();
    Value query = mapPerHead(
        b, loc, op.getQuery(), arith::ConstantOp::create(b, loc, m.queryMaps),
        zeros(b, loc,
              {qt.getDimSize(0), qt.getDimSize(1), qt.getDimSize(2),
               rank + plan.rope},
              op.getQuery(), {0, 1, 2, -1}));
    SmallVector<int64_t> outShape(qt.getShape());
    outShape.back() = rank;
    SmallVector<Value> dynamic;
    for (auto [i, size] : llvm::enumerate(outShape))
      if (ShapedType::isDynamic(size))
        dynamic.push_back(tensor::DimOp::create(b, loc, op.getQuery(), i));
    Value init = tensor::EmptyOp::create(
        b, loc, RankedTensorType::get(outShape, b.getF32Type()), dynamic);
    auto attention = AttentionOp::create(
        b, loc, TypeRange{init.getType()}, query, key, latent, op.getMask(),
        op.getKvSeqLens(), init, op.getQHeadsAttr(), b.getI64IntegerAttr(1),
        op.getScaleAttr(), op.getCausalOffsetAttr(), op.getSoftcapAttr(),
        op.getWindowLeftAttr(), op.getWindowRightAttr());
    for (NamedAttribute attr : op->getDiscardableAttrs())
      if (!attr.getName().strref().starts_with("attn.latent_"))
        attention->setAttr(attr.getName(), attr.getValue());
    attention->setAttr(
        "attn.latent",
        b.getDictionaryAttr(
            {b.getNamedAttr("rank", b.getI64IntegerAttr(rank)),
             b.getNamedAttr("rope_dim", b.getI64IntegerAttr(plan.rope)),
             b.getNamedAttr("heads_before", b.getI64IntegerAttr(hkv)),
             b.getNamedAttr("head_dim_before", b.getI64IntegerAttr(d)),
             b.getNamedAttr("v_head_dim_before", b.getI64IntegerAttr(dv)),
             // Converted from MHA/GQA: the cache held hkv * (d + dv) floats.
             b.getNamedAttr("converted", b.getUnitAttr())}));
    SmallVector<int64_t> resultShape(outShape);
    resultShape.back() = dv;
    Value out = mapPerHead(b, loc, attention.getResult(0),
                           arith::ConstantOp::create(b, loc, m.outputMaps),
                           zeros(b, loc, resultShape, op.getQuery(),
                                 {0, 1, 2, -1}));
    op.getResult(0).replaceAllUsesWith(out);
    op.erase();
    for (tensor::ConcatOp concat : {plan.keyConcat, plan.valueConcat})
      if (plan.pastKey && concat->use_empty())
        concat.erase();
  }
};

} // namespace
