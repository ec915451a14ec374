//===- TileWidening.cpp - a cache tile widened a slot at a time -----------===//
//
// The rows-across layout of the grouped decode kernel (MQA-like, G > lanes
// / 2) broadcasts single key and value elements from an f32 stack tile
// when the cache is narrower (f16; bf16 where it is not widened in the FMA
// loops). Widened as a loop of its own before each phase, the tile's
// conversions and stores do not overlap the FMAs: on AMD Zen 4 the two
// widening loops took ~10% of MQA f16's time. With a.overlapTileWidening
// the kernel keeps two tiles and widens each one during the other phase's
// FMA loop, a vector per loop step (a "slot"): the value tile of tile t
// during tile t's score loop, the key tile of tile t + 1 during tile t's
// value loop. The conversions (vcvtph2ps) and stores then issue beside the
// 512-bit FMAs: in a C model of the per-tile work (bench/results/
// cpu-decode-mqa6/mqa_overlap.c) 2-7% faster than the separate loops,
// 3-7% slower than f32 tiles (two tiles with separate loops are 0-4%
// slower than one: the second tile's L1 footprint).
//
//===----------------------------------------------------------------------===//

#include "KernelEmitter.h"

using namespace mlir;
using namespace mlir::attn;

void mlir::attn::widenTileSlot(Emitter &e, const FlashAttention &a, Value b,
                               Value g, Value cache, Value scale, Value tile,
                               Value firstRow, Value lastRow, Value slot,
                               int64_t slots, int64_t rows, int64_t dims,
                               int64_t lanes) {
  OpBuilder &ob = e.b;
  int64_t perRow = dims / lanes;
  int64_t vectors = rows * perRow;
  // ceil(vectors / slots) consecutive vectors per slot, clamped to the
  // last one: with fewer vectors than slots the tile is done in the first
  // `vectors` slots and the rest widen the last vector again, which costs
  // less than a branch and, in a C model of the kernel (bench/results/
  // cpu-decode-mqa6/mqa_overlap.c), less than spreading the vectors over
  // all slots (a multiply and a division by a constant per slot).
  int64_t perSlot = (vectors + slots - 1) / slots;
  Type element = cast<MemRefType>(cache.getType()).getElementType();
  Value pad = arith::ConstantOp::create(ob, e.loc, ob.getZeroAttr(element));
  for (int64_t i = 0; i < perSlot; ++i) {
    Value v = e.min(e.add(e.mul(slot, e.idx(perSlot)), e.idx(i)),
                    e.idx(vectors - 1));
    Value r = e.div(v, e.idx(perRow));
    Value c = e.mul(e.rem(v, e.idx(perRow)), e.idx(lanes));
    // Rows past the work item's keys read its last key (not used).
    auto [kb, kj] = keyAddress(e, a, b, e.min(e.add(firstRow, r), lastRow));
    Value x = vector::TransferReadOp::create(
        ob, e.loc, VectorType::get({lanes}, element), cache,
        ValueRange{kb, g, kj, c}, pad, ArrayRef<bool>{true});
    e.storeVec(applyCacheScale(e, e.toF32(x), scale, b, g), tile, {r, c});
  }
}
