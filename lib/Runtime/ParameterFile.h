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

  const void *data() const { return data_; }

private:
  ParameterFile(void *data, size_t size) : data_(data), size_(size) {}
  void *data_;
  size_t size_;
};

} // namespace attn::rt

#endif // ATTN_LIB_RUNTIME_PARAMETERFILE_H
