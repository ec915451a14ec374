//===- ArgumentBuffer.h - the host buffer a value is read from -*- C++ -*-===//
//
// The CPU (AttnToLoops) and GPU (AttnToGPU) decode lowerings check a step's
// positions and block-table entries at run time; the runtime's error names
// the offending input by the host function argument it came from.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CONVERSION_ARGUMENTBUFFER_H
#define ATTN_CONVERSION_ARGUMENTBUFFER_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

namespace mlir::attn {

/// The host function argument `v` is read from (through loads and integer
/// casts), as the runtime numbers buffers; -1 when it is computed.
inline int64_t argumentBuffer(Value v) {
  while (Operation *def = v.getDefiningOp()) {
    if (isa<arith::IndexCastOp, arith::IndexCastUIOp, arith::ExtSIOp,
            arith::ExtUIOp, arith::TruncIOp>(def))
      v = def->getOperand(0);
    else if (auto load = dyn_cast<memref::LoadOp>(def))
      v = load.getMemRef();
    else
      return -1;
  }
  auto arg = dyn_cast<BlockArgument>(v);
  if (!arg || !isa<func::FuncOp>(arg.getOwner()->getParentOp()))
    return -1;
  return arg.getArgNumber();
}

} // namespace mlir::attn

#endif // ATTN_CONVERSION_ARGUMENTBUFFER_H
