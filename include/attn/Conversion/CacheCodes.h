//===- CacheCodes.h - 8-bit KV cache codes of the kernel builders -*- C++ -*-===//
//
// The CPU (AttnToLoops/QuantizedCache.cpp) and GPU (AttnToGPU/
// ServingKernels.cpp) decode appends round f32 values to the cache's
// element type the same way, so that both targets write the same codes.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CONVERSION_CACHECODES_H
#define ATTN_CONVERSION_CACHECODES_H

#include "attn/Conversion/FloatWidening.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

namespace mlir::attn {

/// The f32 scalar `x` (already divided by the scale) as one cache element
/// of type `element`: i8 clamp(roundeven(x), -127, 127); f8E4M3FN x rounded
/// to nearest even and saturated to +-448; another float type truncated.
inline Value encodeCacheCode(OpBuilder &b, Location loc, Value x,
                             Type element) {
  auto f32 = [&](double v) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
  };
  if (isa<FloatType>(element) && !isa<Float8E4M3FNType>(element))
    return truncateFromF32(b, loc, x, element);
  if (element.isInteger(8)) {
    Value r = math::RoundEvenOp::create(b, loc, x);
    r = arith::MaxNumFOp::create(b, loc, r, f32(-127.0));
    r = arith::MinNumFOp::create(b, loc, r, f32(127.0));
    return arith::FPToSIOp::create(b, loc, b.getI8Type(), r);
  }
  // E4M3FN, saturating: |x| <= 448 (0x7e). Below 2^-6 the code is the
  // subnormal mmm = roundeven(|x| * 2^9) (8 carries into the smallest
  // normal, which is code 8); above, the f32 bits rounded to 3 mantissa bits
  // (nearest even) and rebiased.
  Type i32 = b.getI32Type();
  auto c32 = [&](int64_t v) {
    return arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(v));
  };
  Value a = math::AbsFOp::create(b, loc, x);
  a = arith::MinNumFOp::create(b, loc, a, f32(448.0));
  Value sub = arith::FPToUIOp::create(
      b, loc, i32,
      math::RoundEvenOp::create(b, loc,
                                arith::MulFOp::create(b, loc, a, f32(512.0))));
  Value bits = arith::BitcastOp::create(b, loc, i32, a);
  Value odd = arith::AndIOp::create(
      b, loc, arith::ShRUIOp::create(b, loc, bits, c32(20)), c32(1));
  Value rounded = arith::AddIOp::create(
      b, loc, bits, arith::AddIOp::create(b, loc, odd, c32(0x7ffff)));
  Value normal = arith::SubIOp::create(
      b, loc, arith::ShRUIOp::create(b, loc, rounded, c32(20)),
      c32(120 << 3));
  Value isSub = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, a,
                                      f32(1.0 / 64.0));
  Value code = arith::SelectOp::create(b, loc, isSub, sub, normal);
  Value sign = arith::AndIOp::create(
      b, loc,
      arith::ShRUIOp::create(b, loc, arith::BitcastOp::create(b, loc, i32, x),
                             c32(24)),
      c32(0x80));
  code = arith::OrIOp::create(b, loc, code, sign);
  Value byte = arith::TruncIOp::create(b, loc, b.getI8Type(), code);
  return arith::BitcastOp::create(b, loc, element, byte);
}

} // namespace mlir::attn

#endif // ATTN_CONVERSION_CACHECODES_H
