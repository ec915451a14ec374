//===- LinalgMatchers.cpp - structural matchers over linalg tensors -------===//

#include "LinalgMatchers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::match;

namespace {

double toDouble(APFloat value) {
  bool lost;
  value.convert(APFloat::IEEEdouble(), APFloat::rmNearestTiesToEven, &lost);
  return value.convertToDouble();
}

/// The linalg op defining `result`, if it has one init and pure tensor
/// semantics.
linalg::LinalgOp tensorLinalgOp(Value result) {
  auto op = result.getDefiningOp<linalg::LinalgOp>();
  if (!op || !op.hasPureTensorSemantics() || op.getNumDpsInits() != 1 ||
      op->getNumResults() != 1)
    return nullptr;
  return op;
}

Value yielded(linalg::LinalgOp op) {
  return op.getBlock()->getTerminator()->getOperand(0);
}

/// The input number of a payload block argument, or -1 (init or not an arg).
int inputIndex(linalg::LinalgOp op, Value v) {
  auto arg = dyn_cast<BlockArgument>(v);
  if (!arg || arg.getOwner() != op.getBlock() ||
      arg.getArgNumber() >= op.getNumDpsInputs())
    return -1;
  return arg.getArgNumber();
}

/// The scalar a payload value always holds: a constant, or the argument of a
/// splat input.
std::optional<double> payloadScalar(linalg::LinalgOp op, Value v) {
  int input = inputIndex(op, v);
  if (input >= 0)
    return splatValue(op.getDpsInputOperand(input)->get());
  return splatValue(v);
}

bool allParallel(linalg::LinalgOp op) {
  return op.getNumLoops() == op.getNumParallelLoops();
}

/// The payload holds exactly `yielded` plus constants.
bool singleComputation(linalg::LinalgOp op, Operation *computation) {
  for (Operation &inner : op.getBlock()->without_terminator())
    if (&inner != computation && !isa<arith::ConstantOp>(inner))
      return false;
  return true;
}

/// `v` without an extf that widens a payload argument or constant.
Value unpromoted(linalg::LinalgOp op, Value v) {
  auto ext = v.getDefiningOp<arith::ExtFOp>();
  if (ext && ext->getBlock() == op.getBlock())
    return ext.getIn();
  return v;
}

/// The payload holds `computation`, optionally followed by `rounding` (a
/// truncf of its result), plus constants and extfs that widen the block's
/// arguments or constants for it.
bool promotedComputation(linalg::LinalgOp op, Operation *computation,
                         Operation *rounding) {
  for (Operation &inner : op.getBlock()->without_terminator()) {
    if (&inner == computation || &inner == rounding ||
        isa<arith::ConstantOp>(inner))
      continue;
    auto ext = dyn_cast<arith::ExtFOp>(inner);
    if (!ext || (!isa<BlockArgument>(ext.getIn()) &&
                 !ext.getIn().getDefiningOp<arith::ConstantOp>()))
      return false;
    if (!llvm::all_of(ext->getUsers(),
                      [&](Operation *user) { return user == computation; }))
      return false;
  }
  return true;
}

/// An elementwise op: all loops parallel and an identity output map.
bool isElementwise(linalg::LinalgOp op) {
  return allParallel(op) && op.getIndexingMapsArray().back().isIdentity();
}

/// Input `index` is read with the identity map and has the result's type.
bool isMainInput(linalg::LinalgOp op, int index) {
  if (index < 0)
    return false;
  OpOperand *operand = op.getDpsInputOperand(index);
  return op.getMatchingIndexingMap(operand).isIdentity() &&
         cast<ShapedType>(operand->get().getType()).getShape() ==
             cast<ShapedType>(op->getResult(0).getType()).getShape();
}

/// The value flows from a contraction through elementwise steps.
bool leadsToContraction(Value v, int depth = 16) {
  for (; depth > 0; --depth) {
    if (matchContraction(v))
      return true;
    if (Value src = throughBatchReshape(v)) {
      v = src;
      continue;
    }
    std::optional<Step> step = matchStep(v);
    if (!step)
      return false;
    v = step->main;
  }
  return false;
}

/// `select(cmpf(...), 0, x)` or `select(cmpf(...), x, 0)`, the guards an
/// importer puts around softmax steps for fully masked rows: x; else v.
Value unguard(Value v) {
  auto select = v.getDefiningOp<arith::SelectOp>();
  if (!select || !select.getCondition().getDefiningOp<arith::CmpFOp>())
    return v;
  auto isZero = [](Value x) {
    std::optional<double> c = splatValue(x);
    return c && *c == 0.0;
  };
  if (isZero(select.getTrueValue()))
    return select.getFalseValue();
  if (isZero(select.getFalseValue()))
    return select.getTrueValue();
  return v;
}

/// The payload holds `computation`, optionally inside such a guard, plus
/// constants.
bool guardedComputation(linalg::LinalgOp op, ArrayRef<Operation *> allowed) {
  for (Operation &inner : op.getBlock()->without_terminator()) {
    if (isa<arith::ConstantOp, arith::CmpFOp, arith::SelectOp>(inner) ||
        llvm::is_contained(allowed, &inner))
      continue;
    return false;
  }
  return true;
}

/// `cmpf uno, x, x` (isnan(x)) on payload value `x`.
bool isNanTest(Value cond, Value x) {
  auto cmp = cond.getDefiningOp<arith::CmpFOp>();
  return cmp && cmp.getPredicate() == arith::CmpFPredicate::UNO &&
         cmp.getLhs() == x && cmp.getRhs() == x;
}

/// `where(isnan(p), 0, p)`, the guard that exporters' SDPA decompositions put
/// after softmax (in one elementwise op, or with isnan in an op of its own):
/// p; else v. The attention ops never produce NaN rows (fully masked rows
/// give 0), so the guard is redundant once softmax is raised.
Value stripNanGuard(Value v) {
  linalg::LinalgOp op = tensorLinalgOp(v);
  if (!op || !isElementwise(op))
    return v;
  auto select = yielded(op).getDefiningOp<arith::SelectOp>();
  if (!select)
    return v;
  std::optional<double> zero = payloadScalar(op, select.getTrueValue());
  int pIndex = inputIndex(op, select.getFalseValue());
  if (!zero || *zero != 0.0 || !isMainInput(op, pIndex))
    return v;
  Value p = op.getDpsInputOperand(pIndex)->get();
  Value cond = select.getCondition();
  bool guarded = isNanTest(cond, select.getFalseValue());
  if (int condIndex = inputIndex(op, cond); !guarded && isMainInput(op, condIndex)) {
    linalg::LinalgOp isNan =
        tensorLinalgOp(op.getDpsInputOperand(condIndex)->get());
    if (isNan && isElementwise(isNan) && isNan.getNumDpsInputs() == 1 &&
        isMainInput(isNan, 0) && isNan.getDpsInputOperand(0)->get() == p)
      guarded = isNanTest(yielded(isNan), isNan.getBlock()->getArgument(0));
  }
  for (Operation &inner : op.getBlock()->without_terminator())
    if (&inner != select.getOperation() && &inner != cond.getDefiningOp() &&
        !isa<arith::ConstantOp>(inner))
      return v;
  return guarded ? p : v;
}

/// Loop `dim` is the last loop and only the reduced operand uses it.
bool mapSkipsDim(AffineMap map, unsigned dim) {
  return !map.isFunctionOfDim(dim);
}

/// Looks through reshapes that only add or drop unit dimensions (keepdim).
Value throughUnitReshapes(Value v) {
  while (true) {
    if (auto expand = v.getDefiningOp<tensor::ExpandShapeOp>())
      v = expand.getSrc();
    else if (auto collapse = v.getDefiningOp<tensor::CollapseShapeOp>())
      v = collapse.getSrc();
    else
      return v;
  }
}

/// A reduction of `input` over its last dimension whose payload combines
/// the element with the accumulator by `isCombiner`, from an init of `init`.
template <typename Pred, typename InitPred>
bool isLastDimReduction(Value result, Value input, Pred isCombiner,
                        InitPred isInit) {
  linalg::LinalgOp op = tensorLinalgOp(throughUnitReshapes(result));
  if (!op || op.getNumDpsInputs() != 1 ||
      op.getDpsInputOperand(0)->get() != input)
    return false;
  unsigned last = op.getNumLoops() - 1;
  auto iterators = op.getIteratorTypesArray();
  for (unsigned i = 0; i <= last; ++i)
    if ((iterators[i] == utils::IteratorType::reduction) != (i == last))
      return false;
  if (!op.getMatchingIndexingMap(op.getDpsInputOperand(0)).isIdentity() ||
      !mapSkipsDim(op.getIndexingMapsArray().back(), last))
    return false;
  std::optional<double> init = splatValue(op.getDpsInitOperand(0)->get());
  if (!init || !isInit(*init))
    return false;
  Operation *combine = yielded(op).getDefiningOp();
  if (!combine || !singleComputation(op, combine))
    return false;
  Value in = op.getBlock()->getArgument(0), acc = op.getBlock()->getArgument(1);
  return isCombiner(combine, in, acc);
}

bool isMaxCombiner(Operation *op, Value in, Value acc) {
  auto sameArgs = [&](Value a, Value b) {
    return (a == in && b == acc) || (a == acc && b == in);
  };
  if (isa<arith::MaximumFOp, arith::MaxNumFOp>(op))
    return sameArgs(op->getOperand(0), op->getOperand(1));
  return false;
}

bool isAddCombiner(Operation *op, Value in, Value acc) {
  return isa<arith::AddFOp>(op) &&
         ((op->getOperand(0) == in && op->getOperand(1) == acc) ||
          (op->getOperand(0) == acc && op->getOperand(1) == in));
}

} // namespace

std::optional<double> match::splatValue(Value v) {
  if (auto fill = v.getDefiningOp<linalg::FillOp>())
    return splatValue(fill.getInputs()[0]);
  Attribute attr;
  if (!matchPattern(v, m_Constant(&attr)))
    return std::nullopt;
  if (auto f = dyn_cast<FloatAttr>(attr))
    return toDouble(f.getValue());
  if (auto i = dyn_cast<IntegerAttr>(attr))
    return static_cast<double>(i.getValue().getSExtValue());
  if (auto splat = dyn_cast<SplatElementsAttr>(attr)) {
    if (isa<FloatType>(splat.getElementType()))
      return toDouble(splat.getSplatValue<APFloat>());
    return static_cast<double>(splat.getSplatValue<APInt>().getSExtValue());
  }
  return std::nullopt;
}

bool Copy::isPermutation() const {
  return llvm::all_of(inputDimOf, [](int64_t d) { return d >= 0; }) &&
         static_cast<int64_t>(inputDimOf.size()) ==
             cast<ShapedType>(input.getType()).getRank();
}

std::optional<Copy> match::matchCopy(Value result) {
  linalg::LinalgOp op = tensorLinalgOp(result);
  if (!op || op.getNumDpsInputs() != 1 || !allParallel(op) ||
      yielded(op) != op.getBlock()->getArgument(0))
    return std::nullopt;
  AffineMap outMap = op.getIndexingMapsArray().back();
  AffineMap inMap = op.getMatchingIndexingMap(op.getDpsInputOperand(0));
  if (!outMap.isPermutation())
    return std::nullopt;
  auto inType = cast<ShapedType>(op.getDpsInputOperand(0)->get().getType());
  for (auto [i, expr] : llvm::enumerate(inMap.getResults())) {
    auto cst = dyn_cast<AffineConstantExpr>(expr);
    if (!isa<AffineDimExpr>(expr) &&
        !(cst && cst.getValue() == 0 && inType.getDimSize(i) == 1))
      return std::nullopt;
  }
  Copy copy{op.getDpsInputOperand(0)->get(), {}};
  for (unsigned i = 0; i < outMap.getNumResults(); ++i) {
    unsigned loop = outMap.getDimPosition(i);
    std::optional<unsigned> pos =
        inMap.getResultPosition(getAffineDimExpr(loop, op.getContext()));
    copy.inputDimOf.push_back(pos ? static_cast<int64_t>(*pos) : -1);
  }
  return copy;
}

std::optional<Step> match::matchStep(Value result) {
  linalg::LinalgOp op = tensorLinalgOp(result);
  if (!op || !isElementwise(op))
    return std::nullopt;
  Operation *computation = yielded(op).getDefiningOp();
  if (!computation || computation->getBlock() != op.getBlock())
    return std::nullopt;
  // Half-precision graphs are imported with each step computed in f32:
  // extf on the inputs, the step, truncf on the result. The step is the
  // same one up to that rounding, so it is matched through the casts.
  Operation *rounding = nullptr;
  if (auto trunc = dyn_cast<arith::TruncFOp>(computation)) {
    Operation *inner = trunc.getIn().getDefiningOp();
    if (inner && inner->getBlock() == op.getBlock() &&
        !isa<arith::ExtFOp>(inner)) {
      rounding = computation;
      computation = inner;
    }
  }
  if (!promotedComputation(op, computation, rounding))
    return std::nullopt;
  auto mainOf = [&](Value v) -> Value {
    int index = inputIndex(op, unpromoted(op, v));
    return isMainInput(op, index) ? op.getDpsInputOperand(index)->get()
                                  : Value();
  };
  auto sideOf = [&](Value v, Step &step) {
    int index = inputIndex(op, unpromoted(op, v));
    if (index < 0)
      return false;
    step.side = op.getDpsInputOperand(index)->get();
    step.sideMap = op.getMatchingIndexingMap(op.getDpsInputOperand(index));
    return true;
  };

  if (isa<arith::MulFOp, arith::DivFOp>(computation)) {
    Value lhs = computation->getOperand(0), rhs = computation->getOperand(1);
    bool isDiv = isa<arith::DivFOp>(computation);
    for (auto [x, c] : {std::pair{lhs, rhs}, std::pair{rhs, lhs}}) {
      if (isDiv && x != lhs)
        break;
      Value main = mainOf(x);
      std::optional<double> factor = payloadScalar(op, unpromoted(op, c));
      if (!main || !factor || (isDiv && *factor == 0.0))
        continue;
      return Step{Step::Scale, main, isDiv ? 1.0 / *factor : *factor};
    }
    return std::nullopt;
  }
  if (isa<math::TanhOp, arith::ExtFOp, arith::TruncFOp>(computation)) {
    Value main = mainOf(computation->getOperand(0));
    if (!main)
      return std::nullopt;
    return Step{isa<math::TanhOp>(computation) ? Step::Tanh : Step::Cast, main};
  }
  if (isa<arith::AddFOp>(computation)) {
    Value lhs = computation->getOperand(0), rhs = computation->getOperand(1);
    for (auto [x, m] : {std::pair{lhs, rhs}, std::pair{rhs, lhs}}) {
      Value main = mainOf(x);
      Step step{Step::AddMask, main};
      if (!main || !sideOf(m, step) || !leadsToContraction(main))
        continue;
      return step;
    }
    return std::nullopt;
  }
  if (auto select = dyn_cast<arith::SelectOp>(computation)) {
    for (bool keepWhenTrue : {true, false}) {
      Value kept = keepWhenTrue ? select.getTrueValue() : select.getFalseValue();
      Value masked =
          keepWhenTrue ? select.getFalseValue() : select.getTrueValue();
      Value main = mainOf(kept);
      std::optional<double> fillValue =
          payloadScalar(op, unpromoted(op, masked));
      Step step{Step::BoolMask, main};
      step.keepWhenTrue = keepWhenTrue;
      if (!main || !fillValue || *fillValue > -1.0e4 ||
          !sideOf(select.getCondition(), step))
        continue;
      return step;
    }
  }
  return std::nullopt;
}

std::optional<Value> match::matchSoftmax(Value result) {
  result = stripNanGuard(result);
  if (auto softmax = result.getDefiningOp<linalg::SoftmaxOp>()) {
    int64_t rank = cast<ShapedType>(softmax.getInput().getType()).getRank();
    if (softmax.getDimension() != static_cast<uint64_t>(rank - 1))
      return std::nullopt;
    return softmax.getInput();
  }
  // div(e, sum_last(e)) with e = exp(s - max_last(s)).
  linalg::LinalgOp div = tensorLinalgOp(result);
  if (!div || !isElementwise(div) || div.getNumDpsInputs() != 2)
    return std::nullopt;
  auto divOp = unguard(yielded(div)).getDefiningOp<arith::DivFOp>();
  if (!divOp || !guardedComputation(div, {divOp}))
    return std::nullopt;
  int eIndex = inputIndex(div, divOp.getLhs());
  int sumIndex = inputIndex(div, divOp.getRhs());
  unsigned last = div.getNumLoops() - 1;
  if (!isMainInput(div, eIndex) || sumIndex < 0 ||
      !mapSkipsDim(div.getMatchingIndexingMap(div.getDpsInputOperand(sumIndex)),
                   last))
    return std::nullopt;
  Value e = div.getDpsInputOperand(eIndex)->get();
  Value sum = div.getDpsInputOperand(sumIndex)->get();

  // e = exp(d), d = s - max: fused in one op or as two.
  linalg::LinalgOp exp = tensorLinalgOp(e);
  if (!exp || !isElementwise(exp))
    return std::nullopt;
  auto expOp = unguard(yielded(exp)).getDefiningOp<math::ExpOp>();
  if (!expOp)
    return std::nullopt;
  linalg::LinalgOp sub = exp;
  Value subValue = expOp.getOperand();
  if (int index = inputIndex(exp, subValue); index >= 0) {
    if (!isMainInput(exp, index) || !guardedComputation(exp, {expOp}))
      return std::nullopt;
    sub = tensorLinalgOp(exp.getDpsInputOperand(index)->get());
    if (!sub || !isElementwise(sub))
      return std::nullopt;
    subValue = yielded(sub);
  }
  auto subOp = subValue.getDefiningOp<arith::SubFOp>();
  if (!subOp || subOp->getBlock() != sub.getBlock())
    return std::nullopt;
  for (Operation &inner : sub.getBlock()->without_terminator())
    if (&inner != subOp && &inner != expOp &&
        !isa<arith::ConstantOp, arith::CmpFOp, arith::SelectOp>(inner))
      return std::nullopt;
  int sIndex = inputIndex(sub, subOp.getLhs());
  int maxIndex = inputIndex(sub, subOp.getRhs());
  if (!isMainInput(sub, sIndex) || maxIndex < 0 ||
      !mapSkipsDim(sub.getMatchingIndexingMap(sub.getDpsInputOperand(maxIndex)),
                   last))
    return std::nullopt;
  Value s = sub.getDpsInputOperand(sIndex)->get();
  Value max = sub.getDpsInputOperand(maxIndex)->get();

  if (!isLastDimReduction(max, s, isMaxCombiner,
                          [](double v) { return v <= -1.0e30; }) ||
      !isLastDimReduction(sum, e, isAddCombiner,
                          [](double v) { return v == 0.0; }))
    return std::nullopt;
  return s;
}

std::optional<Contraction> match::matchContraction(Value result) {
  linalg::LinalgOp op = tensorLinalgOp(result);
  if (!op || op.getNumDpsInputs() != 2 || !linalg::isaContractionOpInterface(op))
    return std::nullopt;
  std::optional<double> init = splatValue(op.getDpsInitOperand(0)->get());
  if (!init || *init != 0.0)
    return std::nullopt;
  FailureOr<linalg::ContractionDimensions> dims =
      linalg::inferContractionDims(op);
  if (failed(dims) || dims->m.size() != 1 || dims->n.size() != 1 ||
      dims->k.size() != 1)
    return std::nullopt;
  Contraction c{op, {}, dims->m[0], dims->n[0], dims->k[0], nullptr, nullptr};
  c.batch.assign(dims->batch.begin(), dims->batch.end());
  for (OpOperand *operand : op.getDpsInputOperands()) {
    AffineMap map = op.getMatchingIndexingMap(operand);
    if (map.isFunctionOfDim(c.m) && !map.isFunctionOfDim(c.n))
      c.lhs = operand;
    else if (map.isFunctionOfDim(c.n) && !map.isFunctionOfDim(c.m))
      c.rhs = operand;
  }
  if (!c.lhs || !c.rhs)
    return std::nullopt;
  return c;
}

/// The source of a reshape that only merges or splits the leading batch and
/// head dims ([B*H, S, T] <-> [B, H, S, T]), as torch-mlir wraps
/// batch_matmul; null otherwise.
Value match::throughBatchReshape(Value v) {
  auto isBatchOnly = [](ArrayRef<ReassociationIndices> groups) {
    return groups.size() == 3 && groups[0].size() == 2 &&
           groups[1].size() == 1 && groups[2].size() == 1;
  };
  if (auto expand = v.getDefiningOp<tensor::ExpandShapeOp>())
    return isBatchOnly(expand.getReassociationIndices()) ? expand.getSrc()
                                                         : Value();
  if (auto collapse = v.getDefiningOp<tensor::CollapseShapeOp>())
    return isBatchOnly(collapse.getReassociationIndices()) ? collapse.getSrc()
                                                           : Value();
  return Value();
}
