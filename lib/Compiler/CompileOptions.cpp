//===- CompileOptions.cpp - options from text (flags, key=value) ----------===//

#include "attn/Compiler/CompileOptions.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringSwitch.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::attn::compile;

namespace {

bool parseSize(llvm::StringRef text, int64_t &value) {
  return !text.getAsInteger(10, value) && value >= 0;
}

bool parseBool(llvm::StringRef text, bool &value) {
  if (text.empty() || text == "1" || text.equals_insensitive("true") ||
      text.equals_insensitive("on")) {
    value = true;
    return true;
  }
  if (text == "0" || text.equals_insensitive("false") ||
      text.equals_insensitive("off")) {
    value = false;
    return true;
  }
  return false;
}

/// The error of an option whose value does not parse: "bad --KEY 'VALUE'
/// (expected EXPECTED)".
LogicalResult badValue(std::string &error, llvm::StringRef key,
                       llvm::StringRef value, llvm::StringRef expected) {
  error = "bad --" + key.str() + " '" + value.str() + "' (expected " +
          expected.str() + ")";
  return failure();
}

/// The options that are a bool (true/false/on/off/1/0, empty = true).
bool *boolOption(CompileOptions &options, llvm::StringRef key) {
  return llvm::StringSwitch<bool *>(key)
      .Case("share-kv-reorder-only", &options.shareKVReorderOnly)
      .Case("share-kv-early-stop", &options.shareKVEarlyStop)
      .Case("share-kv-reuse-probe", &options.shareKVReuseProbe)
      .Case("per-row-positions", &options.perRowPositions)
      .Case("window-ring-cache", &options.windowRingCache)
      .Default(nullptr);
}

/// "N" or "N1,N2,..." (one count per pass), each in [0, max].
bool parseCounts(llvm::StringRef text, int64_t max,
                 std::vector<int64_t> &counts) {
  SmallVector<llvm::StringRef> parts;
  text.split(parts, ',');
  std::vector<int64_t> parsed;
  for (llvm::StringRef part : parts) {
    int64_t n;
    if (part.trim().getAsInteger(10, n) || n < 0 || n > max)
      return false;
    parsed.push_back(n);
  }
  counts = std::move(parsed);
  return true;
}

/// A share from 0 to 1.
bool parseShare(llvm::StringRef text, double &share) {
  return !text.getAsDouble(share) && share >= 0.0 && share <= 1.0;
}

LogicalResult addDim(CompileOptions &options, llvm::StringRef dim,
                     std::string &error) {
  auto [name, size] = dim.split('=');
  int64_t value;
  if (name.empty() || !parseSize(size, value)) {
    error = "bad --dim '" + dim.str() + "' (expected NAME=SIZE)";
    return failure();
  }
  options.dims[name.str()] = value;
  return success();
}

LogicalResult addInputShape(CompileOptions &options, llvm::StringRef shape,
                            std::string &error) {
  auto [name, sizes] = shape.split('=');
  std::vector<int64_t> parsed;
  SmallVector<llvm::StringRef> parts;
  if (!sizes.empty())
    sizes.split(parts, 'x');
  bool ok = !name.empty() && shape.contains('=');
  for (llvm::StringRef part : parts) {
    int64_t value = 0;
    ok = ok && parseSize(part, value);
    parsed.push_back(value);
  }
  if (!ok) {
    error = "bad --input-shape '" + shape.str() +
            "' (expected NAME=D0xD1..., or NAME= for a scalar)";
    return failure();
  }
  options.inputShapes[name.str()] = std::move(parsed);
  return success();
}

} // namespace

LogicalResult mlir::attn::compile::setCompileOption(CompileOptions &options,
                                                    llvm::StringRef key,
                                                    llvm::StringRef value,
                                                    std::string &error) {
  key = key.ltrim('-');
  if (key == "target") {
    if (value == "cpu")
      options.target = Target::Cpu;
    else if (value == "cuda")
      options.target = Target::Cuda;
    else {
      error = "unknown --target '" + value.str() + "' (expected cpu or cuda)";
      return failure();
    }
    return success();
  }
  if (key == "emit") {
    std::optional<OutputKind> kind =
        llvm::StringSwitch<std::optional<OutputKind>>(value)
            .Case("library", OutputKind::Library)
            .Case("mlir-imported", OutputKind::MlirImported)
            .Case("mlir", OutputKind::Mlir)
            .Case("llvm", OutputKind::LlvmIr)
            .Default(std::nullopt);
    if (!kind) {
      error = "unknown --emit '" + value.str() +
              "' (expected library, mlir-imported, mlir or llvm)";
      return failure();
    }
    options.output = *kind;
    return success();
  }
  if (key == "share-kv-method") {
    std::optional<ShareKVMethod> method =
        llvm::StringSwitch<std::optional<ShareKVMethod>>(value)
            .Case("mean", ShareKVMethod::Mean)
            .Case("exact", ShareKVMethod::Exact)
            .Case("calibrated", ShareKVMethod::Calibrated)
            .Case("aligned", ShareKVMethod::Aligned)
            .Case("aligned-fit", ShareKVMethod::AlignedFit)
            .Case("latent", ShareKVMethod::Latent)
            .Case("joint", ShareKVMethod::Joint)
            .Default(std::nullopt);
    if (!method) {
      error = "--share-kv-method=" + value.str() +
              " is not available (expected mean, exact, calibrated, aligned, "
              "aligned-fit, joint or latent)";
      return failure();
    }
    options.shareKVMethod = *method;
    return success();
  }
  if (bool *flag = boolOption(options, key)) {
    if (!parseBool(value, *flag))
      return badValue(error, key, value, "true or false");
    return success();
  }
  if (key == "share-kv-grouping") {
    if (value != "neighbours" && value != "similarity")
      return badValue(error, key, value, "neighbours or similarity");
    options.shareKVGrouping = value == "similarity"
                                  ? ShareKVGrouping::Similarity
                                  : ShareKVGrouping::Neighbours;
    return success();
  }
  if (key == "share-kv-fit-windows") {
    if (!parseCounts(value, std::numeric_limits<int64_t>::max(),
                     options.shareKVFitWindows))
      return badValue(error, key, value,
                      "a count of calibration rows, 0 for all, or counts "
                      "per pass separated by commas");
    return success();
  }
  if (key == "share-kv-block-refit") {
    double drift;
    if (value == "off") {
      options.shareKVBlockRefit.reset();
      return success();
    }
    if (value == "auto") {
      options.shareKVBlockRefit = 0.0;
      options.shareKVBlockRefitMinTokens =
          CompileOptions::kShareKVAutoRefitMinTokens;
      return success();
    }
    if (!parseShare(value, drift))
      return badValue(error, key, value, "auto, off or a drift from 0 to 1");
    options.shareKVBlockRefit = drift;
    options.shareKVBlockRefitMinTokens = 0.0;
    return success();
  }
  if (key == "share-kv-iterations") {
    if (!parseCounts(value, 100000, options.shareKVIterations))
      return badValue(error, key, value,
                      "a count, 0 or more, or counts per pass separated by "
                      "commas");
    return success();
  }
  if (key == "share-kv-fit-maps") {
    if (value != "qo" && value != "none")
      return badValue(error, key, value, "qo or none");
    options.shareKVFitMaps = value == "qo";
    return success();
  }
  if (key == "share-kv-solve-output") {
    std::optional<ShareKVSolveOutput> mode =
        llvm::StringSwitch<std::optional<ShareKVSolveOutput>>(value)
            .Case("lbfgs", ShareKVSolveOutput::Lbfgs)
            .Case("exact", ShareKVSolveOutput::Exact)
            .Case("accepted", ShareKVSolveOutput::Accepted)
            .Default(std::nullopt);
    if (!mode)
      return badValue(error, key, value, "exact, accepted or lbfgs");
    options.shareKVSolveOutput = *mode;
    return success();
  }
  if (key == "share-kv-ridge") {
    SmallVector<StringRef> parts;
    value.split(parts, ',');
    std::array<double, 4> ridge;
    bool ok = parts.size() == 1 || parts.size() == 4;
    for (size_t i = 0; ok && i < 4; ++i) {
      StringRef p = parts[parts.size() == 1 ? 0 : i].trim();
      if (p == "fixed")
        ridge[i] = std::numeric_limits<double>::infinity();
      else
        ok = !p.getAsDouble(ridge[i]) && ridge[i] >= 0.0 &&
             std::isfinite(ridge[i]);
    }
    if (!ok)
      return badValue(error, key, value,
                      "a strength R >= 0 for all four matrices, or four for "
                      "Q,K,V,O, each R or fixed");
    options.shareKVRidge = ridge;
    return success();
  }
  if (key == "share-kv-output-ridge-cv") {
    SmallVector<StringRef> parts;
    value.split(parts, ',');
    std::vector<double> candidates;
    bool ok = true;
    for (StringRef p : parts) {
      double r;
      ok &= !p.trim().getAsDouble(r) && r >= 0.0 && std::isfinite(r);
      candidates.push_back(r);
    }
    if (!ok)
      return badValue(error, key, value,
                      "O ridges R >= 0 separated by commas");
    options.shareKVOutputRidgeCV = std::move(candidates);
    return success();
  }
  if (key == "share-kv-aligned-weighting") {
    // none, values or all (values and keys), optionally :SHARE (0 to 1,
    // default 1) of the attention outputs' Gram in the values'.
    auto [kind, share] = value.split(':');
    double values = 1.0;
    bool ok = kind == "none" || kind == "values" || kind == "all";
    if (ok && !share.empty())
      ok = kind != "none" && !share.getAsDouble(values) && values > 0.0 &&
           values <= 1.0;
    if (!ok)
      return badValue(error, key, value,
                      "none, values or all, optionally :SHARE with a share "
                      "above 0 up to 1");
    options.shareKVAlignedValues = kind == "none" ? 0.0 : values;
    options.shareKVAlignedKeys = kind == "all";
    return success();
  }
  if (key == "share-kv-output-metric") {
    auto [kind, alpha] = value.split(':');
    double a = 1.0;
    bool ok = kind == "none" || kind == "logits" || kind == "mlp";
    if (ok && !alpha.empty())
      ok = !alpha.getAsDouble(a) && a >= 0.0 && std::isfinite(a);
    if (!ok)
      return badValue(error, key, value,
                      "none, logits or mlp, optionally :ALPHA (>= 0)");
    options.shareKVOutputMetric = kind == "logits" ? ShareKVOutputMetric::Logits
                                  : kind == "mlp"  ? ShareKVOutputMetric::Mlp
                                                   : ShareKVOutputMetric::None;
    options.shareKVOutputMetricAlpha = a;
    return success();
  }
  if (key == "share-kv-original-target") {
    double mix;
    if (!parseShare(value, mix))
      return badValue(error, key, value, "a share from 0 to 1");
    options.shareKVOriginalTarget = mix;
    return success();
  }
  if (key == "share-kv-refit-rounds") {
    int64_t n;
    if (value.getAsInteger(10, n) || n < 1 || n > 100)
      return badValue(error, key, value, "a count, 1 or more");
    options.shareKVRefitRounds = n;
    return success();
  }
  if (key == "share-kv-passes") {
    int64_t n;
    if (value.getAsInteger(10, n) || n < 0 || n > 100000)
      return badValue(error, key, value, "a count, 0 or more");
    options.shareKVPasses = n;
    return success();
  }
  if (key == "latent-rank" || key == "latent-rope-dim") {
    int64_t n;
    if (value.getAsInteger(10, n) || n < 0)
      return badValue(error, key, value, "a number of floats per token");
    (key == "latent-rank" ? options.latentRank : options.latentRopeDim) = n;
    return success();
  }
  if (key == "share-kv" || key == "max-seq") {
    int64_t n;
    if (value.getAsInteger(10, n))
      return badValue(error, key, value, "a number");
    if (key == "share-kv")
      options.shareKV = n;
    else
      options.maxSeq = n;
    return success();
  }
  if (key == "fuse-decode" || key == "no-fuse-decode") {
    bool on;
    if (!parseBool(value, on))
      return badValue(error, key, value, "true or false");
    options.fuseDecode = key == "fuse-decode" ? on : !on;
    return success();
  }
  if (key == "share-kv-first-pass") {
    if (value != "original" && value != "aligned")
      return badValue(error, key, value, "original or aligned");
    options.shareKVFirstPassOriginal = value == "original";
    return success();
  }
  if (key == "paged-kv-cache" || key == "kv-pages") {
    int64_t n;
    if (value.getAsInteger(10, n) || n < 1)
      return badValue(error, key, value, "a positive number");
    (key == "kv-pages" ? options.kvPages : options.pagedKVCache) = n;
    return success();
  }
  if (key == "kv-cache-type") {
    if (!llvm::is_contained({"f32", "f16", "bf16", "int8", "fp8"}, value)) {
      error = "unknown --kv-cache-type '" + value.str() +
              "' (expected f32, f16, bf16, int8 or fp8)";
      return failure();
    }
    options.kvCacheType = value.str();
    return success();
  }
  if (key == "params") {
    if (value != "copy" && value != "external") {
      error = "--params=" + value.str() +
              " is not available (expected copy or external)";
      return failure();
    }
    options.externalParams = value == "external";
    return success();
  }
  if (key == "dim")
    return addDim(options, value, error);
  if (key == "input-shape")
    return addInputShape(options, value, error);
  std::string *text = llvm::StringSwitch<std::string *>(key)
                          .Case("entry-function", &options.entryFunction)
                          .Case("calibration", &options.calibrationFile)
                          .Case("mcpu", &options.mcpu)
                          .Case("mattr", &options.mattr)
                          .Case("bf16-dot-products", &options.bf16DotProducts)
                          .Case("report", &options.reportPath)
                          .Case("runtime-library", &options.runtimeLibrary)
                          .Default(nullptr);
  if (!text) {
    error = "unknown compile option '" + key.str() + "'";
    return failure();
  }
  *text = value.str();
  return success();
}

LogicalResult mlir::attn::compile::setCompileOptions(
    CompileOptions &options, llvm::ArrayRef<std::string> flags,
    std::string &error) {
  for (const std::string &flag : flags) {
    auto [key, value] = llvm::StringRef(flag).split('=');
    if (failed(setCompileOption(options, key.trim(), value, error)))
      return failure();
  }
  return success();
}
