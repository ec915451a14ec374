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

#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
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

bool isStatic(Value v) {
  auto type = dyn_cast<MemRefType>(v.getType());
  return type && type.hasStaticShape() && type.getLayout().isIdentity();
}

Type elementOf(Value v) { return cast<MemRefType>(v.getType()).getElementType(); }

int64_t dimOf(Value v, int64_t d) {
  return cast<MemRefType>(v.getType()).getDimSize(d);
}

/// What both ops share; fails (with an error at the op) on shapes the
/// kernels are not built for.
template <typename OpTy>
FailureOr<AttentionPlan> describe(OpTy op, Value key, Value value) {
  SmallVector<Value> operands{op.getQuery(), key, value, op.getInit()};
  if (op.getMask())
    operands.push_back(op.getMask());
  for (Value v : operands)
    if (!isStatic(v))
      return op.emitError("the cuda target needs static shapes and identity "
                          "layouts; operand of type ")
             << v.getType() << " is not";
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
  OpLowering(OpBuilder &b, gpu::GPUModuleOp module, int id)
      : b(b), module(module), id(id) {}

  LogicalResult lower(AttentionOp op);
  LogicalResult lower(DecodeOp op);

private:
  OpBuilder &b;
  gpu::GPUModuleOp module;
  int id;

  std::string name(StringRef kind) {
    return ("attn_" + kind + "_" + Twine(id)).str();
  }
  Value idx(Location loc, int64_t v) {
    return arith::ConstantIndexOp::create(b, loc, v);
  }
  void launch(Location loc, gpu::GPUFuncOp kernel, int64_t gx, int64_t gy,
              int64_t gz, int64_t threads, ValueRange args) {
    gpu::LaunchFuncOp::create(
        b, loc, kernel, {idx(loc, gx), idx(loc, gy), idx(loc, gz)},
        {idx(loc, threads), idx(loc, 1), idx(loc, 1)},
        /*dynamicSharedMemorySize=*/Value(), args);
  }
  void attend(Location loc, AttentionPlan &plan, ValueRange head, Value mask,
              Value kvLens, Value position, Value out);
};

void OpLowering::attend(Location loc, AttentionPlan &plan, ValueRange qkv,
                        Value mask, Value kvLens, Value position, Value out) {
  SmallVector<Value> args(qkv.begin(), qkv.end());
  PartialArgs at;
  if (mask) {
    at.mask = args.size();
    args.push_back(mask);
  }
  if (kvLens) {
    at.kvLens = args.size();
    args.push_back(kvLens);
  }
  if (position) {
    at.position = args.size();
    args.push_back(position);
  }
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
  if (failed(tile(op, *plan)))
    return failure();
  b.setInsertionPoint(op);
  attend(op.getLoc(), *plan, {op.getQuery(), op.getKey(), op.getValue()},
         op.getMask(), op.getKvSeqLens(), Value(), op.getInit());
  op.erase();
  return success();
}

LogicalResult OpLowering::lower(DecodeOp op) {
  // Page pools are not contiguous caches: lowering them as such would read
  // and write the wrong slots.
  if (op.isPaged())
    return op.emitError("the cuda target does not lower a paged attn.decode "
                        "(block_table) yet");
  if (op.getTreeMask() || op.isRing())
    return op.emitError("the cuda target does not lower a tree_mask or ring "
                        "attn.decode yet");
  if (op.hasQuantizedCache() ||
      op.getKeyCacheType().getElementType() !=
          op.getQueryType().getElementType())
    return op.emitError("the cuda target does not lower 8-bit or mixed-type "
                        "KV caches yet");
  for (Value v : {op.getKeyCache(), op.getValueCache()})
    if (!isStatic(v))
      return op.emitError("the cuda target needs static cache shapes");
  if (op.getPositions() && !isStatic(op.getPositions()))
    return op.emitError("the cuda target needs a static positions shape");
  FailureOr<AttentionPlan> plan =
      describe(op, op.getKeyCache(), op.getValueCache());
  if (failed(plan))
    return failure();
  plan->decode = true;
  plan->decodeCausal = op.getCausal();
  plan->rowPositions = bool(op.getPositions());
  plan->newKeys = dimOf(op.getKey(), 2);
  if (plan->newKeys == 0)
    return op.emitError("the cuda target does not lower a decode step "
                        "without new keys");
  if (failed(tile(op, *plan)))
    return failure();
  Location loc = op.getLoc();
  b.setInsertionPoint(op);
  Value position = positionSource(op);
  SmallVector<Value> appendArgs{op.getKey(), op.getValue(), op.getKeyCache(),
                                op.getValueCache(), position};
  gpu::GPUFuncOp append = buildAppendKernel(
      b, loc, module, name("append"), *plan, ValueRange(appendArgs).getTypes());
  launch(loc, append, plan->batch * plan->kvHeads * plan->newKeys, 1, 1,
         kThreads, appendArgs);
  attend(loc, *plan, {op.getQuery(), op.getKeyCache(), op.getValueCache()},
         op.getMask(), Value(), position, op.getInit());
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
    int id = 0;
    for (Operation *op : ops) {
      OpLowering lowering(b, kernels, id++);
      LogicalResult ok =
          isa<AttentionOp>(op) ? lowering.lower(cast<AttentionOp>(op))
                               : lowering.lower(cast<DecodeOp>(op));
      if (failed(ok))
        return signalPassFailure();
    }
  }
};

} // namespace
