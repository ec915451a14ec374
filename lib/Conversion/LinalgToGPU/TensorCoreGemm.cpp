//===- TensorCoreGemm.cpp - the prompt's matrix products on tensor cores --===//
//
// With many tokens a projection is compute bound: the generic lowering (a
// thread per output, K serial in the thread) and the CUDA-core kernels
// leave the H200's tensor cores idle. Here a block of 8 warps (2 x 4)
// computes a BM x BN tile of out (BM, BN in {128, 64}: the largest that
// still gives every multiprocessor a block, two for 128 x 64) for one
// batch index, K in tiles of 64 through S shared-memory stages (S = 3 for
// 128 x 128 tiles: 105 KiB, two blocks a multiprocessor; 4 for smaller
// tiles); grid x walks the tiles of the smaller of M and N, so that blocks
// running together share the larger operand's tile:
//
//   prologue: cp.async of K-tiles 0 .. S-2 (BM x 64 of A, 64 x BN of B) to
//     stages 0 .. S-2, a commit group each
//   for each K-tile t: wait until tile t has landed (S-2 groups may stay in
//     flight), barrier (every warp also finished tile t-1, whose stage is
//     overwritten now); cp.async of tile t + S - 1 into stage
//     (t + S - 1) % S; four k-steps of 16: ldmatrix of the warp's A
//     fragments (BM/2 rows) and B fragments (BN/4 columns; ldmatrix.trans
//     for a [k, n] B, plain for the transposed weight [n, k]), mma.sync
//     m16n8k16 into f32 accumulators in registers.
//   epilogue: out = out + acc (the op's initial value), rounded once; or
//     out = acc when the pass found that the initial value is a zero fill
//     (the fill is then not launched at all).
//
// Loads past M, N or K are cp.async with zero source bytes (the tile gets
// zeros, which add nothing), their addresses clamped into the buffer; the
// stores are guarded. Shared-memory rows are padded by 16 bytes: the 8
// rows an ldmatrix phase reads (row strides of 144 or 272 bytes) then fall
// in 8 different 16-byte bank groups, as the cp.async writes of a warp do;
// a swizzled layout would only save the padding's 11%.
//
// The stages live in dynamic shared memory (above the 48 KiB a static
// `.shared` array may have; the runtime opts the kernel in with
// cuFuncSetAttribute at launch): one i8 buffer, viewed as the A stages at
// byte 0 and the B stages after them. The buffer is 16-byte aligned (the
// NVVM lowering's `__dynamic_shmem__` symbol is `.align 16`; NVPTX prints
// it as a 1-byte `.shared` variable, after which the dynamic bytes start,
// so its addresses cover them: checked on the H200) and both views' sizes
// are multiples of 16 bytes, as cp.async and ldmatrix need.
//
// The fragment helpers (MmaSync) are the attention kernels'
// (AttnToGPU/KernelBuilder.h).
//
//===----------------------------------------------------------------------===//

#include "TensorCoreGemm.h"

#include "../AttnToGPU/KernelBuilder.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::attn::gpu_kernels;

namespace {

constexpr int64_t kGemmThreads = 256; // 8 warps: 2 along M x 4 along N
constexpr int64_t kTileK = 64;        // K per stage (four mma k-steps)
constexpr int64_t kPad = 8;           // elements of padding a shared row
/// Blocks that give each of the H200's 132 multiprocessors one.
constexpr int64_t kMultiprocessors = 132;
/// Shared memory a block may opt in to on sm_90 (227 KiB), and a
/// multiprocessor's (228 KiB, 1 KiB of it reserved a block).
constexpr int64_t kMaxBlockShared = 227 * 1024;

struct GemmPlan {
  unsigned aIndex, bIndex; // input positions of A and B
  bool bTransposed;        // B is [.., n, k]
  bool bBatched;           // B has the batch dimensions
  int64_t batch, m, n, k;  // extents (batch and m: products)
  Type element;            // of A and B
  int64_t tileM, tileN;    // block tile
  int64_t stages;          // shared-memory K-tiles in flight
  bool zeroInit;           // out's initial value is zero: not read
  bool rowsFast;           // grid x walks M tiles (else N tiles)

  int64_t kTiles() const { return llvm::divideCeil(k, kTileK); }
  /// Bytes of one stage of A and of B (rows padded by kPad elements).
  int64_t aStageBytes() const {
    return tileM * (kTileK + kPad) * element.getIntOrFloatBitWidth() / 8;
  }
  int64_t bStageBytes() const {
    int64_t elements = bTransposed ? tileN * (kTileK + kPad)
                                   : kTileK * (tileN + kPad);
    return elements * element.getIntOrFloatBitWidth() / 8;
  }
  int64_t sharedBytes() const {
    return stages * (aStageBytes() + bStageBytes());
  }
};

/// Looks through arith.extf to a block argument of the body.
BlockArgument bodyArgument(Value v) {
  if (auto ext = v.getDefiningOp<arith::ExtFOp>())
    v = ext.getIn();
  return dyn_cast<BlockArgument>(v);
}

/// The dims of `map`'s results (all must be plain dims).
std::optional<SmallVector<unsigned>> resultDims(AffineMap map) {
  SmallVector<unsigned> dims;
  for (AffineExpr e : map.getResults()) {
    auto d = dyn_cast<AffineDimExpr>(e);
    if (!d)
      return std::nullopt;
    dims.push_back(d.getPosition());
  }
  return dims;
}

bool isGemmBuffer(Value v) {
  auto type = dyn_cast<MemRefType>(v.getType());
  return type && type.hasStaticShape() && type.getLayout().isIdentity() &&
         type.getRank() >= 2;
}

/// The body is `yield out + a * b` (a, b the two inputs, maybe extended).
bool isMultiplyAdd(linalg::GenericOp op) {
  Block *body = op.getBody();
  if (body->getOperations().size() > 6)
    return false;
  BlockArgument out = body->getArgument(2);
  auto yield = cast<linalg::YieldOp>(body->getTerminator());
  auto add = yield.getValues()[0].getDefiningOp<arith::AddFOp>();
  if (!add || !out.hasOneUse())
    return false;
  Value partial = add.getLhs() == out ? add.getRhs() : add.getLhs();
  if (add.getLhs() != out && add.getRhs() != out)
    return false;
  auto mul = partial.getDefiningOp<arith::MulFOp>();
  if (!mul)
    return false;
  BlockArgument x = bodyArgument(mul.getLhs());
  BlockArgument y = bodyArgument(mul.getRhs());
  return x && y && x != y && x.getArgNumber() < 2 && y.getArgNumber() < 2;
}

std::optional<GemmPlan> matchGemm(linalg::GenericOp op) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 2 ||
      op.getNumDpsInits() != 1 || op.getNumReductionLoops() != 1 ||
      !llvm::all_of(op->getOperands(), isGemmBuffer) || !isMultiplyAdd(op))
    return std::nullopt;
  Value out = op.getDpsInits()[0];
  Type outElement = cast<MemRefType>(out.getType()).getElementType();
  if (!outElement.isF32() && !outElement.isF16() && !outElement.isBF16())
    return std::nullopt;
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  SmallVector<int64_t> extents = op.getStaticLoopRanges();
  unsigned kDim = 0;
  for (unsigned d = 0; d < iterators.size(); ++d)
    if (iterators[d] == utils::IteratorType::reduction)
      kDim = d;
  std::optional<SmallVector<unsigned>> outDims =
      resultDims(op.getMatchingIndexingMap(op.getDpsInitOperand(0)));
  if (!outDims || outDims->size() + 1 != iterators.size())
    return std::nullopt;

  for (unsigned a = 0; a < 2; ++a) {
    OpOperand *aOperand = op.getDpsInputOperand(a);
    OpOperand *bOperand = op.getDpsInputOperand(1 - a);
    Type element = cast<MemRefType>(aOperand->get().getType()).getElementType();
    if ((!element.isF16() && !element.isBF16()) ||
        cast<MemRefType>(bOperand->get().getType()).getElementType() != element)
      continue;
    std::optional<SmallVector<unsigned>> aDims =
        resultDims(op.getMatchingIndexingMap(aOperand));
    std::optional<SmallVector<unsigned>> bDims =
        resultDims(op.getMatchingIndexingMap(bOperand));
    if (!aDims || !bDims || bDims->size() < 2)
      continue;
    // out = (batch.., rows.., n); A = (batch.., rows.., k); B = ([batch..],
    // k, n) or ([batch..], n, k).
    unsigned nDim = outDims->back();
    ArrayRef<unsigned> lead = ArrayRef<unsigned>(*outDims).drop_back();
    SmallVector<unsigned> expectA(lead);
    expectA.push_back(kDim);
    if (*aDims != expectA)
      continue;
    int64_t bLead = bDims->size() - 2;
    ArrayRef<unsigned> bTail = ArrayRef<unsigned>(*bDims).drop_front(bLead);
    bool transposed = bTail[0] == nDim && bTail[1] == kDim;
    if (!transposed && !(bTail[0] == kDim && bTail[1] == nDim))
      continue;
    // B's leading dims are the batch: a prefix of out's (or none).
    if (bLead > int64_t(lead.size()) ||
        ArrayRef<unsigned>(*bDims).take_front(bLead) != lead.take_front(bLead))
      continue;
    GemmPlan plan{a,       1u - a,        transposed,    bLead > 0, 1,
                  1,       extents[nDim], extents[kDim], element,   128,
                  128,     0,             false,         false};
    for (int64_t i = 0; i < int64_t(lead.size()); ++i)
      (i < bLead ? plan.batch : plan.m) *= extents[lead[i]];
    if (plan.m < attn::linalg_gpu::kGemmMinRows || plan.k % 8 != 0 ||
        plan.n < 8 || (!transposed && plan.n % 8 != 0))
      continue;
    // The largest tile that still gives every multiprocessor a block (two
    // for 128 x 64).
    auto blocks = [&](int64_t tm, int64_t tn) {
      return llvm::divideCeil(plan.m, tm) * llvm::divideCeil(plan.n, tn) *
             plan.batch;
    };
    if (blocks(128, 128) < kMultiprocessors)
      plan.tileN = 64;
    // 128 x 64 tiles below two blocks a multiprocessor: 64 x 64 (on the
    // H200, 2048 x 576 outputs: 13.3 against 15.2 us, 29.2 against 32.8 at
    // K 1536; 128 x 64 in place of 128 x 128 lost, 23.2 against 19.4 us).
    if (plan.tileN == 64 && blocks(128, 64) < 2 * kMultiprocessors)
      plan.tileM = 64;
    // Blocks launched together (consecutive x) share the tile of the
    // operand along the other grid axis, read from memory once, and walk
    // the one along x, which should then be the smaller so that it stays in
    // L2: x over M tiles when A (M x K) is smaller than B (K x N) (the
    // lm_head: 2.4 MB of A, 57 MB of B).
    plan.rowsFast = plan.m < plan.n;
    // 128 x 128 tiles: 3 stages (105 KiB) keep two blocks a
    // multiprocessor; smaller tiles take 4. Never more than the K-tiles.
    int64_t stages = plan.tileM * plan.tileN == 128 * 128 ? 3 : 4;
    plan.stages = std::clamp<int64_t>(plan.kTiles(), 2, stages);
    assert(plan.sharedBytes() <= kMaxBlockShared && "stages exceed 227 KiB");
    return plan;
  }
  return std::nullopt;
}

/// A contiguous buffer as 2-D [rows, last dimension].
Value as2D(OpBuilder &b, Location loc, Value v) {
  auto type = cast<MemRefType>(v.getType());
  if (type.getRank() == 2)
    return v;
  SmallVector<ReassociationIndices> groups(2);
  for (int64_t d = 0; d + 1 < type.getRank(); ++d)
    groups[0].push_back(d);
  groups[1].push_back(type.getRank() - 1);
  return memref::CollapseShapeOp::create(b, loc, v, groups);
}

class GemmBuilder {
public:
  GemmBuilder(OpBuilder &b, Location loc, const GemmPlan &plan, Value a,
              Value bMat, Value out, Value sa, Value sb)
      : k{b, loc}, p(plan), mmaSync{k, plan.element}, a(a), bMat(bMat),
        out(out), sa(sa), sb(sb) {}

  void build(gpu::LaunchOp launch);

private:
  KB k;
  const GemmPlan &p;
  MmaSync mmaSync;
  Value a, bMat, out; // 2-D global buffers
  Value sa, sb;       // shared [stages, rows, cols + kPad]
  Value tid, lane, g, t, warpM, warpN, rowBase, colBase, aRow0, bRow0;

  int64_t warpRows() const { return p.tileM / 2; }
  int64_t warpCols() const { return p.tileN / 4; }
  int64_t mTiles() const { return warpRows() / 16; }
  int64_t nTiles() const { return warpCols() / 8; }

  /// cp.async of a rows x cols tile whose (row, column) = (r, c) is
  /// global[row0 + first + r, kcol0 + c] into stage `stage` of `smem`;
  /// rows at or past `rowEnd` (relative to first) and columns at or past
  /// `colEnd` are zero-filled.
  void copyTile(Value smem, Value stage, Value global, Value row0, Value first,
                int64_t rowEnd, Value col0, int64_t colEnd, int64_t rows,
                int64_t cols);
  void issue(Value tile, Value stage);
  SmallVector<Value> compute(Value stage, ValueRange acc);
  void epilogue(ValueRange acc);
};

void GemmBuilder::copyTile(Value smem, Value stage, Value global, Value row0,
                           Value first, int64_t rowEnd, Value col0,
                           int64_t colEnd, int64_t rows, int64_t cols) {
  int64_t chunks = cols / 8; // 16-byte chunks a row
  int64_t rowsPerPass = kGemmThreads / chunks;
  Value chunk = k.mul(k.rem(tid, chunks), k.idx(8));
  Value r0 = k.div(tid, chunks);
  auto token = nvgpu::DeviceAsyncTokenType::get(k.b.getContext());
  Value col = k.add(col0, chunk);
  Value colOk = k.lt(col, k.idx(colEnd));
  for (int64_t pass = 0; pass < rows / rowsPerPass; ++pass) {
    Value r = k.add(r0, k.idx(pass * rowsPerPass));
    Value row = k.add(first, r);
    Value ok = k.andI(colOk, k.lt(row, k.idx(rowEnd)));
    Value srcRow = k.add(row0, k.select(ok, row, k.idx(0)));
    Value srcCol = k.select(ok, col, k.idx(0));
    Value elements = k.select(ok, k.idx(8), k.idx(0));
    nvgpu::DeviceAsyncCopyOp::create(
        k.b, k.loc, token, smem, ValueRange{stage, r, chunk}, global,
        ValueRange{srcRow, srcCol}, k.b.getIndexAttr(8), elements,
        k.b.getUnitAttr());
  }
}

void GemmBuilder::issue(Value tile, Value stage) {
  Value k0 = k.mul(tile, k.idx(kTileK));
  copyTile(sa, stage, a, aRow0, rowBase, p.m, k0, p.k, p.tileM, kTileK);
  if (p.bTransposed)
    copyTile(sb, stage, bMat, bRow0, colBase, p.n, k0, p.k, p.tileN, kTileK);
  else
    copyTile(sb, stage, bMat, bRow0, k0, p.k, colBase, p.n, kTileK, p.tileN);
}

SmallVector<Value> GemmBuilder::compute(Value stage, ValueRange accIn) {
  SmallVector<Value> acc(accIn);
  Value l16 = k.rem(lane, 16), hi = k.div(lane, 16);
  Value l8 = k.rem(lane, 8), mid = k.rem(k.div(lane, 8), 2);
  Value wm0 = k.mul(warpM, k.idx(warpRows()));
  Value wn0 = k.mul(warpN, k.idx(warpCols()));
  for (int64_t step = 0; step < kTileK / 16; ++step) {
    // A (m16 x k16) of m-tile i: matrices rows +0/+8 x columns +0/+8, in
    // the order of the A registers (lane l addresses row l % 16, column
    // 8 (l / 16)).
    SmallVector<SmallVector<Value>> af;
    for (int64_t i = 0; i < mTiles(); ++i) {
      Value row = k.add(wm0, k.add(l16, k.idx(16 * i)));
      Value col = k.add(k.mul(hi, k.idx(8)), k.idx(16 * step));
      af.push_back(mmaSync.ldmatrix(sa, {stage, row, col}, false));
    }
    // B of n-tiles 2j, 2j + 1: matrices (n +0, k +0), (n +0, k +8), (n +8,
    // k +0), (n +8, k +8).
    SmallVector<SmallVector<Value>> bf;
    for (int64_t j = 0; j < nTiles() / 2; ++j) {
      SmallVector<Value> r;
      if (p.bTransposed) {
        // sb[n][k]: lane l addresses n = l % 8 + 8 (l / 16), k = 8 ((l / 8) %
        // 2).
        Value row =
            k.add(wn0, k.add(k.add(l8, k.mul(hi, k.idx(8))), k.idx(16 * j)));
        Value col = k.add(k.mul(mid, k.idx(8)), k.idx(16 * step));
        r = mmaSync.ldmatrix(sb, {stage, row, col}, false);
      } else {
        // sb[k][n], transposed: lane l addresses k = l % 8 + 8 ((l / 8) % 2),
        // n = 8 (l / 16).
        Value row = k.add(k.add(l8, k.mul(mid, k.idx(8))), k.idx(16 * step));
        Value col = k.add(wn0, k.add(k.mul(hi, k.idx(8)), k.idx(16 * j)));
        r = mmaSync.ldmatrix(sb, {stage, row, col}, true);
      }
      bf.push_back({r[0], r[1]});
      bf.push_back({r[2], r[3]});
    }
    for (int64_t i = 0; i < mTiles(); ++i)
      for (int64_t j = 0; j < nTiles(); ++j) {
        int64_t at = 4 * (i * nTiles() + j);
        SmallVector<Value> d =
            mmaSync.mma(af[i], bf[j], ArrayRef<Value>(acc).slice(at, 4));
        std::copy(d.begin(), d.end(), acc.begin() + at);
      }
  }
  return acc;
}

void GemmBuilder::epilogue(ValueRange acc) {
  // Accumulator (i, j): rows g, g + 8 of m-tile i x columns 2t, 2t + 1 of
  // n-tile j. With N even a column pair is in or out together: one 2-wide
  // access; else each element is guarded.
  Value row0 = k.add(rowBase, k.add(k.mul(warpM, k.idx(warpRows())), g));
  Value col0 = k.add(
      colBase, k.add(k.mul(warpN, k.idx(warpCols())), k.mul(t, k.idx(2))));
  Type f32 = k.b.getF32Type();
  // (No guard where the tiles divide the extent: every index is inside.)
  bool rowsExact = p.m % p.tileM == 0, colsExact = p.n % p.tileN == 0;
  auto guarded = [&](Value cond, llvm::function_ref<void()> body) {
    if (!cond) {
      body();
      return;
    }
    auto ifOp = scf::IfOp::create(k.b, k.loc, cond, /*withElse=*/false);
    OpBuilder::InsertionGuard guard(k.b);
    k.b.setInsertionPointToStart(&ifOp.getThenRegion().front());
    body();
  };
  for (int64_t i = 0; i < mTiles(); ++i)
    for (int64_t h = 0; h < 2; ++h) {
      Value row = k.add(row0, k.idx(16 * i + 8 * h));
      Value outRow = k.add(aRow0, row);
      guarded(rowsExact ? Value() : k.lt(row, k.idx(p.m)), [&] {
        for (int64_t j = 0; j < nTiles(); ++j) {
          Value col = k.add(col0, k.idx(8 * j));
          Value x = acc[4 * (i * nTiles() + j) + 2 * h];
          Value y = acc[4 * (i * nTiles() + j) + 2 * h + 1];
          if (p.n % 2 == 0) {
            guarded(colsExact ? Value() : k.lt(col, k.idx(p.n)), [&] {
              Value sum = vector::FromElementsOp::create(
                  k.b, k.loc, VectorType::get({2}, f32), ValueRange{x, y});
              if (!p.zeroInit)
                sum = k.fadd(k.loadVec(out, {outRow, col}, 2), sum);
              k.storeVec(sum, out, {outRow, col});
            });
            continue;
          }
          for (int64_t e = 0; e < 2; ++e) {
            Value c = k.add(col, k.idx(e));
            guarded(k.lt(c, k.idx(p.n)), [&] {
              Type element = cast<MemRefType>(out.getType()).getElementType();
              Value sum = e == 0 ? x : y;
              if (!p.zeroInit)
                sum = k.fadd(k.toF32(k.load(out, {outRow, c})), sum);
              k.store(k.fromF32(sum, element), out, {outRow, c});
            });
          }
        }
      });
    }
}

void GemmBuilder::build(gpu::LaunchOp launch) {
  tid = launch.getThreadIds().x;
  lane = k.rem(tid, 32);
  Value warp = k.div(tid, 32);
  warpM = k.div(warp, 4);
  warpN = k.rem(warp, 4);
  g = k.div(lane, 4);
  t = k.rem(lane, 4);
  Value bx = launch.getBlockIds().x, by = launch.getBlockIds().y;
  colBase = k.mul(p.rowsFast ? by : bx, k.idx(p.tileN));
  rowBase = k.mul(p.rowsFast ? bx : by, k.idx(p.tileM));
  Value z = launch.getBlockIds().z;
  // Rows of the 2-D views where this batch index starts.
  aRow0 = k.mul(z, k.idx(p.m));
  bRow0 = p.bBatched ? k.mul(z, k.idx(p.bTransposed ? p.n : p.k)) : k.idx(0);

  const int64_t tiles = p.kTiles(), stages = p.stages;
  // Prologue: tiles 0 .. S-2, a commit group each (empty past the last
  // tile, so that the wait below counts the same groups on every tile).
  for (int64_t s = 0; s + 1 < stages; ++s) {
    if (s < tiles)
      issue(k.idx(s), k.idx(s));
    NVVM::CpAsyncCommitGroupOp::create(k.b, k.loc);
  }
  SmallVector<Value> init(4 * mTiles() * nTiles(), k.f32(0));
  auto loop =
      scf::ForOp::create(k.b, k.loc, k.idx(0), k.idx(tiles), k.idx(1), init);
  {
    OpBuilder::InsertionGuard guard(k.b);
    k.b.setInsertionPointToStart(loop.getBody());
    Value tile = loop.getInductionVar();
    // S - 1 + t groups are committed: with at most S - 2 pending, tile t's
    // copies (this thread's) are done; the barrier makes every thread's
    // visible and tells that tile t - 1 (stage (t + S - 1) % S) is read.
    NVVM::CpAsyncWaitGroupOp::create(k.b, k.loc,
                                     k.b.getI32IntegerAttr(stages - 2));
    gpu::BarrierOp::create(k.b, k.loc);
    Value next = k.add(tile, k.idx(stages - 1));
    auto ifOp = scf::IfOp::create(k.b, k.loc, k.lt(next, k.idx(tiles)),
                                  /*withElse=*/false);
    {
      OpBuilder::InsertionGuard inner(k.b);
      k.b.setInsertionPointToStart(&ifOp.getThenRegion().front());
      issue(next, k.rem(next, stages));
    }
    NVVM::CpAsyncCommitGroupOp::create(k.b, k.loc);
    SmallVector<Value> acc =
        compute(k.rem(tile, stages), loop.getRegionIterArgs());
    scf::YieldOp::create(k.b, k.loc, acc);
  }
  NVVM::CpAsyncWaitGroupOp::create(k.b, k.loc, k.b.getI32IntegerAttr(0));
  epilogue(loop.getResults());
}

} // namespace

LogicalResult
mlir::attn::linalg_gpu::lowerTensorCoreGemm(RewriterBase &rewriter,
                                            linalg::GenericOp op,
                                            bool zeroInit) {
  std::optional<GemmPlan> plan = matchGemm(op);
  if (!plan)
    return failure();
  plan->zeroInit = zeroInit;
  Location loc = op.getLoc();
  MLIRContext *ctx = rewriter.getContext();
  auto workgroup =
      gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
  auto stageType = [&](int64_t rows, int64_t cols) {
    return MemRefType::get({plan->stages, rows, cols + kPad}, plan->element,
                           MemRefLayoutAttrInterface(), workgroup);
  };
  MemRefType saType = stageType(plan->tileM, kTileK);
  MemRefType sbType = plan->bTransposed ? stageType(plan->tileN, kTileK)
                                        : stageType(kTileK, plan->tileN);

  rewriter.setInsertionPoint(op);
  auto cst = [&](int64_t v) {
    return arith::ConstantIndexOp::create(rewriter, loc, v);
  };
  Value one = cst(1);
  Value sharedBytes = arith::ConstantIntOp::create(
      rewriter, loc, rewriter.getI32Type(), plan->sharedBytes());
  int64_t nBlocks = llvm::divideCeil(plan->n, plan->tileN);
  int64_t mBlocks = llvm::divideCeil(plan->m, plan->tileM);
  if (plan->rowsFast)
    std::swap(nBlocks, mBlocks);
  auto launch = gpu::LaunchOp::create(
      rewriter, loc, cst(nBlocks), cst(mBlocks), cst(plan->batch),
      cst(kGemmThreads), one, one, sharedBytes);
  Block &body = launch.getBody().front();
  rewriter.setInsertionPointToEnd(&body);
  gpu::TerminatorOp::create(rewriter, loc);
  rewriter.setInsertionPoint(body.getTerminator());
  Value a = as2D(rewriter, loc, op.getDpsInputs()[plan->aIndex]);
  Value b = as2D(rewriter, loc, op.getDpsInputs()[plan->bIndex]);
  Value out = as2D(rewriter, loc, op.getDpsInits()[0]);
  auto bytes = MemRefType::get({ShapedType::kDynamic}, rewriter.getI8Type(),
                               MemRefLayoutAttrInterface(), workgroup);
  Value shared = gpu::DynamicSharedMemoryOp::create(rewriter, loc, bytes);
  Value sa = memref::ViewOp::create(rewriter, loc, saType, shared, cst(0),
                                    ValueRange{});
  Value sb = memref::ViewOp::create(rewriter, loc, sbType, shared,
                                    cst(plan->stages * plan->aStageBytes()),
                                    ValueRange{});
  GemmBuilder(rewriter, loc, *plan, a, b, out, sa, sb).build(launch);
  rewriter.eraseOp(op);
  return success();
}
