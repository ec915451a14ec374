//===- FloatWidening.h - f32 compute types of the kernel builders -*- C++ -*-===//
//
// The CPU (AttnToLoops) and GPU (AttnToGPU) kernels load f16/bf16/f32
// operands, compute in f32 and store in the operand's type; these are the
// casts both builders use, on scalars and vectors alike.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CONVERSION_FLOATWIDENING_H
#define ATTN_CONVERSION_FLOATWIDENING_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/TypeUtilities.h"

namespace mlir::attn {

/// `type` with its element type replaced by `element` (vectors keep their
/// shape; scalars become `element`).
inline Type withElementType(Type type, Type element) {
  if (auto vt = dyn_cast<VectorType>(type))
    return VectorType::get(vt.getShape(), element);
  return element;
}

/// A float scalar or vector extended to f32 (f32 is returned as is).
inline Value extendToF32(OpBuilder &b, Location loc, Value v) {
  if (getElementTypeOrSelf(v.getType()).isF32())
    return v;
  return arith::ExtFOp::create(
      b, loc, withElementType(v.getType(), b.getF32Type()), v);
}

/// An f32 scalar or vector rounded to `element` (f32 is returned as is).
inline Value truncateFromF32(OpBuilder &b, Location loc, Value v,
                             Type element) {
  if (element.isF32())
    return v;
  return arith::TruncFOp::create(b, loc, withElementType(v.getType(), element),
                                 v);
}

} // namespace mlir::attn

#endif // ATTN_CONVERSION_FLOATWIDENING_H
