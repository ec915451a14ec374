//===- HeadPooling.cpp - build head pooling, mapping and repeating --------===//

#include "HeadPooling.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;

// The group is a dimension of its own ([B, N, g, S, D]), reduced by one
// linalg.generic with the weights as a [N, g] constant.
Value mlir::attn::poolHeads(OpBuilder &b, Location loc, Value x,
                            int64_t newHeads, ArrayRef<double> weights) {
  auto type = cast<RankedTensorType>(x.getType());
  int64_t heads = type.getDimSize(1), group = heads / newHeads;
  Type elementType = type.getElementType();
  auto grouped = RankedTensorType::get(
      {type.getDimSize(0), newHeads, group, type.getDimSize(2),
       type.getDimSize(3)},
      elementType);
  Value five = tensor::ExpandShapeOp::create(
      b, loc, grouped, x,
      ArrayRef<ReassociationIndices>{{0}, {1, 2}, {3}, {4}});
  SmallVector<int64_t> outShape{type.getDimSize(0), newHeads,
                                type.getDimSize(2), type.getDimSize(3)};
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(elementType));
  Value empty = tensor::EmptyOp::create(b, loc, outShape, elementType);
  Value init = linalg::FillOp::create(b, loc, zero, empty).getResult(0);
  MLIRContext *ctx = b.getContext();
  AffineExpr bb, n, s, d, r;
  bindDims(ctx, bb, n, s, d, r);
  SmallVector<Value> inputs{five};
  SmallVector<AffineMap> maps{AffineMap::get(5, 0, {bb, n, r, s, d}, ctx)};
  if (!weights.empty()) {
    SmallVector<APFloat> values;
    for (double w : weights) {
      APFloat value(w);
      bool lost;
      value.convert(cast<FloatType>(elementType).getFloatSemantics(),
                    APFloat::rmNearestTiesToEven, &lost);
      values.push_back(value);
    }
    auto weightType = RankedTensorType::get({newHeads, group}, elementType);
    inputs.push_back(arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(weightType, values)));
    maps.push_back(AffineMap::get(5, 0, {n, r}, ctx));
  }
  maps.push_back(AffineMap::get(5, 0, {bb, n, s, d}, ctx));
  SmallVector<utils::IteratorType> iterators(4, utils::IteratorType::parallel);
  iterators.push_back(utils::IteratorType::reduction);
  auto uniform = FloatAttr::get(elementType, 1.0 / static_cast<double>(group));
  auto pooled = linalg::GenericOp::create(
      b, loc, init.getType(), inputs, ValueRange{init}, maps, iterators,
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        Value w = weights.empty() ? arith::ConstantOp::create(nb, nl, uniform)
                                  : args[1];
        Value scaled = arith::MulFOp::create(nb, nl, args[0], w);
        Value sum = arith::AddFOp::create(nb, nl, args.back(), scaled);
        linalg::YieldOp::create(nb, nl, sum);
      });
  return pooled->getResult(0);
}

Value mlir::attn::mapHeads(OpBuilder &b, Location loc, Value x,
                           DenseElementsAttr maps) {
  auto type = cast<RankedTensorType>(x.getType());
  Type elementType = type.getElementType();
  Value matrices = arith::ConstantOp::create(
      b, loc,
      maps.getType().getElementType() == elementType
          ? maps
          : cast<DenseElementsAttr>(DenseElementsAttr::get(
                RankedTensorType::get(maps.getType().getShape(), elementType),
                llvm::to_vector(llvm::map_range(
                    maps.getValues<APFloat>(), [&](APFloat v) {
                      bool lost;
                      v.convert(cast<FloatType>(elementType).getFloatSemantics(),
                                APFloat::rmNearestTiesToEven, &lost);
                      return v;
                    })))));
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(elementType));
  Value empty = tensor::EmptyOp::create(b, loc, type.getShape(), elementType);
  Value init = linalg::FillOp::create(b, loc, zero, empty).getResult(0);
  MLIRContext *ctx = b.getContext();
  AffineExpr bb, h, s, d, e;
  bindDims(ctx, bb, h, s, d, e);
  SmallVector<AffineMap> indexing{AffineMap::get(5, 0, {bb, h, s, e}, ctx),
                                  AffineMap::get(5, 0, {h, d, e}, ctx),
                                  AffineMap::get(5, 0, {bb, h, s, d}, ctx)};
  SmallVector<utils::IteratorType> iterators(4, utils::IteratorType::parallel);
  iterators.push_back(utils::IteratorType::reduction);
  auto mapped = linalg::GenericOp::create(
      b, loc, init.getType(), ValueRange{x, matrices}, ValueRange{init},
      indexing, iterators, [&](OpBuilder &nb, Location nl, ValueRange args) {
        Value product = arith::MulFOp::create(nb, nl, args[0], args[1]);
        Value sum = arith::AddFOp::create(nb, nl, args[2], product);
        linalg::YieldOp::create(nb, nl, sum);
      });
  return mapped->getResult(0);
}

// A broadcast over a new group dimension collapsed into the heads: the
// repeat_kv form attn-raise-attention recognises.
Value mlir::attn::repeatHeads(OpBuilder &b, Location loc, Value x,
                              RankedTensorType type) {
  auto src = cast<RankedTensorType>(x.getType());
  int64_t heads = src.getDimSize(1), group = type.getDimSize(1) / heads;
  Value empty = tensor::EmptyOp::create(
      b, loc,
      ArrayRef<int64_t>{src.getDimSize(0), heads, group, src.getDimSize(2),
                        src.getDimSize(3)},
      src.getElementType());
  Value five = linalg::BroadcastOp::create(b, loc, x, empty,
                                           ArrayRef<int64_t>{2})
                   ->getResult(0);
  return tensor::CollapseShapeOp::create(
      b, loc, type, five,
      ArrayRef<ReassociationIndices>{{0}, {1, 2}, {3}, {4}});
}
