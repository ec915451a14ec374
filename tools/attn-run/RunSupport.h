//===- RunSupport.h - what attn-run's modes share ----------------*- C++ -*-===//

#ifndef ATTN_TOOLS_ATTN_RUN_RUNSUPPORT_H
#define ATTN_TOOLS_ATTN_RUN_RUNSUPPORT_H

#include "attn-c/Runtime.h"
#include "attn/Runtime/Npz.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace attn::run {

/// Prints "attn-run: error: MESSAGE" and exits with status 1.
[[noreturn]] void die(const std::string &message);

/// "[1, 4, 16]".
std::string shapeString(const int64_t *shape, size_t rank);

/// A zero-filled, 64-byte aligned host buffer.
struct Buffer {
  explicit Buffer(size_t size);
  ~Buffer();
  Buffer(const Buffer &) = delete;
  Buffer &operator=(const Buffer &) = delete;
  size_t size;
  uint8_t *data;
};

enum class TensorKind { Input, Output, Inout };

/// The model's inputs, outputs or inouts, in signature order.
std::vector<AttnTensorInfo> tensorInfos(AttnModel *model, TensorKind kind);

/// Checks `arrays` against the model tensors `expected` (inputs, or the
/// inouts when a plain run is given the caches); dies listing every
/// problem. Arrays named in `ignored` may be absent or extra.
void validateArrays(const std::vector<AttnTensorInfo> &expected,
                    const std::vector<rt::Array> &arrays,
                    const std::string &path,
                    const std::vector<std::string> &ignored = {});

/// The array named `name`, or null.
const rt::Array *findArray(const std::vector<rt::Array> &arrays,
                           const std::string &name);

/// Runs the model (with inout buffers when it has them); dies on error.
void runOnce(AttnModel *model, const std::vector<const void *> &inputs,
             const std::vector<void *> &inouts,
             const std::vector<void *> &outputs);

/// Median of `times` (sorted in place).
double median(std::vector<double> &times);

} // namespace attn::run

#endif // ATTN_TOOLS_ATTN_RUN_RUNSUPPORT_H
