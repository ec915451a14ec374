//===- QuantizedCache.cpp - 8-bit and narrow-float decode caches ----------===//

#include "QuantizedCache.h"

#include "KernelEmitter.h"
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
  OpBuilder &b = e.b;
  if (isa<FloatType>(element) && !isa<Float8E4M3FNType>(element))
    return e.fromF32(x, element);
  if (element.isInteger(8)) {
    Value r = math::RoundEvenOp::create(b, e.loc, x);
    r = arith::MaxNumFOp::create(b, e.loc, r, e.f32(-127.0));
    r = arith::MinNumFOp::create(b, e.loc, r, e.f32(127.0));
    return arith::FPToSIOp::create(b, e.loc, b.getI8Type(), r);
  }
  // E4M3FN, saturating: |x| <= 448 (0x7e). Below 2^-6 the code is the
  // subnormal mmm = roundeven(|x| * 2^9) (8 carries into the smallest
  // normal, which is code 8); above, the f32 bits rounded to 3 mantissa bits
  // (nearest even) and rebiased.
  Type i32 = b.getI32Type();
  auto c32 = [&](int64_t v) {
    return arith::ConstantOp::create(b, e.loc, b.getI32IntegerAttr(v));
  };
  Value a = math::AbsFOp::create(b, e.loc, x);
  a = arith::MinNumFOp::create(b, e.loc, a, e.f32(448.0));
  Value sub = arith::FPToUIOp::create(
      b, e.loc, i32,
      math::RoundEvenOp::create(
          b, e.loc, arith::MulFOp::create(b, e.loc, a, e.f32(512.0))));
  Value bits = arith::BitcastOp::create(b, e.loc, i32, a);
  Value odd = arith::AndIOp::create(
      b, e.loc, arith::ShRUIOp::create(b, e.loc, bits, c32(20)), c32(1));
  Value rounded = arith::AddIOp::create(
      b, e.loc, bits, arith::AddIOp::create(b, e.loc, odd, c32(0x7ffff)));
  Value normal = arith::SubIOp::create(
      b, e.loc, arith::ShRUIOp::create(b, e.loc, rounded, c32(20)),
      c32(120 << 3));
  Value isSub = arith::CmpFOp::create(b, e.loc, arith::CmpFPredicate::OLT, a,
                                      e.f32(1.0 / 64.0));
  Value code = arith::SelectOp::create(b, e.loc, isSub, sub, normal);
  Value sign = arith::AndIOp::create(
      b, e.loc,
      arith::ShRUIOp::create(b, e.loc,
                             arith::BitcastOp::create(b, e.loc, i32, x),
                             c32(24)),
      c32(0x80));
  code = arith::OrIOp::create(b, e.loc, code, sign);
  Value byte = arith::TruncIOp::create(b, e.loc, b.getI8Type(), code);
  return arith::BitcastOp::create(b, e.loc, element, byte);
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
