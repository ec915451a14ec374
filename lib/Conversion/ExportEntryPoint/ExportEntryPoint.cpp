//===- ExportEntryPoint.cpp - (in progress) ------------------------------------------===//

#include "attn/Conversion/Passes.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNEXPORTENTRYPOINT
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

namespace {
struct AttnExportEntryPointPass : attn::impl::AttnExportEntryPointBase<AttnExportEntryPointPass> {
  using Base::Base;
  void runOnOperation() override {}
};
} // namespace
