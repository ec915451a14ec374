//===- ProbeSharing.cpp - share the KV heads of a calibration probe -------===//

#include "attn/Compiler/ProbeSharing.h"

#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Pass/PassManager.h"

using namespace mlir;
using namespace mlir::attn;

LogicalResult compile::shareProbeKVHeads(ModuleOp probe, func::FuncOp entry,
                                         int64_t newHeads, StringRef what,
                                         StringRef mismatch,
                                         std::string &error) {
  SmallVector<Type> argumentTypes(entry.getArgumentTypes());
  PassManager pm(probe.getContext());
  AttnShareKVOptions share;
  share.kvHeads = newHeads;
  share.method = "aligned";
  pm.addPass(createAttnShareKV(share));
  if (failed(pm.run(probe))) {
    error = ("calibration: sharing the KV heads of the " + what +
             " probe failed")
                .str();
    return failure();
  }
  if (TypeRange(entry.getArgumentTypes()) != TypeRange(argumentTypes)) {
    error = mismatch.str();
    return failure();
  }
  return success();
}
