//===- Prefill.cpp - a prompt model's run that starts --generate ---------===//

#include "Prefill.h"
#include "DeviceBuffers.h"
#include "Generate.h"
#include "GenerateSupport.h"
#include "RunSupport.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>

using namespace attn;
using namespace attn::run;

namespace {

float halfToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  int32_t exponent = (h >> 10) & 0x1f;
  uint32_t mantissa = h & 0x3ff;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else if (exponent != 0) {
    bits = sign | (uint32_t(exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;
  } else { // subnormal: normalise
    exponent = 113;
    while (!(mantissa & 0x400)) {
      mantissa <<= 1;
      --exponent;
    }
    bits = sign | (uint32_t(exponent) << 23) | ((mantissa & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

rt::Array int64Array(const std::string &name, int64_t value) {
  rt::Array a;
  a.name = name;
  a.dtype = rt::DType::I64;
  a.shape = {1, 1};
  a.data.resize(sizeof(int64_t));
  std::memcpy(a.data.data(), &value, sizeof value);
  return a;
}

} // namespace

float attn::run::floatAt(const AttnTensorInfo &info, const uint8_t *data,
                         int64_t index) {
  switch (info.dtype) {
  case ATTN_DTYPE_F32: return reinterpret_cast<const float *>(data)[index];
  case ATTN_DTYPE_F16:
    return halfToFloat(reinterpret_cast<const uint16_t *>(data)[index]);
  case ATTN_DTYPE_BF16: {
    uint32_t bits = uint32_t(reinterpret_cast<const uint16_t *>(data)[index])
                    << 16;
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
  }
  default:
    die("'" + std::string(info.name) + "' has dtype " +
        attnDTypeName(info.dtype) + "; logits must be float32, f16 or bf16");
  }
}

std::string attn::run::presentNameOf(const std::string &cache) {
  for (const char *past : {"past_key_values", "past"}) {
    size_t at = cache.find(past);
    if (at != std::string::npos)
      return cache.substr(0, at) + "present" +
             cache.substr(at + std::strlen(past));
  }
  return "";
}

Prefilled attn::run::prefill(AttnModel *prompt, const std::string &promptName,
                             AttnModel *step,
                             const std::vector<rt::Array> &arrays,
                             const std::string &inputsPath) {
  std::vector<AttnTensorInfo> inputs = tensorInfos(prompt, TensorKind::Input);
  std::vector<AttnTensorInfo> outputs = tensorInfos(prompt, TensorKind::Output);
  if (!tensorInfos(prompt, TensorKind::Inout).empty())
    die("--prefill needs a prompt-form model (no past inputs, no in-place "
        "caches); '" + promptName + "' has in-place caches");
  validateArrays(inputs, arrays, inputsPath);
  DecodeRoles roles = readDecodeRoles(attnModelGetSignature(step));

  std::vector<std::unique_ptr<Buffer>> storage;
  std::vector<const void *> in;
  for (const AttnTensorInfo &info : inputs) {
    storage.push_back(std::make_unique<Buffer>(size_t(info.num_bytes)));
    const rt::Array *a = findArray(arrays, info.name);
    if (!a->data.empty())
      std::memcpy(storage.back()->data, a->data.data(), a->data.size());
    in.push_back(storage.back()->data);
  }
  std::vector<void *> out, inouts;
  for (const AttnTensorInfo &info : outputs) {
    storage.push_back(std::make_unique<Buffer>(size_t(info.num_bytes)));
    out.push_back(storage.back()->data);
  }
  std::vector<void *> hostOut = out;
  auto start = std::chrono::steady_clock::now();
  {
    DeviceBuffers device(prompt);
    device.toDevice(in, inouts, out);
    runOnce(prompt, in, inouts, out);
    device.toHost(inouts, out);
  }
  auto end = std::chrono::steady_clock::now();

  Prefilled result;
  result.us = std::chrono::duration<double, std::micro>(end - start).count();
  auto outputIndex = [&](const std::string &name) -> int {
    for (size_t i = 0; i < outputs.size(); ++i)
      if (name == outputs[i].name)
        return int(i);
    return -1;
  };
  int logits = outputIndex(roles.logits);
  if (logits < 0)
    die("--prefill: '" + promptName + "' has no output '" + roles.logits +
        "' (the decode step's logits)");
  const AttnTensorInfo &li = outputs[size_t(logits)];
  if (li.rank != 3 || li.shape[0] != 1)
    die("--prefill: '" + promptName + "' gives logits " +
        shapeString(li.shape, size_t(li.rank)) + "; expected [1, S, vocab]");
  result.tokens = li.shape[1];
  int64_t vocab = li.shape[2];
  const auto *bytes = static_cast<const uint8_t *>(hostOut[size_t(logits)]);
  for (int64_t v = 0; v < vocab; ++v)
    result.row.push_back(floatAt(li, bytes, (result.tokens - 1) * vocab + v));
  result.token = int64_t(std::max_element(result.row.begin(), result.row.end()) -
                         result.row.begin());

  // The next position: one past the prompt's last position id.
  int64_t next = result.tokens;
  if (const rt::Array *pos = findArray(arrays, roles.positionIds);
      pos && pos->dtype == rt::DType::I64 && !pos->data.empty()) {
    int64_t last;
    std::memcpy(&last, pos->data.data() + pos->data.size() - sizeof last,
                sizeof last);
    next = last + 1;
  }
  result.state.push_back(int64Array(roles.inputIds, result.token));
  if (!roles.positionIds.empty())
    result.state.push_back(int64Array(roles.positionIds, next));
  for (const AttnTensorInfo &cache : tensorInfos(step, TensorKind::Inout)) {
    std::string present = presentNameOf(cache.name);
    int index = present.empty() ? -1 : outputIndex(present);
    if (index < 0)
      die("--prefill: the decode step's cache '" + std::string(cache.name) +
          "' has no present output '" + present + "' in '" + promptName + "'");
    const AttnTensorInfo &info = outputs[size_t(index)];
    rt::Array a;
    a.name = cache.name;
    a.dtype = rt::DType(info.dtype);
    a.shape.assign(info.shape, info.shape + info.rank);
    const auto *data = static_cast<const uint8_t *>(hostOut[size_t(index)]);
    a.data.assign(data, data + info.num_bytes);
    result.state.push_back(std::move(a));
  }
  return result;
}
