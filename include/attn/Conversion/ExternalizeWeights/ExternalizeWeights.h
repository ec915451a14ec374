//===- ExternalizeWeights.h - weights in a parameter file -------*- C++ -*-===//
//
// What `attn-externalize-weights` leaves on a module, the parameter file's
// layout (docs/runtime-abi.md) and the driver-side writer of that file.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CONVERSION_EXTERNALIZEWEIGHTS_EXTERNALIZEWEIGHTS_H
#define ATTN_CONVERSION_EXTERNALIZEWEIGHTS_EXTERNALIZEWEIGHTS_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <string>

namespace mlir::attn {

/// Module attribute set by attn-externalize-weights: a dictionary with
/// `file` (the name in the signature), `size` and `hash` (i64, as in the
/// header) and `entries`, an array of {name, offset, value} dictionaries.
constexpr llvm::StringLiteral kParametersAttr = "attn.parameters";
/// The exported `void attn_model_bind_params(const void *base)`.
constexpr llvm::StringLiteral kBindParamsName = "attn_model_bind_params";
/// The exported `void attn_model_bind_param_files(const void *const *bases)`
/// of a model with external data files (signature version 4): one base per
/// params line, in the signature's order.
constexpr llvm::StringLiteral kBindParamFilesName =
    "attn_model_bind_param_files";
/// Module attribute set by the ONNX importer: blob key -> {file (absolute
/// path), offset} for constants whose bytes are a range of an external data
/// file. attn-externalize-weights reads and removes it.
constexpr llvm::StringLiteral kExternalDataAttr = "attn.external_data";
/// The internal global that holds the bound base address.
constexpr llvm::StringLiteral kParamsBaseName = "__attn_params_base";

/// The file starts with a header of this many bytes: the 8-byte magic, then
/// little-endian u64 file size and u64 hash; the rest is zero. Entries
/// follow at 64-byte aligned offsets from the start of the file.
constexpr int64_t kParamsHeaderBytes = 64;
constexpr char kParamsMagic[8] = {'A', 'T', 'T', 'N', 'P', 'R', 'M', '1'};
constexpr int64_t kParamsAlignment = 64;

/// The parameter file that attn-compile writes next to `libraryPath`: its
/// file name plus ".params" (what the pass's params-file option names).
std::string parameterFileName(llvm::StringRef libraryPath);

/// Writes the parameter file that `module`'s `attn.parameters` describes
/// into the directory of `libraryPath` (atomically), then removes the
/// attribute; `path` receives the file's path. A module without the
/// attribute needs no file: success with `path` empty. With
/// `releaseWeights`, the `dense_resource` blobs written are freed afterwards
/// (their attributes then read as unavailable): pass it only when no other
/// module of the context still needs them (not for calibration probes).
LogicalResult writeParameterFile(ModuleOp module, llvm::StringRef libraryPath,
                                 std::string &path, std::string &error,
                                 bool releaseWeights = false);

} // namespace mlir::attn

#endif // ATTN_CONVERSION_EXTERNALIZEWEIGHTS_EXTERNALIZEWEIGHTS_H
