//===- DeviceBuffers.cpp - host buffer ops of a cuda module on the device -===//
//
// After the kernels are launched from the host, what is left on the host of
// a cuda module must not touch buffer contents: every buffer is device
// memory. Allocations, deallocations and contiguous copies have device
// forms; anything else that reads or writes a buffer is an error naming the
// op, so a model the target cannot place fails to compile instead of
// faulting at run time.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNDEVICEBUFFERS
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

namespace {

bool isContiguous(Value v) {
  auto type = cast<MemRefType>(v.getType());
  return type.hasStaticShape() && type.getLayout().isIdentity();
}

/// Host ops over buffers that have a device form.
void moveToDevice(func::FuncOp func) {
  OpBuilder b(func.getContext());
  func.walk([&](Operation *op) {
    b.setInsertionPoint(op);
    Location loc = op->getLoc();
    if (auto copy = dyn_cast<memref::CopyOp>(op)) {
      if (!isContiguous(copy.getSource()) || !isContiguous(copy.getTarget()))
        return;
      gpu::MemcpyOp::create(b, loc, /*asyncToken=*/Type(), ValueRange(),
                            copy.getTarget(), copy.getSource());
      copy.erase();
    } else if (auto alloc = dyn_cast<memref::AllocOp>(op)) {
      if (!alloc.getSymbolOperands().empty() ||
          !alloc.getType().getLayout().isIdentity())
        return;
      Value device = gpu::AllocOp::create(b, loc, alloc.getType(), Type(),
                                          ValueRange(),
                                          alloc.getDynamicSizes(), ValueRange())
                         .getMemref();
      alloc.replaceAllUsesWith(device);
      alloc.erase();
    } else if (auto dealloc = dyn_cast<memref::DeallocOp>(op)) {
      if (!dealloc.getMemref().getDefiningOp<gpu::AllocOp>())
        return;
      gpu::DeallocOp::create(b, loc, Type(), ValueRange(), dealloc.getMemref());
      dealloc.erase();
    }
  });
}

/// A global whose address is all the host takes (attn-device-constants).
bool onlyAddressTaken(memref::GetGlobalOp read) {
  return llvm::all_of(read->getUsers(), [](Operation *user) {
    return isa<memref::ExtractAlignedPointerAsIndexOp>(user);
  });
}

/// Host ops that pass buffers or their addresses along without touching
/// their data.
bool keepsDataOnDevice(Operation *op) {
  if (auto read = dyn_cast<memref::GetGlobalOp>(op))
    return onlyAddressTaken(read);
  return isa<gpu::LaunchFuncOp, gpu::MemcpyOp, gpu::MemsetOp, gpu::AllocOp,
             gpu::DeallocOp, func::CallOp, func::ReturnOp, memref::DimOp,
             memref::CastOp, memref::ReinterpretCastOp, memref::ViewOp,
             memref::ExtractStridedMetadataOp,
             memref::ExtractAlignedPointerAsIndexOp, memref::CollapseShapeOp,
             memref::ExpandShapeOp, memref::SubViewOp>(op);
}

struct AttnDeviceBuffersPass
    : attn::impl::AttnDeviceBuffersBase<AttnDeviceBuffersPass> {
  void runOnOperation() override {
    bool failed = false;
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      moveToDevice(func);
      func.walk([&](Operation *op) {
        if (keepsDataOnDevice(op))
          return;
        bool touchesBuffer =
            isa<memref::GetGlobalOp>(op) ||
            llvm::any_of(op->getOperandTypes(),
                         [](Type t) { return isa<MemRefType>(t); });
        if (!touchesBuffer)
          return;
        op->emitError("the cuda target cannot run '")
            << op->getName()
            << "' on the host: it would access device memory from the CPU";
        failed = true;
      });
    }
    if (failed)
      signalPassFailure();
  }
};

} // namespace
