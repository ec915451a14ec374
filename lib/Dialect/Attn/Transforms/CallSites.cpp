//===- CallSites.cpp - keep callers valid across a signature change -------===//

#include "CallSites.h"

#include "mlir/IR/SymbolTable.h"

using namespace mlir;

SmallVector<func::FuncOp> mlir::attn::definedFunctions(Operation *root) {
  SmallVector<func::FuncOp> funcs;
  root->walk([&](func::FuncOp func) {
    if (!func.isExternal())
      funcs.push_back(func);
  });
  return funcs;
}

FailureOr<SmallVector<func::CallOp>>
mlir::attn::findCallSites(func::FuncOp callee, Operation *root,
                          Operation **blocker) {
  *blocker = callee;
  std::optional<SymbolTable::UseRange> uses =
      SymbolTable::getSymbolUses(callee, root);
  if (!uses)
    return failure();
  SmallVector<func::CallOp> calls;
  for (const SymbolTable::SymbolUse &use : *uses) {
    auto call = dyn_cast<func::CallOp>(use.getUser());
    if (!call) {
      *blocker = use.getUser();
      return failure();
    }
    calls.push_back(call);
  }
  return calls;
}

void mlir::attn::rebuildCall(func::CallOp call, func::FuncOp callee,
                             ValueRange operands, ResultAdaptor adaptResult) {
  OpBuilder b(call);
  ArrayRef<Type> newTypes = callee.getFunctionType().getResults();
  auto newCall = func::CallOp::create(b, call.getLoc(), call.getCalleeAttr(),
                                      newTypes, operands);
  for (NamedAttribute attr : call->getDiscardableAttrs())
    newCall->setAttr(attr.getName(), attr.getValue());
  b.setInsertionPointAfter(newCall);
  for (auto [i, oldResult] : llvm::enumerate(call.getResults())) {
    Value result = newCall.getResult(i);
    if (result.getType() != oldResult.getType())
      result = adaptResult(b, call.getLoc(), i, result, oldResult.getType());
    oldResult.replaceAllUsesWith(result);
  }
  call.erase();
}

SmallVector<func::ReturnOp> mlir::attn::returnsOf(func::FuncOp func) {
  SmallVector<func::ReturnOp> returns;
  for (Block &block : func.getBody())
    if (!block.empty())
      if (auto ret = dyn_cast<func::ReturnOp>(block.back()))
        returns.push_back(ret);
  return returns;
}
