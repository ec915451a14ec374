//===- NativeLibrary.h - LLVM IR to an optimised shared library -*- C++ -*-===//

#ifndef ATTN_COMPILER_NATIVELIBRARY_H
#define ATTN_COMPILER_NATIVELIBRARY_H

#include "attn/Pipelines/CpuTarget.h"

#include "llvm/IR/Module.h"
#include "llvm/Target/TargetMachine.h"

#include <memory>
#include <string>

namespace mlir::attn::compile {

/// How hard LLVM optimises: Full (-O3, the libraries attn-compile writes)
/// or Quick (-O1 and the default code generation level: the calibration
/// probes, compiled for one run).
enum class LlvmEffort { Full, Quick };

/// A TargetMachine for `target` (resolveCpuTarget: the same CPU and
/// features that chose the vector widths), position-independent, at -O3
/// (-O2 code generation with `effort` Quick). Null and `error` set when the
/// target cannot make one.
std::unique_ptr<llvm::TargetMachine>
createTargetMachine(const CpuTarget &target, std::string &error,
                    LlvmEffort effort = LlvmEffort::Full);

/// Gives every definition but the runtime's entry points internal linkage,
/// so the library exports only those and LLVM may inline everything else.
void internalizeModel(llvm::Module &module);

/// Sets the target, then runs LLVM's -O3 pipeline (-O1 with `effort`
/// Quick).
void optimizeModule(llvm::Module &module, llvm::TargetMachine &machine,
                    LlvmEffort effort = LlvmEffort::Full);

/// Writes an object file and links it into the shared library `outPath`
/// with the system C compiler (against `runtimeLibrary` if not empty). The
/// library appears at `outPath` only once it is complete.
bool writeSharedLibrary(llvm::Module &module, llvm::TargetMachine &machine,
                        const std::string &runtimeLibrary,
                        const std::string &outPath, std::string &error);

} // namespace mlir::attn::compile

#endif // ATTN_COMPILER_NATIVELIBRARY_H
