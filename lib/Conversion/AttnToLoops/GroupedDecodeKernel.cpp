//===- GroupedDecodeKernel.cpp - decode work item for shared KV heads -----===//
//
// The partial result of a work item with one query row per head (decode)
// and G >= 4 query heads sharing the KV head (GQA/MQA), built like a small
// GEMM micro-kernel: every key and value row read serves all G heads from
// registers.
//
//   scores  S[k, r] = sum_d K[k, d] Q[r, d] for a tile of keys, either with
//           the G rows across the vector lanes and K elements broadcast
//           (G >= lanes: no horizontal sums) or with the head dimension
//           across the lanes and a few keys x all G rows of accumulators
//           reduced once per score (G < lanes: no wasted lanes);
//   softmax the online update, vectorised across rows (exp is the
//           polynomial of the math dialect, in the vector unit);
//   values  Acc[r, :] = Acc[r, :] * alpha[r] + sum_k P[k, r] V[k, :] with
//           the value dimension across the lanes: a block of rows x value
//           chunks of accumulators, one broadcast probability per row and
//           one vector load of the value row per chunk, so the value rows
//           are read in address order.
//
// Caches of another element type (f16, bf16, 8-bit codes) are widened to
// f32 one tile at a time with vector conversions (vcvtph2ps for f16, a shift
// for bf16) into an on-stack tile that the blocked loops then read: the cache
// is read once, at its own width.
//
//===----------------------------------------------------------------------===//

#include "KernelEmitter.h"

#include "mlir/Dialect/Math/IR/Math.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;

namespace {

constexpr int64_t kTargetTileKeys = 32; // keys per online-softmax step

/// The vector length the kernel uses for `a`, or 0 when it does not apply.
int64_t groupedLanes(const FlashAttention &a, const Plan &plan) {
  // Tree masks, ring caches and latent (two-piece) keys stay on the row
  // kernels, which apply the tree per key, read ring slots without this
  // kernel's contiguous prefetch, and join the latent and rotary key parts.
  if (plan.queryTile != 1 || plan.group < 4 || a.mask || a.treeMask ||
      a.ringSlots || a.keyRope)
    return 0;
  for (int64_t lanes : {a.rowLanes, kWidth})
    if (plan.headDim % lanes == 0 && plan.valueDim % lanes == 0)
      return lanes;
  return 0;
}

class GroupedDecodeKernel {
public:
  GroupedDecodeKernel(Emitter &e, const FlashAttention &a, const Plan &plan,
                      ValueRange item)
      : e(e), ob(e.b), a(a), plan(plan), b(item[0]), g(item[1]), t(item[2]),
        s(item[3]) {
    lanes = groupedLanes(a, plan);
    group = plan.group;
    // 16 f32 registers on AVX2, 32 on AVX-512; the rest hold operands.
    int64_t budget = lanes == 16 ? 24 : 12;
    rowsAcross = group >= lanes;
    if (rowsAcross) {
      rowLanes = lanes;
      paddedRows = roundUp(group, lanes);
      int64_t chunks = paddedRows / lanes;
      chunkBlock = chunks % 2 == 0 ? 2 : 1;
      keyBlock = budget / chunkBlock;
    } else {
      rowLanes = group <= kWidth ? kWidth : lanes;
      paddedRows = roundUp(group, rowLanes);
      chunkBlock = 1;
      keyBlock = std::max<int64_t>(1, budget / group);
    }
    tileKeys = keyBlock * ((kTargetTileKeys + keyBlock - 1) / keyBlock);
    // Values: rows x value chunks of accumulators.
    int64_t valueChunks = plan.valueDim / lanes;
    valueChunkBlock = std::min(valueChunks, budget);
    valueRowBlock = std::min(group, std::max<int64_t>(1, budget / valueChunkBlock));
  }

  void build(Value keyBegin, Value keyEnd, Value scratch) {
    Type f32 = ob.getF32Type();
    auto stackBuffer = [&](ArrayRef<int64_t> shape) {
      return memref::AllocaOp::create(ob, e.loc, MemRefType::get(shape, f32))
          .getResult();
    };
    if (rowsAcross)
      queries = stackBuffer({plan.headDim, paddedRows}); // Q^T
    else
      queries = stackBuffer({group, plan.headDim});
    acc = stackBuffer({group, plan.valueDim});
    scores = stackBuffer({tileKeys, paddedRows});
    runMax = stackBuffer({paddedRows});
    runSum = stackBuffer({paddedRows});
    alpha = stackBuffer({paddedRows});
    if (needsWidening(a.key))
      keyTile = stackBuffer({tileKeys, plan.headDim});
    if (needsWidening(a.value))
      valueTile = stackBuffer({tileKeys, plan.valueDim});

    loadQueries();
    e.loop(keyBegin, keyEnd, e.idx(tileKeys), [&](Value kt) {
      Value count = e.min(e.idx(tileKeys), e.sub(keyEnd, kt));
      if (keyTile)
        widenTile(a.key, a.keyScale, keyTile, plan.headDim, kt, count);
      if (valueTile)
        widenTile(a.value, a.valueScale, valueTile, plan.valueDim, kt, count);
      if (rowsAcross)
        scoresRowsAcross(kt, count);
      else
        scoresHeadAcross(kt, count);
      softmaxStep();
      accumulateValues(kt, count);
    });
    writePartial(scratch);
  }

private:
  /// A cache that is not f32, or that carries 8-bit scales, is read through
  /// an f32 tile.
  bool needsWidening(Value cache) {
    return !getElementTypeOrSelf(cache.getType()).isF32();
  }

  /// tile[k, :] = widened (and scaled) cache row kt + k for k < count.
  void widenTile(Value cache, Value scale, Value tile, int64_t dims, Value kt,
                 Value count) {
    e.loop(e.idx(0), count, e.idx(1), [&](Value k) {
      auto [kb, kj] = keyAddress(e, a, b, e.add(kt, k));
      for (int64_t c = 0; c < dims; c += lanes) {
        Value v = readCache(cache, scale, kb, kj, e.idx(c));
        e.storeVec(v, tile, {k, e.idx(c)});
      }
    });
  }

  /// `lanes` elements of cache[kb, g, kj, d0..], widened and scaled.
  Value readCache(Value cache, Value scale, Value kb, Value kj, Value d0) {
    Type element = cast<MemRefType>(cache.getType()).getElementType();
    Value pad = arith::ConstantOp::create(ob, e.loc, ob.getZeroAttr(element));
    Value v = vector::TransferReadOp::create(
        ob, e.loc, VectorType::get({lanes}, element), cache,
        ValueRange{kb, g, kj, d0}, pad, ArrayRef<bool>{true});
    return applyCacheScale(e, e.toF32(v), scale, b, g);
  }

  /// A chunk of key/value row kt + k (address `key`) at d0, as f32.
  Value rowChunk(Value cache, Value tile, Value k, std::pair<Value, Value> key,
                 Value d0) {
    if (tile)
      return e.loadVec(tile, {k, d0}, lanes);
    return readCache(cache, Value(), key.first, key.second, d0);
  }

  /// Element d of key row kt + k, as f32.
  Value keyElement(Value k, std::pair<Value, Value> key, Value d) {
    if (keyTile)
      return memref::LoadOp::create(ob, e.loc, keyTile, ValueRange{k, d});
    return memref::LoadOp::create(ob, e.loc, a.key,
                                  ValueRange{key.first, g, key.second, d});
  }

  /// Scaled queries (Q^T when rows run across lanes; 0 in padding rows);
  /// running max -inf, sum and Acc 0, scores of padding rows 0.
  void loadQueries() {
    Value scale = e.f32(a.scale), zeroF = e.f32(0.0);
    e.loop(0, paddedRows, [&](Value r) {
      Value real = e.cmp(arith::CmpIPredicate::ult, r, e.idx(group));
      Value head =
          e.add(e.mul(g, e.idx(group)), e.select(real, r, e.idx(0)));
      Value rowScale = e.select(real, scale, zeroF);
      e.loop(0, plan.headDim, [&](Value d) {
        Value q = memref::LoadOp::create(ob, e.loc, a.query,
                                         ValueRange{b, head, t, d});
        q = arith::MulFOp::create(ob, e.loc, e.toF32(q), rowScale);
        if (rowsAcross) {
          memref::StoreOp::create(ob, e.loc, q, queries, ValueRange{d, r});
          return;
        }
        auto store = scf::IfOp::create(ob, e.loc, real);
        OpBuilder::InsertionGuard guard(ob);
        ob.setInsertionPointToStart(store.thenBlock());
        memref::StoreOp::create(ob, e.loc, q, queries, ValueRange{r, d});
      });
      memref::StoreOp::create(
          ob, e.loc, e.f32(-std::numeric_limits<double>::infinity()), runMax,
          r);
      memref::StoreOp::create(ob, e.loc, zeroF, runSum, r);
      e.loop(0, tileKeys, [&](Value k) {
        memref::StoreOp::create(ob, e.loc, zeroF, scores, ValueRange{k, r});
      });
    });
    e.loop(0, group, [&](Value r) {
      for (int64_t c = 0; c < plan.valueDim; c += lanes)
        e.storeVec(e.splat(zeroF, lanes), acc, {r, e.idx(c)});
    });
  }

  Value negInfVec(int64_t n) {
    return e.splat(e.f32(-std::numeric_limits<double>::infinity()), n);
  }

  Value softcap(Value score) {
    if (!a.softcap)
      return score;
    Value inv = e.f32(1.0 / *a.softcap), cap = e.f32(*a.softcap);
    if (auto vt = dyn_cast<VectorType>(score.getType())) {
      inv = e.splat(inv, vt.getNumElements());
      cap = e.splat(cap, vt.getNumElements());
    }
    Value x = arith::MulFOp::create(ob, e.loc, score, inv);
    return arith::MulFOp::create(ob, e.loc, math::TanhOp::create(ob, e.loc, x),
                                 cap);
  }

  /// Keys kt + k0 .. kt + k0 + keyBlock, clamped to the last one of the tile
  /// (the scores of clamped keys are replaced by -inf).
  SmallVector<std::pair<Value, Value>> keyBlockAddresses(Value kt, Value k0,
                                                         Value count) {
    Value last = e.sub(e.add(kt, count), e.idx(1));
    SmallVector<std::pair<Value, Value>> keys;
    for (int64_t k = 0; k < keyBlock; ++k)
      keys.push_back(
          keyAddress(e, a, b, e.min(e.add(kt, e.add(k0, e.idx(k))), last)));
    return keys;
  }

  /// Local index of key k of the block at k0, clamped below `count`.
  Value clampedLocal(Value k0, int64_t k, Value count) {
    return e.min(e.add(k0, e.idx(k)), e.sub(count, e.idx(1)));
  }

  /// S^T[k, rows]: rows across the lanes, keyBlock K elements broadcast per
  /// head-dimension step against chunkBlock row vectors of Q^T.
  void scoresRowsAcross(Value kt, Value count) {
    int64_t chunks = paddedRows / lanes;
    e.loop(e.idx(0), e.idx(chunks), e.idx(chunkBlock), [&](Value c0) {
      e.loop(e.idx(0), e.idx(tileKeys), e.idx(keyBlock), [&](Value k0) {
        SmallVector<std::pair<Value, Value>> keys;
        SmallVector<Value> locals;
        if (!keyTile)
          keys = keyBlockAddresses(kt, k0, count);
        for (int64_t k = 0; k < keyBlock; ++k)
          locals.push_back(clampedLocal(k0, k, count));
        SmallVector<Value> init(keyBlock * chunkBlock,
                                e.splat(e.f32(0.0), lanes));
        // One cache line of f32 head elements per iteration, with the
        // prefetch of the same line of the next tile's rows.
        int64_t unroll = plan.headDim % 16 == 0 ? 16 : 1;
        auto dLoop = scf::ForOp::create(ob, e.loc, e.idx(0),
                                        e.idx(plan.headDim), e.idx(unroll),
                                        init);
        {
          OpBuilder::InsertionGuard guard(ob);
          ob.setInsertionPointToStart(dLoop.getBody());
          Value d0 = dLoop.getInductionVar();
          if (unroll > 1)
            prefetchNextTile(kt, k0, d0);
          SmallVector<Value> sums(dLoop.getRegionIterArgs());
          for (int64_t u = 0; u < unroll; ++u) {
            Value d = e.add(d0, e.idx(u));
            SmallVector<Value> q;
            for (int64_t c = 0; c < chunkBlock; ++c)
              q.push_back(e.loadVec(queries, {d, chunkOffset(c0, c)}, lanes));
            for (int64_t k = 0; k < keyBlock; ++k) {
              Value kv = e.splat(
                  keyElement(locals[k],
                             keyTile ? std::pair<Value, Value>{} : keys[k], d),
                  lanes);
              for (int64_t c = 0; c < chunkBlock; ++c)
                sums[k * chunkBlock + c] = vector::FMAOp::create(
                    ob, e.loc, kv, q[c], sums[k * chunkBlock + c]);
            }
          }
          scf::YieldOp::create(ob, e.loc, sums);
        }
        for (int64_t k = 0; k < keyBlock; ++k) {
          Value kk = e.add(k0, e.idx(k));
          Value valid = e.cmp(arith::CmpIPredicate::ult, kk, count);
          for (int64_t c = 0; c < chunkBlock; ++c) {
            Value score = softcap(dLoop.getResult(k * chunkBlock + c));
            score = e.select(valid, score, negInfVec(lanes));
            e.storeVec(score, scores, {kk, chunkOffset(c0, c)});
          }
        }
      });
    });
  }

  /// S[k, r] for all G rows: the head dimension across the lanes, keyBlock
  /// keys x G rows of accumulators, one horizontal sum per score.
  void scoresHeadAcross(Value kt, Value count) {
    e.loop(e.idx(0), e.idx(tileKeys), e.idx(keyBlock), [&](Value k0) {
      SmallVector<std::pair<Value, Value>> keys;
      SmallVector<Value> locals;
      if (!keyTile)
        keys = keyBlockAddresses(kt, k0, count);
      for (int64_t k = 0; k < keyBlock; ++k)
        locals.push_back(clampedLocal(k0, k, count));
      SmallVector<Value> init(keyBlock * group, e.splat(e.f32(0.0), lanes));
      auto dLoop = scf::ForOp::create(ob, e.loc, e.idx(0), e.idx(plan.headDim),
                                      e.idx(lanes), init);
      {
        OpBuilder::InsertionGuard guard(ob);
        ob.setInsertionPointToStart(dLoop.getBody());
        Value d = dLoop.getInductionVar();
        prefetchNextTile(kt, k0, d);
        SmallVector<Value> kv;
        for (int64_t k = 0; k < keyBlock; ++k)
          kv.push_back(rowChunk(a.key, keyTile, locals[k],
                                keyTile ? std::pair<Value, Value>{} : keys[k],
                                d));
        SmallVector<Value> sums;
        for (int64_t r = 0; r < group; ++r) {
          Value q = e.loadVec(queries, {e.idx(r), d}, lanes);
          for (int64_t k = 0; k < keyBlock; ++k)
            sums.push_back(vector::FMAOp::create(
                ob, e.loc, kv[k], q,
                dLoop.getRegionIterArgs()[r * keyBlock + k]));
        }
        scf::YieldOp::create(ob, e.loc, sums);
      }
      Value negInf = e.f32(-std::numeric_limits<double>::infinity());
      for (int64_t k = 0; k < keyBlock; ++k) {
        Value kk = e.add(k0, e.idx(k));
        Value valid = e.cmp(arith::CmpIPredicate::ult, kk, count);
        for (int64_t r = 0; r < group; ++r) {
          Value score = vector::ReductionOp::create(
              ob, e.loc, vector::CombiningKind::ADD,
              dLoop.getResult(r * keyBlock + k), arith::FastMathFlags::reassoc);
          score = e.select(valid, softcap(score), negInf);
          memref::StoreOp::create(ob, e.loc, score, scores,
                                  ValueRange{kk, e.idx(r)});
        }
      }
    });
  }

  /// Prefetches head elements d0.. of the key and value rows of the next
  /// tile that correspond to the key block at k0 (contiguous caches only).
  /// The block's rows are consecutive (constant offsets from one address);
  /// near the end of the cache the block is moved back to its last rows, and
  /// a cache shorter than a block may be prefetched past its end, which x86
  /// prefetches tolerate (they never fault).
  void prefetchNextTile(Value kt, Value k0, Value d0) {
    if (a.blockTable)
      return;
    for (Value cache : {a.key, a.value}) {
      Value lastStart = e.sub(e.dim(cache, 2), e.idx(keyBlock));
      Value start = e.max(
          e.min(e.add(e.add(kt, e.idx(tileKeys)), k0), lastStart), e.idx(0));
      for (int64_t k = 0; k < keyBlock; ++k)
        memref::PrefetchOp::create(ob, e.loc, cache,
                                   ValueRange{b, g, e.add(start, e.idx(k)), d0},
                                   /*isWrite=*/false, /*localityHint=*/3,
                                   /*isDataCache=*/true);
    }
  }

  Value chunkOffset(Value c0, int64_t c) {
    return e.add(e.mul(c0, e.idx(lanes)), e.idx(c * lanes));
  }

  /// Per row vector: tile max, new running max, alpha = exp(m_old - m_new)
  /// (1 while every key so far is hidden), probabilities in place of the
  /// scores (exactly 0 where hidden) and the rescaled running sum.
  void softmaxStep() {
    int64_t n = rowLanes;
    e.loop(e.idx(0), e.idx(paddedRows), e.idx(n), [&](Value off) {
      onlineSoftmaxColumns(e, scores, runMax, runSum, alpha, off, tileKeys,
                           n);
    });
  }

  /// Acc = Acc * alpha + P^T V over the keys of the tile, in blocks of
  /// valueRowBlock rows x valueChunkBlock value chunks.
  void accumulateValues(Value kt, Value count) {
    int64_t chunkDims = valueChunkBlock * lanes;
    int64_t mainRows = group / valueRowBlock * valueRowBlock;
    auto columns = [&](Value r0, int64_t rows) {
      for (int64_t dv = 0; dv < plan.valueDim; dv += chunkDims)
        accumulateValueBlock(
            kt, count, r0, rows, dv,
            std::min(chunkDims, plan.valueDim - dv) / lanes);
    };
    e.loop(e.idx(0), e.idx(mainRows), e.idx(valueRowBlock),
           [&](Value r0) { columns(r0, valueRowBlock); });
    if (mainRows < group)
      columns(e.idx(mainRows), group - mainRows);
  }

  void accumulateValueBlock(Value kt, Value count, Value r0, int64_t rows,
                            int64_t dv0, int64_t chunks) {
    SmallVector<Value> rowIdx, cols, init;
    for (int64_t r = 0; r < rows; ++r)
      rowIdx.push_back(e.add(r0, e.idx(r)));
    for (int64_t c = 0; c < chunks; ++c)
      cols.push_back(e.idx(dv0 + c * lanes));
    for (int64_t r = 0; r < rows; ++r) {
      Value scaleBy = e.splat(
          memref::LoadOp::create(ob, e.loc, alpha, rowIdx[r]), lanes);
      for (int64_t c = 0; c < chunks; ++c)
        init.push_back(arith::MulFOp::create(
            ob, e.loc, e.loadVec(acc, {rowIdx[r], cols[c]}, lanes), scaleBy));
    }
    auto keyLoop =
        scf::ForOp::create(ob, e.loc, e.idx(0), count, e.idx(1), init);
    {
      OpBuilder::InsertionGuard guard(ob);
      ob.setInsertionPointToStart(keyLoop.getBody());
      Value k = keyLoop.getInductionVar();
      std::pair<Value, Value> key;
      if (!valueTile)
        key = keyAddress(e, a, b, e.add(kt, k));
      // One value chunk live at a time: rows x chunks accumulators, the
      // rows' probabilities and one chunk fit the register file.
      SmallVector<Value> p;
      for (int64_t r = 0; r < rows; ++r)
        p.push_back(e.splat(
            memref::LoadOp::create(ob, e.loc, scores, ValueRange{k, rowIdx[r]}),
            lanes));
      SmallVector<Value> sums(keyLoop.getRegionIterArgs());
      for (int64_t c = 0; c < chunks; ++c) {
        Value v = rowChunk(a.value, valueTile, k, key, cols[c]);
        for (int64_t r = 0; r < rows; ++r)
          sums[r * chunks + c] =
              vector::FMAOp::create(ob, e.loc, p[r], v, sums[r * chunks + c]);
      }
      scf::YieldOp::create(ob, e.loc, sums);
    }
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < chunks; ++c)
        e.storeVec(keyLoop.getResult(r * chunks + c), acc,
                   {rowIdx[r], cols[c]});
  }

  /// scratch[b, g, t, s, r] = (Acc[r, 0..Dv), 0 padding, m[r], l[r]) for
  /// the G real rows.
  void writePartial(Value scratch) {
    e.loop(0, group, [&](Value r) {
      for (int64_t c = 0; c < plan.valueDim; c += lanes)
        e.storeVec(e.loadVec(acc, {r, e.idx(c)}, lanes), scratch,
                   {b, g, t, s, r, e.idx(c)});
      auto store = [&](Value x, int64_t col) {
        memref::StoreOp::create(ob, e.loc, x, scratch,
                                ValueRange{b, g, t, s, r, e.idx(col)});
      };
      for (int64_t dv = plan.valueDim; dv < plan.paddedValue; ++dv)
        store(e.f32(0.0), dv);
      store(memref::LoadOp::create(ob, e.loc, runMax, r), plan.paddedValue);
      store(memref::LoadOp::create(ob, e.loc, runSum, r),
            plan.paddedValue + 1);
    });
  }

  Emitter &e;
  OpBuilder &ob;
  const FlashAttention &a;
  const Plan &plan;
  Value b, g, t, s;
  int64_t lanes, group, rowLanes, paddedRows, chunkBlock, keyBlock, tileKeys;
  int64_t valueChunkBlock, valueRowBlock;
  bool rowsAcross;
  Value queries, acc, scores, runMax, runSum, alpha;
  Value keyTile, valueTile; ///< f32 copies of the tile of a non-f32 cache
};

} // namespace

bool mlir::attn::useGroupedDecodeKernel(const FlashAttention &a,
                                        const Plan &plan) {
  return groupedLanes(a, plan) != 0;
}

void mlir::attn::buildGroupedDecodePartial(Emitter &e, const FlashAttention &a,
                                           const Plan &plan, ValueRange item,
                                           Value keyBegin, Value keyEnd,
                                           Value scratch) {
  GroupedDecodeKernel(e, a, plan, item).build(keyBegin, keyEnd, scratch);
}
