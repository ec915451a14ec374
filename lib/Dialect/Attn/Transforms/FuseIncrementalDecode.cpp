//===- FuseIncrementalDecode.cpp - in-place KV-cache append ---------------===//
//
// Pattern: attn.attention over concat(%past, %new) (K and V), with %past a
// function argument and the concatenation returned as the present cache
//   -> attn.decode appending %new into %past (now the whole cache) at a
//      runtime position, the cache returned as the op's updated destination.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNFUSEDECODE
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// One attention whose K and V are concat(past argument, new).
struct Candidate {
  AttentionOp op;
  tensor::ConcatOp keys, values;
  BlockArgument pastKeys, pastValues;
};

/// `concat(%arg, %new)` on dim 2 whose argument feeds nothing else and
/// whose result feeds only `op` and the return.
std::optional<std::pair<tensor::ConcatOp, BlockArgument>>
matchCacheConcat(Value v, AttentionOp op) {
  auto concat = v.getDefiningOp<tensor::ConcatOp>();
  if (!concat || concat.getDim() != 2 || concat.getInputs().size() != 2)
    return std::nullopt;
  auto past = dyn_cast<BlockArgument>(concat.getInputs()[0]);
  if (!past || !isa<func::FuncOp>(past.getOwner()->getParentOp()) ||
      !past.hasOneUse())
    return std::nullopt;
  for (Operation *user : concat->getUsers())
    if (user != op.getOperation() && !isa<func::ReturnOp>(user))
      return std::nullopt;
  return std::make_pair(concat, past);
}

std::optional<Candidate> matchCandidate(AttentionOp op) {
  if (op.getNumResults() != 1 || op.getKvSeqLens())
    return std::nullopt;
  auto keys = matchCacheConcat(op.getKey(), op);
  auto values = matchCacheConcat(op.getValue(), op);
  if (!keys || !values || keys->second == values->second)
    return std::nullopt;
  auto pastType = cast<ShapedType>(keys->second.getType());
  auto newType = cast<ShapedType>(keys->first.getInputs()[1].getType());
  if (!pastType.hasStaticShape() || !newType.hasStaticShape())
    return std::nullopt;
  // ONNX aligns causal rows at offset past: row i at position past + i,
  // the decode op's alignment when one new key arrives per query row.
  if (IntegerAttr offset = op.getCausalOffsetAttr();
      offset && (offset.getInt() != pastType.getDimSize(2) ||
                 newType.getDimSize(2) != op.getQueryType().getDimSize(2)))
    return std::nullopt;
  return Candidate{op, keys->first, values->first, keys->second,
                   values->second};
}

struct AttnFuseDecodePass
    : attn::impl::AttnFuseDecodeBase<AttnFuseDecodePass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal())
      return;
    SmallVector<Candidate> candidates;
    func.walk([&](AttentionOp op) {
      if (std::optional<Candidate> c = matchCandidate(op))
        candidates.push_back(*c);
    });
    if (candidates.empty())
      return;

    MLIRContext *ctx = &getContext();
    Block &entry = func.getBody().front();
    auto positionType = RankedTensorType::get({}, IntegerType::get(ctx, 64));
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
    Value position = tensor::ExtractOp::create(
        b, func.getLoc(), entry.getArgument(positionArg), ValueRange{});
    position = arith::IndexCastOp::create(b, func.getLoc(), b.getIndexType(),
                                          position);

    auto ret = cast<func::ReturnOp>(func.getBody().back().getTerminator());
    for (Candidate &c : candidates)
      fuse(b, c, position, ret);
    func.setType(FunctionType::get(ctx, entry.getArgumentTypes(),
                                   ret.getOperandTypes()));
  }

private:
  void fuse(OpBuilder &b, Candidate &c, Value position, func::ReturnOp ret) {
    AttentionOp op = c.op;
    func::FuncOp func = getOperation();
    for (auto [concat, past] : {std::pair{c.keys, c.pastKeys},
                                std::pair{c.values, c.pastValues}}) {
      past.setType(concat.getResult().getType());
      func.setArgAttr(past.getArgNumber(),
                      bufferization::BufferizationDialect::kWritableAttrName,
                      b.getBoolAttr(true));
      for (OpOperand &use : concat->getUses())
        if (use.getOwner() == ret.getOperation())
          func.setArgAttr(past.getArgNumber(), "attn.tied_result",
                          b.getI64IntegerAttr(use.getOperandNumber()));
    }
    b.setInsertionPoint(op);
    Value init = op.getInit();
    auto decode = DecodeOp::create(
        b, op.getLoc(),
        TypeRange{init.getType(), c.pastKeys.getType(),
                  c.pastValues.getType()},
        op.getQuery(), c.keys.getInputs()[1], c.values.getInputs()[1],
        position, op.getMask(), init, c.pastKeys, c.pastValues,
        op.getQHeadsAttr(), op.getKvHeadsAttr(), op.getScaleAttr(),
        op.isCausal() ? b.getUnitAttr() : UnitAttr(), op.getSoftcapAttr());
    for (NamedAttribute attr : op->getDiscardableAttrs())
      decode->setAttr(attr.getName(), attr.getValue());
    op.getResult(0).replaceAllUsesWith(decode.getResult(0));
    c.keys.getResult().replaceAllUsesWith(decode.getResult(1));
    c.values.getResult().replaceAllUsesWith(decode.getResult(2));
    op.erase();
    c.keys.erase();
    c.values.erase();
  }
};

} // namespace
