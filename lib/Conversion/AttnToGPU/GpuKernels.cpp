//===- GpuKernels.cpp - build the attention kernels with gpu/vector ops ---===//
//
// Kernels are gpu.func bodies of scalar and 1-D vector ops (the NVVM
// lowering of MLIR 22 handles no n-D vector ops). Scores and softmax are in
// f32 and in log2 units (exp2 lowers to ex2.approx).
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/Support/MathExtras.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::attn::gpu_kernels;

std::pair<Value, Value> PartialBuilder::keyRange() {
  // The end of the row's keys and the row's absolute position (for causal
  // and the window).
  Value end, qpos;
  if (p.decode) {
    Value pos = readPosition(k, arg(at.position), batch);
    rowStart = pos;
    Value len = k.add(pos, k.idx(p.newKeys));
    // The check kernel ran first: a bad position or table entry anywhere
    // in the batch left the record set (one load a block).
    inRange = errorRecordClear(k, arg(at.error));
    end = k.select(inRange, len, k.idx(0));
    qpos = k.add(k.sub(len, k.idx(p.queryLen)), row);
    if (p.decodeCausal)
      end = k.min(end, k.add(qpos, k.idx(1)));
  } else {
    end = k.idx(p.keyLen);
    qpos = p.causalOffset ? k.add(row, k.idx(*p.causalOffset)) : row;
    if (p.causalOffset)
      end = k.min(end, k.add(qpos, k.idx(1)));
  }
  if (at.kvLens >= 0) {
    Value len = k.toIndex(k.load(arg(at.kvLens), {batch}));
    end = k.min(end, len);
  }
  if (p.windowRight)
    end = k.min(end, k.add(qpos, k.idx(*p.windowRight + 1)));
  Value begin = k.idx(0);
  if (p.windowLeft)
    begin = k.max(begin, k.sub(qpos, k.idx(*p.windowLeft)));
  return {begin, k.max(end, begin)};
}

Value PartialBuilder::visible(Value j, Value stop) {
  Value inRange = k.lt(j, stop);
  if (at.tree < 0)
    return inRange;
  return k.andI(inRange, keptByTree(j));
}

/// The score of key j for `head` in log2 units; -inf where not visible.
Value PartialBuilder::score(Value dot, Value head, Value j, Value valid) {
  Value s = dot;
  if (p.softcap)
    s = k.softcap(s, *p.softcap);
  if (at.mask >= 0) {
    Value mask = arg(at.mask);
    auto type = cast<MemRefType>(mask.getType());
    int64_t rank = type.getRank();
    Value full[4] = {batch, head, row, j};
    SmallVector<Value> indices;
    for (int64_t d = 0; d < rank; ++d)
      indices.push_back(type.getDimSize(d) == 1 ? k.idx(0)
                                                : full[4 - rank + d]);
    // Keys past the end are clamped to a valid index (their score is
    // dropped below).
    Value jMax = k.idx(type.getDimSize(rank - 1) - 1);
    if (type.getDimSize(rank - 1) != 1)
      indices.back() = k.min(j, jMax);
    Value entry = k.load(mask, indices);
    if (entry.getType().isInteger(1))
      valid = k.andI(valid, entry);
    else
      s = k.fadd(s, k.toF32(entry));
  }
  return k.select(valid, k.fmul(s, k.f32(kLog2e)), k.f32(-kInf));
}

void PartialBuilder::setup() {
  const int64_t HB = p.headsPerBlock;
  tid = gpu::ThreadIdOp::create(k.b, k.loc, gpu::Dimension::x);
  lane = k.rem(tid, 32);
  warp = k.div(tid, 32);
  split = gpu::BlockIdOp::create(k.b, k.loc, gpu::Dimension::x);
  Value y = gpu::BlockIdOp::create(k.b, k.loc, gpu::Dimension::y);
  row = gpu::BlockIdOp::create(k.b, k.loc, gpu::Dimension::z);
  headChunk = k.rem(y, p.headChunks);
  Value bg = k.div(y, p.headChunks);
  kvHead = k.rem(bg, p.kvHeads);
  batch = k.div(bg, p.kvHeads);

  // Local head r is query head kvHead * G + headChunk * HB + r; the padding
  // heads of the last chunk compute the group's last head and store nothing.
  firstHead = k.add(k.mul(kvHead, k.idx(p.group)), k.mul(headChunk, k.idx(HB)));
  lastHead = k.add(k.mul(kvHead, k.idx(p.group)), k.idx(p.group - 1));
  for (int64_t r = 0; r < HB; ++r) {
    Value h = k.add(firstHead, k.idx(r));
    Value real = k.lt(k.add(k.mul(headChunk, k.idx(HB)), k.idx(r)),
                      k.idx(p.group));
    heads.push_back(k.select(real, h, lastHead));
  }
}

std::pair<Value, Value> PartialBuilder::splitRange(int64_t perIteration) {
  auto [first, end] = keyRange();
  Value perIter = k.idx(perIteration);
  Value span = k.sub(end, first);
  Value chunk = k.mul(k.ceilDiv(k.ceilDiv(span, k.idx(p.splits)), perIter),
                      perIter);
  Value begin = k.add(first, k.mul(split, chunk));
  return {begin, k.min(k.add(begin, chunk), end)};
}

void PartialBuilder::buildCudaCores(Value smem) {
  const int64_t L = p.lanesPerKey, HB = p.headsPerBlock;
  Value sub = k.div(lane, L);
  Value part = k.rem(lane, L);
  SmallVector<Value> chunkIdx, chunkOk; // per key chunk t of this lane
  SmallVector<Value> vchunkIdx, vchunkOk;
  auto chunkOf = [&](int64_t t, int64_t chunks, SmallVector<Value> &index,
                     SmallVector<Value> &ok) {
    Value c = k.add(part, k.idx(t * L));
    if (chunks % L == 0) {
      index.push_back(c);
      ok.push_back(nullptr);
      return;
    }
    ok.push_back(k.lt(c, k.idx(chunks)));
    index.push_back(k.min(c, k.idx(chunks - 1)));
  };
  for (int64_t t = 0; t < p.keyPerLane; ++t)
    chunkOf(t, p.keyChunks, chunkIdx, chunkOk);
  for (int64_t t = 0; t < p.valuePerLane; ++t)
    chunkOf(t, p.valueChunks, vchunkIdx, vchunkOk);
  Value vecSize = k.idx(p.vec);

  // This lane's chunks of the queries, pre-multiplied by the scale (and
  // the key cache's scale of this batch row and KV head: q . (k s) =
  // (q s) . k).
  Value qScale = k.f32(p.scale);
  if (at.keyScale >= 0)
    qScale = k.fmul(qScale, k.load(arg(at.keyScale), {batch, kvHead}));
  SmallVector<SmallVector<Value>> q(HB);
  for (int64_t r = 0; r < HB; ++r)
    for (int64_t t = 0; t < p.keyPerLane; ++t) {
      Value v = k.loadVec(arg(at.query),
                          {batch, heads[r], row, k.mul(chunkIdx[t], vecSize)},
                          p.vec);
      v = k.fmul(v, k.splat(qScale, p.vec));
      if (chunkOk[t])
        v = k.select(k.splat(chunkOk[t], p.vec), v, k.zeros(p.vec));
      q[r].push_back(v);
    }

  // This split's keys: [begin, stop) in steps of keysPerIteration.
  auto [begin, stop] = splitRange(p.keysPerIteration());
  Value perIter = k.idx(p.keysPerIteration());

  SmallVector<Value> init;
  for (int64_t r = 0; r < HB; ++r) {
    init.push_back(k.f32(-kInf));
    init.push_back(k.f32(0));
    for (int64_t t = 0; t < p.valuePerLane; ++t)
      init.push_back(k.zeros(p.vec));
  }
  const int64_t stateSize = 2 + p.valuePerLane;
  Value keyBase = k.add(k.mul(warp, k.idx(32 / L)), sub);
  auto loop = scf::ForOp::create(k.b, k.loc, begin, stop, perIter, init);
  {
    OpBuilder::InsertionGuard guard(k.b);
    k.b.setInsertionPointToStart(loop.getBody());
    Value it = loop.getInductionVar();
    ValueRange state = loop.getRegionIterArgs();
    // All loads of the iteration first: bytes in flight.
    SmallVector<Value> js, valid;
    SmallVector<SmallVector<Value>> keys(p.unroll), values(p.unroll);
    for (int64_t u = 0; u < p.unroll; ++u) {
      Value j = k.add(it, k.add(k.idx(u * p.keysPerStep()), keyBase));
      js.push_back(j);
      valid.push_back(visible(j, stop));
      // Row j of the caches (clamped): (batch, kvHead, j), its ring slot
      // or, paged, its page and slot (one table load for the key and the
      // value).
      SmallVector<Value> cacheAt = cacheRow(j);
      for (int64_t t = 0; t < p.keyPerLane; ++t)
        keys[u].push_back(loadCacheVec(
            k, arg(at.key), withColumn(cacheAt, k.mul(chunkIdx[t], vecSize)),
            p.vec));
      for (int64_t t = 0; t < p.valuePerLane; ++t)
        values[u].push_back(loadCacheVec(
            k, arg(at.value),
            withColumn(cacheAt, k.mul(vchunkIdx[t], vecSize)), p.vec));
    }
    // Values of keys past the end may be anything (NaN): zero them.
    for (int64_t u = 0; u < p.unroll; ++u)
      for (Value &v : values[u])
        v = k.select(k.splat(valid[u], p.vec), v, k.zeros(p.vec));
    SmallVector<Value> yields;
    for (int64_t r = 0; r < HB; ++r) {
      SmallVector<Value> scores;
      for (int64_t u = 0; u < p.unroll; ++u) {
        Value dot = k.fmul(q[r][0], keys[u][0]);
        for (int64_t t = 1; t < p.keyPerLane; ++t)
          dot = k.fma(q[r][t], keys[u][t], dot);
        Value s = k.reduceAdd(dot);
        for (int64_t off = 1; off < L; off *= 2)
          s = k.fadd(s, k.shuffleXor(s, off));
        scores.push_back(score(s, heads[r], js[u], valid[u]));
      }
      Value m = state[r * stateSize];
      Value l = state[r * stateSize + 1];
      Value mNew = m;
      for (Value s : scores)
        mNew = k.fmax(mNew, s);
      Value safe = k.select(k.isNegInf(mNew), k.f32(0), mNew);
      Value alpha = k.exp2(k.fsub(m, safe));
      SmallVector<Value> probs;
      Value lNew = k.fmul(l, alpha);
      for (Value s : scores) {
        probs.push_back(k.exp2(k.fsub(s, safe)));
        lNew = k.fadd(lNew, probs.back());
      }
      yields.push_back(mNew);
      yields.push_back(lNew);
      Value alphaVec = k.splat(alpha, p.vec);
      for (int64_t t = 0; t < p.valuePerLane; ++t) {
        Value acc = k.fmul(state[r * stateSize + 2 + t], alphaVec);
        for (int64_t u = 0; u < p.unroll; ++u)
          acc = k.fma(k.splat(probs[u], p.vec), values[u][t], acc);
        yields.push_back(acc);
      }
    }
    scf::YieldOp::create(k.b, k.loc, yields);
  }

  // Merge the lanes that took other keys: first within the warp, then the
  // warps through shared memory.
  // The value cache's scale (one per batch row and KV head) applies to
  // the whole accumulator: sum p (v s) = s sum p v.
  Value vScale;
  if (at.valueScale >= 0)
    vScale = k.splat(k.load(arg(at.valueScale), {batch, kvHead}), p.vec);
  SmallVector<HeadState> states(HB);
  for (int64_t r = 0; r < HB; ++r) {
    states[r].max = loop.getResult(r * stateSize);
    states[r].sum = loop.getResult(r * stateSize + 1);
    for (int64_t t = 0; t < p.valuePerLane; ++t) {
      Value acc = loop.getResult(r * stateSize + 2 + t);
      states[r].acc.push_back(vScale ? k.fmul(acc, vScale) : acc);
    }
  }
  for (int64_t off = L; off < 32; off *= 2)
    for (HeadState &s : states) {
      HeadState other;
      other.max = k.shuffleXor(s.max, off);
      other.sum = k.shuffleXor(s.sum, off);
      for (Value acc : s.acc) {
        Value o = k.zeros(p.vec);
        for (int64_t e = 0; e < p.vec; ++e) {
          Value x = vector::ExtractOp::create(k.b, k.loc, acc, e);
          o = vector::InsertOp::create(k.b, k.loc, k.shuffleXor(x, off), o, e);
        }
        other.acc.push_back(o);
      }
      combine(k, s, other);
    }
  // smem[warp][r][0..Dv) = acc, [Dv] = max, [Dv + 1] = sum; lanes of the
  // first key of the warp write.
  Value first = k.cmp(arith::CmpIPredicate::eq, sub, k.idx(0));
  auto write = scf::IfOp::create(k.b, k.loc, first, /*withElse=*/false);
  {
    OpBuilder::InsertionGuard guard(k.b);
    k.b.setInsertionPointToStart(&write.getThenRegion().front());
    for (int64_t r = 0; r < HB; ++r) {
      Value rr = k.idx(r);
      for (int64_t t = 0; t < p.valuePerLane; ++t) {
        Value offset = k.mul(vchunkIdx[t], vecSize);
        if (!vchunkOk[t]) {
          k.storeVec(states[r].acc[t], smem, {warp, rr, offset});
          continue;
        }
        auto guardIf = scf::IfOp::create(k.b, k.loc, vchunkOk[t], false);
        OpBuilder::InsertionGuard g2(k.b);
        k.b.setInsertionPointToStart(&guardIf.getThenRegion().front());
        k.storeVec(states[r].acc[t], smem, {warp, rr, offset});
      }
      k.store(states[r].max, smem, {warp, rr, k.idx(p.valueDim)});
      k.store(states[r].sum, smem, {warp, rr, k.idx(p.valueDim + 1)});
    }
  }
}

void PartialBuilder::finish(Value smem) {
  const int64_t HB = p.headsPerBlock;
  gpu::BarrierOp::create(k.b, k.loc);

  // Every thread finishes some (head, d) pairs.
  Value result = arg(at.result);
  Value step = k.idx(kThreads);
  Value total = k.idx(HB * p.valueDim);
  Value nan = k.f32(std::numeric_limits<double>::quiet_NaN());
  auto fin = scf::ForOp::create(k.b, k.loc, tid, total, step);
  {
    OpBuilder::InsertionGuard guard(k.b);
    k.b.setInsertionPointToStart(fin.getBody());
    Value e = fin.getInductionVar();
    Value r = k.div(e, p.valueDim);
    Value d = k.rem(e, p.valueDim);
    Value m = k.f32(-kInf);
    SmallVector<Value> ms, ls;
    for (int64_t w = 0; w < kWarps; ++w) {
      ms.push_back(k.load(smem, {k.idx(w), r, k.idx(p.valueDim)}));
      ls.push_back(k.load(smem, {k.idx(w), r, k.idx(p.valueDim + 1)}));
      m = k.fmax(m, ms.back());
    }
    Value safe = k.select(k.isNegInf(m), k.f32(0), m);
    Value l = k.f32(0), acc = k.f32(0);
    for (int64_t w = 0; w < kWarps; ++w) {
      Value c = k.exp2(k.fsub(ms[w], safe));
      l = k.fadd(l, k.fmul(c, ls[w]));
      acc = k.fadd(acc, k.fmul(c, k.load(smem, {k.idx(w), r, d})));
    }
    if (p.decode) // a position outside the cache gives NaN, as on the CPU
      l = k.select(inRange, l, nan);
    // The global head of local head r (padding heads store nothing).
    Value head = k.add(firstHead, r);
    Value real = k.lt(k.add(k.mul(headChunk, k.idx(HB)), r), k.idx(p.group));
    auto store = scf::IfOp::create(k.b, k.loc, real, false);
    OpBuilder::InsertionGuard g2(k.b);
    k.b.setInsertionPointToStart(&store.getThenRegion().front());
    if (p.splits == 1) {
      Value zero = arith::CmpFOp::create(k.b, k.loc, arith::CmpFPredicate::OEQ,
                                         l, k.f32(0));
      Value out = k.select(zero, k.f32(0), k.fdiv(acc, l));
      k.store(k.fromF32(out, p.outType), result, {batch, head, row, d});
    } else {
      k.store(acc, result, {split, batch, head, row, d});
      auto firstD = scf::IfOp::create(
          k.b, k.loc, k.cmp(arith::CmpIPredicate::eq, d, k.idx(0)), false);
      k.b.setInsertionPointToStart(&firstD.getThenRegion().front());
      k.store(m, result, {split, batch, head, row, k.idx(p.valueDim)});
      k.store(l, result, {split, batch, head, row, k.idx(p.valueDim + 1)});
    }
  }
  gpu::ReturnOp::create(k.b, k.loc);
}

int64_t mlir::attn::gpu_kernels::sharedBytes(int64_t valueDim,
                                             int64_t headsPerBlock) {
  return kWarps * headsPerBlock * llvm::alignTo(valueDim + 2, 4) * 4;
}

bool mlir::attn::gpu_kernels::useTensorCores(const AttentionPlan &p) {
  // f16/bf16 queries; caches of the same type or 8-bit codes (converted to
  // it as they are loaded).
  Type t = p.queryType;
  bool floatCaches = p.keyType == t && p.valueType == t;
  bool codes = p.quantized && p.keyType == p.valueType;
  return p.group >= 4 && (t.isF16() || t.isBF16()) && (floatCaches || codes) &&
         p.headDim % 32 == 0 && p.headDim <= 128 &&
         (p.valueDim == 64 || p.valueDim == 128);
}

void mlir::attn::gpu_kernels::chooseTiling(AttentionPlan &p,
                                           int64_t multiprocessors) {
  if (useTensorCores(p)) {
    p.tensorCores = true;
    // 16 query heads a block (the rows of the mma); larger groups are cut
    // into balanced chunks whose blocks read the same keys, mostly from L2.
    p.headChunks = llvm::divideCeil(p.group, 16);
    p.headsPerBlock = llvm::divideCeil(p.group, p.headChunks);
    p.vec = 8;
    p.lanesPerKey = 1;
    p.keyChunks = p.keyPerLane = p.valueChunks = p.valuePerLane = 0;
    p.unroll = 1;
    int64_t blocks = p.batch * p.kvHeads * p.headChunks * p.queryLen;
    // Three blocks a multiprocessor (164 registers, no spills; measured on
    // the H200: GQA 32K 248 us against 264 at two). When the blocks alone
    // fill more than a wave, two a multiprocessor if that wastes less of
    // the last wave (B=64, Hkv=8: 512 blocks, 257 us at two, 286 at three).
    auto filled = [&](int64_t perSM) {
      int64_t wave = perSM * multiprocessors;
      return double(blocks) / double(llvm::divideCeil(blocks, wave) * wave);
    };
    p.blocksPerSM = 3;
    if (blocks > 3 * multiprocessors && filled(2) > 1.07 * filled(3))
      p.blocksPerSM = 2;
    // Splits fill one wave; each takes at least four iterations (the fixed
    // cost of a block and the merge of many splits outweigh shorter ones:
    // B=1 MQA 32K 22 us at 128 splits, 28 at 198).
    int64_t wanted =
        std::max<int64_t>(1, p.blocksPerSM * multiprocessors / blocks);
    int64_t maxSplits =
        std::max<int64_t>(1, p.keySpan() / (4 * p.keysPerIteration()));
    p.splits = std::clamp<int64_t>(wanted, 1, maxSplits);
    return;
  }
  int64_t bytes = std::max({p.queryType.getIntOrFloatBitWidth(),
                            p.keyType.getIntOrFloatBitWidth(),
                            p.valueType.getIntOrFloatBitWidth()}) / 8;
  p.vec = 1;
  for (int64_t v : {8, 4, 2})
    if (v * bytes <= 16 && p.headDim % v == 0 && p.valueDim % v == 0) {
      p.vec = v;
      break;
    }
  p.keyChunks = p.headDim / p.vec;
  p.valueChunks = p.valueDim / p.vec;
  p.lanesPerKey = std::min<int64_t>(
      32, llvm::PowerOf2Ceil(std::max(p.keyChunks, p.valueChunks)));
  p.keyPerLane = llvm::divideCeil(p.keyChunks, p.lanesPerKey);
  p.valuePerLane = llvm::divideCeil(p.valueChunks, p.lanesPerKey);
  // Up to 4 query heads share the keys in registers (126 registers a
  // thread on sm_90a, four blocks a multiprocessor; 8 heads took 210 and
  // halved the occupancy); larger groups are cut into balanced chunks (the
  // last one padded) whose blocks read the same keys, mostly from L2.
  int64_t maxHeads = std::max<int64_t>(1, 4 / p.keyPerLane);
  // The block's merge buffer (4 warps x heads x Dv) stays within the 48 KiB
  // of static shared memory.
  while (maxHeads > 1 && sharedBytes(p.valueDim, maxHeads) > kMaxSharedBytes)
    --maxHeads;
  p.headChunks = llvm::divideCeil(p.group, maxHeads);
  p.headsPerBlock = llvm::divideCeil(p.group, p.headChunks);
  p.unroll = 4;
  // One wave of blocks at four a multiprocessor (the register cap of the
  // partial kernel): measured on the H200, a second, partly filled wave cost
  // more (MHA 32K: 1039 us at 5 splits, 959 us at 3) than fewer, longer
  // splits.
  int64_t blocks = p.batch * p.kvHeads * p.headChunks * p.queryLen;
  int64_t wanted =
      std::max<int64_t>(1, p.blocksPerSM * multiprocessors / blocks);
  int64_t maxSplits =
      std::max<int64_t>(1, p.keySpan() / (2 * p.keysPerIteration()));
  p.splits = std::clamp<int64_t>(wanted, 1, maxSplits);
}

MemRefType mlir::attn::gpu_kernels::workspaceType(MLIRContext *ctx,
                                                  const AttentionPlan &p) {
  return MemRefType::get(
      {p.splits, p.batch, p.qHeads, p.queryLen, p.valueDim + 2},
      Float32Type::get(ctx));
}

gpu::GPUFuncOp mlir::attn::gpu_kernels::buildPartialKernel(
    OpBuilder &b, Location loc, gpu::GPUModuleOp module, StringRef name,
    const AttentionPlan &plan, TypeRange argTypes, const PartialArgs &args) {
  // Rows padded to 16 bytes so that the vector stores into them are aligned.
  auto smemType = MemRefType::get(
      {kWarps, plan.headsPerBlock, int64_t(llvm::alignTo(plan.valueDim + 2, 4))},
      b.getF32Type(),
      MemRefLayoutAttrInterface(),
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup));
  gpu::GPUFuncOp func =
      createKernel(b, loc, module, name, argTypes, TypeRange{smemType});
  // 128 threads, and registers capped so that four blocks fit on a
  // multiprocessor (ptxas would otherwise take up to ~145 for 4 heads).
  func.setKnownBlockSize(b.getDenseI32ArrayAttr({int32_t(kThreads), 1, 1}));
  func->setAttr("nvvm.minctasm", b.getI32IntegerAttr(plan.blocksPerSM));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&func.getBody().front());
  PartialBuilder(b, loc, plan, func.getArguments(), args)
      .build(func.getWorkgroupAttributions().front());
  return func;
}

gpu::GPUFuncOp mlir::attn::gpu_kernels::buildMergeKernel(
    OpBuilder &b, Location loc, gpu::GPUModuleOp module, StringRef name,
    const AttentionPlan &p, TypeRange argTypes) {
  gpu::GPUFuncOp func = createKernel(b, loc, module, name, argTypes);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&func.getBody().front());
  KB k{b, loc};
  Value ws = func.getArgument(0), out = func.getArgument(1);
  Value tid = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value bid = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
  Value row = k.rem(bid, p.queryLen);
  Value head = k.rem(k.div(bid, p.queryLen), p.qHeads);
  Value batch = k.div(bid, p.queryLen * p.qHeads);
  auto loop = scf::ForOp::create(b, loc, tid, k.idx(p.valueDim),
                                 k.idx(kThreads));
  b.setInsertionPointToStart(loop.getBody());
  Value d = loop.getInductionVar();
  Value m = k.f32(-kInf);
  auto maxLoop = scf::ForOp::create(b, loc, k.idx(0), k.idx(p.splits),
                                    k.idx(1), ValueRange{m});
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(maxLoop.getBody());
    Value s = maxLoop.getInductionVar();
    Value ms = k.load(ws, {s, batch, head, row, k.idx(p.valueDim)});
    scf::YieldOp::create(b, loc, k.fmax(maxLoop.getRegionIterArgs()[0], ms));
  }
  m = maxLoop.getResult(0);
  Value safe = k.select(k.isNegInf(m), k.f32(0), m);
  auto sumLoop = scf::ForOp::create(b, loc, k.idx(0), k.idx(p.splits),
                                    k.idx(1), ValueRange{k.f32(0), k.f32(0)});
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(sumLoop.getBody());
    Value s = sumLoop.getInductionVar();
    Value ms = k.load(ws, {s, batch, head, row, k.idx(p.valueDim)});
    Value ls = k.load(ws, {s, batch, head, row, k.idx(p.valueDim + 1)});
    Value acc = k.load(ws, {s, batch, head, row, d});
    Value c = k.exp2(k.fsub(ms, safe));
    ValueRange carried = sumLoop.getRegionIterArgs();
    scf::YieldOp::create(b, loc,
                         ValueRange{k.fadd(carried[0], k.fmul(c, ls)),
                                    k.fadd(carried[1], k.fmul(c, acc))});
  }
  Value l = sumLoop.getResult(0), acc = sumLoop.getResult(1);
  Value zero = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, l,
                                     k.f32(0));
  Value result = k.select(zero, k.f32(0), k.fdiv(acc, l));
  k.store(k.fromF32(result, p.outType), out, {batch, head, row, d});
  b.setInsertionPointAfter(loop);
  gpu::ReturnOp::create(b, loc);
  return func;
}

gpu::GPUFuncOp mlir::attn::gpu_kernels::buildAppendKernel(
    OpBuilder &b, Location loc, gpu::GPUModuleOp module, StringRef name,
    const AttentionPlan &p, TypeRange argTypes, const DecodeArgs &at) {
  gpu::GPUFuncOp func = createKernel(b, loc, module, name, argTypes);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&func.getBody().front());
  KB k{b, loc};
  auto arg = [&](int i) -> Value { return func.getArgument(i); };
  Value tid = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value bid = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
  Value t = k.rem(bid, p.newKeys);
  Value g = k.rem(k.div(bid, p.newKeys), p.kvHeads);
  Value batch = k.div(bid, p.newKeys * p.kvHeads);
  // One bad row (or table entry) writes nothing anywhere, as on the CPU:
  // the check kernel ran first and set the record.
  Value inRange = errorRecordClear(k, arg(at.error));
  Value pos = readPosition(k, arg(at.position), batch);
  auto guardIf = scf::IfOp::create(b, loc, inRange, false);
  b.setInsertionPointToStart(&guardIf.getThenRegion().front());
  Value position = k.add(pos, t);
  // The cache row of the position: (batch, g, position), its ring slot
  // (overwriting position - W, which no query of this or a later step
  // sees), or the slot of the page that holds it.
  SmallVector<Value> row{batch, g, position};
  if (p.ring)
    row = {batch, g, k.rem(position, p.keyLen)};
  else if (p.paged)
    row = {pageOf(k, arg(at.table), batch, position, p), g,
           k.rem(position, p.pageSize)};
  for (auto [fresh, cache, scale, size] :
       {std::tuple{at.key, at.keyCache, at.keyScale, p.headDim},
        std::tuple{at.value, at.valueCache, at.valueScale, p.valueDim}}) {
    // The divisor of this row and head, loaded once per thread.
    Value s = scale >= 0 ? k.load(arg(scale), {batch, g}) : Value();
    auto loop = scf::ForOp::create(b, loc, tid, k.idx(size), k.idx(kThreads));
    OpBuilder::InsertionGuard g2(b);
    b.setInsertionPointToStart(loop.getBody());
    Value d = loop.getInductionVar();
    Value x = k.load(arg(fresh), {batch, g, t, d});
    Type cacheType = cast<MemRefType>(arg(cache).getType()).getElementType();
    if (x.getType() != cacheType || s) {
      // x / s as an f32 division, as the CPU and the reference compute it.
      x = k.toF32(x);
      if (s)
        x = k.fdiv(x, s);
      x = encodeCacheElement(k, x, cacheType);
    }
    SmallVector<Value> indices(row);
    indices.push_back(d);
    k.store(x, arg(cache), indices);
  }
  b.setInsertionPointAfter(guardIf);
  gpu::ReturnOp::create(b, loc);
  return func;
}
