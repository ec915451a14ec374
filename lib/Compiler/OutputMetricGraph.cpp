//===- OutputMetricGraph.cpp - the output metric's sensitivity from the graph -===//
//
// Finds the LM head (and the final norm's gain before it) or the next
// MLP's input projections (and the norm's gain) in the linalg graph and
// forms their sensitivity (include/attn/Compiler/OutputMetricGraph.h).
//
//===----------------------------------------------------------------------===//

#include "attn/Compiler/OutputMetricGraph.h"

#include "attn/Calibration/OutputMetric.h"
#include "attn/Compiler/JointBlockRefit.h"
#include "attn/Dialect/Attn/Transforms/ProjectionHeads.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::compile;

namespace {

/// A contraction of a value with a constant rank-2 weight over `width`
/// (one reduction, one output column axis): the weight, its orientation
/// and the other input.
struct Readout {
  std::vector<double> weight;
  bool widthFirst = true; ///< stored [width, n], else [n, width]
  Value input;
};

std::optional<Readout> matchReadout(Operation *def, int64_t width) {
  auto op = dyn_cast_or_null<linalg::LinalgOp>(def);
  if (!op || !op.hasPureTensorSemantics() || op.getNumDpsInputs() != 2 ||
      !linalg::isaContractionOpInterface(op))
    return std::nullopt;
  FailureOr<linalg::ContractionDimensions> dims =
      linalg::inferContractionDims(op);
  if (failed(dims) || dims->k.size() != 1 || dims->n.size() != 1 ||
      !dims->batch.empty())
    return std::nullopt;
  AffineExpr k = getAffineDimExpr(dims->k[0], op.getContext());
  Readout r;
  for (OpOperand *operand : op.getDpsInputOperands()) {
    auto type = dyn_cast<RankedTensorType>(operand->get().getType());
    AffineMap m = op.getMatchingIndexingMap(operand);
    if (type && type.getRank() == 2 &&
        operand->get().getDefiningOp<arith::ConstantOp>()) {
      unsigned at = m.getResult(0) == k ? 0 : 1;
      if (m.getResult(at) != k || type.getDimSize(at) != width)
        return std::nullopt;
      std::optional<std::vector<double>> w = readConstant(operand->get());
      if (!w)
        return std::nullopt;
      r.weight = std::move(*w);
      r.widthFirst = at == 0;
    } else {
      r.input = operand->get();
    }
  }
  if (r.weight.empty() || !r.input)
    return std::nullopt;
  return r;
}

/// An elementwise generic op with a constant rank-1 input of `width`
/// elements: that constant's values and whether the body multiplies
/// (a gain) or not (e.g. a bias add); the other input in `other`.
std::optional<std::pair<std::vector<double>, bool>>
constantVector(Operation *def, int64_t width, Value *other = nullptr) {
  auto op = dyn_cast_or_null<linalg::GenericOp>(def);
  if (!op || op.getNumDpsInputs() != 2 || op->getNumResults() != 1)
    return std::nullopt;
  for (unsigned i = 0; i < 2; ++i) {
    Value c = op.getDpsInputOperand(i)->get();
    auto type = dyn_cast<RankedTensorType>(c.getType());
    if (!type || type.getRank() != 1 || type.getDimSize(0) != width ||
        !c.getDefiningOp<arith::ConstantOp>())
      continue;
    std::optional<std::vector<double>> v = readConstant(c);
    if (!v)
      return std::nullopt;
    bool multiplies = false;
    op.getRegion().walk([&](arith::MulFOp) { multiplies = true; });
    if (other)
      *other = op.getDpsInputOperand(1 - i)->get();
    return std::make_pair(std::move(*v), multiplies);
  }
  return std::nullopt;
}

} // namespace

std::vector<double> mlir::attn::compile::logitsSensitivity(ModuleOp module,
                                                           int64_t width,
                                                           std::string &why) {
  std::optional<Readout> head;
  module.walk([&](func::ReturnOp ret) {
    if (!head && ret.getNumOperands() > 0)
      head = matchReadout(ret.getOperand(0).getDefiningOp(), width);
  });
  if (!head) {
    why = "the first result is not a constant-weight MatMul over the "
          "attention output's width";
    return {};
  }
  // Back from the head's input: a bias add (skipped), then the gain.
  std::vector<double> gain;
  Value x = head->input;
  for (int step = 0; step < 2 && gain.empty(); ++step) {
    Value other;
    auto c = constantVector(x.getDefiningOp(), width, &other);
    if (!c)
      break;
    if (c->second)
      gain = std::move(c->first);
    x = other;
  }
  std::vector<double> s;
  ::attn::calib::addReadoutSensitivity(head->weight, width, head->widthFirst,
                                       gain, s);
  return s;
}

std::vector<double> mlir::attn::compile::mlpSensitivity(AttentionOp op,
                                                        int64_t width,
                                                        std::string &why) {
  FailureOr<BlockPattern> block = matchBlock(op, why);
  if (failed(block))
    return {};
  // From the stream after the attention's Add through the norm's ops to
  // the MLP's input projections; not into the block's residual Add (the
  // next block) nor past a contraction.
  Operation *next = block->streamOut.getDefiningOp();
  std::vector<Readout> projections;
  std::vector<double> gain;
  SmallVector<Value> work{block->streamIn};
  llvm::SmallPtrSet<Operation *, 16> seen;
  while (!work.empty() && seen.size() < 64) {
    Value v = work.pop_back_val();
    for (Operation *user : v.getUsers()) {
      if (user == next || !seen.insert(user).second)
        continue;
      if (std::optional<Readout> r = matchReadout(user, width)) {
        projections.push_back(std::move(*r));
        continue;
      }
      auto linalgOp = dyn_cast<linalg::LinalgOp>(user);
      if (!linalgOp || linalg::isaContractionOpInterface(linalgOp))
        continue;
      if (auto c = constantVector(user, width); c && c->second && gain.empty())
        gain = std::move(c->first);
      for (Value r : user->getResults())
        work.push_back(r);
    }
  }
  if (projections.empty()) {
    why = "no constant-weight MatMul over the stream's width after the "
          "attention's residual Add";
    return {};
  }
  std::vector<double> s;
  for (const Readout &r : projections)
    ::attn::calib::addReadoutSensitivity(r.weight, width, r.widthFirst, gain,
                                         s);
  return s;
}
