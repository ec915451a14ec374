//===- Compiler.h - compile a model into a library or IR -------*- C++ -*-===//
//
// The compiler driver as a library: import (.mlir, .onnx), decode-model
// detection, KV-sharing calibration, attn-compile-pipeline, LLVM -O3 and
// the native link. attn-compile, the C API and Python all call this.
// Nothing here exits or prints: errors and diagnostics come back as text.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_COMPILER_COMPILER_H
#define ATTN_COMPILER_COMPILER_H

#include "attn/Compiler/CompileOptions.h"

#include "mlir/Support/LLVM.h"

#include <memory>
#include <string>
#include <vector>

namespace mlir::attn::compile {

/// The model to compile: a file, or bytes in memory.
struct ModelSource {
  /// A file (.mlir or .onnx, by extension), or, with `buffer` set, the name
  /// that diagnostics show for the buffer.
  std::string path;
  /// The model's bytes, when compiling from memory (else null).
  const std::string *buffer = nullptr;
  /// With `buffer`: "mlir" or "onnx".
  std::string format;
};

/// What a compilation gave back.
struct CompileResult {
  /// The IR (OutputKind other than Library).
  std::string text;
  /// The JSON report (docs/attn-compile.md), pretty-printed.
  std::string report;
  /// Informational lines for the user (share-kv calibration errors).
  std::string log;
  /// Warnings that are not MLIR diagnostics.
  std::vector<std::string> warnings;
  /// MLIR diagnostics as `LOCATION: error: MESSAGE` lines, with the source
  /// line where there is one.
  std::string diagnostics;
  /// On failure: what failed, in one sentence.
  std::string error;
};

/// Holds what compilations share (dialect registry, LLVM targets). One
/// session may compile several models, one at a time; each compilation has
/// its own MLIRContext, so nothing is kept from one to the next.
class Session {
public:
  /// With `commandLinePassOptions`, pass managers also take MLIR's
  /// command-line options (--mlir-print-ir-after-all, ...), which the
  /// caller must have registered (registerPassManagerCLOptions).
  explicit Session(bool commandLinePassOptions = false);
  ~Session();
  Session(const Session &) = delete;
  Session &operator=(const Session &) = delete;

  /// Compiles `source`. OutputKind::Library writes the library to
  /// `outputPath` (only once complete); the other kinds return the IR in
  /// `result.text` and also write it to `outputPath` unless that is "" or
  /// "-". Writes the report to `options.reportPath` if set.
  LogicalResult compile(const ModelSource &source,
                        const CompileOptions &options,
                        const std::string &outputPath, CompileResult &result);

private:
  struct Impl;
  std::unique_ptr<Impl> impl;
};

} // namespace mlir::attn::compile

#endif // ATTN_COMPILER_COMPILER_H
