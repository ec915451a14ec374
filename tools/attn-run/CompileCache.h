//===- CompileCache.h - compile .mlir/.onnx models for attn-run -*- C++ -*-===//

#ifndef ATTN_TOOLS_ATTN_RUN_COMPILECACHE_H
#define ATTN_TOOLS_ATTN_RUN_COMPILECACHE_H

#include <string>
#include <vector>

namespace attn::run {

/// Compiles `model` with the attn-compile next to this executable (or
/// $ATTN_COMPILE) and `compileArgs`, unless the cache already holds the
/// result for the same model bytes, attn-compile binary and arguments.
/// The cache lives in $ATTN_MLIR_CACHE_DIR, else $XDG_CACHE_HOME/attn-mlir,
/// else ~/.cache/attn-mlir. Returns the library's path, or "" with `error`.
std::string compileCached(const std::string &model,
                          const std::vector<std::string> &compileArgs,
                          std::string &error);

} // namespace attn::run

#endif // ATTN_TOOLS_ATTN_RUN_COMPILECACHE_H
