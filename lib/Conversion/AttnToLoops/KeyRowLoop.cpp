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
// f16 and bf16 caches (half a row: 256 bytes, 4 lines at D = 128) take the
// same loop: their straight-line block kept its rows in order, but with 16
// keys of queries, sums and widened rows live at once LLVM spilled to the
// stack and vectorised the 64 prefetch addresses of the block (vpaddq,
// vpminsq, then vmovq / vpextrq back to scalars), work between the loads
// that the loop, a few registers per key, does not have.
//
//===----------------------------------------------------------------------===//

#include "KernelEmitter.h"

using namespace mlir;
using namespace mlir::attn;

void mlir::attn::emitKeyRowDots(Emitter &e, const FlashAttention &a, Value b,
                                Value g, Value kt, Value count, bool clamp,
                                int64_t tileKeys, int64_t lanes,
                                int64_t headDim, Value queries,
                                Value rowSums, bool splitBF16,
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
    // straight-line form, bit for bit. A bf16 row is read 2 * lanes
    // elements at a time as 32-bit words: the even elements are `word <<
    // 16`, the odd ones `word & 0xffff0000`, and the queries are stored in
    // that order (the straight-line form's FMAs, in its order).
    Value sum = e.splat(e.f32(0.0), lanes);
    auto wordType = VectorType::get({lanes}, ob.getI32Type());
    auto f32Type = VectorType::get({lanes}, ob.getF32Type());
    auto splat = [&](uint32_t v) {
      return arith::ConstantOp::create(
          ob, e.loc, DenseElementsAttr::get(wordType, APInt(32, v)));
    };
    int64_t step = splitBF16 ? 2 * lanes : lanes;
    for (int64_t d = 0; d < headDim; d += step) {
      SmallVector<Value> parts;
      if (splitBF16) {
        Value raw = vector::TransferReadOp::create(
            ob, e.loc, VectorType::get({2 * lanes}, element), a.key,
            ValueRange{kb, g, kj, e.idx(d)}, pad, ArrayRef<bool>{true});
        Value words = vector::BitCastOp::create(ob, e.loc, wordType, raw);
        parts.push_back(vector::BitCastOp::create(
            ob, e.loc, f32Type,
            arith::ShLIOp::create(ob, e.loc, words, splat(16))));
        parts.push_back(vector::BitCastOp::create(
            ob, e.loc, f32Type,
            arith::AndIOp::create(ob, e.loc, words, splat(0xffff0000u))));
      } else {
        Value kv = vector::TransferReadOp::create(
            ob, e.loc, VectorType::get({lanes}, element), a.key,
            ValueRange{kb, g, kj, e.idx(d)}, pad, ArrayRef<bool>{true});
        parts.push_back(applyCacheScale(e, e.toF32(kv), a.keyScale, b, g));
      }
      for (int64_t part = 0; part < (int64_t)parts.size(); ++part)
        sum = vector::FMAOp::create(
            ob, e.loc, parts[part],
            e.loadVec(queries, {e.idx(0), e.idx(d + part * lanes)}, lanes),
            sum);
    }
    e.storeVec(sum, rowSums, {e.mul(k, e.idx(lanes))});
  });
}
