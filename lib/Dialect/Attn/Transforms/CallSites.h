//===- CallSites.h - keep callers valid across a signature change -*- C++ -*-===//
//
// attn-share-kv and attn-fuse-decode change the type of the functions they
// transform; these helpers find every caller first (so a pass can refuse
// before it changes anything) and rebuild the calls afterwards.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_DIALECT_ATTN_TRANSFORMS_CALLSITES_H
#define ATTN_LIB_DIALECT_ATTN_TRANSFORMS_CALLSITES_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

namespace mlir::attn {

/// The functions with a body under `root`, in walk order: collected before
/// a pass changes the type of any of them (and rebuilds their calls).
SmallVector<func::FuncOp> definedFunctions(Operation *root);

/// The func.call ops under `root` that call `callee`. Fails when something
/// else refers to `callee` (a func.constant, an op of another dialect) or
/// the uses cannot be known; `*blocker` is then that user, or `callee`.
FailureOr<SmallVector<func::CallOp>>
findCallSites(func::FuncOp callee, Operation *root, Operation **blocker);

/// Rebuilds `call` for the callee's new signature: the new call takes
/// `operands`; a result whose type changed is handed to `adaptResult`,
/// which returns the value of the old type the caller's uses get, built
/// with the given builder after the new call.
using ResultAdaptor =
    function_ref<Value(OpBuilder &, Location, unsigned index, Value newResult,
                       Type oldType)>;
void rebuildCall(func::CallOp call, func::FuncOp callee, ValueRange operands,
                 ResultAdaptor adaptResult);

/// The func.return ops of `func`, in block order; a function may have
/// several (one per exit block).
SmallVector<func::ReturnOp> returnsOf(func::FuncOp func);

} // namespace mlir::attn

#endif // ATTN_LIB_DIALECT_ATTN_TRANSFORMS_CALLSITES_H
