//===- GenerateSupport.h - helpers of the --generate loops ------*- C++ -*-===//
//
// What the single-sequence (Generate.cpp) and the ragged-batch
// (GenerateBatch.cpp) greedy loops share: element access to fed inputs and
// the device copies of a CUDA model's buffers.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TOOLS_ATTN_RUN_GENERATESUPPORT_H
#define ATTN_TOOLS_ATTN_RUN_GENERATESUPPORT_H

#include "RunSupport.h"

#include "attn-c/Runtime.h"

#include <cstdint>
#include <string>
#include <vector>

namespace attn::run {

inline int64_t numElements(const AttnTensorInfo &info) {
  int64_t n = 1;
  for (int32_t i = 0; i < info.rank; ++i)
    n *= info.shape[i];
  return n;
}

/// Sets element `index` of an integer, float or bool tensor to `value`.
inline void fill(const AttnTensorInfo &info, uint8_t *data, int64_t index,
                 int64_t value) {
  switch (info.dtype) {
  case ATTN_DTYPE_I64: reinterpret_cast<int64_t *>(data)[index] = value; return;
  case ATTN_DTYPE_I32:
    reinterpret_cast<int32_t *>(data)[index] = int32_t(value);
    return;
  case ATTN_DTYPE_F32:
    reinterpret_cast<float *>(data)[index] = float(value);
    return;
  case ATTN_DTYPE_BOOL:
  case ATTN_DTYPE_U8:
  case ATTN_DTYPE_I8: data[index] = uint8_t(value); return;
  default:
    die("input '" + std::string(info.name) + "' has dtype " +
        attnDTypeName(info.dtype) +
        "; --generate feeds int64, int32, float32 or bool ids and masks");
  }
}

inline int64_t readInt(const AttnTensorInfo &info, const uint8_t *data,
                int64_t index) {
  switch (info.dtype) {
  case ATTN_DTYPE_I64: return reinterpret_cast<const int64_t *>(data)[index];
  case ATTN_DTYPE_I32: return reinterpret_cast<const int32_t *>(data)[index];
  default:
    die("input '" + std::string(info.name) + "' has dtype " +
        attnDTypeName(info.dtype) + "; --generate expects int64 or int32 ids");
  }
}

/// Device copies of a CUDA model's buffers for --generate: the caches are
/// copied once and stay on the device between steps; each step copies the
/// fed inputs (ids, positions, mask) in and the outputs (logits) out.
class StepBuffers {
public:
  StepBuffers(AttnModel *model, const std::vector<AttnTensorInfo> &inputs,
              const std::vector<AttnTensorInfo> &inouts,
              const std::vector<AttnTensorInfo> &outputs)
      : cuda(attnModelGetDevice(model) == ATTN_DEVICE_CUDA), inputs(inputs),
        inouts(inouts), outputs(outputs) {}
  ~StepBuffers() {
    for (void *p : allocated)
      attnCudaFree(p);
  }
  StepBuffers(const StepBuffers &) = delete;
  StepBuffers &operator=(const StepBuffers &) = delete;

  /// Allocates the device buffers and uploads the caches' past.
  void prepare(const std::vector<void *> &hostInouts) {
    if (!cuda)
      return;
    for (const AttnTensorInfo &info : inputs)
      deviceInputs.push_back(allocate(info));
    for (size_t i = 0; i < inouts.size(); ++i) {
      deviceInouts.push_back(allocate(inouts[i]));
      copy(deviceInouts.back(), hostInouts[i], inouts[i], "to");
    }
    for (const AttnTensorInfo &info : outputs)
      deviceOutputs.push_back(allocate(info));
  }

  /// One step: on the host buffers for a CPU model; for a CUDA model the
  /// inputs go to the device and the outputs come back.
  void run(AttnModel *model, const std::vector<const void *> &hostInputs,
           const std::vector<void *> &hostInouts,
           const std::vector<void *> &hostOutputs) {
    if (!cuda) {
      runOnce(model, hostInputs, hostInouts, hostOutputs);
      return;
    }
    for (size_t i = 0; i < inputs.size(); ++i)
      copy(deviceInputs[i], hostInputs[i], inputs[i], "to");
    std::vector<const void *> in(deviceInputs.begin(), deviceInputs.end());
    runOnce(model, in, deviceInouts, deviceOutputs);
    for (size_t i = 0; i < outputs.size(); ++i)
      copy(hostOutputs[i], deviceOutputs[i], outputs[i], "from");
  }

private:
  void *allocate(const AttnTensorInfo &info) {
    void *device = nullptr;
    if (attnCudaMalloc(size_t(info.num_bytes), &device) != ATTN_OK)
      die(std::string("cannot allocate '") + info.name + "' on the GPU: " +
          attnGetLastError());
    allocated.push_back(device);
    return device;
  }
  static void copy(void *dst, const void *src, const AttnTensorInfo &info,
                   const char *direction) {
    if (attnCudaMemcpy(dst, src, size_t(info.num_bytes)) != ATTN_OK)
      die(std::string("cannot copy '") + info.name + "' " + direction +
          " the GPU: " + attnGetLastError());
  }

  bool cuda;
  const std::vector<AttnTensorInfo> &inputs, &inouts, &outputs;
  std::vector<void *> allocated, deviceInputs, deviceInouts, deviceOutputs;
};

} // namespace attn::run

#endif // ATTN_TOOLS_ATTN_RUN_GENERATESUPPORT_H
