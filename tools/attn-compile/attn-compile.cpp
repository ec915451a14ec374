//===- attn-compile.cpp - compile a model into a shared library -----------===//
//
//   attn-compile MODEL.mlir|.onnx -o OUT.so [--target cpu] [--emit=mlir] ...
//
// A command line over the compiler library (include/attn/Compiler): it
// fills CompileOptions from its flags, compiles, prints what came back and
// writes the IR. docs/attn-compile.md lists the flags; the driver itself is
// described in docs/compiler-library.md.
//
//===----------------------------------------------------------------------===//

#include "attn/Compiler/Compiler.h"
#include "attn/InitAttn.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Pass/PassManager.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

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
cl::opt<OutputKind> emit(
    "emit", cl::desc("What to produce"), cl::init(OutputKind::Library),
    cl::values(clEnumValN(OutputKind::Library, "library", "a shared library"),
               clEnumValN(OutputKind::MlirImported, "mlir-imported",
                          "MLIR right after import"),
               clEnumValN(OutputKind::Mlir, "mlir", "MLIR after the pipeline"),
               clEnumValN(OutputKind::LlvmIr, "llvm", "optimised LLVM IR")),
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
                          cl::desc("CPU to generate code for: native (default) "
                                   "or an LLVM CPU name such as x86-64-v3"),
                          cl::init("native"), cl::cat(category));
cl::opt<std::string> mattr("mattr",
                           cl::desc("CPU features to add or remove on top of "
                                    "--mcpu, e.g. +avx512f,-fma"),
                           cl::init(""), cl::cat(category));
cl::opt<std::string> bf16DotProducts(
    "bf16-dot-products",
    cl::desc("Decode on bf16 caches with AVX512_BF16 dot products "
             "(vdpbf16ps; the scaled queries rounded to bf16, f32 sums): "
             "Q.K and P.V (the probabilities rounded to bf16 too) for MQA "
             "(>8 query heads per KV head) and GQA (2-8): "
             "auto (default: where measured faster), on (an error without "
             "avx512bf16) or off"),
    cl::init("auto"), cl::cat(category));
cl::opt<std::string> shareKV(
    "share-kv",
    cl::desc("Convert attention to N key/value heads (MHA -> GQA/MQA)"),
    cl::value_desc("N"), cl::init("0"), cl::cat(category));
cl::opt<std::string> shareKVMethod(
    "share-kv-method",
    cl::desc("How --share-kv makes a shared head: mean, exact, calibrated, "
             "aligned, aligned-fit (aligned, then each layer's output "
             "projection refitted on the converted model) or joint (aligned, "
             "then each layer's Q, shared K/V and O projections fitted "
             "together on the converted model; the last four need "
             "--calibration), or latent; default: joint with "
             "--calibration (aligned-fit for the attentions it does not "
             "apply to), else mean"),
    cl::init("mean"), cl::cat(category));
cl::opt<std::string> shareKVIterations(
    "share-kv-iterations",
    cl::desc("--share-kv-method=joint: L-BFGS steps per attention and pass, "
             "or per pass: N1,N2,... (the last count holds for the later "
             "passes); default 30,40"),
    cl::value_desc("N[,N...]"), cl::cat(category));
cl::opt<std::string> shareKVPasses(
    "share-kv-passes",
    cl::desc("--share-kv-method=joint: passes, each fitting every attention "
             "on the model converted by the previous one (default 2)"),
    cl::value_desc("N"), cl::cat(category));
cl::opt<bool> shareKVReuseProbe(
    "share-kv-reuse-probe",
    cl::desc("--share-kv-method=joint: compile the passes' probe of the "
             "converted model once, its converted projection weights "
             "inputs (default true; false compiles one per pass, with the "
             "same fits)"),
    cl::init(true), cl::cat(category));
cl::opt<std::string> shareKVFirstPass(
    "share-kv-first-pass",
    cl::desc("--share-kv-method=joint: what the first pass fits on: "
             "original (default: the original model's activations, which "
             "the aligned start's probe returns) or aligned (a probe of the "
             "model converted by the aligned maps, one probe more)"),
    cl::value_desc("original|aligned"), cl::cat(category));

cl::opt<std::string> shareKVFitWindows(
    "share-kv-fit-windows",
    cl::desc("--share-kv-method=joint: the attention fits read the first N "
             "calibration rows (default 0: all; the block refit reads all), "
             "or per pass: N1,N2,... (the last count holds for the later "
             "passes)"),
    cl::value_desc("N[,N...]"), cl::cat(category));
cl::opt<std::string> shareKVBlockRefit(
    "share-kv-block-refit",
    cl::desc("--share-kv-method=joint: after the fits, refit each block's "
             "MLP down projection toward the original block's output on the "
             "converted input, drifting by DRIFT (0 to 1) toward the "
             "original model's residual stream; off skips it; auto "
             "(default): drift 0 for each block whose calibration tokens "
             "are at least 2.5 x its down projection's inputs, none for the "
             "others"),
    cl::value_desc("auto|DRIFT|off"), cl::cat(category));
cl::opt<std::string> shareKVRefitRounds(
    "share-kv-refit-rounds",
    cl::desc("--share-kv-method=joint with --share-kv-block-refit: rounds "
             "of the refit; each after the first is preceded by a pass of "
             "attention fits on a probe of the model with the refitted down "
             "projections (default 1)"),
    cl::value_desc("N"), cl::cat(category));
cl::opt<std::string> shareKVFitMaps(
    "share-kv-fit-maps",
    cl::desc("--share-kv-method=joint: qo keeps Q and O as per-head maps "
             "(D x D) of each pass's start, K and V free; none (default) "
             "fits all four as free matrices"),
    cl::value_desc("qo|none"), cl::cat(category));
cl::opt<std::string> shareKVSolveOutput(
    "share-kv-solve-output",
    cl::desc("--share-kv-method=joint: exact solves the output projection "
             "in closed form for each trial of the fits, L-BFGS fitting Q, "
             "K and V alone (variable projection; the default); accepted "
             "solves it at each accepted point only (the trials read the "
             "last one's); lbfgs fits it with them"),
    cl::value_desc("exact|accepted|lbfgs"), cl::cat(category));
cl::opt<std::string> shareKVRidge(
    "share-kv-ridge",
    cl::desc("--share-kv-method=joint: the fits' ridge toward the aligned "
             "start, relative to each matrix's squared norm: one strength "
             "for Q, K, V and O, or four (Q,K,V,O), each a strength or "
             "fixed (the matrix keeps its start); default 1e-3,1e-3,1e-3,0.3 "
             "(1e-3 for all four with --share-kv-solve-output=lbfgs)"),
    cl::value_desc("R|RQ,RK,RV,RO"), cl::cat(category));
cl::opt<std::string> shareKVOutputRidgeCV(
    "share-kv-output-ridge-cv",
    cl::desc("--share-kv-method=joint with the output projection solved: "
             "each attention's O ridge chosen among these and "
             "--share-kv-ridge's by two-fold cross-validation over the "
             "calibration windows at the first pass's start (default: off)"),
    cl::value_desc("R1,R2,..."), cl::cat(category));
cl::opt<std::string> shareKVAlignedWeighting(
    "share-kv-aligned-weighting",
    cl::desc("--share-kv-method=aligned, aligned-fit or joint: weight the "
             "aligned conversion's calibration rows by the original "
             "attention: values (the values' subspace from the attention "
             "outputs' Gram), all (also each key row by its attention "
             "mass), optionally :SHARE of the attention outputs' Gram mixed "
             "with the plain one (default 1), or none (the default)"),
    cl::value_desc("none|values|all[:SHARE]"), cl::cat(category));
cl::opt<std::string> shareKVGrouping(
    "share-kv-grouping",
    cl::desc("Which KV heads --share-kv merges: neighbours (heads g k .. "
             "g k + g - 1) or similarity (the groups that merge best on the "
             "--calibration data; the heads are reordered with their query "
             "heads and projections first)"),
    cl::value_desc("neighbours|similarity"), cl::cat(category));
cl::opt<bool> shareKVReorderOnly(
    "share-kv-reorder-only",
    cl::desc("--share-kv-grouping=similarity: reorder the heads as chosen "
             "for --share-kv=N but merge none (a check: the model computes "
             "the original's function)"),
    cl::Hidden, cl::cat(category));
cl::opt<std::string> shareKVOriginalTarget(
    "share-kv-original-target",
    cl::desc("--share-kv-method=joint: the share (0 to 1, default 0) of the "
             "original attention's output on the original model's input in "
             "the target of the fits on the converted model's input, the "
             "rest its output on the converted input (asymmetric "
             "calibration)"),
    cl::value_desc("SHARE"), cl::cat(category));
cl::opt<std::string> shareKVOutputMetric(
    "share-kv-output-metric",
    cl::desc("--share-kv-method=joint: the metric of the fits' output "
             "error: none (equal weights, the default), logits (I / D + "
             "ALPHA S / trace(S), S = J^T J of the final norm's gain and the "
             "LM head) or mlp (S the next MLP's input projections' W^T W "
             "scaled by its norm's gain); ALPHA default 1"),
    cl::value_desc("none|logits|mlp[:ALPHA]"), cl::cat(category));
cl::opt<bool> shareKVEarlyStop(
    "share-kv-early-stop",
    cl::desc("--share-kv-method=joint with --share-kv-fit-windows=N: each "
             "fit keeps the step (of every 10th) with the lowest output error "
             "on the next N calibration rows, which it does not read"),
    cl::cat(category));
cl::opt<std::string> latentRank(
    "latent-rank",
    cl::desc("--share-kv-method=latent: floats of the latent per token"),
    cl::value_desc("R"), cl::cat(category));
cl::opt<std::string> latentRopeDim(
    "latent-rope-dim",
    cl::desc("--share-kv-method=latent: floats of the shared rotary key per "
             "token (default: half a head)"),
    cl::value_desc("P"), cl::cat(category));
cl::opt<std::string> calibrationFile(
    "calibration",
    cl::desc("Graph inputs (npz) on which --share-kv-method=calibrated fits "
             "the shared heads"),
    cl::value_desc("inputs.npz"), cl::cat(category));
cl::opt<std::string> maxSeq(
    "max-seq",
    cl::desc("KV-cache capacity (positions) of a fused decode step; default "
             "1024"),
    cl::value_desc("N"), cl::cat(category));
cl::opt<bool> noFuseDecode(
    "no-fuse-decode",
    cl::desc("Keep concat(past, new) of a decode-step model with a symbolic "
             "past length instead of an in-place KV cache (bind the past "
             "length with --dim)"),
    cl::init(false), cl::cat(category));
cl::opt<bool> perRowPositions(
    "per-row-positions",
    cl::desc("Give a fused decode step one position per batch row "
             "(cache_position : [B]), so a batch mixes sequences of "
             "different lengths"),
    cl::init(false), cl::cat(category));
cl::opt<std::string> kvCacheType(
    "kv-cache-type",
    cl::desc("Store a decode step's KV caches as f32, f16, bf16, int8 or fp8 "
             "(E4M3); int8/fp8 add f32 [B, Hkv] scale inputs per cache"),
    cl::value_desc("TYPE"), cl::cat(category));
cl::opt<bool> windowRingCache(
    "window-ring-cache",
    cl::desc("Keep the KV caches of sliding-window decode layers (ORT "
             "local_window_size, causal window(L, 0)) as rings of L + Sq "
             "positions: cache inputs/outputs shrink to that length and "
             "positions may run past it"),
    cl::init(false), cl::cat(category));
cl::opt<std::string> pagedKVCache(
    "paged-kv-cache",
    cl::desc("Keep a fused decode step's KV caches as page pools [N, Hkv, "
             "PAGE_SIZE, D] read through one block_table input [B, "
             "ceil(max-seq / PAGE_SIZE)] (vLLM's layout; needs "
             "--per-row-positions)"),
    cl::value_desc("PAGE_SIZE"), cl::cat(category));
cl::opt<std::string> kvPages(
    "kv-pages",
    cl::desc("Pages in each pool of --paged-kv-cache (default: B * "
             "ceil(max-seq / PAGE_SIZE))"),
    cl::value_desc("N"), cl::cat(category));
cl::opt<std::string> params(
    "params",
    cl::desc("Where a library's weights live: copy (default: LIBRARY.params "
             "beside it) or external (the ONNX model's external data files, "
             "referenced in place; the rest still goes to LIBRARY.params)"),
    cl::init("copy"), cl::cat(category));
cl::opt<std::string> entryFunction(
    "entry-function", cl::desc("Function to export (default: the only public "
                               "function)"),
    cl::init(""), cl::cat(category));

int fail(const llvm::Twine &message) {
  llvm::WithColor::error(llvm::errs(), "attn-compile") << message << "\n";
  return 1;
}

/// CompileOptions from the flags, through the library's parser so that the
/// command line and the C API accept the same text.
bool fillOptions(CompileOptions &options, std::string &error) {
  std::vector<std::pair<std::string, std::string>> flags = {
      {"target", target},
      {"share-kv", shareKV},
      {"calibration", calibrationFile},
      {"mcpu", mcpu},
      {"mattr", mattr},
      {"bf16-dot-products", bf16DotProducts},
      {"entry-function", entryFunction},
      {"params", params}};
  for (const std::string &dim : dims)
    flags.push_back({"dim", dim});
  for (const std::string &shape : inputShapes)
    flags.push_back({"input-shape", shape});
  if (shareKVMethod.getNumOccurrences())
    flags.push_back({"share-kv-method", shareKVMethod});
  if (shareKVIterations.getNumOccurrences())
    flags.push_back({"share-kv-iterations", shareKVIterations});
  if (shareKVPasses.getNumOccurrences())
    flags.push_back({"share-kv-passes", shareKVPasses});
  if (shareKVReuseProbe.getNumOccurrences())
    flags.push_back(
        {"share-kv-reuse-probe", shareKVReuseProbe ? "true" : "false"});

  if (shareKVFirstPass.getNumOccurrences())
    flags.push_back({"share-kv-first-pass", shareKVFirstPass});
  if (shareKVFitWindows.getNumOccurrences())
    flags.push_back({"share-kv-fit-windows", shareKVFitWindows});
  if (shareKVBlockRefit.getNumOccurrences())
    flags.push_back({"share-kv-block-refit", shareKVBlockRefit});
  if (shareKVRefitRounds.getNumOccurrences())
    flags.push_back({"share-kv-refit-rounds", shareKVRefitRounds});
  if (shareKVFitMaps.getNumOccurrences())
    flags.push_back({"share-kv-fit-maps", shareKVFitMaps});
  if (shareKVSolveOutput.getNumOccurrences())
    flags.push_back({"share-kv-solve-output", shareKVSolveOutput});
  if (shareKVRidge.getNumOccurrences())
    flags.push_back({"share-kv-ridge", shareKVRidge});
  if (shareKVOutputRidgeCV.getNumOccurrences())
    flags.push_back({"share-kv-output-ridge-cv", shareKVOutputRidgeCV});
  if (shareKVAlignedWeighting.getNumOccurrences())
    flags.push_back({"share-kv-aligned-weighting", shareKVAlignedWeighting});
  if (shareKVOutputMetric.getNumOccurrences())
    flags.push_back({"share-kv-output-metric", shareKVOutputMetric});
  if (shareKVOriginalTarget.getNumOccurrences())
    flags.push_back({"share-kv-original-target", shareKVOriginalTarget});
  if (shareKVGrouping.getNumOccurrences())
    flags.push_back({"share-kv-grouping", shareKVGrouping});
  if (shareKVReorderOnly)
    flags.push_back({"share-kv-reorder-only", "true"});
  if (shareKVEarlyStop.getNumOccurrences())
    flags.push_back(
        {"share-kv-early-stop", shareKVEarlyStop ? "true" : "false"});
  if (latentRank.getNumOccurrences())
    flags.push_back({"latent-rank", latentRank});
  if (latentRopeDim.getNumOccurrences())
    flags.push_back({"latent-rope-dim", latentRopeDim});
  if (maxSeq.getNumOccurrences())
    flags.push_back({"max-seq", maxSeq});
  if (kvCacheType.getNumOccurrences())
    flags.push_back({"kv-cache-type", kvCacheType});
  if (perRowPositions)
    flags.push_back({"per-row-positions", "true"});
  if (windowRingCache)
    flags.push_back({"window-ring-cache", "true"});
  if (pagedKVCache.getNumOccurrences())
    flags.push_back({"paged-kv-cache", pagedKVCache});
  if (kvPages.getNumOccurrences())
    flags.push_back({"kv-pages", kvPages});
  for (const auto &[key, value] : flags)
    if (failed(setCompileOption(options, key, value, error)))
      return false;
  options.output = emit;
  options.fuseDecode = !noFuseDecode;
  // The library writes the report to a file; "-" is stdout, printed here.
  options.reportPath = reportFile == "-" ? std::string() : reportFile.getValue();
  return true;
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  // Pass names, for --mlir-print-ir-after=PASS and the like.
  mlir::registerAllPasses();
  mlir::attn::registerAllAttnPasses();
  mlir::registerMLIRContextCLOptions();
  mlir::registerPassManagerCLOptions();
  mlir::registerAsmPrinterCLOptions();
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv,
      "attn-compile: compile an attention model (.mlir, .onnx) into a shared "
      "library that libAttnRuntime loads\n");

  CompileOptions options;
  std::string error;
  if (!fillOptions(options, error))
    return fail(error);
  ModelSource source;
  source.path = inputFile;
  CompileResult result;
  Session session(/*commandLinePassOptions=*/true);
  bool ok = succeeded(session.compile(source, options, outputFile, result));
  llvm::errs() << result.diagnostics;
  for (const std::string &warning : result.warnings)
    llvm::WithColor::warning(llvm::errs(), "attn-compile") << warning << "\n";
  llvm::outs() << result.log;
  if (!ok)
    return fail(result.error);
  // The library wrote the IR to -o; without -o (or with -o -) it goes here.
  if (emit != OutputKind::Library && (outputFile.empty() || outputFile == "-"))
    llvm::outs() << result.text;
  if (reportFile == "-")
    llvm::outs() << result.report;
  return 0;
}
