//===- ElementwiseOps.cpp - ONNX elementwise operators --------------------===//
//
// Arithmetic, comparison, logic and activation operators with numpy
// broadcasting, as one linalg.generic each. Each operator is defined once as
// a scalar rule with two faces: the arith/math ops of the generic's body and
// a host function that folds the operator when its inputs are constants.
// f16/bf16 math is computed in f32 and rounded back, as ONNX Runtime does.
//
//===----------------------------------------------------------------------===//

#include "ImportContext.h"
#include "LinalgBuilders.h"
#include "ShapeUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::attn::onnx_import;

namespace {

/// What the result's element type is.
enum class ResultKind { SameAsFirst, Bool };

/// Which element types an operator accepts.
enum class Accepts { Numeric, Float, Bool, Any };

/// Builds the scalar result in the compute type from operands already
/// converted to it.
using IRRule = std::function<Value(OpBuilder &, Location, ValueRange)>;
using FloatRule = std::function<double(ArrayRef<double>)>;
using IntRule = std::function<int64_t(ArrayRef<int64_t>)>;

struct ScalarOp {
  IRRule floatIR, intIR;
  FloatRule floatHost;
  IntRule intHost;
  ResultKind result = ResultKind::SameAsFirst;
  Accepts accepts = Accepts::Numeric;
};

Value cst(OpBuilder &b, Location loc, Value like, double v) {
  return scalarConstant(b, loc, like.getType(), v);
}

/// Element type in which a float op is computed.
Type computeType(OpBuilder &b, Type elementType) {
  if (auto f = dyn_cast<FloatType>(elementType); f && f.getWidth() < 32)
    return b.getF32Type();
  return elementType;
}

LogicalResult checkAccepts(NodeContext &ctx, const ScalarOp &op, DType dtype) {
  bool ok = true;
  switch (op.accepts) {
  case Accepts::Numeric:
    ok = isFloat(dtype) || isInteger(dtype);
    break;
  case Accepts::Float:
    ok = isFloat(dtype);
    break;
  case Accepts::Bool:
    ok = dtype == DType::Bool;
    break;
  case Accepts::Any:
    break;
  }
  if (ok && isFloat(dtype) && !op.floatIR)
    ok = false;
  if (ok && !isFloat(dtype) && !op.intIR)
    ok = false;
  if (!ok)
    return ctx.emitError() << "does not support element type "
                           << dtypeName(dtype);
  return success();
}

/// Imports a node whose inputs all have the first input's type.
LogicalResult importScalarOp(NodeContext &ctx, const ScalarOp &op,
                             unsigned minInputs, unsigned maxInputs) {
  if (failed(ctx.checkArity(minInputs, maxInputs)))
    return failure();
  SmallVector<ArrayRef<int64_t>> shapes;
  DType dtype = ctx.input(0)->dtype;
  for (unsigned i = 0; i < ctx.numInputs(); ++i) {
    if (!ctx.hasInput(i))
      continue;
    if (ctx.input(i)->dtype != dtype)
      return ctx.emitError()
             << "has inputs of different types (" << dtypeName(dtype) << " and "
             << dtypeName(ctx.input(i)->dtype) << ")";
    shapes.push_back(ctx.input(i)->shape);
  }
  if (failed(checkAccepts(ctx, op, dtype)))
    return failure();
  FailureOr<SmallVector<int64_t>> shape = broadcastShapes(ctx, shapes);
  if (failed(shape))
    return failure();
  OpBuilder &b = ctx.builder();
  Type elementType = mlirElementType(dtype, ctx.getContext());
  Type compute = computeType(b, elementType);
  DType resultDType = op.result == ResultKind::Bool ? DType::Bool : dtype;
  Type resultType = mlirElementType(resultDType, ctx.getContext());
  SmallVector<Value> inputs;
  for (unsigned i = 0; i < ctx.numInputs(); ++i)
    if (ctx.hasInput(i))
      inputs.push_back(ctx.value(i));
  const IRRule &rule = isFloat(dtype) ? op.floatIR : op.intIR;
  Value result = buildElementwise(
      b, ctx.loc, inputs, *shape, resultType,
      [&](OpBuilder &nb, Location loc, ValueRange args) {
        SmallVector<Value> xs;
        for (Value a : args)
          xs.push_back(convertScalar(nb, loc, a, compute));
        return convertScalar(nb, loc, rule(nb, loc, xs), resultType);
      });
  ctx.setOutput(0, result, resultDType);
  return success();
}

/// Evaluates `op` over constant inputs, numpy-broadcast.
FailureOr<bool> foldScalarOp(NodeContext &ctx, const ScalarOp &op) {
  if (!ctx.allInputsConstant() || ctx.numInputs() == 0 || !ctx.hasInput(0))
    return false;
  DType dtype = ctx.input(0)->dtype;
  SmallVector<const HostTensor *> inputs;
  SmallVector<ArrayRef<int64_t>> shapes;
  for (unsigned i = 0; i < ctx.numInputs(); ++i) {
    if (!ctx.hasInput(i))
      continue;
    if (ctx.input(i)->dtype != dtype)
      return false; // the importer reports it
    inputs.push_back(ctx.input(i)->constant.get());
    shapes.push_back(ctx.input(i)->shape);
  }
  bool floating = isFloat(dtype);
  if ((floating && !op.floatHost) || (!floating && !op.intHost))
    return false;
  FailureOr<SmallVector<int64_t>> shape = broadcastShapes(ctx, shapes);
  if (failed(shape))
    return failure();
  if (numElements(*shape) > kMaxFoldElements)
    return false;
  HostTensor out(op.result == ResultKind::Bool ? DType::Bool : dtype, *shape);
  SmallVector<SmallVector<int64_t>> indices;
  for (const HostTensor *t : inputs)
    indices.push_back(broadcastIndices(t->shape, *shape));
  SmallVector<double> fs(inputs.size());
  SmallVector<int64_t> is(inputs.size());
  for (int64_t n = 0, e = out.size(); n < e; ++n) {
    if (floating) {
      for (size_t k = 0; k < inputs.size(); ++k)
        fs[k] = inputs[k]->getDouble(indices[k][n]);
      out.setDouble(n, op.floatHost(fs));
    } else {
      for (size_t k = 0; k < inputs.size(); ++k)
        is[k] = inputs[k]->getInt(indices[k][n]);
      out.setInt(n, op.intHost(is));
    }
  }
  ctx.setOutput(0, std::move(out));
  return true;
}

void addScalarOp(OpRegistry &registry, StringRef name, ScalarOp op,
                 unsigned minInputs, unsigned maxInputs) {
  registry.add(
      "", name,
      [op, minInputs, maxInputs](NodeContext &ctx) {
        return importScalarOp(ctx, op, minInputs, maxInputs);
      },
      [op](NodeContext &ctx) { return foldScalarOp(ctx, op); });
}

//===----------------------------------------------------------------------===//
// The scalar rules
//===----------------------------------------------------------------------===//

template <typename FOp, typename IOp> ScalarOp binary(FloatRule f, IntRule i) {
  ScalarOp op;
  op.floatIR = [](OpBuilder &b, Location loc, ValueRange x) -> Value {
    return FOp::create(b, loc, x[0], x[1]);
  };
  op.intIR = [](OpBuilder &b, Location loc, ValueRange x) -> Value {
    return IOp::create(b, loc, x[0], x[1]);
  };
  op.floatHost = std::move(f);
  op.intHost = std::move(i);
  return op;
}

/// A float-only unary op from a math/arith op.
template <typename FOp> ScalarOp unaryFloat(FloatRule f) {
  ScalarOp op;
  op.accepts = Accepts::Float;
  op.floatIR = [](OpBuilder &b, Location loc, ValueRange x) -> Value {
    return FOp::create(b, loc, x[0]);
  };
  op.floatHost = std::move(f);
  return op;
}

ScalarOp floatOnly(IRRule ir, FloatRule f) {
  ScalarOp op;
  op.accepts = Accepts::Float;
  op.floatIR = std::move(ir);
  op.floatHost = std::move(f);
  return op;
}

ScalarOp compare(arith::CmpFPredicate fp, arith::CmpIPredicate ip,
                 std::function<bool(double, double)> f) {
  ScalarOp op;
  op.accepts = Accepts::Any;
  op.result = ResultKind::Bool;
  op.floatIR = [fp](OpBuilder &b, Location loc, ValueRange x) -> Value {
    return arith::CmpFOp::create(b, loc, fp, x[0], x[1]);
  };
  op.intIR = [ip](OpBuilder &b, Location loc, ValueRange x) -> Value {
    return arith::CmpIOp::create(b, loc, ip, x[0], x[1]);
  };
  op.floatHost = [f](ArrayRef<double> x) -> double { return f(x[0], x[1]); };
  op.intHost = [f](ArrayRef<int64_t> x) -> int64_t {
    return f(double(x[0]), double(x[1]));
  };
  return op;
}

template <typename IOp> ScalarOp logic(std::function<bool(bool, bool)> f) {
  ScalarOp op;
  op.accepts = Accepts::Bool;
  op.intIR = [](OpBuilder &b, Location loc, ValueRange x) -> Value {
    return IOp::create(b, loc, x[0], x[1]);
  };
  op.intHost = [f](ArrayRef<int64_t> x) -> int64_t {
    return f(x[0] != 0, x[1] != 0);
  };
  return op;
}

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

Value sigmoidIR(OpBuilder &b, Location loc, Value x) {
  Value one = cst(b, loc, x, 1.0);
  Value e = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, x));
  return arith::DivFOp::create(b, loc, one,
                               arith::AddFOp::create(b, loc, one, e));
}

/// Integer division rounding toward zero, with x/0 = 0 instead of UB.
int64_t divInt(int64_t a, int64_t b) {
  if (b == 0 || (b == -1 && a == std::numeric_limits<int64_t>::min()))
    return b == 0 ? 0 : a;
  return a / b;
}

void registerArithmetic(OpRegistry &r) {
  addScalarOp(r, "Add",
              binary<arith::AddFOp, arith::AddIOp>(
                  [](ArrayRef<double> x) { return x[0] + x[1]; },
                  [](ArrayRef<int64_t> x) {
                    return int64_t(uint64_t(x[0]) + uint64_t(x[1]));
                  }),
              2, 2);
  addScalarOp(r, "Sub",
              binary<arith::SubFOp, arith::SubIOp>(
                  [](ArrayRef<double> x) { return x[0] - x[1]; },
                  [](ArrayRef<int64_t> x) {
                    return int64_t(uint64_t(x[0]) - uint64_t(x[1]));
                  }),
              2, 2);
  addScalarOp(r, "Mul",
              binary<arith::MulFOp, arith::MulIOp>(
                  [](ArrayRef<double> x) { return x[0] * x[1]; },
                  [](ArrayRef<int64_t> x) {
                    return int64_t(uint64_t(x[0]) * uint64_t(x[1]));
                  }),
              2, 2);
  addScalarOp(r, "Div",
              binary<arith::DivFOp, arith::DivSIOp>(
                  [](ArrayRef<double> x) { return x[0] / x[1]; },
                  [](ArrayRef<int64_t> x) { return divInt(x[0], x[1]); }),
              2, 2);
  // Variadic Max/Min/Sum fold pairwise.
  auto variadic = [&](StringRef name, ScalarOp pair) {
    ScalarOp op = pair;
    op.floatIR = [pair](OpBuilder &b, Location loc, ValueRange x) {
      Value acc = x[0];
      for (Value v : x.drop_front())
        acc = pair.floatIR(b, loc, {acc, v});
      return acc;
    };
    op.intIR = [pair](OpBuilder &b, Location loc, ValueRange x) {
      Value acc = x[0];
      for (Value v : x.drop_front())
        acc = pair.intIR(b, loc, {acc, v});
      return acc;
    };
    op.floatHost = [pair](ArrayRef<double> x) {
      double acc = x[0];
      for (double v : x.drop_front())
        acc = pair.floatHost({acc, v});
      return acc;
    };
    op.intHost = [pair](ArrayRef<int64_t> x) {
      int64_t acc = x[0];
      for (int64_t v : x.drop_front())
        acc = pair.intHost({acc, v});
      return acc;
    };
    addScalarOp(r, name, op, 1, 64);
  };
  // ONNX Max/Min propagate NaN (numpy maximum), hence maximumf/minimumf.
  variadic("Max",
           binary<arith::MaximumFOp, arith::MaxSIOp>(
               [](ArrayRef<double> x) {
                 return std::isnan(x[0]) || std::isnan(x[1])
                            ? NAN
                            : std::max(x[0], x[1]);
               },
               [](ArrayRef<int64_t> x) { return std::max(x[0], x[1]); }));
  variadic("Min",
           binary<arith::MinimumFOp, arith::MinSIOp>(
               [](ArrayRef<double> x) {
                 return std::isnan(x[0]) || std::isnan(x[1])
                            ? NAN
                            : std::min(x[0], x[1]);
               },
               [](ArrayRef<int64_t> x) { return std::min(x[0], x[1]); }));
  variadic("Sum", binary<arith::AddFOp, arith::AddIOp>(
                      [](ArrayRef<double> x) { return x[0] + x[1]; },
                      [](ArrayRef<int64_t> x) { return x[0] + x[1]; }));

  ScalarOp neg;
  neg.floatIR = [](OpBuilder &b, Location loc, ValueRange x) -> Value {
    return arith::NegFOp::create(b, loc, x[0]);
  };
  neg.intIR = [](OpBuilder &b, Location loc, ValueRange x) -> Value {
    return arith::SubIOp::create(b, loc, cst(b, loc, x[0], 0), x[0]);
  };
  neg.floatHost = [](ArrayRef<double> x) { return -x[0]; };
  neg.intHost = [](ArrayRef<int64_t> x) { return int64_t(0 - uint64_t(x[0])); };
  addScalarOp(r, "Neg", neg, 1, 1);

  ScalarOp abs;
  abs.floatIR = [](OpBuilder &b, Location loc, ValueRange x) -> Value {
    return math::AbsFOp::create(b, loc, x[0]);
  };
  abs.intIR = [](OpBuilder &b, Location loc, ValueRange x) -> Value {
    return math::AbsIOp::create(b, loc, x[0]);
  };
  abs.floatHost = [](ArrayRef<double> x) { return std::fabs(x[0]); };
  abs.intHost = [](ArrayRef<int64_t> x) { return x[0] < 0 ? -x[0] : x[0]; };
  addScalarOp(r, "Abs", abs, 1, 1);

  ScalarOp relu;
  relu.floatIR = [](OpBuilder &b, Location loc, ValueRange x) -> Value {
    return arith::MaxNumFOp::create(b, loc, x[0], cst(b, loc, x[0], 0.0));
  };
  relu.intIR = [](OpBuilder &b, Location loc, ValueRange x) -> Value {
    return arith::MaxSIOp::create(b, loc, x[0], cst(b, loc, x[0], 0));
  };
  relu.floatHost = [](ArrayRef<double> x) { return x[0] > 0 ? x[0] : 0.0; };
  relu.intHost = [](ArrayRef<int64_t> x) { return std::max<int64_t>(x[0], 0); };
  addScalarOp(r, "Relu", relu, 1, 1);

  ScalarOp sign;
  sign.floatIR = [](OpBuilder &b, Location loc, ValueRange x) -> Value {
    Value zero = cst(b, loc, x[0], 0.0);
    Value pos =
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, x[0], zero);
    Value neg =
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, x[0], zero);
    Value r =
        arith::SelectOp::create(b, loc, neg, cst(b, loc, x[0], -1.0), zero);
    return arith::SelectOp::create(b, loc, pos, cst(b, loc, x[0], 1.0), r);
  };
  sign.floatHost = [](ArrayRef<double> x) {
    return double((x[0] > 0) - (x[0] < 0));
  };
  sign.intHost = [](ArrayRef<int64_t> x) {
    return int64_t((x[0] > 0) - (x[0] < 0));
  };
  sign.intIR = [](OpBuilder &b, Location loc, ValueRange x) -> Value {
    Value zero = cst(b, loc, x[0], 0);
    Value pos =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt, x[0], zero);
    Value neg =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, x[0], zero);
    Value r = arith::SelectOp::create(b, loc, neg, cst(b, loc, x[0], -1), zero);
    return arith::SelectOp::create(b, loc, pos, cst(b, loc, x[0], 1), r);
  };
  addScalarOp(r, "Sign", sign, 1, 1);

  // Mod: fmod=1 is C's fmod; fmod=0 (integers) takes the divisor's sign.
  r.add(
      "", "Mod",
      [](NodeContext &ctx) {
        ScalarOp op;
        bool fmod = ctx.attrInt("fmod", 0) != 0;
        op.floatIR = [](OpBuilder &b, Location loc, ValueRange x) -> Value {
          return arith::RemFOp::create(b, loc, x[0], x[1]);
        };
        op.intIR = [fmod](OpBuilder &b, Location loc, ValueRange x) -> Value {
          Value rem = arith::RemSIOp::create(b, loc, x[0], x[1]);
          if (fmod)
            return rem;
          Value zero = cst(b, loc, x[0], 0);
          Value nonzero = arith::CmpIOp::create(
              b, loc, arith::CmpIPredicate::ne, rem, zero);
          Value signs = arith::XOrIOp::create(
              b, loc,
              arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, rem,
                                    zero),
              arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, x[1],
                                    zero));
          Value fix = arith::AndIOp::create(b, loc, nonzero, signs);
          return arith::SelectOp::create(
              b, loc, fix, arith::AddIOp::create(b, loc, rem, x[1]), rem);
        };
        return importScalarOp(ctx, op, 2, 2);
      },
      [](NodeContext &ctx) -> FailureOr<bool> {
        ScalarOp op;
        bool fmod = ctx.attrInt("fmod", 0) != 0;
        op.floatHost = [](ArrayRef<double> x) { return std::fmod(x[0], x[1]); };
        op.intHost = [fmod](ArrayRef<int64_t> x) -> int64_t {
          if (x[1] == 0)
            return 0;
          int64_t rem = x[1] == -1 ? 0 : x[0] % x[1];
          if (!fmod && rem != 0 && ((rem < 0) != (x[1] < 0)))
            rem += x[1];
          return rem;
        };
        return foldScalarOp(ctx, op);
      });
}

void registerMath(OpRegistry &r) {
  addScalarOp(r, "Sqrt", unaryFloat<math::SqrtOp>([](ArrayRef<double> x) {
                return std::sqrt(x[0]);
              }),
              1, 1);
  addScalarOp(r, "Exp", unaryFloat<math::ExpOp>([](ArrayRef<double> x) {
                return std::exp(x[0]);
              }),
              1, 1);
  addScalarOp(r, "Log", unaryFloat<math::LogOp>([](ArrayRef<double> x) {
                return std::log(x[0]);
              }),
              1, 1);
  addScalarOp(r, "Tanh", unaryFloat<math::TanhOp>([](ArrayRef<double> x) {
                return std::tanh(x[0]);
              }),
              1, 1);
  addScalarOp(r, "Erf",
              floatOnly([](OpBuilder &b, Location loc,
                           ValueRange x) { return buildErf(b, loc, x[0]); },
                        [](ArrayRef<double> x) { return std::erf(x[0]); }),
              1, 1);
  addScalarOp(r, "Cos", unaryFloat<math::CosOp>([](ArrayRef<double> x) {
                return std::cos(x[0]);
              }),
              1, 1);
  addScalarOp(r, "Sin", unaryFloat<math::SinOp>([](ArrayRef<double> x) {
                return std::sin(x[0]);
              }),
              1, 1);
  addScalarOp(r, "Floor", unaryFloat<math::FloorOp>([](ArrayRef<double> x) {
                return std::floor(x[0]);
              }),
              1, 1);
  addScalarOp(r, "Ceil", unaryFloat<math::CeilOp>([](ArrayRef<double> x) {
                return std::ceil(x[0]);
              }),
              1, 1);
  addScalarOp(r, "Round", unaryFloat<math::RoundEvenOp>([](ArrayRef<double> x) {
                return std::nearbyint(x[0]);
              }),
              1, 1);
  addScalarOp(r, "Reciprocal",
              floatOnly(
                  [](OpBuilder &b, Location loc, ValueRange x) -> Value {
                    return arith::DivFOp::create(b, loc, cst(b, loc, x[0], 1.0),
                                                 x[0]);
                  },
                  [](ArrayRef<double> x) { return 1.0 / x[0]; }),
              1, 1);
  addScalarOp(r, "Sigmoid",
              floatOnly([](OpBuilder &b, Location loc,
                           ValueRange x) { return sigmoidIR(b, loc, x[0]); },
                        [](ArrayRef<double> x) { return sigmoid(x[0]); }),
              1, 1);
  addScalarOp(
      r, "Softplus",
      floatOnly(
          [](OpBuilder &b, Location loc, ValueRange x) -> Value {
            Value e = math::ExpOp::create(b, loc, x[0]);
            return math::Log1pOp::create(b, loc, e);
          },
          [](ArrayRef<double> x) { return std::log1p(std::exp(x[0])); }),
      1, 1);

  ScalarOp isNaN;
  isNaN.accepts = Accepts::Float;
  isNaN.result = ResultKind::Bool;
  isNaN.floatIR = [](OpBuilder &b, Location loc, ValueRange x) -> Value {
    return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNO, x[0], x[0]);
  };
  isNaN.floatHost = [](ArrayRef<double> x) -> double {
    return std::isnan(x[0]);
  };
  addScalarOp(r, "IsNaN", isNaN, 1, 1);

  // Activations with attributes.
  r.add("", "Gelu", [](NodeContext &ctx) -> LogicalResult {
    std::string approximate = ctx.attrString("approximate", "none");
    if (approximate != "none" && approximate != "tanh")
      return ctx.emitError()
             << "has an unknown approximate='" << approximate << "'";
    bool useTanh = approximate == "tanh";
    ScalarOp op = floatOnly(
        [useTanh](OpBuilder &b, Location loc, ValueRange x) -> Value {
          Value half = cst(b, loc, x[0], 0.5), one = cst(b, loc, x[0], 1.0);
          Value inner;
          if (useTanh) {
            // tanh(sqrt(2/pi) * (x + 0.044715 x^3))
            Value x3 = arith::MulFOp::create(
                b, loc, x[0], arith::MulFOp::create(b, loc, x[0], x[0]));
            Value poly = arith::AddFOp::create(
                b, loc, x[0],
                arith::MulFOp::create(b, loc, cst(b, loc, x[0], 0.044715), x3));
            inner = math::TanhOp::create(
                b, loc,
                arith::MulFOp::create(
                    b, loc, cst(b, loc, x[0], 0.7978845608028654), poly));
          } else {
            inner = buildErf(
                b, loc,
                arith::MulFOp::create(b, loc, x[0],
                                      cst(b, loc, x[0], 0.7071067811865476)));
          }
          Value t = arith::AddFOp::create(b, loc, one, inner);
          return arith::MulFOp::create(
              b, loc, arith::MulFOp::create(b, loc, half, x[0]), t);
        },
        nullptr);
    return importScalarOp(ctx, op, 1, 1);
  });

  auto withAlpha = [&](StringRef name, float alphaDefault, auto ir) {
    r.add("", name, [=](NodeContext &ctx) -> LogicalResult {
      double alpha = ctx.attrFloat("alpha", alphaDefault);
      ScalarOp op = floatOnly(
          [=](OpBuilder &b, Location loc, ValueRange x) -> Value {
            return ir(b, loc, x[0], alpha);
          },
          nullptr);
      return importScalarOp(ctx, op, 1, 1);
    });
  };
  withAlpha("LeakyRelu", 0.01f,
            [](OpBuilder &b, Location loc, Value x, double alpha) -> Value {
              Value zero = cst(b, loc, x, 0.0);
              Value pos = arith::CmpFOp::create(
                  b, loc, arith::CmpFPredicate::OGE, x, zero);
              Value scaled =
                  arith::MulFOp::create(b, loc, x, cst(b, loc, x, alpha));
              return arith::SelectOp::create(b, loc, pos, x, scaled);
            });
  withAlpha("Elu", 1.0f,
            [](OpBuilder &b, Location loc, Value x, double alpha) -> Value {
              Value zero = cst(b, loc, x, 0.0);
              Value pos = arith::CmpFOp::create(
                  b, loc, arith::CmpFPredicate::OGE, x, zero);
              Value em1 = math::ExpM1Op::create(b, loc, x);
              return arith::SelectOp::create(
                  b, loc, pos, x,
                  arith::MulFOp::create(b, loc, em1, cst(b, loc, x, alpha)));
            });
  // Swish / SiLU as spelt by opset 24 (alpha * x) and ORT's QuickGelu.
  withAlpha("Swish", 1.0f,
            [](OpBuilder &b, Location loc, Value x, double alpha) -> Value {
              Value ax =
                  arith::MulFOp::create(b, loc, x, cst(b, loc, x, alpha));
              return arith::MulFOp::create(b, loc, x, sigmoidIR(b, loc, ax));
            });
}

/// Pow: the exponent may have its own type. Small integer constant
/// exponents become multiplications (exact, and right for negative bases,
/// which an exp/log expansion of powf is not).
LogicalResult importPow(NodeContext &ctx) {
  if (failed(ctx.checkArity(2, 2)))
    return failure();
  const ImportedValue *base = ctx.input(0), *exponent = ctx.input(1);
  if (!isFloat(base->dtype) && !isInteger(base->dtype))
    return ctx.emitError() << "does not support element type "
                           << dtypeName(base->dtype);
  FailureOr<SmallVector<int64_t>> shape =
      broadcastShapes(ctx, {base->shape, exponent->shape});
  if (failed(shape))
    return failure();
  std::optional<double> constantExponent;
  if (exponent->isConstant() && exponent->constant->size() == 1)
    constantExponent = exponent->constant->getDouble(0);
  OpBuilder &b = ctx.builder();
  Type elementType = mlirElementType(base->dtype, ctx.getContext());
  Type compute = computeType(b, elementType);
  bool floating = isFloat(base->dtype);
  Value result;
  if (constantExponent && *constantExponent == std::trunc(*constantExponent) &&
      std::fabs(*constantExponent) <= 4) {
    int64_t n = int64_t(*constantExponent);
    result = buildElementwise(
        b, ctx.loc, ctx.value(0), *shape, elementType,
        [&](OpBuilder &nb, Location loc, ValueRange args) -> Value {
          Value x = convertScalar(nb, loc, args[0], compute);
          Value p = cst(nb, loc, x, 1.0);
          for (int64_t i = 0; i < std::abs(n); ++i)
            p = i == 0
                    ? x
                    : (floating ? Value(arith::MulFOp::create(nb, loc, p, x))
                                : Value(arith::MulIOp::create(nb, loc, p, x)));
          if (n < 0 && floating)
            p = arith::DivFOp::create(nb, loc, cst(nb, loc, x, 1.0), p);
          return convertScalar(nb, loc, p, elementType);
        });
  } else if (constantExponent && *constantExponent == 0.5 && floating) {
    result = buildElementwise(
        b, ctx.loc, ctx.value(0), *shape, elementType,
        [&](OpBuilder &nb, Location loc, ValueRange args) -> Value {
          Value x = convertScalar(nb, loc, args[0], compute);
          return convertScalar(nb, loc, math::SqrtOp::create(nb, loc, x),
                               elementType);
        });
  } else {
    // General exponents: powf in f32 (f64 for f64), integer results
    // truncated like ONNX Runtime's. powf is taken of |x| with the sign
    // restored here (odd integer exponents) and pow(x, 0) = 1, since CPU
    // lowerings expand powf as exp(y * log(x)), which only holds for x > 0.
    Type powType = elementType.isF64() ? elementType : b.getF32Type();
    result = buildElementwise(
        b, ctx.loc, {ctx.value(0), ctx.value(1)}, *shape, elementType,
        [&](OpBuilder &nb, Location loc, ValueRange args) -> Value {
          auto c = [&](double v) {
            return scalarConstant(nb, loc, powType, v);
          };
          Value x = convertScalar(nb, loc, args[0], powType);
          Value y = convertScalar(nb, loc, args[1], powType);
          Value p = math::PowFOp::create(nb, loc,
                                         math::AbsFOp::create(nb, loc, x), y);
          Value yFloor = math::FloorOp::create(nb, loc, y);
          Value isInt = arith::CmpFOp::create(
              nb, loc, arith::CmpFPredicate::OEQ, yFloor, y);
          Value half = arith::MulFOp::create(nb, loc, y, c(0.5));
          Value isOdd = arith::AndIOp::create(
              nb, loc, isInt,
              arith::CmpFOp::create(nb, loc, arith::CmpFPredicate::ONE,
                                    math::FloorOp::create(nb, loc, half),
                                    half));
          Value negative = arith::CmpFOp::create(
              nb, loc, arith::CmpFPredicate::OLT, x, c(0.0));
          Value signed_ = arith::SelectOp::create(
              nb, loc, isOdd, arith::NegFOp::create(nb, loc, p), p);
          Value neg =
              arith::SelectOp::create(nb, loc, isInt, signed_, c(std::nan("")));
          Value r = arith::SelectOp::create(nb, loc, negative, neg, p);
          Value zeroExp = arith::CmpFOp::create(
              nb, loc, arith::CmpFPredicate::OEQ, y, c(0.0));
          r = arith::SelectOp::create(nb, loc, zeroExp, c(1.0), r);
          return convertScalar(nb, loc, r, elementType);
        });
  }
  ctx.setOutput(0, result, base->dtype);
  return success();
}

FailureOr<bool> foldPow(NodeContext &ctx) {
  if (!ctx.allInputsConstant() || !ctx.hasInput(0) || !ctx.hasInput(1))
    return false;
  const HostTensor &x = *ctx.input(0)->constant, &y = *ctx.input(1)->constant;
  FailureOr<SmallVector<int64_t>> shape =
      broadcastShapes(ctx, {x.shape, y.shape});
  if (failed(shape))
    return failure();
  if (numElements(*shape) > kMaxFoldElements)
    return false;
  HostTensor out(x.dtype, *shape);
  SmallVector<int64_t> xi = broadcastIndices(x.shape, *shape),
                       yi = broadcastIndices(y.shape, *shape);
  for (int64_t n = 0; n < out.size(); ++n)
    out.setDouble(n, std::pow(x.getDouble(xi[n]), y.getDouble(yi[n])));
  ctx.setOutput(0, std::move(out));
  return true;
}

/// Where(cond, x, y).
LogicalResult importWhere(NodeContext &ctx) {
  if (failed(ctx.checkArity(3, 3)))
    return failure();
  const ImportedValue *c = ctx.input(0), *x = ctx.input(1), *y = ctx.input(2);
  if (c->dtype != DType::Bool)
    return ctx.emitError() << "needs a bool condition, not "
                           << dtypeName(c->dtype);
  if (x->dtype != y->dtype)
    return ctx.emitError() << "selects between different types ("
                           << dtypeName(x->dtype) << " and "
                           << dtypeName(y->dtype) << ")";
  FailureOr<SmallVector<int64_t>> shape =
      broadcastShapes(ctx, {c->shape, x->shape, y->shape});
  if (failed(shape))
    return failure();
  Type elementType = mlirElementType(x->dtype, ctx.getContext());
  Value result = buildElementwise(
      ctx.builder(), ctx.loc, {ctx.value(0), ctx.value(1), ctx.value(2)},
      *shape, elementType,
      [](OpBuilder &b, Location loc, ValueRange args) -> Value {
        return arith::SelectOp::create(b, loc, args[0], args[1], args[2]);
      });
  ctx.setOutput(0, result, x->dtype);
  return success();
}

FailureOr<bool> foldWhere(NodeContext &ctx) {
  if (!ctx.allInputsConstant() || ctx.numInputs() != 3 || !ctx.hasInput(0) ||
      !ctx.hasInput(1) || !ctx.hasInput(2))
    return false;
  const HostTensor &c = *ctx.input(0)->constant, &x = *ctx.input(1)->constant,
                   &y = *ctx.input(2)->constant;
  if (x.dtype != y.dtype)
    return false;
  FailureOr<SmallVector<int64_t>> shape =
      broadcastShapes(ctx, {c.shape, x.shape, y.shape});
  if (failed(shape))
    return failure();
  if (numElements(*shape) > kMaxFoldElements)
    return false;
  HostTensor out(x.dtype, *shape);
  SmallVector<int64_t> ci = broadcastIndices(c.shape, *shape),
                       xi = broadcastIndices(x.shape, *shape),
                       yi = broadcastIndices(y.shape, *shape);
  for (int64_t n = 0; n < out.size(); ++n) {
    if (c.getInt(ci[n]))
      out.copyElement(n, x, xi[n]);
    else
      out.copyElement(n, y, yi[n]);
  }
  ctx.setOutput(0, std::move(out));
  return true;
}

/// Clip: bounds as inputs (opset >= 11) or attributes.
LogicalResult importClip(NodeContext &ctx) {
  if (failed(ctx.checkArity(1, 3)))
    return failure();
  const ImportedValue *x = ctx.input(0);
  if (!isFloat(x->dtype) && !isInteger(x->dtype))
    return ctx.emitError() << "does not support element type "
                           << dtypeName(x->dtype);
  std::optional<double> lo, hi;
  if (ctx.opset < 11) {
    lo = ctx.attrFloat("min");
    hi = ctx.attrFloat("max");
  } else {
    for (unsigned i : {1u, 2u}) {
      if (!ctx.hasInput(i))
        continue;
      const ImportedValue *bound = ctx.input(i);
      if (!bound->isConstant() || bound->constant->size() != 1)
        return ctx.emitError() << "needs constant scalar bounds";
      (i == 1 ? lo : hi) = bound->constant->getDouble(0);
    }
  }
  Type elementType = mlirElementType(x->dtype, ctx.getContext());
  bool floating = isFloat(x->dtype);
  Value result = buildElementwise(
      ctx.builder(), ctx.loc, ctx.value(0), x->shape, elementType,
      [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
        Value v = args[0];
        if (lo) {
          Value c = scalarConstant(b, loc, elementType, *lo);
          v = floating ? Value(arith::MaxNumFOp::create(b, loc, v, c))
                       : Value(arith::MaxSIOp::create(b, loc, v, c));
        }
        if (hi) {
          Value c = scalarConstant(b, loc, elementType, *hi);
          v = floating ? Value(arith::MinNumFOp::create(b, loc, v, c))
                       : Value(arith::MinSIOp::create(b, loc, v, c));
        }
        return v;
      });
  ctx.setOutput(0, result, x->dtype);
  return success();
}

/// Cast / CastLike.
LogicalResult importCast(NodeContext &ctx, DType to) {
  const ImportedValue *x = ctx.input(0);
  Type toType = mlirElementType(to, ctx.getContext());
  if (!toType || !mlirElementType(x->dtype, ctx.getContext()))
    return ctx.emitError() << "cannot cast " << dtypeName(x->dtype) << " to "
                           << dtypeName(to) << " in compiled code";
  ctx.setOutput(0, buildCast(ctx.builder(), ctx.loc, ctx.value(0), toType), to);
  return success();
}

FailureOr<DType> castTarget(NodeContext &ctx) {
  if (ctx.node.op_type() == "CastLike") {
    if (!ctx.hasInput(1))
      return ctx.emitError() << "needs a target-type input";
    return ctx.input(1)->dtype;
  }
  std::optional<int64_t> to = ctx.attrInt("to");
  std::optional<DType> dtype = to ? dtypeFromOnnx(*to) : std::nullopt;
  if (!dtype || *dtype == DType::String)
    return ctx.emitError() << "has an unsupported target type";
  return *dtype;
}

FailureOr<bool> foldCast(NodeContext &ctx) {
  if (!ctx.hasInput(0) || !ctx.input(0)->isConstant())
    return false;
  FailureOr<DType> to = castTarget(ctx);
  if (failed(to))
    return failure();
  const HostTensor &x = *ctx.input(0)->constant;
  if (x.size() > kMaxFoldElements)
    return false;
  // A weight stored narrow (f16/bf16) and widened in the graph stays narrow:
  // the compiled matrix-vector products read it at its width and widen in
  // registers (half the bytes per step); folding would double its size.
  constexpr int64_t kKeepNarrowWeights = int64_t(1) << 16;
  if (isFloat(x.dtype) && isFloat(*to) &&
      dtypeBytes(*to) > dtypeBytes(x.dtype) && x.size() >= kKeepNarrowWeights)
    return false;
  HostTensor out(*to, x.shape);
  for (int64_t n = 0; n < out.size(); ++n) {
    if (isFloat(x.dtype))
      out.setDouble(n, x.getDouble(n));
    else
      out.setInt(n, x.getInt(n));
  }
  ctx.setOutput(0, std::move(out));
  return true;
}

} // namespace

void mlir::attn::onnx_import::registerElementwiseOps(OpRegistry &r) {
  registerArithmetic(r);
  registerMath(r);
  r.add("", "Pow", importPow, foldPow);

  addScalarOp(r, "Equal",
              compare(arith::CmpFPredicate::OEQ, arith::CmpIPredicate::eq,
                      [](double a, double b) { return a == b; }),
              2, 2);
  addScalarOp(r, "Less",
              compare(arith::CmpFPredicate::OLT, arith::CmpIPredicate::slt,
                      [](double a, double b) { return a < b; }),
              2, 2);
  addScalarOp(r, "LessOrEqual",
              compare(arith::CmpFPredicate::OLE, arith::CmpIPredicate::sle,
                      [](double a, double b) { return a <= b; }),
              2, 2);
  addScalarOp(r, "Greater",
              compare(arith::CmpFPredicate::OGT, arith::CmpIPredicate::sgt,
                      [](double a, double b) { return a > b; }),
              2, 2);
  addScalarOp(r, "GreaterOrEqual",
              compare(arith::CmpFPredicate::OGE, arith::CmpIPredicate::sge,
                      [](double a, double b) { return a >= b; }),
              2, 2);
  addScalarOp(r, "And",
              logic<arith::AndIOp>([](bool a, bool b) { return a && b; }), 2,
              2);
  addScalarOp(r, "Or",
              logic<arith::OrIOp>([](bool a, bool b) { return a || b; }), 2, 2);
  addScalarOp(r, "Xor",
              logic<arith::XOrIOp>([](bool a, bool b) { return a != b; }), 2,
              2);
  ScalarOp notOp;
  notOp.accepts = Accepts::Bool;
  notOp.intIR = [](OpBuilder &b, Location loc, ValueRange x) -> Value {
    return arith::XOrIOp::create(b, loc, x[0], cst(b, loc, x[0], 1));
  };
  notOp.intHost = [](ArrayRef<int64_t> x) -> int64_t { return x[0] == 0; };
  addScalarOp(r, "Not", notOp, 1, 1);

  r.add("", "Where", importWhere, foldWhere);
  r.add("", "Clip", importClip);
  auto cast = [](NodeContext &ctx) -> LogicalResult {
    if (failed(ctx.checkArity(1, ctx.node.op_type() == "CastLike" ? 2 : 1)))
      return failure();
    FailureOr<DType> to = castTarget(ctx);
    if (failed(to))
      return failure();
    return importCast(ctx, *to);
  };
  r.add("", "Cast", cast, foldCast);
  r.add("", "CastLike", cast, foldCast);
}
