//===- TensorCoreDecode.cpp - the partial kernel on tensor cores ----------===//
//
// With 4 or more query heads a KV head (GQA/MQA) the CUDA-core score step is
// issue bound. Here each warp computes S = Q K^T and O += P V with
// mma.sync m16n8k16 (f16/bf16 in, f32 accumulate): the block's query heads
// are the 16 rows of A (zero-padded), each warp takes 16 keys an iteration,
// the online softmax runs on the accumulator fragments in registers.
//
// The operands need neither shared memory nor ldmatrix. An mma's reduction
// dimension may be permuted freely when A and B agree, and so may the keys
// (n of S = k of P V) and the value columns (n of P V); the permutations
// below let every thread read whole 16-byte pieces of key and value rows
// straight from global memory (ld.global.v4; the keys one iteration ahead).
// Lane (g = lane / 4, t = lane % 4):
//  - S tile j in {0, 1} covers keys base + 8j .. + 8; the lane is B column
//    g: key base + 8j + g, its 16-byte chunks t, t + 4, ... (D / 32 of
//    them). k-step s takes elements 4 (s % 2) .. + 4 of chunk s / 2: the
//    first two as k = 2t, 2t + 1, the last two as 2t + 8, 2t + 9. The query
//    rows g and g + 8 (A) are read the same way.
//  - P V: the accumulator fragment of S tile j, cast to f16/bf16, is half of
//    the A fragment of P as it stands (k = 2t + e is key base + 2t + e,
//    k = 2t + 8 + e is key base + 8 + 2t + e). The lane is B column g of
//    every n-tile: it owns value columns g * Dv/8 .. + Dv/8 (n-tile i is
//    column g * Dv/8 + i) and loads them for its four keys base + 2t,
//    base + 2t + 1, base + 8 + 2t, base + 9 + 2t.
//  - Output column 2t + e of n-tile i is value column (2t + e) * Dv/8 + i:
//    the lane's accumulators are two contiguous runs of Dv/8 columns a row.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"

#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::attn::gpu_kernels;

void PartialBuilder::buildTensorCores(Value smem) {
  const int64_t HB = p.headsPerBlock;
  const int64_t kChunks = p.headDim / 32; // 16-byte key chunks of a lane
  const int64_t kSteps = p.headDim / 16;
  const int64_t nTiles = p.valueDim / 8;  // = value columns of a lane
  const int64_t vChunks = nTiles / 8;     // 16-byte value chunks of a lane
  // The mma's operand type: the queries' (f16 or bf16); 8-bit cache codes
  // are converted to it as they are loaded (exactly: int8 and E4M3 values
  // are f16 and bf16 numbers), their scales applied to the scores and the
  // accumulators.
  Type element = p.queryType;
  MmaSync mma{k, element};
  Value g = k.div(lane, 4), t = k.rem(lane, 4);
  Value zeroVec =
      arith::ConstantOp::create(k.b, k.loc, VectorType::get({8}, element),
                                k.b.getZeroAttr(VectorType::get({8}, element)));
  auto load8 = [&](Value memref, ValueRange indices) -> Value {
    return vector::LoadOp::create(k.b, k.loc, VectorType::get({8}, element),
                                  memref, indices, /*nontemporal=*/false,
                                  llvm::MaybeAlign(16));
  };
  auto zeroUnless = [&](Value ok, Value v) {
    return k.select(ok, v, zeroVec);
  };
  // Eight key or value elements as `element`s: a 16-byte load of a float
  // cache, or an 8-byte load of codes.
  auto loadCache8 = [&](Value memref, ValueRange indices) -> Value {
    if (cast<MemRefType>(memref.getType()).getElementType() == element)
      return load8(memref, indices);
    return loadCodesAs(k, memref, indices, 8, element);
  };
  Value scoreScale = k.f32(p.scale);
  if (at.keyScale >= 0)
    scoreScale = k.fmul(scoreScale, k.load(arg(at.keyScale), {batch, kvHead}));

  // A rows g and g + 8: local heads of the block (rows from HB on, and the
  // last chunk's padding heads, are zero rows whose results are dropped).
  Value rowHead[2], rowReal[2];
  for (int64_t h = 0; h < 2; ++h) {
    Value r = k.add(g, k.idx(8 * h));
    rowReal[h] =
        k.andI(k.lt(r, k.idx(HB)),
               k.lt(k.add(k.mul(headChunk, k.idx(HB)), r), k.idx(p.group)));
    rowHead[h] = k.select(rowReal[h], k.add(firstHead, r), lastHead);
  }
  // The query fragments of each k-step.
  SmallVector<SmallVector<Value>> qa(kSteps);
  for (int64_t c = 0; c < kChunks; ++c) {
    Value col = k.mul(k.add(t, k.idx(4 * c)), k.idx(8));
    Value rows[2];
    for (int64_t h = 0; h < 2; ++h)
      rows[h] = zeroUnless(rowReal[h],
                           load8(arg(at.query), {batch, rowHead[h], row, col}));
    for (int64_t half = 0; half < 2; ++half) {
      int64_t e = 4 * half;
      qa[2 * c + half] = {mma.pair(rows[0], rows[0], e, e + 1),
                          mma.pair(rows[1], rows[1], e, e + 1),
                          mma.pair(rows[0], rows[0], e + 2, e + 3),
                          mma.pair(rows[1], rows[1], e + 2, e + 3)};
    }
  }

  auto [begin, stop] = splitRange(p.keysPerIteration());
  // State: max and (lane-partial) sum of rows g and g + 8 in log2 units,
  // then the accumulators of the n-tiles (4 each).
  SmallVector<Value> init{k.f32(-kInf), k.f32(-kInf), k.f32(0), k.f32(0)};
  for (int64_t i = 0; i < 4 * nTiles; ++i)
    init.push_back(k.f32(0));
  Value warpKeys = k.mul(warp, k.idx(kTensorCoreKeys));
  // The lane's key chunks of the two score tiles from `base` on (clamped
  // into the cache, or their ring slots: keys past the split are masked).
  auto loadKeys = [&](Value base) {
    SmallVector<Value> keys;
    for (int64_t j = 0; j < 2; ++j) {
      Value key = k.add(base, k.add(g, k.idx(8 * j)));
      SmallVector<Value> keyRow = cacheRow(key); // paged: through the table
      for (int64_t c = 0; c < kChunks; ++c)
        keys.push_back(loadCache8(
            arg(at.key),
            withColumn(keyRow, k.mul(k.add(t, k.idx(4 * c)), k.idx(8)))));
    }
    return keys;
  };
  // Keys are loaded one iteration ahead (software pipelining): the next
  // tile's keys and this tile's values are in flight during the score mmas
  // and the softmax.
  SmallVector<Value> firstKeys = loadKeys(k.add(begin, warpKeys));
  const int64_t keyState = init.size();
  init.append(firstKeys);
  Value perIteration = k.idx(p.keysPerIteration());
  auto loop = scf::ForOp::create(k.b, k.loc, begin, stop, perIteration, init);
  {
    OpBuilder::InsertionGuard guard(k.b);
    k.b.setInsertionPointToStart(loop.getBody());
    ValueRange state = loop.getRegionIterArgs();
    Value base = k.add(loop.getInductionVar(), warpKeys);
    SmallVector<SmallVector<Value>> keys(2);
    for (int64_t j = 0; j < 2; ++j)
      for (int64_t c = 0; c < kChunks; ++c)
        keys[j].push_back(state[keyState + j * kChunks + c]);
    SmallVector<SmallVector<Value>> values(4);
    Value valueCol = k.mul(g, k.idx(nTiles));
    for (int64_t v = 0; v < 4; ++v) {
      Value key = k.add(base, k.add(k.mul(t, k.idx(2)),
                                    k.idx(v % 2 + 8 * (v / 2))));
      Value ok = k.lt(key, stop);
      SmallVector<Value> valueRow = cacheRow(key);
      // Values of keys past the end may be anything (NaN, and 0 * NaN is
      // NaN in the mma): zero them.
      for (int64_t c = 0; c < vChunks; ++c)
        values[v].push_back(zeroUnless(
            ok, loadCache8(arg(at.value),
                      withColumn(valueRow, k.add(valueCol, k.idx(8 * c))))));
    }

    SmallVector<Value> nextKeys = loadKeys(k.add(base, perIteration));

    // Scores s[j][h][e]: tile j, row g + 8h, key base + 8j + 2t + e.
    Value s[2][2][2];
    for (int64_t j = 0; j < 2; ++j) {
      SmallVector<Value> acc(4, k.f32(0));
      for (int64_t step = 0; step < kSteps; ++step) {
        Value chunk = keys[j][step / 2];
        int64_t e = 4 * (step % 2);
        acc = mma.mma(qa[step],
                      {mma.pair(chunk, chunk, e, e + 1),
                       mma.pair(chunk, chunk, e + 2, e + 3)},
                      acc);
      }
      for (int64_t e = 0; e < 2; ++e) {
        Value key = k.add(base, k.add(k.mul(t, k.idx(2)), k.idx(8 * j + e)));
        Value ok = visible(key, stop); // the same for both rows (heads)
        for (int64_t h = 0; h < 2; ++h)
          s[j][h][e] = score(k.fmul(acc[2 * h + e], scoreScale), rowHead[h],
                             key, ok);
      }
    }

    // Online softmax per row; the four lanes of a row (t) share its max.
    SmallVector<Value> yields(4 + 4 * nTiles);
    yields.append(nextKeys);
    Value alpha[2], probs[2][2][2];
    for (int64_t h = 0; h < 2; ++h) {
      Value m = state[h];
      Value mNew = m;
      for (int64_t j = 0; j < 2; ++j)
        for (int64_t e = 0; e < 2; ++e)
          mNew = k.fmax(mNew, s[j][h][e]);
      for (int64_t off = 1; off < 4; off *= 2)
        mNew = k.fmax(mNew, k.shuffleXor(mNew, off));
      Value safe = k.select(k.isNegInf(mNew), k.f32(0), mNew);
      alpha[h] = k.exp2(k.fsub(m, safe));
      Value l = k.fmul(state[2 + h], alpha[h]);
      for (int64_t j = 0; j < 2; ++j)
        for (int64_t e = 0; e < 2; ++e) {
          probs[j][h][e] = k.exp2(k.fsub(s[j][h][e], safe));
          l = k.fadd(l, probs[j][h][e]);
        }
      yields[h] = mNew;
      yields[2 + h] = l;
    }
    SmallVector<Value> pa{mma.pack(probs[0][0][0], probs[0][0][1]),
                          mma.pack(probs[0][1][0], probs[0][1][1]),
                          mma.pack(probs[1][0][0], probs[1][0][1]),
                          mma.pack(probs[1][1][0], probs[1][1][1])};
    for (int64_t i = 0; i < nTiles; ++i) {
      int64_t c = i / 8, e = i % 8;
      SmallVector<Value> acc;
      for (int64_t r = 0; r < 4; ++r)
        acc.push_back(k.fmul(state[4 + 4 * i + r], alpha[r / 2]));
      acc = mma.mma(pa,
                    {mma.pair(values[0][c], values[1][c], e, 8 + e),
                     mma.pair(values[2][c], values[3][c], e, 8 + e)},
                    acc);
      for (int64_t r = 0; r < 4; ++r)
        yields[4 + 4 * i + r] = acc[r];
    }
    scf::YieldOp::create(k.b, k.loc, yields);
  }

  // smem[warp][row][column] as finish() reads it: the lane's two runs of
  // Dv/8 columns a row, then the row's max and sum (lane t = 0).
  Value first = k.cmp(arith::CmpIPredicate::eq, t, k.idx(0));
  Value valueScale;
  if (at.valueScale >= 0)
    valueScale = k.splat(k.load(arg(at.valueScale), {batch, kvHead}), nTiles);
  for (int64_t h = 0; h < 2; ++h) {
    Value l = loop.getResult(2 + h);
    for (int64_t off = 1; off < 4; off *= 2)
      l = k.fadd(l, k.shuffleXor(l, off));
    Value r = k.add(g, k.idx(8 * h));
    auto write = scf::IfOp::create(k.b, k.loc, k.lt(r, k.idx(HB)),
                                   /*withElse=*/false);
    OpBuilder::InsertionGuard guard(k.b);
    k.b.setInsertionPointToStart(&write.getThenRegion().front());
    for (int64_t e = 0; e < 2; ++e) {
      SmallVector<Value> run;
      for (int64_t i = 0; i < nTiles; ++i)
        run.push_back(loop.getResult(4 + 4 * i + 2 * h + e));
      Value v = vector::FromElementsOp::create(
          k.b, k.loc, VectorType::get({nTiles}, k.b.getF32Type()), run);
      if (valueScale)
        v = k.fmul(v, valueScale);
      Value col = k.mul(k.add(k.mul(t, k.idx(2)), k.idx(e)), k.idx(nTiles));
      k.storeVec(v, smem, {warp, r, col});
    }
    auto stats = scf::IfOp::create(k.b, k.loc, first, /*withElse=*/false);
    k.b.setInsertionPointToStart(&stats.getThenRegion().front());
    k.store(loop.getResult(h), smem, {warp, r, k.idx(p.valueDim)});
    k.store(l, smem, {warp, r, k.idx(p.valueDim + 1)});
  }
}
