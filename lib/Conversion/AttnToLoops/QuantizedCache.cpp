//===- QuantizedCache.cpp - 8-bit and narrow-float decode caches ----------===//

#include "QuantizedCache.h"

#include "KernelEmitter.h"
#include "attn/Conversion/CacheCodes.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
using namespace mlir::attn;

namespace {

/// `type`'s shape (scalar or vector) with element `element`.
Type withElement(Type type, Type element) {
  if (auto vt = dyn_cast<VectorType>(type))
    return VectorType::get(vt.getShape(), element);
  return element;
}

/// A constant of `type`'s shape: an i32/f32 splat or scalar.
Value constantLike(Emitter &e, Type type, Attribute scalar) {
  if (auto vt = dyn_cast<VectorType>(type))
    return arith::ConstantOp::create(
        e.b, e.loc, DenseElementsAttr::get(vt, scalar));
  return arith::ConstantOp::create(e.b, e.loc, cast<TypedAttr>(scalar));
}

} // namespace

Value mlir::attn::decodeCacheCodes(Emitter &e, Value codes) {
  OpBuilder &b = e.b;
  Type element = getElementTypeOrSelf(codes.getType());
  Type f32 = withElement(codes.getType(), b.getF32Type());
  if (element.isInteger(8))
    return arith::SIToFPOp::create(b, e.loc, f32, codes);
  // E4M3FN: s eeee mmm, bias 7, no infinities, 0x7f / 0xff NaN. Normal codes
  // become f32 bits by moving eeee mmm to the top of the f32 exponent and
  // mantissa and rebiasing (127 - 7); subnormals (eeee = 0) are mmm * 2^-9.
  Type i8 = withElement(codes.getType(), b.getI8Type());
  Type i32 = withElement(codes.getType(), b.getI32Type());
  auto c32 = [&](int64_t v) {
    return constantLike(e, i32, b.getI32IntegerAttr(v));
  };
  Value bits = arith::BitcastOp::create(b, e.loc, i8, codes);
  Value u = arith::ExtUIOp::create(b, e.loc, i32, bits);
  Value sign = arith::ShLIOp::create(
      b, e.loc, arith::AndIOp::create(b, e.loc, u, c32(0x80)), c32(24));
  Value em = arith::AndIOp::create(b, e.loc, u, c32(0x7f));
  Value normal = arith::AddIOp::create(
      b, e.loc, arith::ShLIOp::create(b, e.loc, em, c32(20)),
      c32(120 << 23));
  Value sub = arith::MulFOp::create(
      b, e.loc, arith::SIToFPOp::create(b, e.loc, f32, em),
      constantLike(e, f32, b.getF32FloatAttr(1.0f / 512.0f)));
  Value subBits = arith::BitcastOp::create(b, e.loc, i32, sub);
  Value isSub = arith::CmpIOp::create(b, e.loc, arith::CmpIPredicate::ult, em,
                                      c32(8));
  Value isNaN = arith::CmpIOp::create(b, e.loc, arith::CmpIPredicate::eq, em,
                                      c32(0x7f));
  Value magnitude = arith::SelectOp::create(
      b, e.loc, isNaN, c32(0x7fc00000),
      arith::SelectOp::create(b, e.loc, isSub, subBits, normal));
  return arith::BitcastOp::create(
      b, e.loc, f32, arith::OrIOp::create(b, e.loc, magnitude, sign));
}

Value mlir::attn::encodeCacheElement(Emitter &e, Value x, Type element) {
  return encodeCacheCode(e.b, e.loc, x, element);
}

Value mlir::attn::applyCacheScale(Emitter &e, Value v, Value scale, Value b,
                                  Value g) {
  if (!scale)
    return v;
  Value s = memref::LoadOp::create(e.b, e.loc, scale, ValueRange{b, g});
  if (auto vt = dyn_cast<VectorType>(v.getType()))
    s = e.splat(s, vt.getNumElements());
  return arith::MulFOp::create(e.b, e.loc, v, s);
}

void mlir::attn::appendConverted(Emitter &e, Value fresh, Value cache,
                                 Value scale, Value position, Value row,
                                 Value ringSlots) {
  Type element = cast<MemRefType>(cache.getType()).getElementType();
  auto body = [&](Value b) {
    e.loop(e.idx(0), e.dim(fresh, 1), e.idx(1), [&](Value h) {
      e.loop(e.idx(0), e.dim(fresh, 2), e.idx(1), [&](Value t) {
        Value at = e.add(position, t);
        if (ringSlots)
          at = e.rem(at, ringSlots);
        e.loop(e.idx(0), e.dim(fresh, 3), e.idx(1), [&](Value d) {
          Value x = e.toF32(memref::LoadOp::create(e.b, e.loc, fresh,
                                                   ValueRange{b, h, t, d}));
          // x / s as an f32 division, as the reference computes it.
          if (scale)
            x = arith::DivFOp::create(
                e.b, e.loc, x,
                memref::LoadOp::create(e.b, e.loc, scale, ValueRange{b, h}));
          memref::StoreOp::create(e.b, e.loc,
                                  encodeCacheElement(e, x, element), cache,
                                  ValueRange{b, h, at, d});
        });
      });
    });
  };
  if (row)
    body(row);
  else
    e.loop(e.idx(0), e.dim(fresh, 0), e.idx(1), body);
}
