//===- ClaimLoop.h - work items claimed from a shared counter ---*- C++ -*-===//
//
// The parallel loop whose workers claim its items one at a time from an
// atomic counter instead of taking equal blocks, so that a thread that runs
// faster (its core, its share of the memory, the machine's other jobs)
// takes more items instead of waiting at the loop's end. The attention
// kernels (AttnToLoops' claim-work-items) and the row-streaming matvecs
// (ContractionToVectors' claim-chunks) build it.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CONVERSION_CLAIMLOOP_H
#define ATTN_CONVERSION_CLAIMLOOP_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"

namespace mlir::attn {

/// An scf.parallel of `items` (index) iterations, each a worker whose
/// scf.while claims item indices 0 .. items - 1 from a shared counter until
/// none is left; buildItem(b, index) emits one item's body in the claim
/// loop. One iteration per item, so however the runtime deals the
/// iterations out, every thread gets one while items are left; its later
/// iterations find the counter spent. Returns the workers' claim loop; the
/// builder's insertion point is back where it was.
inline scf::WhileOp
buildClaimLoop(OpBuilder &b, Location loc, Value items,
               function_ref<void(OpBuilder &, Value)> buildItem) {
  Type i64 = b.getI64Type();
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  Value counter = memref::AllocaOp::create(b, loc, MemRefType::get({1}, i64));
  memref::StoreOp::create(b, loc, arith::ConstantIntOp::create(b, loc, i64, 0),
                          counter, zero);
  Value itemsI64 = arith::IndexCastOp::create(b, loc, i64, items);
  auto workers = scf::ParallelOp::create(b, loc, ValueRange{zero},
                                         ValueRange{items}, ValueRange{one});
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(workers.getBody()->getTerminator());
  auto claim = scf::WhileOp::create(b, loc, TypeRange{i64}, ValueRange{});
  b.createBlock(&claim.getBefore());
  Value next = memref::AtomicRMWOp::create(
      b, loc, arith::AtomicRMWKind::addi,
      arith::ConstantIntOp::create(b, loc, i64, 1), counter, ValueRange{zero});
  Value more =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, next, itemsI64);
  scf::ConditionOp::create(b, loc, more, ValueRange{next});
  Block *body = b.createBlock(&claim.getAfter(), {}, {i64}, {loc});
  b.setInsertionPointToStart(body);
  buildItem(b, arith::IndexCastOp::create(b, loc, b.getIndexType(),
                                          body->getArgument(0)));
  scf::YieldOp::create(b, loc);
  return claim;
}

/// A parallel loop over `items` work items: the claim loop when `claim`,
/// else an scf.parallel of one iteration per item (a static split).
inline void buildItemLoop(OpBuilder &b, Location loc, Value items, bool claim,
                          function_ref<void(OpBuilder &, Value)> buildItem) {
  if (claim) {
    buildClaimLoop(b, loc, items, buildItem);
    return;
  }
  scf::ParallelOp::create(
      b, loc, ValueRange{arith::ConstantIndexOp::create(b, loc, 0)},
      ValueRange{items}, ValueRange{arith::ConstantIndexOp::create(b, loc, 1)},
      [&](OpBuilder &pb, Location, ValueRange ivs) { buildItem(pb, ivs[0]); });
}

} // namespace mlir::attn

#endif // ATTN_CONVERSION_CLAIMLOOP_H
