//===- FuseIncrementalDecode.cpp - in-place KV-cache append ---------------===//
//
// Pattern: attn.attention over concat(%past, %new) (K and V), with %past a
// function argument and the concatenation returned as the present cache
//   -> attn.decode appending %new into %past (now the whole cache) at a
//      runtime position, the cache returned as the op's updated destination.
// The absorbed MLA form, MQA with K = concat_dim3(concat(%pastA, %a),
// concat(%pastB, %b)) and V = concat(%pastA, %a), becomes the latent decode
// (latent cache %pastA, rotary cache %pastB, both in place).
// Callers pass their past as the front of a whole cache and its length as
// the position, so they keep their meaning.
//
//===----------------------------------------------------------------------===//

#include "CallSites.h"

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Dominance.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNFUSEDECODE
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// One attention whose K and V are concat(past argument, new). For the
/// latent (MLA) form, `keys` is the latent concat, `values` the rotary one
/// and `joined` the per-step key concat_dim3(latent, rotary).
struct Candidate {
  AttentionOp op;
  tensor::ConcatOp keys, values;
  tensor::ConcatOp joined;
  BlockArgument pastKeys, pastValues;
  /// The result each cache is returned as, when it is returned.
  std::optional<unsigned> keysResult, valuesResult;
};

/// The one result position at which every return of the function returns
/// `concat`; std::nullopt when none returns it. Fails when the returns
/// disagree (one returns it, another does not, or at another position),
/// since the cache argument could not then be tied to one result.
FailureOr<std::optional<unsigned>>
returnedAs(tensor::ConcatOp concat, ArrayRef<func::ReturnOp> returns) {
  std::optional<unsigned> position;
  for (OpOperand &use : concat->getUses())
    if (isa<func::ReturnOp>(use.getOwner())) {
      if (position && *position != use.getOperandNumber())
        return failure();
      position = use.getOperandNumber();
    }
  if (!position)
    return std::optional<unsigned>();
  for (func::ReturnOp ret : returns)
    if (ret.getOperand(*position) != concat.getResult())
      return failure();
  return position;
}

/// `concat(%arg, %new)` on dim 2 of an entry-block argument that feeds
/// nothing else, whose result feeds only `op` and returns that `op`
/// dominates (they will return the op's updated cache).
std::optional<std::pair<tensor::ConcatOp, BlockArgument>>
matchCacheConcat(Value v, AttentionOp op, func::FuncOp func,
                 DominanceInfo &dominance, Operation *alsoFeeds = nullptr) {
  auto concat = v.getDefiningOp<tensor::ConcatOp>();
  if (!concat || concat.getDim() != 2 || concat.getInputs().size() != 2)
    return std::nullopt;
  auto past = dyn_cast<BlockArgument>(concat.getInputs()[0]);
  if (!past || past.getOwner() != &func.getBody().front() ||
      !past.hasOneUse())
    return std::nullopt;
  for (Operation *user : concat->getUsers()) {
    if (user == op.getOperation() || user == alsoFeeds)
      continue;
    if (!isa<func::ReturnOp>(user) || !dominance.properlyDominates(op, user))
      return std::nullopt;
  }
  return std::make_pair(concat, past);
}

/// The candidate of `op` whose two caches grow by the concats `first` and
/// `second` (each with its past): both pasts static and of one length, the
/// causal alignment and window the decode op can state, and the concats
/// returned at most as the step's new caches.
std::optional<Candidate>
makeCandidate(AttentionOp op, std::pair<tensor::ConcatOp, BlockArgument> first,
              std::pair<tensor::ConcatOp, BlockArgument> second,
              tensor::ConcatOp joined, ArrayRef<func::ReturnOp> returns) {
  auto pastType = cast<ShapedType>(first.second.getType());
  auto otherType = cast<ShapedType>(second.second.getType());
  auto newType = cast<ShapedType>(first.first.getInputs()[1].getType());
  if (!pastType.hasStaticShape() || !newType.hasStaticShape() ||
      !otherType.hasStaticShape() ||
      otherType.getDimSize(2) != pastType.getDimSize(2))
    return std::nullopt;
  // ONNX aligns causal rows at offset past: row i at position past + i,
  // the decode op's alignment when one new key arrives per query row.
  if (IntegerAttr offset = op.getCausalOffsetAttr();
      offset && (offset.getInt() != pastType.getDimSize(2) ||
                 newType.getDimSize(2) != op.getQueryType().getDimSize(2)))
    return std::nullopt;
  // A window is relative to the query's position, which only causal
  // attention ties to the past length.
  if (op.getWindowLeftAttr() && !op.isCausal())
    return std::nullopt;
  FailureOr<std::optional<unsigned>> firstResult =
      returnedAs(first.first, returns);
  FailureOr<std::optional<unsigned>> secondResult =
      returnedAs(second.first, returns);
  if (failed(firstResult) || failed(secondResult))
    return std::nullopt;
  return Candidate{op,           first.first,  second.first,  joined,
                   first.second, second.second, *firstResult, *secondResult};
}

std::optional<Candidate> matchCandidate(AttentionOp op, func::FuncOp func,
                                        ArrayRef<func::ReturnOp> returns,
                                        DominanceInfo &dominance) {
  if (op.getNumResults() != 1 || op.getKvSeqLens())
    return std::nullopt;
  auto keys = matchCacheConcat(op.getKey(), op, func, dominance);
  auto values = matchCacheConcat(op.getValue(), op, func, dominance);
  if (!keys || !values || keys->second == values->second)
    return std::nullopt;
  return makeCandidate(op, *keys, *values, {}, returns);
}

/// The absorbed MLA attention: heads(H, 1), V = concat(pastA, a) (the
/// latent) and K = concat_dim3(V, concat(pastB, b)) (latent, rotary key).
std::optional<Candidate> matchLatentCandidate(AttentionOp op,
                                              func::FuncOp func,
                                              ArrayRef<func::ReturnOp> returns,
                                              DominanceInfo &dominance) {
  if (op.getNumResults() != 1 || op.getKvSeqLens() || op.getKvHeads() != 1)
    return std::nullopt;
  auto joined = op.getKey().getDefiningOp<tensor::ConcatOp>();
  if (!joined || joined.getDim() != 3 || joined.getInputs().size() != 2 ||
      joined.getInputs()[0] != op.getValue() || !joined->hasOneUse())
    return std::nullopt;
  auto latent = matchCacheConcat(op.getValue(), op, func, dominance, joined);
  auto rope =
      matchCacheConcat(joined.getInputs()[1], op, func, dominance, joined);
  if (!latent || !rope || latent->second == rope->second)
    return std::nullopt;
  return makeCandidate(op, *latent, *rope, joined, returns);
}

/// The length of the past a candidate's cache holds before this step.
int64_t pastLength(const Candidate &c) {
  return cast<ShapedType>(c.pastKeys.getType()).getDimSize(2);
}

struct AttnFuseDecodePass
    : attn::impl::AttnFuseDecodeBase<AttnFuseDecodePass> {
  using Base::Base;

  void runOnOperation() override {
    for (func::FuncOp func : definedFunctions(getOperation()))
      fuseFunction(func);
  }

private:
  /// Fuses every candidate of `func` and updates its callers. A function
  /// whose callers cannot all be updated is left alone, as is a candidate
  /// whose past length differs from the others' (one position serves all).
  void fuseFunction(func::FuncOp func) {
    SmallVector<func::ReturnOp> returns = returnsOf(func);
    DominanceInfo dominance(func);
    SmallVector<Candidate> candidates;
    func.walk([&](AttentionOp op) {
      std::optional<Candidate> c = matchCandidate(op, func, returns, dominance);
      if (!c)
        c = matchLatentCandidate(op, func, returns, dominance);
      if (c && (candidates.empty() ||
                pastLength(*c) == pastLength(candidates.front())))
        candidates.push_back(*c);
    });
    if (candidates.empty())
      return;
    Operation *blocker;
    FailureOr<SmallVector<func::CallOp>> calls =
        findCallSites(func, getOperation(), &blocker);
    if (failed(calls))
      return;

    MLIRContext *ctx = &getContext();
    FunctionType before = func.getFunctionType();
    int64_t past = pastLength(candidates.front());
    Block &entry = func.getBody().front();
    // One position for the batch (rank 0), or with per-row-positions one
    // per batch row ([B], B the caches' static batch size).
    int64_t batch = cast<ShapedType>(candidates.front().pastKeys.getType())
                        .getDimSize(0);
    if (perRowPositions &&
        (ShapedType::isDynamic(batch) ||
         llvm::any_of(candidates, [&](const Candidate &c) {
           return cast<ShapedType>(c.pastKeys.getType()).getDimSize(0) !=
                  batch;
         })))
      return;
    auto positionType =
        perRowPositions
            ? RankedTensorType::get({batch}, IntegerType::get(ctx, 64))
            : RankedTensorType::get({}, IntegerType::get(ctx, 64));
    unsigned positionArg = func.getNumArguments();
    if (failed(func.insertArgument(
            positionArg, positionType,
            DictionaryAttr::get(ctx, {NamedAttribute(
                                         StringAttr::get(ctx, "attn.name"),
                                         StringAttr::get(ctx, "cache_position"))}),
            func.getLoc())))
      return signalPassFailure();
    OpBuilder b(ctx);
    b.setInsertionPointToStart(&entry);
    Value position = entry.getArgument(positionArg);
    if (!perRowPositions) {
      position = tensor::ExtractOp::create(b, func.getLoc(), position,
                                           ValueRange{});
      position = arith::IndexCastOp::create(b, func.getLoc(),
                                            b.getIndexType(), position);
    }
    for (Candidate &c : candidates)
      fuse(b, func, c, position);
    func.setType(FunctionType::get(ctx, entry.getArgumentTypes(),
                                   before.getResults()));
    for (func::CallOp call : *calls)
      updateCall(call, func, before, past);
  }

  void fuse(OpBuilder &b, func::FuncOp func, Candidate &c, Value position) {
    AttentionOp op = c.op;
    for (auto [concat, past, result] :
         {std::tuple{c.keys, c.pastKeys, c.keysResult},
          std::tuple{c.values, c.pastValues, c.valuesResult}}) {
      past.setType(concat.getResult().getType());
      func.setArgAttr(past.getArgNumber(),
                      bufferization::BufferizationDialect::kWritableAttrName,
                      b.getBoolAttr(true));
      if (result)
        func.setArgAttr(past.getArgNumber(), "attn.tied_result",
                        b.getI64IntegerAttr(*result));
    }
    b.setInsertionPoint(op);
    Value init = op.getInit();
    auto decode = DecodeOp::create(
        b, op.getLoc(),
        TypeRange{init.getType(), c.pastKeys.getType(),
                  c.pastValues.getType()},
        op.getQuery(), c.keys.getInputs()[1], c.values.getInputs()[1],
        perRowPositions ? Value() : position,
        perRowPositions ? position : Value(), op.getMask(), init, c.pastKeys,
        c.pastValues,
        op.getQHeadsAttr(), op.getKvHeadsAttr(), op.getScaleAttr(),
        op.isCausal() ? b.getUnitAttr() : UnitAttr(), op.getSoftcapAttr(),
        op.getWindowLeftAttr(), op.getWindowRightAttr());
    if (c.joined)
      decode.setLatentAttr(b.getI64IntegerAttr(
          cast<ShapedType>(c.pastKeys.getType()).getDimSize(3)));
    for (NamedAttribute attr : op->getDiscardableAttrs())
      decode->setAttr(attr.getName(), attr.getValue());
    op.getResult(0).replaceAllUsesWith(decode.getResult(0));
    op.erase();
    if (c.joined)
      c.joined.erase();
    c.keys.getResult().replaceAllUsesWith(decode.getResult(1));
    c.values.getResult().replaceAllUsesWith(decode.getResult(2));
    c.keys.erase();
    c.values.erase();
  }

  /// A caller keeps its meaning: it passes its `past` (length `past`) as the
  /// first positions of a whole cache and the position after them; the
  /// callee appends there and returns the present cache it used to build.
  void updateCall(func::CallOp call, func::FuncOp callee, FunctionType before,
                  int64_t past) {
    OpBuilder b(call);
    Location loc = call.getLoc();
    FunctionType after = callee.getFunctionType();
    SmallVector<Value> operands;
    for (auto [i, operand] : llvm::enumerate(call.getOperands())) {
      if (before.getInput(i) == after.getInput(i)) {
        operands.push_back(operand);
        continue;
      }
      auto cacheType = cast<RankedTensorType>(after.getInput(i));
      auto pastType = cast<RankedTensorType>(operand.getType());
      Value cache = tensor::EmptyOp::create(b, loc, cacheType.getShape(),
                                            cacheType.getElementType());
      SmallVector<OpFoldResult> offsets(4, b.getIndexAttr(0));
      SmallVector<OpFoldResult> strides(4, b.getIndexAttr(1));
      SmallVector<OpFoldResult> sizes;
      for (int64_t size : pastType.getShape())
        sizes.push_back(b.getIndexAttr(size));
      operands.push_back(tensor::InsertSliceOp::create(b, loc, operand, cache,
                                                       offsets, sizes, strides));
    }
    auto positionType = cast<RankedTensorType>(after.getInputs().back());
    operands.push_back(arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(positionType, APInt(64, past))));
    // (a splat: with per-row positions every row of the caller's batch
    // holds the same past)
    rebuildCall(call, callee, operands,
                [](OpBuilder &, Location, unsigned, Value result, Type) {
                  return result; // decode fusion keeps the result types
                });
  }
};

} // namespace
