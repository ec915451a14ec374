//===- FlashKernel.cpp - flash-style attention loop nest ------------------===//
//
// One work item is (batch b, KV head g, query tile t, key split s). It
// handles the rows of all G = Hq / Hkv query heads of KV head g for the
// query rows of tile t, so every key and value row it reads serves G query
// heads. Keys are visited in tiles with an online softmax; each split writes
// (acc, max, sum) per row to a scratch buffer, and a second parallel loop
// merges the splits. Threads claim the work items from a shared counter
// (buildClaimedPartials). With 8 or more rows per work item the partial comes
// from RowVectorKernel.cpp (rows across vector lanes); with fewer, from the
// kernel here, whose vectors run along the head dimension.
//
//===----------------------------------------------------------------------===//

#include "KernelEmitter.h"

#include "mlir/Dialect/Math/IR/Math.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;

namespace {

constexpr int64_t kKeyTile = 32;        // keys per online-softmax step
constexpr int64_t kMinKeysPerSplit = 512;
constexpr int64_t kTargetWorkItems = 64;
constexpr int64_t kTargetRows = 32;     // query rows (all heads) per item
constexpr int64_t kRowBlock = 4;        // rows sharing each K/V vector load

class KernelBuilder {
public:
  KernelBuilder(OpBuilder &b, Location loc, const FlashAttention &a)
      : e{b, loc}, a(a) {
    auto q = cast<MemRefType>(a.query.getType());
    auto v = cast<MemRefType>(a.value.getType());
    plan.group = a.qHeads / a.kvHeads;
    int64_t sq = q.getDimSize(2);
    int64_t tile = std::max<int64_t>(1, kTargetRows / plan.group);
    if (!ShapedType::isDynamic(sq))
      tile = std::min(tile, sq);
    plan.queryTile = tile;
    plan.rows = plan.group * tile;
    // With a vector's worth of rows, rows go across lanes and K/V elements
    // are broadcast (RowVectorKernel.cpp); otherwise lanes run along the
    // head dimension.
    plan.rowVector = plan.rows >= kWidth || a.keyRope;
    plan.lanes = a.rowLanes == 16 && plan.rows >= 16 ? 16 : kWidth;
    plan.rowBlock = plan.rowVector ? plan.lanes
                    : plan.rows >= kRowBlock ? kRowBlock : 1;
    plan.paddedRows = roundUp(plan.rows, plan.rowBlock);
    plan.headDim = q.getDimSize(3);
    plan.valueDim = v.getDimSize(3);
    plan.paddedHead = roundUp(plan.headDim, kWidth);
    plan.paddedValue = roundUp(plan.valueDim, kWidth);
    plan.headInBounds = plan.headDim % kWidth == 0;
    plan.valueInBounds = plan.valueDim % kWidth == 0;
  }

  void build() {
    OpBuilder &b = e.b;
    batch = e.dim(a.query, 0);
    queryLength = e.dim(a.query, 2);
    Value tiles = e.ceilDiv(queryLength, e.idx(plan.queryTile));
    // Enough key splits to keep the cores busy when (B, Hkv, tiles) is small.
    Value items = e.mul(e.mul(batch, e.idx(a.kvHeads)), tiles);
    Value wanted = e.ceilDiv(e.idx(kTargetWorkItems), e.max(items, e.idx(1)));
    // A work item reads at most `span` keys: all of them, or with a window
    // bounded on both sides (causal bounds the right) the window plus the
    // rows of a query tile. Splits divide that span, not the whole cache.
    Value span = a.keyEnd;
    if (a.windowLeft && (a.causal || a.windowRight)) {
      int64_t right = a.causal ? 0 : *a.windowRight;
      span = e.min(span, e.idx(*a.windowLeft + right + plan.queryTile));
    }
    Value perSplit = e.max(e.idx(kMinKeysPerSplit), e.ceilDiv(span, wanted));
    int64_t splitUnit = useGroupedDecodeKernel(a, plan)
                            ? groupedDecodeTileKeys(a, plan)
                            : kKeyTile;
    perSplit =
        e.mul(e.ceilDiv(perSplit, e.idx(splitUnit)), e.idx(splitUnit));
    keysPerSplit = perSplit;
    Value splits = e.max(e.ceilDiv(span, perSplit), e.idx(1));

    auto scratchType = MemRefType::get(
        {ShapedType::kDynamic, a.kvHeads, ShapedType::kDynamic,
         ShapedType::kDynamic, plan.paddedRows, plan.paddedValue + 2},
        b.getF32Type());
    scratch = memref::AllocOp::create(b, e.loc, scratchType,
                                      ValueRange{batch, tiles, splits});
    Value zero = e.idx(0), one = e.idx(1);
    if (a.claimWorkItems) {
      buildClaimedPartials(tiles, splits);
    } else {
      auto partials = scf::ParallelOp::create(
          b, e.loc, ValueRange{zero, zero, zero, zero},
          ValueRange{batch, e.idx(a.kvHeads), tiles, splits},
          ValueRange{one, one, one, one});
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPoint(partials.getBody()->getTerminator());
      auto ivs = partials.getInductionVars();
      buildPartial(ivs[0], ivs[1], ivs[2], ivs[3]);
    }
    auto merge = scf::ParallelOp::create(
        b, e.loc, ValueRange{zero, zero, zero},
        ValueRange{batch, e.idx(a.kvHeads), tiles}, ValueRange{one, one, one});
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPoint(merge.getBody()->getTerminator());
      auto ivs = merge.getInductionVars();
      buildMerge(ivs[0], ivs[1], ivs[2], splits);
    }
    memref::DeallocOp::create(b, e.loc, scratch);
  }

private:
  /// Query head and row of local row r of tile t for KV head g.
  std::pair<Value, Value> headAndRow(Value g, Value t, Value r) {
    Value local = e.div(r, e.idx(plan.queryTile));
    Value head = e.add(e.mul(g, e.idx(plan.group)), local);
    Value row = e.add(e.mul(t, e.idx(plan.queryTile)),
                      e.rem(r, e.idx(plan.queryTile)));
    return {head, row};
  }

  std::tuple<Value, Value, Value> safeHeadAndRow(Value g, Value t, Value r) {
    return attn::safeHeadAndRow(e, plan, g, t, r);
  }

  /// Rows past the query length are computed on zeros and never written.
  Value rowInRange(Value row) {
    return e.cmp(arith::CmpIPredicate::ult, row, queryLength);
  }

  /// The work items (b, g, t, s) claimed from a shared counter
  /// (ClaimedWorkItems.cpp), the key split fastest. An item's partial does
  /// not depend on the thread that computes it, so the output is the same
  /// under any schedule and thread count.
  void buildClaimedPartials(Value tiles, Value splits) {
    Value perHead = e.mul(tiles, splits);
    Value perBatch = e.mul(e.idx(a.kvHeads), perHead);
    buildClaimedWorkItems(e, e.mul(batch, perBatch), [&](Value item) {
      Value bi = e.div(item, perBatch);
      Value g = e.div(e.rem(item, perBatch), perHead);
      Value t = e.div(e.rem(item, perHead), splits);
      Value s = e.rem(item, splits);
      buildPartial(bi, g, t, s);
    });
  }

  void buildPartial(Value b, Value g, Value t, Value s) {
    OpBuilder &ob = e.b;
    // The keys this work item may see: [0, rowEnd) of its batch row, cut
    // by the causal limit and the window of the tile's first and last rows;
    // split s takes its share of them from the first one.
    Value rowEnd = a.keyEnd;
    if (a.kvSeqLens) {
      Value len = memref::LoadOp::create(ob, e.loc, a.kvSeqLens, b);
      len = arith::IndexCastOp::create(ob, e.loc, ob.getIndexType(), len);
      rowEnd = e.min(rowEnd, e.max(len, e.idx(0)));
    }
    FlashAttention item = a;
    offset = a.queryOffset ? a.queryOffset : e.idx(0);
    if (a.rowPositions) {
      Value pos = memref::LoadOp::create(ob, e.loc, a.rowPositions, b);
      pos = arith::IndexCastOp::create(ob, e.loc, ob.getIndexType(), pos);
      Value end = e.add(pos, a.newKeys);
      rowEnd = e.min(rowEnd, end);
      offset = e.sub(end, queryLength);
    }
    item.queryOffset = offset;
    Value firstRow = e.mul(t, e.idx(plan.queryTile));
    Value lastRow = e.min(e.add(firstRow, e.idx(plan.queryTile - 1)),
                          e.sub(queryLength, e.idx(1)));
    Value itemEnd = rowEnd, itemBegin = e.idx(0);
    if (a.causal)
      itemEnd = e.min(itemEnd, e.add(e.add(lastRow, offset), e.idx(1)));
    if (a.windowRight)
      itemEnd = e.min(itemEnd, e.add(e.add(lastRow, offset),
                                     e.idx(*a.windowRight + 1)));
    if (a.windowLeft)
      itemBegin = e.max(itemBegin, e.sub(e.add(firstRow, offset),
                                         e.idx(*a.windowLeft)));
    Value keyBegin = e.add(itemBegin, e.mul(s, keysPerSplit));
    Value keyEndV = e.min(itemEnd, e.add(keyBegin, keysPerSplit));

    if (useGroupedDecodeKernel(a, plan))
      return buildGroupedDecodePartial(e, item, plan, {b, g, t, s}, keyBegin,
                                       keyEndV, scratch);
    if (plan.rowVector)
      return buildRowVectorPartial(e, item, plan, {b, g, t, s}, queryLength,
                                   keyBegin, keyEndV, scratch);

    auto stackBuffer = [&](ArrayRef<int64_t> shape) {
      return stackTile(e, a, shape);
    };
    Value qbuf = stackBuffer({plan.paddedRows, plan.paddedHead});
    Value acc = stackBuffer({plan.paddedRows, plan.paddedValue});
    Value scores = stackBuffer({plan.paddedRows, kKeyTile});
    Value runMax = stackBuffer({plan.paddedRows});
    Value runSum = stackBuffer({plan.paddedRows});
    Value negInf = e.f32(-std::numeric_limits<double>::infinity());
    Value zeroF = e.f32(0.0);
    Value scale = e.f32(a.scale);

    // Scaled queries of the tile, running state reset.
    e.loop(0, plan.paddedRows, [&](Value r) {
      auto [head, row, realRow] = safeHeadAndRow(g, t, r);
      Value inRange = e.b.createOrFold<arith::AndIOp>(e.loc, rowInRange(row),
                                                       realRow);
      Value safeRow = e.select(inRange, row, e.idx(0));
      Value scaleOrZero = e.select(inRange, scale, zeroF);
      e.loop(e.idx(0), e.idx(plan.paddedHead), e.idx(kWidth), [&](Value c) {
        Value chunk = e.readChunk(a.query, {b, head, safeRow, c},
                                  plan.headInBounds);
        chunk = arith::MulFOp::create(ob, e.loc, chunk, e.splat(scaleOrZero));
        e.storeVec(chunk, qbuf, {r, c});
      });
      e.loop(e.idx(0), e.idx(plan.paddedValue), e.idx(kWidth), [&](Value c) {
        e.storeVec(e.splat(zeroF), acc, {r, c});
      });
      memref::StoreOp::create(ob, e.loc, negInf, runMax, r);
      memref::StoreOp::create(ob, e.loc, zeroF, runSum, r);
    });

    e.loop(keyBegin, keyEndV, e.idx(kKeyTile), [&](Value kt) {
      Value count = e.min(e.idx(kKeyTile), e.sub(keyEndV, kt));
      buildScores(b, g, t, kt, count, qbuf, scores);
      buildSoftmaxStep(scores, runMax, runSum, acc);
      buildValueStep(b, g, kt, count, scores, acc);
    });

    // Partial results: acc, max, sum per row.
    e.loop(0, plan.paddedRows, [&](Value r) {
      e.loop(e.idx(0), e.idx(plan.paddedValue), e.idx(kWidth), [&](Value c) {
        e.storeVec(e.loadVec(acc, {r, c}), scratch, {b, g, t, s, r, c});
      });
      Value m = memref::LoadOp::create(ob, e.loc, runMax, r);
      Value l = memref::LoadOp::create(ob, e.loc, runSum, r);
      memref::StoreOp::create(ob, e.loc, m, scratch,
                              ValueRange{b, g, t, s, r, e.idx(plan.paddedValue)});
      memref::StoreOp::create(
          ob, e.loc, l, scratch,
          ValueRange{b, g, t, s, r, e.idx(plan.paddedValue + 1)});
    });
  }

  /// scores[r, jj] = masked, capped q_r . k_(kt + jj) for jj < count.
  void buildScores(Value b, Value g, Value t, Value kt, Value count, Value qbuf,
                   Value scores) {
    OpBuilder &ob = e.b;
    Value negInf = e.f32(-std::numeric_limits<double>::infinity());
    e.loop(0, plan.paddedRows, [&](Value r) {
      e.loop(e.idx(0), e.idx(kKeyTile), e.idx(kWidth), [&](Value c) {
        e.storeVec(e.splat(negInf), scores, {r, c});
      });
    });
    e.loop(e.idx(0), count, e.idx(1), [&](Value jj) {
      Value j = e.add(kt, jj);
      auto [kb, kj] = keyAddress(e, a, b, j);
      e.loop(e.idx(0), e.idx(plan.paddedRows), e.idx(plan.rowBlock),
             [&](Value r0) {
        // rowBlock dot products sharing each chunk of the key row.
        SmallVector<Value> zeros(plan.rowBlock, e.splat(e.f32(0.0)));
        auto forOp = scf::ForOp::create(ob, e.loc, e.idx(0),
                                        e.idx(plan.paddedHead), e.idx(kWidth),
                                        zeros);
        {
          OpBuilder::InsertionGuard guard(ob);
          ob.setInsertionPointToStart(forOp.getBody());
          Value c = forOp.getInductionVar();
          Value kv = applyCacheScale(
              e, e.readChunk(a.key, {kb, g, kj, c}, plan.headInBounds),
              a.keyScale, b, g);
          SmallVector<Value> sums;
          for (int64_t i = 0; i < plan.rowBlock; ++i) {
            Value qv = e.loadVec(qbuf, {e.add(r0, e.idx(i)), c});
            sums.push_back(vector::FMAOp::create(ob, e.loc, qv, kv,
                                                 forOp.getRegionIterArgs()[i]));
          }
          scf::YieldOp::create(ob, e.loc, sums);
        }
        for (int64_t i = 0; i < plan.rowBlock; ++i) {
          Value r = e.add(r0, e.idx(i));
          Value score = vector::ReductionOp::create(
              ob, e.loc, vector::CombiningKind::ADD, forOp.getResult(i),
              arith::FastMathFlags::reassoc);
          if (a.softcap) {
            Value cap = e.f32(*a.softcap);
            Value x = arith::DivFOp::create(ob, e.loc, score, cap);
            score = arith::MulFOp::create(
                ob, e.loc, math::TanhOp::create(ob, e.loc, x), cap);
          }
          auto [head, row, real] = safeHeadAndRow(g, t, r);
          if (a.mask) {
            Value safeRow = e.select(rowInRange(row), row, e.idx(0));
            score = applyMask(score, b, head, safeRow, j);
          }
          if (Value hidden = hiddenByPosition(e, a, offset, row, j))
            score = e.select(hidden, negInf, score);
          if (a.treeMask) {
            Value safeRow = e.select(rowInRange(row), row, e.idx(0));
            score = e.select(hiddenByTree(e, a, b, offset, safeRow, j), negInf,
                             score);
          }
          memref::StoreOp::create(ob, e.loc, score, scores, ValueRange{r, jj});
        }
      });
    });
  }

  Value applyMask(Value score, Value b, Value head, Value row, Value j) {
    return attn::applyMask(e, a.mask, score, b, head, row, j);
  }

  /// Online softmax over one key tile, 8 keys per vector: new running max,
  /// probabilities in place of the scores (0 where masked or past the
  /// tile's end), rescaled sum and accumulator.
  void buildSoftmaxStep(Value scores, Value runMax, Value runSum, Value acc) {
    OpBuilder &ob = e.b;
    Value negInf = e.f32(-std::numeric_limits<double>::infinity());
    e.loop(0, plan.paddedRows, [&](Value r) {
      auto maxLoop = scf::ForOp::create(ob, e.loc, e.idx(0), e.idx(kKeyTile),
                                        e.idx(kWidth),
                                        ValueRange{e.splat(negInf)});
      {
        OpBuilder::InsertionGuard guard(ob);
        ob.setInsertionPointToStart(maxLoop.getBody());
        Value sc = e.loadVec(scores, {r, maxLoop.getInductionVar()});
        Value m = arith::MaximumFOp::create(ob, e.loc, sc,
                                            maxLoop.getRegionIterArgs()[0]);
        scf::YieldOp::create(ob, e.loc, m);
      }
      Value tileMax = vector::ReductionOp::create(
          ob, e.loc, vector::CombiningKind::MAXIMUMF, maxLoop.getResult(0));
      Value oldMax = memref::LoadOp::create(ob, e.loc, runMax, r);
      Value newMax = arith::MaximumFOp::create(ob, e.loc, oldMax, tileMax);
      // Everything masked so far: keep the state (alpha = 1, p = 0).
      Value allMasked = e.fcmp(arith::CmpFPredicate::OEQ, newMax, negInf);
      Value alpha = math::ExpOp::create(
          ob, e.loc, arith::SubFOp::create(ob, e.loc, oldMax, newMax));
      alpha = e.select(allMasked, e.f32(1.0), alpha);
      Value newMaxVec = e.splat(newMax);
      Value zeroVec = e.splat(e.f32(0.0)), negInfVec = e.splat(negInf);
      auto sumLoop = scf::ForOp::create(ob, e.loc, e.idx(0), e.idx(kKeyTile),
                                        e.idx(kWidth), ValueRange{zeroVec});
      {
        OpBuilder::InsertionGuard guard(ob);
        ob.setInsertionPointToStart(sumLoop.getBody());
        Value c = sumLoop.getInductionVar();
        Value sc = e.loadVec(scores, {r, c});
        Value p = math::ExpOp::create(
            ob, e.loc, arith::SubFOp::create(ob, e.loc, sc, newMaxVec));
        Value masked = arith::CmpFOp::create(
            ob, e.loc, arith::CmpFPredicate::OEQ, sc, negInfVec);
        p = arith::SelectOp::create(ob, e.loc, masked, zeroVec, p);
        e.storeVec(p, scores, {r, c});
        scf::YieldOp::create(
            ob, e.loc,
            arith::AddFOp::create(ob, e.loc, sumLoop.getRegionIterArgs()[0], p)
                .getResult());
      }
      Value tileSum = vector::ReductionOp::create(
          ob, e.loc, vector::CombiningKind::ADD, sumLoop.getResult(0),
          arith::FastMathFlags::reassoc);
      Value oldSum = memref::LoadOp::create(ob, e.loc, runSum, r);
      Value newSum = arith::AddFOp::create(
          ob, e.loc, arith::MulFOp::create(ob, e.loc, oldSum, alpha), tileSum);
      memref::StoreOp::create(ob, e.loc, newSum, runSum, r);
      memref::StoreOp::create(ob, e.loc, newMax, runMax, r);
      Value alphaVec = e.splat(alpha);
      e.loop(e.idx(0), e.idx(plan.paddedValue), e.idx(kWidth), [&](Value c) {
        Value x = e.loadVec(acc, {r, c});
        e.storeVec(arith::MulFOp::create(ob, e.loc, x, alphaVec), acc, {r, c});
      });
    });
  }

  /// acc[r, :] += sum_jj p[r, jj] * v[kt + jj, :], one accumulator chunk
  /// kept in registers across the key tile.
  void buildValueStep(Value b, Value g, Value kt, Value count, Value probs,
                      Value acc) {
    OpBuilder &ob = e.b;
    e.loop(e.idx(0), e.idx(plan.paddedRows), e.idx(plan.rowBlock),
           [&](Value r0) {
      e.loop(e.idx(0), e.idx(plan.paddedValue), e.idx(kWidth), [&](Value c) {
        SmallVector<Value> init;
        for (int64_t i = 0; i < plan.rowBlock; ++i)
          init.push_back(e.loadVec(acc, {e.add(r0, e.idx(i)), c}));
        auto keys = scf::ForOp::create(ob, e.loc, e.idx(0), count, e.idx(1),
                                       init);
        {
          OpBuilder::InsertionGuard guard(ob);
          ob.setInsertionPointToStart(keys.getBody());
          Value jj = keys.getInductionVar();
          auto [vb, vj] = keyAddress(e, a, b, e.add(kt, jj));
          Value v = applyCacheScale(
              e, e.readChunk(a.value, {vb, g, vj, c}, plan.valueInBounds),
              a.valueScale, b, g);
          SmallVector<Value> sums;
          for (int64_t i = 0; i < plan.rowBlock; ++i) {
            Value p = memref::LoadOp::create(
                ob, e.loc, probs, ValueRange{e.add(r0, e.idx(i)), jj});
            sums.push_back(vector::FMAOp::create(
                ob, e.loc, e.splat(p), v, keys.getRegionIterArgs()[i]));
          }
          scf::YieldOp::create(ob, e.loc, sums);
        }
        for (int64_t i = 0; i < plan.rowBlock; ++i)
          e.storeVec(keys.getResult(i), acc, {e.add(r0, e.idx(i)), c});
      });
    });
  }

  /// out = sum_s acc_s e^(m_s - M) / sum_s l_s e^(m_s - M); 0 for rows with
  /// no visible key.
  void buildMerge(Value b, Value g, Value t, Value splits) {
    OpBuilder &ob = e.b;
    Value negInf = e.f32(-std::numeric_limits<double>::infinity());
    Value mIndex = e.idx(plan.paddedValue), lIndex = e.idx(plan.paddedValue + 1);
    e.loop(0, plan.rows, [&](Value r) {
      auto [head, row] = headAndRow(g, t, r);
      auto inRange = scf::IfOp::create(ob, e.loc, rowInRange(row));
      OpBuilder::InsertionGuard guard(ob);
      ob.setInsertionPointToStart(inRange.thenBlock());
      auto maxLoop = scf::ForOp::create(ob, e.loc, e.idx(0), splits, e.idx(1),
                                        ValueRange{negInf});
      {
        OpBuilder::InsertionGuard inner(ob);
        ob.setInsertionPointToStart(maxLoop.getBody());
        Value m = memref::LoadOp::create(
            ob, e.loc, scratch,
            ValueRange{b, g, t, maxLoop.getInductionVar(), r, mIndex});
        scf::YieldOp::create(
            ob, e.loc,
            arith::MaximumFOp::create(ob, e.loc, m,
                                      maxLoop.getRegionIterArgs()[0])
                .getResult());
      }
      Value globalMax = maxLoop.getResult(0);
      Value none = e.fcmp(arith::CmpFPredicate::OEQ, globalMax, negInf);
      // weight_s = e^(m_s - M) (0 for a split that saw no key).
      auto weightOf = [&](Value s) {
        Value m = memref::LoadOp::create(ob, e.loc, scratch,
                                         ValueRange{b, g, t, s, r, mIndex});
        Value w = math::ExpOp::create(
            ob, e.loc, arith::SubFOp::create(ob, e.loc, m, globalMax));
        Value empty = e.fcmp(arith::CmpFPredicate::OEQ, m, negInf);
        return e.select(empty, e.f32(0.0), w);
      };
      auto sumLoop = scf::ForOp::create(ob, e.loc, e.idx(0), splits, e.idx(1),
                                        ValueRange{e.f32(0.0)});
      {
        OpBuilder::InsertionGuard inner(ob);
        ob.setInsertionPointToStart(sumLoop.getBody());
        Value s = sumLoop.getInductionVar();
        Value l = memref::LoadOp::create(ob, e.loc, scratch,
                                         ValueRange{b, g, t, s, r, lIndex});
        Value term = arith::MulFOp::create(ob, e.loc, l, weightOf(s));
        scf::YieldOp::create(
            ob, e.loc,
            arith::AddFOp::create(ob, e.loc, sumLoop.getRegionIterArgs()[0], term)
                .getResult());
      }
      Value total = sumLoop.getResult(0);
      Value bad = arith::OrIOp::create(
          ob, e.loc, none,
          e.fcmp(arith::CmpFPredicate::OLE, total, e.f32(0.0)));
      Value inv = arith::DivFOp::create(ob, e.loc, e.f32(1.0), total);
      inv = e.select(bad, e.f32(0.0), inv);
      e.loop(e.idx(0), e.idx(plan.paddedValue), e.idx(kWidth), [&](Value c) {
        auto splitLoop = scf::ForOp::create(ob, e.loc, e.idx(0), splits,
                                            e.idx(1),
                                            ValueRange{e.splat(e.f32(0.0))});
        {
          OpBuilder::InsertionGuard inner(ob);
          ob.setInsertionPointToStart(splitLoop.getBody());
          Value s = splitLoop.getInductionVar();
          Value part = e.loadVec(scratch, {b, g, t, s, r, c});
          Value fma = vector::FMAOp::create(ob, e.loc, e.splat(weightOf(s)),
                                            part,
                                            splitLoop.getRegionIterArgs()[0]);
          scf::YieldOp::create(ob, e.loc, fma);
        }
        Value result = arith::MulFOp::create(ob, e.loc, splitLoop.getResult(0),
                                             e.splat(inv));
        e.writeChunk(result, a.out, {b, head, row, c}, plan.valueInBounds);
      });
    });
  }

  Emitter e;
  const FlashAttention &a;
  Plan plan;
  Value batch, queryLength, keysPerSplit, scratch;
  Value offset; ///< the current work item's query offset
};

} // namespace

Value mlir::attn::stackTile(Emitter &e, const FlashAttention &a,
                            ArrayRef<int64_t> shape) {
  IntegerAttr alignment;
  if (a.tileAlignment > 0)
    alignment = e.b.getI64IntegerAttr(a.tileAlignment);
  return memref::AllocaOp::create(e.b, e.loc,
                                  MemRefType::get(shape, e.b.getF32Type()),
                                  ValueRange{}, ValueRange{}, alignment)
      .getResult();
}

std::tuple<Value, Value, Value> mlir::attn::safeHeadAndRow(Emitter &e,
                                                          const Plan &plan,
                                                          Value g, Value t,
                                                          Value r) {
  Value local = e.div(r, e.idx(plan.queryTile));
  Value head = e.add(e.mul(g, e.idx(plan.group)), local);
  Value row = e.add(e.mul(t, e.idx(plan.queryTile)),
                    e.rem(r, e.idx(plan.queryTile)));
  Value real = e.cmp(arith::CmpIPredicate::ult, r, e.idx(plan.rows));
  Value firstHead = e.mul(g, e.idx(plan.group));
  return {e.select(real, head, firstHead), row, real};
}

Value mlir::attn::hiddenByPosition(Emitter &e, const FlashAttention &a,
                                   Value offset, Value row, Value j) {
  Value p = e.add(row, offset);
  Value hidden;
  auto hide = [&](Value c) {
    hidden = hidden ? arith::OrIOp::create(e.b, e.loc, hidden, c).getResult()
                    : c;
  };
  if (a.causal)
    hide(e.cmp(arith::CmpIPredicate::sgt, j, p));
  if (a.windowRight)
    hide(e.cmp(arith::CmpIPredicate::sgt, j, e.add(p, e.idx(*a.windowRight))));
  if (a.windowLeft)
    hide(e.cmp(arith::CmpIPredicate::slt, j, e.sub(p, e.idx(*a.windowLeft))));
  return hidden;
}

Value mlir::attn::applyMask(Emitter &e, Value mask, Value score, Value b,
                            Value head, Value row, Value j) {
  auto type = cast<MemRefType>(mask.getType());
  int64_t rank = type.getRank();
  Value full[4] = {b, head, row, j};
  SmallVector<Value> indices;
  for (int64_t d = 0; d < rank; ++d) {
    int64_t fullDim = 4 - rank + d;
    int64_t size = type.getDimSize(d);
    if (size == 1) {
      indices.push_back(e.idx(0));
    } else if (ShapedType::isDynamic(size) && fullDim != 3) {
      Value isOne = e.cmp(arith::CmpIPredicate::eq, e.dim(mask, d), e.idx(1));
      indices.push_back(e.select(isOne, e.idx(0), full[fullDim]));
    } else {
      indices.push_back(full[fullDim]);
    }
  }
  Value entry = memref::LoadOp::create(e.b, e.loc, mask, indices);
  if (entry.getType().isInteger(1))
    return e.select(entry, score,
                    e.f32(-std::numeric_limits<double>::infinity()));
  return arith::AddFOp::create(e.b, e.loc, score, e.toF32(entry));
}

void mlir::attn::buildFlashAttention(OpBuilder &b, Location loc,
                                     const FlashAttention &attn) {
  KernelBuilder(b, loc, attn).build();
}
