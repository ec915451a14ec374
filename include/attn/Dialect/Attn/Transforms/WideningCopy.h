//===- WideningCopy.h - recognise an elementwise extf copy -*- C++ -*-===//
//
// An ONNX Cast of an f16/bf16 weight to f32 becomes a linalg.generic that
// only widens. attn-outline-repeats passes the narrow weight to outlined
// layers instead, and convert-contraction-to-vectors reads it in place of
// the widened buffer: both recognise the copy the same way.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_TRANSFORMS_WIDENINGCOPY_H
#define ATTN_DIALECT_ATTN_TRANSFORMS_WIDENINGCOPY_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"

namespace mlir::attn {

/// Whether `generic` is an elementwise copy of its one input into its one
/// init (identity maps, no reduction) whose body is a single arith.extf.
inline bool isWideningCopy(linalg::GenericOp generic) {
  if (generic.getNumDpsInputs() != 1 || generic.getNumDpsInits() != 1 ||
      generic.getNumReductionLoops() != 0 ||
      !llvm::all_of(generic.getIndexingMapsArray(),
                    [](AffineMap m) { return m.isIdentity(); }))
    return false;
  Block &body = generic.getRegion().front();
  auto ext = dyn_cast<arith::ExtFOp>(&body.front());
  return body.getOperations().size() == 2 && ext &&
         ext.getIn() == body.getArgument(0) &&
         body.getTerminator()->getOperand(0) == ext.getResult();
}

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_TRANSFORMS_WIDENINGCOPY_H
