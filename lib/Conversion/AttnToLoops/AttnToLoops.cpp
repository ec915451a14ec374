//===- AttnToLoops.cpp - (in progress) ------------------------------------------===//

#include "attn/Conversion/Passes.h"

namespace mlir::attn {
#define GEN_PASS_DEF_CONVERTATTNTOLOOPS
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

namespace {
struct ConvertAttnToLoopsPass : attn::impl::ConvertAttnToLoopsBase<ConvertAttnToLoopsPass> {
  using Base::Base;
  void runOnOperation() override {}
};
} // namespace
