//===- MatMulOps.cpp - ONNX MatMul and Gemm -------------------------------===//
//
// Both become one zero-initialised linalg.generic contraction (batch dims
// broadcast numpy-style), accumulating f16/bf16 in f32.
//
//===----------------------------------------------------------------------===//

#include "ImportContext.h"
#include "LinalgBuilders.h"
#include "ShapeUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace mlir;
using namespace mlir::attn::onnx_import;

namespace {

LogicalResult checkMatMulType(NodeContext &ctx, DType a, DType b) {
  if (a != b)
    return ctx.emitError() << "multiplies " << dtypeName(a) << " by "
                           << dtypeName(b);
  if (!isFloat(a) && a != DType::I32 && a != DType::I64)
    return ctx.emitError() << "does not support element type " << dtypeName(a);
  return success();
}

Type accumulatorType(OpBuilder &b, Type elementType) {
  if (auto f = dyn_cast<FloatType>(elementType); f && f.getWidth() < 32)
    return b.getF32Type();
  return elementType;
}

LogicalResult importMatMul(NodeContext &ctx) {
  if (failed(ctx.checkArity(2, 2)))
    return failure();
  const ImportedValue *a = ctx.input(0), *b = ctx.input(1);
  if (failed(checkMatMulType(ctx, a->dtype, b->dtype)))
    return failure();
  if (a->rank() == 0 || b->rank() == 0)
    return ctx.emitError() << "cannot multiply scalars";
  OpBuilder &builder = ctx.builder();
  Value lhs = ctx.value(0), rhs = ctx.value(1);
  SmallVector<int64_t> ls(a->shape), rs(b->shape);
  // numpy: a 1-D operand gains a unit dim that the result drops.
  bool vecL = ls.size() == 1, vecR = rs.size() == 1;
  if (vecL)
    ls.insert(ls.begin(), 1);
  if (vecR)
    rs.push_back(1);
  if (ls.back() != rs[rs.size() - 2])
    return ctx.emitError() << "cannot multiply shapes " << formatShape(a->shape)
                           << " and " << formatShape(b->shape)
                           << ": the contracted sizes differ (" << ls.back()
                           << " vs " << rs[rs.size() - 2] << ")";
  ArrayRef<int64_t> lb = ArrayRef<int64_t>(ls).drop_back(2),
                    rb = ArrayRef<int64_t>(rs).drop_back(2);
  FailureOr<SmallVector<int64_t>> batch = broadcastShapes(ctx, {lb, rb});
  if (failed(batch))
    return failure();
  lhs = buildReshape(builder, ctx.loc, lhs, ls);
  rhs = buildReshape(builder, ctx.loc, rhs, rs);
  Type elementType = elementTypeOf(lhs);
  Value result =
      buildMatMul(builder, ctx.loc, lhs, rhs, /*transposeRhs=*/false,
                  accumulatorType(builder, elementType), elementType);
  SmallVector<int64_t> outShape(*batch);
  if (!vecL)
    outShape.push_back(ls[ls.size() - 2]);
  if (!vecR)
    outShape.push_back(rs.back());
  result = buildReshape(builder, ctx.loc, result, outShape);
  ctx.setOutput(0, result, a->dtype);
  return success();
}

LogicalResult importGemm(NodeContext &ctx) {
  if (failed(ctx.checkArity(2, 3)))
    return failure();
  const ImportedValue *a = ctx.input(0), *b = ctx.input(1);
  if (failed(checkMatMulType(ctx, a->dtype, b->dtype)))
    return failure();
  if (a->rank() != 2 || b->rank() != 2)
    return ctx.emitError() << "needs 2-D A and B, not " << formatShape(a->shape)
                           << " and " << formatShape(b->shape);
  bool transA = ctx.attrInt("transA", 0), transB = ctx.attrInt("transB", 0);
  double alpha = ctx.attrFloat("alpha", 1.0f),
         beta = ctx.attrFloat("beta", 1.0f);
  int64_t m = transA ? a->shape[1] : a->shape[0];
  int64_t k = transA ? a->shape[0] : a->shape[1];
  int64_t kb = transB ? b->shape[1] : b->shape[0];
  int64_t n = transB ? b->shape[0] : b->shape[1];
  if (k != kb)
    return ctx.emitError() << "cannot multiply shapes " << formatShape(a->shape)
                           << (transA ? " (transposed)" : "") << " and "
                           << formatShape(b->shape)
                           << (transB ? " (transposed)" : "")
                           << ": the contracted sizes differ (" << k << " vs "
                           << kb << ")";
  OpBuilder &builder = ctx.builder();
  Value lhs = ctx.value(0);
  if (transA)
    lhs = buildTranspose(builder, ctx.loc, lhs, {1, 0});
  Type elementType = elementTypeOf(lhs);
  Type acc = accumulatorType(builder, elementType);
  Value result =
      buildMatMul(builder, ctx.loc, lhs, ctx.value(1), transB, acc, acc);
  SmallVector<int64_t> outShape = {m, n};
  SmallVector<Value> inputs = {result};
  const ImportedValue *c = ctx.input(2);
  if (c) {
    if (c->dtype != a->dtype)
      return ctx.emitError() << "has C of type " << dtypeName(c->dtype)
                             << " for A of type " << dtypeName(a->dtype);
    FailureOr<SmallVector<int64_t>> shape =
        broadcastShapes(ctx, {outShape, c->shape});
    if (failed(shape))
      return failure();
    if (*shape != outShape)
      return ctx.emitError()
             << "has C of shape " << formatShape(c->shape)
             << ", which does not broadcast to " << formatShape(outShape);
    inputs.push_back(ctx.value(2));
  }
  if (inputs.size() == 1 && alpha == 1.0) {
    ctx.setOutput(0, buildCast(builder, ctx.loc, result, elementType),
                  a->dtype);
    return success();
  }
  bool floating = isa<FloatType>(acc);
  result = buildElementwise(
      builder, ctx.loc, inputs, outShape, elementType,
      [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
        Value y = args[0];
        if (alpha != 1.0)
          y = floating ? Value(arith::MulFOp::create(
                             b, loc, y, scalarConstant(b, loc, acc, alpha)))
                       : Value(arith::MulIOp::create(
                             b, loc, y, scalarConstant(b, loc, acc, alpha)));
        if (args.size() > 1 && beta != 0.0) {
          Value cv = convertScalar(b, loc, args[1], acc);
          if (beta != 1.0)
            cv = floating ? Value(arith::MulFOp::create(
                                b, loc, cv, scalarConstant(b, loc, acc, beta)))
                          : Value(arith::MulIOp::create(
                                b, loc, cv, scalarConstant(b, loc, acc, beta)));
          y = floating ? Value(arith::AddFOp::create(b, loc, y, cv))
                       : Value(arith::AddIOp::create(b, loc, y, cv));
        }
        return convertScalar(b, loc, y, elementType);
      });
  ctx.setOutput(0, result, a->dtype);
  return success();
}

} // namespace

void mlir::attn::onnx_import::registerMatMulOps(OpRegistry &registry) {
  registry.add("", "MatMul", importMatMul);
  registry.add("", "Gemm", importGemm);
}
