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
  OpBuilder &b = e.b;
  Type i64 = b.getI64Type();
  Value zero = e.idx(0), one = e.idx(1);
  Value counter =
      memref::AllocaOp::create(b, e.loc, MemRefType::get({1}, i64));
  memref::StoreOp::create(b, e.loc,
                          arith::ConstantIntOp::create(b, e.loc, i64, 0),
                          counter, zero);
  Value itemsI64 = arith::IndexCastOp::create(b, e.loc, i64, items);
  // One iteration per item, so however the runtime deals the iterations
  // out, every thread gets one while items are left; its later iterations
  // find the counter spent.
  auto workers = scf::ParallelOp::create(b, e.loc, ValueRange{zero},
                                         ValueRange{items}, ValueRange{one});
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(workers.getBody()->getTerminator());
  auto claim = scf::WhileOp::create(b, e.loc, TypeRange{i64}, ValueRange{});
  b.createBlock(&claim.getBefore());
  Value next = memref::AtomicRMWOp::create(
      b, e.loc, arith::AtomicRMWKind::addi,
      arith::ConstantIntOp::create(b, e.loc, i64, 1), counter,
      ValueRange{zero});
  Value more = arith::CmpIOp::create(b, e.loc, arith::CmpIPredicate::slt,
                                     next, itemsI64);
  scf::ConditionOp::create(b, e.loc, more, ValueRange{next});
  Block *body = b.createBlock(&claim.getAfter(), {}, {i64}, {e.loc});
  b.setInsertionPointToStart(body);
  buildItem(arith::IndexCastOp::create(b, e.loc, b.getIndexType(),
                                       body->getArgument(0)));
  scf::YieldOp::create(b, e.loc);
  hoistItemBuffers(claim);
}
