//===- WgmmaPrefill.cpp - flash attention forward with Hopper wgmma -------===//
//
// Block = 2 warpgroups = 128 query rows (64 a warpgroup, the M of wgmma
// m64nNk16) of one query head of one batch row; its KV head is head / G.
// The blocks of one head are launched last query tile first (most keys
// when causal).
//
// Shared memory (dynamic, 1 KiB aligned by hand): Q [128 x 128], then two
// stages of K [128 x 128] and V [128 x 128] tiles, all in the 128-byte
// swizzled layout (WgmmaBuilder.h): column block c (elements 64c..64c+63)
// of every row, then the next block. Loaded by cp.async (16 bytes a
// thread a copy; the swizzle is in the destination address).
//
// Per tile j of 128 keys (stage j % 2):
//   cp.async of tile j + 1 into the other stage; wait for tile j;
//   fence.proxy.async (cp.async writes are generic-proxy, wgmma reads are
//   async-proxy), barrier; S = Q K^T: 8 wgmma m64n128k16, Q and K both
//   K-major (descriptors: stride 1 KiB between 8-row groups, k-step s at
//   byte 32 (s % 4) of column block s / 4); online softmax on the 64
//   accumulator registers (log2 units, f32); O *= alpha; O += P V: 8 wgmma
//   m64n128k16 with P in registers (the S accumulators of keys 16i..16i+15
//   rounded to f16/bf16 are the A fragment as they stand) and V N-major
//   (transposed B: leading offset = one column block, stride 1 KiB);
//   barrier (the stage is refilled next iteration).
//
// Accumulator layout (m64nN f32, lane = 4 g + t of warp w of the
// warpgroup): register 4j + e is row 16w + g (e < 2) or + 8, column
// 8j + 2t + e % 2.
//
//===----------------------------------------------------------------------===//

#include "WgmmaPrefill.h"
#include "WgmmaBuilder.h"

#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::attn::gpu_kernels;

namespace {

constexpr int64_t kWarpgroups = 2;
constexpr int64_t kBlockThreads = 128 * kWarpgroups;
constexpr int64_t kRows = 64 * kWarpgroups; // query rows of a block
constexpr int64_t kKeys = 128;              // keys of a tile
constexpr int64_t kDim = 128;               // D = Dv
constexpr int64_t kStages = 2;
constexpr int64_t kLineBytes = 128; // one swizzled line: 64 elements
/// Elements of the regions of shared memory.
constexpr int64_t kQueryElems = kRows * kDim;
constexpr int64_t kTileElems = kKeys * kDim;
constexpr int64_t kSharedElems = kQueryElems + 2 * kStages * kTileElems;

class WgmmaPrefillBuilder {
public:
  WgmmaPrefillBuilder(OpBuilder &b, Location loc, const AttentionPlan &plan,
                      ValueRange args, bool hasKvLens)
      : k{b, loc}, p(plan), args(args), hasKvLens(hasKvLens),
        element(plan.keyType), mmaSync{k, element} {}

  void build();

private:
  KB k;
  const AttentionPlan &p;
  ValueRange args;
  bool hasKvLens;
  Type element;
  MmaSync mmaSync; // pack() of the P registers (KernelBuilder.h)

  Value tid, g, t, batch, head, kvHead, firstRow, wg;
  Value smem;    // memref<kSharedElems x element, workgroup>
  Value base;    // its shared byte address (1 KiB aligned)
  Value keyEnd;  // min(Skv, kv_seq_lens[b])
  Value rows[2]; // the thread's query rows (g and g + 8 of its warp)
  Value limits[2];
  Value tiles;

  Value query() { return args[0]; }
  Value key() { return args[1]; }
  Value value() { return args[2]; }
  Value out() { return args.back(); }

  void setup();
  void allocate();
  /// cp.async of `count` rows of `src` (rows `srcRow0`.., clamped to
  /// `lastRow`) into the swizzled region at element `dst` of `rows` rows.
  void copyRows(Value src, Value head, Value srcRow0, int64_t lastRow,
                Value dst, int64_t rows);
  void issueTile(Value index);      // K of tile `index`
  void issueValueTile(Value index); // V of tile `index`
  Value stageOffset(Value index) { // elements of tile `index`'s K stage
    return k.add(k.idx(kQueryElems),
                 k.mul(k.rem(index, kStages), k.idx(2 * kTileElems)));
  }
  Value byteAddress(Value elems) {
    return k.add(base, k.mul(elems, k.idx(2)));
  }
  /// Waits for every cp.async of this thread, makes them visible to the
  /// async proxy, then a block barrier.
  void awaitCopies();
  /// Issues the wgmmas of S = Q K^T of tile `index` (uncommitted).
  Value issueScores(Value index);
  /// Issues O += P V of tile `index` (uncommitted); returns the in-flight O.
  SmallVector<Value> issueValues(Value index, ArrayRef<Value> pRegs,
                                 ArrayRef<Value> o);
  /// Online softmax of tile `index`'s scores `sRegs` on state (m, l):
  /// returns m', l', alpha (2 each) and the P registers (32).
  SmallVector<Value> softmax(Value index, ArrayRef<Value> sRegs,
                             ValueRange ml, bool masked);
  SmallVector<Value> loop(Value from, Value to, ValueRange init, bool masked);
  SmallVector<Value> tile(Value index, ValueRange state, bool masked);
  SmallVector<Value> first(ValueRange state);
  SmallVector<Value> last(ValueRange state);
  void store(ValueRange state);
};

void WgmmaPrefillBuilder::allocate() {
  auto workgroup =
      gpu::AddressSpaceAttr::get(k.b.getContext(), gpu::AddressSpace::Workgroup);
  auto raw = gpu::DynamicSharedMemoryOp::create(
      k.b, k.loc,
      MemRefType::get({ShapedType::kDynamic}, k.b.getI8Type(),
                      MemRefLayoutAttrInterface(), workgroup));
  // Swizzle atoms must be 1 KiB aligned: skip to the next boundary (the
  // launch asks for 1 KiB more than the tiles).
  Value address = memref::ExtractAlignedPointerAsIndexOp::create(k.b, k.loc, raw);
  Value pad = k.rem(k.sub(k.idx(kSwizzleAtomBytes),
                          k.rem(address, kSwizzleAtomBytes)),
                    kSwizzleAtomBytes);
  base = k.add(address, pad);
  smem = memref::ViewOp::create(
      k.b, k.loc,
      MemRefType::get({kSharedElems}, element, MemRefLayoutAttrInterface(),
                      workgroup),
      raw, pad, ValueRange());
}

void WgmmaPrefillBuilder::setup() {
  tid = gpu::ThreadIdOp::create(k.b, k.loc, gpu::Dimension::x);
  Value lane = k.rem(tid, 32);
  Value warp = k.div(tid, 32);
  wg = k.div(tid, 128);
  g = k.div(lane, 4);
  t = k.rem(lane, 4);
  int64_t queryTiles = llvm::divideCeil(p.queryLen, kRows);
  Value bx = gpu::BlockIdOp::create(k.b, k.loc, gpu::Dimension::x);
  head = gpu::BlockIdOp::create(k.b, k.loc, gpu::Dimension::y);
  batch = gpu::BlockIdOp::create(k.b, k.loc, gpu::Dimension::z);
  kvHead = k.div(head, p.group);
  firstRow = k.mul(k.sub(k.idx(queryTiles - 1), bx), k.idx(kRows));
  // Warp w of the block holds rows 16 w .. 16 w + 15 (64 a warpgroup).
  rows[0] = k.add(k.add(firstRow, k.mul(warp, k.idx(16))), g);
  rows[1] = k.add(rows[0], k.idx(8));

  Value end = k.idx(p.keyLen);
  if (hasKvLens)
    end = k.min(end, k.toIndex(k.load(args[3], {batch})));
  keyEnd = end;
  auto rowLimit = [&](Value row) {
    Value limit = end;
    if (p.causalOffset)
      limit = k.min(limit, k.add(row, k.idx(*p.causalOffset + 1)));
    return k.max(limit, k.idx(0));
  };
  for (int64_t h = 0; h < 2; ++h)
    limits[h] = rowLimit(rows[h]);
  Value lastRow =
      k.min(k.add(firstRow, k.idx(kRows - 1)), k.idx(p.queryLen - 1));
  tiles = k.ceilDiv(rowLimit(lastRow), k.idx(kKeys));
}

void WgmmaPrefillBuilder::copyRows(Value src, Value srcHead, Value srcRow0,
                                   int64_t lastRow, Value dst, int64_t rows) {
  // Thread tid copies chunk tid % 16 of rows tid / 16 + 16 i.
  constexpr int64_t chunks = kDim / 8;
  constexpr int64_t rowsPerPass = kBlockThreads / chunks;
  Value chunk = k.rem(tid, chunks);
  Value first = k.div(tid, chunks);
  auto token = nvgpu::DeviceAsyncTokenType::get(k.b.getContext());
  for (int64_t i = 0; i < rows / rowsPerPass; ++i) {
    Value r = k.add(first, k.idx(i * rowsPerPass));
    Value row = k.min(k.add(srcRow0, r), k.idx(lastRow));
    Value at = k.add(dst, swizzledOffset(k, r, chunk, rows));
    nvgpu::DeviceAsyncCopyOp::create(
        k.b, k.loc, token, smem, ValueRange{at}, src,
        ValueRange{batch, srcHead, row, k.mul(chunk, k.idx(8))},
        k.b.getIndexAttr(8), /*srcElements=*/Value(), k.b.getUnitAttr());
  }
}

void WgmmaPrefillBuilder::issueTile(Value index) {
  // Rows past the keys are clamped to the last: their scores are masked,
  // their values finite.
  copyRows(key(), kvHead, k.mul(index, k.idx(kKeys)), p.keyLen - 1,
           stageOffset(index), kKeys);
}

void WgmmaPrefillBuilder::issueValueTile(Value index) {
  copyRows(value(), kvHead, k.mul(index, k.idx(kKeys)), p.keyLen - 1,
           k.add(stageOffset(index), k.idx(kTileElems)), kKeys);
}

void WgmmaPrefillBuilder::awaitCopies() {
  NVVM::CpAsyncWaitGroupOp::create(k.b, k.loc, k.b.getI32IntegerAttr(0));
  fenceProxyAsync(k);
  gpu::BarrierOp::create(k.b, k.loc);
}

Value WgmmaPrefillBuilder::issueScores(Value index) {
  // 8 k-steps of 16: column block s / 4, byte 32 (s % 4) of its lines.
  Value descQ = descriptor(
      k, k.add(base, k.mul(wg, k.idx(64 * kLineBytes))), 16, kSwizzleAtomBytes);
  Value descK =
      descriptor(k, byteAddress(stageOffset(index)), 16, kSwizzleAtomBytes);
  Value acc = LLVM::UndefOp::create(k.b, k.loc, accumulatorType(k, kKeys / 2));
  for (int64_t s = 0; s < kDim / 16; ++s) {
    int64_t col = (s % 4) * 32;
    acc = wgmmaSS(k, advance(k, descQ, (s / 4) * kRows * kLineBytes + col),
                  advance(k, descK, (s / 4) * kKeys * kLineBytes + col), acc,
                  kKeys, element, /*zeroInit=*/s == 0);
  }
  return acc;
}

SmallVector<Value> WgmmaPrefillBuilder::issueValues(Value index,
                                                    ArrayRef<Value> pRegs,
                                                    ArrayRef<Value> o) {
  // 8 k-steps of 16 keys (16 lines, 2 KiB); V is N-major: the leading
  // offset is one column block.
  Value descV = descriptor(
      k, byteAddress(k.add(stageOffset(index), k.idx(kTileElems))),
      kKeys * kLineBytes, kSwizzleAtomBytes);
  SmallVector<Value> acc(o.begin(), o.end());
  for (int64_t i = 0; i < kKeys / 16; ++i)
    acc = wgmmaRS(k, pRegs.slice(4 * i, 4),
                  advance(k, descV, i * 16 * kLineBytes), acc, kDim, element);
  return acc;
}

SmallVector<Value> WgmmaPrefillBuilder::softmax(Value index,
                                                ArrayRef<Value> sRegs,
                                                ValueRange ml, bool masked) {
  constexpr int64_t sTiles = kKeys / 8;
  SmallVector<SmallVector<Value>> s(sTiles);
  for (int64_t j = 0; j < sTiles; ++j)
    s[j].assign(sRegs.begin() + 4 * j, sRegs.begin() + 4 * j + 4);
  // As TensorCorePrefill.cpp: s[j][2h + e] is row h (g or g + 8), key
  // 8j + 2t + e of the tile; the row's four lanes share its max.
  Value keyBase = k.mul(index, k.idx(kKeys));
  bool raw = !p.softcap && p.scale > 0;
  SmallVector<Value> res(6);
  for (int64_t h = 0; h < 2; ++h) {
    auto mask = [&](Value x, int64_t j, int64_t e) {
      if (!masked)
        return x;
      Value col = k.add(keyBase, k.add(k.mul(t, k.idx(2)), k.idx(8 * j + e)));
      return k.select(k.lt(col, limits[h]), x, k.f32(-kInf));
    };
    FragmentRowStep step =
        fragmentRowSoftmax(k, s, h, ml[h], ml[2 + h], p, raw, mask);
    res[h] = step.max;
    res[2 + h] = step.sum;
    res[4 + h] = step.alpha;
  }
  // P of k-step i: the accumulators of keys 16i..16i+15 (n8 tiles 2i and
  // 2i + 1) are its A fragment as they stand.
  for (int64_t i = 0; i < kKeys / 16; ++i) {
    res.push_back(mmaSync.pack(s[2 * i][0], s[2 * i][1]));
    res.push_back(mmaSync.pack(s[2 * i][2], s[2 * i][3]));
    res.push_back(mmaSync.pack(s[2 * i + 1][0], s[2 * i + 1][1]));
    res.push_back(mmaSync.pack(s[2 * i + 1][2], s[2 * i + 1][3]));
  }
  return res;
}

// State: m (2), l (2), O (64, ready), P of the previous tile (32).
SmallVector<Value> WgmmaPrefillBuilder::tile(Value index, ValueRange state,
                                             bool masked) {
  constexpr int64_t oRegs = kDim / 2;
  // K of this tile and V of the previous one have landed; every warpgroup
  // is past S of the previous tile and P V of the one before, whose stages
  // are refilled now: K of the next tile, V of this one.
  awaitCopies();
  Value next = k.add(index, k.idx(1));
  auto ifOp = scf::IfOp::create(k.b, k.loc, k.lt(next, tiles),
                                /*withElse=*/false);
  {
    OpBuilder::InsertionGuard guard(k.b);
    k.b.setInsertionPointToStart(&ifOp.getThenRegion().front());
    issueTile(next);
  }
  issueValueTile(index);
  NVVM::CpAsyncCommitGroupOp::create(k.b, k.loc);

  // S of this tile, then P V of the previous one: the softmax below runs
  // while the tensor cores do the latter.
  wgmmaFence(k);
  Value acc = issueScores(index);
  wgmmaCommit(k);
  SmallVector<Value> o(state.begin() + 4, state.begin() + 4 + oRegs);
  SmallVector<Value> pPrev(state.begin() + 4 + oRegs, state.end());
  o = issueValues(k.sub(index, k.idx(1)), pPrev, o);
  wgmmaCommit(k);
  wgmmaWait(k, 1);
  SmallVector<Value> sRegs = pinAfterWait(k, unpackStruct(k, acc));
  SmallVector<Value> sm = softmax(index, sRegs, state.take_front(4), masked);
  wgmmaWait(k, 0);
  o = pinAfterWait(k, o);
  SmallVector<Value> yields(sm.begin(), sm.begin() + 4);
  for (int64_t i = 0; i < oRegs; ++i)
    yields.push_back(k.fmul(o[i], sm[4 + (i % 4) / 2]));
  yields.append(sm.begin() + 6, sm.end());
  return yields;
}

SmallVector<Value> WgmmaPrefillBuilder::first(ValueRange state) {
  // Tile 0 (masked: it may be any kind): Q and its K have landed.
  awaitCopies();
  auto ifOp = scf::IfOp::create(k.b, k.loc, k.lt(k.idx(1), tiles),
                                /*withElse=*/false);
  {
    OpBuilder::InsertionGuard guard(k.b);
    k.b.setInsertionPointToStart(&ifOp.getThenRegion().front());
    issueTile(k.idx(1));
  }
  issueValueTile(k.idx(0));
  NVVM::CpAsyncCommitGroupOp::create(k.b, k.loc);
  wgmmaFence(k);
  Value acc = issueScores(k.idx(0));
  wgmmaCommit(k);
  wgmmaWait(k, 0);
  SmallVector<Value> sRegs = pinAfterWait(k, unpackStruct(k, acc));
  SmallVector<Value> sm =
      softmax(k.idx(0), sRegs, state.take_front(4), /*masked=*/true);
  SmallVector<Value> yields(sm.begin(), sm.begin() + 4);
  yields.append(state.begin() + 4, state.begin() + 4 + kDim / 2); // O = 0
  yields.append(sm.begin() + 6, sm.end());
  return yields;
}

SmallVector<Value> WgmmaPrefillBuilder::last(ValueRange state) {
  // P V of the last tile.
  awaitCopies();
  wgmmaFence(k);
  SmallVector<Value> o(state.begin() + 4, state.begin() + 4 + kDim / 2);
  SmallVector<Value> pPrev(state.begin() + 4 + kDim / 2, state.end());
  o = issueValues(k.sub(tiles, k.idx(1)), pPrev, o);
  wgmmaCommit(k);
  wgmmaWait(k, 0);
  o = pinAfterWait(k, o);
  SmallVector<Value> yields(state.begin(), state.begin() + 4);
  yields.append(o.begin(), o.end());
  yields.append(pPrev.begin(), pPrev.end());
  return yields;
}

SmallVector<Value> WgmmaPrefillBuilder::loop(Value from, Value to,
                                             ValueRange init, bool masked) {
  auto forOp = scf::ForOp::create(k.b, k.loc, from, to, k.idx(1), init);
  OpBuilder::InsertionGuard guard(k.b);
  k.b.setInsertionPointToStart(forOp.getBody());
  scf::YieldOp::create(
      k.b, k.loc,
      tile(forOp.getInductionVar(), forOp.getRegionIterArgs(), masked));
  return SmallVector<Value>(forOp.getResults());
}

void WgmmaPrefillBuilder::store(ValueRange state) {
  storeFragmentRows(k, state, rows, p.queryLen, kDim / 8, t, out(), batch,
                    head);
}

void WgmmaPrefillBuilder::build() {
  setup();
  allocate();
  Value full = keyEnd;
  if (p.causalOffset)
    full = k.min(full, k.add(firstRow, k.idx(*p.causalOffset + 1)));
  full = k.max(full, k.idx(0));
  Value fullTiles = k.min(k.div(full, kKeys), tiles);

  // Q (rows past the query clamped; their results are not stored) and the
  // first K tile, one group.
  copyRows(query(), head, firstRow, p.queryLen - 1, k.idx(0), kRows);
  issueTile(k.idx(0));
  NVVM::CpAsyncCommitGroupOp::create(k.b, k.loc);
  SmallVector<Value> state{k.f32(-kInf), k.f32(-kInf), k.f32(0), k.f32(0)};
  for (int64_t i = 0; i < kDim / 2; ++i)
    state.push_back(k.f32(0));
  Value zeroP = mmaSync.pack(k.f32(0), k.f32(0)); // P's register type
  for (int64_t i = 0; i < kKeys / 4; ++i)
    state.push_back(zeroP);
  // Tile 0 alone (no P V before it), then the rest, then P V of the last.
  Value any = k.lt(k.idx(0), tiles);
  auto guarded = [&](function_ref<SmallVector<Value>(ValueRange)> body) {
    auto ifOp = scf::IfOp::create(k.b, k.loc, ValueRange(state).getTypes(),
                                  any, /*withElse=*/true);
    {
      OpBuilder::InsertionGuard guard(k.b);
      k.b.setInsertionPointToStart(&ifOp.getThenRegion().front());
      scf::YieldOp::create(k.b, k.loc, body(state));
      k.b.setInsertionPointToStart(&ifOp.getElseRegion().front());
      scf::YieldOp::create(k.b, k.loc, state);
    }
    state = SmallVector<Value>(ifOp.getResults());
  };
  guarded([&](ValueRange st) { return first(st); });
  Value from = k.max(fullTiles, k.idx(1));
  state = loop(k.idx(1), from, state, /*masked=*/false);
  state = loop(from, tiles, state, /*masked=*/true);
  guarded([&](ValueRange st) { return last(st); });
  NVVM::CpAsyncWaitGroupOp::create(k.b, k.loc, k.b.getI32IntegerAttr(0));
  store(state);
}

} // namespace

bool mlir::attn::gpu_kernels::useWgmmaPrefillKernel(const AttentionPlan &p,
                                                    bool hasMask) {
  Type t = p.keyType;
  return !p.decode && !hasMask && !p.windowLeft && !p.windowRight &&
         p.queryLen >= kRows && (t.isF16() || t.isBF16()) &&
         p.queryType == t && p.valueType == t && p.headDim == kDim &&
         p.valueDim == kDim;
}

int64_t mlir::attn::gpu_kernels::wgmmaPrefillThreads() { return kBlockThreads; }

int64_t mlir::attn::gpu_kernels::wgmmaPrefillSharedBytes(
    const AttentionPlan &) {
  return 2 * kSharedElems + kSwizzleAtomBytes;
}

std::array<int64_t, 3>
mlir::attn::gpu_kernels::wgmmaPrefillGrid(const AttentionPlan &p) {
  return {int64_t(llvm::divideCeil(p.queryLen, kRows)), p.qHeads, p.batch};
}

gpu::GPUFuncOp mlir::attn::gpu_kernels::buildWgmmaPrefillKernel(
    OpBuilder &b, Location loc, gpu::GPUModuleOp module, StringRef name,
    const AttentionPlan &plan, TypeRange argTypes, bool hasKvLens) {
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToEnd(module.getBody());
  auto func = gpu::GPUFuncOp::create(b, loc, name,
                                     b.getFunctionType(argTypes, {}));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  func.setKnownBlockSize(b.getDenseI32ArrayAttr({int32_t(kBlockThreads), 1, 1}));
  b.setInsertionPointToStart(&func.getBody().front());
  WgmmaPrefillBuilder(b, loc, plan,
                      func.getArguments().take_front(argTypes.size()),
                      hasKvLens)
      .build();
  gpu::ReturnOp::create(b, loc);
  return func;
}
