//===- KVCalibration.cpp - calibrate KV sharing on sample inputs ----------===//
//
// Compiles a copy of the model that returns the Q, K, V (and mask and KV
// lengths) of every attention instead of its outputs (what only the outputs
// need is dead there), runs it on the calibration inputs, fits
// the shared heads with lib/Calibration and attaches the result to each op
// for `attn-share-kv{method=calibrated}`.
//
//===----------------------------------------------------------------------===//

#include "attn/Compiler/KVCalibration.h"

#include "attn/Compiler/AttentionSamples.h"

#include "attn/Compiler/CompileReport.h"
#include "attn/Compiler/ProbeLibrary.h"
#include "attn/Compiler/ProbeSharing.h"

#include "attn/Calibration/KVSharing.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/ProjectionHeads.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "attn/Runtime/Npz.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Parallel.h"

#include <atomic>
#include <cstring>
#include <map>

using namespace mlir;
using namespace mlir::attn;

namespace {

DenseElementsAttr f64Attr(MLIRContext *ctx, ArrayRef<int64_t> shape,
                          const std::vector<double> &values) {
  auto type = RankedTensorType::get(shape, Float64Type::get(ctx));
  return DenseElementsAttr::get(type, ArrayRef<double>(values));
}



/// An attention's output projection as the refit sees it: the original
/// weight [Hq * Dv, dout] row-major.
struct OutputTarget {
  bool found = false;
  int64_t width = 0, outWidth = 0;
  std::vector<double> weight;
};

OutputTarget outputTarget(AttentionOp op) {
  OutputTarget t;
  std::optional<OutputProjection> p = matchOutputProjection(op.getResult(0));
  if (!p)
    return t;
  std::optional<std::vector<double>> w = readConstant(p->weight->get());
  if (!w)
    return t;
  t.width = p->heads * p->valueDim;
  t.outWidth = p->outputWidth;
  t.weight.resize(t.width * t.outWidth);
  for (int64_t r = 0; r < t.width; ++r)
    for (int64_t c = 0; c < t.outWidth; ++c)
      t.weight[r * t.outWidth + c] = p->weightRowAxis == 0
                                         ? (*w)[r * t.outWidth + c]
                                         : (*w)[c * t.width + r];
  t.found = true;
  return t;
}

/// [B, H, S, D] -> [B * S, H * D]: each token's heads side by side, the
/// rows the output projection reads.
std::vector<float> tokenRows(const ::attn::rt::Array &a) {
  std::vector<float> x = compile::arrayFloats(a);
  int64_t b = a.shape[0], h = a.shape[1], s = a.shape[2], d = a.shape[3];
  std::vector<float> rows(x.size());
  for (int64_t bi = 0; bi < b; ++bi)
    for (int64_t hi = 0; hi < h; ++hi)
      for (int64_t si = 0; si < s; ++si)
        for (int64_t di = 0; di < d; ++di)
          rows[((bi * s + si) * h + hi) * d + di] =
              x[((bi * h + hi) * s + si) * d + di];
  return rows;
}

/// The output weight the converted attention's result meets without the
/// fit, which the ridge pulls toward: the original weight with the output
/// maps [Hq, Dv, Dv] folded in. (Not the previous pass's fit: a layer whose
/// input did not change gets the same fit in every pass.)
std::vector<double> startWeight(const OutputTarget &t,
                                const std::vector<double> &outputMap,
                                int64_t valueDim) {
  if (outputMap.empty())
    return t.weight;
  std::vector<double> w(t.weight.size(), 0.0);
  int64_t heads = t.width / valueDim, m = t.outWidth;
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < valueDim; ++i)
      for (int64_t j = 0; j < valueDim; ++j) {
        double c = outputMap[(h * valueDim + i) * valueDim + j];
        if (c == 0.0)
          continue;
        const double *src = &t.weight[(h * valueDim + i) * m];
        double *dst = &w[(h * valueDim + j) * m];
        for (int64_t k = 0; k < m; ++k)
          dst[k] += c * src[k];
      }
  return w;
}

/// One pass of the layer-wise output refit: a probe that shares the KV
/// heads as the final model will (with the fits so far) and also keeps a
/// copy of every original attention on the same, converted, input returns
/// both results; each op's output projection is refitted so that the
/// converted result maps onto the original one projected by the original
/// weight. Fits go to `attn.share_output_weight` on `ops`.
LogicalResult refitPass(
    ModuleOp module, ArrayRef<AttentionOp> ops, int64_t newHeads,
    ArrayRef<OutputTarget> targets,
    const std::vector<::attn::calib::SharingWeights> &fits,
    const std::vector<::attn::rt::Array> &inputs,
    function_ref<LogicalResult(ModuleOp, const std::string &)> buildLibrary,
    std::string &error) {
  FailureOr<compile::Probe> cloned = compile::cloneProbe(
      module,
      [&](AttentionOp op) {
        return op.getNumResults() == 1 && int64_t(op.getKvHeads()) > newHeads;
      },
      ops.size(), error);
  if (failed(cloned))
    return failure();
  OwningOpRef<ModuleOp> probe = std::move(cloned->module);
  SmallVector<AttentionOp> probeOps = std::move(cloned->ops);
  func::FuncOp entry = cloned->entry;
  MLIRContext *ctx = module.getContext();
  OpBuilder b(ctx);
  SmallVector<Value> originals;
  for (auto [i, op] : llvm::enumerate(probeOps)) {
    if (!targets[i].found)
      continue;
    b.setInsertionPoint(op);
    Operation *copy = b.clone(*op.getOperation());
    copy->setAttr("attn.share_kv_keep", b.getUnitAttr());
    originals.push_back(copy->getResult(0));
  }
  // The originals are returned before sharing (so that they live), the
  // converted results after it (a second use before would hide the output
  // projection from the rewrite).
  auto ret = cast<func::ReturnOp>(entry.getBody().back().getTerminator());
  b.setInsertionPoint(ret);
  func::ReturnOp::create(b, ret.getLoc(), originals);
  ret.erase();
  entry.setType(FunctionType::get(ctx, entry.getArgumentTypes(),
                                  ValueRange(originals).getTypes()));
  entry->removeAttr("attn.num_outputs");
  // The pass alone: a cleanup now would drop the converted attentions that
  // only the dead logits read.
  if (failed(compile::shareProbeKVHeads(
          *probe, entry, newHeads, "refit",
          "--share-kv-method=aligned-fit: the output refit runs the "
          "converted model on the calibration inputs, which this model's "
          "shrinking KV-cache inputs no longer fit (a decode step); use "
          "--share-kv-method=aligned",
          error)))
    return failure();
  SmallVector<AttentionOp> shared;
  probe->walk([&](AttentionOp op) {
    if (!op->hasAttr("attn.share_kv_keep") &&
        op->hasAttr("attn.kv_heads_before"))
      shared.push_back(op);
  });
  if (shared.size() != ops.size()) {
    error = "calibration: the refit probe lost an attention";
    return failure();
  }
  ret = cast<func::ReturnOp>(entry.getBody().back().getTerminator());
  SmallVector<Value> results(ret.getOperands());
  SmallVector<std::string> names;
  int64_t k = 0;
  for (auto [i, op] : llvm::enumerate(shared)) {
    if (!targets[i].found)
      continue;
    names.push_back(llvm::formatv("__refit_{0}_original", k++).str());
  }
  k = 0;
  for (auto [i, op] : llvm::enumerate(shared)) {
    if (!targets[i].found)
      continue;
    results.push_back(op.getResult(0));
    names.push_back(llvm::formatv("__refit_{0}_converted", k++).str());
  }
  compile::returnNamed(entry, results, names);

  std::map<std::string, ::attn::rt::Array> outputs;
  if (failed(compile::runProbe(*probe, inputs, buildLibrary, outputs, error)))
    return failure();
  SmallVector<int64_t> slot(ops.size(), -1);
  k = 0;
  for (size_t i = 0; i < ops.size(); ++i)
    if (targets[i].found)
      slot[i] = k++;
  std::vector<std::vector<double>> fitted(ops.size()),
      starts(ops.size());
  for (size_t i = 0; i < ops.size(); ++i)
    if (targets[i].found)
      starts[i] = startWeight(targets[i], fits[i].outputMap,
                              AttentionOp(ops[i]).getValueType().getDimSize(3));
  std::atomic<bool> missing{false};
  llvm::parallelFor(0, ops.size(), [&](size_t i) {
    if (slot[i] < 0)
      return;
    auto o = outputs.find(llvm::formatv("__refit_{0}_original", slot[i]).str());
    auto c = outputs.find(llvm::formatv("__refit_{0}_converted", slot[i]).str());
    if (o == outputs.end() || c == outputs.end()) {
      missing = true;
      return;
    }
    const OutputTarget &t = targets[i];
    int64_t tokens = o->second.shape[0] * o->second.shape[2];
    fitted[i] = ::attn::calib::refitOutputProjection(
        tokenRows(c->second), tokenRows(o->second), tokens, t.width, t.weight,
        starts[i], t.outWidth, /*ridge=*/0.1);
  });
  if (missing) {
    error = "calibration: the refit probe lost an output";
    return failure();
  }
  for (auto [i, constOp] : llvm::enumerate(ops)) {
    if (slot[i] < 0)
      continue;
    AttentionOp op = constOp;
    const OutputTarget &t = targets[i];
    std::vector<float> values(fitted[i].begin(), fitted[i].end());
    auto type = RankedTensorType::get({t.width, t.outWidth},
                                      Float32Type::get(ctx));
    op->setAttr("attn.share_output_weight",
                DenseElementsAttr::get(type, ArrayRef<float>(values)));
  }
  return success();
}
} // namespace

func::FuncOp mlir::attn::compile::probeEntry(ModuleOp probe) {
  func::FuncOp entry;
  for (auto f : probe.getOps<func::FuncOp>())
    if (f.isPublic() && !f.isExternal())
      entry = f;
  return entry;
}

FailureOr<compile::Probe>
mlir::attn::compile::cloneProbe(ModuleOp module,
                                function_ref<bool(AttentionOp)> pick,
                                size_t count, std::string &error) {
  Probe probe{module.clone(), {}, {}};
  probe.module->walk([&](AttentionOp op) {
    if (pick(op))
      probe.ops.push_back(op);
  });
  probe.entry = probeEntry(*probe.module);
  if (!probe.entry || probe.ops.size() != count) {
    error = "calibration: cannot find the model function";
    return failure();
  }
  return probe;
}

LogicalResult mlir::attn::compile::returnOperands(Probe &probe,
                                                  StringRef prefix,
                                                  bool maskAndLens,
                                                  std::string &error,
                                                  ArrayRef<Value> extras) {
  SmallVector<Value> results;
  SmallVector<std::string> names;
  for (auto [i, op] : llvm::enumerate(probe.ops)) {
    if (op->getParentOp() != probe.entry.getOperation()) {
      error = "calibration: attention inside nested regions is not supported";
      return failure();
    }
    results.append({op.getQuery(), op.getKey(), op.getValue()});
    for (const char *part : {"q", "k", "v"})
      names.push_back(llvm::formatv("{0}_{1}_{2}", prefix, i, part).str());
    if (!maskAndLens)
      continue;
    if (Value mask = op.getMask()) {
      results.push_back(mask);
      names.push_back(llvm::formatv("{0}_{1}_mask", prefix, i).str());
    }
    if (Value lens = op.getKvSeqLens()) {
      results.push_back(lens);
      names.push_back(llvm::formatv("{0}_{1}_lens", prefix, i).str());
    }
  }
  for (auto [i, v] : llvm::enumerate(extras)) {
    results.push_back(v);
    names.push_back(llvm::formatv("{0}_{1}_extra", prefix, i).str());
  }
  returnNamed(probe.entry, results, names);
  return success();
}

void mlir::attn::compile::returnNamed(func::FuncOp entry,
                                      ArrayRef<Value> results,
                                      ArrayRef<std::string> names) {
  MLIRContext *ctx = entry.getContext();
  OpBuilder b(ctx);
  auto ret = cast<func::ReturnOp>(entry.getBody().back().getTerminator());
  b.setInsertionPoint(ret);
  func::ReturnOp::create(b, ret.getLoc(), results);
  ret.erase();
  entry.setType(FunctionType::get(ctx, entry.getArgumentTypes(),
                                  ValueRange(results).getTypes()));
  SmallVector<DictionaryAttr> resultAttrs;
  for (const std::string &name : names)
    resultAttrs.push_back(b.getDictionaryAttr(
        b.getNamedAttr("attn.name", b.getStringAttr(name))));
  entry.setAllResultAttrs(resultAttrs);
  entry->removeAttr("attn.num_outputs");
}

LogicalResult mlir::attn::compile::copyAttentionAttributes(
    ModuleOp from, ModuleOp to, StringRef prefix, std::string &error) {
  SmallVector<AttentionOp> source, target;
  from.walk([&](AttentionOp op) { source.push_back(op); });
  to.walk([&](AttentionOp op) { target.push_back(op); });
  if (source.size() != target.size()) {
    error = "calibration: the calibration-sized model has " +
            std::to_string(source.size()) + " attention ops, the compiled "
            "one " + std::to_string(target.size());
    return failure();
  }
  for (auto [src, dst] : llvm::zip(source, target)) {
    if (src.getQHeads() != dst.getQHeads() ||
        src.getKvHeads() != dst.getKvHeads()) {
      error = "calibration: attention ops of the calibration-sized and the "
              "compiled model do not correspond";
      return failure();
    }
    for (NamedAttribute attr : src->getDiscardableAttrs())
      if (attr.getName().getValue().starts_with(prefix))
        dst->setAttr(attr.getName(), attr.getValue());
  }
  return success();
}

LogicalResult mlir::attn::compile::readCalibrationInputs(
    const std::string &path, std::vector<::attn::rt::Array> &inputs,
    std::string &error) {
  if (::attn::rt::readNpz(path, inputs, error))
    return success();
  error = "calibration inputs '" + path + "': " + error;
  return failure();
}

LogicalResult mlir::attn::compile::runProbe(
    ModuleOp probe, const std::vector<::attn::rt::Array> &inputs,
    function_ref<LogicalResult(ModuleOp, const std::string &)> buildLibrary,
    std::map<std::string, ::attn::rt::Array> &outputs, std::string &error) {
  ProbeLibrary library;
  if (failed(library.build(probe, buildLibrary, error)))
    return failure();
  return library.run(inputs, outputs, error);
}

LogicalResult mlir::attn::compile::calibrateKVSharing(
    ModuleOp module, int64_t newHeads, bool aligned, int refitPasses,
    const std::string &calibrationPath,
    function_ref<LogicalResult(ModuleOp, const std::string &)> buildLibrary,
    std::vector<SharingErrors> &errors, std::string &error,
    std::vector<::attn::calib::AttentionSample> *samplesOut,
    function_ref<Value(AttentionOp)> extraValue,
    std::vector<::attn::rt::Array> *extrasOut,
    const ::attn::calib::AlignedWeighting &weighting) {
  SmallVector<AttentionOp> ops;
  module.walk([&](AttentionOp op) {
    if (op.getNumResults() == 1 && int64_t(op.getKvHeads()) > newHeads)
      ops.push_back(op);
  });
  // Aligned sharing pairs dims i and i + D/2 as RoPE's rotary planes.
  for (AttentionOp op : ops)
    if (aligned && op.getQueryType().getDimSize(3) % 2 != 0) {
      error = "--share-kv-method=aligned needs an even head size (dims i and "
              "i + D/2 form the rotary planes); attention at " +
              locationName(op.getLoc()) + " has " +
              std::to_string(op.getQueryType().getDimSize(3)) +
              " (--share-kv-method=calibrated does not)";
      return failure();
    }
  if (ops.empty())
    return success();

  // A copy that returns every attention's operands instead: the model's own
  // results (the logits, through the last layers and the vocabulary
  // projection) are dead in it, so neither compiled nor run.
  std::vector<::attn::calib::AttentionSample> probed;
  std::vector<::attn::rt::Array> inputs;
  if (failed(compile::probeAttentionSamples(
          module, ops, compile::SampleParts{}, calibrationPath, buildLibrary,
          probed, error, extraValue, extrasOut, &inputs)))
    return failure();
  // One sample per op; the fits are independent and run in parallel.
  std::vector<std::vector<::attn::calib::AttentionSample>> samples(ops.size());
  for (auto [i, s] : llvm::enumerate(probed))
    samples[i].push_back(std::move(s));
  // The output refit matches what the weight-level rewrite will find.
  std::vector<OutputTarget> targets(ops.size());
  if (refitPasses > 0)
    for (auto [i, op] : llvm::enumerate(ops))
      targets[i] = outputTarget(op);

  std::vector<::attn::calib::SharingWeights> fits(ops.size());
  std::vector<SharingErrors> fitErrors(ops.size());
  llvm::parallelFor(0, ops.size(), [&](size_t i) {
    const ::attn::calib::AttentionSample &first = samples[i].front();
    ::attn::calib::SharingWeights mean =
        ::attn::calib::meanWeights(first.kvHeads, newHeads);
    if (aligned) {
      fits[i] = ::attn::calib::alignedWeights(samples[i], newHeads,
                                              weighting);
    } else {
      fits[i] = ::attn::calib::calibratedWeights(samples[i], newHeads);
      ::attn::calib::fitHeadMaps(samples[i], fits[i]);
    }
    fitErrors[i].mean = ::attn::calib::outputError(samples[i], mean);
    fitErrors[i].calibrated = ::attn::calib::outputError(samples[i], fits[i]);
  });

  MLIRContext *ctx = module.getContext();
  for (auto [i, op] : llvm::enumerate(ops)) {
    const ::attn::calib::AttentionSample &first = samples[i].front();
    const ::attn::calib::SharingWeights &cal = fits[i];
    SharingErrors e = fitErrors[i];
    e.name = locationName(op.getLoc());
    errors.push_back(e);
    op->setAttr("attn.share_key_weights",
                f64Attr(ctx, {first.kvHeads}, cal.key));
    op->setAttr("attn.share_value_weights",
                f64Attr(ctx, {first.kvHeads}, cal.value));
    op->setAttr("attn.share_query_maps",
                f64Attr(ctx, {first.qHeads, first.headDim, first.headDim},
                        cal.queryMap));
    op->setAttr("attn.share_output_maps",
                f64Attr(ctx, {first.qHeads, first.valueDim, first.valueDim},
                        cal.outputMap));
    if (aligned) {
      op->setAttr("attn.share_key_mixes",
                  f64Attr(ctx, {first.kvHeads, first.headDim, first.headDim},
                          cal.keyMix));
      op->setAttr("attn.share_value_mixes",
                  f64Attr(ctx, {first.kvHeads, first.valueDim, first.valueDim},
                          cal.valueMix));
    }
  }
  // Layer by layer in effect: each pass runs the model converted with the
  // previous pass's fits, so the first layers see their final inputs and
  // later ones inputs closer to them with every pass.
  for (int pass = 0; aligned && pass < refitPasses; ++pass)
    if (failed(refitPass(module, ops, newHeads, targets, fits, inputs,
                         buildLibrary, error)))
      return failure();
  if (samplesOut)
    for (std::vector<::attn::calib::AttentionSample> &s : samples)
      samplesOut->push_back(std::move(s.front()));
  return success();
}
