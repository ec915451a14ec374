//===- KeyRowLoop.cpp - MHA decode scores, one key row per loop step ------===//
//
// The score loop of the grouped decode kernel for one query row per key
// (MHA) on f32 caches, as a loop over the tile's keys whose body reads one
// whole key row (512 bytes at D = 128). The straight-line form (a block of
// 16 keys with the head dimension unrolled, scoreRowsInOrder) is read in
// row order in the IR only: LLVM's scheduler interleaves the 16 independent
// FMA chains, so the object code reads a line of every row in turn, the
// order Zen 4's prefetchers do not follow (MHA f32 at ~14 GB/s against 22
// GB/s for a sequential read). A loop keeps the reads in address order.
//
//===----------------------------------------------------------------------===//

#include "KernelEmitter.h"

using namespace mlir;
using namespace mlir::attn;

void mlir::attn::emitKeyRowDots(Emitter &e, const FlashAttention &a, Value b,
                                Value g, Value kt, Value count, bool clamp,
                                int64_t tileKeys, int64_t lanes,
                                int64_t headDim, Value queries,
                                Value rowSums,
                                function_ref<void(Value)> perKey) {
  OpBuilder &ob = e.b;
  Type element = cast<MemRefType>(a.key.getType()).getElementType();
  Value pad = arith::ConstantOp::create(ob, e.loc, ob.getZeroAttr(element));
  Value last = e.sub(e.add(kt, count), e.idx(1));
  e.loop(e.idx(0), e.idx(tileKeys), e.idx(1), [&](Value k) {
    perKey(k);
    Value j = e.add(kt, k);
    auto [kb, kj] = keyAddress(e, a, b, clamp ? e.min(j, last) : j);
    // One FMA chain per key, in head-dimension order: the sums of the
    // straight-line form, bit for bit.
    Value sum = e.splat(e.f32(0.0), lanes);
    for (int64_t d = 0; d < headDim; d += lanes) {
      Value kv = vector::TransferReadOp::create(
          ob, e.loc, VectorType::get({lanes}, element), a.key,
          ValueRange{kb, g, kj, e.idx(d)}, pad, ArrayRef<bool>{true});
      kv = applyCacheScale(e, e.toF32(kv), a.keyScale, b, g);
      Value q = e.loadVec(queries, {e.idx(0), e.idx(d)}, lanes);
      sum = vector::FMAOp::create(ob, e.loc, kv, q, sum);
    }
    e.storeVec(sum, rowSums, {e.mul(k, e.idx(lanes))});
  });
}
