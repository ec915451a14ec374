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
#include <cmath>
#include <cstring>
#include <limits>
#include <map>

using namespace mlir;
using namespace mlir::attn;

namespace {

float halfToFloat(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    float f = std::ldexp(static_cast<float>(man), -24);
    return sign ? -f : f;
  }
  if (exp == 31)
    bits = sign | 0x7f800000u | (man << 13);
  else
    bits = sign | ((exp + 112) << 23) | (man << 13);
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

/// The elements of a runtime array as float (f32, f16, bf16, ints, bool).
std::vector<float> toFloats(const ::attn::rt::Array &a) {
  size_t n = a.numElements();
  std::vector<float> out(n);
  const uint8_t *d = a.data.data();
  for (size_t i = 0; i < n; ++i) {
    switch (a.dtype) {
    case ::attn::rt::DType::F32:
      std::memcpy(&out[i], d + 4 * i, 4);
      break;
    case ::attn::rt::DType::F16: {
      uint16_t h;
      std::memcpy(&h, d + 2 * i, 2);
      out[i] = halfToFloat(h);
      break;
    }
    case ::attn::rt::DType::BF16: {
      uint16_t h;
      std::memcpy(&h, d + 2 * i, 2);
      uint32_t bits = static_cast<uint32_t>(h) << 16;
      std::memcpy(&out[i], &bits, 4);
      break;
    }
    case ::attn::rt::DType::I64: {
      int64_t v;
      std::memcpy(&v, d + 8 * i, 8);
      out[i] = static_cast<float>(v);
      break;
    }
    case ::attn::rt::DType::I32: {
      int32_t v;
      std::memcpy(&v, d + 4 * i, 4);
      out[i] = static_cast<float>(v);
      break;
    }
    default:
      out[i] = d[i] ? 1.0f : 0.0f;
    }
  }
  return out;
}

/// The additive bias [B, Hq, Sq, Skv] the op's mask, causal offset and KV
/// lengths amount to.
std::vector<float> biasOf(AttentionOp op, const ::attn::calib::AttentionSample &s,
                          const std::vector<float> *mask, bool maskIsBool,
                          ArrayRef<int64_t> maskShape,
                          const std::vector<float> *lens) {
  const float negInf = -std::numeric_limits<float>::infinity();
  std::vector<float> bias(s.batch * s.qHeads * s.queryLength * s.keyLength, 0);
  std::optional<int64_t> causal;
  if (IntegerAttr offset = op.getCausalOffsetAttr())
    causal = offset.getInt();
  size_t rank = maskShape.size();
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t h = 0; h < s.qHeads; ++h)
      for (int64_t i = 0; i < s.queryLength; ++i)
        for (int64_t j = 0; j < s.keyLength; ++j) {
          float &x = bias[((b * s.qHeads + h) * s.queryLength + i) * s.keyLength + j];
          if (causal && j > i + *causal)
            x = negInf;
          if (lens && j >= static_cast<int64_t>((*lens)[b]))
            x = negInf;
          if (mask) {
            int64_t coords[4] = {b, h, i, j}, index = 0;
            for (size_t d = 0; d < rank; ++d) {
              int64_t size = maskShape[d];
              int64_t c = size == 1 ? 0 : coords[4 - rank + d];
              index = index * size + c;
            }
            float m = (*mask)[index];
            if (maskIsBool)
              x = m != 0.0f ? x : negInf;
            else
              x += m;
          }
        }
  return bias;
}

/// biasOf from the probe's mask and KV-length outputs (either may be absent).
std::vector<float> biasOfProbe(AttentionOp op,
                               const ::attn::calib::AttentionSample &s,
                               const ::attn::rt::Array *mask,
                               const ::attn::rt::Array *lens) {
  std::vector<float> maskValues, lensValues;
  if (mask)
    maskValues = toFloats(*mask);
  if (lens)
    lensValues = toFloats(*lens);
  return biasOf(op, s, mask ? &maskValues : nullptr,
                mask && mask->dtype == ::attn::rt::DType::Bool,
                mask ? ArrayRef<int64_t>(mask->shape) : ArrayRef<int64_t>(),
                lens ? &lensValues : nullptr);
}

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
  std::vector<float> x = toFloats(a);
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

::attn::calib::AttentionSample
mlir::attn::compile::sampleShapes(const ::attn::rt::Array &q,
                                  const ::attn::rt::Array &k,
                                  const ::attn::rt::Array &v) {
  ::attn::calib::AttentionSample s;
  s.batch = q.shape[0];
  s.qHeads = q.shape[1];
  s.queryLength = q.shape[2];
  s.headDim = q.shape[3];
  s.kvHeads = k.shape[1];
  s.keyLength = k.shape[2];
  s.valueDim = v.shape[3];
  return s;
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

  // A copy that also returns every attention's operands: the model's own
  // results (the logits, through the last layers and the vocabulary
  // projection) are dead in it, so neither compiled nor run.
  auto sharedHere = [&](AttentionOp op) {
    return op.getNumResults() == 1 && int64_t(op.getKvHeads()) > newHeads;
  };
  FailureOr<compile::Probe> probe =
      compile::cloneProbe(module, sharedHere, ops.size(), error);
  // The caller's extra value of each attention of the probe's copy.
  SmallVector<Value> extras;
  if (succeeded(probe) && extraValue)
    for (AttentionOp op : probe->ops) {
      Value v = extraValue(op);
      if (!v) {
        error = "calibration: the probe cannot return a value of the "
                "attention at " + locationName(op.getLoc());
        return failure();
      }
      extras.push_back(v);
    }
  if (failed(probe) ||
      failed(compile::returnOperands(*probe, "__calibration",
                                     /*maskAndLens=*/true, error, extras)))
    return failure();

  std::vector<::attn::rt::Array> inputs;
  if (failed(compile::readCalibrationInputs(calibrationPath, inputs, error)))
    return failure();
  std::map<std::string, ::attn::rt::Array> outputs;
  if (failed(compile::runProbe(*probe->module, inputs, buildLibrary, outputs,
                               error)))
    return failure();

  // One sample per op, read serially (op attributes are not thread-safe);
  // the fits are independent and run in parallel.
  std::vector<std::vector<::attn::calib::AttentionSample>> samples(ops.size());
  for (auto [i, op] : llvm::enumerate(ops)) {
    auto get = [&](const char *part) -> const ::attn::rt::Array * {
      auto it = outputs.find(llvm::formatv("__calibration_{0}_{1}", i, part).str());
      return it == outputs.end() ? nullptr : &it->second;
    };
    const ::attn::rt::Array *q = get("q"), *k = get("k"), *v = get("v");
    if (!q || !k || !v) {
      error = "calibration: the probe lost an operand";
      return failure();
    }
    ::attn::calib::AttentionSample s = sampleShapes(*q, *k, *v);
    s.q = toFloats(*q);
    s.k = toFloats(*k);
    s.v = toFloats(*v);
    s.scale = op.getScale().convertToDouble();
    if (FloatAttr cap = op.getSoftcapAttr())
      s.softcap = cap.getValueAsDouble();
    s.bias = biasOfProbe(op, s, get("mask"), get("lens"));
    samples[i].push_back(std::move(s));
    if (extrasOut && !extras.empty()) {
      auto x = outputs.find(llvm::formatv("__calibration_{0}_extra", i).str());
      if (x == outputs.end()) {
        error = "calibration: the probe lost an operand";
        return failure();
      }
      extrasOut->push_back(std::move(x->second));
    }
  }
  outputs.clear();
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

LogicalResult mlir::attn::compile::collectAttentionSamples(
    ModuleOp module, ArrayRef<AttentionOp> ops,
    const std::string &calibrationPath,
    function_ref<LogicalResult(ModuleOp, const std::string &)> buildLibrary,
    std::vector<::attn::calib::AttentionSample> &samples, std::string &error) {
  samples.clear();
  if (ops.empty())
    return success();
  DenseSet<Operation *> picked;
  for (AttentionOp op : ops)
    picked.insert(op);
  // The probe's copies of `ops`: the same walk positions.
  SmallVector<int64_t> positions;
  int64_t position = 0;
  module.walk([&](AttentionOp op) {
    if (picked.contains(op))
      positions.push_back(position);
    ++position;
  });
  OwningOpRef<ModuleOp> copy = module.clone();
  Probe probe{std::move(copy), {}, {}};
  position = 0;
  size_t next = 0;
  probe.module->walk([&](AttentionOp op) {
    if (next < positions.size() && positions[next] == position) {
      probe.ops.push_back(op);
      ++next;
    }
    ++position;
  });
  probe.entry = probeEntry(*probe.module);
  if (!probe.entry || probe.ops.size() != ops.size()) {
    error = "calibration: cannot find the model function";
    return failure();
  }
  if (failed(returnOperands(probe, "__grouping", /*maskAndLens=*/true, error)))
    return failure();
  std::vector<::attn::rt::Array> inputs;
  if (failed(readCalibrationInputs(calibrationPath, inputs, error)))
    return failure();
  std::map<std::string, ::attn::rt::Array> outputs;
  if (failed(runProbe(*probe.module, inputs, buildLibrary, outputs, error)))
    return failure();
  for (size_t i = 0; i < ops.size(); ++i) {
    AttentionOp op = ops[i];
    auto take = [&](const char *part) -> std::optional<::attn::rt::Array> {
      auto it = outputs.find(llvm::formatv("__grouping_{0}_{1}", i, part).str());
      if (it == outputs.end())
        return std::nullopt;
      ::attn::rt::Array a = std::move(it->second);
      outputs.erase(it);
      return a;
    };
    std::optional<::attn::rt::Array> q = take("q"), k = take("k"),
                                     v = take("v");
    if (!q || !k || !v) {
      error = "calibration: the probe lost an operand";
      return failure();
    }
    ::attn::calib::AttentionSample s = sampleShapes(*q, *k, *v);
    s.k = toFloats(*k);
    s.v = toFloats(*v);
    s.scale = op.getScale().convertToDouble();
    std::optional<::attn::rt::Array> mask = take("mask"), lens = take("lens");
    s.bias =
        biasOfProbe(op, s, mask ? &*mask : nullptr, lens ? &*lens : nullptr);
    samples.push_back(std::move(s));
  }
  return success();
}
