//===- AttnToGPU.cpp - lower attn ops on memrefs to GPU kernel launches ---===//
//
// Every attn.attention / attn.decode of the module's host functions becomes
// gpu.launch_func of kernels built for its static shapes (GpuKernels.cpp) in
// the gpu.module @attn_kernels. The host functions' buffers are device
// memory, so the pass also moves what the host does with them onto the
// device (copies, allocations) and rejects what it cannot (any other host
// op that reads or writes a buffer).
//
//===----------------------------------------------------------------------===//

#include "GpuKernels.h"
#include "LatentDecode.h"
#include "TensorCorePrefill.h"
#include "WgmmaPrefill.h"

#include "attn/Conversion/ArgumentBuffer.h"
#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/IR/SymbolTable.h"

namespace mlir::attn {
#define GEN_PASS_DEF_CONVERTATTNTOGPU
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::gpu_kernels;

namespace {

constexpr StringLiteral kKernelModule = "attn_kernels";
/// The runtime's per-run error record of the decode checks
/// (CudaRuntime.cpp): () -> !llvm.ptr to six device i64.
constexpr StringLiteral kErrorRecord = "attn_rt_cuda_error_record";

/// Appends `v` to a kernel's arguments; returns its index there (what the
/// builders' PartialArgs / DecodeArgs hold).
int addArgument(SmallVector<Value> &args, Value v) {
  args.push_back(v);
  return args.size() - 1;
}

/// What both ops share; fails (with an error at the op) on shapes the
/// kernels are not built for.
template <typename OpTy>
FailureOr<AttentionPlan> describe(OpTy op, Value key, Value value) {
  SmallVector<Value> operands{op.getQuery(), key, value, op.getInit()};
  if (op.getMask())
    operands.push_back(op.getMask());
  if (failed(requireStatic(op, operands, kNeedsStatic)))
    return failure();
  AttentionPlan p;
  p.batch = dimOf(op.getQuery(), 0);
  p.qHeads = op.getQHeads();
  p.kvHeads = op.getKvHeads();
  p.group = p.qHeads / p.kvHeads;
  p.queryLen = dimOf(op.getQuery(), 2);
  p.keyLen = dimOf(key, 2);
  p.headDim = dimOf(op.getQuery(), 3);
  p.valueDim = dimOf(value, 3);
  p.queryType = elementOf(op.getQuery());
  p.keyType = elementOf(key);
  p.valueType = elementOf(value);
  p.outType = elementOf(op.getInit());
  p.scale = op.getScale().convertToDouble();
  if (FloatAttr cap = op.getSoftcapAttr())
    p.softcap = cap.getValueAsDouble();
  p.windowLeft = op.getWindowLeftBound();
  p.windowRight = op.getWindowRightBound();
  if (p.batch == 0 || p.queryLen == 0 || p.keyLen == 0 || p.headDim == 0 ||
      p.valueDim == 0)
    return op.emitError("the cuda target does not lower empty tensors");
  return p;
}

/// The position of a decode step as the kernels read it: the per-row
/// positions buffer, or the rank-0 integer buffer the one position was
/// loaded from on the host (the model's `cache_position`, device memory in
/// a CUDA model), else the index itself.
Value positionSource(DecodeOp op) {
  if (Value rows = op.getPositions())
    return rows;
  Value pos = op.getPosition();
  if (auto indexCast = pos.getDefiningOp<arith::IndexCastOp>())
    if (auto load = indexCast.getIn().getDefiningOp<memref::LoadOp>())
      if (cast<MemRefType>(load.getMemRef().getType()).getRank() == 0)
        return load.getMemRef();
  return pos;
}

/// The error record of the host function around `op`: one call of the
/// runtime at the function's entry (before any launch, so that the async
/// region pass does not wait for the stream there).
Value errorRecord(OpBuilder &b, Operation *op) {
  auto func = op->getParentOfType<func::FuncOp>();
  Type ptr = LLVM::LLVMPointerType::get(b.getContext());
  if (!func) // not in a function: ask right before the op
    return func::CallOp::create(b, op->getLoc(), kErrorRecord, TypeRange{ptr},
                                ValueRange())
        .getResult(0);
  Block &entry = func.getBody().front();
  for (Operation &first : entry)
    if (auto call = dyn_cast<func::CallOp>(first);
        call && call.getCallee() == kErrorRecord)
      return call.getResult(0);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&entry);
  return func::CallOp::create(b, op->getLoc(), kErrorRecord, TypeRange{ptr},
                              ValueRange())
      .getResult(0);
}

void declareErrorRecord(ModuleOp module) {
  if (SymbolTable::lookupSymbolIn(module, kErrorRecord))
    return;
  OpBuilder b = OpBuilder::atBlockBegin(module.getBody());
  auto decl = func::FuncOp::create(
      b, module.getLoc(), kErrorRecord,
      b.getFunctionType({}, {LLVM::LLVMPointerType::get(b.getContext())}));
  decl.setPrivate();
}

/// Tiles `plan`; fails at `op` when even one head a block does not fit.
LogicalResult tile(Operation *op, AttentionPlan &plan) {
  chooseTiling(plan);
  if (sharedBytes(plan.valueDim, plan.headsPerBlock) > kMaxSharedBytes)
    return op->emitError("the cuda target supports value head sizes up to ")
           << (kMaxSharedBytes / (4 * kWarps) - 4) << ", got "
           << plan.valueDim;
  return success();
}

/// Emits the kernels of one op and their launches in place of the op.
class OpLowering {
public:
  OpLowering(OpBuilder &b, gpu::GPUModuleOp module, int id, bool wgmma)
      : b(b), module(module), id(id), wgmma(wgmma) {}

  LogicalResult lower(AttentionOp op);
  LogicalResult lower(DecodeOp op);

private:
  OpBuilder &b;
  gpu::GPUModuleOp module;
  int id;
  bool wgmma; // the sm_90a wgmma prefill kernel may be used

  std::string name(StringRef kind) {
    return ("attn_" + kind + "_" + Twine(id)).str();
  }
  Value idx(Location loc, int64_t v) {
    return arith::ConstantIndexOp::create(b, loc, v);
  }
  void launch(Location loc, gpu::GPUFuncOp kernel, int64_t gx, int64_t gy,
              int64_t gz, int64_t threads, ValueRange args,
              int64_t sharedBytes = 0) {
    Value shared;
    if (sharedBytes)
      shared = arith::ConstantOp::create(b, loc,
                                         b.getI32IntegerAttr(sharedBytes));
    gpu::LaunchFuncOp::create(
        b, loc, kernel, {idx(loc, gx), idx(loc, gy), idx(loc, gz)},
        {idx(loc, threads), idx(loc, 1), idx(loc, 1)}, shared, args);
  }
  /// The decode operands of the partial kernel (null when absent).
  struct DecodeOperands {
    Value position, table, keyScale, valueScale, error, tree;
  };
  void attend(Location loc, AttentionPlan &plan, ValueRange head, Value mask,
              Value kvLens, const DecodeOperands &decode, Value out);
};

void OpLowering::attend(Location loc, AttentionPlan &plan, ValueRange qkv,
                        Value mask, Value kvLens,
                        const DecodeOperands &decode, Value out) {
  SmallVector<Value> args(qkv.begin(), qkv.end());
  PartialArgs at;
  if (mask)
    at.mask = addArgument(args, mask);
  if (kvLens)
    at.kvLens = addArgument(args, kvLens);
  for (auto [slot, v] : {std::pair{&at.position, decode.position},
                         std::pair{&at.table, decode.table},
                         std::pair{&at.keyScale, decode.keyScale},
                         std::pair{&at.valueScale, decode.valueScale},
                         std::pair{&at.error, decode.error},
                         std::pair{&at.tree, decode.tree}})
    if (v)
      *slot = addArgument(args, v);
  Value workspace;
  at.result = args.size();
  if (plan.splits == 1) {
    args.push_back(out);
  } else {
    workspace =
        gpu::AllocOp::create(b, loc, workspaceType(b.getContext(), plan),
                             /*asyncToken=*/Type(), ValueRange(), ValueRange(),
                             ValueRange())
            .getMemref();
    args.push_back(workspace);
  }
  gpu::GPUFuncOp partial =
      buildPartialKernel(b, loc, module, name("partial"), plan,
                         ValueRange(args).getTypes(), at);
  launch(loc, partial, plan.splits,
         plan.batch * plan.kvHeads * plan.headChunks, plan.queryLen, kThreads,
         args);
  if (!workspace)
    return;
  SmallVector<Value> mergeArgs{workspace, out};
  gpu::GPUFuncOp merge = buildMergeKernel(b, loc, module, name("merge"), plan,
                                          ValueRange(mergeArgs).getTypes());
  launch(loc, merge, plan.batch * plan.qHeads * plan.queryLen, 1, 1, kThreads,
         mergeArgs);
  gpu::DeallocOp::create(b, loc, /*asyncToken=*/Type(), ValueRange(),
                         workspace);
}

LogicalResult OpLowering::lower(AttentionOp op) {
  if (op.getKvSeqLens() && !isStatic(op.getKvSeqLens()))
    return op.emitError("the cuda target needs a static kv_seq_lens shape");
  FailureOr<AttentionPlan> plan = describe(op, op.getKey(), op.getValue());
  if (failed(plan))
    return failure();
  if (IntegerAttr offset = op.getCausalOffsetAttr())
    plan->causalOffset = offset.getInt();
  // Prompts on sm_90a warpgroup MMAs (WgmmaPrefill.cpp).
  if (wgmma && useWgmmaPrefillKernel(*plan, bool(op.getMask()))) {
    b.setInsertionPoint(op);
    SmallVector<Value> args{op.getQuery(), op.getKey(), op.getValue()};
    if (op.getKvSeqLens())
      args.push_back(op.getKvSeqLens());
    args.push_back(op.getInit());
    gpu::GPUFuncOp kernel = buildWgmmaPrefillKernel(
        b, op.getLoc(), module, name("wgmma_prefill"), *plan,
        ValueRange(args).getTypes(), bool(op.getKvSeqLens()));
    std::array<int64_t, 3> grid = wgmmaPrefillGrid(*plan);
    launch(op.getLoc(), kernel, grid[0], grid[1], grid[2],
           wgmmaPrefillThreads(), args, wgmmaPrefillSharedBytes(*plan));
    op.erase();
    return success();
  }
  // Prompts on tensor cores (TensorCorePrefill.cpp).
  if (usePrefillKernel(*plan)) {
    b.setInsertionPoint(op);
    SmallVector<Value> args{op.getQuery(), op.getKey(), op.getValue()};
    if (op.getMask())
      args.push_back(op.getMask());
    if (op.getKvSeqLens())
      args.push_back(op.getKvSeqLens());
    args.push_back(op.getInit());
    gpu::GPUFuncOp kernel = buildPrefillKernel(
        b, op.getLoc(), module, name("prefill"), *plan,
        ValueRange(args).getTypes(), bool(op.getMask()),
        bool(op.getKvSeqLens()));
    std::array<int64_t, 3> grid = prefillGrid(*plan);
    launch(op.getLoc(), kernel, grid[0], grid[1], grid[2], prefillThreads(),
           args);
    op.erase();
    return success();
  }
  if (failed(tile(op, *plan)))
    return failure();
  b.setInsertionPoint(op);
  attend(op.getLoc(), *plan, {op.getQuery(), op.getKey(), op.getValue()},
         op.getMask(), op.getKvSeqLens(), DecodeOperands(), op.getInit());
  op.erase();
  return success();
}

LogicalResult OpLowering::lower(DecodeOp op) {
  if (op.isLatent()) { // LatentDecode.cpp
    if (op.getTreeMask() || op.isRing())
      return op.emitError("the cuda target does not lower a latent (MLA) "
                          "attn.decode with a tree_mask or ring cache");
    b.setInsertionPoint(op);
    return lowerLatentDecode(
        b, module, op, name("latent"), positionSource(op), errorRecord(b, op),
        argumentBuffer(op.getPositions() ? op.getPositions() : op.getPosition()));
  }
  SmallVector<Value> shaped{op.getKeyCache(), op.getValueCache()};
  for (Value v : {op.getPositions(), op.getBlockTable(), op.getKeyScale(),
                  op.getValueScale(), op.getTreeMask()})
    if (v)
      shaped.push_back(v);
  if (failed(requireStatic(op, shaped,
                           "the cuda target needs static shapes for the "
                           "caches, positions, block table, scales and tree "
                           "mask; ")))
    return failure();
  FailureOr<AttentionPlan> plan =
      describe(op, op.getKeyCache(), op.getValueCache());
  if (failed(plan))
    return failure();
  plan->decode = true;
  plan->decodeCausal = op.getCausal();
  plan->rowPositions = bool(op.getPositions());
  plan->newKeys = dimOf(op.getKey(), 2);
  // Ring caches: keyLen is the ring's W slots (the verifier keeps rings
  // unpaged, unmasked and causal window(L, 0) with W >= L + Sq).
  plan->ring = op.isRing();
  plan->quantized = op.hasQuantizedCache();
  if (op.isPaged()) {
    // Pools [num_pages, Hkv, page_size, *], table [B, max_pages]: the
    // kernels see keys [0, max_pages * page_size) of each row.
    plan->paged = true;
    plan->numPages = dimOf(op.getKeyCache(), 0);
    plan->pageSize = dimOf(op.getKeyCache(), 2);
    plan->maxPages = dimOf(op.getBlockTable(), 1);
    plan->keyLen = plan->maxPages * plan->pageSize;
    if (plan->numPages == 0 || plan->keyLen == 0)
      return op.emitError("the cuda target does not lower an empty page "
                          "pool or block table");
  }
  if (plan->newKeys == 0)
    return op.emitError("the cuda target does not lower a decode step "
                        "without new keys");
  if (failed(tile(op, *plan)))
    return failure();
  Location loc = op.getLoc();
  b.setInsertionPoint(op);
  Value position = positionSource(op);
  Value record = errorRecord(b, op);

  // check: the positions (and table entries) of every row, first.
  CheckReport ids;
  ids.positionBuffer = argumentBuffer(op.getPositions() ? op.getPositions()
                                                        : op.getPosition());
  SmallVector<Value> checkArgs{position};
  DecodeArgs checkAt;
  checkAt.position = 0;
  if (op.isPaged()) {
    ids.tableBuffer = argumentBuffer(op.getBlockTable());
    checkAt.table = addArgument(checkArgs, op.getBlockTable());
  }
  checkAt.error = addArgument(checkArgs, record);
  gpu::GPUFuncOp check =
      buildCheckKernel(b, loc, module, name("check"), *plan,
                       ValueRange(checkArgs).getTypes(), checkAt, ids);
  launch(loc, check, 1, 1, 1, kCheckThreads, checkArgs);

  // append: the new rows into the caches (their pages), quantised.
  SmallVector<Value> appendArgs{op.getKey(), op.getValue(), op.getKeyCache(),
                                op.getValueCache(), position};
  DecodeArgs appendAt;
  if (op.isPaged())
    appendAt.table = addArgument(appendArgs, op.getBlockTable());
  if (op.getKeyScale()) {
    appendAt.keyScale = addArgument(appendArgs, op.getKeyScale());
    appendAt.valueScale = addArgument(appendArgs, op.getValueScale());
  }
  appendAt.error = addArgument(appendArgs, record);
  gpu::GPUFuncOp append =
      buildAppendKernel(b, loc, module, name("append"), *plan,
                        ValueRange(appendArgs).getTypes(), appendAt);
  launch(loc, append, plan->batch * plan->kvHeads * plan->newKeys, 1, 1,
         kThreads, appendArgs);

  // partial (+ merge): the caches read in place (through the table, or
  // their ring slots), the tree applied to the new tokens' scores.
  DecodeOperands decode{position,           op.getBlockTable(),
                        op.getKeyScale(),   op.getValueScale(),
                        record,             op.getTreeMask()};
  attend(loc, *plan, {op.getQuery(), op.getKeyCache(), op.getValueCache()},
         op.getMask(), Value(), decode, op.getInit());
  Value oldPosition = op.getPosition();
  op.erase();
  // The host load of the position is dead when the kernels read it.
  if (!oldPosition)
    return success();
  if (auto indexCast = oldPosition.getDefiningOp<arith::IndexCastOp>())
    if (indexCast->use_empty()) {
      auto load = indexCast.getIn().getDefiningOp<memref::LoadOp>();
      indexCast.erase();
      if (load && load->use_empty())
        load.erase();
    }
  return success();
}

struct ConvertAttnToGPUPass
    : attn::impl::ConvertAttnToGPUBase<ConvertAttnToGPUPass> {
  using Base::Base;
  void getDependentDialects(DialectRegistry &registry) const override {
    Base::getDependentDialects(registry);
    // The prefill kernel's ldmatrix and cp.async (TensorCorePrefill.cpp).
    registry.insert<nvgpu::NVGPUDialect>();
  }
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<Operation *> ops;
    module.walk([&](Operation *op) {
      if (isa<AttentionOp, DecodeOp>(op) && !op->getParentOfType<gpu::GPUModuleOp>())
        ops.push_back(op);
    });
    for (Operation *op : ops)
      if (op->getNumResults() != 0) {
        op->emitError("convert-attn-to-gpu expects memrefs (run it after "
                      "bufferisation)");
        return signalPassFailure();
      }

    OpBuilder b(module.getContext());
    gpu::GPUModuleOp kernels;
    if (!ops.empty()) {
      module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                      b.getUnitAttr());
      b.setInsertionPointToEnd(module.getBody());
      kernels = gpu::GPUModuleOp::create(b, module.getLoc(), kKernelModule);
      SymbolTable(module).insert(kernels);
    }
    if (llvm::any_of(ops, [](Operation *op) { return isa<DecodeOp>(op); }))
      declareErrorRecord(module);
    int id = 0;
    for (Operation *op : ops) {
      OpLowering lowering(b, kernels, id++, wgmmaPrefill);
      LogicalResult ok =
          isa<AttentionOp>(op) ? lowering.lower(cast<AttentionOp>(op))
                               : lowering.lower(cast<DecodeOp>(op));
      if (failed(ok))
        return signalPassFailure();
    }
  }
};

} // namespace
