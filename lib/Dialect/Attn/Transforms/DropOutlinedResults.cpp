//===- DropOutlinedResults.cpp - outlined results that are their argument -===//
//
// After bufferisation a function made by attn-outline-repeats returns the
// KV caches it updated in place. Returned as results, the caller would copy
// them into out-parameters (O(cache) per layer and per token) and return
// those instead of its own cache arguments; dropping them keeps the caller's
// caches in place.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/BitVector.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNDROPOUTLINEDRESULTS
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// The argument that `v`, casts looked through, is, if any.
BlockArgument argumentOf(func::FuncOp func, Value v) {
  while (auto cast = v.getDefiningOp<memref::CastOp>())
    v = cast.getSource();
  auto arg = dyn_cast<BlockArgument>(v);
  return arg && arg.getOwner() == &func.getBody().front() ? arg
                                                          : BlockArgument();
}

struct AttnDropOutlinedResultsPass
    : attn::impl::AttnDropOutlinedResultsBase<AttnDropOutlinedResultsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTableCollection tables;
    SymbolUserMap users(tables, module);
    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isExternal() || !func->hasAttr("attn.outlined") ||
          !func.getBody().hasOneBlock())
        continue;
      auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
      llvm::BitVector drop(func.getNumResults());
      SmallVector<unsigned> argOf(func.getNumResults());
      for (auto [i, value] : llvm::enumerate(ret.getOperands()))
        if (isa<BaseMemRefType>(value.getType()))
          if (BlockArgument arg = argumentOf(func, value)) {
            drop.set(i);
            argOf[i] = arg.getArgNumber();
          }
      if (drop.none())
        continue;
      SmallVector<func::CallOp> calls;
      for (Operation *user : users.getUsers(func)) {
        auto call = dyn_cast<func::CallOp>(user);
        if (!call) {
          user->emitError("outlined function @")
              << func.getSymName() << " is used other than by func.call";
          return signalPassFailure();
        }
        calls.push_back(call);
      }
      ret->eraseOperands(drop);
      if (failed(func.eraseResults(drop)))
        return signalPassFailure();
      for (func::CallOp call : calls) {
        OpBuilder b(call);
        auto replacement = func::CallOp::create(b, call.getLoc(), func,
                                                call.getOperands());
        unsigned next = 0;
        for (unsigned i = 0, e = call.getNumResults(); i < e; ++i) {
          Value value = drop.test(i) ? call.getOperand(argOf[i])
                                     : replacement.getResult(next++);
          if (value.getType() != call.getResult(i).getType())
            value = memref::CastOp::create(b, call.getLoc(),
                                           call.getResult(i).getType(), value);
          call.getResult(i).replaceAllUsesWith(value);
        }
        call.erase();
      }
    }
  }
};

} // namespace
