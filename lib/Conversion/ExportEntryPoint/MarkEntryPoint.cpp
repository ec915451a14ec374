//===- MarkEntryPoint.cpp - annotate the exported function on tensors -----===//
//
// attn-mark-entry-point: before bufferisation, record the number of results
// of the function to export and, for a fused decode step, the roles of the
// buffers a decoding loop drives (the decode-model naming conventions live
// here and nowhere else; the runtime reads the roles from the signature).
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/ExportEntryPoint/ExportEntryPoint.h"
#include "attn/Conversion/Passes.h"

#include "mlir/IR/BuiltinAttributes.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNMARKENTRYPOINT
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// The argument names that exported decoders use for what a decoding loop
/// feeds on every step; the role is the name.
constexpr llvm::StringLiteral kInputRoles[] = {
    kRoleInputIds, kRolePositionIds, kRoleAttentionMask, kRoleCachePosition};

bool isDecodeStep(func::FuncOp func) {
  for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
    if (func.getArgAttr(i, kTiedResultAttr))
      return true;
  return false;
}

void markRoles(func::FuncOp func) {
  MLIRContext *ctx = func.getContext();
  for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i) {
    auto name = func.getArgAttrOfType<StringAttr>(i, kNameAttr);
    if (!name || func.getArgAttr(i, kRoleAttr))
      continue;
    for (StringRef role : kInputRoles)
      if (name.getValue() == role)
        func.setArgAttr(i, kRoleAttr, StringAttr::get(ctx, role));
  }
  for (unsigned i = 0, e = func.getNumResults(); i < e; ++i) {
    auto name = func.getResultAttrOfType<StringAttr>(i, kNameAttr);
    if (name && name.getValue() == kRoleLogits &&
        !func.getResultAttr(i, kRoleAttr))
      func.setResultAttr(i, kRoleAttr, StringAttr::get(ctx, kRoleLogits));
  }
}

struct AttnMarkEntryPointPass
    : attn::impl::AttnMarkEntryPointBase<AttnMarkEntryPointPass> {
  using Base::Base;
  void runOnOperation() override {
    FailureOr<func::FuncOp> entry =
        findEntryFunction(getOperation(), entryFunction);
    if (failed(entry))
      return signalPassFailure();
    func::FuncOp func = *entry;
    // Results become trailing out-parameters during bufferisation.
    if (!func->hasAttr(kNumOutputsAttr))
      func->setAttr(kNumOutputsAttr,
                    IntegerAttr::get(IntegerType::get(&getContext(), 64),
                                     func.getNumResults()));
    if (isDecodeStep(func))
      markRoles(func);
  }
};

} // namespace
