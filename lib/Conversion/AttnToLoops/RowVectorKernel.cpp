//===- RowVectorKernel.cpp - flash work item with query rows across lanes -===//
//
// The partial result of one work item when it has at least a vector's worth
// of query rows (GQA/MQA groups, prefill tiles). Query rows run across the
// vector lanes and every K/V element of a key tile is loaded once and
// broadcast against them:
//
//   S^T[key, rows]  = sum_d K[key, d] * Q^T[d, rows]      (scores)
//   Acc^T[dv, rows] = sum_key V[key, dv] * P^T[key, rows] (values)
//
// Both are register-blocked outer products (keyBlock x chunkBlock vector
// accumulators) without horizontal reductions, and the online softmax
// (running max, running sum, rescale by exp(m_old - m_new)) is elementwise
// over rows, once per key tile. Any head size works: D and Dv are walked one
// element at a time, only the rows are vectorised.
//
//===----------------------------------------------------------------------===//

#include "KernelEmitter.h"

#include "mlir/Dialect/Math/IR/Math.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;

namespace {

constexpr int64_t kTargetTileKeys = 32; // keys per online-softmax step

class RowVectorKernel {
public:
  RowVectorKernel(Emitter &e, const FlashAttention &a, const Plan &plan,
                  ValueRange item, Value queryLength)
      : e(e), ob(e.b), a(a), plan(plan), b(item[0]), g(item[1]), t(item[2]),
        s(item[3]), queryLength(queryLength) {
    lanes = plan.lanes;
    chunks = plan.paddedRows / lanes;
    chunkBlock = chunks % 4 == 0   ? 4
                 : chunks % 3 == 0 ? 3
                 : chunks % 2 == 0 ? 2
                                   : 1;
    // keyBlock * chunkBlock accumulators plus keyBlock broadcasts and one
    // row vector stay within the 16 registers of AVX2 (8 lanes) or the 32 of
    // AVX-512 (16 lanes).
    static constexpr int64_t kKeyBlock8[] = {0, 6, 5, 4, 3};
    static constexpr int64_t kKeyBlock16[] = {0, 12, 8, 6, 5};
    keyBlock = lanes == 16 ? kKeyBlock16[chunkBlock] : kKeyBlock8[chunkBlock];
    tileKeys = keyBlock * (kTargetTileKeys / keyBlock);
  }

  void build(Value keyBegin, Value keyEnd, Value scratch) {
    auto stackBuffer = [&](ArrayRef<int64_t> shape) {
      return stackTile(e, a, shape);
    };
    int64_t rows = plan.paddedRows;
    queriesT = stackBuffer({plan.headDim, rows});
    accT = stackBuffer({plan.valueDim, rows});
    scores = stackBuffer({tileKeys, rows});
    runMax = stackBuffer({rows});
    runSum = stackBuffer({rows});
    alpha = stackBuffer({rows});
    negInf = e.splat(e.f32(-std::numeric_limits<double>::infinity()), lanes);
    zero = e.splat(e.f32(0.0), lanes);

    loadQueries();
    e.loop(keyBegin, keyEnd, e.idx(tileKeys), [&](Value kt) {
      Value count = e.min(e.idx(tileKeys), e.sub(keyEnd, kt));
      buildScores(kt, count);
      if (a.mask) {
        maskScores(kt, count);
      } else if ((plan.queryTile > 1 &&
                  (a.causal || a.windowLeft || a.windowRight)) ||
                 a.treeMask) {
        // Only tiles that cross the diagonal or a window edge of some row,
        // or reach the new tokens of a tree, hide keys from some rows but
        // not others.
        Value off = a.queryOffset;
        Value lastKey = e.sub(e.add(kt, count), e.idx(1));
        Value firstPos = e.add(e.mul(t, e.idx(plan.queryTile)), off);
        Value lastPos = e.add(firstPos, e.idx(plan.queryTile - 1));
        Value crosses;
        auto cross = [&](Value c) {
          crosses = crosses
                        ? arith::OrIOp::create(ob, e.loc, crosses, c).getResult()
                        : c;
        };
        if (plan.queryTile > 1 && a.causal)
          cross(e.cmp(arith::CmpIPredicate::sgt, lastKey, firstPos));
        if (plan.queryTile > 1 && a.windowRight)
          cross(e.cmp(arith::CmpIPredicate::sgt, lastKey,
                      e.add(firstPos, e.idx(*a.windowRight))));
        if (plan.queryTile > 1 && a.windowLeft)
          cross(e.cmp(arith::CmpIPredicate::slt, kt,
                      e.sub(lastPos, e.idx(*a.windowLeft))));
        if (a.treeMask)
          cross(e.cmp(arith::CmpIPredicate::sge, lastKey, off));
        auto ifOp = scf::IfOp::create(ob, e.loc, crosses);
        OpBuilder::InsertionGuard guard(ob);
        ob.setInsertionPointToStart(ifOp.thenBlock());
        maskScores(kt, count);
      }
      softmaxStep();
      accumulateValues(kt, count);
    });
    writePartial(scratch);
  }

private:
  /// Offset of row chunk `c0 + c` in a row vector.
  Value chunkOffset(Value c0, int64_t c) {
    return e.add(e.mul(c0, e.idx(lanes)), e.idx(c * lanes));
  }

  /// An element of K or V, widened to f32 and broadcast across the lanes.
  Value broadcastElement(Value memref, std::pair<Value, Value> key, Value d) {
    Value x = memref::LoadOp::create(ob, e.loc, memref,
                                     ValueRange{key.first, g, key.second, d});
    Value scale = memref == a.key ? a.keyScale : a.valueScale;
    return e.splat(applyCacheScale(e, e.toF32(x), scale, b, g), lanes);
  }

  /// Q^T[d, r] = scale * Q[b, head(r), row(r), d] (0 for rows that do not
  /// exist); running max -inf, running sum and Acc^T 0.
  void loadQueries() {
    Value scale = e.f32(a.scale), zeroF = e.f32(0.0);
    e.loop(0, plan.paddedRows, [&](Value r) {
      auto [head, row, real] = safeHeadAndRow(e, plan, g, t, r);
      Value inRange = arith::AndIOp::create(
          ob, e.loc, e.cmp(arith::CmpIPredicate::ult, row, queryLength), real);
      Value safeRow = e.select(inRange, row, e.idx(0));
      Value rowScale = e.select(inRange, scale, zeroF);
      e.loop(0, plan.headDim, [&](Value d) {
        Value q = memref::LoadOp::create(ob, e.loc, a.query,
                                         ValueRange{b, head, safeRow, d});
        q = arith::MulFOp::create(ob, e.loc, e.toF32(q), rowScale);
        memref::StoreOp::create(ob, e.loc, q, queriesT, ValueRange{d, r});
      });
    });
    e.loop(0, chunks, [&](Value c) {
      Value off = e.mul(c, e.idx(lanes));
      e.storeVec(negInf, runMax, {off});
      e.storeVec(zero, runSum, {off});
      e.loop(0, plan.valueDim,
             [&](Value dv) { e.storeVec(zero, accT, {dv, off}); });
    });
  }

  /// scores[k, :] = capped S^T for the keys kt + k < kt + count, -inf for
  /// the rest of the tile (whose loads are clamped to the last key).
  void buildScores(Value kt, Value count) {
    Value last = e.sub(e.add(kt, count), e.idx(1));
    e.loop(e.idx(0), e.idx(chunks), e.idx(chunkBlock), [&](Value c0) {
      e.loop(e.idx(0), e.idx(tileKeys), e.idx(keyBlock), [&](Value k0) {
        SmallVector<std::pair<Value, Value>> keys;
        for (int64_t k = 0; k < keyBlock; ++k)
          keys.push_back(keyAddress(
              e, a, b, e.min(e.add(kt, e.add(k0, e.idx(k))), last)));
        SmallVector<Value> init(keyBlock * chunkBlock, zero);
        // Query dims [begin, end) against dims [0, end - begin) of `memref`'s
        // key rows: the whole row, or a latent decode's two pieces.
        auto dotPiece = [&](Value memref, int64_t begin, int64_t end,
                            ValueRange from) {
          auto dLoop = scf::ForOp::create(ob, e.loc, e.idx(begin),
                                          e.idx(end), e.idx(1), from);
          OpBuilder::InsertionGuard guard(ob);
          ob.setInsertionPointToStart(dLoop.getBody());
          Value d = dLoop.getInductionVar();
          Value dk = begin ? e.sub(d, e.idx(begin)) : d;
          SmallVector<Value> q;
          for (int64_t c = 0; c < chunkBlock; ++c)
            q.push_back(e.loadVec(queriesT, {d, chunkOffset(c0, c)}, lanes));
          SmallVector<Value> sums;
          for (int64_t k = 0; k < keyBlock; ++k) {
            Value kv = broadcastElement(memref, keys[k], dk);
            for (int64_t c = 0; c < chunkBlock; ++c)
              sums.push_back(vector::FMAOp::create(
                  ob, e.loc, kv, q[c],
                  dLoop.getRegionIterArgs()[k * chunkBlock + c]));
          }
          scf::YieldOp::create(ob, e.loc, sums);
          return dLoop;
        };
        // A latent key row starts with the value row (the latent).
        int64_t keyWidth = a.keyRope ? plan.valueDim : plan.headDim;
        scf::ForOp dLoop = dotPiece(a.key, 0, keyWidth, init);
        if (a.keyRope)
          dLoop = dotPiece(a.keyRope, keyWidth, plan.headDim,
                           dLoop.getResults());
        for (int64_t k = 0; k < keyBlock; ++k) {
          Value kk = e.add(k0, e.idx(k));
          Value valid = e.cmp(arith::CmpIPredicate::ult, kk, count);
          for (int64_t c = 0; c < chunkBlock; ++c) {
            Value score = softcap(dLoop.getResult(k * chunkBlock + c));
            score = e.select(valid, score, negInf);
            e.storeVec(score, scores, {kk, chunkOffset(c0, c)});
          }
        }
      });
    });
  }

  Value softcap(Value score) {
    if (!a.softcap)
      return score;
    Value x = arith::MulFOp::create(ob, e.loc, score,
                                    e.splat(e.f32(1.0 / *a.softcap), lanes));
    return arith::MulFOp::create(ob, e.loc, math::TanhOp::create(ob, e.loc, x),
                                 e.splat(e.f32(*a.softcap), lanes));
  }

  /// The mask, and the causal limit where it differs between rows, applied
  /// one score at a time (rows of different heads/positions share a vector).
  void maskScores(Value kt, Value count) {
    e.loop(0, plan.rows, [&](Value r) {
      auto [head, row, real] = safeHeadAndRow(e, plan, g, t, r);
      Value safeRow = e.select(e.cmp(arith::CmpIPredicate::ult, row,
                                     queryLength),
                               row, e.idx(0));
      e.loop(e.idx(0), count, e.idx(1), [&](Value k) {
        Value j = e.add(kt, k);
        Value score =
            memref::LoadOp::create(ob, e.loc, scores, ValueRange{k, r});
        if (a.mask)
          score = applyMask(e, a.mask, score, b, head, safeRow, j);
        if (plan.queryTile > 1)
          if (Value hidden = hiddenByPosition(e, a, a.queryOffset, row, j))
            score = e.select(
                hidden, e.f32(-std::numeric_limits<double>::infinity()),
                score);
        if (a.treeMask)
          score = e.select(
              hiddenByTree(e, a, b, a.queryOffset, safeRow, j),
              e.f32(-std::numeric_limits<double>::infinity()), score);
        memref::StoreOp::create(ob, e.loc, score, scores, ValueRange{k, r});
      });
    });
  }

  /// Per row chunk: tile max, new running max, alpha = exp(m_old - m_new)
  /// (1 while every key so far is masked), probabilities in place of the
  /// scores (exactly 0 where masked) and the rescaled running sum.
  void softmaxStep() {
    e.loop(0, chunks, [&](Value c) {
      Value off = e.mul(c, e.idx(lanes));
      onlineSoftmaxColumns(e, scores, runMax, runSum, alpha, off, tileKeys,
                           lanes);
    });
  }

  /// Acc^T = Acc^T * alpha + V^T P^T over the keys of the tile, in blocks of
  /// keyBlock value dims x chunkBlock row chunks kept in registers.
  void accumulateValues(Value kt, Value count) {
    int64_t dvBlock = keyBlock;
    int64_t mainDims = plan.valueDim / dvBlock * dvBlock;
    e.loop(e.idx(0), e.idx(chunks), e.idx(chunkBlock), [&](Value c0) {
      if (mainDims > 0)
        e.loop(e.idx(0), e.idx(mainDims), e.idx(dvBlock), [&](Value dv0) {
          accumulateValueBlock(kt, count, c0, dv0, dvBlock);
        });
      if (mainDims < plan.valueDim)
        accumulateValueBlock(kt, count, c0, e.idx(mainDims),
                             plan.valueDim - mainDims);
    });
  }

  void accumulateValueBlock(Value kt, Value count, Value c0, Value dv0,
                            int64_t dims) {
    SmallVector<Value> dvs, init;
    for (int64_t i = 0; i < dims; ++i)
      dvs.push_back(e.add(dv0, e.idx(i)));
    for (int64_t i = 0; i < dims; ++i)
      for (int64_t c = 0; c < chunkBlock; ++c) {
        Value off = chunkOffset(c0, c);
        init.push_back(arith::MulFOp::create(ob, e.loc,
                                             e.loadVec(accT, {dvs[i], off}, lanes),
                                             e.loadVec(alpha, {off}, lanes)));
      }
    auto keyLoop =
        scf::ForOp::create(ob, e.loc, e.idx(0), count, e.idx(1), init);
    {
      OpBuilder::InsertionGuard guard(ob);
      ob.setInsertionPointToStart(keyLoop.getBody());
      Value k = keyLoop.getInductionVar();
      std::pair<Value, Value> key = keyAddress(e, a, b, e.add(kt, k));
      SmallVector<Value> p;
      for (int64_t c = 0; c < chunkBlock; ++c)
        p.push_back(e.loadVec(scores, {k, chunkOffset(c0, c)}, lanes));
      SmallVector<Value> sums;
      for (int64_t i = 0; i < dims; ++i) {
        Value v = broadcastElement(a.value, key, dvs[i]);
        for (int64_t c = 0; c < chunkBlock; ++c)
          sums.push_back(vector::FMAOp::create(
              ob, e.loc, v, p[c],
              keyLoop.getRegionIterArgs()[i * chunkBlock + c]));
      }
      scf::YieldOp::create(ob, e.loc, sums);
    }
    for (int64_t i = 0; i < dims; ++i)
      for (int64_t c = 0; c < chunkBlock; ++c)
        e.storeVec(keyLoop.getResult(i * chunkBlock + c), accT,
                   {dvs[i], chunkOffset(c0, c)});
  }

  /// scratch[b, g, t, s, r] = (Acc[r, 0..Dv), 0 padding, m[r], l[r]).
  void writePartial(Value scratch) {
    e.loop(0, plan.paddedRows, [&](Value r) {
      auto store = [&](Value x, Value col) {
        memref::StoreOp::create(ob, e.loc, x, scratch,
                                ValueRange{b, g, t, s, r, col});
      };
      e.loop(0, plan.valueDim, [&](Value dv) {
        store(memref::LoadOp::create(ob, e.loc, accT, ValueRange{dv, r}), dv);
      });
      e.loop(plan.valueDim, plan.paddedValue,
             [&](Value dv) { store(e.f32(0.0), dv); });
      store(memref::LoadOp::create(ob, e.loc, runMax, r),
            e.idx(plan.paddedValue));
      store(memref::LoadOp::create(ob, e.loc, runSum, r),
            e.idx(plan.paddedValue + 1));
    });
  }

  Emitter &e;
  OpBuilder &ob;
  const FlashAttention &a;
  const Plan &plan;
  Value b, g, t, s, queryLength;
  int64_t lanes, chunks, chunkBlock, keyBlock, tileKeys;
  Value queriesT, accT, scores, runMax, runSum, alpha, negInf, zero;
};

} // namespace

void mlir::attn::buildRowVectorPartial(Emitter &e, const FlashAttention &a,
                                       const Plan &plan, ValueRange item,
                                       Value queryLength, Value keyBegin,
                                       Value keyEnd, Value scratch) {
  RowVectorKernel(e, a, plan, item, queryLength)
      .build(keyBegin, keyEnd, scratch);
}

void mlir::attn::onlineSoftmaxColumns(Emitter &e, Value scores, Value runMax,
                                      Value runSum, Value alpha, Value off,
                                      int64_t tileKeys, int64_t lanes,
                                      bool hiddenKeys, Value tileMax) {
  OpBuilder &b = e.b;
  Value one = e.splat(e.f32(1.0), lanes), zero = e.splat(e.f32(0.0), lanes);
  Value negInf = e.splat(e.f32(-std::numeric_limits<double>::infinity()), lanes);
  if (!tileMax) {
    auto maxLoop = scf::ForOp::create(b, e.loc, e.idx(0), e.idx(tileKeys),
                                      e.idx(1), ValueRange{negInf});
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(maxLoop.getBody());
    Value sc = e.loadVec(scores, {maxLoop.getInductionVar(), off}, lanes);
    scf::YieldOp::create(
        b, e.loc, vectorMax(e, maxLoop.getRegionIterArgs()[0], sc));
    tileMax = maxLoop.getResult(0);
  }
  Value oldMax = e.loadVec(runMax, {off}, lanes);
  Value newMax = vectorMax(e, oldMax, tileMax);
  Value allHidden = e.fcmp(arith::CmpFPredicate::OEQ, newMax, negInf);
  Value rescale =
      vectorExp(e, arith::SubFOp::create(b, e.loc, oldMax, newMax));
  rescale = e.select(allHidden, one, rescale);

  auto sumLoop = scf::ForOp::create(b, e.loc, e.idx(0), e.idx(tileKeys),
                                    e.idx(1), ValueRange{zero});
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(sumLoop.getBody());
    Value k = sumLoop.getInductionVar();
    Value sc = e.loadVec(scores, {k, off}, lanes);
    Value p = vectorExp(e, arith::SubFOp::create(b, e.loc, sc, newMax));
    if (hiddenKeys)
      p = e.select(e.fcmp(arith::CmpFPredicate::OEQ, sc, negInf), zero, p);
    e.storeVec(p, scores, {k, off});
    scf::YieldOp::create(
        b, e.loc,
        arith::AddFOp::create(b, e.loc, sumLoop.getRegionIterArgs()[0], p)
            .getResult());
  }
  Value oldSum = e.loadVec(runSum, {off}, lanes);
  Value newSum = vector::FMAOp::create(b, e.loc, oldSum, rescale,
                                       sumLoop.getResult(0));
  e.storeVec(newSum, runSum, {off});
  e.storeVec(newMax, runMax, {off});
  e.storeVec(rescale, alpha, {off});
}
