//===- ClaimedWorkItems.cpp - work items claimed from a shared counter ----===//
//
// The partials' parallel loop with its work items claimed one at a time
// from an atomic counter instead of dealt out in equal blocks: a thread
// that runs faster than the others (its core, its memory, the machine's
// other jobs) takes more items instead of waiting for the slower one at the
// loop's end. On the 2-vCPU Zen 4 VM of bench/ one thread of a 2-thread
// decode step reached the barrier 15-20% later than the other in every
// step traced (bench/RESULTS.md, "CPU decode on 2 threads").
//
// Each parallel iteration is a worker: it allocates its stack buffers once
// and claims items until the counter passes the item count. The item's
// buffers are hoisted out of the claim loop to the worker instead of being
// freed per item by a memref.alloca_scope: the loop body then stays one
// block (an alloca_scope lowered to LLVM before scf-to-cf splits the
// scf.while's body into several, which the op does not allow), and a worker
// needs one set of buffers anyway, not one per item.
//
//===----------------------------------------------------------------------===//

#include "KernelEmitter.h"

#include "attn/Conversion/ClaimLoop.h"

using namespace mlir;
using namespace mlir::attn;

/// Moves the memref.alloca ops of the claim loop's body in front of it.
/// The kernels' stack buffers have static shapes and no content that
/// outlives an item, so one buffer serves all the items of a worker.
static void hoistItemBuffers(scf::WhileOp claim) {
  SmallVector<memref::AllocaOp> buffers;
  claim.getAfter().walk<WalkOrder::PreOrder>([&](Operation *op) {
    if (op->hasTrait<OpTrait::AutomaticAllocationScope>())
      return WalkResult::skip(); // frees its own allocations
    if (auto alloca = dyn_cast<memref::AllocaOp>(op))
      buffers.push_back(alloca);
    return WalkResult::advance();
  });
  for (memref::AllocaOp alloca : buffers) {
    assert(alloca->getNumOperands() == 0 &&
           "a work item's stack buffer with a dynamic size");
    alloca->moveBefore(claim);
  }
}

void mlir::attn::buildClaimedWorkItems(Emitter &e, Value items,
                                       function_ref<void(Value)> buildItem) {
  hoistItemBuffers(buildClaimLoop(
      e.b, e.loc, items, [&](OpBuilder &, Value item) { buildItem(item); }));
}
