//===- CompileOptions.h - what one compilation of a model does --*- C++ -*-===//
//
// The typed options of attn::compile::compileModel. attn-compile fills them
// from its flags, the C API (include/attn-c/Compiler.h) from setters or
// `key=value` strings with the same names as the flags (setCompileOption).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_COMPILER_COMPILEOPTIONS_H
#define ATTN_COMPILER_COMPILEOPTIONS_H

#include "attn/Calibration/SolveOutput.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mlir::attn::compile {

/// Where the compiled model runs.
enum class Target { Cpu, Cuda };

/// What a compilation produces.
enum class OutputKind {
  Library,      ///< a shared library that libAttnRuntime loads
  MlirImported, ///< the MLIR right after import
  Mlir,         ///< the MLIR after attn-compile-pipeline (LLVM dialect)
  LlvmIr,       ///< the optimised LLVM IR
};

/// How `shareKV` makes a shared key/value head. Default: Joint when a
/// calibration file is given (on SmolLM2-135M, 3 -> 1 KV heads, it is the
/// closest to the original on held-out text, bench/RESULTS.md; AlignedFit
/// where the joint fit does not apply, Aligned on a decode step whose caches
/// shrink), else Mean.
/// Latent: multi-head latent attention at `latentRank` (attn-share-kv-latent).
enum class ShareKVMethod {
  Default,
  Mean,
  Exact,
  Calibrated,
  Aligned,
  AlignedFit,
  Latent,
  Joint
};

/// Which KV heads `shareKV` merges: Neighbours (heads g k .. g k + g - 1),
/// or Similarity (the partition whose groups merge best on the calibration
/// data, the heads reordered so that it is the neighbours'; HeadPermutation).
/// Default: see Compiler.cpp's groupingOf.
enum class ShareKVGrouping { Default, Neighbours, Similarity };
/// The joint fit's treatment of O (attn/Calibration/SolveOutput.h).
using ShareKVSolveOutput = ::attn::calib::SolveOutput;
/// Which metric the joint fits measure the attention output's error in
/// (--share-kv-output-metric): equal weights, or I / D + alpha S / trace(S)
/// with S the direct path to the logits or the next MLP's input
/// sensitivity (OutputMetricGraph.h).
enum class ShareKVOutputMetric { None, Logits, Mlp };

struct CompileOptions {
  Target target = Target::Cpu;
  OutputKind output = OutputKind::Library;
  /// The function to export; "" for the only public function.
  std::string entryFunction;
  /// Sizes of symbolic dimensions (--dim NAME=SIZE).
  std::map<std::string, int64_t> dims;
  /// Shapes of graph inputs, to bind symbolic sizes (--input-shape).
  std::map<std::string, std::vector<int64_t>> inputShapes;
  /// Convert attention to this many KV heads; 0 keeps them.
  int64_t shareKV = 0;
  ShareKVMethod shareKVMethod = ShareKVMethod::Default;
  ShareKVGrouping shareKVGrouping = ShareKVGrouping::Default;
  /// ShareKVGrouping::Similarity: reorder the heads as chosen but merge
  /// none (the reordered model is the original up to rounding; a check).
  bool shareKVReorderOnly = false;
  /// ShareKVMethod::Latent: floats of the latent and of the shared rotary
  /// key per token (-1: half a head).
  int64_t latentRank = 0, latentRopeDim = -1;
  /// ShareKVMethod::Joint: L-BFGS steps per attention in pass 1, 2, ...
  /// (the last count holds for the later passes), and passes
  /// (JointFitOptions says why 30 in the first).
  std::vector<int64_t> shareKVIterations = {30, 40};
  int64_t shareKVPasses = 2;
  /// ShareKVMethod::Joint: compile the passes' probe once and rerun it with
  /// each pass's converted projection weights as inputs (false: compile a
  /// probe per pass; the same fits).
  bool shareKVReuseProbe = true;
  /// ShareKVMethod::Joint: the first pass fits on the original model's
  /// activations, which the aligned start's probe returns (false: on a probe
  /// of the model converted by the aligned maps, one probe more).
  bool shareKVFirstPassOriginal = true;

  /// ShareKVMethod::Joint: the attention fits read the first N calibration
  /// rows (0: all).
  /// Per pass (N1,N2,...: the last count holds for the later passes).
  std::vector<int64_t> shareKVFitWindows = {0};
  /// ShareKVMethod::Joint: refit each block's MLP down projection after the
  /// fits, with this drift toward the original model's residual stream
  /// (--share-kv-block-refit); unset: no refit.
  std::optional<double> shareKVBlockRefit = 0.0;
  /// With shareKVBlockRefit: a block is refitted only where the calibration
  /// tokens are at least this many times its down projection's inputs
  /// (fewer overfit the ridge solve). `auto` (the default) sets 2.5 and
  /// drift 0; an explicit drift sets 0 (every block).
  double shareKVBlockRefitMinTokens = kShareKVAutoRefitMinTokens;
  static constexpr double kShareKVAutoRefitMinTokens = 2.5;
  /// ShareKVMethod::Joint with shareKVBlockRefit: rounds of (a pass of
  /// attention fits on a probe of the model with the refitted down
  /// projections, then the refit again) after the first refit
  /// (--share-kv-refit-rounds; 1: the refit once).
  int64_t shareKVRefitRounds = 1;
  /// ShareKVMethod::Joint: the fits keep Q and O as per-head maps of their
  /// start (--share-kv-fit-maps=qo) rather than free matrices (none).
  bool shareKVFitMaps = false;
  /// ShareKVMethod::Joint: the fits solve O in closed form for each trial
  /// (--share-kv-solve-output=exact, the default) or at each accepted point
  /// (accepted) and L-BFGS fits Q, K and V alone, rather than fitting all
  /// four (lbfgs).
  ShareKVSolveOutput shareKVSolveOutput = ShareKVSolveOutput::Exact;
  /// ShareKVMethod::Joint: the ridge toward the aligned start of Q, K, V
  /// and O (relative to each start's squared norm; infinite: the matrix
  /// stays fixed) (--share-kv-ridge). Unset: shareKVDefaultRidge().
  std::optional<std::array<double, 4>> shareKVRidge;
  /// The ridge without --share-kv-ridge: 1e-3 for Q, K and V; for O 0.3
  /// where the fits solve it (a solved O fits the calibration tokens too
  /// closely with less), else 1e-3.
  std::array<double, 4> shareKVDefaultRidge() const {
    return {1e-3, 1e-3, 1e-3,
            shareKVSolveOutput == ShareKVSolveOutput::Lbfgs ? 1e-3 : 0.3};
  }
  /// ShareKVMethod::Joint with O solved: O's ridge per attention chosen
  /// among these and the configured one by two-fold cross-validation over
  /// the calibration windows (--share-kv-output-ridge-cv; empty: off).
  std::vector<double> shareKVOutputRidgeCV;
  /// ShareKVMethod::Joint: the fits keep the step with the lowest output
  /// error on the calibration rows after --share-kv-fit-windows'
  /// (--share-kv-early-stop).
  bool shareKVEarlyStop = false;
  /// ShareKVMethod::Joint: the share of the original attention's output on
  /// the original model's input in the fits' target, the rest on the
  /// converted input (--share-kv-original-target; 0 to 1).
  double shareKVOriginalTarget = 0.0;
  /// ShareKVMethod::Joint: the metric of the fits' output error and its
  /// alpha (--share-kv-output-metric=none|logits|mlp[:ALPHA]).
  ShareKVOutputMetric shareKVOutputMetric = ShareKVOutputMetric::None;
  double shareKVOutputMetricAlpha = 1.0;
  /// ShareKVMethod::Aligned, AlignedFit and Joint: how the aligned
  /// conversion weights the calibration rows by the original attention's
  /// probabilities (--share-kv-aligned-weighting; attn::calib::
  /// AlignedWeighting): the attention outputs' share in the values' Gram,
  /// and whether the key rows are weighted by their attention mass.
  double shareKVAlignedValues = 0.0;
  bool shareKVAlignedKeys = false;
  /// Graph inputs (.npz) that ShareKVMethod::Calibrated/Aligned fit on.
  std::string calibrationFile;
  /// KV-cache capacity of a fused decode step (at least 2); unset: 1024.
  /// Setting it for a model that is not a decode step is an error.
  std::optional<int64_t> maxSeq;
  /// Preallocate the KV caches of a decode-step ONNX model whose past
  /// length is symbolic (attn-fuse-decode); off: keep concat(past, new).
  bool fuseDecode = true;
  /// The fused decode step takes one position per batch row
  /// (`cache_position : [B]`), so a batch mixes sequences of different
  /// lengths; off: one position for the batch (rank 0).
  bool perRowPositions = false;
  /// Element type of a decode step's KV caches: "" (keep), f32, f16, bf16,
  /// int8 or fp8 (E4M3); int8/fp8 add f32 scale inputs (attn-kv-cache-type).
  std::string kvCacheType;
  /// Keep the KV caches of sliding-window decode layers (causal window(L,
  /// 0)) as rings of L + Sq positions (attn-window-ring-cache): the
  /// signature's cache shapes change and positions run past them.
  bool windowRingCache = false;
  /// Keep a fused decode step's KV caches as page pools of this many
  /// positions a page, read through a `block_table` input (attn-paged-kv-
  /// cache; needs perRowPositions); 0: contiguous caches.
  int64_t pagedKVCache = 0;
  /// Pages in each pool; 0: B * ceil(Smax / pagedKVCache).
  int64_t kvPages = 0;
  /// CPU to generate code for: "native" (the host) or an LLVM CPU name.
  std::string mcpu = "native";
  /// CPU features added or removed on top of mcpu: "+avx512f,-fma".
  std::string mattr;
  /// vdpbf16ps for decode on bf16 caches (Q.K and P.V, MQA and GQA):
  /// "auto", "on" or "off".
  std::string bf16DotProducts = "auto";
  /// Where to write the JSON report as well ("" : only in the result).
  std::string reportPath;
  /// libAttnRuntime.so that the library links against; "" finds it next
  /// to the compiler library or in $ATTN_MLIR_LIB_DIR.
  std::string runtimeLibrary;
  /// --params=external: constants that are byte ranges of the ONNX model's
  /// external data files are read from those files at load (signature
  /// version 4) instead of being copied into LIBRARY.params.
  bool externalParams = false;
  /// Reserved for a parameter file that holds the weights outside the
  /// library; must be empty for now.
  std::string weightsFile;
};

/// Sets the option named `key` (attn-compile's flag without dashes:
/// target, emit, entry-function, dim, input-shape, share-kv,
/// share-kv-method, calibration, max-seq, fuse-decode, no-fuse-decode,
/// share-kv-iterations, share-kv-passes, share-kv-reuse-probe,
/// kv-cache-type, window-ring-cache, mcpu, mattr, report, runtime-library, params) from its
/// text. `dim` and `input-shape`
/// add one binding per call. Fails with `error` naming the bad value.
LogicalResult setCompileOption(CompileOptions &options, llvm::StringRef key,
                               llvm::StringRef value, std::string &error);

/// Applies "key=value" (or "--key=value") strings in order.
LogicalResult setCompileOptions(CompileOptions &options,
                                llvm::ArrayRef<std::string> flags,
                                std::string &error);

} // namespace mlir::attn::compile

#endif // ATTN_COMPILER_COMPILEOPTIONS_H
