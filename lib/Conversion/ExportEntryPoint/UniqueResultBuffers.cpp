//===- UniqueResultBuffers.cpp - one buffer per function result -----------===//
//
// A graph may return one value under two names (an ONNX Identity to two
// outputs, a calibration probe that also returns a present cache). After
// bufferisation both results are the same allocation, which
// buffer-results-to-out-params{hoist-static-allocs} cannot hoist twice. This
// pass gives every repeated result a copy of its own.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/Passes.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "llvm/ADT/SmallPtrSet.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNUNIQUERESULTBUFFERS
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

namespace {

/// A fresh buffer with the contents of `source`.
Value copyOf(OpBuilder &b, Location loc, Value source) {
  auto type = cast<MemRefType>(source.getType());
  SmallVector<Value> dynamicSizes;
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (type.isDynamicDim(d))
      dynamicSizes.push_back(memref::DimOp::create(b, loc, source, d));
  auto allocType = MemRefType::get(type.getShape(), type.getElementType(),
                                   MemRefLayoutAttrInterface(),
                                   type.getMemorySpace());
  Value copy = memref::AllocOp::create(b, loc, allocType, dynamicSizes);
  memref::CopyOp::create(b, loc, source, copy);
  if (allocType != type)
    copy = memref::CastOp::create(b, loc, type, copy);
  return copy;
}

struct AttnUniqueResultBuffersPass
    : attn::impl::AttnUniqueResultBuffersBase<AttnUniqueResultBuffersPass> {
  void runOnOperation() override {
    getOperation().walk([](func::ReturnOp ret) {
      llvm::SmallPtrSet<Value, 8> seen;
      OpBuilder b(ret);
      for (OpOperand &operand : ret->getOpOperands()) {
        Value v = operand.get();
        if (isa<MemRefType>(v.getType()) && !seen.insert(v).second)
          operand.set(copyOf(b, ret.getLoc(), v));
      }
    });
  }
};

} // namespace
