//===- LatentDecode.cpp - latent (MLA) attn.decode on the GPU -------------===//
//
// An attn.decode with latent(r) is MQA with keys [latent, rope] (D = r +
// rope) and values the latent (Dv = r): every query head reads the same
// cache rows. Kernels:
//   check, append  the ones of every decode step (GpuKernels.h), the append
//                  on a plan whose "keys" are the latent and "values" the
//                  rotary part;
//   partial        block (head chunk, split, batch * query row): its share
//                  of the keys in tiles of N keys; a tile's rows [latent,
//                  rope] go into shared memory once and serve both the
//                  scores and, their first r columns, the values;
//   merge          (splits > 1) GpuKernels.cpp's merge of split results.
//
// A tile is four phases, a barrier after each:
//   load     all threads copy the tile's rows (zeros past the split's end,
//            so that P V never multiplies a stale NaN), with cp.async on
//            tensor cores;
//   scores   tensor cores (f16/bf16): the 16 heads of the block are the
//            rows of mma.sync m16n8k16; warp w takes every fourth k-step of
//            D (its query fragments stay in registers) and writes its
//            partial S [16, N] to shared memory. CUDA cores (any float
//            type): thread (head w, key lane) dots the row from shared
//            memory;
//   softmax  warp w owns heads w, w + 4, ...: lane j sums the partials of
//            key j, updates the head's running max and sum (log2 units) and
//            writes P (over the first partial) and the rescale factor;
//   P V      tensor cores: warp w owns r/4 value columns (16 x r/4 f32
//            accumulators in registers), P is the A operand, the B operand
//            comes from the tile's rows. CUDA cores: thread t owns columns
//            t, t + 128, ... of every head.
//
//===----------------------------------------------------------------------===//

#include "LatentDecode.h"
#include "KernelBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::gpu_kernels;

namespace {

constexpr int64_t kLatentWarps = 4;
constexpr int64_t kLatentThreads = 32 * kLatentWarps;
/// Heads of a block: the 16 rows of the mma, or one a warp on CUDA cores.
constexpr int64_t kTensorCoreHeads = 16;
constexpr int64_t kCudaCoreHeads = 4;
constexpr int64_t kSharedLimit = 48 * 1024; // static shared memory

/// The static description of a latent decode and how it is tiled.
struct LatentPlan {
  int64_t batch, heads, queryLen, newKeys, capacity, rank, rope;
  Type queryType, cacheType, outType;
  double scale;
  std::optional<double> softcap;
  std::optional<int64_t> windowLeft, windowRight;
  bool causal = false;

  bool tensorCores = false;
  int64_t headsPerBlock, headChunks;
  int64_t tileKeys;  // N: keys a tile (32 or fewer)
  int64_t rowStride; // elements of a tile row in shared memory (>= D)
  int64_t vec;       // elements a thread copies at once into the tile
  int64_t splits;

  int64_t dim() const { return rank + rope; }
  /// Columns of the P V operand a lane loads at once (tensor cores): r/32
  /// n-tiles a warp, whose power-of-two part up to 8.
  int64_t chunk() const {
    int64_t nTiles = rank / 32;
    return std::min<int64_t>(8, nTiles & -nTiles);
  }
  int64_t tileBytes() const {
    int64_t element = tensorCores ? cacheType.getIntOrFloatBitWidth() / 8 : 4;
    return tileKeys * rowStride * element;
  }
  /// The partial scores [warps or 1][heads][N or 32] (f32), the rescale
  /// factors [heads], the max and sum [heads][2], the queries (CUDA cores,
  /// [heads][D] f32).
  int64_t sharedBytes() const {
    int64_t s = tensorCores
                    ? kLatentWarps * headsPerBlock * tileKeys * 4
                    : headsPerBlock * 32 * 4 + headsPerBlock * dim() * 4;
    return tileBytes() + s + headsPerBlock * 3 * 4;
  }
  int64_t keySpan() const {
    if (!windowLeft || !(windowRight || causal))
      return capacity;
    int64_t right = windowRight ? *windowRight : 0;
    if (causal)
      right = std::min<int64_t>(right, 0);
    return std::min(capacity, *windowLeft + right + 1);
  }
};

/// Whether the tensor-core kernel covers the plan: queries and both caches
/// of one 16-bit float type, r a multiple of 32 (r/4 columns a warp, whole
/// n-tiles), rope a multiple of 16 (whole k-steps).
bool tensorCoresFit(const LatentPlan &p) {
  Type t = p.queryType;
  return (t.isF16() || t.isBF16()) && p.cacheType == t && p.rank % 32 == 0 &&
         p.rope % 16 == 0 && p.heads >= 4;
}

/// The tile shape of `p` on tensor cores or CUDA cores; false when no
/// tile fits in shared memory (tensor cores need 16 keys, a k-step of P V).
bool chooseTile(LatentPlan &p, bool tensorCores) {
  p.tensorCores = tensorCores;
  int64_t d = p.dim();
  if (p.tensorCores) {
    p.headsPerBlock = kTensorCoreHeads;
    p.vec = 8;
    // Rows 16 mod 64 elements apart: the score operand's 8-byte loads of
    // a quarter warp hit distinct banks.
    p.rowStride = d + ((16 - d % 64) + 64) % 64;
  } else {
    p.headsPerBlock = kCudaCoreHeads;
    int64_t bytes = std::max(p.queryType.getIntOrFloatBitWidth(),
                             p.cacheType.getIntOrFloatBitWidth()) / 8;
    p.vec = 1;
    for (int64_t v : {8, 4, 2})
      if (v * bytes <= 16 && p.rank % v == 0 && p.rope % v == 0) {
        p.vec = v;
        break;
      }
    // An odd f32 stride: the 32 lanes (keys) of a warp read 32 banks.
    p.rowStride = d | 1;
  }
  p.headChunks = llvm::divideCeil(p.heads, p.headsPerBlock);
  for (int64_t n : {32, 16, 8}) {
    p.tileKeys = n;
    if (n >= (tensorCores ? 16 : 8) && p.sharedBytes() <= kSharedLimit)
      return true;
  }
  return false;
}

/// Fills the tiling of `p`; false when no tile fits in shared memory.
bool chooseLatentTiling(LatentPlan &p, int64_t multiprocessors = 132) {
  if (!(tensorCoresFit(p) && chooseTile(p, true)) && !chooseTile(p, false))
    return false;
  // Splits fill waves of three blocks a multiprocessor (168 registers on
  // tensor cores): at least one wave, then the fewest splits whose last
  // wave is 90% full (B=64, 128 heads: 512 blocks are 1.29 waves, 3 splits
  // 3.88); each split takes at least two tiles.
  int64_t slots = 3 * multiprocessors;
  int64_t blocks = p.batch * p.queryLen * p.headChunks;
  int64_t maxSplits = std::max<int64_t>(1, p.keySpan() / (2 * p.tileKeys));
  auto filled = [&](int64_t s) {
    int64_t n = blocks * s;
    return double(n) / double(llvm::divideCeil(n, slots) * slots);
  };
  int64_t first = std::clamp<int64_t>(slots / blocks, 1, maxSplits);
  p.splits = first;
  for (int64_t s = first; s <= std::min(maxSplits, first + 8); ++s) {
    if (filled(s) > filled(p.splits))
      p.splits = s;
    if (filled(s) >= 0.9)
      break;
  }
  return true;
}

/// Kernel arguments of the partial kernel.
enum Arg { kQuery, kLatent, kRope, kPosition, kRecord, kResult };


/// Builds the partial kernel's body.
class LatentBuilder {
public:
  LatentBuilder(OpBuilder &b, Location loc, const LatentPlan &p,
                ValueRange args, ValueRange smem)
      : k{b, loc}, p(p), args(args), tile(smem[0]), scores(smem[1]),
        rescale(smem[2]), stats(smem[3]),
        queries(p.tensorCores ? Value() : smem[4]) {}

  void build();

private:
  KB k;
  const LatentPlan &p;
  ValueRange args;
  Value tile, scores, rescale, stats, queries;

  Value tid, lane, warp, headChunk, split, batch, row;
  Value inRange, begin, stop;

  Value arg(Arg a) { return args[a]; }
  void barrier() { gpu::BarrierOp::create(k.b, k.loc); }
  /// Query head of local head `h` (clamped: padding heads compute the last
  /// head and store nothing) and whether it is real.
  std::pair<Value, Value> headOf(Value h) {
    Value head = k.add(k.mul(headChunk, k.idx(p.headsPerBlock)), h);
    Value real = k.lt(head, k.idx(p.heads));
    return {k.min(head, k.idx(p.heads - 1)), real};
  }
  void setup();
  void loadTile(Value base);
  /// The softmax phase: returns the warp's new (max, sum) pairs.
  SmallVector<Value> softmax(Value base, ValueRange state);
  /// Scores, P V and the output of each kind of core.
  void buildTensorCores();
  void buildCudaCores();
  /// Writes the heads' max and sum (warp-held state) to `stats`.
  void writeStats(ValueRange state);
  /// With split-K: the first `heads` threads copy their head's running
  /// max and sum (from `stats`) after the split's partial output.
  void writeSplitStats(int64_t heads);
  /// out or workspace at (local head h, column c) from accumulator `acc`
  /// (a vector of consecutive columns).
  void writeResult(Value h, Value column, Value acc);
};

void LatentBuilder::setup() {
  tid = gpu::ThreadIdOp::create(k.b, k.loc, gpu::Dimension::x);
  lane = k.rem(tid, 32);
  warp = k.div(tid, 32);
  headChunk = gpu::BlockIdOp::create(k.b, k.loc, gpu::Dimension::x);
  split = gpu::BlockIdOp::create(k.b, k.loc, gpu::Dimension::y);
  Value z = gpu::BlockIdOp::create(k.b, k.loc, gpu::Dimension::z);
  row = k.rem(z, p.queryLen);
  batch = k.div(z, p.queryLen);

  // The row's keys: the cache prefix up to the step's end, causal, window
  // (as PartialBuilder::keyRange for decode).
  Value pos = readPosition(k, arg(kPosition), batch);
  Value len = k.add(pos, k.idx(p.newKeys));
  inRange = errorRecordClear(k, arg(kRecord));
  Value end = k.select(inRange, len, k.idx(0));
  Value qpos = k.add(k.sub(len, k.idx(p.queryLen)), row);
  if (p.causal)
    end = k.min(end, k.add(qpos, k.idx(1)));
  if (p.windowRight)
    end = k.min(end, k.add(qpos, k.idx(*p.windowRight + 1)));
  Value first = k.idx(0);
  if (p.windowLeft)
    first = k.max(first, k.sub(qpos, k.idx(*p.windowLeft)));
  end = k.max(end, first);
  // This split's share, whole tiles each.
  Value n = k.idx(p.tileKeys);
  Value chunk = k.mul(
      k.ceilDiv(k.ceilDiv(k.sub(end, first), k.idx(p.splits)), n), n);
  begin = k.add(first, k.mul(split, chunk));
  stop = k.min(k.add(begin, chunk), end);
}

void LatentBuilder::loadTile(Value base) {
  if (p.tensorCores) {
    // cp.async, every piece of the tile in flight at once and no registers
    // (a load-then-store loop waits for each load in turn); zero-filled
    // past the split's end (src-size 0).
    auto token = nvgpu::DeviceAsyncTokenType::get(k.b.getContext());
    for (auto [cache, width, offset] :
         {std::tuple{arg(kLatent), p.rank, int64_t(0)},
          std::tuple{arg(kRope), p.rope, p.rank}}) {
      const int64_t perRow = width / 8, total = p.tileKeys * perRow;
      const int64_t rounds = llvm::divideCeil(total, kLatentThreads);
      for (int64_t i = 0; i < rounds; ++i) {
        Value piece = k.add(tid, k.idx(i * kLatentThreads));
        OpBuilder::InsertionGuard g(k.b);
        if (total % kLatentThreads != 0) {
          auto inside = scf::IfOp::create(k.b, k.loc,
                                          k.lt(piece, k.idx(total)), false);
          k.b.setInsertionPointToStart(&inside.getThenRegion().front());
        }
        Value j = k.div(piece, perRow);
        Value col = k.mul(k.rem(piece, perRow), k.idx(8));
        Value key = k.add(base, j);
        Value bytes = k.select(k.lt(key, stop), k.idx(8), k.idx(0));
        Value safeKey = k.min(key, k.idx(p.capacity - 1));
        nvgpu::DeviceAsyncCopyOp::create(
            k.b, k.loc, token, tile, ValueRange{j, k.add(col, k.idx(offset))},
            cache, ValueRange{batch, k.idx(0), safeKey, col},
            k.b.getIndexAttr(8), bytes, k.b.getUnitAttr());
      }
    }
    NVVM::CpAsyncCommitGroupOp::create(k.b, k.loc);
    NVVM::CpAsyncWaitGroupOp::create(k.b, k.loc, k.b.getI32IntegerAttr(0));
    return;
  }
  const int64_t v = p.vec, perRow = p.dim() / v, latentPieces = p.rank / v;
  Type element = p.cacheType;
  auto vecType = VectorType::get({v}, element);
  auto loop = scf::ForOp::create(k.b, k.loc, tid, k.idx(p.tileKeys * perRow),
                                 k.idx(kLatentThreads));
  OpBuilder::InsertionGuard guard(k.b);
  k.b.setInsertionPointToStart(loop.getBody());
  Value piece = loop.getInductionVar();
  Value j = k.div(piece, perRow), c = k.rem(piece, perRow);
  Value key = k.add(base, j);
  Value ok = k.lt(key, stop);
  Value safeKey = k.min(key, k.idx(p.capacity - 1));
  int64_t align = std::min<int64_t>(16, v * element.getIntOrFloatBitWidth() / 8);
  auto fromLatent = scf::IfOp::create(k.b, k.loc, TypeRange{vecType},
                                      k.lt(c, k.idx(latentPieces)),
                                      /*withElse=*/true);
  for (int64_t side = 0; side < 2; ++side) {
    OpBuilder::InsertionGuard g(k.b);
    Block &block = side == 0 ? fromLatent.getThenRegion().front()
                             : fromLatent.getElseRegion().front();
    k.b.setInsertionPointToStart(&block);
    Value cache = side == 0 ? arg(kLatent) : arg(kRope);
    Value col = side == 0 ? k.mul(c, k.idx(v))
                          : k.mul(k.sub(c, k.idx(latentPieces)), k.idx(v));
    Value x = vector::LoadOp::create(k.b, k.loc, vecType, cache,
                                     ValueRange{batch, k.idx(0), safeKey, col},
                                     /*nontemporal=*/false,
                                     llvm::MaybeAlign(align));
    scf::YieldOp::create(k.b, k.loc, x);
  }
  Value x = fromLatent.getResult(0);
  Value zero = arith::ConstantOp::create(k.b, k.loc, vecType,
                                         k.b.getZeroAttr(vecType));
  x = k.select(ok, x, zero);
  Value col = k.mul(c, k.idx(v));
  // f32 rows of odd stride, element by element.
  Value wide = k.toF32(x);
  for (int64_t e = 0; e < v; ++e)
    k.store(vector::ExtractOp::create(k.b, k.loc, wide, e), tile,
            {j, k.add(col, k.idx(e))});
}

SmallVector<Value> LatentBuilder::softmax(Value base, ValueRange state) {
  const int64_t perWarp = p.headsPerBlock / kLatentWarps;
  const int64_t partials = p.tensorCores ? kLatentWarps : 1;
  const int64_t width = p.tensorCores ? p.tileKeys : 32;
  Value key = k.add(base, lane);
  Value valid = k.andI(k.lt(lane, k.idx(p.tileKeys)), k.lt(key, stop));
  Value column = k.min(lane, k.idx(width - 1));
  Value first = k.cmp(arith::CmpIPredicate::eq, lane, k.idx(0));
  SmallVector<Value> next;
  for (int64_t i = 0; i < perWarp; ++i) {
    Value h = k.add(warp, k.idx(kLatentWarps * i));
    Value dot = k.load(scores, {k.idx(0), h, column});
    for (int64_t w = 1; w < partials; ++w)
      dot = k.fadd(dot, k.load(scores, {k.idx(w), h, column}));
    Value s = k.fmul(dot, k.f32(p.scale));
    if (p.softcap)
      s = k.softcap(s, *p.softcap);
    s = k.select(valid, k.fmul(s, k.f32(kLog2e)), k.f32(-kInf));
    Value m = state[2 * i], l = state[2 * i + 1];
    Value mNew = s;
    for (int64_t off = 1; off < 32; off *= 2)
      mNew = k.fmax(mNew, k.shuffleXor(mNew, off));
    mNew = k.fmax(mNew, m);
    Value safe = k.select(k.isNegInf(mNew), k.f32(0), mNew);
    Value alpha = k.exp2(k.fsub(m, safe));
    Value prob = k.exp2(k.fsub(s, safe));
    Value sum = prob;
    for (int64_t off = 1; off < 32; off *= 2)
      sum = k.fadd(sum, k.shuffleXor(sum, off));
    next.push_back(mNew);
    next.push_back(k.fadd(k.fmul(l, alpha), sum));
    // P over the first partial (each lane rewrites only what it read).
    auto write = scf::IfOp::create(k.b, k.loc, k.lt(lane, k.idx(width)),
                                   /*withElse=*/false);
    {
      OpBuilder::InsertionGuard g(k.b);
      k.b.setInsertionPointToStart(&write.getThenRegion().front());
      k.store(prob, scores, {k.idx(0), h, lane});
    }
    auto one = scf::IfOp::create(k.b, k.loc, first, /*withElse=*/false);
    OpBuilder::InsertionGuard g(k.b);
    k.b.setInsertionPointToStart(&one.getThenRegion().front());
    k.store(alpha, rescale, {h});
  }
  return next;
}

void LatentBuilder::writeStats(ValueRange state) {
  const int64_t perWarp = p.headsPerBlock / kLatentWarps;
  Value first = k.cmp(arith::CmpIPredicate::eq, lane, k.idx(0));
  auto one = scf::IfOp::create(k.b, k.loc, first, /*withElse=*/false);
  OpBuilder::InsertionGuard g(k.b);
  k.b.setInsertionPointToStart(&one.getThenRegion().front());
  for (int64_t i = 0; i < perWarp; ++i) {
    Value h = k.add(warp, k.idx(kLatentWarps * i));
    k.store(state[2 * i], stats, {h, k.idx(0)});
    // A position outside the cache gives NaN, as on the CPU.
    Value l = k.select(inRange, state[2 * i + 1],
                       k.f32(std::numeric_limits<double>::quiet_NaN()));
    k.store(l, stats, {h, k.idx(1)});
  }
}

void LatentBuilder::writeResult(Value h, Value column, Value acc) {
  auto [head, real] = headOf(h);
  auto store = scf::IfOp::create(k.b, k.loc, real, /*withElse=*/false);
  OpBuilder::InsertionGuard g(k.b);
  k.b.setInsertionPointToStart(&store.getThenRegion().front());
  Value result = arg(kResult);
  int64_t n = cast<VectorType>(acc.getType()).getNumElements();
  if (p.splits == 1) {
    Value l = k.load(stats, {h, k.idx(1)});
    Value zero =
        arith::CmpFOp::create(k.b, k.loc, arith::CmpFPredicate::OEQ, l, k.f32(0));
    Value inv = k.select(zero, k.f32(0), k.fdiv(k.f32(1), l));
    // 0 / 0 stays 0 for an empty row; NaN (a bad position) stays NaN.
    Value isNan = arith::CmpFOp::create(k.b, k.loc, arith::CmpFPredicate::UNO,
                                        l, l);
    inv = k.select(isNan, l, inv);
    k.storeVec(k.fmul(acc, k.splat(inv, n)), result,
               {batch, head, row, column});
    return;
  }
  // Workspace rows are r + 2 floats: element stores (no 16-byte alignment).
  for (int64_t e = 0; e < n; ++e)
    k.store(vector::ExtractOp::create(k.b, k.loc, acc, e), result,
            {split, batch, head, row, k.add(column, k.idx(e))});
}

void LatentBuilder::build() {
  setup();
  if (p.tensorCores)
    buildTensorCores();
  else
    buildCudaCores();
}

void LatentBuilder::buildCudaCores() {
  const int64_t HB = p.headsPerBlock, d = p.dim();
  const int64_t columnsPerThread = llvm::divideCeil(p.rank, kLatentThreads);
  // The block's queries into shared memory (f32).
  {
    auto loop = scf::ForOp::create(k.b, k.loc, tid, k.idx(HB * d),
                                   k.idx(kLatentThreads));
    OpBuilder::InsertionGuard g(k.b);
    k.b.setInsertionPointToStart(loop.getBody());
    Value e = loop.getInductionVar();
    Value h = k.div(e, d), c = k.rem(e, d);
    Value head = headOf(h).first;
    k.store(k.toF32(k.load(arg(kQuery), {batch, head, row, c})), queries,
            {h, c});
  }
  SmallVector<Value> columns;
  for (int64_t i = 0; i < columnsPerThread; ++i)
    columns.push_back(
        k.min(k.add(tid, k.idx(i * kLatentThreads)), k.idx(p.rank - 1)));

  SmallVector<Value> init;
  for (int64_t i = 0; i < HB / kLatentWarps; ++i)
    init.append({k.f32(-kInf), k.f32(0)});
  const int64_t stateSize = init.size();
  for (int64_t i = 0; i < HB * columnsPerThread; ++i)
    init.push_back(k.f32(0));
  auto loop = scf::ForOp::create(k.b, k.loc, begin, stop, k.idx(p.tileKeys),
                                 init);
  {
    OpBuilder::InsertionGuard guard(k.b);
    k.b.setInsertionPointToStart(loop.getBody());
    Value base = loop.getInductionVar();
    ValueRange state = loop.getRegionIterArgs();
    loadTile(base);
    barrier();
    // Scores: thread (head warp, key lane); lanes past the tile read its
    // last row and are masked in the softmax.
    for (int64_t i = 0; i < HB / kLatentWarps; ++i) {
      Value h = k.add(warp, k.idx(kLatentWarps * i));
      Value j = k.min(lane, k.idx(p.tileKeys - 1));
      auto dot = scf::ForOp::create(k.b, k.loc, k.idx(0), k.idx(d), k.idx(1),
                                    ValueRange{k.f32(0)});
      {
        OpBuilder::InsertionGuard g(k.b);
        k.b.setInsertionPointToStart(dot.getBody());
        Value c = dot.getInductionVar();
        Value prod = k.fmul(k.load(queries, {h, c}), k.load(tile, {j, c}));
        scf::YieldOp::create(k.b, k.loc,
                             k.fadd(dot.getRegionIterArgs()[0], prod));
      }
      k.store(dot.getResult(0), scores, {k.idx(0), h, lane});
    }
    barrier();
    SmallVector<Value> yields = softmax(base, state.take_front(stateSize));
    barrier();
    // P V: thread t owns columns t, t + 128, ... of every head.
    SmallVector<Value> acc;
    for (int64_t h = 0; h < HB; ++h) {
      Value alpha = k.load(rescale, {k.idx(h)});
      for (int64_t i = 0; i < columnsPerThread; ++i)
        acc.push_back(
            k.fmul(state[stateSize + h * columnsPerThread + i], alpha));
    }
    auto pv = scf::ForOp::create(k.b, k.loc, k.idx(0), k.idx(p.tileKeys),
                                 k.idx(1), acc);
    {
      OpBuilder::InsertionGuard g(k.b);
      k.b.setInsertionPointToStart(pv.getBody());
      Value j = pv.getInductionVar();
      ValueRange a = pv.getRegionIterArgs();
      SmallVector<Value> values, next;
      for (Value c : columns)
        values.push_back(k.load(tile, {j, c}));
      for (int64_t h = 0; h < HB; ++h) {
        Value prob = k.load(scores, {k.idx(0), k.idx(h), j});
        for (int64_t i = 0; i < columnsPerThread; ++i)
          next.push_back(arith::AddFOp::create(
              k.b, k.loc, a[h * columnsPerThread + i],
              k.fmul(prob, values[i])));
      }
      scf::YieldOp::create(k.b, k.loc, next);
    }
    yields.append(pv.getResults().begin(), pv.getResults().end());
    barrier();
    scf::YieldOp::create(k.b, k.loc, yields);
  }
  writeStats(loop.getResults().take_front(stateSize));
  barrier();
  for (int64_t h = 0; h < HB; ++h)
    for (int64_t i = 0; i < columnsPerThread; ++i) {
      Value acc = loop.getResult(stateSize + h * columnsPerThread + i);
      Value column = k.add(tid, k.idx(i * kLatentThreads));
      auto inside = scf::IfOp::create(k.b, k.loc,
                                      k.lt(column, k.idx(p.rank)), false);
      OpBuilder::InsertionGuard g(k.b);
      k.b.setInsertionPointToStart(&inside.getThenRegion().front());
      writeResult(k.idx(h), column, k.splat(acc, 1));
    }
  writeSplitStats(HB);
  gpu::ReturnOp::create(k.b, k.loc);
}

void LatentBuilder::writeSplitStats(int64_t heads) {
  if (p.splits <= 1)
    return;
  auto first = scf::IfOp::create(k.b, k.loc, k.lt(tid, k.idx(heads)), false);
  OpBuilder::InsertionGuard g(k.b);
  k.b.setInsertionPointToStart(&first.getThenRegion().front());
  auto [head, real] = headOf(tid);
  auto store = scf::IfOp::create(k.b, k.loc, real, false);
  k.b.setInsertionPointToStart(&store.getThenRegion().front());
  for (int64_t e = 0; e < 2; ++e)
    k.store(k.load(stats, {tid, k.idx(e)}), arg(kResult),
            {split, batch, head, row, k.idx(p.rank + e)});
}

void LatentBuilder::buildTensorCores() {
  const int64_t N = p.tileKeys, d = p.dim();
  const int64_t kSteps = d / 16;
  const int64_t stepsPerWarp = llvm::divideCeil(kSteps, kLatentWarps);
  const int64_t warpColumns = p.rank / kLatentWarps;
  const int64_t nTiles = warpColumns / 8;
  const int64_t cw = p.chunk();
  Type element = p.queryType;
  MmaSync mma{k, element};
  Value g = k.div(lane, 4), t = k.rem(lane, 4);
  auto vec = [&](int64_t n) { return VectorType::get({n}, element); };
  auto load = [&](Value memref, ValueRange indices, int64_t n) -> Value {
    int64_t bytes = n * element.getIntOrFloatBitWidth() / 8;
    return vector::LoadOp::create(k.b, k.loc, vec(n), memref, indices,
                                  /*nontemporal=*/false,
                                  llvm::MaybeAlign(std::min<int64_t>(16, bytes)));
  };
  Value zero4 = arith::ConstantOp::create(k.b, k.loc, vec(4),
                                          k.b.getZeroAttr(vec(4)));

  // The warp's query fragments: k-steps warp + 4 i; the four elements a
  // lane loads for k-step s are columns 16 s + 4t .. + 4 (the reduction
  // order within a k-step is free when the keys use the same one).
  Value rowHead[2], rowReal[2];
  for (int64_t h = 0; h < 2; ++h)
    std::tie(rowHead[h], rowReal[h]) = headOf(k.add(g, k.idx(8 * h)));
  SmallVector<SmallVector<Value>> qa;
  SmallVector<Value> stepColumn;
  for (int64_t i = 0; i < stepsPerWarp; ++i) {
    Value step = k.add(warp, k.idx(kLatentWarps * i));
    Value real = k.lt(step, k.idx(kSteps));
    Value col = k.add(k.mul(k.min(step, k.idx(kSteps - 1)), k.idx(16)),
                      k.mul(t, k.idx(4)));
    stepColumn.push_back(col);
    Value rows[2];
    for (int64_t h = 0; h < 2; ++h)
      rows[h] = k.select(k.andI(real, rowReal[h]),
                         load(arg(kQuery), {batch, rowHead[h], row, col}, 4),
                         zero4);
    qa.push_back({mma.pair(rows[0], rows[0], 0, 1),
                  mma.pair(rows[1], rows[1], 0, 1),
                  mma.pair(rows[0], rows[0], 2, 3),
                  mma.pair(rows[1], rows[1], 2, 3)});
  }

  SmallVector<Value> init;
  for (int64_t i = 0; i < kTensorCoreHeads / kLatentWarps; ++i)
    init.append({k.f32(-kInf), k.f32(0)});
  const int64_t stateSize = init.size();
  for (int64_t i = 0; i < 4 * nTiles; ++i)
    init.push_back(k.f32(0));
  auto loop = scf::ForOp::create(k.b, k.loc, begin, stop, k.idx(N), init);
  {
    OpBuilder::InsertionGuard guard(k.b);
    k.b.setInsertionPointToStart(loop.getBody());
    Value base = loop.getInductionVar();
    ValueRange state = loop.getRegionIterArgs();
    loadTile(base);
    barrier();
    // Partial scores of the warp's k-steps: n-tile j is keys 8j .. 8j + 8,
    // the lane is B column g (key 8j + g).
    for (int64_t j = 0; j < N / 8; ++j) {
      Value key = k.add(g, k.idx(8 * j));
      SmallVector<Value> acc(4, k.f32(0));
      for (int64_t i = 0; i < stepsPerWarp; ++i) {
        Value kv = load(tile, {key, stepColumn[i]}, 4);
        acc = mma.mma(qa[i], {mma.pair(kv, kv, 0, 1), mma.pair(kv, kv, 2, 3)},
                  acc);
      }
      Value col = k.add(k.idx(8 * j), k.mul(t, k.idx(2)));
      for (int64_t h = 0; h < 2; ++h) {
        Value v = vector::FromElementsOp::create(
            k.b, k.loc, VectorType::get({2}, k.b.getF32Type()),
            ValueRange{acc[2 * h], acc[2 * h + 1]});
        vector::StoreOp::create(k.b, k.loc, v, scores,
                                ValueRange{warp, k.add(g, k.idx(8 * h)), col},
                                /*nontemporal=*/false, llvm::MaybeAlign(8));
      }
    }
    barrier();
    SmallVector<Value> yields = softmax(base, state.take_front(stateSize));
    barrier();
    // P V over the warp's columns: n-tile i = c cw + e is, for B column g,
    // value column warpColumns w + (8c + g) cw + e.
    Value alpha[2];
    for (int64_t h = 0; h < 2; ++h)
      alpha[h] = k.load(rescale, {k.add(g, k.idx(8 * h))});
    SmallVector<Value> acc;
    for (int64_t i = 0; i < nTiles; ++i)
      for (int64_t r = 0; r < 4; ++r)
        acc.push_back(k.fmul(state[stateSize + 4 * i + r], alpha[r / 2]));
    Value warpBase = k.mul(warp, k.idx(warpColumns));
    auto f32x2 = VectorType::get({2}, k.b.getF32Type());
    for (int64_t step = 0; step < N / 16; ++step) {
      SmallVector<Value> pa;
      for (int64_t half = 0; half < 2; ++half)
        for (int64_t h = 0; h < 2; ++h) {
          Value col = k.add(k.idx(16 * step + 8 * half), k.mul(t, k.idx(2)));
          Value prob = vector::LoadOp::create(
              k.b, k.loc, f32x2, scores,
              ValueRange{k.idx(0), k.add(g, k.idx(8 * h)), col},
              /*nontemporal=*/false, llvm::MaybeAlign(8));
          pa.push_back(mma.operand(k.fromF32(prob, element)));
        }
      // The lane's value rows: keys 2t, 2t + 1, 2t + 8, 2t + 9 of the step.
      SmallVector<SmallVector<Value>> values(4);
      for (int64_t v = 0; v < 4; ++v) {
        Value key = k.add(k.idx(16 * step + v % 2 + 8 * (v / 2)),
                          k.mul(t, k.idx(2)));
        for (int64_t c = 0; c < nTiles / cw; ++c) {
          Value col = k.add(warpBase,
                            k.mul(k.add(k.idx(8 * c), g), k.idx(cw)));
          values[v].push_back(load(tile, {key, col}, cw));
        }
      }
      for (int64_t i = 0; i < nTiles; ++i) {
        int64_t c = i / cw, e = i % cw;
        SmallVector<Value> out = mma.mma(
            pa,
            {mma.pair(values[0][c], values[1][c], e, cw + e),
             mma.pair(values[2][c], values[3][c], e, cw + e)},
            ArrayRef<Value>(acc).slice(4 * i, 4));
        for (int64_t r = 0; r < 4; ++r)
          acc[4 * i + r] = out[r];
      }
    }
    yields.append(acc);
    barrier();
    scf::YieldOp::create(k.b, k.loc, yields);
  }
  writeStats(loop.getResults().take_front(stateSize));
  barrier();
  // Accumulator element (row g + 8h, column 2t + e) of n-tile c cw + i is
  // value column warpColumns w + (8c + 2t + e) cw + i: cw consecutive
  // columns a (row, c, e).
  Value warpBase = k.mul(warp, k.idx(warpColumns));
  for (int64_t h = 0; h < 2; ++h) {
    Value local = k.add(g, k.idx(8 * h));
    for (int64_t c = 0; c < nTiles / cw; ++c)
      for (int64_t e = 0; e < 2; ++e) {
        SmallVector<Value> run;
        for (int64_t i = 0; i < cw; ++i)
          run.push_back(loop.getResult(stateSize + 4 * (c * cw + i) + 2 * h + e));
        Value v = vector::FromElementsOp::create(
            k.b, k.loc, VectorType::get({cw}, k.b.getF32Type()), run);
        Value n = k.add(k.idx(8 * c + e), k.mul(t, k.idx(2)));
        writeResult(local, k.add(warpBase, k.mul(n, k.idx(cw))), v);
      }
  }
  writeSplitStats(kTensorCoreHeads);
  gpu::ReturnOp::create(k.b, k.loc);
}

gpu::GPUFuncOp buildLatentKernel(OpBuilder &b, Location loc,
                                 gpu::GPUModuleOp module, StringRef name,
                                 const LatentPlan &p, TypeRange argTypes) {
  auto workgroup =
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  auto shared = [&](ArrayRef<int64_t> shape, Type element) {
    return MemRefType::get(shape, element, MemRefLayoutAttrInterface(),
                           workgroup);
  };
  Type f32 = b.getF32Type();
  int64_t HB = p.headsPerBlock;
  SmallVector<Type> buffers{
      shared({p.tileKeys, p.rowStride}, p.tensorCores ? p.cacheType : f32),
      p.tensorCores ? shared({kLatentWarps, HB, p.tileKeys}, f32)
                    : shared({1, HB, 32}, f32),
      shared({HB}, f32), shared({HB, 2}, f32)};
  if (!p.tensorCores)
    buffers.push_back(shared({HB, p.dim()}, f32));
  gpu::GPUFuncOp func =
      createKernel(b, loc, module, name, argTypes, buffers);
  // Vector accesses of up to 16 bytes (attributions are 2-byte aligned by
  // default).
  for (unsigned i = 0; i < buffers.size(); ++i)
    func.setWorkgroupAttributionAttr(i, LLVM::LLVMDialect::getAlignAttrName(),
                                     b.getI64IntegerAttr(16));
  func.setKnownBlockSize(b.getDenseI32ArrayAttr({int32_t(kLatentThreads), 1, 1}));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&func.getBody().front());
  LatentBuilder(b, loc, p, func.getArguments().take_front(argTypes.size()),
                func.getWorkgroupAttributions())
      .build();
  return func;
}

} // namespace

LogicalResult mlir::attn::gpu_kernels::lowerLatentDecode(
    OpBuilder &b, gpu::GPUModuleOp module, DecodeOp op, StringRef prefix,
    Value position, Value record, int64_t positionBuffer) {
  if (op.getMask())
    return op.emitError("the cuda target does not lower a latent (MLA) "
                        "attn.decode with a mask yet");
  SmallVector<Value> shaped{op.getQuery(), op.getKey(), op.getValue(),
                            op.getInit(), op.getKeyCache(),
                            op.getValueCache()};
  if (op.getPositions())
    shaped.push_back(op.getPositions());
  if (failed(requireStatic(op, shaped, kNeedsStatic)))
    return failure();
  LatentPlan p;
  p.batch = dimOf(op.getQuery(), 0);
  p.heads = op.getQHeads();
  p.queryLen = dimOf(op.getQuery(), 2);
  p.newKeys = dimOf(op.getKey(), 2);
  p.capacity = dimOf(op.getKeyCache(), 2);
  p.rank = op.getLatentAttr().getInt();
  p.rope = dimOf(op.getValueCache(), 3);
  p.queryType = elementOf(op.getQuery());
  p.cacheType = elementOf(op.getKeyCache());
  p.outType = elementOf(op.getInit());
  p.scale = op.getScale().convertToDouble();
  if (FloatAttr cap = op.getSoftcapAttr())
    p.softcap = cap.getValueAsDouble();
  p.windowLeft = op.getWindowLeftBound();
  p.windowRight = op.getWindowRightBound();
  p.causal = op.getCausal();
  if (p.batch == 0 || p.queryLen == 0 || p.capacity == 0)
    return op.emitError("the cuda target does not lower empty tensors");
  if (p.newKeys == 0)
    return op.emitError("the cuda target does not lower a decode step "
                        "without new keys");
  if (elementOf(op.getValueCache()) != p.cacheType)
    return op.emitError("the cuda target needs the latent and rotary caches "
                        "of one element type, got ")
           << p.cacheType << " and " << elementOf(op.getValueCache());
  if (!chooseLatentTiling(p))
    return op.emitError("the cuda target's latent decode needs a tile of 8 "
                        "key rows within 48 KiB of shared memory; rows of ")
           << p.dim() << " (rank " << p.rank << " + rope " << p.rope
           << ") on " << (p.tensorCores ? "tensor" : "CUDA")
           << " cores do not fit";

  Location loc = op.getLoc();
  b.setInsertionPoint(op);
  auto idx = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, loc, v);
  };
  auto launch = [&](gpu::GPUFuncOp kernel, int64_t gx, int64_t gy, int64_t gz,
                    int64_t threads, ValueRange args) {
    gpu::LaunchFuncOp::create(b, loc, kernel, {idx(gx), idx(gy), idx(gz)},
                              {idx(threads), idx(1), idx(1)},
                              /*dynamicSharedMemorySize=*/Value(), args);
  };
  auto name = [&](StringRef kind) { return (prefix + "_" + kind).str(); };

  // check and append: those of a plain decode step whose keys are the
  // latent [B, 1, *, r] and values the rotary part [B, 1, *, rope].
  AttentionPlan step{};
  step.batch = p.batch;
  step.qHeads = p.heads;
  step.kvHeads = 1;
  step.group = p.heads;
  step.queryLen = p.queryLen;
  step.keyLen = p.capacity;
  step.headDim = p.rank;
  step.valueDim = p.rope;
  step.queryType = p.queryType;
  step.keyType = step.valueType = p.cacheType;
  step.outType = p.outType;
  step.scale = p.scale;
  step.decode = true;
  step.decodeCausal = p.causal;
  step.rowPositions = bool(op.getPositions());
  step.newKeys = p.newKeys;
  CheckReport ids;
  ids.positionBuffer = positionBuffer;
  SmallVector<Value> checkArgs{position, record};
  DecodeArgs checkAt;
  checkAt.position = 0;
  checkAt.error = 1;
  launch(buildCheckKernel(b, loc, module, name("check"), step,
                          ValueRange(checkArgs).getTypes(), checkAt, ids),
         1, 1, 1, kCheckThreads, checkArgs);
  SmallVector<Value> appendArgs{op.getKey(), op.getValue(), op.getKeyCache(),
                                op.getValueCache(), position, record};
  DecodeArgs appendAt;
  appendAt.error = 5;
  launch(buildAppendKernel(b, loc, module, name("append"), step,
                           ValueRange(appendArgs).getTypes(), appendAt),
         p.batch * p.newKeys, 1, 1, kThreads, appendArgs);

  // partial (+ merge).
  AttentionPlan merge = step;
  merge.valueDim = p.rank;
  merge.splits = p.splits;
  Value workspace;
  SmallVector<Value> args{op.getQuery(), op.getKeyCache(), op.getValueCache(),
                          position, record};
  if (p.splits == 1) {
    args.push_back(op.getInit());
  } else {
    workspace = gpu::AllocOp::create(
                    b, loc, workspaceType(b.getContext(), merge),
                    /*asyncToken=*/Type(), ValueRange(), ValueRange(),
                    ValueRange())
                    .getMemref();
    args.push_back(workspace);
  }
  launch(buildLatentKernel(b, loc, module, name("partial"), p,
                           ValueRange(args).getTypes()),
         p.headChunks, p.splits, p.batch * p.queryLen, kLatentThreads, args);
  if (workspace) {
    SmallVector<Value> mergeArgs{workspace, op.getInit()};
    launch(buildMergeKernel(b, loc, module, name("merge"), merge,
                            ValueRange(mergeArgs).getTypes()),
           p.batch * p.heads * p.queryLen, 1, 1, kThreads, mergeArgs);
    gpu::DeallocOp::create(b, loc, /*asyncToken=*/Type(), ValueRange(),
                           workspace);
  }

  Value oldPosition = op.getPosition();
  op.erase();
  // The host load of the position is dead when the kernels read it.
  if (auto indexCast =
          oldPosition ? oldPosition.getDefiningOp<arith::IndexCastOp>()
                      : arith::IndexCastOp())
    if (indexCast->use_empty()) {
      auto load = indexCast.getIn().getDefiningOp<memref::LoadOp>();
      indexCast.erase();
      if (load && load->use_empty())
        load.erase();
    }
  return success();
}
