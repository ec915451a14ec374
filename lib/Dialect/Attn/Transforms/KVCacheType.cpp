//===- KVCacheType.cpp - store a decode step's KV caches in another type --===//
//
// attn-kv-cache-type: the caches of a fused decode step are arguments of
// the entry function updated in place (attn.tied_result); storing them in
// f16/bf16 halves, in int8/fp8 quarters, the bytes a step reads. 8-bit
// caches need scales: they become inputs of the step (one f32 per batch row
// and KV head and cache), which the caller fills when it prefills the cache.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/SymbolTable.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNKVCACHETYPE
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// The element type that `name` stands for, or null.
Type cacheElementType(MLIRContext *ctx, StringRef name) {
  Builder b(ctx);
  if (name == "f32")
    return b.getF32Type();
  if (name == "f16")
    return b.getF16Type();
  if (name == "bf16")
    return b.getBF16Type();
  if (name == "int8")
    return b.getI8Type();
  if (name == "fp8")
    return b.getType<Float8E4M3FNType>();
  return Type();
}

/// The entry-block argument `v` is, if any.
BlockArgument argumentOf(func::FuncOp func, Value v) {
  auto arg = dyn_cast<BlockArgument>(v);
  return arg && arg.getOwner() == &func.getBody().front() ? arg
                                                          : BlockArgument();
}

/// Whether `result` is only returned, at index `index`.
bool onlyReturnedAt(Value result, int64_t index) {
  return llvm::all_of(result.getUses(), [&](OpOperand &use) {
    return isa<func::ReturnOp>(use.getOwner()) &&
           use.getOperandNumber() == index;
  });
}

struct AttnKVCacheTypePass
    : attn::impl::AttnKVCacheTypeBase<AttnKVCacheTypePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    Type element = cacheElementType(&getContext(), cacheType);
    if (!element) {
      module.emitError() << "unknown KV-cache type '" << cacheType
                         << "' (expected f32, f16, bf16, int8 or fp8)";
      return signalPassFailure();
    }
    SmallVector<DecodeOp> decodes;
    module.walk([&](DecodeOp op) { decodes.push_back(op); });
    if (decodes.empty()) {
      module.emitError() << "--kv-cache-type=" << cacheType
                         << ": the model has no attn.decode KV caches (a "
                            "decode step with past keys/values, fused into "
                            "in-place caches, has them)";
      return signalPassFailure();
    }
    for (DecodeOp op : decodes)
      if (failed(convert(op, element)))
        return signalPassFailure();
  }

  LogicalResult convert(DecodeOp op, Type element) {
    auto func = op->getParentOfType<func::FuncOp>();
    Type old = op.getKeyCacheType().getElementType();
    if (isQuantizedCacheType(old))
      return op.emitOpError() << "has " << old
                              << " caches already; --kv-cache-type converts "
                                 "float caches";
    if (old == element)
      return success();
    // The latent form stores every element once and has no 8-bit or
    // narrowed variant yet.
    if (op.isLatent())
      return op.emitOpError() << "has latent (MLA) caches; --kv-cache-type "
                                 "does not convert them yet";
    BlockArgument keyArg = argumentOf(func, op.getKeyCache());
    BlockArgument valueArg = argumentOf(func, op.getValueCache());
    std::optional<SymbolTable::UseRange> uses =
        SymbolTable::getSymbolUses(func, func->getParentOp());
    auto tiedOf = [&](BlockArgument arg) -> int64_t {
      auto attr = func.getArgAttrOfType<IntegerAttr>(arg.getArgNumber(),
                                                     "attn.tied_result");
      return attr ? attr.getInt() : -1;
    };
    if (!isa<RankedTensorType>(op.getKeyCache().getType()) || !keyArg ||
        !valueArg || (uses && !uses->empty()) || tiedOf(keyArg) < 0 ||
        tiedOf(valueArg) < 0 ||
        !onlyReturnedAt(op.getResult(1), tiedOf(keyArg)) ||
        !onlyReturnedAt(op.getResult(2), tiedOf(valueArg)) ||
        !keyArg.hasOneUse() || !valueArg.hasOneUse())
      return op.emitOpError()
             << "caches are not the in-place cache arguments of an uncalled "
                "function (attn.tied_result, returned only at that result): "
                "--kv-cache-type needs a fused decode step";

    auto retype = [&](Value v) {
      return cast<RankedTensorType>(v.getType()).clone(element);
    };
    OpBuilder b(op);
    Value keyScale, valueScale;
    if (isQuantizedCacheType(element)) {
      int64_t batch = op.getQueryType().getDimSize(0);
      auto scaleType = RankedTensorType::get({batch, op.getKvHeads()},
                                             b.getF32Type());
      std::string base = "kv_cache_" + std::to_string(keyArg.getArgNumber());
      if (auto name = func.getArgAttrOfType<StringAttr>(keyArg.getArgNumber(),
                                                        "attn.name"))
        base = name.str();
      unsigned next = func.getNumArguments();
      for (StringRef which : {"key_scale", "value_scale"})
        if (failed(func.insertArgument(
                func.getNumArguments(), scaleType,
                b.getDictionaryAttr(b.getNamedAttr(
                    "attn.name", b.getStringAttr(base + "." + which.str()))),
                op.getLoc())))
          return failure();
      keyScale = func.getArgument(next);
      valueScale = func.getArgument(next + 1);
    }
    keyArg.setType(retype(keyArg));
    valueArg.setType(retype(valueArg));
    SmallVector<Type> results{op.getResult(0).getType(), keyArg.getType(),
                              valueArg.getType()};
    auto replacement = DecodeOp::create(
        b, op.getLoc(), results, op.getQuery(), op.getKey(), op.getValue(),
        op.getPosition(), op.getPositions(), op.getBlockTable(), op.getMask(),
        op.getInit(), keyArg, valueArg, keyScale, valueScale, op.getTreeMask(),
        op.getQHeadsAttr(), op.getKvHeadsAttr(), op.getScaleAttr(),
        op.getCausalAttr(), op.getSoftcapAttr(), op.getWindowLeftAttr(),
        op.getWindowRightAttr(), op.getRingAttr(), op.getLatentAttr());
    replacement->setDiscardableAttrs(op->getDiscardableAttrDictionary());
    op->replaceAllUsesWith(replacement->getResults());
    op.erase();
    // The tied results take the caches' new types.
    SmallVector<Type> resultTypes(func.getResultTypes());
    resultTypes[tiedOf(keyArg)] = keyArg.getType();
    resultTypes[tiedOf(valueArg)] = valueArg.getType();
    func.setType(FunctionType::get(&getContext(),
                                   func.getBody().getArgumentTypes(),
                                   resultTypes));
    return success();
  }
};

} // namespace
