//===- NativeLibrary.cpp - LLVM IR to an optimised shared library ---------===//

#include "attn/Compiler/NativeLibrary.h"

#include "llvm/IR/LegacyPassManager.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;
using namespace mlir::attn::compile;

std::unique_ptr<TargetMachine>
mlir::attn::compile::createTargetMachine(const CpuTarget &cpu,
                                         std::string &error,
                                         LlvmEffort effort) {
  InitializeNativeTarget();
  InitializeNativeTargetAsmPrinter();
  Triple triple(cpu.triple);
  const Target *target = TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return nullptr;
  std::unique_ptr<TargetMachine> machine(target->createTargetMachine(
      triple, cpu.cpu, cpu.features, TargetOptions(), Reloc::PIC_,
      std::nullopt,
      effort == LlvmEffort::Full ? CodeGenOptLevel::Aggressive
                                 : CodeGenOptLevel::Default));
  if (!machine) {
    error = "cannot create a target machine for " + triple.str();
    return nullptr;
  }
  return machine;
}

void mlir::attn::compile::internalizeModel(Module &module) {
  auto exported = [](StringRef name) {
    return name == "attn_model_run" || name == "attn_model_signature" ||
           name == "attn_model_bind_params" ||
           name == "attn_model_bind_param_files";
  };
  for (Function &f : module)
    if (!f.isDeclaration() && !exported(f.getName()))
      f.setLinkage(GlobalValue::InternalLinkage);
  for (GlobalVariable &g : module.globals())
    if (!g.isDeclaration() && !g.hasAppendingLinkage() &&
        !exported(g.getName()))
      g.setLinkage(GlobalValue::InternalLinkage);
}

void mlir::attn::compile::optimizeModule(Module &module, TargetMachine &machine,
                                         LlvmEffort effort) {
  module.setTargetTriple(machine.getTargetTriple());
  module.setDataLayout(machine.createDataLayout());
  std::string cpu = machine.getTargetCPU().str();
  std::string features = machine.getTargetFeatureString().str();
  for (Function &f : module) {
    if (f.isDeclaration())
      continue;
    f.addFnAttr("target-cpu", cpu);
    if (!features.empty())
      f.addFnAttr("target-features", features);
  }

  LoopAnalysisManager lam;
  FunctionAnalysisManager fam;
  CGSCCAnalysisManager cgam;
  ModuleAnalysisManager mam;
  PipelineTuningOptions tuning;
  tuning.LoopVectorization = true;
  tuning.SLPVectorization = true;
  PassBuilder builder(&machine, tuning);
  builder.registerModuleAnalyses(mam);
  builder.registerCGSCCAnalyses(cgam);
  builder.registerFunctionAnalyses(fam);
  builder.registerLoopAnalyses(lam);
  builder.crossRegisterProxies(lam, fam, cgam, mam);
  ModulePassManager passes = builder.buildPerModuleDefaultPipeline(
      effort == LlvmEffort::Full ? OptimizationLevel::O3
                                 : OptimizationLevel::O1);
  passes.run(module, mam);
}

namespace {

std::string findCCompiler() {
  for (const char *name : {"cc", "gcc", "clang"})
    if (auto path = sys::findProgramByName(name))
      return *path;
  return "";
}

} // namespace

bool mlir::attn::compile::writeSharedLibrary(Module &module, TargetMachine &machine,
                                       const std::string &runtimeLibrary,
                                       const std::string &outPath,
                                       std::string &error) {
  SmallString<128> objPath;
  int objFd;
  if (std::error_code ec =
          sys::fs::createTemporaryFile("attn-compile", "o", objFd, objPath)) {
    error = "cannot create a temporary object file: " + ec.message();
    return false;
  }
  FileRemover objRemover(objPath);
  {
    raw_fd_ostream os(objFd, /*shouldClose=*/true);
    legacy::PassManager codegen;
    if (machine.addPassesToEmitFile(codegen, os, nullptr,
                                    CodeGenFileType::ObjectFile)) {
      error = "the target cannot emit object files";
      return false;
    }
    codegen.run(module);
    os.flush();
    if (os.has_error()) {
      error = "cannot write '" + objPath.str().str() + "'";
      return false;
    }
  }

  std::string cc = findCCompiler();
  if (cc.empty()) {
    error = "no C compiler (cc, gcc or clang) on PATH to link the library";
    return false;
  }
  // Link next to the output, then rename: no partial library on failure.
  SmallString<128> tmpPath;
  int tmpFd;
  if (std::error_code ec =
          sys::fs::createUniqueFile(outPath + ".tmp-%%%%%%", tmpFd, tmpPath)) {
    error = "cannot write '" + outPath + "': " + ec.message();
    return false;
  }
  sys::Process::SafelyCloseFileDescriptor(tmpFd);
  FileRemover tmpRemover(tmpPath);

  std::vector<std::string> args = {cc, "-shared", "-o", tmpPath.str().str(),
                                   objPath.str().str()};
  if (!runtimeLibrary.empty()) {
    // DT_NEEDED on the runtime: __kmpc_* and memrefCopy resolve there even
    // when the runtime was loaded with RTLD_LOCAL (e.g. by Python's ctypes).
    args.push_back(runtimeLibrary);
    args.push_back("-Wl,-rpath,$ORIGIN");
    args.push_back("-Wl,--no-undefined");
  }
  args.push_back("-lm");
  SmallVector<StringRef> argRefs(args.begin(), args.end());
  std::string message;
  int rc = sys::ExecuteAndWait(cc, argRefs, std::nullopt, {}, 0, 0, &message);
  if (rc != 0) {
    error = "linking with '" + cc + "' failed" +
            (message.empty() ? "" : ": " + message) + " (exit code " +
            std::to_string(rc) + ")";
    return false;
  }
  if (std::error_code ec = sys::fs::rename(tmpPath, outPath)) {
    error = "cannot write '" + outPath + "': " + ec.message();
    return false;
  }
  tmpRemover.releaseFile();
  return true;
}
