//===- ParameterFile.h - map a compiled model's parameter file --*- C++ -*-===//
//
// A model compiled with large weights reads them from FILE next to its
// library (docs/runtime-abi.md, "Parameter files"); the runtime maps the file
// read-only, without copying it, and hands its address to the library.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_RUNTIME_PARAMETERFILE_H
#define ATTN_LIB_RUNTIME_PARAMETERFILE_H

#include "ModelSignature.h"

#include <memory>
#include <string>
#include <vector>

namespace attn::rt {

/// A read-only mapping of a parameter file, unmapped when destroyed.
class ParameterFile {
public:
  ParameterFile(const ParameterFile &) = delete;
  ParameterFile &operator=(const ParameterFile &) = delete;
  ~ParameterFile();

  /// Maps the file `params` names in the directory of `libraryPath` and
  /// checks its size and header against the signature; null with `error`.
  static std::unique_ptr<ParameterFile> map(const std::string &libraryPath,
                                            const ParamsSignature &params,
                                            std::string &error);

  /// Maps the external data file `external` names (relative to the
  /// directory of `libraryPath` unless absolute; with $ATTN_PARAMS_DIR set,
  /// its file name in that directory) and checks its size and fingerprint.
  static std::unique_ptr<ParameterFile>
  mapExternal(const std::string &libraryPath,
              const ExternalParamsSignature &external, std::string &error);

  const void *data() const { return data_; }

private:
  ParameterFile(void *data, size_t size) : data_(data), size_(size) {}
  void *data_;
  size_t size_;
};

/// Every file a model reads weights from, in the order of the signature's
/// lines: the parameter file (if any), then each external data file.
struct ParameterFiles {
  std::vector<std::unique_ptr<ParameterFile>> files;
};

/// Maps every file `signature` names; null with `error` if one fails.
std::unique_ptr<ParameterFiles>
mapParameterFiles(const std::string &libraryPath,
                  const ModelSignature &signature, std::string &error);

} // namespace attn::rt

#endif // ATTN_LIB_RUNTIME_PARAMETERFILE_H
