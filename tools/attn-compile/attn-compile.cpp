//===- attn-compile.cpp - compile a model into a shared library -----------===//
//
//   attn-compile MODEL.mlir -o OUT.so [--target cpu] [--emit=mlir]
//
// Import -> attn pipelines -> bufferisation -> attn-export-entry-point ->
// CPU codegen -> LLVM IR -> -O3 -> object -> `cc -shared`. Every step runs
// in-process except the final link. docs/attn-compile.md has the details.
//
//===----------------------------------------------------------------------===//

#include "CompileReport.h"
#include "DecodeFusion.h"
#include "KVCalibration.h"
#include "ModelImport.h"
#include "NativeLibrary.h"

#include "attn/Conversion/ExportEntryPoint/ExportEntryPoint.h"
#include "attn/Conversion/ExternalizeWeights/ExternalizeWeights.h"
#include "attn/Conversion/Passes.h"
#include "attn/InitAttn.h"
#include "attn/Pipelines/Pipelines.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::attn::compile;
namespace cl = llvm::cl;

namespace {

cl::OptionCategory category("attn-compile options");

cl::opt<std::string> inputFile(cl::Positional, cl::desc("<model.mlir|.onnx>"),
                               cl::Required, cl::cat(category));
cl::opt<std::string> outputFile("o", cl::desc("Output shared library (or IR "
                                              "file with --emit)"),
                                cl::value_desc("file"), cl::cat(category));
cl::opt<std::string> target("target", cl::desc("cpu (default) or cuda"),
                            cl::init("cpu"), cl::cat(category));
enum class Emit { Library, MlirImported, Mlir, LlvmIr };
cl::opt<Emit> emit(
    "emit", cl::desc("What to produce"), cl::init(Emit::Library),
    cl::values(clEnumValN(Emit::Library, "library", "a shared library"),
               clEnumValN(Emit::MlirImported, "mlir-imported",
                          "MLIR right after import"),
               clEnumValN(Emit::Mlir, "mlir", "MLIR after the pipeline"),
               clEnumValN(Emit::LlvmIr, "llvm", "optimised LLVM IR")),
    cl::cat(category));
cl::list<std::string> dims("dim", cl::desc("Bind a symbolic dimension"),
                           cl::value_desc("NAME=SIZE"), cl::cat(category));
cl::list<std::string> inputShapes(
    "input-shape", cl::desc("Shape of a graph input, to bind symbolic sizes"),
    cl::value_desc("NAME=D0xD1..."), cl::cat(category));
cl::opt<std::string> reportFile("report",
                                cl::desc("Write a JSON report of the "
                                         "attention ops"),
                                cl::value_desc("file.json"), cl::cat(category));
cl::opt<std::string> mcpu("mcpu",
                          cl::desc("CPU to optimise for: native (default) or "
                                   "an LLVM CPU name such as x86-64-v3"),
                          cl::init("native"), cl::cat(category));
cl::opt<int64_t> shareKV(
    "share-kv",
    cl::desc("Convert attention to N key/value heads (MHA -> GQA/MQA)"),
    cl::value_desc("N"), cl::init(0), cl::cat(category));
cl::opt<std::string> shareKVMethod(
    "share-kv-method",
    cl::desc("How --share-kv makes a shared head: mean (default), exact or "
             "calibrated (needs --calibration)"),
    cl::init("mean"), cl::cat(category));
cl::opt<std::string> calibrationFile(
    "calibration",
    cl::desc("Graph inputs (npz) on which --share-kv-method=calibrated fits "
             "the shared heads"),
    cl::value_desc("inputs.npz"), cl::cat(category));
cl::opt<int64_t> maxSeq(
    "max-seq",
    cl::desc("KV-cache capacity (positions) of a fused decode step; default "
             "1024"),
    cl::value_desc("N"), cl::init(0), cl::cat(category));
cl::opt<bool> noFuseDecode(
    "no-fuse-decode",
    cl::desc("Keep concat(past, new) of a decode-step model with a symbolic "
             "past length instead of an in-place KV cache (bind the past "
             "length with --dim)"),
    cl::init(false), cl::cat(category));
cl::opt<std::string> entryFunction(
    "entry-function", cl::desc("Function to export (default: the only public "
                               "function)"),
    cl::init(""), cl::cat(category));

/// Cache capacity when --max-seq is not given.
constexpr int64_t kDefaultMaxSeq = 1024;

int fail(const llvm::Twine &message) {
  llvm::WithColor::error(llvm::errs(), "attn-compile") << message << "\n";
  return 1;
}

bool parseInt(StringRef text, int64_t &value) {
  return !text.getAsInteger(10, value) && value >= 0;
}

/// Parses --dim and --input-shape.
bool parseImportOptions(ImportOptions &options, std::string &error) {
  for (StringRef dim : dims) {
    auto [name, size] = dim.split('=');
    int64_t value;
    if (name.empty() || !parseInt(size, value)) {
      error = "bad --dim '" + dim.str() + "' (expected NAME=SIZE)";
      return false;
    }
    options.dims[name.str()] = value;
  }
  for (StringRef shape : inputShapes) {
    auto [name, sizes] = shape.split('=');
    std::vector<int64_t> parsed;
    SmallVector<StringRef> parts;
    if (!sizes.empty())
      sizes.split(parts, 'x');
    bool ok = !name.empty() && shape.contains('=');
    for (StringRef part : parts) {
      int64_t value;
      ok = ok && parseInt(part, value);
      parsed.push_back(value);
    }
    if (!ok) {
      error = "bad --input-shape '" + shape.str() +
              "' (expected NAME=D0xD1..., or NAME= for a scalar)";
      return false;
    }
    options.inputShapes[name.str()] = std::move(parsed);
  }
  return true;
}

/// The compile pipeline: bufferisation, the entry point, CPU codegen.
void buildPipeline(PassManager &pm) {
  attn::buildAttnBufferizationPipeline(pm);
  attn::AttnExportEntryPointOptions exportOptions;
  exportOptions.entryFunction = entryFunction;
  pm.addPass(attn::createAttnExportEntryPoint(exportOptions));
  attn::buildAttnCpuCodegenPipeline(pm);
}

/// The runtime library that compiled models link against: next to this
/// tool's lib/ directory, or in $ATTN_MLIR_LIB_DIR.
std::string findRuntimeLibrary(const char *argv0) {
  std::string exe = llvm::sys::fs::getMainExecutable(
      argv0, reinterpret_cast<void *>(&findRuntimeLibrary));
  SmallVector<std::string> dirs;
  if (const char *env = std::getenv("ATTN_MLIR_LIB_DIR"))
    dirs.push_back(env);
  StringRef binDir = llvm::sys::path::parent_path(exe);
  dirs.push_back((binDir + "/../lib").str());
  dirs.push_back(binDir.str());
  for (const std::string &dir : dirs) {
    SmallString<256> path(dir);
    llvm::sys::path::append(path, "libAttnRuntime.so");
    if (llvm::sys::fs::exists(path)) {
      llvm::sys::fs::make_absolute(path);
      llvm::sys::path::remove_dots(path, /*remove_dot_dot=*/true);
      return path.str().str();
    }
  }
  return "";
}

/// Writes `text` to `path` (stdout for "" or "-"), atomically for files.
LogicalResult writeText(const std::string &path, StringRef text,
                        std::string &error) {
  if (path.empty() || path == "-") {
    llvm::outs() << text;
    return success();
  }
  std::error_code ec;
  llvm::ToolOutputFile out(path, ec, llvm::sys::fs::OF_Text);
  if (ec) {
    error = "cannot write '" + path + "': " + ec.message();
    return failure();
  }
  out.os() << text;
  out.os().close();
  if (out.os().has_error()) {
    error = "cannot write '" + path + "'";
    return failure();
  }
  out.keep();
  return success();
}

std::string printOp(Operation *op) {
  std::string text;
  llvm::raw_string_ostream os(text);
  op->print(os);
  os << "\n";
  return text;
}

/// Bufferises and lowers `module` (on tensors, attention raised) into a
/// shared library at `libraryPath` (Emit::Library), or into the text of
/// the MLIR after the pipeline / the optimised LLVM IR (`text`).
LogicalResult lowerModule(ModuleOp module, const char *argv0, Emit what,
                          std::string &text, std::string &error,
                          const std::string &libraryPath = "") {
  MLIRContext &context = *module.getContext();
  FailureOr<func::FuncOp> entry = attn::findEntryFunction(module, entryFunction);
  if (failed(entry)) {
    error = "cannot choose the function to export";
    return failure();
  }
  // Results become trailing out-parameters during bufferisation; record how
  // many for attn-export-entry-point in case nothing else marks them.
  if (!(*entry)->hasAttr(attn::kNumOutputsAttr))
    (*entry)->setAttr(attn::kNumOutputsAttr,
                      IntegerAttr::get(IntegerType::get(&context, 64),
                                       entry->getNumResults()));
  PassManager pm(&context);
  if (failed(applyPassManagerCLOptions(pm))) {
    error = "bad pass manager options";
    return failure();
  }
  buildPipeline(pm);
  if (what == Emit::Library) // weights go to OUT.so.params, mapped at load
    pm.addPass(attn::createAttnExternalizeWeights(
        {/*minBytes=*/4096, attn::parameterFileName(libraryPath)}));
  if (failed(pm.run(module))) {
    error = "compiling '" + inputFile + "' failed";
    return failure();
  }
  std::string paramsPath;
  if (failed(attn::writeParameterFile(module, libraryPath, paramsPath, error,
                                      /*releaseWeights=*/libraryPath ==
                                          outputFile)))
    return failure();
  llvm::FileRemover removeParams(paramsPath); // unless the library is written
  if (what == Emit::Mlir) {
    text = printOp(module);
    return success();
  }
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, llvmContext, "attn_model");
  if (!llvmModule) {
    error = "cannot translate the module to LLVM IR";
    return failure();
  }
  std::unique_ptr<llvm::TargetMachine> machine =
      createHostTargetMachine(mcpu, error);
  if (!machine)
    return failure();
  internalizeModel(*llvmModule);
  optimizeModule(*llvmModule, *machine);
  if (what == Emit::LlvmIr) {
    llvm::raw_string_ostream os(text);
    llvmModule->print(os, nullptr);
    return success();
  }
  std::string runtime = findRuntimeLibrary(argv0);
  if (runtime.empty())
    llvm::WithColor::warning(llvm::errs(), "attn-compile")
        << "libAttnRuntime.so not found next to attn-compile or in "
           "$ATTN_MLIR_LIB_DIR; the library will load only where the "
           "runtime is already loaded globally\n";
  if (!writeSharedLibrary(*llvmModule, *machine, runtime, libraryPath, error))
    return failure();
  removeParams.releaseFile();
  return success();
}

int compile(const char *argv0) {
  if (target == "cuda")
    return fail("--target cuda is not supported yet: GPU code generation "
                "is not built into attn-compile (use --target cpu)");
  if (target != "cpu")
    return fail("unknown --target '" + target + "' (expected cpu or cuda)");
  if (emit == Emit::Library && outputFile.empty())
    return fail("no output file: give -o OUT.so");
  ImportOptions importOptions;
  std::string error;
  if (!parseImportOptions(importOptions, error))
    return fail(error);
  if (maxSeq.getNumOccurrences() && maxSeq < 2)
    return fail("--max-seq must be at least 2, got " + llvm::Twine(maxSeq));

  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerAllToLLVMIRTranslations(registry);
  attn::registerAllAttnDialects(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  context.printOpOnDiagnostic(false);

  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);

  // A decode step whose past length is symbolic gets preallocated caches.
  std::optional<DecodeFusionPlan> decodePlan;
  ImportOptions modelOptions = importOptions;
  bool isOnnx = StringRef(inputFile).ends_with_insensitive(".onnx");
  if (isOnnx && !noFuseDecode) {
    auto plan = planDecodeFusion(inputFile, maxSeq ? maxSeq : kDefaultMaxSeq,
                                 modelOptions, context, error);
    if (failed(plan))
      return fail(error);
    decodePlan = std::move(*plan);
  }
  if (maxSeq.getNumOccurrences() && !decodePlan)
    return fail("--max-seq applies to a decode-step ONNX model whose past "
                "length is symbolic (and not bound by --dim), which '" +
                inputFile + "' is not" +
                (noFuseDecode ? " with --no-fuse-decode" : ""));

  OwningOpRef<ModuleOp> module =
      importModel(inputFile, modelOptions, context, sourceMgr, error);
  if (!module)
    return fail(error.empty() ? "cannot import '" + inputFile + "'" : error);
  if (failed(verify(*module)))
    return fail("the imported module is invalid");

  bool calibrated = shareKVMethod == "calibrated";
  if (shareKVMethod != "mean" && shareKVMethod != "exact" && !calibrated)
    return fail("--share-kv-method=" + shareKVMethod +
                " is not available (expected mean, exact or calibrated)");
  if (calibrated && calibrationFile.empty())
    return fail("--share-kv-method=calibrated needs --calibration INPUTS.npz");
  std::vector<SharingErrors> sharingErrors;
  if (emit != Emit::MlirImported) {
    // Graph level: raise attention, then convert the KV heads if asked.
    PassManager transforms(&context);
    if (failed(applyPassManagerCLOptions(transforms)))
      return fail("bad pass manager options");
    attn::TransformOptions transformOptions;
    transformOptions.shareKVHeads = calibrated ? 0 : shareKV.getValue();
    transformOptions.shareKVMethod = shareKVMethod;
    attn::buildAttnTransformPipeline(transforms, transformOptions);
    if (failed(transforms.run(*module)))
      return fail("transforming '" + inputFile + "' failed");
    if (calibrated && shareKV > 0) {
      auto buildProbe = [&](ModuleOp probe, const std::string &path) {
        std::string text;
        return lowerModule(probe, argv0, Emit::Library, text, error, path);
      };
      // The calibration inputs have their own past length: calibrate a copy
      // imported at their sizes, then carry the fitted weights over.
      OwningOpRef<ModuleOp> sized;
      if (decodePlan) {
        ImportOptions sizedOptions = importOptions;
        if (failed(addInputShapesFromNpz(calibrationFile, sizedOptions,
                                         error)))
          return fail(error);
        sized = importModel(inputFile, sizedOptions, context, sourceMgr, error);
        if (!sized)
          return fail(error.empty() ? "cannot import '" + inputFile +
                                          "' at the calibration sizes"
                                    : error);
        PassManager raise(&context);
        attn::TransformOptions raiseOnly;
        attn::buildAttnTransformPipeline(raise, raiseOnly);
        if (failed(raise.run(*sized)))
          return fail("transforming '" + inputFile + "' failed");
      }
      ModuleOp calibrationModule = sized ? *sized : *module;
      if (failed(calibrateKVSharing(calibrationModule, shareKV,
                                    calibrationFile, buildProbe,
                                    sharingErrors, error)))
        return fail(error);
      if (sized && failed(copySharingAttributes(*sized, *module, error)))
        return fail(error);
      for (const SharingErrors &e : sharingErrors)
        llvm::outs() << llvm::formatv(
            "share-kv: {0}: output error mean {1:e3}, calibrated {2:e3}\n",
            e.name, e.mean, e.calibrated);
      PassManager share(&context);
      attn::TransformOptions shareOptions;
      shareOptions.shareKVHeads = shareKV;
      shareOptions.shareKVMethod = "calibrated";
      attn::buildAttnShareKVPipeline(share, shareOptions);
      if (failed(share.run(*module)))
        return fail("sharing KV heads in '" + inputFile + "' failed");
    }
    if (decodePlan && failed(fuseDecode(*module, *decodePlan, error)))
      return fail(error);
  }

  std::optional<llvm::json::Object> report;
  if (!reportFile.empty()) {
    report = buildReport(*module);
    if (!sharingErrors.empty()) {
      llvm::json::Array entries;
      for (const SharingErrors &e : sharingErrors)
        entries.push_back(llvm::json::Object{{"name", e.name},
                                             {"error_mean", e.mean},
                                             {"error_calibrated", e.calibrated}});
      (*report)["share_kv_calibration"] = std::move(entries);
    }
  }
  auto writeReport = [&]() -> LogicalResult {
    if (!report)
      return success();
    std::string text;
    llvm::raw_string_ostream os(text);
    os << llvm::formatv("{0:2}", llvm::json::Value(std::move(*report)))
       << "\n";
    return writeText(reportFile, text, error);
  };
  if (emit == Emit::MlirImported) {
    if (failed(writeText(outputFile, printOp(*module), error)) ||
        failed(writeReport()))
      return fail(error);
    return 0;
  }

  if (emit == Emit::Mlir || emit == Emit::LlvmIr) {
    std::string text;
    if (failed(lowerModule(*module, argv0, emit, text, error)) ||
        failed(writeText(outputFile, text, error)) || failed(writeReport()))
      return fail(error);
    return 0;
  }
  std::string unused;
  if (failed(lowerModule(*module, argv0, Emit::Library, unused, error,
                         outputFile)) ||
      failed(writeReport()))
    return fail(error);
  return 0;
}
} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  registerAllPasses();
  attn::registerAllAttnPasses();
  registerMLIRContextCLOptions();
  registerPassManagerCLOptions();
  registerAsmPrinterCLOptions();
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv,
      "attn-compile: compile an attention model (.mlir, .onnx) into a shared "
      "library that libAttnRuntime loads\n");
  return compile(argv[0]);
}
