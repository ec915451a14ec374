//===- ParameterFile.h - map a compiled model's parameter file --*- C++ -*-===//
//
// A model compiled with large weights reads them from FILE next to its
// library (docs/runtime-abi.md, "Parameter files"); the runtime holds the
// file read-only, copied into huge pages or mapped ($ATTN_PARAMS_LOAD), and
// hands its address to the library.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_RUNTIME_PARAMETERFILE_H
#define ATTN_LIB_RUNTIME_PARAMETERFILE_H

#include "ModelSignature.h"

#include <memory>
#include <string>
#include <vector>

namespace attn::rt {

/// The memory a parameter file occupies: what munmap releases.
struct Mapping {
  void *base = nullptr;
  size_t length = 0;
};

/// A parameter file held read-only in memory, released when destroyed.
class ParameterFile {
public:
  ParameterFile(const ParameterFile &) = delete;
  ParameterFile &operator=(const ParameterFile &) = delete;
  ~ParameterFile();

  /// Holds the file `params` names in the directory of `libraryPath` and
  /// checks its size and header against the signature; null with `error`.
  /// `how`: see chooseLoadMode in ParameterFile.cpp; `readByCpu`: the
  /// model's code reads the weights (a CPU model, not a GPU model's upload).
  static std::unique_ptr<ParameterFile> map(const std::string &libraryPath,
                                            const ParamsSignature &params,
                                            AttnParamsLoad how, bool readByCpu,
                                            std::string &error);

  /// Holds the external data file `external` names (relative to the
  /// directory of `libraryPath` unless absolute; with $ATTN_PARAMS_DIR set,
  /// its file name in that directory) and checks its size and fingerprint.
  static std::unique_ptr<ParameterFile>
  mapExternal(const std::string &libraryPath,
              const ExternalParamsSignature &external, AttnParamsLoad how,
              bool readByCpu, std::string &error);

  const void *data() const { return data_; }

private:
  ParameterFile(void *data, Mapping mapping)
      : data_(data), mapping_(mapping) {}
  void *data_;
  Mapping mapping_;
};

/// Every file a model reads weights from, in the order of the signature's
/// lines: the parameter file (if any), then each external data file.
struct ParameterFiles {
  std::vector<std::unique_ptr<ParameterFile>> files;
};

/// Holds every file `signature` names as `how` says; null with `error` if
/// one fails.
std::unique_ptr<ParameterFiles>
mapParameterFiles(const std::string &libraryPath,
                  const ModelSignature &signature, AttnParamsLoad how,
                  std::string &error);

} // namespace attn::rt

#endif // ATTN_LIB_RUNTIME_PARAMETERFILE_H
