//===- CompilePipeline.cpp - attn-compile-pipeline and its registration ---===//
//
// attn-compile-pipeline is the pass sequence that attn-compile (and the C
// API, and Python) runs on a module; attn-opt and stock mlir-opt with the
// plugin run the same builder, so their output loads in the runtime.
//
//===----------------------------------------------------------------------===//

#include "attn/Pipelines/Pipelines.h"

#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "attn/Pipelines/CudaPipeline.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"
#include "mlir/Pass/PassRegistry.h"

using namespace mlir;
using namespace mlir::attn;

void mlir::attn::buildAttnGraphTailPipeline(
    OpPassManager &pm, const CompilePipelineOptions &options) {
  TransformOptions share;
  share.shareKVHeads = options.shareKVHeads;
  share.shareKVMethod = options.shareKVMethod;
  share.latentRank = options.latentRank;
  share.latentRopeDim = options.latentRopeDim;
  buildAttnShareKVPipeline(pm, share);
  if (options.fuseDecode)
    buildAttnFuseDecodePipeline(pm, options.perRowPositions);
  if (options.windowRingCache)
    pm.addPass(createAttnWindowRingCache());
  if (options.pagedKVCache) {
    AttnPagedKVCacheOptions paged;
    paged.pageSize = options.pagedKVCache;
    paged.numPages = options.kvPages;
    pm.addPass(createAttnPagedKVCache(paged));
  }
  if (!options.kvCacheType.empty()) {
    AttnKVCacheTypeOptions cacheType;
    cacheType.cacheType = options.kvCacheType;
    pm.addPass(createAttnKVCacheType(cacheType));
  }
}

void mlir::attn::buildAttnGraphPipeline(OpPassManager &pm,
                                        const CompilePipelineOptions &options) {
  buildAttnRaisePipeline(pm);
  buildAttnGraphTailPipeline(pm, options);
}

void mlir::attn::buildAttnLoweringPipeline(
    OpPassManager &pm, const CompilePipelineOptions &options) {
  AttnMarkEntryPointOptions mark;
  mark.entryFunction = options.entryFunction;
  pm.addPass(createAttnMarkEntryPoint(mark));
  // One function per repeated layer, on tensors: bufferisation, OpenMP
  // outlining and LLVM then handle one copy of a layer instead of one per
  // layer (on memrefs, after bufferisation, the layers would be cut at
  // their allocations and deallocations and bufferisation itself would
  // still see them all). Outlined functions take the KV caches as arguments
  // and bufferisation keeps them in place across the call. CPU only: the
  // cuda pipeline moves host buffers to the device per function.
  if (options.cuda) {
    buildAttnCudaTensorPipeline(pm);
  } else {
    // Constant weights in their kernels' layout, before outlining (the
    // outlined layers then take the transposed constants).
    if (options.target.transposeMatVecWeights ||
        options.target.blockedMatmulWeights) {
      AttnTransposeMatVecWeightsOptions layout;
      layout.dotRows = options.target.transposeMatVecWeights ? 1 : 0;
      layout.blockedRows = options.target.blockedMatmulWeights ? 17 : 0;
      layout.releaseReplaced = options.releaseReplacedWeights;
      pm.addPass(createAttnTransposeMatVecWeights(layout));
    }
    pm.addPass(createAttnOutlineRepeats());
  }
  buildAttnBufferizationPipeline(pm);
  AttnExportEntryPointOptions exportOptions;
  exportOptions.entryFunction = options.entryFunction;
  exportOptions.device = options.cuda ? "cuda" : "cpu";
  pm.addPass(createAttnExportEntryPoint(exportOptions));
  if (options.cuda) {
    buildAttnCudaCodegenPipeline(pm);
    return;
  }
  CodegenOptions codegen;
  codegen.rowLanes = options.target.f32Lanes;
  codegen.vectorLanes = options.target.f32Lanes;
  codegen.inlineBF16Widening = options.target.inlineBF16Widening;
  codegen.bf16DotProducts = options.target.bf16DotProducts;
  codegen.overlapTileWidening = options.target.overlapTileWidening;
  codegen.keyRowsInOrder = options.target.keyRowsInOrder;
  codegen.f16GroupedTileKeys = options.target.f16GroupedTileKeys;
  codegen.claimWorkItems = options.target.claimWorkItems;
  codegen.tileAlignment = options.target.tileAlignment;
  codegen.rowStreamMatVec = options.target.rowStreamMatVec;
  buildAttnCpuCodegenPipeline(pm, codegen);
}

void mlir::attn::buildAttnCompilePipeline(
    OpPassManager &pm, const CompilePipelineOptions &options) {
  buildAttnGraphPipeline(pm, options);
  buildAttnLoweringPipeline(pm, options);
}

namespace {

/// The textual options of attn-compile-pipeline; the names are
/// attn-compile's flags.
struct CompilePipelineTextOptions
    : public PassPipelineOptions<CompilePipelineTextOptions> {
  Option<std::string> entryFunction{
      *this, "entry-function",
      llvm::cl::desc("Function to export (default: the only public one)"),
      llvm::cl::init("")};
  Option<int64_t> shareKV{
      *this, "share-kv",
      llvm::cl::desc("Convert attention to N key/value heads (0: keep)"),
      llvm::cl::init(0)};
  Option<std::string> shareKVMethod{
      *this, "share-kv-method",
      llvm::cl::desc("mean, exact, or calibrated (the ops must carry the "
                     "calibration attributes)"),
      llvm::cl::init("mean")};
  Option<int64_t> latentRank{
      *this, "latent-rank",
      llvm::cl::desc("Convert attention to latent (MLA) form of this rank "
                     "(0: keep)"),
      llvm::cl::init(0)};
  Option<int64_t> latentRopeDim{
      *this, "latent-rope-dim",
      llvm::cl::desc("Its shared rotary key's floats (-1: half a head)"),
      llvm::cl::init(-1)};
  Option<bool> fuseDecode{
      *this, "fuse-decode",
      llvm::cl::desc("Turn concat(past, new) -> attention of a decode step "
                     "into an in-place KV-cache append"),
      llvm::cl::init(false)};
  Option<bool> perRowPositions{
      *this, "per-row-positions",
      llvm::cl::desc("A fused decode step takes one position per batch row "
                     "(cache_position : [B])"),
      llvm::cl::init(false)};
  Option<std::string> kvCacheType{
      *this, "kv-cache-type",
      llvm::cl::desc("Store decode KV caches as f32, f16, bf16, int8 or fp8 "
                     "(\"\": keep)"),
      llvm::cl::init("")};
  Option<bool> windowRingCache{
      *this, "window-ring-cache",
      llvm::cl::desc("Keep the KV caches of causal window(L, 0) decode "
                     "layers as rings of L + Sq slots"),
      llvm::cl::init(false)};
  Option<int64_t> pagedKVCache{
      *this, "paged-kv-cache",
      llvm::cl::desc("Keep decode KV caches as page pools of this many "
                     "positions a page, read through a block_table input "
                     "(0: contiguous)"),
      llvm::cl::init(0)};
  Option<int64_t> kvPages{
      *this, "kv-pages",
      llvm::cl::desc("Pages in each pool (0: batch * pages per row)"),
      llvm::cl::init(0)};
  Option<std::string> target{
      *this, "target",
      llvm::cl::desc("cpu (default) or cuda (NVIDIA sm_90a kernels)"),
      llvm::cl::init("cpu")};
  Option<std::string> mcpu{
      *this, "mcpu",
      llvm::cl::desc("CPU to generate code for: native or an LLVM CPU name"),
      llvm::cl::init("native")};
  Option<std::string> mattr{
      *this, "mattr",
      llvm::cl::desc("CPU features to add or remove: +avx512f,-fma,..."),
      llvm::cl::init("")};
  Option<std::string> bf16DotProducts{
      *this, "bf16-dot-products",
      llvm::cl::desc("Decode on bf16 caches with AVX512_BF16 dot "
                     "products (Q.K and P.V of MQA and GQA): auto, on or "
                     "off"),
      llvm::cl::init("auto")};
};

} // namespace

void mlir::attn::registerAttnPipelines() {
  // Registered by hand, not with PassPipelineRegistration, so that an
  // unknown mcpu/mattr is an error of the pipeline instead of an abort.
  registerPassPipeline(
      "attn-compile-pipeline",
      "What attn-compile runs: raise attention, share KV heads, fuse the "
      "decode step, bufferise, export the runtime entry point and lower to "
      "the LLVM dialect for a CPU",
      [](OpPassManager &pm, StringRef text,
         function_ref<LogicalResult(const Twine &)> errorHandler) {
        CompilePipelineTextOptions parsed;
        std::string message;
        llvm::raw_string_ostream os(message);
        if (failed(parsed.parseFromString(text, os)))
          return errorHandler(message);
        CompilePipelineOptions options;
        options.entryFunction = parsed.entryFunction;
        options.shareKVHeads = parsed.shareKV;
        options.shareKVMethod = parsed.shareKVMethod;
        options.latentRank = parsed.latentRank;
        options.latentRopeDim = parsed.latentRopeDim;
        options.fuseDecode = parsed.fuseDecode;
        options.kvCacheType = parsed.kvCacheType;
        options.perRowPositions = parsed.perRowPositions;
        options.windowRingCache = parsed.windowRingCache;
        options.pagedKVCache = parsed.pagedKVCache;
        options.kvPages = parsed.kvPages;
        if (parsed.target != "cpu" && parsed.target != "cuda")
          return errorHandler("attn-compile-pipeline: unknown target '" +
                              parsed.target + "' (expected cpu or cuda)");
        options.cuda = parsed.target == "cuda";
        std::string error;
        FailureOr<CpuTarget> target =
            resolveCpuTarget(parsed.mcpu, parsed.mattr, error,
                             parsed.bf16DotProducts);
        if (failed(target))
          return errorHandler("attn-compile-pipeline: " + error);
        options.target = std::move(*target);
        buildAttnCompilePipeline(pm, options);
        return success();
      },
      [](function_ref<void(const detail::PassOptions &)> optHandler) {
        optHandler(CompilePipelineTextOptions());
      });

  PassPipelineRegistration<>(
      "attn-cpu-pipeline",
      "Building block: raise attention, bufferise and lower attn ops on "
      "tensors to the LLVM dialect (8-lane vectors; no runtime entry point: "
      "use attn-compile-pipeline for a loadable model)",
      [](OpPassManager &pm) {
        buildAttnTransformPipeline(pm);
        buildAttnBufferizationPipeline(pm);
        buildAttnCpuCodegenPipeline(pm);
      });
}
