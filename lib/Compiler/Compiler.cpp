//===- Compiler.cpp - the compiler driver as a library --------------------===//
//
// Import -> raise -> (calibrate) -> share KV heads, fuse the decode step ->
// mark, bufferise, export the entry point, CPU codegen -> LLVM IR -> -O3 ->
// object -> `cc -shared`. The pass part is attn-compile-pipeline
// (lib/Pipelines), run in two pass managers so that calibration, the decode
// check and the report can look at the module in between.
//
//===----------------------------------------------------------------------===//

#include "attn/Compiler/Compiler.h"

#include "attn/Compiler/CompileReport.h"
#include "attn/Compiler/DecodeFusion.h"
#include "attn/Compiler/HeadPermutation.h"
#include "attn/Compiler/JointBlockRefit.h"
#include "attn/Compiler/JointCalibration.h"
#include "attn/Compiler/KVCalibration.h"
#include "attn/Compiler/LatentCalibration.h"
#include "attn/Compiler/ModelImport.h"
#include "attn/Compiler/NativeLibrary.h"
#include "attn/Conversion/ExternalizeWeights/ExternalizeWeights.h"
#include "attn/Conversion/Passes.h"
#include "attn/InitAttn.h"
#include "attn/Pipelines/Pipelines.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

#include <dlfcn.h>
#include <mutex>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::compile;

namespace {

/// Cache capacity when CompileOptions::maxSeq is not set.
constexpr int64_t kDefaultMaxSeq = 1024;
/// aligned-fit's passes of the output refit, each on the model converted
/// with the previous pass's fits (bench/RESULTS.md compares the counts).
constexpr int kRefitPasses = 2;

std::string methodName(ShareKVMethod method) {
  switch (method) {
  case ShareKVMethod::Default:
  case ShareKVMethod::Mean: return "mean";
  case ShareKVMethod::Exact: return "exact";
  case ShareKVMethod::Calibrated: return "calibrated";
  case ShareKVMethod::Aligned: return "aligned";
  case ShareKVMethod::AlignedFit: return "aligned-fit";
  case ShareKVMethod::Latent: return "latent";
  case ShareKVMethod::Joint: return "joint";
  }
  return "mean";
}

/// The runtime library that compiled models link against: in
/// $ATTN_MLIR_LIB_DIR, else next to the binary holding this code
/// (libAttnCompiler.so in lib/, or a tool in bin/ with lib/ beside it).
std::string findRuntimeLibrary() {
  SmallVector<std::string> dirs;
  if (const char *env = std::getenv("ATTN_MLIR_LIB_DIR"))
    dirs.push_back(env);
  Dl_info info;
  if (dladdr(reinterpret_cast<void *>(&findRuntimeLibrary), &info) &&
      info.dli_fname) {
    std::string self = info.dli_fname;
    if (!llvm::sys::path::is_absolute(self))
      self = llvm::sys::fs::getMainExecutable(
          nullptr, reinterpret_cast<void *>(&findRuntimeLibrary));
    StringRef dir = llvm::sys::path::parent_path(self);
    dirs.push_back(dir.str());
    dirs.push_back((dir + "/../lib").str());
  }
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

/// Writes `text` to the file `path`, atomically.
LogicalResult writeFile(const std::string &path, StringRef text,
                        std::string &error) {
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

/// --share-kv-grouping with its default resolved: similarity for the methods
/// that map each head into the shared one (aligned, aligned-fit, joint) when
/// calibration inputs are given; neighbours otherwise (mean pooling is worse
/// with similarity groups on Whisper base, bench/RESULTS.md "Which heads
/// share").
ShareKVGrouping groupingOf(const CompileOptions &options,
                           ShareKVMethod method) {
  if (options.shareKVGrouping != ShareKVGrouping::Default)
    return options.shareKVGrouping;
  bool mapsHeads = method == ShareKVMethod::Aligned ||
                   method == ShareKVMethod::AlignedFit ||
                   method == ShareKVMethod::Joint;
  return mapsHeads && !options.calibrationFile.empty()
             ? ShareKVGrouping::Similarity
             : ShareKVGrouping::Neighbours;
}

/// The groups as text: [0,2][1,3].
std::string groupsText(const std::vector<std::vector<int64_t>> &groups) {
  std::string text;
  for (const std::vector<int64_t> &g : groups) {
    text += "[";
    for (auto [i, h] : llvm::enumerate(g))
      text += (i ? "," : "") + std::to_string(h);
    text += "]";
  }
  return text;
}

/// One compilation: its context, diagnostics and the steps of the driver.
class Compilation {
public:
  Compilation(DialectRegistry &registry, bool commandLinePassOptions,
              const CompileOptions &options, CpuTarget target,
              CompileResult &result)
      : context(registry), commandLinePassOptions(commandLinePassOptions),
        options(options),
        method(options.shareKVMethod != ShareKVMethod::Default
                   ? options.shareKVMethod
               : options.calibrationFile.empty() ? ShareKVMethod::Mean
                                                 : ShareKVMethod::Joint),
        grouping(groupingOf(options, method)), result(result),
        diagnosticStream(result.diagnostics),
        diagnostics(sourceMgr, &context, diagnosticStream) {
    context.loadAllAvailableDialects();
    context.printOpOnDiagnostic(false);
    pipeline.entryFunction = options.entryFunction;
    pipeline.shareKVHeads = options.shareKV;
    // The pass reads aligned-fit's results as aligned ones (plus the
    // fitted output weights).
    pipeline.shareKVMethod = method == ShareKVMethod::AlignedFit ||
                                     method == ShareKVMethod::Joint
                                 ? "aligned"
                                 : methodName(method);
    if (method == ShareKVMethod::Latent) {
      pipeline.shareKVHeads = 0; // one latent KV head, not attn-share-kv
      pipeline.latentRank = options.latentRank;
      pipeline.latentRopeDim = options.latentRopeDim;
    }
    pipeline.kvCacheType = options.kvCacheType;
    pipeline.perRowPositions = options.perRowPositions;
    pipeline.windowRingCache = options.windowRingCache;
    pipeline.pagedKVCache = options.pagedKVCache;
    pipeline.kvPages = options.kvPages;
    pipeline.target = std::move(target);
    // Weights referenced in place in the model's external data files keep
    // their layout: transposed copies would go to LIBRARY.params instead.
    if (options.externalParams) {
      pipeline.target.transposeMatVecWeights = false;
      pipeline.target.blockedMatmulWeights = false;
    }
  }

  LogicalResult run(const std::string &path, const std::string *mlirBuffer,
                    const std::string &outputPath);

private:
  LogicalResult fail(const Twine &message) {
    if (result.error.empty())
      result.error = message.str();
    return failure();
  }
  /// Fails with `error`, or `fallback` when it is empty.
  LogicalResult fail(std::string &error, const Twine &fallback) {
    return fail(error.empty() ? fallback : Twine(error));
  }
  OwningOpRef<ModuleOp> import(const std::string &path,
                               const std::string *mlirBuffer,
                               const ImportOptions &importOptions);
  LogicalResult runPasses(ModuleOp module,
                          function_ref<void(OpPassManager &)> build);
  LogicalResult lowerForTarget(ModuleOp module, const std::string &outputPath);
  LogicalResult lowerToOutput(ModuleOp module, OutputKind what,
                              const CompilePipelineOptions &lowering,
                              const std::string &libraryPath,
                              bool releaseWeights,
                              LlvmEffort effort = LlvmEffort::Full);
  LogicalResult calibrate(ModuleOp module, const std::string &path,
                          const std::string *mlirBuffer,
                          const ImportOptions &importOptions, bool decode);
  void buildReport(ModuleOp module);

  MLIRContext context;
  bool commandLinePassOptions;
  const CompileOptions &options;
  /// options.shareKVMethod with its default resolved.
  ShareKVMethod method;
  /// options.shareKVGrouping with its default resolved.
  ShareKVGrouping grouping;
  CompileResult &result;
  CompilePipelineOptions pipeline;
  llvm::SourceMgr sourceMgr;
  llvm::raw_string_ostream diagnosticStream;
  SourceMgrDiagnosticHandler diagnostics;
  std::vector<SharingErrors> sharingErrors;
  std::vector<JointFitRecord> jointRecords;
  /// The attentions that the default gave aligned-fit instead of joint.
  std::vector<JointFallback> jointFallbacks;
  std::vector<JointPhaseTime> jointTimes;
  std::vector<HeadGroupingRecord> groupingRecords;
  std::string error;
  std::mutex warningsMutex; ///< result.warnings from the probes' threads
};

OwningOpRef<ModuleOp> Compilation::import(const std::string &path,
                                          const std::string *mlirBuffer,
                                          const ImportOptions &importOptions) {
  if (mlirBuffer)
    return importMlirFromBuffer(*mlirBuffer, path, context, sourceMgr);
  return importModel(path, importOptions, context, sourceMgr, error);
}

LogicalResult Compilation::runPasses(ModuleOp module,
                                     function_ref<void(OpPassManager &)> build) {
  PassManager pm(&context);
  if (commandLinePassOptions && failed(applyPassManagerCLOptions(pm)))
    return fail("bad pass manager options");
  build(pm);
  return pm.run(module);
}

/// The one place that dispatches on the target: lowers `module` (on
/// tensors, after the graph stage) to options.output for options.target.
LogicalResult Compilation::lowerForTarget(ModuleOp module,
                                          const std::string &outputPath) {
  switch (options.target) {
  case Target::Cpu:
    return lowerToOutput(module, options.output, pipeline, outputPath,
                         /*releaseWeights=*/true);
  case Target::Cuda: {
    CompilePipelineOptions cuda = pipeline;
    cuda.cuda = true;
    return lowerToOutput(module, options.output, cuda, outputPath,
                         /*releaseWeights=*/true);
  }
  }
  return fail("unknown target");
}

/// The directory of `libraryPath` ("." for a bare name), which external
/// data paths are recorded relative to.
static std::string libraryDirectory(StringRef libraryPath) {
  StringRef dir = llvm::sys::path::parent_path(libraryPath);
  return dir.empty() ? "." : dir.str();
}

/// Runs the lowering stage of attn-compile-pipeline (`lowering` says for
/// which target; host code is built for its CPU) on `module` and produces
/// `what`: the MLIR or LLVM IR in result.text, or a shared library at
/// `libraryPath`, whose large weights go to the parameter file beside it
/// (LIBRARY.params, mapped by the runtime at load). `releaseWeights` frees
/// the weights once written (the module is not used again).
LogicalResult Compilation::lowerToOutput(ModuleOp module, OutputKind what,
                                         const CompilePipelineOptions &lowering,
                                         const std::string &libraryPath,
                                         bool releaseWeights,
                                         LlvmEffort effort) {
  CompilePipelineOptions released = lowering;
  released.releaseReplacedWeights = releaseWeights;
  if (failed(runPasses(module, [&](OpPassManager &pm) {
        buildAttnLoweringPipeline(pm, released);
        if (what == OutputKind::Library)
          pm.addPass(createAttnExternalizeWeights(
              {/*minBytes=*/4096, parameterFileName(libraryPath),
               options.externalParams, libraryDirectory(libraryPath)}));
      })))
    return fail("lowering the module failed");
  std::string paramsPath;
  if (failed(writeParameterFile(module, libraryPath, paramsPath, error,
                                releaseWeights)))
    return fail(error);
  // Removed again unless the library is written too.
  llvm::FileRemover removeParams(paramsPath);
  if (what == OutputKind::Mlir) {
    result.text = printOp(module);
    return success();
  }
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, llvmContext, "attn_model");
  if (!llvmModule)
    return fail("cannot translate the module to LLVM IR");
  std::unique_ptr<llvm::TargetMachine> machine =
      createTargetMachine(lowering.target, error, effort);
  if (!machine)
    return fail(error);
  internalizeModel(*llvmModule);
  optimizeModule(*llvmModule, *machine, effort);
  if (what == OutputKind::LlvmIr) {
    llvm::raw_string_ostream os(result.text);
    llvmModule->print(os, nullptr);
    return success();
  }
  std::string runtime = options.runtimeLibrary.empty()
                            ? findRuntimeLibrary()
                            : options.runtimeLibrary;
  if (runtime.empty()) {
    // The joint calibration compiles two probes at once (one on another
    // thread): one warning, added under a lock.
    const char *warning =
        "libAttnRuntime.so not found next to the compiler or in "
        "$ATTN_MLIR_LIB_DIR; the library will load only where the runtime "
        "is already loaded globally";
    std::lock_guard<std::mutex> lock(warningsMutex);
    if (!llvm::is_contained(result.warnings, warning))
      result.warnings.push_back(warning);
  }
  if (!writeSharedLibrary(*llvmModule, *machine, runtime, libraryPath, error))
    return fail(error);
  removeParams.releaseFile();
  return success();
}

/// Fits calibrated KV sharing (options.shareKV heads) on
/// options.calibrationFile and attaches it to the attention ops of `module`.
/// An ONNX model is calibrated on a copy imported at the sizes of the
/// calibration inputs.
LogicalResult Compilation::calibrate(ModuleOp module, const std::string &path,
                                     const std::string *mlirBuffer,
                                     const ImportOptions &importOptions,
                                     bool decode) {
  // The probe runs in this process: it is compiled for the host, whatever
  // the target of the model.
  CompilePipelineOptions probePipeline = pipeline;
  FailureOr<CpuTarget> host = resolveCpuTarget("native", "", error);
  if (failed(host))
    return fail(error);
  probePipeline.target = std::move(*host);
  auto buildProbe = [&](ModuleOp probe, const std::string &probePath) {
    // The probe's weights stay in the module: it is calibrated further.
    // Compiled for one run: LLVM -O1 (the probes' outputs, measured on
    // SmolLM2-135M, are the same bit for bit; about 3 CPU-s less each).
    return lowerToOutput(probe, OutputKind::Library, probePipeline, probePath,
                         /*releaseWeights=*/false, LlvmEffort::Quick);
  };
  OwningOpRef<ModuleOp> sized;
  // An ONNX model is calibrated on a copy imported at the calibration
  // inputs' sizes, which win over --dim and --input-shape (a decode step's
  // calibration inputs also have their own past length).
  if (decode || (!mlirBuffer && StringRef(path).ends_with_insensitive(".onnx"))) {
    ImportOptions sizedOptions = importOptions;
    sizedOptions.dims.clear();
    sizedOptions.inputShapes.clear();
    if (failed(addInputShapesFromNpz(options.calibrationFile, sizedOptions,
                                     error)))
      return fail(error);
    sized = import(path, mlirBuffer, sizedOptions);
    if (!sized)
      return fail(error, "cannot import '" + path +
                             "' at the calibration sizes");
    if (failed(runPasses(*sized, buildAttnRaisePipeline)))
      return fail("transforming '" + path + "' failed");
  }
  ModuleOp calibrationModule = sized ? *sized : module;
  if (grouping == ShareKVGrouping::Similarity &&
      method != ShareKVMethod::Latent) {
    // Mean, exact and calibrated average a group's heads (scalar weights);
    // the others map each head into the shared one (aligned's start: keys
    // per rotary plane, whether the model has RoPE or not).
    bool pooled = method == ShareKVMethod::Mean ||
                  method == ShareKVMethod::Exact ||
                  method == ShareKVMethod::Calibrated;
    if (failed(groupKVHeads(calibrationModule, sized ? module : ModuleOp(),
                            options.shareKV, pooled, options.calibrationFile,
                            buildProbe, groupingRecords, error)))
      return fail(error);
    llvm::raw_string_ostream log(result.log);
    for (const HeadGroupingRecord &r : groupingRecords) {
      if (!r.fallback.empty())
        log << llvm::formatv("share-kv grouping: {0}: neighbours {1} ({2})\n",
                             r.name, groupsText(r.groups), r.fallback);
      else
        log << llvm::formatv("share-kv grouping: {0}: groups {1} ({5} cost "
                             "{2:f4}, neighbours {3:f4}, {4})\n",
                             r.name, groupsText(r.groups), r.cost,
                             r.neighboursCost,
                             r.exhaustive ? "exhaustive" : "local search",
                             r.costKind);
    }
  }
  if (options.shareKVReorderOnly) {
    pipeline.shareKVHeads = 0; // reordered, not merged
    return success();
  }
  if (method == ShareKVMethod::Mean || method == ShareKVMethod::Exact)
    return success(); // only the grouping reads the calibration inputs
  if (method == ShareKVMethod::Latent) {
    probePipeline.latentRank = 0; // the probe returns the operands as they are
    if (failed(calibrateLatent(calibrationModule, options.latentRank,
                               options.latentRopeDim, options.calibrationFile,
                               buildProbe, result.log, error)) ||
        (sized && failed(copyLatentAttributes(*sized, module, error))))
      return fail(error);
    return success();
  }
  // The default (joint) falls back to aligned-fit per attention where the
  // joint fit does not apply (e.g. its projections are not all constant;
  // calibrateJointSharing's fallbacks) and, for the whole model, to
  // aligned-fit's default on a decode step: aligned where its caches shrink
  // (no probe can run the converted step on the calibration inputs).
  ShareKVMethod fitMethod = method;
  bool byDefault = options.shareKVMethod == ShareKVMethod::Default;
  if (fitMethod == ShareKVMethod::Joint && byDefault && decode)
    fitMethod = ShareKVMethod::AlignedFit;
  if (fitMethod == ShareKVMethod::Joint) {
    JointFitOptions joint;
    joint.iterations.assign(options.shareKVIterations.begin(),
                            options.shareKVIterations.end());
    joint.passes = options.shareKVPasses;
    joint.reuseProbe = options.shareKVReuseProbe;
    joint.firstPassOnOriginal = options.shareKVFirstPassOriginal;

    joint.fitWindows = options.shareKVFitWindows;
    joint.blockRefitDrift = options.shareKVBlockRefit;
    joint.blockRefitMinTokens = options.shareKVBlockRefitMinTokens;
    joint.refitRounds = options.shareKVRefitRounds;
    joint.headMaps = options.shareKVFitMaps;
    joint.solveOutput = options.shareKVSolveOutput;
    std::array<double, 4> ridge =
        options.shareKVRidge.value_or(options.shareKVDefaultRidge());
    joint.ridge = {ridge[0], ridge[1], ridge[2], ridge[3]};
    joint.outputRidgeCandidates = options.shareKVOutputRidgeCV;
    joint.earlyStop = options.shareKVEarlyStop;
    joint.originalTarget = options.shareKVOriginalTarget;
    joint.outputMetric = options.shareKVOutputMetric;
    joint.outputMetricAlpha = options.shareKVOutputMetricAlpha;
    joint.fallbackRefitPasses = kRefitPasses;
    joint.alignedWeighting = {options.shareKVAlignedValues,
                              options.shareKVAlignedKeys};
    std::vector<std::string> refitNotes;
    if (failed(calibrateJointSharing(calibrationModule, options.shareKV, joint,
                                     options.calibrationFile, buildProbe,
                                     sharingErrors, jointRecords, jointTimes,
                                     error, &refitNotes,
                                     byDefault ? &jointFallbacks : nullptr)) ||
        (sized && failed(copySharingAttributes(*sized, module, error))) ||
        failed(foldBlockRefits(module, error)))
      return fail(error);
    llvm::raw_string_ostream log(result.log);
    for (const JointFallback &f : jointFallbacks)
      log << llvm::formatv("share-kv joint: {0}: aligned-fit instead of "
                           "joint ({1})\n",
                           f.name, f.why);
    for (const std::string &note : refitNotes)
      log << note << "\n";
    for (const JointFitRecord &r : jointRecords) {
      log << llvm::formatv("share-kv joint: {0}: output error aligned {1:e3}, "
                           "fitted {2:e3} ({3} steps, {4:f1} s",
                           r.name, r.alignedError, r.fittedError, r.iterations,
                           r.seconds);
      if (!std::isnan(r.outputRidge))
        log << llvm::formatv(", O ridge {0} by cross-validation",
                             r.outputRidge);
      log << ")\n";
    }
    for (const JointFitRecord &r : jointRecords) {
      if (r.heldout.empty())
        continue;
      log << llvm::formatv("share-kv joint: {0}: held-out output error ({1} "
                           "windows) by steps:",
                           r.name, r.heldoutWindows);
      for (auto [steps, e] : r.heldout)
        log << llvm::formatv(" {0}:{1:e3}", steps, e);
      log << llvm::formatv(" (kept {0})\n", r.keptSteps);
    }
    for (const JointPhaseTime &t : jointTimes) {
      log << llvm::formatv("share-kv joint: {0}: {1:f1} CPU-s, {2:f1} s",
                           t.name, t.cpuSeconds, t.wallSeconds);
      if (t.evaluations >= 0)
        log << llvm::formatv(", {0} objective evaluations ({1} stopped early)",
                             t.evaluations, t.earlyRejections);
      if (t.outputSolves > 0)
        log << llvm::formatv(", {0} output solves (products {1:f1} CPU-s, "
                             "factor and solves {2:f1} CPU-s)",
                             t.outputSolves, t.outputProductSeconds,
                             t.outputSolveSeconds);
      log << "\n";
    }
    return success();
  }
  if (failed(calibrateKVSharing(calibrationModule, options.shareKV,
                                fitMethod == ShareKVMethod::Aligned ||
                                    fitMethod == ShareKVMethod::AlignedFit,
                                // A decode step's caches shrink: its
                                // default is aligned (no refit probe).
                                fitMethod == ShareKVMethod::AlignedFit &&
                                        !(decode && byDefault)
                                    ? kRefitPasses
                                    : 0,
                                options.calibrationFile, buildProbe,
                                sharingErrors, error, nullptr, nullptr,
                                nullptr,
                                {options.shareKVAlignedValues,
                                 options.shareKVAlignedKeys})))
    return fail(error);
  if (sized && failed(copySharingAttributes(*sized, module, error)))
    return fail(error);
  llvm::raw_string_ostream log(result.log);
  for (const SharingErrors &e : sharingErrors)
    log << llvm::formatv(
        "share-kv: {0}: output error mean {1:e3}, calibrated {2:e3}\n", e.name,
        e.mean, e.calibrated);
  return success();
}

void Compilation::buildReport(ModuleOp module) {
  llvm::json::Object report = compile::buildReport(module);
  if (!sharingErrors.empty()) {
    llvm::json::Array entries;
    for (const SharingErrors &e : sharingErrors)
      entries.push_back(llvm::json::Object{{"name", e.name},
                                           {"error_mean", e.mean},
                                           {"error_calibrated", e.calibrated}});
    report["share_kv_calibration"] = std::move(entries);
  }
  if (!jointRecords.empty()) {
    llvm::json::Array entries;
    for (const JointFitRecord &r : jointRecords)
      entries.push_back(
          llvm::json::Object{{"name", r.name},
                             {"loss_aligned", r.alignedError},
                             {"loss_fitted", r.fittedError},
                             {"iterations", r.iterations},
                             {"evaluations", r.evaluations},
                             {"early_rejections", r.earlyRejections},
                             {"seconds", r.seconds}});
    report["share_kv_joint_fit"] = std::move(entries);
  }
  if (!groupingRecords.empty()) {
    llvm::json::Array entries;
    for (const HeadGroupingRecord &r : groupingRecords) {
      llvm::json::Array groups;
      for (const std::vector<int64_t> &g : r.groups)
        groups.push_back(llvm::json::Array(g));
      llvm::json::Object entry{{"name", r.name}, {"groups", std::move(groups)}};
      if (!r.fallback.empty()) {
        entry["fallback"] = r.fallback;
      } else {
        entry["cost"] = r.cost;
        entry["cost_neighbours"] = r.neighboursCost;
        entry["search"] = r.exhaustive ? "exhaustive" : "local";
        entry["cost_kind"] = r.costKind;
      }
      entries.push_back(std::move(entry));
    }
    report["share_kv_grouping"] = std::move(entries);
  }
  // The default's method per attention where it is not joint for all.
  if (!jointFallbacks.empty()) {
    llvm::json::Array entries;
    for (const JointFitRecord &r : jointRecords)
      entries.push_back(
          llvm::json::Object{{"name", r.name}, {"method", "joint"}});
    for (const JointFallback &f : jointFallbacks)
      entries.push_back(llvm::json::Object{
          {"name", f.name}, {"method", "aligned-fit"}, {"why", f.why}});
    report["share_kv_methods"] = std::move(entries);
  }
  llvm::raw_string_ostream os(result.report);
  os << llvm::formatv("{0:2}", llvm::json::Value(std::move(report))) << "\n";
}

LogicalResult Compilation::run(const std::string &path,
                               const std::string *mlirBuffer,
                               const std::string &outputPath) {
  ImportOptions importOptions;
  importOptions.dims = options.dims;
  importOptions.inputShapes = options.inputShapes;
  bool calibrated = method == ShareKVMethod::Calibrated ||
                    method == ShareKVMethod::Aligned ||
                    method == ShareKVMethod::AlignedFit ||
                    method == ShareKVMethod::Joint;
  if (calibrated && options.calibrationFile.empty())
    return fail("--share-kv-method=" + methodName(method) +
                " needs --calibration INPUTS.npz");
  bool similarity = grouping == ShareKVGrouping::Similarity &&
                    options.shareKV > 0 && method != ShareKVMethod::Latent;
  if (similarity && options.calibrationFile.empty())
    return fail("--share-kv-grouping=similarity needs --calibration "
                "INPUTS.npz (the heads are grouped by their keys and values "
                "on it)");

  // Decode-model detection: a decode step whose past length is symbolic
  // gets preallocated caches.
  std::optional<DecodeFusionPlan> decodePlan;
  ImportOptions modelOptions = importOptions;
  bool isOnnx = !mlirBuffer && StringRef(path).ends_with_insensitive(".onnx");
  if (isOnnx && options.fuseDecode) {
    auto plan = planDecodeFusion(path, options.maxSeq.value_or(kDefaultMaxSeq),
                                 modelOptions, context, error);
    if (failed(plan))
      return fail(error);
    decodePlan = std::move(*plan);
  }
  if (options.maxSeq && !decodePlan)
    return fail("--max-seq applies to a decode-step ONNX model whose past "
                "length is symbolic (and not bound by --dim), which '" +
                path + "' is not" +
                (options.fuseDecode ? "" : " with --no-fuse-decode"));
  if (options.perRowPositions && !decodePlan)
    return fail("--per-row-positions applies to a decode-step ONNX model "
                "whose past length is symbolic (its fused decode step), "
                "which '" + path + "' is not" +
                (options.fuseDecode ? "" : " with --no-fuse-decode"));
  pipeline.fuseDecode = decodePlan.has_value();

  OwningOpRef<ModuleOp> module = import(path, mlirBuffer, modelOptions);
  if (!module)
    return fail(error, "cannot import '" + path + "'");
  if (failed(verify(*module)))
    return fail("the imported module is invalid");

  if (options.output != OutputKind::MlirImported) {
    if (failed(runPasses(*module, buildAttnRaisePipeline)))
      return fail("transforming '" + path + "' failed");
    bool latentCalibration = method == ShareKVMethod::Latent &&
                             !options.calibrationFile.empty();
    if ((((calibrated || similarity) && options.shareKV > 0) ||
         latentCalibration) &&
        failed(calibrate(*module, path, mlirBuffer, importOptions,
                         decodePlan.has_value())))
      return failure();
    if (failed(runPasses(*module, [&](OpPassManager &pm) {
          buildAttnGraphTailPipeline(pm, pipeline);
        })))
      return fail("transforming '" + path + "' failed");
    if (decodePlan && failed(checkDecodeFusion(*module, *decodePlan,
                                               options.entryFunction, error)))
      return fail(error);
  }
  buildReport(*module);

  if (options.output == OutputKind::MlirImported)
    result.text = printOp(*module);
  else if (failed(lowerForTarget(*module, outputPath)))
    return failure();
  bool textToFile = options.output != OutputKind::Library &&
                    !outputPath.empty() && outputPath != "-";
  if (textToFile && failed(writeFile(outputPath, result.text, error)))
    return fail(error);
  if (!options.reportPath.empty() &&
      failed(writeFile(options.reportPath, result.report, error)))
    return fail(error);
  return success();
}

} // namespace

struct Session::Impl {
  DialectRegistry registry;
  bool commandLinePassOptions = false;
};

Session::Session(bool commandLinePassOptions)
    : impl(std::make_unique<Impl>()) {
  impl->commandLinePassOptions = commandLinePassOptions;
  registerAllDialects(impl->registry);
  registerAllExtensions(impl->registry);
  registerAllToLLVMIRTranslations(impl->registry);
  attn::registerAllAttnDialects(impl->registry);
}

Session::~Session() = default;

LogicalResult Session::compile(const ModelSource &source,
                               const CompileOptions &options,
                               const std::string &outputPath,
                               CompileResult &result) {
  result = CompileResult();
  auto fail = [&](const Twine &message) {
    result.error = message.str();
    return failure();
  };
  if (options.output == OutputKind::Library && outputPath.empty())
    return fail("no output file: give -o OUT.so");
  if (!options.weightsFile.empty())
    return fail("a separate weights file is not supported yet");
  if (options.maxSeq && *options.maxSeq < 2)
    return fail("--max-seq must be at least 2, got " +
                Twine(*options.maxSeq));
  if (options.pagedKVCache && !options.perRowPositions)
    return fail("--paged-kv-cache needs --per-row-positions (a paged decode "
                "step takes one cache_position per batch row)");
  // Pools of another float type (f16/bf16) are converted on append and
  // widened on read (CPU and cuda); 8-bit pools would need their scales
  // and codecs in the paged lowering, which the verifier refuses.
  if (options.pagedKVCache &&
      (options.kvCacheType == "int8" || options.kvCacheType == "fp8"))
    return fail("--paged-kv-cache cannot be combined with --kv-cache-type=" +
                options.kvCacheType +
                " (8-bit caches are contiguous only; paged pools may be "
                "f32, f16 or bf16)");
  if (options.kvPages && !options.pagedKVCache)
    return fail("--kv-pages needs --paged-kv-cache=PAGE_SIZE");
  if (options.shareKV < 0)
    return fail("--share-kv must be a number of KV heads (at least 1), got " +
                Twine(options.shareKV));
  if (options.shareKVReorderOnly &&
      options.shareKVGrouping != ShareKVGrouping::Similarity)
    return fail("--share-kv-reorder-only needs --share-kv-grouping=similarity");
  if (options.shareKVMethod == ShareKVMethod::Latent &&
      options.shareKVGrouping == ShareKVGrouping::Similarity)
    return fail("--share-kv-grouping=similarity does not apply to "
                "--share-kv-method=latent (one latent KV head: one group)");
  if ((options.shareKVMethod == ShareKVMethod::Latent) !=
      (options.latentRank > 0))
    return fail("--share-kv-method=latent and --latent-rank=R (R > 0) go "
                "together");
  if (options.shareKVMethod == ShareKVMethod::Latent && options.shareKV > 1)
    return fail("--share-kv-method=latent makes one latent KV head; "
                "--share-kv=" + Twine(options.shareKV) + " asks for more");
  if (source.buffer && source.format != "mlir" && source.format != "onnx")
    return fail("unknown model format '" + source.format +
                "' of a buffer (expected mlir or onnx)");

  // The CPU whose code the library holds: all of it for the cpu target,
  // the host side (launches, copies) for cuda.
  CpuTarget cpu;
  {
    std::string error;
    FailureOr<CpuTarget> resolved =
        resolveCpuTarget(options.mcpu, options.mattr, error,
                         options.bf16DotProducts);
    if (failed(resolved))
      return fail(error);
    cpu = std::move(*resolved);
  }

  // An ONNX model in memory goes through a temporary file: the importer and
  // decode-model detection read models by path.
  std::string path = source.path;
  std::optional<llvm::FileRemover> tempModel;
  const std::string *mlirBuffer = nullptr;
  if (source.buffer && source.format == "onnx") {
    SmallString<128> tempPath;
    int fd;
    if (std::error_code ec = llvm::sys::fs::createTemporaryFile(
            "attn-model", "onnx", fd, tempPath))
      return fail("cannot create a temporary file: " + ec.message());
    tempModel.emplace(tempPath);
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    os << *source.buffer;
    os.close();
    if (os.has_error())
      return fail("cannot write '" + tempPath.str() + "'");
    path = tempPath.str().str();
  } else if (source.buffer) {
    mlirBuffer = source.buffer;
    if (path.empty())
      path = "<buffer>";
  }

  Compilation compilation(impl->registry, impl->commandLinePassOptions,
                          options, std::move(cpu), result);
  return compilation.run(path, mlirBuffer, outputPath);
}
