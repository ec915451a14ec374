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
#include <random>
#include <sstream>
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

/// The role of a paged decode step's block table (`role block_table NAME`
/// in the signature, docs/runtime-abi.md).
constexpr const char *kBlockTable = "block_table";

/// The name of the buffer with role `role` in `signature`; "" if none.
/// (attn-compile names the block table after its role, so the name needs
/// no unescaping.)
inline std::string findRole(const std::string &signature,
                            const std::string &role) {
  std::istringstream lines(signature);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string keyword, lineRole, name;
    if (fields >> keyword >> lineRole >> name && keyword == "role" &&
        lineRole == role)
      return name;
  }
  return "";
}

/// Page numbers for a block table [rows, columns] over a pool of `pages`
/// pages: the first `used` columns of every row get distinct pages in a
/// shuffled but fixed order (so that a row's pages are neither contiguous
/// nor in order, which a kernel that ignored the table would get wrong);
/// the other columns, never read, get -1.
inline std::vector<int64_t> shuffledPages(int64_t rows, int64_t columns,
                                          int64_t used, int64_t pages) {
  auto order = std::vector<int64_t>(static_cast<size_t>(pages));
  for (int64_t i = 0; i < pages; ++i)
    order[size_t(i)] = i;
  // Fisher-Yates with a fixed seed; the modulo keeps it the same on every
  // standard library (std::shuffle's draws are implementation-defined).
  std::mt19937_64 random(20261201);
  for (int64_t i = pages - 1; i > 0; --i)
    std::swap(order[size_t(i)], order[size_t(random() % uint64_t(i + 1))]);
  std::vector<int64_t> table(size_t(rows * columns), -1);
  for (int64_t b = 0; b < rows; ++b)
    for (int64_t c = 0; c < used; ++c)
      table[size_t(b * columns + c)] = order[size_t(b * used + c)];
  return table;
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
