//===- VectorExp.cpp - exp of the online softmax, in the vector unit ------===//
//
// exp(x) for the online softmax of the decode kernels, where x = s - max
// <= 0: 14 vector instructions against about 30 for the math dialect's
// polynomial, whose range checks and NaN blends are not needed there (the
// softmax of MQA decode spends 1 exp per 32 FMAs, so the exp was ~14% of
// its time).
//
//   x  = max(x, -87)             (below, exp underflows; -inf gives ~0)
//   z  = x * log2(e) + 1.5 * 2^23 (round to nearest: n in z's low bits)
//   n  = z - 1.5 * 2^23
//   f  = x - n * ln2             (ln2 in two parts: f exact to ~1 ulp)
//   p  = exp(f), |f| <= ln2 / 2   (Cephes' degree-7 polynomial in Horner
//                                 form, relative error ~2e-7)
//   result = p * 2^n, by adding n << 23 to p's exponent bits
//
// The low 32 bits of z's bits shifted left by 23 are n << 23 (z's exponent
// and its 2^22 bit are shifted out). With x >= -87, n >= -126, so p * 2^n
// stays in [0, 2^-125) at worst: no wrap of the exponent. Inputs above 88
// overflow the exponent (not used: x <= 0 here); NaN stays NaN.
//
//===----------------------------------------------------------------------===//

#include "KernelEmitter.h"

using namespace mlir;
using namespace mlir::attn;

Value mlir::attn::vectorExp(Emitter &e, Value x) {
  OpBuilder &b = e.b;
  auto type = cast<VectorType>(x.getType());
  int64_t lanes = type.getNumElements();
  auto splat = [&](double v) { return e.splat(e.f32(v), lanes); };
  auto fma = [&](Value m0, Value m1, Value add) {
    return vector::FMAOp::create(b, e.loc, m0, m1, add).getResult();
  };
  // max(x, lo) as `x < lo ? lo : x`: one vmaxps, NaN kept.
  Value lo = splat(-87.0);
  x = e.select(e.fcmp(arith::CmpFPredicate::OLT, x, lo), lo, x);
  Value magic = splat(12582912.0); // 1.5 * 2^23
  Value z = fma(x, splat(1.44269504088896341), magic);
  Value n = arith::SubFOp::create(b, e.loc, z, magic);
  Value f = fma(n, splat(-0.693359375), x);
  f = fma(n, splat(2.12194440e-4), f);
  Value p = splat(1.9875691500e-4);
  for (double c : {1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
                   1.6666665459e-1, 5.0000001201e-1, 1.0, 1.0})
    p = fma(p, f, splat(c));
  auto intType = VectorType::get({lanes}, b.getI32Type());
  Value zBits = arith::BitcastOp::create(b, e.loc, intType, z);
  Value pBits = arith::BitcastOp::create(b, e.loc, intType, p);
  Value shift = arith::ConstantOp::create(
      b, e.loc, DenseElementsAttr::get(intType, APInt(32, 23)));
  Value scaled = arith::AddIOp::create(
      b, e.loc, pBits, arith::ShLIOp::create(b, e.loc, zBits, shift));
  return arith::BitcastOp::create(b, e.loc, type, scaled);
}

Value mlir::attn::vectorMax(Emitter &e, Value x, Value y) {
  return e.select(e.fcmp(arith::CmpFPredicate::OGT, x, y), x, y);
}
