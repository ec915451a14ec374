//===- JointBlockRefit.cpp - the MLP down-projection refit of joint -------===//
//
// Finds each attention's decoder block in the graph (the residual Add after
// its output projection, the next residual Add and the constant-weight
// MatMul feeding it: the MLP's down projection, SwiGLU or GELU alike), runs
// the probes the refit needs and solves for the new down weights
// (include/attn/Compiler/JointBlockRefit.h).
//
//===----------------------------------------------------------------------===//

#include "attn/Compiler/JointBlockRefit.h"

#include "attn/Compiler/CompileReport.h"
#include "attn/Compiler/KVCalibration.h"
#include "attn/Compiler/ProbeSharing.h"

#include "attn/Calibration/BlockRefit.h"
#include "attn/Calibration/FloatGemm.h"
#include "attn/Dialect/Attn/Transforms/ProjectionHeads.h"
#include "attn/Runtime/Npz.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/Support/FormatVariadic.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <sys/resource.h>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::compile;

namespace {

constexpr const char *kDownWeight = "attn.share_down_weight";

/// An elementwise linalg op adding its two inputs (generic or named), with
/// the result's type: the other input than `one`, or null.
Value addedTo(Operation *user, Value one) {
  auto op = dyn_cast<linalg::LinalgOp>(user);
  if (!op || !op.hasPureTensorSemantics() || op.getNumDpsInputs() != 2 ||
      op.getNumDpsInits() != 1 || op->getNumResults() != 1 ||
      op.getNumLoops() != op.getNumParallelLoops())
    return {};
  Value a = op.getDpsInputOperand(0)->get(), b = op.getDpsInputOperand(1)->get();
  if (a.getType() != op->getResult(0).getType() ||
      b.getType() != op->getResult(0).getType())
    return {};
  for (AffineMap m : op.getIndexingMapsArray())
    if (!m.isIdentity())
      return {};
  if (!isa<linalg::AddOp>(user)) {
    Block &body = op->getRegion(0).front();
    auto yield = dyn_cast<linalg::YieldOp>(body.getTerminator());
    auto add = yield && yield.getNumOperands() == 1
                   ? yield.getOperand(0).getDefiningOp<arith::AddFOp>()
                   : nullptr;
    if (!add || &body.front() != add.getOperation() ||
        !((add.getLhs() == body.getArgument(0) &&
           add.getRhs() == body.getArgument(1)) ||
          (add.getLhs() == body.getArgument(1) &&
           add.getRhs() == body.getArgument(0))))
      return {};
  }
  return a == one ? b : b == one ? a : Value();
}

/// Whether `op` adds a constant of lower rank (a bias) to one input:
/// that input, or null.
Value biasAddInput(Operation *user) {
  auto op = dyn_cast_or_null<linalg::LinalgOp>(user);
  if (!op || !op.hasPureTensorSemantics() || op.getNumDpsInputs() != 2 ||
      op->getNumResults() != 1)
    return {};
  Value a = op.getDpsInputOperand(0)->get(), b = op.getDpsInputOperand(1)->get();
  auto rank = [](Value v) { return cast<ShapedType>(v.getType()).getRank(); };
  Block &body = op->getRegion(0).front();
  auto yield = dyn_cast<linalg::YieldOp>(body.getTerminator());
  if (!yield || yield.getNumOperands() != 1 ||
      !yield.getOperand(0).getDefiningOp<arith::AddFOp>() ||
      &body.front() != yield.getOperand(0).getDefiningOp())
    return {};
  if (b.getDefiningOp<arith::ConstantOp>() && rank(b) < rank(a) &&
      a.getType() == op->getResult(0).getType())
    return a;
  if (a.getDefiningOp<arith::ConstantOp>() && rank(a) < rank(b) &&
      b.getType() == op->getResult(0).getType())
    return b;
  return {};
}

/// `v`, or the bias add that is its only use.
Value throughBias(Value v) {
  if (v.hasOneUse() && biasAddInput(*v.getUsers().begin()) == v)
    return v.getUsers().begin()->getResult(0);
  return v;
}

/// Whether `v` is a zero splat (a linalg.fill of 0 or a constant).
bool isZero(Value v) {
  if (auto fill = v.getDefiningOp<linalg::FillOp>())
    v = fill.getInputs()[0];
  Attribute attr;
  if (auto cst = v.getDefiningOp<arith::ConstantOp>())
    attr = cst.getValue();
  if (auto f = dyn_cast_or_null<FloatAttr>(attr))
    return f.getValueAsDouble() == 0.0;
  if (auto d = dyn_cast_or_null<DenseFPElementsAttr>(attr))
    return d.isSplat() && d.getSplatValue<APFloat>().isZero();
  return false;
}

/// The down projection computing `v` (through a bias add): a zero-init
/// contraction of a static input Z [..., F] (F last, the output's other
/// axes in order) with a constant rank-2 weight.
bool matchDown(Value v, BlockPattern &p) {
  if (auto *def = v.getDefiningOp())
    if (Value in = biasAddInput(def))
      v = in;
  auto op = v.getDefiningOp<linalg::LinalgOp>();
  if (!op || !v.hasOneUse() || !op.hasPureTensorSemantics() ||
      op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1 ||
      !linalg::isaContractionOpInterface(op) ||
      !isZero(op.getDpsInitOperand(0)->get()))
    return false;
  FailureOr<linalg::ContractionDimensions> dims =
      linalg::inferContractionDims(op);
  if (failed(dims) || dims->n.size() != 1 || dims->k.size() != 1 ||
      !dims->batch.empty())
    return false;
  MLIRContext *ctx = op.getContext();
  AffineExpr k = getAffineDimExpr(dims->k[0], ctx),
             n = getAffineDimExpr(dims->n[0], ctx);
  AffineMap out = op.getIndexingMapsArray().back();
  if (out.getNumResults() == 0 || out.getResults().back() != n)
    return false;
  for (OpOperand *operand : op.getDpsInputOperands()) {
    AffineMap m = op.getMatchingIndexingMap(operand);
    auto type = dyn_cast<RankedTensorType>(operand->get().getType());
    if (!type || !type.hasStaticShape())
      return false;
    if (operand->get().getDefiningOp<arith::ConstantOp>() &&
        type.getRank() == 2 && readConstant(operand->get())) {
      if (!((m.getResult(0) == k && m.getResult(1) == n) ||
            (m.getResult(0) == n && m.getResult(1) == k)))
        return false;
      p.weight = operand;
      p.featuresFirst = m.getResult(0) == k;
    } else {
      if (m.getNumResults() != out.getNumResults() ||
          m.getResults().back() != k ||
          m.getResults().drop_back() != out.getResults().drop_back())
        return false;
      p.downInput = operand->get();
    }
  }
  if (!p.weight || !p.downInput)
    return false;
  auto wType = cast<RankedTensorType>(p.weight->get().getType());
  p.features = wType.getDimSize(p.featuresFirst ? 0 : 1);
  p.width = wType.getDimSize(p.featuresFirst ? 1 : 0);
  p.down = op;
  return true;
}

/// Whether `value` is computed from an attention op's result without
/// passing through `stream` (the block's input): then the MatMul reading
/// it is another attention's output projection, not an MLP's.
bool readsAttention(Value value, Value stream) {
  SmallVector<Value> work{value};
  llvm::SmallPtrSet<Operation *, 32> seen;
  while (!work.empty()) {
    Value v = work.pop_back_val();
    if (v == stream)
      continue;
    Operation *def = v.getDefiningOp();
    if (!def || !seen.insert(def).second)
      continue;
    if (isa<AttentionOp>(def))
      return true;
    // Bounded: an MLP between two residual Adds is a few dozen ops.
    if (seen.size() > 256)
      return false;
    for (Value operand : def->getOperands())
      work.push_back(operand);
  }
  return false;
}

/// The projection input of Q (and of K and V in a self-attention): what
/// the joint fit reads as `input`. A cross-attention's K and V project
/// another value (its layout's kvInput, which the refit keeps).
Value attentionInput(AttentionOp op) {
  std::optional<HeadProjection> p = matchHeadProjection(op.getQuery());
  if (!p)
    return {};
  for (OpOperand *operand : p->matmul.getDpsInputOperands())
    if (operand != p->weight)
      return operand->get();
  return {};
}

std::vector<float> floatsOf(const ::attn::rt::Array &a) {
  std::vector<float> out(a.numElements());
  std::memcpy(out.data(), a.data.data(), out.size() * sizeof(float));
  return out;
}

double processCpu() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec +
         1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

/// Times a phase into `times` when it ends.
struct PhaseTimer {
  std::vector<JointPhaseTime> &times;
  std::string name;
  double cpu = processCpu();
  std::chrono::steady_clock::time_point wall = std::chrono::steady_clock::now();
  ~PhaseTimer() {
    times.push_back(
        {name, processCpu() - cpu,
         std::chrono::duration<double>(std::chrono::steady_clock::now() - wall)
             .count()});
  }
};

bool isPicked(AttentionOp op, int64_t newHeads) {
  return op.getNumResults() == 1 && int64_t(op.getKvHeads()) > newHeads;
}

/// The named f32 output of a probe, or null.
const ::attn::rt::Array *
probeOutput(const std::map<std::string, ::attn::rt::Array> &outputs,
            const std::string &name, size_t elements) {
  auto it = outputs.find(name);
  if (it == outputs.end() || it->second.dtype != ::attn::rt::DType::F32 ||
      it->second.numElements() != elements)
    return nullptr;
  return &it->second;
}

/// Removes the sharing fits attached to `op` (its `attn.share_*`
/// attributes): the attention is the original one again.
void dropSharingAttributes(AttentionOp op) {
  SmallVector<StringAttr> names;
  for (NamedAttribute attr : op->getDiscardableAttrs())
    if (attr.getName().getValue().starts_with("attn.share_"))
      names.push_back(attr.getName());
  for (StringAttr name : names)
    op->removeAttr(name);
}

} // namespace

FailureOr<BlockPattern> mlir::attn::compile::matchBlock(AttentionOp op,
                                                        std::string &why) {
  std::optional<OutputProjection> o = matchOutputProjection(op.getResult(0));
  if (!o) {
    why = "no constant-weight output projection";
    return failure();
  }
  Value y = throughBias(o->matmul->getResult(0));
  Value stream;
  if (y.hasOneUse())
    if (Operation *add = *y.getUsers().begin(); addedTo(add, y))
      stream = add->getResult(0);
  if (!stream) {
    why = "the output projection is not added to a residual stream";
    return failure();
  }
  for (Operation *user : stream.getUsers()) {
    Value other = addedTo(user, stream);
    BlockPattern p;
    if (other && matchDown(other, p)) {
      p.streamIn = stream;
      p.streamOut = user->getResult(0);
      int64_t tokens = cast<ShapedType>(p.downInput.getType()).getNumElements() /
                       p.features;
      if (cast<ShapedType>(stream.getType()).getNumElements() !=
          tokens * p.width) {
        why = "the down projection's rows are not the stream's tokens";
        return failure();
      }
      if (readsAttention(p.downInput, stream)) {
        why = "the next residual Add adds another attention's output "
              "projection (a cross-attention), not an MLP";
        return failure();
      }
      return p;
    }
  }
  why = "no residual Add of the stream and a constant-weight MatMul (an MLP's "
        "down projection) after the attention's residual Add";
  return failure();
}

LogicalResult mlir::attn::compile::refitBlocks(
    ModuleOp module, int64_t newHeads, double drift, double ridge,
    double minTokensPerFeature, ArrayRef<BlockRefitLayer> layers,
    const std::vector<::attn::rt::Array> &inputs,
    function_ref<LogicalResult(ModuleOp, const std::string &)> buildLibrary,
    std::vector<std::string> &notes, std::vector<JointPhaseTime> &times,
    std::string &error) {
  auto pick = [&](AttentionOp op) { return isPicked(op, newHeads); };
  // Which blocks match, in the model itself (their weights are read here).
  std::vector<std::optional<BlockPattern>> blocks(layers.size());
  size_t matched = 0, tooFewTokens = 0;
  int64_t fewestTokens = 0, widestDown = 0;
  for (auto [i, layer] : llvm::enumerate(layers)) {
    std::string why;
    AttentionOp op = layer.op;
    FailureOr<BlockPattern> p = matchBlock(op, why);
    int64_t tokens = layer.layout.batch * layer.layout.length;
    if (succeeded(p) && minTokensPerFeature > 0.0 &&
        double(tokens) < minTokensPerFeature * double(p->features)) {
      // One note for all of them below: the ridge solve would overfit.
      fewestTokens = tooFewTokens++ ? std::min(fewestTokens, tokens) : tokens;
      widestDown = std::max(widestDown, p->features);
      continue;
    }
    if (failed(p)) {
      notes.push_back(llvm::formatv("share-kv block refit: attention at {0}: "
                                    "skipped ({1})",
                                    locationName(op.getLoc()), why));
      continue;
    }
    blocks[i] = *p;
    ++matched;
  }
  if (tooFewTokens)
    notes.push_back(llvm::formatv(
        "share-kv block refit: {0} of {1} blocks not refitted ({2} "
        "calibration tokens, fewer than {3} x their down projections' "
        "inputs, up to {4}: calibrate on more tokens to refit them)",
        tooFewTokens, layers.size(), fewestTokens, minTokensPerFeature,
        widestDown));
  if (matched == 0)
    return success();

  // The original model's stream after each block.
  std::map<std::string, ::attn::rt::Array> original;
  auto blockName = [](size_t i, const char *part) {
    return llvm::formatv("__block_{0}_{1}", i, part).str();
  };
  // The probe's values of every matched block: the stream after the block
  // (named `orig`), or with `withInputs` the attention's input H, the down
  // projection's input Z and the stream after (`h`, `z`, `out`).
  auto collectBlockValues = [&](Probe &probe, bool withInputs,
                                SmallVector<Value> &results,
                                SmallVector<std::string> &names) {
    for (auto [i, op] : llvm::enumerate(probe.ops)) {
      if (!blocks[i])
        continue;
      std::string why;
      FailureOr<BlockPattern> p = matchBlock(op, why);
      Value h = withInputs ? attentionInput(op) : Value();
      if (failed(p) || (withInputs && !h)) {
        error = "calibration: the block refit's probe lost a block";
        return failure();
      }
      if (!withInputs) {
        results.push_back(p->streamOut);
        names.push_back(blockName(i, "orig"));
        continue;
      }
      results.append({h, p->downInput, p->streamOut});
      for (const char *part : {"h", "z", "out"})
        names.push_back(blockName(i, part));
    }
    return success();
  };
  auto returnBlockValues = [&](Probe &probe, bool withInputs) {
    SmallVector<Value> results;
    SmallVector<std::string> names;
    if (failed(collectBlockValues(probe, withInputs, results, names)))
      return failure();
    returnNamed(probe.entry, results, names);
    return success();
  };
  if (drift > 0.0) {
    PhaseTimer timer{times, "block refit: probe of the original model"};
    FailureOr<Probe> probe = cloneProbe(module, pick, layers.size(), error);
    if (failed(probe))
      return failure();
    // The original model: without the fits' per-layer `attn.share_*`
    // weights on its attentions, which made every layer differ for
    // attn-outline-repeats, so the whole model was lowered as one function
    // (about a layer's LLVM optimisation time per layer, 10x on 8 layers).
    for (AttentionOp op : probe->ops)
      dropSharingAttributes(op);
    if (failed(returnBlockValues(*probe, /*withInputs=*/false)))
      return failure();
    if (failed(runProbe(*probe->module, inputs, buildLibrary, original, error)))
      return failure();
  }

  // The model converted with the fitted attentions: H, Z, the stream after.
  std::map<std::string, ::attn::rt::Array> converted;
  {
    PhaseTimer timer{times, "block refit: probe of the converted model"};
    FailureOr<Probe> probe = cloneProbe(module, pick, layers.size(), error);
    if (failed(probe))
      return failure();
    // An earlier round's refitted down projections (--share-kv-refit-
    // rounds): the stream the blocks before pass on.
    if (failed(foldBlockRefits(*probe->module, error)))
      return failure();
    SmallVector<Value> results;
    SmallVector<std::string> names;
    if (failed(collectBlockValues(*probe, /*withInputs=*/true, results, names)))
      return failure();
    if (failed(shareProbeKVHeads(
            *probe->module, probe->entry, newHeads, "block-refit",
            "--share-kv-block-refit runs the converted model on the "
            "calibration inputs, which this model's shrinking KV-cache "
            "inputs no longer fit (a decode step)",
            error)))
      return failure();
    returnNamed(probe->entry, results, names);
    if (failed(runProbe(*probe->module, inputs, buildLibrary, converted,
                        error)))
      return failure();
  }

  PhaseTimer timer{times, llvm::formatv("block refit: {0} down projections",
                                        matched)
                              .str()};
  std::vector<float> carried; // C: the corrections of the blocks before
  for (auto [i, layer] : llvm::enumerate(layers)) {
    if (!blocks[i])
      continue;
    const BlockPattern &p = *blocks[i];
    AttentionOp op = layer.op;
    std::string where = locationName(op.getLoc());
    ::attn::calib::JointLayer l = layer.layout;
    int64_t tokens = l.batch * l.length, width = p.width;
    int64_t in = l.inputWidth - (layer.biased ? 1 : 0);
    const ::attn::rt::Array *h = probeOutput(converted, blockName(i, "h"),
                                             tokens * in);
    const ::attn::rt::Array *z = probeOutput(converted, blockName(i, "z"),
                                             tokens * p.features);
    const ::attn::rt::Array *out = probeOutput(converted, blockName(i, "out"),
                                               tokens * width);
    const ::attn::rt::Array *orig =
        drift > 0.0 ? probeOutput(original, blockName(i, "orig"), tokens * width)
                    : nullptr;
    if (!h || !z || !out || (drift > 0.0 && !orig) || l.outWidth != width) {
      error = "--share-kv-block-refit: attention at " + where +
              ": the probe's block values do not have the calibration "
              "tokens' sizes (or are not f32)";
      return failure();
    }
    std::vector<float> hv = floatsOf(*h);
    l.input.resize(tokens * l.inputWidth);
    for (int64_t t = 0; t < tokens; ++t) {
      std::memcpy(&l.input[t * l.inputWidth], &hv[t * in], in * sizeof(float));
      if (layer.biased)
        l.input[t * l.inputWidth + in] = 1.0f;
    }
    hv.clear();
    std::vector<float> target = ::attn::calib::jointOutput(l, *layer.original);
    std::vector<float> fitted = ::attn::calib::jointOutput(l, *layer.fitted);
    std::vector<float> e(tokens * width);
    double scale = 0.0;
    std::vector<float> outv = orig ? floatsOf(*out) : std::vector<float>();
    std::vector<float> origv = orig ? floatsOf(*orig) : std::vector<float>();
    std::vector<float> zv = floatsOf(*z);
    // An earlier round's refit of this block (--share-kv-refit-rounds),
    // which the probe's stream after it holds: Z (W_prev - W). The drift's
    // target is the stream without it; the blocks after see the change
    // from it, not the whole new correction.
    std::vector<float> previous;
    if (auto prev = op->getAttrOfType<DenseElementsAttr>(kDownWeight);
        prev && drift > 0.0) {
      std::vector<double> w0 = *readConstant(p.weight->get());
      std::vector<float> d(p.features * width);
      auto values = prev.getValues<float>();
      for (int64_t f = 0; f < p.features; ++f)
        for (int64_t c = 0; c < width; ++c) {
          int64_t at = p.featuresFirst ? f * width + c : c * p.features + f;
          d[f * width + c] = static_cast<float>(values[at] - w0[at]);
        }
      previous.resize(tokens * width);
      ::attn::calib::sgemmParallel(false, false, tokens, width, p.features,
                                   zv.data(), p.features, d.data(), width,
                                   previous.data(), width);
    }
    for (int64_t t = 0; t < tokens * width; ++t) {
      double miss = double(target[t]) - fitted[t];
      double v = miss;
      if (orig)
        v += drift * (double(origv[t]) - outv[t] - miss -
                      (carried.empty() ? 0.0 : carried[t]) +
                      (previous.empty() ? 0.0 : previous[t]));
      e[t] = static_cast<float>(v);
      scale += double(target[t]) * target[t];
    }
    ::attn::calib::DownRefit r = ::attn::calib::refitLinear(
        zv, tokens, p.features, e, width, ridge);
    if (!r.solved) {
      notes.push_back(llvm::formatv("share-kv block refit: attention at {0}: "
                                    "skipped (the ridge system is singular)",
                                    where));
      continue;
    }
    if (drift > 0.0) {
      if (carried.empty())
        carried.assign(tokens * width, 0.0f);
      for (int64_t t = 0; t < tokens * width; ++t)
        carried[t] += r.correction[t] - (previous.empty() ? 0.0f : previous[t]);
    }
    // W + delta in the stored orientation, as the weight's own type.
    std::vector<double> w = *readConstant(p.weight->get());
    for (int64_t f = 0; f < p.features; ++f)
      for (int64_t c = 0; c < width; ++c)
        (p.featuresFirst ? w[f * width + c] : w[c * p.features + f]) +=
            r.delta[f * width + c];
    auto wType = cast<RankedTensorType>(p.weight->get().getType());
    std::vector<float> wf(w.begin(), w.end());
    op->setAttr(
        kDownWeight,
        DenseElementsAttr::get(
            RankedTensorType::get(wType.getShape(),
                                  Float32Type::get(module.getContext())),
            ArrayRef<float>(wf)));
    scale = scale > 0.0 ? scale : 1.0;
    notes.push_back(llvm::formatv(
        "share-kv block refit: attention at {0}: block error (relative to "
        "the attention's output) {1:e3} -> {2:e3}",
        where, r.errorBefore / scale, r.errorAfter / scale));
  }
  return success();
}

LogicalResult mlir::attn::compile::foldBlockRefits(ModuleOp module,
                                                   std::string &error) {
  LogicalResult result = success();
  module.walk([&](AttentionOp op) {
    auto weight = op->getAttrOfType<DenseElementsAttr>(kDownWeight);
    if (!weight)
      return;
    op->removeAttr(kDownWeight);
    std::string why;
    FailureOr<BlockPattern> p = matchBlock(op, why);
    auto wType = succeeded(p)
                     ? cast<RankedTensorType>(p->weight->get().getType())
                     : RankedTensorType();
    if (failed(p) || wType.getShape() != weight.getType().getShape()) {
      error = "--share-kv-block-refit: attention at " +
              locationName(op.getLoc()) +
              ": the refitted down projection is not in the model (" +
              (failed(p) ? why : "another weight shape") + ")";
      result = failure();
      return;
    }
    DenseElementsAttr value = weight;
    if (wType.getElementType() != weight.getElementType()) {
      auto ft = cast<FloatType>(wType.getElementType());
      SmallVector<APFloat> converted;
      for (APFloat f : weight.getValues<APFloat>()) {
        bool lost;
        f.convert(ft.getFloatSemantics(), APFloat::rmNearestTiesToEven, &lost);
        converted.push_back(f);
      }
      value = DenseElementsAttr::get(wType, converted);
    } else {
      value = weight.reshape(wType);
    }
    OpBuilder b(p->down);
    p->weight->set(b.create<arith::ConstantOp>(p->down.getLoc(), value));
  });
  return result;
}
