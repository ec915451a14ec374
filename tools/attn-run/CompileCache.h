//===- CompileCache.h - compile .mlir/.onnx models for attn-run -*- C++ -*-===//

#ifndef ATTN_TOOLS_ATTN_RUN_COMPILECACHE_H
#define ATTN_TOOLS_ATTN_RUN_COMPILECACHE_H

#include <string>
#include <vector>

namespace attn::run {

/// Compiles `model` with the attn-compile next to this executable (or
/// $ATTN_COMPILE) and `compileArgs`, unless the cache already holds the
/// result for the same model bytes (an ONNX model's external-data files
/// included), attn-compile binary and arguments. The cache lives in
/// `cacheDir` when it is not empty, else $ATTN_MLIR_CACHE_DIR, else
/// $XDG_CACHE_HOME/attn-mlir, else ~/.cache/attn-mlir. Returns the
/// library's path, or "" with `error`.
std::string compileCached(const std::string &model,
                          const std::vector<std::string> &compileArgs,
                          const std::string &cacheDir, std::string &error);

/// The external-data files an ONNX model refers to (the `location` of each
/// tensor stored outside it, in the graph, subgraphs and functions), as
/// written in the model: relative to the model's directory. Empty for a
/// model that is not ONNX or that keeps all data inside.
std::vector<std::string> onnxExternalDataFiles(const std::string &bytes);

} // namespace attn::run

#endif // ATTN_TOOLS_ATTN_RUN_COMPILECACHE_H
