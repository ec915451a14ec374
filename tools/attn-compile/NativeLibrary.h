//===- NativeLibrary.h - LLVM IR to an optimised shared library -*- C++ -*-===//

#ifndef ATTN_TOOLS_ATTN_COMPILE_NATIVELIBRARY_H
#define ATTN_TOOLS_ATTN_COMPILE_NATIVELIBRARY_H

#include "llvm/IR/Module.h"
#include "llvm/Target/TargetMachine.h"

#include <memory>
#include <string>

namespace mlir::attn::compile {

/// A TargetMachine for the host triple and `cpu` ("native": the host CPU
/// and its features), position-independent, at -O3. Null and `error` set
/// for an unknown CPU.
std::unique_ptr<llvm::TargetMachine> createHostTargetMachine(
    const std::string &cpu, std::string &error);

/// Gives every definition but the runtime's entry points internal linkage,
/// so the library exports only those and LLVM may inline everything else.
void internalizeModel(llvm::Module &module);

/// Sets the target, then runs LLVM's -O3 pipeline.
void optimizeModule(llvm::Module &module, llvm::TargetMachine &machine);

/// Writes an object file and links it into the shared library `outPath`
/// with the system C compiler (against `runtimeLibrary` if not empty). The
/// library appears at `outPath` only once it is complete.
bool writeSharedLibrary(llvm::Module &module, llvm::TargetMachine &machine,
                        const std::string &runtimeLibrary,
                        const std::string &outPath, std::string &error);

} // namespace mlir::attn::compile

#endif // ATTN_TOOLS_ATTN_COMPILE_NATIVELIBRARY_H
