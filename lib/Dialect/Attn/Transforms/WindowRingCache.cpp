//===- WindowRingCache.cpp - ring-buffer KV caches for window layers -----===//
//
// attn-window-ring-cache: a decode layer with a causal window(L, 0) never
// looks further back than L positions, so its caches need only L + Sq slots
// (the window of the step's first query plus the step's queries) if
// position t is stored in slot t % (L + Sq). The pass shrinks such caches,
// which are arguments of the step function, to rings of that size: memory
// per sequence becomes O(window) instead of O(context) and the context is
// unbounded. Semantics: attn.decode's `ring` (docs/AttnDialect.md).
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/SymbolTable.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNWINDOWRINGCACHE
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// Whether `op` is a window layer: causal, window bounded on the left and
/// 0 on the right.
bool isWindowLayer(DecodeOp op) {
  return op.getCausal() && op.getWindowLeftBound() &&
         op.getWindowRightAttr() && op.getWindowRightAttr().getInt() == 0;
}

/// The entry-block argument `v` is, if any.
BlockArgument argumentOf(func::FuncOp func, Value v) {
  auto arg = dyn_cast<BlockArgument>(v);
  return arg && arg.getOwner() == &func.getBody().front() ? arg
                                                          : BlockArgument();
}

struct AttnWindowRingCachePass
    : attn::impl::AttnWindowRingCacheBase<AttnWindowRingCachePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<DecodeOp> layers;
    module.walk([&](DecodeOp op) {
      if (isWindowLayer(op))
        layers.push_back(op);
    });
    if (layers.empty()) {
      module.emitError() << "--window-ring-cache: the model has no sliding-"
                            "window decode layer (an attn.decode with causal "
                            "window(L, 0), e.g. from GroupQueryAttention's "
                            "local_window_size)";
      return signalPassFailure();
    }
    for (DecodeOp op : layers)
      if (failed(convert(op)))
        return signalPassFailure();
  }

  LogicalResult convert(DecodeOp op) {
    if (op.isRing())
      return success();
    int64_t window = *op.getWindowLeftBound();
    int64_t sq = op.getQueryType().getDimSize(2);
    int64_t smax = op.getKeyCacheType().getDimSize(2);
    if (ShapedType::isDynamic(sq))
      return op.emitOpError() << "has a dynamic query length: "
                                 "--window-ring-cache needs it static";
    int64_t slots = window + sq;
    // A cache that is no longer than the ring already costs no more.
    if (!ShapedType::isDynamic(smax) && smax <= slots)
      return success();
    auto func = op->getParentOfType<func::FuncOp>();
    BlockArgument keyArg = argumentOf(func, op.getKeyCache());
    BlockArgument valueArg = argumentOf(func, op.getValueCache());
    std::optional<SymbolTable::UseRange> uses =
        SymbolTable::getSymbolUses(func, func->getParentOp());
    auto onlyReturned = [](Value result) {
      return llvm::all_of(result.getUsers(), [](Operation *user) {
        return isa<func::ReturnOp>(user);
      });
    };
    if (op.isLatent())
      return op.emitOpError() << "window layer has latent (MLA) caches: "
                                 "--window-ring-cache cannot keep them as "
                                 "rings yet";
    if (op.isPaged() || op.getMask())
      return op.emitOpError()
             << "window layer has " << (op.isPaged() ? "a 'block_table'" : "a 'mask'")
             << ": --window-ring-cache cannot keep its caches as rings";
    if (!isa<RankedTensorType>(op.getKeyCache().getType()) || !keyArg ||
        !valueArg || keyArg == valueArg || (uses && !uses->empty()) ||
        !keyArg.hasOneUse() || !valueArg.hasOneUse() ||
        !onlyReturned(op.getResult(1)) || !onlyReturned(op.getResult(2)))
      return op.emitOpError()
             << "window layer's caches are not arguments of an uncalled "
                "function used only by this op and returned only: "
                "--window-ring-cache cannot change their shape";
    auto ringType = [&](Value v) {
      auto type = cast<RankedTensorType>(v.getType());
      SmallVector<int64_t> shape(type.getShape());
      shape[2] = slots;
      return type.clone(shape);
    };
    keyArg.setType(ringType(keyArg));
    valueArg.setType(ringType(valueArg));
    op.getResult(1).setType(keyArg.getType());
    op.getResult(2).setType(valueArg.getType());
    op.setRing(true);
    auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
    func.setType(FunctionType::get(&getContext(),
                                   func.getBody().getArgumentTypes(),
                                   ret.getOperandTypes()));
    return success();
  }
};

} // namespace
