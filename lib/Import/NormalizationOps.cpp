//===- NormalizationOps.cpp - softmax, reductions, layer norms ------------===//
//
// Softmax (both the opset < 13 "coerce to 2-D" and the per-axis forms),
// ReduceSum/Mean/Max/Min/Prod (axes as attribute or input by opset),
// LayerNormalization and RMSNormalization. Normalisations compute in f32
// (their stash_type) and round to the input type at the end.
//
//===----------------------------------------------------------------------===//

#include "ConstantFolder.h"
#include "ImportContext.h"
#include "LinalgBuilders.h"
#include "ShapeUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::attn::onnx_import;

namespace {

Type f32Or(OpBuilder &b, Type elementType) {
  if (auto f = dyn_cast<FloatType>(elementType); f && f.getWidth() < 32)
    return b.getF32Type();
  return elementType;
}

//===----------------------------------------------------------------------===//
// Softmax
//===----------------------------------------------------------------------===//

LogicalResult importSoftmax(NodeContext &ctx) {
  if (failed(ctx.checkArity(1, 1)))
    return failure();
  const ImportedValue *x = ctx.input(0);
  if (!isFloat(x->dtype))
    return ctx.emitError() << "needs a float input, not "
                           << dtypeName(x->dtype);
  OpBuilder &b = ctx.builder();
  int64_t rank = x->rank();
  Value v = ctx.value(0);
  if (rank == 0) {
    // A softmax over a single element is 1.
    ctx.setOutput(0, filledTensor(b, ctx.loc, {}, elementTypeOf(v), 1.0),
                  x->dtype);
    return success();
  }
  bool coerce2D = ctx.opset < 13;
  FailureOr<int64_t> axis =
      normalizeAxis(ctx, ctx.attrInt("axis", coerce2D ? 1 : -1), rank);
  if (failed(axis))
    return failure();
  Value result;
  if (coerce2D) {
    // Opset < 13: softmax over everything from `axis` on, as one row.
    ArrayRef<int64_t> shape = x->shape;
    SmallVector<int64_t> flat = {numElements(shape.take_front(*axis)),
                                 numElements(shape.drop_front(*axis))};
    result = buildSoftmaxLastDim(b, ctx.loc, buildReshape(b, ctx.loc, v, flat));
    result = buildReshape(b, ctx.loc, result, shape);
  } else if (*axis == rank - 1) {
    result = buildSoftmaxLastDim(b, ctx.loc, v);
  } else {
    SmallVector<int64_t> perm;
    for (int64_t d = 0; d < rank; ++d)
      if (d != *axis)
        perm.push_back(d);
    perm.push_back(*axis);
    SmallVector<int64_t> inverse(rank);
    for (int64_t d = 0; d < rank; ++d)
      inverse[perm[d]] = d;
    result =
        buildSoftmaxLastDim(b, ctx.loc, buildTranspose(b, ctx.loc, v, perm));
    result = buildTranspose(b, ctx.loc, result, inverse);
  }
  ctx.setOutput(0, result, x->dtype);
  return success();
}

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

enum class ReduceKind { Sum, Mean, Max, Min, Prod };

struct ReduceParams {
  SmallVector<int64_t> axes; ///< sorted; empty with `identity`
  bool keepDims = true;
  bool identity = false;
};

FailureOr<ReduceParams> reduceParams(NodeContext &ctx, bool axesAsInput) {
  if (failed(ctx.checkArity(1, axesAsInput ? 2 : 1)))
    return failure();
  ReduceParams p;
  p.keepDims = ctx.attrInt("keepdims", 1) != 0;
  std::optional<SmallVector<int64_t>> axes;
  if (axesAsInput) {
    if (ctx.hasInput(1)) {
      FailureOr<SmallVector<int64_t>> a = ctx.constantInts(1, "axes");
      if (failed(a))
        return failure();
      axes = *a;
    }
  } else {
    axes = ctx.attrInts("axes");
  }
  int64_t rank = ctx.input(0)->rank();
  if (!axes || axes->empty()) {
    if (ctx.attrInt("noop_with_empty_axes", 0)) {
      p.identity = true;
      return p;
    }
    for (int64_t d = 0; d < rank; ++d)
      p.axes.push_back(d);
    return p;
  }
  FailureOr<SmallVector<int64_t>> n = normalizeAxes(ctx, *axes, rank);
  if (failed(n))
    return failure();
  p.axes = *n;
  return p;
}

bool reduceAxesAsInput(NodeContext &ctx) {
  return ctx.opset >= (ctx.node.op_type() == "ReduceSum" ? 13 : 18);
}

LogicalResult importReduce(NodeContext &ctx, ReduceKind kind) {
  FailureOr<ReduceParams> p = reduceParams(ctx, reduceAxesAsInput(ctx));
  if (failed(p))
    return failure();
  const ImportedValue *x = ctx.input(0);
  if (!isFloat(x->dtype) && x->dtype != DType::I32 && x->dtype != DType::I64)
    return ctx.emitError() << "does not support element type "
                           << dtypeName(x->dtype);
  if (p->identity) {
    ctx.setOutput(0, *x);
    return success();
  }
  OpBuilder &b = ctx.builder();
  Value v = ctx.value(0);
  Type elementType = elementTypeOf(v);
  bool floating = isFloat(x->dtype);
  Type acc = (kind == ReduceKind::Sum || kind == ReduceKind::Mean ||
              kind == ReduceKind::Prod)
                 ? f32Or(b, elementType)
                 : elementType;
  v = buildCast(b, ctx.loc, v, acc);
  double inf = std::numeric_limits<double>::infinity();
  double init = 0;
  if (kind == ReduceKind::Prod)
    init = 1;
  else if (kind == ReduceKind::Max)
    init = floating ? -inf : double(std::numeric_limits<int64_t>::min());
  else if (kind == ReduceKind::Min)
    init = floating ? inf : double(std::numeric_limits<int64_t>::max());
  if (!floating && elementType.getIntOrFloatBitWidth() == 32 &&
      (kind == ReduceKind::Max || kind == ReduceKind::Min))
    init = kind == ReduceKind::Max
               ? double(std::numeric_limits<int32_t>::min())
               : double(std::numeric_limits<int32_t>::max());
  Value result = buildReduction(
      b, ctx.loc, v, p->axes, p->keepDims,
      scalarConstant(b, ctx.loc, acc, init),
      [&](OpBuilder &nb, Location loc, ValueRange args) -> Value {
        switch (kind) {
        case ReduceKind::Sum:
        case ReduceKind::Mean:
          return floating
                     ? Value(arith::AddFOp::create(nb, loc, args[0], args[1]))
                     : Value(arith::AddIOp::create(nb, loc, args[0], args[1]));
        case ReduceKind::Prod:
          return floating
                     ? Value(arith::MulFOp::create(nb, loc, args[0], args[1]))
                     : Value(arith::MulIOp::create(nb, loc, args[0], args[1]));
        case ReduceKind::Max:
          return floating
                     ? Value(
                           arith::MaximumFOp::create(nb, loc, args[0], args[1]))
                     : Value(arith::MaxSIOp::create(nb, loc, args[0], args[1]));
        case ReduceKind::Min:
          return floating
                     ? Value(
                           arith::MinimumFOp::create(nb, loc, args[0], args[1]))
                     : Value(arith::MinSIOp::create(nb, loc, args[0], args[1]));
        }
        llvm_unreachable("reduction kind");
      });
  if (kind == ReduceKind::Mean) {
    int64_t count = 1;
    for (int64_t a : p->axes)
      count *= x->shape[a];
    result = buildElementwise(
        b, ctx.loc, result, shapeOf(result), acc,
        [&](OpBuilder &nb, Location loc, ValueRange args) -> Value {
          Value n = scalarConstant(nb, loc, acc, double(count));
          return floating ? Value(arith::DivFOp::create(nb, loc, args[0], n))
                          : Value(arith::DivSIOp::create(nb, loc, args[0], n));
        });
  }
  ctx.setOutput(0, buildCast(b, ctx.loc, result, elementType), x->dtype);
  return success();
}

FailureOr<bool> foldReduce(NodeContext &ctx, ReduceKind kind) {
  if (!ctx.allInputsConstant() || !ctx.hasInput(0))
    return false;
  const HostTensor &x = *ctx.input(0)->constant;
  if (x.size() > kMaxFoldElements)
    return false;
  FailureOr<ReduceParams> p = reduceParams(ctx, reduceAxesAsInput(ctx));
  if (failed(p))
    return failure();
  if (p->identity) {
    ctx.setOutput(0, x);
    return true;
  }
  SmallVector<int64_t> keptShape;
  for (int64_t d = 0; d < x.rank(); ++d)
    keptShape.push_back(llvm::is_contained(p->axes, d) ? 1 : x.shape[d]);
  int64_t count = 1;
  for (int64_t a : p->axes)
    count *= x.shape[a];
  SmallVector<double> acc(numElements(keptShape),
                          kind == ReduceKind::Prod  ? 1.0
                          : kind == ReduceKind::Max ? -INFINITY
                          : kind == ReduceKind::Min ? INFINITY
                                                    : 0.0);
  SmallVector<int64_t> strides = stridesOf(keptShape);
  for (int64_t n = 0; n < x.size(); ++n) {
    int64_t rem = n, out = 0;
    for (int64_t d = x.rank() - 1; d >= 0; --d) {
      int64_t i = rem % x.shape[d];
      rem /= x.shape[d];
      if (keptShape[d] != 1)
        out += i * strides[d];
    }
    double v = x.getDouble(n);
    switch (kind) {
    case ReduceKind::Sum:
    case ReduceKind::Mean:
      acc[out] += v;
      break;
    case ReduceKind::Prod:
      acc[out] *= v;
      break;
    case ReduceKind::Max:
      acc[out] = std::max(acc[out], v);
      break;
    case ReduceKind::Min:
      acc[out] = std::min(acc[out], v);
      break;
    }
  }
  SmallVector<int64_t> outShape;
  for (int64_t d = 0; d < x.rank(); ++d)
    if (!llvm::is_contained(p->axes, d))
      outShape.push_back(x.shape[d]);
    else if (p->keepDims)
      outShape.push_back(1);
  HostTensor out(x.dtype, outShape);
  for (int64_t i = 0; i < out.size(); ++i) {
    double v = kind == ReduceKind::Mean ? acc[i] / double(count) : acc[i];
    // setDouble saturates for integer types: a sum past INT64_MAX or the
    // -inf of Max over an empty axis must not be converted with a cast.
    out.setDouble(i, v);
  }
  ctx.setOutput(0, std::move(out));
  return true;
}

//===----------------------------------------------------------------------===//
// LayerNormalization and RMSNormalization
//===----------------------------------------------------------------------===//

/// Checks that `param` (scale or bias) broadcasts onto the normalised dims.
LogicalResult checkNormParam(NodeContext &ctx, const ImportedValue *param,
                             ArrayRef<int64_t> xShape, StringRef what) {
  FailureOr<SmallVector<int64_t>> shape =
      broadcastShapes(ctx, {xShape, param->shape});
  if (failed(shape))
    return failure();
  if (ArrayRef<int64_t>(*shape) != xShape)
    return ctx.emitError() << what << " of shape " << formatShape(param->shape)
                           << " does not broadcast to the input "
                           << formatShape(xShape);
  return success();
}

/// `rms`: RMSNormalization (no centering, no bias).
LogicalResult importNorm(NodeContext &ctx, bool rms) {
  if (failed(ctx.checkArity(2, rms ? 2 : 3)))
    return failure();
  const ImportedValue *x = ctx.input(0);
  if (!isFloat(x->dtype))
    return ctx.emitError() << "needs a float input, not "
                           << dtypeName(x->dtype);
  int64_t rank = x->rank();
  FailureOr<int64_t> axis = normalizeAxis(ctx, ctx.attrInt("axis", -1), rank);
  if (failed(axis))
    return failure();
  if (failed(checkNormParam(ctx, ctx.input(1), x->shape, "scale")) ||
      (ctx.hasInput(2) &&
       failed(checkNormParam(ctx, ctx.input(2), x->shape, "bias"))))
    return failure();
  double epsilon = ctx.attrFloat("epsilon", 1e-5f);
  OpBuilder &b = ctx.builder();
  Location loc = ctx.loc;
  Type elementType = mlirElementType(x->dtype, ctx.getContext());
  Type f = f32Or(b, elementType);
  SmallVector<int64_t> axes;
  int64_t count = 1;
  for (int64_t d = *axis; d < rank; ++d) {
    axes.push_back(d);
    count *= x->shape[d];
  }
  Value xs = buildCast(b, loc, ctx.value(0), f);
  auto sumOf = [&](Value v) {
    return buildReduction(
        b, loc, v, axes, /*keepDims=*/true, scalarConstant(b, loc, f, 0.0),
        [](OpBuilder &nb, Location l, ValueRange args) -> Value {
          return arith::AddFOp::create(nb, l, args[0], args[1]);
        });
  };
  auto divideByCount = [&](Value v) {
    return buildElementwise(
        b, loc, v, shapeOf(v), f,
        [&](OpBuilder &nb, Location l, ValueRange args) -> Value {
          return arith::DivFOp::create(nb, l, args[0],
                                       scalarConstant(nb, l, f, double(count)));
        });
  };
  Value centered = xs, mean;
  if (!rms) {
    mean = divideByCount(sumOf(xs));
    centered = buildElementwise(
        b, loc, {xs, mean}, x->shape, f,
        [](OpBuilder &nb, Location l, ValueRange args) -> Value {
          return arith::SubFOp::create(nb, l, args[0], args[1]);
        });
  }
  Value squares =
      buildElementwise(b, loc, centered, x->shape, f,
                       [](OpBuilder &nb, Location l, ValueRange args) -> Value {
                         return arith::MulFOp::create(nb, l, args[0], args[0]);
                       });
  Value variance = divideByCount(sumOf(squares));
  // 1 / sqrt(var + eps)
  Value invStd = buildElementwise(
      b, loc, variance, shapeOf(variance), f,
      [&](OpBuilder &nb, Location l, ValueRange args) -> Value {
        Value s = math::SqrtOp::create(
            nb, l,
            arith::AddFOp::create(nb, l, args[0],
                                  scalarConstant(nb, l, f, epsilon)));
        return arith::DivFOp::create(nb, l, scalarConstant(nb, l, f, 1.0), s);
      });
  SmallVector<Value> inputs = {centered, invStd, ctx.value(1)};
  if (ctx.hasInput(2))
    inputs.push_back(ctx.value(2));
  Value y = buildElementwise(
      b, loc, inputs, x->shape, elementType,
      [&](OpBuilder &nb, Location l, ValueRange args) -> Value {
        Value n = arith::MulFOp::create(nb, l, args[0], args[1]);
        Value scale = convertScalar(nb, l, args[2], f);
        Value r = arith::MulFOp::create(nb, l, n, scale);
        if (args.size() > 3)
          r = arith::AddFOp::create(nb, l, r, convertScalar(nb, l, args[3], f));
        return convertScalar(nb, l, r, elementType);
      });
  ctx.setOutput(0, y, x->dtype);
  // Optional Mean / InvStdDev outputs (LayerNormalization), in f32.
  DType stash = f.isF64() ? DType::F64 : DType::F32;
  if (!rms && ctx.hasOutput(1))
    ctx.setOutput(1, mean, stash);
  if (ctx.hasOutput(rms ? 1 : 2))
    ctx.setOutput(rms ? 1 : 2, invStd, stash);
  return success();
}

//===----------------------------------------------------------------------===//
// CumSum
//===----------------------------------------------------------------------===//

/// out[.., i, ..] = sum of x[.., k, ..] over k <= i (k < i when exclusive;
/// k >= i / k > i when reverse), as a reduction over a second loop k.
LogicalResult importCumSum(NodeContext &ctx) {
  if (failed(ctx.checkArity(2, 2)))
    return failure();
  const ImportedValue *x = ctx.input(0);
  if (!isFloat(x->dtype) && x->dtype != DType::I32 && x->dtype != DType::I64)
    return ctx.emitError() << "does not support element type "
                           << dtypeName(x->dtype);
  FailureOr<SmallVector<int64_t>> axisIn = ctx.constantInts(1, "axis");
  if (failed(axisIn))
    return failure();
  if (axisIn->size() != 1)
    return ctx.emitError() << "needs a scalar axis";
  FailureOr<int64_t> axis = normalizeAxis(ctx, (*axisIn)[0], x->rank());
  if (failed(axis))
    return failure();
  bool exclusive = ctx.attrInt("exclusive", 0),
       reverse = ctx.attrInt("reverse", 0);
  OpBuilder &b = ctx.builder();
  MLIRContext *mctx = ctx.getContext();
  int64_t rank = x->rank();
  Type elementType = mlirElementType(x->dtype, mctx);
  Type acc = f32Or(b, elementType);
  bool floating = isFloat(x->dtype);
  // Loops: the output dims, then k.
  SmallVector<AffineExpr> inExprs, outExprs;
  for (int64_t d = 0; d < rank; ++d) {
    inExprs.push_back(getAffineDimExpr(d == *axis ? rank : d, mctx));
    outExprs.push_back(getAffineDimExpr(d, mctx));
  }
  SmallVector<AffineMap> maps = {AffineMap::get(rank + 1, 0, inExprs, mctx),
                                 AffineMap::get(rank + 1, 0, outExprs, mctx)};
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  iterators.push_back(utils::IteratorType::reduction);
  Value init = filledTensor(b, ctx.loc, x->shape, acc, 0.0);
  int64_t axisDim = *axis;
  auto op = linalg::GenericOp::create(
      b, ctx.loc, TypeRange{init.getType()}, ValueRange{ctx.value(0)},
      ValueRange{init}, maps, iterators,
      [&](OpBuilder &nb, Location loc, ValueRange args) {
        Value i = linalg::IndexOp::create(nb, loc, axisDim);
        Value k = linalg::IndexOp::create(nb, loc, rank);
        arith::CmpIPredicate pred =
            reverse ? (exclusive ? arith::CmpIPredicate::sgt
                                 : arith::CmpIPredicate::sge)
                    : (exclusive ? arith::CmpIPredicate::slt
                                 : arith::CmpIPredicate::sle);
        Value take = arith::CmpIOp::create(nb, loc, pred, k, i);
        Value v = convertScalar(nb, loc, args[0], acc);
        v = arith::SelectOp::create(nb, loc, take, v,
                                    scalarConstant(nb, loc, acc, 0.0));
        Value sum = floating
                        ? Value(arith::AddFOp::create(nb, loc, args[1], v))
                        : Value(arith::AddIOp::create(nb, loc, args[1], v));
        linalg::YieldOp::create(nb, loc, sum);
      });
  ctx.setOutput(0, buildCast(b, ctx.loc, op.getResult(0), elementType),
                x->dtype);
  return success();
}

} // namespace

void mlir::attn::onnx_import::registerNormalizationOps(OpRegistry &r) {
  r.add("", "CumSum", importCumSum);
  r.add("", "Softmax", importSoftmax);
  auto reduce = [&](StringRef name, ReduceKind kind) {
    r.add(
        "", name, [kind](NodeContext &ctx) { return importReduce(ctx, kind); },
        [kind](NodeContext &ctx) { return foldReduce(ctx, kind); });
  };
  reduce("ReduceSum", ReduceKind::Sum);
  reduce("ReduceMean", ReduceKind::Mean);
  reduce("ReduceMax", ReduceKind::Max);
  reduce("ReduceMin", ReduceKind::Min);
  reduce("ReduceProd", ReduceKind::Prod);
  r.add("", "LayerNormalization",
        [](NodeContext &ctx) { return importNorm(ctx, /*rms=*/false); });
  r.add("", "RMSNormalization",
        [](NodeContext &ctx) { return importNorm(ctx, /*rms=*/true); });
  // ONNX Runtime's name for RMS norm, registered in both domains by ORT.
  r.add("", "SimplifiedLayerNormalization",
        [](NodeContext &ctx) { return importNorm(ctx, /*rms=*/true); });
  r.add("com.microsoft", "SimplifiedLayerNormalization",
        [](NodeContext &ctx) { return importNorm(ctx, /*rms=*/true); });
}
