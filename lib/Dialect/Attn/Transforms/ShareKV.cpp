//===- ShareKV.cpp - convert attention to fewer key/value heads -----------===//
//
// Pattern: attn.attention heads(Hq, Hkv) over K, V, Hkv > N -> heads(Hq, N)
// over pool(K), pool(V), where pool averages groups of Hkv / N consecutive
// heads. With a KV cache (K = concat(past, new)) only the new keys are
// pooled and the cache argument and result shrink; callers pool what they
// pass and repeat what they get back, so they keep their types and meaning.
//
//===----------------------------------------------------------------------===//

#include "CallSites.h"
#include "HeadIdentity.h"
#include "HeadPooling.h"

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "attn/Dialect/Attn/Transforms/ProjectionHeads.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Dominance.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNSHAREKV
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// `concat(past, new)` on the sequence dimension, or null.
tensor::ConcatOp cacheConcat(Value x) {
  auto concat = x.getDefiningOp<tensor::ConcatOp>();
  if (concat && concat.getDim() == 2 && concat.getInputs().size() == 2)
    return concat;
  return {};
}

/// The keys/values computed at this step: `new` of concat(past, new).
Value freshPart(Value x) {
  tensor::ConcatOp concat = cacheConcat(x);
  return concat ? concat.getInputs()[1] : x;
}

/// The value whose uses in func.return hold the KV heads of `x` as a
/// present cache: the concatenation when there is one, else `x` itself
/// (a step without past, the empty concat folded away).
Value presentOf(Value x) {
  tensor::ConcatOp concat = cacheConcat(x);
  return concat ? concat.getResult() : x;
}

/// A `past` cache argument of `func` that can shrink in place: read only by
/// its concatenation, which only `op` and the returns read (any other
/// reader still needs the former heads).
BlockArgument shrinkableCache(func::FuncOp func, AttentionOp op, Value x) {
  tensor::ConcatOp concat = cacheConcat(x);
  if (!concat)
    return {};
  auto arg = dyn_cast<BlockArgument>(concat.getInputs()[0]);
  if (!arg || arg.getOwner() != &func.getBody().front() ||
      !cast<ShapedType>(arg.getType()).hasStaticShape())
    return {};
  auto onlyReadBy = [](Value v, function_ref<bool(Operation *)> ok) {
    return llvm::all_of(v.getUsers(), ok);
  };
  if (!onlyReadBy(arg, [&](Operation *u) { return u == concat; }) ||
      !onlyReadBy(concat.getResult(), [&](Operation *u) {
        return u == op.getOperation() || isa<func::ReturnOp>(u);
      }))
    return {};
  return arg;
}

/// How the heads of a group become one: an optional per-head linear map
/// (`mixes`, [H, W, W], method=aligned), then a weighted sum (mean when
/// `weights` is empty).
struct Pooling {
  ArrayRef<double> weights;
  DenseElementsAttr mixes;
  /// A fitted projection weight (and bias) for the new heads (joint).
  ArrayRef<double> weight, bias;
};

Value pool(OpBuilder &b, Location loc, Value x, int64_t newHeads,
           const Pooling &pooling) {
  if (pooling.mixes)
    x = mapHeads(b, loc, x, pooling.mixes);
  return poolHeads(b, loc, x, newHeads, pooling.weights);
}

/// What sharing one op needs, checked before anything changes.
struct OpPlan {
  AttentionOp op;
  SmallVector<double> keyWeights, valueWeights; ///< empty: mean
  DenseElementsAttr queryMaps, outputMaps;      ///< calibrated/aligned only
  DenseElementsAttr keyMixes, valueMixes;       ///< aligned only
  /// The projections computing the new keys/values (and queries, with
  /// foldable query maps), rewritten at the weights; none: pooled (mapped)
  /// activations. `output`: the O projection that takes the output maps or
  /// the fitted weight (`attn.share_output_weight`).
  std::optional<HeadProjection> keyProjection, valueProjection,
      queryProjection;
  std::optional<OutputProjection> output;
  DenseElementsAttr outputWeight;
  /// Fitted projections [new heads * D, width] and biases that replace the
  /// Q, K and V weights (`attn.share_{query,key,value}_{weight,bias}`,
  /// --share-kv-method=joint); empty: none.
  std::vector<double> queryWeight, keyWeight, valueWeight, queryBias, keyBias,
      valueBias;
  /// What the report says about the K/V projections.
  int64_t flopsBefore = 0, bytesBefore = 0;
  bool costKnown = false;
  std::string activationsWhy;
  Pooling keys() const { return {keyWeights, keyMixes, keyWeight, keyBias}; }
  Pooling values() const {
    return {valueWeights, valueMixes, valueWeight, valueBias};
  }
};

/// FLOPs per token and weight bytes of a K or V projection over `heads`.
std::pair<int64_t, int64_t> projectionCost(const HeadProjection &p,
                                           int64_t heads) {
  auto type = cast<ShapedType>(p.weight->get().getType());
  int64_t bytes = (type.getElementTypeBitWidth() + 7) / 8;
  int64_t columns = heads * p.headDim;
  return {2 * p.inputWidth * columns,
          (p.inputWidth + (p.bias ? 1 : 0)) * columns * bytes};
}

struct AttnShareKVPass : attn::impl::AttnShareKVBase<AttnShareKVPass> {
  using Base::Base;

  void runOnOperation() override {
    if (kvHeads == 0)
      return;
    ModuleOp module = getOperation();
    if (kvHeads < 0) {
      module.emitError() << "attn-share-kv: kv-heads=" << kvHeads.getValue()
                         << " must be positive (0 leaves attention alone)";
      return signalPassFailure();
    }
    if (method != "mean" && method != "exact" && method != "calibrated" &&
        method != "aligned") {
      module.emitError() << "attn-share-kv: unknown method '" << method
                         << "' (expected mean, exact, calibrated or aligned)";
      return signalPassFailure();
    }
    for (func::FuncOp func : definedFunctions(module))
      if (failed(shareFunction(func)))
        return signalPassFailure();
  }

private:
  /// Shares the KV heads of every attention in `func` that has more than
  /// `kvHeads`, then gives `func` its new type and updates its callers.
  /// Every refusal happens before the first change.
  LogicalResult shareFunction(func::FuncOp func) {
    SmallVector<OpPlan, 0> plans;
    WalkResult walk = func.walk([&](AttentionOp op) {
      // A copy of the original attention that calibration keeps beside the
      // shared one (its output refit compares the two).
      if (op->hasAttr("attn.share_kv_keep"))
        return WalkResult::advance();
      if (op.getNumResults() != 1 ||
          static_cast<int64_t>(op.getKvHeads()) <= kvHeads)
        return WalkResult::advance();
      FailureOr<OpPlan> plan = planOp(op);
      if (failed(plan))
        return WalkResult::interrupt();
      plans.push_back(std::move(*plan));
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return failure();
    if (plans.empty())
      return success();

    // The signature: past arguments that shrink (with the pooling the
    // callers must now apply) and results that return shared heads.
    DenseMap<unsigned, Pooling> shrunkArgs;
    DenseSet<Value> sharedPresents;
    for (OpPlan &plan : plans) {
      for (auto [x, pooling] :
           {std::pair<Value, Pooling>{plan.op.getKey(), plan.keys()},
            std::pair<Value, Pooling>{plan.op.getValue(), plan.values()}}) {
        if (BlockArgument arg = shrinkableCache(func, plan.op, x))
          shrunkArgs[arg.getArgNumber()] = pooling;
        sharedPresents.insert(presentOf(x));
      }
    }
    SmallVector<func::ReturnOp> returns = returnsOf(func);
    if (failed(checkReturns(func, returns, sharedPresents)))
      return failure();
    bool changesSignature =
        !shrunkArgs.empty() ||
        llvm::any_of(returns, [&](func::ReturnOp ret) {
          return llvm::any_of(ret.getOperands(), [&](Value v) {
            return sharedPresents.contains(v);
          });
        });
    SmallVector<func::CallOp> calls;
    if (changesSignature) {
      Operation *blocker;
      FailureOr<SmallVector<func::CallOp>> found =
          findCallSites(func, getOperation(), &blocker);
      if (failed(found))
        return blocker->emitError()
               << "attn-share-kv: cannot update this use of @"
               << func.getSymName()
               << ", whose signature changes when its KV heads are shared "
                  "(only func.call sites can be updated)";
      calls = std::move(*found);
    }

    FunctionType before = func.getFunctionType();
    for (OpPlan &plan : plans)
      apply(func, plan, shrunkArgs);
    shrinkFusedProjections(plans);
    if (!changesSignature)
      return success();
    ArrayRef<Type> results = before.getResults();
    SmallVector<Type> newResults;
    if (!returns.empty()) {
      newResults = llvm::to_vector(returns.front().getOperandTypes());
      results = newResults;
    }
    func.setType(FunctionType::get(
        &getContext(), func.getBody().front().getArgumentTypes(), results));
    for (func::CallOp call : calls)
      updateCall(call, func, shrunkArgs);
    return success();
  }

  /// The rewritten projections' old heads: their steps go, and a fused
  /// projection they were part of stops computing their columns.
  void shrinkFusedProjections(ArrayRef<OpPlan> plans) {
    SmallVector<const HeadProjection *> rebuilt;
    for (const OpPlan &plan : plans)
      for (const std::optional<HeadProjection> *p :
           {&plan.keyProjection, &plan.valueProjection,
            &plan.queryProjection})
        if (p->has_value() && (p != &plan.queryProjection || plan.queryMaps))
          rebuilt.push_back(&**p);
    eraseUnusedSteps(rebuilt);
    DenseSet<Operation *> done;
    OpBuilder b(&getContext());
    for (const HeadProjection *p : rebuilt) {
      linalg::LinalgOp matmul = p->matmul;
      if (p->split && done.insert(matmul.getOperation()).second)
        narrowFusedProjection(b, *p);
    }
  }

  /// Every return must hold shared heads at the same result positions, or
  /// the function could not have one result type.
  LogicalResult checkReturns(func::FuncOp func,
                             ArrayRef<func::ReturnOp> returns,
                             const DenseSet<Value> &sharedPresents) {
    if (returns.size() < 2)
      return success();
    auto shared = [&](func::ReturnOp ret, unsigned i) {
      return sharedPresents.contains(ret.getOperand(i));
    };
    for (func::ReturnOp ret : returns.drop_front())
      for (unsigned i = 0, e = ret.getNumOperands(); i < e; ++i)
        if (shared(ret, i) != shared(returns.front(), i))
          return ret.emitError()
                 << "attn-share-kv: result #" << i << " of @"
                 << func.getSymName()
                 << " would hold " << kvHeads.getValue()
                 << " shared KV heads on one return and the former heads on "
                    "another; the function cannot have one result type";
    return success();
  }

  /// Checks that `op` can be shared and reads its calibration, without
  /// changing anything.
  FailureOr<OpPlan> planOp(AttentionOp op) {
    int64_t hq = op.getQHeads(), hkv = op.getKvHeads(), n = kvHeads;
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
    OpPlan plan{op};
    if ((method == "calibrated" || method == "aligned") &&
        failed(readCalibration(plan)))
      return failure();
    if (failed(planProjections(plan)))
      return failure();
    return plan;
  }

  /// Chooses where each map and pooling goes: into the projection weights
  /// where the operand comes from a constant projection and the maps commute
  /// with the steps after it, else onto the activations.
  LogicalResult planProjections(OpPlan &plan) {
    AttentionOp op = plan.op;
    int64_t hkv = op.getKvHeads();
    std::optional<HeadProjection> key =
        matchHeadProjection(freshPart(op.getKey()));
    std::optional<HeadProjection> value =
        matchHeadProjection(freshPart(op.getValue()));
    if (key && value) {
      auto [kf, kb] = projectionCost(*key, hkv);
      auto [vf, vb] = projectionCost(*value, hkv);
      plan.flopsBefore = kf + vf;
      plan.bytesBefore = kb + vb;
      plan.costKnown = true;
    }
    if (!projections) {
      plan.activationsWhy = "rewrite-projections=false";
    } else if (!key || !value) {
      plan.activationsWhy =
          std::string("the ") + (key ? "value" : "key") +
          " heads do not come from a constant-weight projection followed by "
          "head-uniform linear steps";
    } else if (op->hasAttr("attn.share_key_weight")) {
      plan.keyProjection = std::move(key);
      plan.valueProjection = std::move(value);
    } else if (!mapsCommute(*key, denseDoubles(plan.keyMixes))) {
      plan.activationsWhy = "the key mixes do not commute with the steps "
                            "after the key projection";
    } else if (!mapsCommute(*value, denseDoubles(plan.valueMixes))) {
      plan.activationsWhy = "the value mixes do not commute with the steps "
                            "after the value projection";
    } else {
      plan.keyProjection = std::move(key);
      plan.valueProjection = std::move(value);
    }
    if (failed(planFittedProjections(plan)))
      return failure();
    if (projections && plan.queryMaps && plan.queryWeight.empty()) {
      std::optional<HeadProjection> query =
          matchHeadProjection(op.getQuery());
      if (query && mapsCommute(*query, denseDoubles(plan.queryMaps)))
        plan.queryProjection = std::move(query);
    }
    plan.outputWeight =
        op->getAttrOfType<DenseElementsAttr>("attn.share_output_weight");
    if (projections && (plan.outputMaps || plan.outputWeight))
      plan.output = matchOutputProjection(op.getResult(0));
    if (plan.outputWeight) {
      if (!plan.output)
        return op.emitError()
               << "'attn.share_output_weight' needs the attention's result "
                  "to be read only by an output projection with a constant "
                  "weight (transpose, collapse, matmul)";
      int64_t rows = plan.output->heads * plan.output->valueDim;
      if (plan.outputWeight.getNumElements() !=
          rows * plan.output->outputWidth)
        return op.emitError() << "'attn.share_output_weight' must hold "
                              << rows << " x " << plan.output->outputWidth
                              << " values (the output projection's weight)";
    }
    return success();
  }

  /// Reads the fitted projections of --share-kv-method=joint, which replace
  /// the Q, K and V weights whole: each must come from a constant
  /// projection (no KV cache) and match its shape.
  LogicalResult planFittedProjections(OpPlan &plan) {
    AttentionOp op = plan.op;
    if (!op->hasAttr("attn.share_key_weight"))
      return success();
    auto fail = [&](const Twine &why) {
      return op.emitError() << "fitted projections (attn.share_*_weight): "
                            << why;
    };
    if (!projections)
      return fail("they need rewrite-projections=true");
    std::optional<HeadProjection> query = matchHeadProjection(op.getQuery());
    if (!plan.keyProjection || !query || cacheConcat(op.getKey()) ||
        cacheConcat(op.getValue()))
      return fail("Q, K and V must come from constant-weight projections "
                  "without a KV cache");
    auto read = [&](StringRef name, const HeadProjection &p, int64_t heads,
                    std::vector<double> &weight, std::vector<double> &bias) {
      auto w = op->getAttrOfType<DenseElementsAttr>(
          ("attn.share_" + name + "_weight").str());
      auto b = op->getAttrOfType<DenseElementsAttr>(
          ("attn.share_" + name + "_bias").str());
      int64_t rows = heads * p.headDim;
      if (!w || w.getType().getShape() != ArrayRef<int64_t>{rows, p.inputWidth})
        return false;
      if (static_cast<bool>(b) != static_cast<bool>(p.bias) ||
          (b && b.getNumElements() != rows))
        return false;
      weight = denseDoubles(w);
      bias = denseDoubles(b);
      return true;
    };
    if (!read("query", *query, op.getQHeads(), plan.queryWeight,
              plan.queryBias) ||
        !read("key", *plan.keyProjection, kvHeads, plan.keyWeight,
              plan.keyBias) ||
        !read("value", *plan.valueProjection, kvHeads, plan.valueWeight,
              plan.valueBias))
      return fail("each must be [new heads * D, projection width] (with a "
                  "bias of new heads * D exactly when the projection has "
                  "one)");
    plan.queryProjection = std::move(query);
    return success();
  }

  /// The calibration results attn-compile attaches to each op: per old KV
  /// head pooling weights for K and V, and optional per-query-head maps.
  LogicalResult readCalibration(OpPlan &plan) {
    AttentionOp op = plan.op;
    auto read = [&](StringRef name, SmallVector<double> &out) {
      auto attr = op->getAttrOfType<DenseFPElementsAttr>(name);
      if (!attr || attr.getNumElements() !=
                        static_cast<int64_t>(op.getKvHeads()))
        return false;
      for (APFloat v : attr.getValues<APFloat>())
        out.push_back(v.convertToDouble());
      return true;
    };
    if (!read("attn.share_key_weights", plan.keyWeights) ||
        !read("attn.share_value_weights", plan.valueWeights))
      return op.emitError()
             << "method=" << method
             << " needs the calibration weights "
                "'attn.share_key_weights' and 'attn.share_value_weights' "
                "(one per KV head) on the op; attn-compile --calibration "
                "computes them";
    plan.queryMaps = op->getAttrOfType<DenseElementsAttr>("attn.share_query_maps");
    plan.outputMaps =
        op->getAttrOfType<DenseElementsAttr>("attn.share_output_maps");
    int64_t hq = op.getQHeads(), d = op.getQueryType().getDimSize(3);
    int64_t dv = op.getValueType().getDimSize(3);
    if ((plan.queryMaps &&
         plan.queryMaps.getType().getShape() != ArrayRef<int64_t>{hq, d, d}) ||
        (plan.outputMaps &&
         plan.outputMaps.getType().getShape() != ArrayRef<int64_t>{hq, dv, dv}))
      return op.emitError() << "calibration head maps must be [Hq, D, D] and "
                               "[Hq, Dv, Dv]";
    if (method != "aligned")
      return success();
    int64_t hkv = op.getKvHeads();
    plan.keyMixes = op->getAttrOfType<DenseElementsAttr>("attn.share_key_mixes");
    plan.valueMixes =
        op->getAttrOfType<DenseElementsAttr>("attn.share_value_mixes");
    if (!plan.keyMixes || !plan.valueMixes || !plan.queryMaps ||
        !plan.outputMaps ||
        plan.keyMixes.getType().getShape() != ArrayRef<int64_t>{hkv, d, d} ||
        plan.valueMixes.getType().getShape() != ArrayRef<int64_t>{hkv, dv, dv})
      return op.emitError()
             << "method=aligned needs 'attn.share_key_mixes' [Hkv, D, D], "
                "'attn.share_value_mixes' [Hkv, Dv, Dv] and the head maps on "
                "the op; attn-compile --share-kv-method=aligned computes them";
    return success();
  }

  /// Rewrites one planned op; cannot fail.
  void apply(func::FuncOp func, const OpPlan &plan,
             const DenseMap<unsigned, Pooling> &shrunkArgs) {
    AttentionOp op = plan.op;
    int64_t hkv = op.getKvHeads(), n = kvHeads;
    OpBuilder b(op);
    Location loc = op.getLoc();
    op.getKeyMutable().set(share(b, loc, func, op, op.getKey(), plan.keys(),
                                 plan.keyProjection, shrunkArgs));
    op.getValueMutable().set(share(b, loc, func, op, op.getValue(),
                                   plan.values(), plan.valueProjection,
                                   shrunkArgs));
    b.setInsertionPoint(op);
    StringRef queryWhere = "none", outputWhere = "none";
    if (!plan.queryWeight.empty()) {
      op.getQueryMutable().set(rebuildHeadProjection(
          b, *plan.queryProjection, op.getQHeads(), {}, {}, plan.queryWeight,
          plan.queryBias));
      queryWhere = "fitted weight";
    } else if (plan.queryMaps && plan.queryProjection) {
      op.getQueryMutable().set(rebuildHeadProjection(
          b, *plan.queryProjection, op.getQHeads(), {},
          denseDoubles(plan.queryMaps)));
      queryWhere = "weights";
    } else if (plan.queryMaps) {
      op.getQueryMutable().set(mapHeads(b, loc, op.getQuery(), plan.queryMaps));
      queryWhere = "activations";
    }
    if (plan.outputWeight) {
      replaceOutputWeight(b, *plan.output, denseDoubles(plan.outputWeight));
      outputWhere = "fitted weight";
    } else if (plan.outputMaps && plan.output) {
      foldOutputMaps(b, *plan.output, denseDoubles(plan.outputMaps));
      outputWhere = "weights";
    } else if (plan.outputMaps) {
      b.setInsertionPointAfter(op);
      Value mapped = mapHeads(b, loc, op.getResult(0), plan.outputMaps);
      op.getResult(0).replaceAllUsesExcept(mapped, mapped.getDefiningOp());
      outputWhere = "activations";
    }
    for (StringRef name : {"attn.share_key_weights", "attn.share_value_weights",
                           "attn.share_query_maps", "attn.share_output_maps",
                           "attn.share_key_mixes", "attn.share_value_mixes",
                           "attn.share_output_weight", "attn.share_query_weight",
                           "attn.share_key_weight", "attn.share_value_weight",
                           "attn.share_query_bias", "attn.share_key_bias",
                           "attn.share_value_bias"})
      op->removeAttr(name);
    if (!op->hasAttr("attn.kv_heads_before"))
      op->setAttr("attn.kv_heads_before", b.getI64IntegerAttr(hkv));
    recordProjections(b, plan, queryWhere, outputWhere);
    op.setKvHeads(n);
  }

  /// `attn.kv_projections` for the compile report: where the sharing
  /// happened (weights or activations, and why not the weights) and the
  /// K/V projections' FLOPs per token and weight bytes before and after.
  void recordProjections(OpBuilder &b, const OpPlan &plan, StringRef query,
                         StringRef output) {
    bool weights = plan.keyProjection.has_value();
    SmallVector<NamedAttribute> fields{
        b.getNamedAttr("kv", b.getStringAttr(weights ? "weights"
                                                     : "activations")),
        b.getNamedAttr("query_maps", b.getStringAttr(query)),
        b.getNamedAttr("output", b.getStringAttr(output))};
    if (!weights)
      fields.push_back(
          b.getNamedAttr("why", b.getStringAttr(plan.activationsWhy)));
    if (plan.costKnown) {
      int64_t flops = plan.flopsBefore, bytes = plan.bytesBefore;
      if (weights) {
        auto [kf, kb] = projectionCost(*plan.keyProjection, kvHeads);
        auto [vf, vb] = projectionCost(*plan.valueProjection, kvHeads);
        flops = kf + vf;
        bytes = kb + vb;
      }
      fields.push_back(b.getNamedAttr(
          "flops_per_token_before", b.getI64IntegerAttr(plan.flopsBefore)));
      fields.push_back(
          b.getNamedAttr("flops_per_token", b.getI64IntegerAttr(flops)));
      fields.push_back(b.getNamedAttr("weight_bytes_before",
                                      b.getI64IntegerAttr(plan.bytesBefore)));
      fields.push_back(
          b.getNamedAttr("weight_bytes", b.getI64IntegerAttr(bytes)));
    }
    plan.op->setAttr("attn.kv_projections", b.getDictionaryAttr(fields));
  }

  /// `x` with `kvHeads` heads for `op`; the returns that held `x` as the
  /// present cache hold the shared heads too. A concat(past, new) keeps its
  /// shape of a cache: only `new` is pooled, and `past` shrinks when it is
  /// a shrinkable argument.
  Value share(OpBuilder &b, Location loc, func::FuncOp func, AttentionOp op,
              Value x, const Pooling &pooling,
              const std::optional<HeadProjection> &projection,
              const DenseMap<unsigned, Pooling> &shrunkArgs) {
    // The new heads of this step: from rewritten projection weights, or
    // pooled from the old heads.
    auto fresh = [&](Value v) {
      if (projection)
        return rebuildHeadProjection(b, *projection, kvHeads, pooling.weights,
                                     denseDoubles(pooling.mixes), pooling.weight,
                                     pooling.bias);
      return pool(b, loc, v, kvHeads, pooling);
    };
    auto inReturn = [](OpOperand &use) {
      return isa<func::ReturnOp>(use.getOwner());
    };
    OpBuilder::InsertionGuard guard(b);
    tensor::ConcatOp concat = cacheConcat(x);
    if (!concat) {
      // Before the op, unless a return the op does not dominate reads x:
      // then right after x, so that the pooled heads reach it too.
      DominanceInfo dominance(func);
      if (llvm::any_of(x.getUses(), [&](OpOperand &use) {
            return inReturn(use) &&
                   !dominance.properlyDominates(op, use.getOwner());
          }))
        b.setInsertionPointAfterValue(x);
      Value pooled = fresh(x);
      x.replaceUsesWithIf(pooled, inReturn);
      return pooled;
    }
    Value past = concat.getInputs()[0];
    b.setInsertionPoint(concat);
    Value newFresh = fresh(concat.getInputs()[1]);
    Value newPast = past;
    // Planned before anything changed: the argument is read by this concat
    // only, and its callers pool what they pass.
    auto arg = dyn_cast<BlockArgument>(past);
    if (arg && arg.getOwner() == &func.getBody().front() &&
        shrunkArgs.count(arg.getArgNumber())) {
      auto type = cast<RankedTensorType>(past.getType());
      SmallVector<int64_t> shape(type.getShape());
      shape[1] = kvHeads;
      past.setType(RankedTensorType::get(shape, type.getElementType()));
    } else {
      newPast = pool(b, loc, past, kvHeads, pooling);
    }
    Value joined = tensor::ConcatOp::create(b, concat.getLoc(), 2,
                                            ValueRange{newPast, newFresh});
    concat.getResult().replaceUsesWithIf(joined, [&](OpOperand &use) {
      return use.getOwner() == op.getOperation() || inReturn(use);
    });
    if (concat->use_empty())
      concat.erase();
    return joined;
  }

  /// A caller keeps its types and meaning: it pools a cache it passes to a
  /// shrunk argument as the callee used to, and repeats each shared head of
  /// a returned cache over its group, the heads it used to get.
  void updateCall(func::CallOp call, func::FuncOp callee,
                  const DenseMap<unsigned, Pooling> &shrunkArgs) {
    OpBuilder b(call);
    SmallVector<Value> operands(call.getOperands());
    for (auto [i, operand] : llvm::enumerate(operands))
      if (auto it = shrunkArgs.find(i); it != shrunkArgs.end())
        operand = pool(b, call.getLoc(), operand, kvHeads, it->second);
    rebuildCall(call, callee, operands,
                [](OpBuilder &rb, Location loc, unsigned, Value result,
                   Type oldType) {
                  return repeatHeads(rb, loc, result,
                                     cast<RankedTensorType>(oldType));
                });
  }
};

} // namespace
