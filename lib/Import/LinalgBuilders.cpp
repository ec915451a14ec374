//===- LinalgBuilders.cpp - tensor IR the importers share -----------------===//

#include "LinalgBuilders.h"

#include "HostTensor.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn::onnx_import;

ArrayRef<int64_t> mlir::attn::onnx_import::shapeOf(Value tensor) {
  return cast<RankedTensorType>(tensor.getType()).getShape();
}

Type mlir::attn::onnx_import::elementTypeOf(Value tensor) {
  return cast<RankedTensorType>(tensor.getType()).getElementType();
}

Value mlir::attn::onnx_import::emptyTensor(OpBuilder &b, Location loc,
                                           ArrayRef<int64_t> shape,
                                           Type elementType) {
  return tensor::EmptyOp::create(b, loc, shape, elementType);
}

Value mlir::attn::onnx_import::scalarConstant(OpBuilder &b, Location loc,
                                              Type type, double v) {
  if (auto floatType = dyn_cast<FloatType>(type))
    return arith::ConstantOp::create(b, loc, FloatAttr::get(floatType, v));
  auto intType = cast<IntegerType>(type);
  if (intType.getWidth() == 1)
    return arith::ConstantOp::create(b, loc, IntegerAttr::get(type, v != 0));
  // A float fill value (Pad's value, ConstantOfShape) may be out of range.
  return arith::ConstantOp::create(
      b, loc, IntegerAttr::get(type, saturatingToInt(v)));
}

Value mlir::attn::onnx_import::filledTensor(OpBuilder &b, Location loc,
                                            ArrayRef<int64_t> shape,
                                            Value scalar) {
  Value empty = emptyTensor(b, loc, shape, scalar.getType());
  return linalg::FillOp::create(b, loc, ValueRange{scalar}, ValueRange{empty})
      .getResult(0);
}

Value mlir::attn::onnx_import::filledTensor(OpBuilder &b, Location loc,
                                            ArrayRef<int64_t> shape,
                                            Type elementType, double v) {
  return filledTensor(b, loc, shape, scalarConstant(b, loc, elementType, v));
}

Value mlir::attn::onnx_import::convertScalar(OpBuilder &b, Location loc,
                                             Value x, Type to) {
  Type from = x.getType();
  if (from == to)
    return x;
  auto fromFloat = dyn_cast<FloatType>(from);
  auto toFloat = dyn_cast<FloatType>(to);
  auto toInt = dyn_cast<IntegerType>(to);
  bool fromBool = from.isInteger(1);
  if (fromFloat) {
    if (toFloat) {
      if (fromFloat.getWidth() == toFloat.getWidth()) // f16 <-> bf16
        x = arith::ExtFOp::create(b, loc, b.getF32Type(), x);
      if (cast<FloatType>(x.getType()).getWidth() < toFloat.getWidth())
        return arith::ExtFOp::create(b, loc, to, x);
      return arith::TruncFOp::create(b, loc, to, x);
    }
    if (toInt.getWidth() == 1)
      return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNE, x,
                                   scalarConstant(b, loc, from, 0.0));
    return arith::FPToSIOp::create(b, loc, to, x);
  }
  if (fromBool) {
    if (toFloat)
      return arith::UIToFPOp::create(b, loc, to, x);
    return arith::ExtUIOp::create(b, loc, to, x);
  }
  unsigned fromWidth = cast<IntegerType>(from).getWidth();
  if (toFloat)
    return arith::SIToFPOp::create(b, loc, to, x);
  if (toInt.getWidth() == 1)
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, x,
                                 scalarConstant(b, loc, from, 0));
  if (toInt.getWidth() > fromWidth)
    return arith::ExtSIOp::create(b, loc, to, x);
  return arith::TruncIOp::create(b, loc, to, x);
}

namespace {

/// The map reading an input of `inShape` inside a loop nest of `outShape`:
/// right-aligned, constant 0 where the input broadcasts a size-1 dim.
AffineMap broadcastMap(MLIRContext *ctx, ArrayRef<int64_t> inShape,
                       ArrayRef<int64_t> outShape) {
  int64_t rank = outShape.size(), inRank = inShape.size();
  SmallVector<AffineExpr> exprs;
  for (int64_t i = 0; i < inRank; ++i) {
    int64_t dim = rank - inRank + i;
    if (inShape[i] == outShape[dim])
      exprs.push_back(getAffineDimExpr(dim, ctx));
    else
      exprs.push_back(getAffineConstantExpr(0, ctx));
  }
  return AffineMap::get(rank, 0, exprs, ctx);
}

Value elementwise(OpBuilder &b, Location loc, ValueRange inputs,
                  ArrayRef<int64_t> outShape, Type outElementType,
                  ScalarBuilder body, bool withIndices) {
  MLIRContext *ctx = b.getContext();
  SmallVector<AffineMap> maps;
  for (Value input : inputs)
    maps.push_back(broadcastMap(ctx, shapeOf(input), outShape));
  maps.push_back(AffineMap::getMultiDimIdentityMap(outShape.size(), ctx));
  SmallVector<utils::IteratorType> iterators(outShape.size(),
                                             utils::IteratorType::parallel);
  Value init = emptyTensor(b, loc, outShape, outElementType);
  auto op = linalg::GenericOp::create(
      b, loc, TypeRange{init.getType()}, inputs, ValueRange{init}, maps,
      iterators, [&](OpBuilder &nb, Location nloc, ValueRange args) {
        SmallVector<Value> scalars(args.drop_back());
        if (withIndices)
          for (int64_t d = 0, e = outShape.size(); d < e; ++d)
            scalars.push_back(linalg::IndexOp::create(nb, nloc, d));
        Value result = body(nb, nloc, scalars);
        linalg::YieldOp::create(nb, nloc, result);
      });
  return op.getResult(0);
}

} // namespace

Value mlir::attn::onnx_import::buildElementwise(OpBuilder &b, Location loc,
                                                ValueRange inputs,
                                                ArrayRef<int64_t> outShape,
                                                Type outElementType,
                                                ScalarBuilder body) {
  return elementwise(b, loc, inputs, outShape, outElementType, body,
                     /*withIndices=*/false);
}

Value mlir::attn::onnx_import::buildIndexedElementwise(
    OpBuilder &b, Location loc, ValueRange inputs, ArrayRef<int64_t> outShape,
    Type outElementType, ScalarBuilder body) {
  return elementwise(b, loc, inputs, outShape, outElementType, body,
                     /*withIndices=*/true);
}

Value mlir::attn::onnx_import::buildErf(OpBuilder &b, Location loc, Value x) {
  Type t = x.getType();
  auto c = [&](double v) { return scalarConstant(b, loc, t, v); };
  // Past |x| = 4, erf is +-1 in single precision.
  x = arith::MinimumFOp::create(
      b, loc, arith::MaximumFOp::create(b, loc, x, c(-4.0)), c(4.0));
  Value x2 = arith::MulFOp::create(b, loc, x, x);
  auto horner = [&](ArrayRef<double> coefficients) {
    Value acc = c(coefficients.front());
    for (double k : coefficients.drop_front())
      acc = math::FmaOp::create(b, loc, x2, acc, c(k));
    return acc;
  };
  // Odd numerator, even denominator; highest power first.
  Value p = horner({-2.72614225801306e-10, 2.77068142495902e-08,
                    -2.10102402082508e-06, -5.69250639462346e-05,
                    -7.34990630326855e-04, -2.95459980854025e-03,
                    -1.60960333262415e-02});
  Value q = horner({-1.45660718464996e-05, -2.13374055278905e-04,
                    -1.68282697438203e-03, -7.37332916720468e-03,
                    -1.42647390514189e-02});
  return arith::DivFOp::create(b, loc, arith::MulFOp::create(b, loc, x, p), q);
}

Value mlir::attn::onnx_import::buildCast(OpBuilder &b, Location loc,
                                         Value input, Type to) {
  if (elementTypeOf(input) == to)
    return input;
  return buildElementwise(b, loc, input, shapeOf(input), to,
                          [&](OpBuilder &nb, Location nloc, ValueRange args) {
                            return convertScalar(nb, nloc, args[0], to);
                          });
}

Value mlir::attn::onnx_import::buildBroadcast(OpBuilder &b, Location loc,
                                              Value input,
                                              ArrayRef<int64_t> shape) {
  if (shapeOf(input) == shape)
    return input;
  return buildElementwise(
      b, loc, input, shape, elementTypeOf(input),
      [](OpBuilder &, Location, ValueRange args) { return args[0]; });
}

Value mlir::attn::onnx_import::buildReduction(OpBuilder &b, Location loc,
                                              Value input,
                                              ArrayRef<int64_t> axes,
                                              bool keepDims, Value init,
                                              ScalarBuilder combine) {
  MLIRContext *ctx = b.getContext();
  ArrayRef<int64_t> inShape = shapeOf(input);
  int64_t rank = inShape.size();
  SmallVector<int64_t> outShape;
  SmallVector<AffineExpr> outExprs;
  SmallVector<utils::IteratorType> iterators;
  for (int64_t d = 0; d < rank; ++d) {
    bool reduced = llvm::is_contained(axes, d);
    iterators.push_back(reduced ? utils::IteratorType::reduction
                                : utils::IteratorType::parallel);
    if (!reduced) {
      outShape.push_back(inShape[d]);
      outExprs.push_back(getAffineDimExpr(d, ctx));
    } else if (keepDims) {
      outShape.push_back(1);
      outExprs.push_back(getAffineConstantExpr(0, ctx));
    }
  }
  Value acc = filledTensor(b, loc, outShape, init);
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(rank, ctx),
                                 AffineMap::get(rank, 0, outExprs, ctx)};
  auto op = linalg::GenericOp::create(
      b, loc, TypeRange{acc.getType()}, ValueRange{input}, ValueRange{acc},
      maps, iterators, [&](OpBuilder &nb, Location nloc, ValueRange args) {
        linalg::YieldOp::create(nb, nloc, combine(nb, nloc, args));
      });
  return op.getResult(0);
}

Value mlir::attn::onnx_import::buildTranspose(OpBuilder &b, Location loc,
                                              Value input,
                                              ArrayRef<int64_t> permutation) {
  bool identity = true;
  for (auto [i, p] : llvm::enumerate(permutation))
    identity &= int64_t(i) == p;
  if (identity)
    return input;
  ArrayRef<int64_t> inShape = shapeOf(input);
  SmallVector<int64_t> outShape;
  for (int64_t p : permutation)
    outShape.push_back(inShape[p]);
  Value init = emptyTensor(b, loc, outShape, elementTypeOf(input));
  return linalg::TransposeOp::create(b, loc, input, init, permutation)
      ->getResult(0);
}

Value mlir::attn::onnx_import::buildReshape(OpBuilder &b, Location loc,
                                            Value input,
                                            ArrayRef<int64_t> shape) {
  ArrayRef<int64_t> src = shapeOf(input);
  // The grouping below walks both shapes by their products: with other
  // element counts it runs past one of them. Importers check the shapes.
  assert(numElements(src) == numElements(shape) &&
         "buildReshape needs the same element count");
  if (src == shape)
    return input;
  Type elementType = elementTypeOf(input);
  auto resultType = RankedTensorType::get(shape, elementType);
  if (numElements(src) == 0)
    return emptyTensor(b, loc, shape, elementType);
  if (shape.empty())
    return tensor::CollapseShapeOp::create(b, loc, resultType, input,
                                           ArrayRef<ReassociationIndices>{});
  if (src.empty())
    return tensor::ExpandShapeOp::create(b, loc, resultType, input,
                                         ArrayRef<ReassociationIndices>{});

  // The coarsest grouping where each group of source dims and of result
  // dims has the same element count; leftover unit dims join the last group.
  SmallVector<ReassociationIndices> srcGroups, dstGroups;
  size_t i = 0, j = 0;
  while (i < src.size() && j < shape.size()) {
    ReassociationIndices gs = {int64_t(i)}, gd = {int64_t(j)};
    int64_t ps = src[i++], pd = shape[j++];
    while (ps != pd) {
      if (ps < pd) {
        ps *= src[i];
        gs.push_back(i++);
      } else {
        pd *= shape[j];
        gd.push_back(j++);
      }
    }
    srcGroups.push_back(gs);
    dstGroups.push_back(gd);
  }
  for (; i < src.size(); ++i)
    srcGroups.back().push_back(i);
  for (; j < shape.size(); ++j)
    dstGroups.back().push_back(j);

  SmallVector<int64_t> middle;
  bool collapse = false, expand = false;
  for (auto [gs, gd] : llvm::zip(srcGroups, dstGroups)) {
    int64_t n = 1;
    for (int64_t d : gs)
      n *= src[d];
    middle.push_back(n);
    collapse |= gs.size() > 1;
    expand |= gd.size() > 1;
  }
  Value v = input;
  if (collapse)
    v = tensor::CollapseShapeOp::create(
        b, loc, RankedTensorType::get(middle, elementType), v, srcGroups);
  if (expand)
    v = tensor::ExpandShapeOp::create(b, loc, resultType, v, dstGroups);
  return v;
}

Value mlir::attn::onnx_import::buildSoftmaxLastDim(OpBuilder &b, Location loc,
                                                   Value input) {
  Type elementType = elementTypeOf(input);
  Type computeType = elementType;
  if (cast<FloatType>(elementType).getWidth() < 32)
    computeType = b.getF32Type();
  Value x = buildCast(b, loc, input, computeType);
  ArrayRef<int64_t> shape = shapeOf(x);
  int64_t last = int64_t(shape.size()) - 1;
  double inf = std::numeric_limits<double>::infinity();
  Value max = buildReduction(
      b, loc, x, {last}, /*keepDims=*/true,
      scalarConstant(b, loc, computeType, -inf),
      [](OpBuilder &nb, Location nloc, ValueRange args) -> Value {
        return arith::MaximumFOp::create(nb, nloc, args[0], args[1]);
      });
  Value exp = buildElementwise(
      b, loc, {x, max}, shape, computeType,
      [&](OpBuilder &nb, Location nloc, ValueRange args) -> Value {
        // A row of -inf has max -inf: its weights are 0, not NaN.
        Value ninf = scalarConstant(nb, nloc, computeType, -inf);
        Value isEmpty = arith::CmpFOp::create(
            nb, nloc, arith::CmpFPredicate::OEQ, args[1], ninf);
        Value diff = arith::SubFOp::create(nb, nloc, args[0], args[1]);
        Value e = math::ExpOp::create(nb, nloc, diff);
        return arith::SelectOp::create(
            nb, nloc, isEmpty, scalarConstant(nb, nloc, computeType, 0.0), e);
      });
  Value sum = buildReduction(
      b, loc, exp, {last}, /*keepDims=*/true,
      scalarConstant(b, loc, computeType, 0.0),
      [](OpBuilder &nb, Location nloc, ValueRange args) -> Value {
        return arith::AddFOp::create(nb, nloc, args[0], args[1]);
      });
  Value result = buildElementwise(
      b, loc, {exp, sum}, shape, computeType,
      [&](OpBuilder &nb, Location nloc, ValueRange args) -> Value {
        Value zero = scalarConstant(nb, nloc, computeType, 0.0);
        Value isEmpty = arith::CmpFOp::create(
            nb, nloc, arith::CmpFPredicate::OEQ, args[1], zero);
        Value q = arith::DivFOp::create(nb, nloc, args[0], args[1]);
        return arith::SelectOp::create(nb, nloc, isEmpty, zero, q);
      });
  return buildCast(b, loc, result, elementType);
}

Value mlir::attn::onnx_import::buildMatMul(OpBuilder &b, Location loc,
                                           Value lhs, Value rhs,
                                           bool transposeRhs, Type accType,
                                           Type outType) {
  MLIRContext *ctx = b.getContext();
  ArrayRef<int64_t> ls = shapeOf(lhs), rs = shapeOf(rhs);
  int64_t lb = ls.size() - 2, rb = rs.size() - 2;
  int64_t batchRank = std::max(lb, rb);
  SmallVector<int64_t> outShape;
  for (int64_t d = 0; d < batchRank; ++d) {
    int64_t li = d - (batchRank - lb), ri = d - (batchRank - rb);
    int64_t l = li >= 0 ? ls[li] : 1, r = ri >= 0 ? rs[ri] : 1;
    outShape.push_back(l == 1 ? r : l);
  }
  int64_t m = ls[lb], n = transposeRhs ? rs[rb] : rs[rb + 1];
  outShape.push_back(m);
  outShape.push_back(n);
  // Loops: batch..., m, n, k.
  int64_t numLoops = batchRank + 3;
  auto dim = [&](int64_t d) { return getAffineDimExpr(d, ctx); };
  auto batchExprs = [&](ArrayRef<int64_t> shape, int64_t rank) {
    SmallVector<AffineExpr> exprs;
    for (int64_t i = 0; i < rank; ++i) {
      int64_t d = batchRank - rank + i;
      exprs.push_back(shape[i] == outShape[d] ? dim(d)
                                              : getAffineConstantExpr(0, ctx));
    }
    return exprs;
  };
  AffineExpr mD = dim(batchRank), nD = dim(batchRank + 1),
             kD = dim(batchRank + 2);
  SmallVector<AffineExpr> lhsExprs = batchExprs(ls, lb);
  lhsExprs.append({mD, kD});
  SmallVector<AffineExpr> rhsExprs = batchExprs(rs, rb);
  if (transposeRhs)
    rhsExprs.append({nD, kD});
  else
    rhsExprs.append({kD, nD});
  SmallVector<AffineExpr> outExprs;
  for (int64_t d = 0; d < batchRank; ++d)
    outExprs.push_back(dim(d));
  outExprs.append({mD, nD});
  SmallVector<AffineMap> maps = {AffineMap::get(numLoops, 0, lhsExprs, ctx),
                                 AffineMap::get(numLoops, 0, rhsExprs, ctx),
                                 AffineMap::get(numLoops, 0, outExprs, ctx)};
  SmallVector<utils::IteratorType> iterators(numLoops,
                                             utils::IteratorType::parallel);
  iterators.back() = utils::IteratorType::reduction;
  Value acc = filledTensor(b, loc, outShape, accType, 0.0);
  bool isFloat = isa<FloatType>(accType);
  auto op = linalg::GenericOp::create(
      b, loc, TypeRange{acc.getType()}, ValueRange{lhs, rhs}, ValueRange{acc},
      maps, iterators, [&](OpBuilder &nb, Location nloc, ValueRange args) {
        Value x = convertScalar(nb, nloc, args[0], accType);
        Value y = convertScalar(nb, nloc, args[1], accType);
        Value r;
        if (isFloat) {
          Value p = arith::MulFOp::create(nb, nloc, x, y);
          r = arith::AddFOp::create(nb, nloc, args[2], p);
        } else {
          Value p = arith::MulIOp::create(nb, nloc, x, y);
          r = arith::AddIOp::create(nb, nloc, args[2], p);
        }
        linalg::YieldOp::create(nb, nloc, r);
      });
  return buildCast(b, loc, op.getResult(0), outType);
}

Value mlir::attn::onnx_import::gatherIndex(OpBuilder &b, Location loc,
                                           Value index, int64_t dim) {
  Value i = arith::IndexCastOp::create(b, loc, b.getIndexType(), index);
  Value size = arith::ConstantIndexOp::create(b, loc, dim);
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value negative =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, i, zero);
  i = arith::SelectOp::create(b, loc, negative,
                              arith::AddIOp::create(b, loc, i, size), i);
  i = arith::MaxSIOp::create(b, loc, i, zero);
  return arith::MinSIOp::create(
      b, loc, i, arith::ConstantIndexOp::create(b, loc, dim - 1));
}
