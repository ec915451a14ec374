//===- TreeMask.cpp - the tree mask of a speculative decode step ----------===//
//
// A decode step verifying a draft tree appends its Sn = Sq tokens at
// positions [pos, pos + Sn) and gives each query row the keys before pos
// plus its ancestors in the tree (tree_mask[b, i, t]). The kernels apply the
// tree where they apply the other per-row rules (causal, window): one load
// of a small [Sn, Sn] table per score of a new token.
//
//===----------------------------------------------------------------------===//

#include "KernelEmitter.h"

using namespace mlir;
using namespace mlir::attn;

Value mlir::attn::hiddenByTree(Emitter &e, const FlashAttention &a, Value b,
                               Value offset, Value row, Value j) {
  auto type = cast<MemRefType>(a.treeMask.getType());
  Value isNew = e.cmp(arith::CmpIPredicate::sge, j, offset);
  // Indices stay in bounds for the old keys, whose entry is not used.
  Value t = e.select(isNew, e.sub(j, offset), e.idx(0));
  SmallVector<Value> indices;
  if (type.getRank() == 3) {
    Value one = e.cmp(arith::CmpIPredicate::eq, e.dim(a.treeMask, 0), e.idx(1));
    indices.push_back(e.select(one, e.idx(0), b));
  }
  indices.append({row, t});
  Value entry = memref::LoadOp::create(e.b, e.loc, a.treeMask, indices);
  Value keep = entry;
  if (!entry.getType().isInteger(1))
    keep = e.cmp(arith::CmpIPredicate::ne, entry,
                 arith::ConstantOp::create(e.b, e.loc,
                                           e.b.getZeroAttr(entry.getType())));
  Value hide = arith::XOrIOp::create(
      e.b, e.loc, keep,
      arith::ConstantOp::create(e.b, e.loc, e.b.getBoolAttr(true)));
  return arith::AndIOp::create(e.b, e.loc, isNew, hide);
}
