//===- DeviceConstants.cpp - device copies of a module's constants --------===//
//
// Weights are memref.global constants in the library's host memory. Kernels
// need them in device memory, uploaded once: the runtime's
// attnCudaConstant(slot, host, bytes) copies `bytes` from `host` on its
// first call, keeps the device pointer in `slot` (a mutable global of the
// module, so the copy lives as long as the loaded library and every run
// after the first reuses it) and returns it as a memref<?xi8>. The host
// code only takes addresses; memref.view gives the global's type back.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/SymbolTable.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNDEVICECONSTANTS
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

namespace {

constexpr StringLiteral kUpload = "attnCudaConstant";

/// Bytes of a global (sub-byte elements take a byte each in memory).
int64_t byteSize(MemRefType type) {
  int64_t bits = type.getElementTypeBitWidth();
  return type.getNumElements() * std::max<int64_t>(1, (bits + 7) / 8);
}

struct AttnDeviceConstantsPass
    : attn::impl::AttnDeviceConstantsBase<AttnDeviceConstantsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    SmallVector<memref::GetGlobalOp> reads;
    for (auto func : module.getOps<func::FuncOp>())
      func.walk([&](memref::GetGlobalOp read) { reads.push_back(read); });
    if (reads.empty())
      return;

    MLIRContext *ctx = module.getContext();
    OpBuilder b(ctx);
    Type index = b.getIndexType();
    auto bytesType = MemRefType::get({ShapedType::kDynamic}, b.getI8Type());
    auto slotType = MemRefType::get({2}, b.getI64Type());
    auto upload = symbols.lookup<func::FuncOp>(kUpload);
    if (!upload) {
      b.setInsertionPointToStart(module.getBody());
      upload = func::FuncOp::create(
          b, module.getLoc(), kUpload,
          b.getFunctionType({index, index, index}, {bytesType}));
      upload.setPrivate();
      // The runtime takes the result descriptor by pointer.
      upload->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(),
                      b.getUnitAttr());
      symbols.insert(upload);
    }

    // One slot per global, shared by all the functions that read it.
    llvm::DenseMap<Operation *, memref::GlobalOp> slots;
    for (memref::GetGlobalOp read : reads) {
      auto global = symbols.lookup<memref::GlobalOp>(read.getName());
      if (!global || !global.getConstant() || !global.getInitialValue()) {
        read.emitError("the cuda target cannot give kernels the non-constant "
                       "global @")
            << read.getName();
        return signalPassFailure();
      }
      MemRefType type = read.getType();
      if (!type.hasStaticShape() || !type.getLayout().isIdentity()) {
        read.emitError("the cuda target needs static identity-layout "
                       "globals, not ")
            << type;
        return signalPassFailure();
      }
      memref::GlobalOp &slot = slots[global];
      if (!slot) {
        b.setInsertionPointAfter(global);
        auto zero = DenseElementsAttr::get(
            RankedTensorType::get({2}, b.getI64Type()), b.getI64IntegerAttr(0));
        slot = memref::GlobalOp::create(
            b, global.getLoc(), (Twine("__attn_device_") + global.getSymName()).str(),
            b.getStringAttr("private"), slotType, zero, /*constant=*/false,
            /*alignment=*/b.getI64IntegerAttr(8));
        symbols.insert(slot);
      }

      Location loc = read.getLoc();
      b.setInsertionPointAfter(read);
      Value slotRef = memref::GetGlobalOp::create(b, loc, slotType,
                                                  slot.getSymName());
      Value slotPtr =
          memref::ExtractAlignedPointerAsIndexOp::create(b, loc, slotRef);
      Value hostPtr =
          memref::ExtractAlignedPointerAsIndexOp::create(b, loc, read);
      Value bytes = arith::ConstantIndexOp::create(b, loc, byteSize(type));
      Value device =
          func::CallOp::create(b, loc, upload, ValueRange{slotPtr, hostPtr, bytes})
              .getResult(0);
      Value zero = arith::ConstantIndexOp::create(b, loc, 0);
      Value view = memref::ViewOp::create(b, loc, type, device, zero,
                                          ValueRange());
      read.getResult().replaceAllUsesExcept(view, hostPtr.getDefiningOp());
    }
  }
};

} // namespace
