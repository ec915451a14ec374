//===- ReductionKernels.cpp - matvec and cooperative reduction kernels ----===//
//
// A decode step is memory bound: its projections read every weight once
// for one (or a few) rows. One thread per output element with the whole
// reduction in the thread (the generic lowering) leaves most of the GPU
// idle and the weight stream narrow. Here:
//
// - lowerMatVec: threads of a block are (CT column groups) x (S slices of
//   K). A thread owns V consecutive columns (16 bytes of W, one
//   ld.global.v4) and walks its slice of K, U rows in flight; the slices
//   are summed in shared memory. With an f32 output and few column blocks,
//   K is also split over the grid's y dimension and the blocks add their
//   sums atomically into the output (which holds the op's initial value).
// - lowerCooperativeReduction: one warp per output point (one block for
//   long reductions), lanes strided over the reduction, shuffle tree.
//
//===----------------------------------------------------------------------===//

#include "ReductionKernels.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/Support/MathExtras.h"

#include <limits>

using namespace mlir;

namespace {

constexpr int64_t kThreads = 256;
constexpr int64_t kWarp = 32;
/// Blocks that keep the 132 multiprocessors of an H200 busy.
constexpr int64_t kTargetBlocks = 264;
/// Above this many output points a thread each fills the GPU.
constexpr int64_t kMaxCooperativePoints = 8192;

/// The combiner of a reduction body: `yield comb(t, out)` (either order),
/// the output argument used only there.
struct Combiner {
  Operation *op = nullptr;
  Value partial;
};

std::optional<Combiner> matchCombiner(linalg::GenericOp op) {
  if (op.getNumDpsInits() != 1 || op.getNumReductionLoops() == 0 ||
      op->getNumResults() != 0)
    return std::nullopt;
  Block *body = op.getBody();
  BlockArgument out = body->getArgument(op.getNumDpsInputs());
  auto yield = cast<linalg::YieldOp>(body->getTerminator());
  Operation *def = yield.getValues()[0].getDefiningOp();
  if (!def || def->getBlock() != body ||
      !isa<arith::AddFOp, arith::MaximumFOp, arith::MaxNumFOp,
           arith::MinimumFOp, arith::MinNumFOp>(def) ||
      !out.hasOneUse())
    return std::nullopt;
  Value partial;
  if (def->getOperand(0) == out)
    partial = def->getOperand(1);
  else if (def->getOperand(1) == out)
    partial = def->getOperand(0);
  else
    return std::nullopt;
  return Combiner{def, partial};
}

/// `a comb b` with the combiner's kind and attributes at the operands' type.
Value combine(OpBuilder &b, Location loc, Operation *proto, Value x, Value y) {
  OperationState state(loc, proto->getName());
  state.addOperands({x, y});
  state.addTypes(x.getType());
  state.addAttributes(proto->getAttrs());
  return b.create(state)->getResult(0);
}

Value identity(OpBuilder &b, Location loc, Operation *proto, FloatType type) {
  double v = 0.0;
  if (isa<arith::MaximumFOp, arith::MaxNumFOp>(proto))
    v = -std::numeric_limits<double>::infinity();
  else if (isa<arith::MinimumFOp, arith::MinNumFOp>(proto))
    v = std::numeric_limits<double>::infinity();
  return arith::ConstantOp::create(b, loc, b.getFloatAttr(type, v));
}

Value cst(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

/// Static identity-layout memrefs or scalars, projected-permutation maps
/// (constant results allowed).
bool hasSimpleOperands(linalg::GenericOp op) {
  for (OpOperand &operand : op->getOpOperands()) {
    if (auto type = dyn_cast<MemRefType>(operand.get().getType())) {
      if (!type.hasStaticShape())
        return false;
    } else if (!operand.get().getType().isIntOrIndexOrFloat()) {
      return false;
    }
    AffineMap map = op.getMatchingIndexingMap(&operand);
    for (AffineExpr e : map.getResults())
      if (!isa<AffineDimExpr, AffineConstantExpr>(e))
        return false;
  }
  return true;
}

/// Indices of `operand` at loop point `ivs`.
SmallVector<Value> indicesAt(OpBuilder &b, Location loc, linalg::GenericOp op,
                             OpOperand &operand, ArrayRef<Value> ivs) {
  SmallVector<Value> indices;
  for (AffineExpr e : op.getMatchingIndexingMap(&operand).getResults()) {
    if (auto d = dyn_cast<AffineDimExpr>(e))
      indices.push_back(ivs[d.getPosition()]);
    else
      indices.push_back(cst(b, loc, cast<AffineConstantExpr>(e).getValue()));
  }
  return indices;
}

Value loadOperand(OpBuilder &b, Location loc, linalg::GenericOp op,
                  OpOperand &operand, ArrayRef<Value> ivs) {
  if (!isa<MemRefType>(operand.get().getType()))
    return operand.get();
  return memref::LoadOp::create(b, loc, operand.get(),
                                indicesAt(b, loc, op, operand, ivs));
}

/// Splits linear `index` over `extents` (last fastest) into `ivs[dims[i]]`.
void delinearize(OpBuilder &b, Location loc, Value index,
                 ArrayRef<unsigned> dims, ArrayRef<int64_t> extents,
                 SmallVectorImpl<Value> &ivs) {
  Value rest = index;
  for (int64_t i = dims.size() - 1; i >= 0; --i) {
    int64_t n = extents[dims[i]];
    if (n == 1) {
      ivs[dims[i]] = cst(b, loc, 0);
    } else if (i == 0) {
      ivs[dims[i]] = rest;
    } else {
      ivs[dims[i]] = arith::RemUIOp::create(b, loc, rest, cst(b, loc, n));
      rest = arith::DivUIOp::create(b, loc, rest, cst(b, loc, n));
    }
  }
}

Value toF32(OpBuilder &b, Location loc, Value v) {
  Type f32 = b.getF32Type();
  if (v.getType() == f32)
    return v;
  return arith::ExtFOp::create(b, loc, f32, v);
}

/// A gpu.launch before `op` with the given sizes and workgroup buffers; the
/// builder is left before its terminator.
gpu::LaunchOp createLaunch(OpBuilder &b, Location loc, int64_t gridX,
                           int64_t gridY, int64_t threads,
                           TypeRange workgroup = {}) {
  Value one = cst(b, loc, 1);
  auto launch = gpu::LaunchOp::create(
      b, loc, cst(b, loc, gridX), cst(b, loc, gridY), one,
      cst(b, loc, threads), one, one, /*dynamicSharedMemorySize=*/nullptr,
      /*asyncTokenType=*/nullptr, /*asyncDependencies=*/{}, workgroup);
  Block &body = launch.getBody().front();
  b.setInsertionPointToEnd(&body);
  gpu::TerminatorOp::create(b, loc);
  b.setInsertionPoint(body.getTerminator());
  return launch;
}

Type workgroupMemRef(OpBuilder &b, ArrayRef<int64_t> shape) {
  return MemRefType::get(
      shape, b.getF32Type(), MemRefLayoutAttrInterface(),
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup));
}

Value shuffleXor(OpBuilder &b, Location loc, Value v, int64_t offset) {
  return gpu::ShuffleOp::create(b, loc, v, int32_t(offset), int32_t(kWarp),
                                gpu::ShuffleMode::XOR)
      .getShuffleResult();
}

//===----------------------------------------------------------------------===//
// Matrix-vector products
//===----------------------------------------------------------------------===//

/// Looks through arith.extf to a block argument of the body.
BlockArgument bodyArgument(Value v) {
  if (auto ext = v.getDefiningOp<arith::ExtFOp>())
    v = ext.getIn();
  return dyn_cast<BlockArgument>(v);
}

struct MatVecPlan {
  unsigned xIndex, wIndex; // input positions
  unsigned kDim, nDim;
  SmallVector<unsigned> rowDims;
  int64_t rows, k, n;
};

std::optional<MatVecPlan> matchMatVec(linalg::GenericOp op) {
  std::optional<Combiner> comb = matchCombiner(op);
  if (!comb || !isa<arith::AddFOp>(comb->op) || op.getNumDpsInputs() != 2 ||
      op.getNumReductionLoops() != 1 || !hasSimpleOperands(op))
    return std::nullopt;
  // The body: out + a * b, a and b the inputs (maybe extended to f32).
  auto mul = comb->partial.getDefiningOp<arith::MulFOp>();
  if (!mul || op.getBody()->getOperations().size() > 6)
    return std::nullopt;
  BlockArgument a = bodyArgument(mul.getLhs());
  BlockArgument c = bodyArgument(mul.getRhs());
  if (!a || !c || a == c || a.getArgNumber() >= 2 || c.getArgNumber() >= 2)
    return std::nullopt;
  if (!isa<FloatType>(
          cast<MemRefType>(op.getDpsInits()[0].getType()).getElementType()))
    return std::nullopt;

  SmallVector<int64_t> extents = op.getStaticLoopRanges();
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  unsigned kDim = 0;
  for (unsigned d = 0; d < iterators.size(); ++d)
    if (iterators[d] == utils::IteratorType::reduction)
      kDim = d;
  for (unsigned w = 0; w < 2; ++w) {
    OpOperand *wOperand = op.getDpsInputOperand(w);
    OpOperand *xOperand = op.getDpsInputOperand(1 - w);
    auto wType = dyn_cast<MemRefType>(wOperand->get().getType());
    auto xType = dyn_cast<MemRefType>(xOperand->get().getType());
    if (!wType || !xType || wType.getRank() != 2 ||
        !wType.getLayout().isIdentity() ||
        !isa<FloatType>(xType.getElementType()))
      continue;
    Type element = wType.getElementType();
    if (!element.isF32() && !element.isF16() && !element.isBF16())
      continue;
    AffineMap wMap = op.getMatchingIndexingMap(wOperand);
    auto kExpr = dyn_cast<AffineDimExpr>(wMap.getResult(0));
    auto nExpr = dyn_cast<AffineDimExpr>(wMap.getResult(1));
    if (!kExpr || !nExpr || kExpr.getPosition() != kDim ||
        iterators[nExpr.getPosition()] != utils::IteratorType::parallel)
      continue;
    unsigned nDim = nExpr.getPosition();
    AffineMap xMap = op.getMatchingIndexingMap(xOperand);
    AffineMap outMap = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
    if (xMap.isFunctionOfDim(nDim) || !xMap.isFunctionOfDim(kDim) ||
        outMap.isFunctionOfDim(kDim) || !outMap.isFunctionOfDim(nDim))
      continue;
    MatVecPlan plan{1u - w, w, kDim, nDim, {}, 1, extents[kDim],
                    extents[nDim]};
    for (unsigned d = 0; d < iterators.size(); ++d)
      if (d != kDim && d != nDim) {
        plan.rowDims.push_back(d);
        plan.rows *= extents[d];
      }
    int64_t bytes = element.getIntOrFloatBitWidth() / 8;
    if (plan.rows > 8 || plan.rows == 0 || plan.k == 0 || plan.n == 0 ||
        (plan.n * bytes) % 16 != 0)
      continue;
    return plan;
  }
  return std::nullopt;
}

} // namespace

LogicalResult mlir::attn::linalg_gpu::lowerMatVec(RewriterBase &rewriter,
                                                  linalg::GenericOp op) {
  std::optional<MatVecPlan> plan = matchMatVec(op);
  if (!plan)
    return failure();
  Location loc = op.getLoc();
  Value x = op.getDpsInputs()[plan->xIndex];
  Value w = op.getDpsInputs()[plan->wIndex];
  Value out = op.getDpsInits()[0];
  auto wType = cast<MemRefType>(w.getType());
  Type outElement = cast<MemRefType>(out.getType()).getElementType();
  Type f32 = rewriter.getF32Type();

  const int64_t bytes = wType.getElementTypeBitWidth() / 8;
  const int64_t vec = 16 / bytes;           // columns per thread
  const int64_t groups = plan->n / vec;     // 16-byte column groups
  // 16 threads (256 bytes of a row) per column block; without atomics
  // (non-f32 outputs) narrower blocks, down to 4 threads (64 bytes, still
  // whole sectors), so that more blocks share the columns.
  int64_t ct = std::min<int64_t>(16, llvm::PowerOf2Ceil(groups));
  if (!outElement.isF32())
    while (ct > 4 && llvm::divideCeil(groups, ct) < kTargetBlocks / 2)
      ct /= 2;
  const int64_t slices = kThreads / ct;     // K slices of a block
  const int64_t unroll = 4;                 // rows of W in flight
  const int64_t colBlocks = llvm::divideCeil(groups, ct);
  // Split K over blocks when the columns alone leave SMs idle, keeping at
  // least 4 rows per thread; only f32 outputs (atomic adds).
  int64_t kBlocks = 1;
  if (outElement.isF32())
    kBlocks = std::clamp<int64_t>(
        kTargetBlocks / colBlocks, 1,
        std::max<int64_t>(1, plan->k / (slices * 4)));
  const int64_t kChunk = llvm::divideCeil(plan->k, kBlocks);
  kBlocks = llvm::divideCeil(plan->k, kChunk);

  rewriter.setInsertionPoint(op);
  Type smemType = workgroupMemRef(rewriter, {slices, ct * vec});
  gpu::LaunchOp launch =
      createLaunch(rewriter, loc, colBlocks, kBlocks, kThreads, smemType);
  OpBuilder &b = rewriter;
  Value smem = launch.getWorkgroupAttributions().front();
  Value tid = launch.getThreadIds().x;
  Value c = arith::RemUIOp::create(b, loc, tid, cst(b, loc, ct));
  Value s = arith::DivUIOp::create(b, loc, tid, cst(b, loc, ct));
  Value group = arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, launch.getBlockIds().x,
                                    cst(b, loc, ct)),
      c);
  Value valid = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, group,
                                      cst(b, loc, groups));
  // Out-of-range threads load a valid column and throw the result away.
  Value col0 = arith::MulIOp::create(
      b, loc,
      arith::SelectOp::create(b, loc, valid, group, cst(b, loc, 0)),
      cst(b, loc, vec));
  Value kBegin = arith::MulIOp::create(b, loc, launch.getBlockIds().y,
                                       cst(b, loc, kChunk));
  Value kEnd = arith::MinUIOp::create(
      b, loc, arith::AddIOp::create(b, loc, kBegin, cst(b, loc, kChunk)),
      cst(b, loc, plan->k));
  Value kLast = arith::SubIOp::create(b, loc, kEnd, cst(b, loc, 1));

  // Loop points of each row of x (constants), k and n filled per use.
  SmallVector<int64_t> extents = op.getStaticLoopRanges();
  SmallVector<SmallVector<Value>> rowIvs;
  for (int64_t m = 0; m < plan->rows; ++m) {
    SmallVector<Value> ivs(extents.size());
    int64_t rest = m;
    for (int64_t i = plan->rowDims.size() - 1; i >= 0; --i) {
      int64_t n = extents[plan->rowDims[i]];
      ivs[plan->rowDims[i]] = cst(b, loc, rest % n);
      rest /= n;
    }
    rowIvs.push_back(ivs);
  }

  auto vecType = VectorType::get({vec}, f32);
  Value zeros = arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(vecType, b.getF32FloatAttr(0.0f)));
  SmallVector<Value> inits(plan->rows, zeros);
  Value start = arith::AddIOp::create(b, loc, kBegin, s);
  auto loop = scf::ForOp::create(b, loc, start, kEnd,
                                 cst(b, loc, slices * unroll), inits);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value j = loop.getInductionVar();
    SmallVector<Value> weights, inRange, ks;
    // All loads of the iteration first, then the FMAs.
    for (int64_t u = 0; u < unroll; ++u) {
      Value k = arith::AddIOp::create(b, loc, j, cst(b, loc, u * slices));
      Value in = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, k,
                                       kEnd);
      Value kc = arith::MinUIOp::create(b, loc, k, kLast);
      Value row = vector::LoadOp::create(
          b, loc, VectorType::get({vec}, wType.getElementType()), w,
          ValueRange{kc, col0}, /*nontemporal=*/false, llvm::MaybeAlign(16));
      if (!wType.getElementType().isF32())
        row = arith::ExtFOp::create(b, loc, vecType, row);
      weights.push_back(row);
      inRange.push_back(in);
      ks.push_back(kc);
    }
    SmallVector<Value> accs;
    for (BlockArgument arg : loop.getRegionIterArgs())
      accs.push_back(arg);
    OpOperand *xOperand = op.getDpsInputOperand(plan->xIndex);
    for (int64_t u = 0; u < unroll; ++u) {
      for (int64_t m = 0; m < plan->rows; ++m) {
        SmallVector<Value> ivs = rowIvs[m];
        ivs[plan->kDim] = ks[u];
        ivs[plan->nDim] = cst(b, loc, 0);
        Value xv = toF32(b, loc, loadOperand(b, loc, op, *xOperand, ivs));
        xv = arith::SelectOp::create(
            b, loc, inRange[u], xv,
            arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f)));
        Value splat = vector::BroadcastOp::create(b, loc, vecType, xv);
        accs[m] = vector::FMAOp::create(b, loc, splat, weights[u], accs[m]);
      }
    }
    scf::YieldOp::create(b, loc, accs);
  }

  // Sum the slices in shared memory, one row at a time.
  Value isFirst = arith::AndIOp::create(
      b, loc,
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, s,
                            cst(b, loc, 0)),
      valid);
  Value smemCol = arith::MulIOp::create(b, loc, c, cst(b, loc, vec));
  OpOperand *outOperand = op.getDpsInitOperand(0);
  for (int64_t m = 0; m < plan->rows; ++m) {
    if (m > 0)
      gpu::BarrierOp::create(b, loc);
    vector::StoreOp::create(b, loc, loop.getResult(m), smem,
                            ValueRange{s, smemCol}, /*nontemporal=*/false,
                            llvm::MaybeAlign(16));
    gpu::BarrierOp::create(b, loc);
    auto ifFirst = scf::IfOp::create(b, loc, isFirst, /*withElse=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(ifFirst.thenBlock()->getTerminator());
    Value sum = zeros;
    for (int64_t i = 0; i < slices; ++i)
      sum = arith::AddFOp::create(
          b, loc, sum,
          vector::LoadOp::create(b, loc, vecType, smem,
                                 ValueRange{cst(b, loc, i), smemCol},
                                 /*nontemporal=*/false, llvm::MaybeAlign(16)));
    for (int64_t v = 0; v < vec; ++v) {
      SmallVector<Value> ivs = rowIvs[m];
      ivs[plan->kDim] = cst(b, loc, 0);
      ivs[plan->nDim] = arith::AddIOp::create(b, loc, col0, cst(b, loc, v));
      SmallVector<Value> idx = indicesAt(b, loc, op, *outOperand, ivs);
      Value part = vector::ExtractOp::create(b, loc, sum, v);
      if (kBlocks > 1) {
        memref::AtomicRMWOp::create(b, loc, arith::AtomicRMWKind::addf, part,
                                    out, idx);
        continue;
      }
      Value old = toF32(b, loc, memref::LoadOp::create(b, loc, out, idx));
      Value result = arith::AddFOp::create(b, loc, old, part);
      if (outElement != f32)
        result = arith::TruncFOp::create(b, loc, outElement, result);
      memref::StoreOp::create(b, loc, result, out, idx);
    }
  }
  rewriter.eraseOp(op);
  return success();
}

//===----------------------------------------------------------------------===//
// Cooperative reductions
//===----------------------------------------------------------------------===//

LogicalResult mlir::attn::linalg_gpu::lowerCooperativeReduction(
    RewriterBase &rewriter, linalg::GenericOp op) {
  std::optional<Combiner> comb = matchCombiner(op);
  if (!comb || !hasSimpleOperands(op))
    return failure();
  auto outType = cast<MemRefType>(op.getDpsInits()[0].getType());
  auto outElement = dyn_cast<FloatType>(outType.getElementType());
  if (!outElement || outElement.getWidth() > 32)
    return failure();
  SmallVector<int64_t> extents = op.getStaticLoopRanges();
  SmallVector<unsigned> parallelDims, reductionDims;
  int64_t points = 1, length = 1;
  for (auto [d, it] : llvm::enumerate(op.getIteratorTypesArray())) {
    if (it == utils::IteratorType::parallel) {
      parallelDims.push_back(d);
      points *= extents[d];
    } else {
      reductionDims.push_back(d);
      length *= extents[d];
    }
  }
  // Many points fill the GPU one thread each (the generic form, whose
  // threads read consecutive columns of a prefill product coalesced).
  if (length < 64 || points == 0 || points > kMaxCooperativePoints)
    return failure();
  // A warp per point; a whole block for long rows (vocabulary softmax).
  const int64_t lanes = length >= 2048 ? kThreads : kWarp;
  const int64_t perBlock = kThreads / lanes;
  const int64_t blocks = llvm::divideCeil(points, perBlock);
  if (blocks > std::numeric_limits<int32_t>::max())
    return failure();

  Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  SmallVector<Type> workgroup;
  if (lanes > kWarp)
    workgroup.push_back(workgroupMemRef(rewriter, {kThreads / kWarp}));
  gpu::LaunchOp launch =
      createLaunch(rewriter, loc, blocks, 1, kThreads, workgroup);
  OpBuilder &b = rewriter;
  Type f32 = b.getF32Type();
  Value tid = launch.getThreadIds().x;
  Value lane = arith::RemUIOp::create(b, loc, tid, cst(b, loc, lanes));
  Value point = arith::AddIOp::create(
      b, loc,
      arith::MulIOp::create(b, loc, launch.getBlockIds().x,
                            cst(b, loc, perBlock)),
      arith::DivUIOp::create(b, loc, tid, cst(b, loc, lanes)));
  // Warps past the last point (uniform per warp, so the shuffles below see
  // whole warps) do nothing; a block per point has none.
  OpBuilder::InsertionGuard guard(b);
  if (lanes == kWarp && points % perBlock != 0) {
    Value inside = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                         point, cst(b, loc, points));
    auto guardIf = scf::IfOp::create(b, loc, inside, /*withElse=*/false);
    b.setInsertionPoint(guardIf.thenBlock()->getTerminator());
  }
  SmallVector<Value> ivs(extents.size());
  delinearize(b, loc, point, parallelDims, extents, ivs);

  Operation *proto = comb->op;
  auto loop = scf::ForOp::create(b, loc, lane, cst(b, loc, length),
                                 cst(b, loc, lanes),
                                 ValueRange{identity(b, loc, proto,
                                                     cast<FloatType>(f32))});
  {
    OpBuilder::InsertionGuard inner(b);
    b.setInsertionPointToStart(loop.getBody());
    SmallVector<Value> pointIvs = ivs;
    delinearize(b, loc, loop.getInductionVar(), reductionDims, extents,
                pointIvs);
    IRMapping map;
    Block *body = op.getBody();
    for (OpOperand *input : op.getDpsInputOperands())
      map.map(body->getArgument(input->getOperandNumber()),
              loadOperand(b, loc, op, *input, pointIvs));
    for (Operation &inner : body->without_terminator()) {
      if (&inner == proto)
        continue;
      if (auto index = dyn_cast<linalg::IndexOp>(inner)) {
        map.map(index.getResult(), pointIvs[index.getDim()]);
        continue;
      }
      b.clone(inner, map);
    }
    Value t = toF32(b, loc, map.lookupOrDefault(comb->partial));
    Value acc = combine(b, loc, proto, loop.getRegionIterArgs()[0], t);
    scf::YieldOp::create(b, loc, acc);
  }
  Value acc = loop.getResult(0);
  for (int64_t offset = kWarp / 2; offset >= 1; offset /= 2)
    acc = combine(b, loc, proto, acc, shuffleXor(b, loc, acc, offset));
  if (lanes > kWarp) {
    Value smem = launch.getWorkgroupAttributions().front();
    Value warp = arith::DivUIOp::create(b, loc, tid, cst(b, loc, kWarp));
    Value laneInWarp = arith::RemUIOp::create(b, loc, tid, cst(b, loc, kWarp));
    auto first = scf::IfOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, laneInWarp,
                              cst(b, loc, 0)),
        /*withElse=*/false);
    {
      OpBuilder::InsertionGuard inner(b);
      b.setInsertionPoint(first.thenBlock()->getTerminator());
      memref::StoreOp::create(b, loc, acc, smem, ValueRange{warp});
    }
    gpu::BarrierOp::create(b, loc);
    acc = memref::LoadOp::create(b, loc, smem, ValueRange{cst(b, loc, 0)});
    for (int64_t i = 1; i < kThreads / kWarp; ++i)
      acc = combine(b, loc, proto, acc,
                    memref::LoadOp::create(b, loc, smem,
                                           ValueRange{cst(b, loc, i)}));
  }
  auto writer = scf::IfOp::create(
      b, loc,
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, lane,
                            cst(b, loc, 0)),
      /*withElse=*/false);
  b.setInsertionPoint(writer.thenBlock()->getTerminator());
  OpOperand *outOperand = op.getDpsInitOperand(0);
  SmallVector<Value> outIvs = ivs;
  for (unsigned d : reductionDims)
    outIvs[d] = cst(b, loc, 0);
  SmallVector<Value> idx = indicesAt(b, loc, op, *outOperand, outIvs);
  Value old = memref::LoadOp::create(b, loc, op.getDpsInits()[0], idx);
  Value total = acc;
  if (outElement != f32)
    total = arith::TruncFOp::create(b, loc, outElement, total);
  memref::StoreOp::create(b, loc, combine(b, loc, proto, total, old),
                          op.getDpsInits()[0], idx);
  rewriter.eraseOp(op);
  return success();
}
