//===- DropTiedResults.cpp - results that are their argument's buffer -----===//
//
// After bufferisation, a fused decode step returns each KV cache it updated
// in place: the returned memref is the cache argument itself. This pass
// drops such results of the arguments marked `attn.tied_result = i`, so the
// cache is passed once, read and written in place (an `inout` buffer of the
// model signature), instead of being copied into an out-parameter on every
// call. A tied result that bufferisation could not keep in place is an
// error: silently copying the cache would make each step O(cache).
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/ExportEntryPoint/ExportEntryPoint.h"
#include "attn/Conversion/Passes.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "llvm/ADT/BitVector.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNDROPTIEDRESULTS
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// `v` with memref.cast ops looked through.
Value stripCasts(Value v) {
  while (auto cast = v.getDefiningOp<memref::CastOp>())
    v = cast.getSource();
  return v;
}

std::string argumentName(func::FuncOp func, unsigned index) {
  if (auto name = func.getArgAttrOfType<StringAttr>(index, kNameAttr))
    return "'" + name.str() + "'";
  return "#" + std::to_string(index);
}

/// Finds the results of `func` tied to an argument and checks that every
/// return gives back that argument's buffer.
LogicalResult collectTiedResults(func::FuncOp func, llvm::BitVector &drop) {
  drop.resize(func.getNumResults());
  for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i) {
    auto tied = func.getArgAttrOfType<IntegerAttr>(i, kTiedResultAttr);
    if (!tied)
      continue;
    int64_t result = tied.getInt();
    if (result < 0 || result >= int64_t(func.getNumResults()) ||
        drop.test(result))
      return func.emitError("argument ")
             << argumentName(func, i) << " is tied to result #" << result
             << ", which does not exist or is tied to another argument";
    BlockArgument arg = func.getArgument(i);
    if (!isa<BaseMemRefType>(arg.getType()))
      return func.emitError("argument ")
             << argumentName(func, i)
             << " is tied to a result but is not a memref; bufferise first";
    WalkResult walk = func.walk([&](func::ReturnOp ret) {
      if (stripCasts(ret.getOperand(result)) == arg)
        return WalkResult::advance();
      ret.emitError("result #")
          << result << " is not the buffer of argument "
          << argumentName(func, i)
          << ": the cache could not be updated in place";
      return WalkResult::interrupt();
    });
    if (walk.wasInterrupted())
      return failure();
    drop.set(result);
  }
  return success();
}

struct AttnDropTiedResultsPass
    : attn::impl::AttnDropTiedResultsBase<AttnDropTiedResultsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      llvm::BitVector drop;
      if (failed(collectTiedResults(func, drop)))
        return signalPassFailure();
      if (drop.none())
        continue;
      if (!SymbolTable::symbolKnownUseEmpty(func, module)) {
        func.emitError("a function with tied results must not be called "
                       "inside the module");
        return signalPassFailure();
      }
      func.walk([&](func::ReturnOp ret) { ret->eraseOperands(drop); });
      if (failed(func.eraseResults(drop)))
        return signalPassFailure();
      if (auto n = func->getAttrOfType<IntegerAttr>(kNumOutputsAttr))
        func->setAttr(kNumOutputsAttr,
                      IntegerAttr::get(n.getType(),
                                       n.getInt() - int64_t(drop.count())));
    }
  }
};

} // namespace
