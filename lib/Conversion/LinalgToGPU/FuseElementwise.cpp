//===- FuseElementwise.cpp - fewer kernels for the cuda target -----------===//
//
// On tensors, before bufferisation: each linalg op becomes one kernel
// launch on the GPU, so chains of element-wise ops (residual adds, bias
// adds, the pieces of a norm, RoPE, activation functions) are fused into
// their consumers with upstream's element-wise fusion. A producer is fused
// only into its single user, and into a reduction only where the reduction
// reads each of its elements once (no broadcast): a producer fused into a
// matrix-vector product's vector operand would be recomputed for every
// output column, and the product would no longer be the matvec kernel's
// form.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNFUSEELEMENTWISE
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

namespace {

bool shouldFuse(OpOperand *use) {
  auto producer = use->get().getDefiningOp<linalg::GenericOp>();
  auto consumer = dyn_cast<linalg::GenericOp>(use->getOwner());
  if (!producer || !consumer || !use->get().hasOneUse())
    return false;
  if (consumer.getNumReductionLoops() == 0)
    return true;
  return consumer.getMatchingIndexingMap(use).isPermutation();
}

struct AttnFuseElementwisePass
    : attn::impl::AttnFuseElementwiseBase<AttnFuseElementwisePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    linalg::populateElementwiseOpsFusionPatterns(patterns, shouldFuse);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
