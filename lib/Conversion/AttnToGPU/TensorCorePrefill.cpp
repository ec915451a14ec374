//===- TensorCorePrefill.cpp - flash attention forward on tensor cores ----===//
//
// Block = 4 warps = 64 query rows (16 a warp, the rows of mma.sync
// m16n8k16) of one query head of one batch row; its KV head is head / G, so
// the blocks of a group's query heads read the same key/value tiles (from
// L2 after the first). The blocks of one head are launched last query tile
// first: with a causal mask those see the most keys.
//
// Per tile of 64 keys (32 at head dimension 256):
//   wait K tile (and a staged mask tile), barrier; S = Q K^T (Q fragments
//   in registers, K fragments by ldmatrix from shared memory); barrier,
//   cp.async of the next K tile; online softmax on the S fragments (log2
//   units, f32); wait V tile, barrier, cp.async of the next mask tile; O +=
//   P V (P is the S fragment rounded to f16/bf16, V fragments by
//   ldmatrix.trans); barrier, cp.async of the next V tile.
// So the next tile's keys load during the softmax and P V, its values
// during the next S = Q K^T. A row sees keys [begin, end): the causal
// limit, kv_seq_lens and the window's right side bound the end, its left
// side the begin; both grow with the row. The block visits the tiles from
// its first row's begin to its last row's end (tiles wholly outside every
// row's range are skipped); the tiles inside every row's range run without
// per-element range checks (the middle loop), the edges with them (a loop
// before, only with a left window side, and one after).
//
// An explicit mask (boolean, or additive in f16/bf16/f32; [Sq, Skv],
// [Hq, Sq, Skv] or [B, Hq, Sq, Skv], any dimension but the keys possibly
// 1) is applied in every tile. A float mask with a row per query row and
// rows of whole 16-byte chunks is staged like K and V: the block's 64 x
// tile-keys entries are copied by cp.async into shared memory (a group of
// its own, issued once the softmax has read the previous tile's, waited for
// with the key tile), where each lane reads its pairs; one cp.async moves
// 16 bytes where direct loads would touch 8 rows of 4 bytes, and the
// L1/shared-memory pipe is what the kernel waits on (RESULTS.md). Other
// masks (boolean: i1 memrefs take no vector loads; rows broadcast; f32
// where shared memory would pass 48 KiB) are read from global memory at
// the start of the tile so the latency overlaps S = Q K^T, float pairs in
// one 32/64-bit load when Skv is even. As in the dialect, an additive mask
// is added after the softcap; a row whose keys are all masked gives 0 (as
// attn-reference).
//
// Shared memory rows are padded by 16 bytes: the 8 rows an ldmatrix phase
// reads then start in 8 different groups of 4 banks (no conflicts), and a
// cp.async phase writes 128 contiguous bytes of one row.
//
// Fragments (lane = 4 g + t): A rows g, g + 8, columns 2t, 2t + 1 (+ 8);
// B column g, rows 2t, 2t + 1 (+ 8); accumulators rows g, g + 8, columns
// 2t, 2t + 1. The S accumulators of key tiles 2i and 2i + 1 are the A
// fragment of P for k-step i as they stand.
//
//===----------------------------------------------------------------------===//

#include "TensorCorePrefill.h"
#include "KernelBuilder.h"

#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::attn::gpu_kernels;

namespace {

constexpr int64_t kPad = 8; // elements of padding a shared-memory row
/// Warps of a block (16 query rows each) and blocks a multiprocessor holds
/// (registers are capped for them). Measured on the H200 (B=4, S=4096,
/// Hq=32, D=128): 4 warps x 2 blocks (225 registers) 258-286 TFLOP/s
/// without a causal limit; 4 x 3 (168 registers, a few spills) and 8 x 1
/// were 3-10% slower.
constexpr int64_t kPrefillWarps = 4;
constexpr int64_t kPrefillBlocksPerSM = 2;
constexpr int64_t kPrefillThreads = 32 * kPrefillWarps;
constexpr int64_t kPrefillRows = 16 * kPrefillWarps;
/// Keys a shared-memory tile holds: 64, or 32 with a head dimension of 256
/// (the K and V tiles then take 33 KiB of static shared memory, and the
/// 32 S accumulators of 64 keys would not fit in registers next to the
/// 128 of O and the 64 of Q).
int64_t prefillKeys(const AttentionPlan &p) {
  return std::max(p.headDim, p.valueDim) > 128 ? 32 : 64;
}

/// Bytes of the shared-memory K or V tile of rows of `dim` elements.
int64_t tileBytes(const AttentionPlan &p, int64_t dim) {
  return prefillKeys(p) * (dim + kPad) * p.keyType.getIntOrFloatBitWidth() /
         8;
}

/// The shared-memory tile of a staged mask (null type when the mask is
/// read from global memory): 64 query rows x tile keys, each row padded by
/// 16 bytes (the 8 rows a lane group reads start in different banks).
MemRefType stagedMaskType(const AttentionPlan &p, Type maskType) {
  auto type = dyn_cast_or_null<MemRefType>(maskType);
  if (!type)
    return {};
  Type elem = type.getElementType();
  int64_t rank = type.getRank();
  if (elem.isInteger(1) || type.getDimSize(rank - 2) != p.queryLen)
    return {};
  int64_t bytes = elem.getIntOrFloatBitWidth() / 8;
  if ((p.keyLen * bytes) % 16 != 0)
    return {};
  int64_t pad = 16 / bytes;
  int64_t total = tileBytes(p, p.headDim) + tileBytes(p, p.valueDim) +
                  kPrefillRows * (prefillKeys(p) + pad) * bytes;
  if (total > kMaxSharedBytes)
    return {};
  auto workgroup = gpu::AddressSpaceAttr::get(elem.getContext(),
                                              gpu::AddressSpace::Workgroup);
  return MemRefType::get({kPrefillRows, prefillKeys(p) + pad}, elem,
                         MemRefLayoutAttrInterface(), workgroup);
}

/// The prefill kernel's body.
class PrefillBuilder {
public:
  PrefillBuilder(OpBuilder &b, Location loc, const AttentionPlan &plan,
                 ValueRange args, bool hasMask, bool hasKvLens, Value keyTile,
                 Value valueTile, Value maskTile)
      : k{b, loc}, p(plan), args(args), maskArg(hasMask ? 3 : -1),
        lensArg(hasKvLens ? 3 + hasMask : -1), keyTile(keyTile),
        valueTile(valueTile), maskTile(maskTile), element(plan.keyType),
        mmaSync{k, element}, keys(prefillKeys(plan)) {}

  void build();

private:
  KB k;
  const AttentionPlan &p;
  ValueRange args;
  int maskArg, lensArg; // argument positions, -1 when absent
  Value keyTile, valueTile;
  Value maskTile; // the staged mask tile, null when read from global memory
  Type element;
  MmaSync mmaSync; // the fragment helpers (KernelBuilder.h)
  const int64_t keys; // keys a shared-memory tile holds (prefillKeys)

  Value tid, lane, g, t, batch, head, kvHead, firstRow;
  Value rows[2];   // the lane's query rows (g and g + 8 of its warp)
  Value localRows[2]; // the same within the block (rows of maskTile)
  Value begins[2], ends[2]; // keys [begin, end) visible to each of them
  Value firstTile, fullBegin, fullEnd, lastTile; // see build()
  SmallVector<SmallVector<Value>> qa; // Q fragments per k-step

  Value query() { return args[0]; }
  Value key() { return args[1]; }
  Value value() { return args[2]; }
  Value out() { return args.back(); }

  Value operand(Value pair) { return mmaSync.operand(pair); }
  Value pack(Value x, Value y) { return mmaSync.pack(x, y); }
  SmallVector<Value> mma(ArrayRef<Value> a, ArrayRef<Value> bOp,
                         ArrayRef<Value> c) {
    return mmaSync.mma(a, bOp, c);
  }
  SmallVector<Value> ldmatrix(Value tile, Value row, Value col,
                              bool transpose) {
    return mmaSync.ldmatrix(tile, {row, col}, transpose);
  }

  void setup();
  void loadQuery();
  /// cp.async of key tile `index` of `src` into `tile` (rows past the keys
  /// clamped to the last: their scores are masked, their values finite).
  void issueTile(Value tile, Value src, int64_t dim, Value index);
  void commit() { NVVM::CpAsyncCommitGroupOp::create(k.b, k.loc); }
  void waitGroups(int64_t pending) {
    NVVM::CpAsyncWaitGroupOp::create(k.b, k.loc,
                                     k.b.getI32IntegerAttr(pending));
  }
  void barrier() { gpu::BarrierOp::create(k.b, k.loc); }
  bool additiveMask() {
    return maskArg >= 0 &&
           !getElementTypeOrSelf(args[maskArg].getType()).isInteger(1);
  }
  /// The explicit mask's entries of the lane's rows h and keys 8j + 2t + e
  /// of key tile `index`: [h][2j + e] (i1, or the additive value in f32).
  SmallVector<SmallVector<Value>> loadMask(Value index);
  /// The same from the staged tile.
  SmallVector<SmallVector<Value>> readMaskTile();
  /// cp.async of the mask entries of key tile `index` into maskTile (rows
  /// past the query and keys past Skv clamped: never used unmasked).
  void issueMask(Value index);
  /// One loop over tiles [from, to): returns the final state.
  SmallVector<Value> loop(Value from, Value to, ValueRange init, bool masked);
  /// The body of one tile.
  SmallVector<Value> tile(Value index, ValueRange state, bool masked);
  void store(ValueRange state);
};

void PrefillBuilder::setup() {
  tid = gpu::ThreadIdOp::create(k.b, k.loc, gpu::Dimension::x);
  lane = k.rem(tid, 32);
  Value warp = k.div(tid, 32);
  g = k.div(lane, 4);
  t = k.rem(lane, 4);
  int64_t queryTiles = llvm::divideCeil(p.queryLen, kPrefillRows);
  Value bx = gpu::BlockIdOp::create(k.b, k.loc, gpu::Dimension::x);
  head = gpu::BlockIdOp::create(k.b, k.loc, gpu::Dimension::y);
  batch = gpu::BlockIdOp::create(k.b, k.loc, gpu::Dimension::z);
  kvHead = k.div(head, p.group);
  // The last query tile first (most keys when causal).
  firstRow = k.mul(k.sub(k.idx(queryTiles - 1), bx), k.idx(kPrefillRows));
  rows[0] = k.add(k.add(firstRow, k.mul(warp, k.idx(16))), g);
  rows[1] = k.add(rows[0], k.idx(8));
  localRows[0] = k.add(k.mul(warp, k.idx(16)), g);
  localRows[1] = k.add(localRows[0], k.idx(8));

  // Keys visible to a row at position q = row + offset (offset the causal
  // one, 0 without causal): [max(0, q - left), min(Skv, kv_seq_lens[b],
  // q + 1 when causal, q + right + 1)).
  Value keyEnd = k.idx(p.keyLen);
  if (lensArg >= 0)
    keyEnd = k.min(keyEnd, k.toIndex(k.load(args[lensArg], {batch})));
  int64_t offset = p.causalOffset.value_or(0);
  auto rowEnd = [&](Value row) {
    Value limit = keyEnd;
    if (p.causalOffset)
      limit = k.min(limit, k.add(row, k.idx(offset + 1)));
    if (p.windowRight)
      limit = k.min(limit, k.add(row, k.idx(offset + *p.windowRight + 1)));
    return k.max(limit, k.idx(0));
  };
  auto rowBegin = [&](Value row) {
    if (!p.windowLeft)
      return k.idx(0);
    return k.max(k.add(row, k.idx(offset - *p.windowLeft)), k.idx(0));
  };
  for (int64_t h = 0; h < 2; ++h) {
    begins[h] = rowBegin(rows[h]);
    ends[h] = rowEnd(rows[h]);
  }
  // Both bounds grow with the row: the block's first row has the smallest,
  // its last real row the largest. Tiles [firstTile, lastTile) hold every
  // key some row sees; [fullBegin, fullEnd) only keys every row sees.
  Value lastRow = k.min(k.add(firstRow, k.idx(kPrefillRows - 1)),
                        k.idx(p.queryLen - 1));
  Value tileKeys = k.idx(keys);
  auto clamp = [&](Value x, Value lo, Value hi) {
    return k.min(k.max(x, lo), hi);
  };
  firstTile = k.div(rowBegin(firstRow), keys);
  lastTile = k.max(k.ceilDiv(rowEnd(lastRow), tileKeys), firstTile);
  fullBegin = clamp(k.ceilDiv(rowBegin(lastRow), tileKeys), firstTile,
                    lastTile);
  fullEnd = clamp(k.div(rowEnd(firstRow), keys), fullBegin, lastTile);
}

void PrefillBuilder::issueMask(Value index) {
  Value mask = args[maskArg];
  auto type = cast<MemRefType>(mask.getType());
  int64_t rank = type.getRank();
  int64_t perChunk = 128 / type.getElementTypeBitWidth();
  int64_t chunks = keys / perChunk;
  int64_t rowsPerPass = kPrefillThreads / chunks;
  // Thread tid copies chunk tid % chunks of rows tid / chunks + i *
  // rowsPerPass.
  Value chunkCol = k.mul(k.rem(tid, chunks), k.idx(perChunk));
  Value col = k.add(k.mul(index, k.idx(keys)), chunkCol);
  // Skv is a multiple of perChunk: a chunk lies wholly inside or past it.
  col = k.min(col, k.idx(p.keyLen - perChunk));
  Value local = k.div(tid, chunks);
  auto token = nvgpu::DeviceAsyncTokenType::get(k.b.getContext());
  for (int64_t i = 0; i < kPrefillRows / rowsPerPass; ++i) {
    Value r = k.add(local, k.idx(i * rowsPerPass));
    Value row = k.min(k.add(firstRow, r), k.idx(p.queryLen - 1));
    Value full[4] = {batch, head, row, col};
    SmallVector<Value> indices;
    for (int64_t d = 0; d < rank; ++d)
      indices.push_back(type.getDimSize(d) == 1 ? k.idx(0)
                                                : full[4 - rank + d]);
    nvgpu::DeviceAsyncCopyOp::create(
        k.b, k.loc, token, maskTile,
        ValueRange{r, chunkCol}, mask,
        indices, k.b.getIndexAttr(perChunk), /*srcElements=*/Value(),
        k.b.getUnitAttr());
  }
}

SmallVector<SmallVector<Value>> PrefillBuilder::readMaskTile() {
  Type elem = cast<MemRefType>(maskTile.getType()).getElementType();
  int64_t bytes = 2 * elem.getIntOrFloatBitWidth() / 8;
  SmallVector<SmallVector<Value>> entries(2);
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t j = 0; j < keys / 8; ++j) {
      Value col = k.add(k.mul(t, k.idx(2)), k.idx(8 * j));
      Value v = vector::LoadOp::create(
          k.b, k.loc, VectorType::get({2}, elem), maskTile,
          ValueRange{localRows[h], col}, /*nontemporal=*/false,
          llvm::MaybeAlign(bytes));
      for (int64_t e = 0; e < 2; ++e)
        entries[h].push_back(
            k.toF32(vector::ExtractOp::create(k.b, k.loc, v, e)));
    }
  return entries;
}

SmallVector<SmallVector<Value>> PrefillBuilder::loadMask(Value index) {
  Value mask = args[maskArg];
  auto type = cast<MemRefType>(mask.getType());
  Type elem = type.getElementType();
  int64_t rank = type.getRank();
  bool broadcastKeys = type.getDimSize(rank - 1) == 1;
  // Pairs of adjacent keys in one load: float entries, an even row length
  // (the pair's first key is even, so the load is aligned and a pair that
  // starts past the keys lies wholly past them).
  bool pairs = !elem.isInteger(1) && !broadcastKeys && p.keyLen % 2 == 0;
  Value keyBase = k.mul(index, k.idx(keys));
  SmallVector<SmallVector<Value>> entries(2);
  for (int64_t h = 0; h < 2; ++h) {
    Value row = k.min(rows[h], k.idx(p.queryLen - 1));
    Value full[4] = {batch, head, row, Value()};
    auto indicesAt = [&](Value col) {
      full[3] = broadcastKeys ? k.idx(0) : col;
      SmallVector<Value> indices;
      for (int64_t d = 0; d < rank; ++d)
        indices.push_back(type.getDimSize(d) == 1 && d != rank - 1
                              ? k.idx(0)
                              : full[4 - rank + d]);
      return indices;
    };
    for (int64_t j = 0; j < keys / 8; ++j) {
      // Keys past Skv are clamped to the last (their scores are dropped).
      Value col = k.add(keyBase, k.add(k.mul(t, k.idx(2)), k.idx(8 * j)));
      if (pairs) {
        col = k.min(col, k.idx(p.keyLen - 2));
        int64_t bytes = 2 * elem.getIntOrFloatBitWidth() / 8;
        Value v = vector::LoadOp::create(
            k.b, k.loc, VectorType::get({2}, elem), mask, indicesAt(col),
            /*nontemporal=*/false, llvm::MaybeAlign(bytes));
        for (int64_t e = 0; e < 2; ++e)
          entries[h].push_back(
              k.toF32(vector::ExtractOp::create(k.b, k.loc, v, e)));
        continue;
      }
      for (int64_t e = 0; e < 2; ++e) {
        Value c = k.min(k.add(col, k.idx(e)), k.idx(p.keyLen - 1));
        Value v = k.load(mask, indicesAt(c));
        entries[h].push_back(elem.isInteger(1) ? v : k.toF32(v));
      }
    }
  }
  return entries;
}

void PrefillBuilder::loadQuery() {
  // A fragment of k-step s: rows g, g + 8 x columns 16 s + 2t (+1), then
  // the same at + 8. Loaded once from global memory (rows past the query
  // clamped; their results are not stored).
  Value clamped[2];
  for (int64_t h = 0; h < 2; ++h)
    clamped[h] = k.min(rows[h], k.idx(p.queryLen - 1));
  auto vecType = VectorType::get({2}, element);
  for (int64_t s = 0; s < p.headDim / 16; ++s) {
    SmallVector<Value> regs;
    for (int64_t half = 0; half < 2; ++half)
      for (int64_t h = 0; h < 2; ++h) {
        Value col = k.add(k.mul(t, k.idx(2)), k.idx(16 * s + 8 * half));
        Value v = vector::LoadOp::create(
            k.b, k.loc, vecType, query(), ValueRange{batch, head, clamped[h], col},
            /*nontemporal=*/false, llvm::MaybeAlign(4));
        regs.push_back(operand(v));
      }
    qa.push_back(regs);
  }
}

void PrefillBuilder::issueTile(Value tile, Value src, int64_t dim,
                               Value index) {
  // Thread tid copies 16-byte chunk tid % chunks of rows tid / chunks +
  // i * (threads / chunks).
  int64_t chunks = dim / 8;
  int64_t rowsPerPass = kPrefillThreads / chunks;
  Value chunk = k.mul(k.rem(tid, chunks), k.idx(8));
  Value first = k.div(tid, chunks);
  Value base = k.mul(index, k.idx(keys));
  auto token = nvgpu::DeviceAsyncTokenType::get(k.b.getContext());
  for (int64_t i = 0; i < keys / rowsPerPass; ++i) {
    Value r = k.add(first, k.idx(i * rowsPerPass));
    Value row = k.min(k.add(base, r), k.idx(p.keyLen - 1));
    nvgpu::DeviceAsyncCopyOp::create(
        k.b, k.loc, token, tile, ValueRange{r, chunk}, src,
        ValueRange{batch, kvHead, row, chunk}, k.b.getIndexAttr(8),
        /*srcElements=*/Value(), k.b.getUnitAttr());
  }
}

SmallVector<Value> PrefillBuilder::tile(Value index, ValueRange state,
                                        bool masked) {
  const int64_t sTiles = keys / 8, oTiles = p.valueDim / 8;
  Value next = k.add(index, k.idx(1));
  Value hasNext = k.lt(next, lastTile);
  SmallVector<SmallVector<Value>> maskEntries;
  if (maskArg >= 0 && !maskTile)
    maskEntries = loadMask(index);
  auto issueNext = [&](function_ref<void()> issue) {
    auto ifOp = scf::IfOp::create(k.b, k.loc, hasNext, /*withElse=*/false);
    {
      OpBuilder::InsertionGuard guard(k.b);
      k.b.setInsertionPointToStart(&ifOp.getThenRegion().front());
      issue();
    }
    commit();
  };

  // S = Q K^T: key tile j (keys 8j..8j+7 of the tile) is B column g; an
  // ldmatrix x4 gives it for two k-steps (matrix i: columns 8i.. of the
  // pair's 32).
  waitGroups(1);
  barrier();
  Value lrow = k.rem(lane, 8), lquad = k.div(lane, 8);
  SmallVector<SmallVector<Value>> s(sTiles);
  for (int64_t j = 0; j < sTiles; ++j) {
    SmallVector<Value> acc(4, k.f32(0));
    for (int64_t step = 0; step < p.headDim / 16; step += 2) {
      SmallVector<Value> bk = ldmatrix(
          keyTile, k.add(lrow, k.idx(8 * j)),
          k.add(k.mul(lquad, k.idx(8)), k.idx(16 * step)), false);
      acc = mma(qa[step], {bk[0], bk[1]}, acc);
      acc = mma(qa[step + 1], {bk[2], bk[3]}, acc);
    }
    s[j] = acc;
  }
  barrier();
  issueNext([&] { issueTile(keyTile, key(), p.headDim, next); });
  // The staged mask tile (complete: waited for with the key tile).
  if (maskTile)
    maskEntries = readMaskTile();

  // Online softmax on the fragments: s[j][2h + e] is row h (g or g + 8),
  // key 8j + 2t + e of the tile; the row's four lanes share its max.
  Value keyBase = k.mul(index, k.idx(keys));
  // Without softcap and an additive mask (and with a positive scale) the
  // scores stay raw: the row max is taken on them and the scale folds into
  // one fma before exp2, exp2(s c - m c) with c = scale log2(e) (as FA2
  // does).
  bool additive = additiveMask();
  bool raw = !p.softcap && !additive && p.scale > 0;
  SmallVector<Value> yields(state.begin(), state.end());
  Value alpha[2];
  for (int64_t h = 0; h < 2; ++h) {
    auto mask = [&](Value x, int64_t j, int64_t e) {
      if (maskArg >= 0) {
        Value m = maskEntries[h][2 * j + e];
        x = additive ? math::FmaOp::create(k.b, k.loc, m, k.f32(kLog2e), x)
                     : k.select(m, x, k.f32(-kInf));
      }
      if (masked) {
        Value col =
            k.add(keyBase, k.add(k.mul(t, k.idx(2)), k.idx(8 * j + e)));
        Value in = k.lt(col, ends[h]);
        if (p.windowLeft)
          in = k.andI(in, k.cmp(arith::CmpIPredicate::sge, col, begins[h]));
        x = k.select(in, x, k.f32(-kInf));
      }
      return x;
    };
    FragmentRowStep step =
        fragmentRowSoftmax(k, s, h, state[h], state[2 + h], p, raw, mask);
    alpha[h] = step.alpha;
    yields[h] = step.max;
    yields[2 + h] = step.sum;
  }
  SmallVector<Value> acc;
  for (int64_t i = 0; i < oTiles; ++i)
    for (int64_t r = 0; r < 4; ++r)
      acc.push_back(k.fmul(state[4 + 4 * i + r], alpha[r / 2]));

  // O += P V: k-step i covers keys 16i..16i+15; ldmatrix.trans x4 gives the
  // B fragments of value columns 8n.. and 8n + 8.. (matrices: keys +0/+8 x
  // columns +0/+8).
  waitGroups(1);
  barrier();
  // Every lane has read the mask tile: the next one may overwrite it.
  if (maskTile)
    issueNext([&] { issueMask(next); });
  Value vrow = k.add(lrow, k.mul(k.rem(lquad, 2), k.idx(8)));
  Value vcol = k.mul(k.div(lquad, 2), k.idx(8));
  for (int64_t i = 0; i < keys / 16; ++i) {
    SmallVector<Value> pa{pack(s[2 * i][0], s[2 * i][1]),
                          pack(s[2 * i][2], s[2 * i][3]),
                          pack(s[2 * i + 1][0], s[2 * i + 1][1]),
                          pack(s[2 * i + 1][2], s[2 * i + 1][3])};
    for (int64_t n = 0; n < oTiles; n += 2) {
      SmallVector<Value> bv =
          ldmatrix(valueTile, k.add(vrow, k.idx(16 * i)),
                   k.add(vcol, k.idx(8 * n)), true);
      for (int64_t half = 0; half < 2; ++half) {
        ArrayRef<Value> c = ArrayRef<Value>(acc).slice(4 * (n + half), 4);
        SmallVector<Value> d =
            mma(pa, {bv[2 * half], bv[2 * half + 1]}, c);
        std::copy(d.begin(), d.end(), acc.begin() + 4 * (n + half));
      }
    }
  }
  barrier();
  issueNext([&] { issueTile(valueTile, value(), p.valueDim, next); });
  std::copy(acc.begin(), acc.end(), yields.begin() + 4);
  return yields;
}

SmallVector<Value> PrefillBuilder::loop(Value from, Value to, ValueRange init,
                                        bool masked) {
  auto forOp = scf::ForOp::create(k.b, k.loc, from, to, k.idx(1), init);
  OpBuilder::InsertionGuard guard(k.b);
  k.b.setInsertionPointToStart(forOp.getBody());
  scf::YieldOp::create(
      k.b, k.loc,
      tile(forOp.getInductionVar(), forOp.getRegionIterArgs(), masked));
  return SmallVector<Value>(forOp.getResults());
}

void PrefillBuilder::store(ValueRange state) {
  storeFragmentRows(k, state, rows, p.queryLen, p.valueDim / 8, t, out(),
                    batch, head);
}

void PrefillBuilder::build() {
  setup();
  loadQuery();
  issueTile(keyTile, key(), p.headDim, firstTile);
  commit();
  if (maskTile) {
    issueMask(firstTile);
    commit();
  }
  issueTile(valueTile, value(), p.valueDim, firstTile);
  commit();
  SmallVector<Value> state{k.f32(-kInf), k.f32(-kInf), k.f32(0), k.f32(0)};
  for (int64_t i = 0; i < 4 * (p.valueDim / 8); ++i)
    state.push_back(k.f32(0));
  // Without a left window side every row's range starts at key 0: no
  // leading edge.
  if (p.windowLeft)
    state = loop(firstTile, fullBegin, state, /*masked=*/true);
  state = loop(fullBegin, fullEnd, state, /*masked=*/false);
  state = loop(fullEnd, lastTile, state, /*masked=*/true);
  // Leave no copy in flight (the last iteration's, or the prologue's when
  // the block has no keys).
  waitGroups(0);
  store(state);
}

} // namespace

bool mlir::attn::gpu_kernels::usePrefillKernel(const AttentionPlan &p) {
  Type t = p.keyType;
  auto dimOk = [](int64_t d) { return d == 64 || d == 128 || d == 256; };
  return !p.decode && p.queryLen >= kPrefillMinRows && (t.isF16() || t.isBF16()) &&
         p.queryType == t && p.valueType == t && dimOk(p.headDim) &&
         dimOk(p.valueDim);
}

int64_t mlir::attn::gpu_kernels::prefillThreads() { return kPrefillThreads; }

std::array<int64_t, 3>
mlir::attn::gpu_kernels::prefillGrid(const AttentionPlan &p) {
  return {llvm::divideCeil(p.queryLen, kPrefillRows), p.qHeads, p.batch};
}

gpu::GPUFuncOp mlir::attn::gpu_kernels::buildPrefillKernel(
    OpBuilder &b, Location loc, gpu::GPUModuleOp module, StringRef name,
    const AttentionPlan &plan, TypeRange argTypes, bool hasMask,
    bool hasKvLens) {
  auto workgroup =
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  auto tileType = [&](int64_t dim) {
    return MemRefType::get({prefillKeys(plan), dim + kPad}, plan.keyType,
                           MemRefLayoutAttrInterface(), workgroup);
  };
  SmallVector<Type> tiles{tileType(plan.headDim), tileType(plan.valueDim)};
  MemRefType maskTile =
      hasMask ? stagedMaskType(plan, argTypes[3]) : MemRefType();
  if (maskTile)
    tiles.push_back(maskTile);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToEnd(module.getBody());
  auto func = gpu::GPUFuncOp::create(
      b, loc, name, b.getFunctionType(argTypes, {}), tiles);
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  // cp.async and ldmatrix need 16-byte aligned shared memory (the
  // attributions are 2-byte aligned by default).
  for (unsigned i = 0; i < tiles.size(); ++i)
    func.setWorkgroupAttributionAttr(i, LLVM::LLVMDialect::getAlignAttrName(),
                                     b.getI64IntegerAttr(16));
  func.setKnownBlockSize(
      b.getDenseI32ArrayAttr({int32_t(kPrefillThreads), 1, 1}));
  func->setAttr("nvvm.minctasm", b.getI32IntegerAttr(kPrefillBlocksPerSM));
  b.setInsertionPointToStart(&func.getBody().front());
  ValueRange smem = func.getWorkgroupAttributions();
  PrefillBuilder(b, loc, plan,
                 func.getArguments().take_front(argTypes.size()), hasMask,
                 hasKvLens, smem[0], smem[1], maskTile ? smem[2] : Value())
      .build();
  gpu::ReturnOp::create(b, loc);
  return func;
}
