//===- ModelSignature.h - parse a compiled model's signature ----*- C++ -*-===//
//
// A compiled model describes its buffers in the text constant
// `attn_model_signature`; docs/runtime-abi.md defines the format.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_RUNTIME_MODELSIGNATURE_H
#define ATTN_LIB_RUNTIME_MODELSIGNATURE_H

#include "attn-c/Runtime.h"

#include <optional>
#include <string>
#include <vector>

namespace attn::rt {

struct TensorSignature {
  std::string name;
  AttnDType dtype = ATTN_DTYPE_F32;
  std::vector<int64_t> shape;
  uint64_t numBytes = 0;
};

/// The `params FILE SIZE HASH` line (version 3): the model's weights are in
/// FILE, next to the library, which the runtime maps at load time.
struct ParamsSignature {
  std::string file; ///< a file name in the library's directory (no '/')
  uint64_t size = 0;
  uint64_t hash = 0;
};

/// A `params-external PATH SIZE FINGERPRINT` line (version 4): weights read
/// in place from a file of SIZE bytes (an ONNX model's external data), PATH
/// relative to the library's directory unless absolute.
struct ExternalParamsSignature {
  std::string path;
  uint64_t size = 0;
  uint64_t fingerprint = 0; ///< attn::externalFingerprint of the file
};

/// The three lists a buffer of attn_model_run can belong to.
enum class BufferKind { Input, Output, Inout };

struct ModelSignature {
  int version = 0;
  AttnDevice device = ATTN_DEVICE_CPU;
  std::vector<TensorSignature> inputs, outputs, inouts;
  /// Set when the model reads its weights from a parameter file.
  std::optional<ParamsSignature> params;
  /// The external data files, in the order of their lines.
  std::vector<ExternalParamsSignature> externals;
  /// For each argument of attn_model_run, in order: its list and index.
  std::vector<std::pair<BufferKind, int>> buffers;

  std::vector<TensorSignature> &list(BufferKind kind) {
    return kind == BufferKind::Input    ? inputs
           : kind == BufferKind::Output ? outputs
                                        : inouts;
  }
  const std::vector<TensorSignature> &list(BufferKind kind) const {
    return const_cast<ModelSignature *>(this)->list(kind);
  }
};

/// The oldest signature version this runtime reads (the newest is
/// ATTN_MODEL_ABI_VERSION).
constexpr int kOldestModelAbiVersion = 1;

/// Parses `text`; on error returns false and sets `error`.
bool parseModelSignature(const std::string &text, ModelSignature &signature,
                         std::string &error);

/// AttnDType of a dtype name ("f32", ...); false for an unknown name.
bool dtypeFromName(const std::string &name, AttnDType &dtype);

} // namespace attn::rt

#endif // ATTN_LIB_RUNTIME_MODELSIGNATURE_H
