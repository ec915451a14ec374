//===- AttentionSamples.cpp - attention operands read by a probe ---------===//
//
// The probe every calibration runs first: a copy of the model that returns
// the operands of the attentions to convert (what only the model's own
// outputs need is dead there), run on the calibration inputs, read back as
// one lib/Calibration sample per attention.
//
//===----------------------------------------------------------------------===//

#include "attn/Compiler/AttentionSamples.h"

#include "attn/Compiler/CompileReport.h"
#include "attn/Compiler/KVCalibration.h"
#include "attn/Runtime/Npz.h"

#include "llvm/ADT/DenseSet.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <optional>

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

/// A sample with the sizes of a probe's attention operands q [B, Hq, Sq, D],
/// k [B, Hkv, Skv, D] and v [B, Hkv, Skv, Dv] (no values yet).
::attn::calib::AttentionSample sampleShapes(const ::attn::rt::Array &q,
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

/// The probe's copies of `ops`: the attentions at the same walk positions.
FailureOr<compile::Probe> cloneProbeOf(ModuleOp module,
                                       ArrayRef<AttentionOp> ops,
                                       std::string &error) {
  llvm::DenseSet<Operation *> picked;
  for (AttentionOp op : ops)
    picked.insert(op);
  std::vector<bool> atPosition;
  module.walk([&](AttentionOp op) { atPosition.push_back(picked.contains(op)); });
  size_t position = 0;
  return compile::cloneProbe(
      module, [&](AttentionOp) { return atPosition[position++]; }, ops.size(),
      error);
}

} // namespace

std::vector<float> mlir::attn::compile::arrayFloats(const ::attn::rt::Array &a) {
  return toFloats(a);
}

LogicalResult mlir::attn::compile::probeAttentionSamples(
    ModuleOp module, ArrayRef<AttentionOp> ops, SampleParts parts,
    const std::string &calibrationPath,
    function_ref<LogicalResult(ModuleOp, const std::string &)> buildLibrary,
    std::vector<::attn::calib::AttentionSample> &samples, std::string &error,
    function_ref<Value(AttentionOp)> extraValue,
    std::vector<::attn::rt::Array> *extras,
    std::vector<::attn::rt::Array> *inputsOut) {
  samples.clear();
  if (ops.empty())
    return success();
  FailureOr<Probe> probe = cloneProbeOf(module, ops, error);
  if (failed(probe))
    return failure();
  SmallVector<Value> extraValues;
  if (extraValue)
    for (AttentionOp op : probe->ops) {
      Value v = extraValue(op);
      if (!v) {
        error = "calibration: the probe cannot return a value of the "
                "attention at " + locationName(op.getLoc());
        return failure();
      }
      extraValues.push_back(v);
    }
  const char *prefix = "__calibration";
  if (failed(returnOperands(*probe, prefix, /*maskAndLens=*/parts.bias, error,
                            extraValues)))
    return failure();

  std::vector<::attn::rt::Array> inputs;
  if (failed(readCalibrationInputs(calibrationPath, inputs, error)))
    return failure();
  std::map<std::string, ::attn::rt::Array> outputs;
  if (failed(runProbe(*probe->module, inputs, buildLibrary, outputs, error)))
    return failure();

  // Read serially (op attributes are not thread-safe), each array released
  // once its sample has it.
  for (size_t i = 0; i < ops.size(); ++i) {
    AttentionOp op = ops[i];
    auto take = [&](const char *part) -> std::optional<::attn::rt::Array> {
      auto it = outputs.find(llvm::formatv("{0}_{1}_{2}", prefix, i, part).str());
      if (it == outputs.end())
        return std::nullopt;
      ::attn::rt::Array a = std::move(it->second);
      outputs.erase(it);
      return a;
    };
    std::optional<::attn::rt::Array> q = take("q"), k = take("k"),
                                     v = take("v");
    std::optional<::attn::rt::Array> extra;
    if (extraValue)
      extra = take("extra");
    if (!q || !k || !v || (extraValue && !extra)) {
      error = "calibration: the probe lost an operand";
      return failure();
    }
    ::attn::calib::AttentionSample s = sampleShapes(*q, *k, *v);
    if (parts.queries)
      s.q = toFloats(*q);
    s.k = toFloats(*k);
    s.v = toFloats(*v);
    s.scale = op.getScale().convertToDouble();
    if (FloatAttr cap = op.getSoftcapAttr())
      s.softcap = cap.getValueAsDouble();
    if (parts.bias) {
      std::optional<::attn::rt::Array> mask = take("mask"), lens = take("lens");
      s.bias = biasOfProbe(op, s, mask ? &*mask : nullptr,
                           lens ? &*lens : nullptr);
    }
    samples.push_back(std::move(s));
    if (extras && extra)
      extras->push_back(std::move(*extra));
  }
  if (inputsOut)
    *inputsOut = std::move(inputs);
  return success();
}
