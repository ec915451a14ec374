//===- LinalgToGPU.cpp - linalg ops on memrefs as gpu.launch -------------===//
//
// The non-attention part of a decoder (projections, norms, RoPE, gathers,
// element-wise ops, copies) runs on the GPU as one launch per linalg op:
// the op is lowered to scf.parallel loops inside a gpu.launch and the
// outermost parallel nest is flattened onto the threads. Reductions stay
// sequential loops inside a thread: simple and correct, and for decode-step
// matrix-vector products (threads over the output columns) the weight rows
// are read coalesced.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/Passes.h"

#include "ReductionKernels.h"
#include "TensorCoreGemm.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNLINALGTOGPU
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

namespace {

/// Threads of a block: enough to hide latency on small ops, one block per
/// 256 points on large ones.
constexpr int64_t kBlockThreads = 256;

bool isContiguous(Value v) {
  auto type = cast<MemRefType>(v.getType());
  return type.hasStaticShape() && type.getLayout().isIdentity();
}

/// Replaces `loop` (constant bounds) by the threads of `launch`: thread
/// `blockIdx.x * T + threadIdx.x` takes the point of that linear index, the
/// last dimension fastest. Sets the launch's sizes.
LogicalResult flattenOntoLaunch(IRRewriter &rewriter, scf::ParallelOp loop,
                                gpu::LaunchOp launch) {
  SmallVector<int64_t> lbs, steps, counts;
  int64_t total = 1;
  for (auto [lb, ub, step] : llvm::zip(loop.getLowerBound(),
                                       loop.getUpperBound(), loop.getStep())) {
    std::optional<int64_t> l = getConstantIntValue(lb);
    std::optional<int64_t> u = getConstantIntValue(ub);
    std::optional<int64_t> s = getConstantIntValue(step);
    if (!l || !u || !s || *s <= 0)
      return loop.emitError("the cuda target needs static loop bounds");
    int64_t count = *u > *l ? (*u - *l + *s - 1) / *s : 0;
    lbs.push_back(*l);
    steps.push_back(*s);
    counts.push_back(count);
    total *= count;
  }
  Location loc = loop.getLoc();
  if (total == 0) {
    rewriter.eraseOp(loop);
    return success();
  }
  int64_t threads = std::min(total, kBlockThreads);
  int64_t blocks = (total + threads - 1) / threads;
  if (blocks > std::numeric_limits<int32_t>::max())
    return loop.emitError("too many points for one launch: ") << total;

  rewriter.setInsertionPoint(launch);
  launch.getGridSizeXMutable().set(
      arith::ConstantIndexOp::create(rewriter, loc, blocks));
  launch.getBlockSizeXMutable().set(
      arith::ConstantIndexOp::create(rewriter, loc, threads));

  rewriter.setInsertionPoint(loop);
  Value tid = launch.getThreadIds().x;
  Value bid = launch.getBlockIds().x;
  Value id = arith::AddIOp::create(
      rewriter, loc,
      arith::MulIOp::create(
          rewriter, loc, bid,
          arith::ConstantIndexOp::create(rewriter, loc, threads)),
      tid);
  Operation *anchor = loop;
  if (total % threads != 0) {
    Value inside = arith::CmpIOp::create(
        rewriter, loc, arith::CmpIPredicate::ult, id,
        arith::ConstantIndexOp::create(rewriter, loc, total));
    auto guard = scf::IfOp::create(rewriter, loc, inside,
                                   /*withElseRegion=*/false);
    anchor = guard.thenBlock()->getTerminator();
    rewriter.setInsertionPoint(anchor);
  }
  // Delinearise, last dimension fastest.
  SmallVector<Value> ivs(counts.size());
  Value rest = id;
  for (int64_t d = counts.size() - 1; d >= 0; --d) {
    Value index;
    if (counts[d] == 1) {
      index = arith::ConstantIndexOp::create(rewriter, loc, 0);
    } else if (d == 0) {
      index = rest;
    } else {
      Value count = arith::ConstantIndexOp::create(rewriter, loc, counts[d]);
      index = arith::RemUIOp::create(rewriter, loc, rest, count);
      rest = arith::DivUIOp::create(rewriter, loc, rest, count);
    }
    if (steps[d] != 1)
      index = arith::MulIOp::create(
          rewriter, loc, index,
          arith::ConstantIndexOp::create(rewriter, loc, steps[d]));
    if (lbs[d] != 0)
      index = arith::AddIOp::create(
          rewriter, loc, index,
          arith::ConstantIndexOp::create(rewriter, loc, lbs[d]));
    ivs[d] = index;
  }
  Block *body = loop.getBody();
  // The loops come from buffers: no reductions, the terminator is empty.
  rewriter.eraseOp(body->getTerminator());
  rewriter.inlineBlockBefore(body, anchor, ivs);
  rewriter.eraseOp(loop);
  return success();
}

/// Nested parallel loops left inside a kernel (a parallel dimension after a
/// reduction) run sequentially in the thread.
void sequentialise(IRRewriter &rewriter, scf::ParallelOp loop) {
  rewriter.setInsertionPoint(loop);
  SmallVector<Value> ivs;
  Location loc = loop.getLoc();
  for (auto [lb, ub, step] : llvm::zip(loop.getLowerBound(),
                                       loop.getUpperBound(), loop.getStep())) {
    auto inner = scf::ForOp::create(rewriter, loc, lb, ub, step);
    ivs.push_back(inner.getInductionVar());
    rewriter.setInsertionPoint(inner.getBody()->getTerminator());
  }
  Block *body = loop.getBody();
  rewriter.eraseOp(body->getTerminator());
  rewriter.inlineBlockBefore(body, rewriter.getInsertionBlock(),
                             rewriter.getInsertionPoint(), ivs);
  rewriter.eraseOp(loop);
}

/// Keeps a reduction's accumulator in a register: in a loop whose only
/// store writes one element of `M` at indices fixed in the loop, after the
/// only load of `M` at those indices, the element is loaded once before the
/// loop, carried as an iter_arg and stored once after it (a decode-step
/// projection then streams W with one FMA per element instead of a load and
/// a store of y each k). The operands of a bufferised linalg op do not
/// overlap the output it reduces into, so no other access can see the
/// element in between.
void keepAccumulatorInRegister(IRRewriter &rewriter, scf::ForOp loop) {
  memref::StoreOp store;
  bool otherWrites = false;
  loop.getBody()->walk([&](Operation *op) {
    if (auto s = dyn_cast<memref::StoreOp>(op)) {
      otherWrites |= bool(store) || s->getBlock() != loop.getBody();
      store = s;
    } else if (!op->hasTrait<OpTrait::HasRecursiveMemoryEffects>() &&
               !isMemoryEffectFree(op) && !isa<memref::LoadOp>(op)) {
      // (Ops with regions are judged by their contents, walked too.)
      otherWrites = true;
    }
  });
  if (!store || otherWrites)
    return;
  Value target = store.getMemRef();
  if (!loop.isDefinedOutsideOfLoop(target) ||
      !llvm::all_of(store.getIndices(), [&](Value v) {
        return loop.isDefinedOutsideOfLoop(v);
      }))
    return;
  memref::LoadOp load;
  bool otherLoads = false;
  loop.getBody()->walk([&](memref::LoadOp l) {
    if (l.getMemRef() != target)
      return;
    otherLoads |= bool(load) || l->getBlock() != loop.getBody() ||
                  l.getIndices() != store.getIndices() ||
                  !l->isBeforeInBlock(store);
    load = l;
  });
  if (!load || otherLoads)
    return;

  Location loc = loop.getLoc();
  rewriter.setInsertionPoint(loop);
  Value initial = memref::LoadOp::create(rewriter, loc, target,
                                         store.getIndices());
  Value stored = store.getValueToStore();
  auto result = loop.replaceWithAdditionalYields(
      rewriter, initial, /*replaceInitOperandUsesInLoop=*/false,
      [&](OpBuilder &, Location, ArrayRef<BlockArgument>) {
        return SmallVector<Value>{stored};
      });
  if (failed(result))
    return;
  auto newLoop = cast<scf::ForOp>(result->getOperation());
  rewriter.replaceAllUsesWith(load.getResult(),
                              newLoop.getRegionIterArgs().back());
  rewriter.eraseOp(load);
  rewriter.setInsertionPointAfter(newLoop);
  memref::StoreOp::create(rewriter, loc, newLoop.getResults().back(), target,
                          store.getIndices());
  rewriter.eraseOp(store);
}

LogicalResult lowerOntoGpu(IRRewriter &rewriter, linalg::LinalgOp op) {
  if (!op.hasPureBufferSemantics())
    return op.emitError("attn-linalg-to-gpu expects linalg ops on memrefs "
                        "(run it after bufferisation)");
  for (Value operand : op->getOperands())
    if (auto type = dyn_cast<MemRefType>(operand.getType());
        type && !type.hasStaticShape())
      return op.emitError("the cuda target needs static shapes");

  Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  Value one = arith::ConstantIndexOp::create(rewriter, loc, 1);
  auto launch = gpu::LaunchOp::create(rewriter, loc, one, one, one, one, one,
                                      one);
  Block &launchBody = launch.getBody().front();
  if (launchBody.empty() || !isa<gpu::TerminatorOp>(launchBody.back())) {
    rewriter.setInsertionPointToEnd(&launchBody);
    gpu::TerminatorOp::create(rewriter, loc);
  }
  rewriter.moveOpBefore(op, launchBody.getTerminator());
  rewriter.setInsertionPoint(op);
  if (failed(linalg::linalgOpToParallelLoops(rewriter, op)))
    return op.emitError("cannot lower this op to loops for the cuda target");
  rewriter.eraseOp(op);

  SmallVector<scf::ParallelOp> outer;
  for (Operation &inner : launchBody)
    if (auto loop = dyn_cast<scf::ParallelOp>(inner))
      outer.push_back(loop);
  // One outer nest is flattened onto the threads; with several, or none
  // (a reduction to a scalar), one thread runs the op.
  if (outer.size() == 1 &&
      failed(flattenOntoLaunch(rewriter, outer.front(), launch)))
    return failure();
  SmallVector<scf::ParallelOp> nested;
  launch.getBody().walk<WalkOrder::PreOrder>(
      [&](scf::ParallelOp loop) { nested.push_back(loop); });
  for (scf::ParallelOp loop : nested)
    sequentialise(rewriter, loop);

  // Identity and constant index maps fold away, so that a load and a store
  // of one element use the same index values.
  RewritePatternSet patterns(launch.getContext());
  affine::AffineApplyOp::getCanonicalizationPatterns(patterns,
                                                     launch.getContext());
  (void)applyPatternsGreedily(launch.getBody(), std::move(patterns));
  SmallVector<scf::ForOp> loops;
  launch.getBody().walk([&](scf::ForOp loop) { loops.push_back(loop); });
  // Innermost first: an accumulator leaves the k loop, then an outer loop.
  for (scf::ForOp loop : loops)
    keepAccumulatorInRegister(rewriter, loop);
  return success();
}

/// The dedicated kernels (tensor-core matrix products, matrix-vector
/// products, cooperative reductions);
/// failure() leaves `op` to the generic lowering. Named contractions are
/// generalised first so that one matcher sees matmul, batch_matmul,
/// matmul_transpose_b and hand-written contractions alike; `op` is then the
/// generic.
///
/// `zeroInit`: the output's initial value is a zero fill that the caller
/// drops when the tensor-core kernel takes the op (`*tookZeroInit`).
LogicalResult lowerFast(IRRewriter &rewriter, linalg::LinalgOp &op,
                        bool zeroInit, bool *tookZeroInit) {
  if (!op.hasPureBufferSemantics() || op.getNumReductionLoops() == 0)
    return failure();
  for (Value operand : op->getOperands())
    if (auto type = dyn_cast<MemRefType>(operand.getType());
        type && !type.hasStaticShape())
      return failure();
  auto generic = dyn_cast<linalg::GenericOp>(op.getOperation());
  if (!generic && isa<linalg::ContractionOpInterface>(op.getOperation())) {
    rewriter.setInsertionPoint(op);
    FailureOr<linalg::GenericOp> generalized =
        linalg::generalizeNamedOp(rewriter, op);
    if (failed(generalized))
      return failure();
    generic = *generalized;
    op = generic; // the named op is gone
  }
  if (!generic)
    return failure();
  if (succeeded(
          attn::linalg_gpu::lowerTensorCoreGemm(rewriter, generic, zeroInit))) {
    *tookZeroInit = zeroInit;
    return success();
  }
  if (succeeded(attn::linalg_gpu::lowerMatVec(rewriter, generic)) ||
      succeeded(attn::linalg_gpu::lowerCooperativeReduction(rewriter, generic)))
    return success();
  return failure();
}

bool isZeroConstant(Value v) {
  FloatAttr attr;
  return matchPattern(v, m_Constant(&attr)) && attr.getValue().isZero();
}

/// Whether `op` (or an op nested in it) has an operand in `values`.
bool usesAny(Operation *op, const DenseSet<Value> &values) {
  WalkResult r = op->walk([&](Operation *inner) {
    for (Value v : inner->getOperands())
      if (values.contains(v))
        return WalkResult::interrupt();
    return WalkResult::advance();
  });
  return r.wasInterrupted();
}

/// The buffer `v` is a view of, and every buffer made from it (views,
/// casts: any memref result of an op that takes one of them counts).
DenseSet<Value> aliasesOf(Value v) {
  while (auto view = v.getDefiningOp<ViewLikeOpInterface>())
    v = view.getViewSource();
  DenseSet<Value> set;
  SmallVector<Value> work{v};
  while (!work.empty()) {
    Value x = work.pop_back_val();
    if (!set.insert(x).second)
      continue;
    for (Operation *user : x.getUsers())
      for (Value r : user->getResults())
        if (isa<BaseMemRefType>(r.getType()))
          work.push_back(r);
  }
  return set;
}

/// A zero `linalg.fill` of a buffer whose next access (in its block, by
/// any view of the buffer) is a contraction that only writes it as its
/// output: the product's kernel may start from zero instead. Returns that
/// contraction. (The buffer is an allocation or an argument: bufferised
/// arguments of a function do not alias one another.)
Operation *zeroFilledProduct(linalg::FillOp fill) {
  if (!fill.hasPureBufferSemantics() || !isZeroConstant(fill.value()))
    return nullptr;
  Value out = fill.getDpsInits()[0];
  DenseSet<Value> aliases = aliasesOf(out);
  for (Operation *op = fill->getNextNode(); op; op = op->getNextNode()) {
    if (!usesAny(op, aliases))
      continue;
    auto linalgOp = dyn_cast<linalg::LinalgOp>(op);
    if (!linalgOp || linalgOp.getNumReductionLoops() == 0 ||
        linalgOp.getNumDpsInits() != 1 || linalgOp.getDpsInits()[0] != out ||
        llvm::any_of(linalgOp.getDpsInputs(),
                     [&](Value v) { return aliases.contains(v); }))
      return nullptr;
    return op;
  }
  return nullptr;
}

struct AttnLinalgToGPUPass
    : attn::impl::AttnLinalgToGPUBase<AttnLinalgToGPUPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    IRRewriter rewriter(func.getContext());
    // Copies between strided buffers (cache subviews) have no memcpy form.
    SmallVector<memref::CopyOp> copies;
    func.walk([&](memref::CopyOp copy) {
      if (!copy->getParentOfType<gpu::LaunchOp>() &&
          (!isContiguous(copy.getSource()) || !isContiguous(copy.getTarget())))
        copies.push_back(copy);
    });
    for (memref::CopyOp copy : copies) {
      rewriter.setInsertionPoint(copy);
      linalg::CopyOp::create(rewriter, copy.getLoc(), copy.getSource(),
                             copy.getTarget());
      rewriter.eraseOp(copy);
    }

    SmallVector<linalg::LinalgOp> ops;
    func.walk([&](linalg::LinalgOp op) {
      if (!op->getParentOfType<gpu::LaunchOp>())
        ops.push_back(op);
    });
    // A zero fill before a product waits for that product: when the
    // tensor-core kernel takes it, it stores its sums without reading the
    // output and the fill (a launch, and a write and a read of the whole
    // output) goes; otherwise the fill is lowered just before the product.
    DenseMap<Operation *, linalg::FillOp> fillOf;
    DenseSet<Operation *> deferred;
    for (linalg::LinalgOp op : ops)
      if (auto fill = dyn_cast<linalg::FillOp>(op.getOperation()))
        if (Operation *product = zeroFilledProduct(fill);
            product && !fillOf.count(product)) {
          fillOf[product] = fill;
          deferred.insert(fill);
        }
    for (linalg::LinalgOp op : ops) {
      if (deferred.contains(op.getOperation()))
        continue;
      linalg::FillOp fill = fillOf.lookup(op.getOperation());
      bool tookZeroInit = false;
      // (lowerFast may replace `op` by its generic form.)
      if (failed(lowerFast(rewriter, op, bool(fill), &tookZeroInit)) &&
          failed(lowerOntoGpu(rewriter, op)))
        return signalPassFailure();
      if (!fill)
        continue;
      if (tookZeroInit)
        rewriter.eraseOp(fill);
      else if (failed(lowerOntoGpu(rewriter, fill)))
        return signalPassFailure();
    }
  }
};

} // namespace
