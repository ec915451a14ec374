//===- CpuPipeline.cpp - the stages of the attn CPU pipeline --------------===//
//
// Every stage is built from typed pass constructors, so a misspelt pass or
// option is a compile error here rather than a parse failure at run time.
//
//===----------------------------------------------------------------------===//

#include "attn/Pipelines/Pipelines.h"

#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

namespace {

void addCleanup(OpPassManager &pm) {
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

} // namespace

void mlir::attn::buildAttnRaisePipeline(OpPassManager &pm) {
  pm.addNestedPass<func::FuncOp>(createAttnRaiseAttention());
  addCleanup(pm);
  // Multi-head latent attention attends over its latent (docs/mla.md).
  pm.addNestedPass<func::FuncOp>(createAttnAbsorbLatentProjections());
  addCleanup(pm);
}

void mlir::attn::buildAttnTransformPipeline(OpPassManager &pm,
                                            const TransformOptions &options) {
  buildAttnRaisePipeline(pm);
  buildAttnShareKVPipeline(pm, options);
}

void mlir::attn::buildAttnShareKVPipeline(OpPassManager &pm,
                                          const TransformOptions &options) {
  if (options.latentRank > 0) {
    AttnShareKVLatentOptions latent;
    latent.rank = options.latentRank;
    latent.ropeDim = options.latentRopeDim;
    pm.addPass(createAttnShareKVLatent(latent));
    addCleanup(pm);
  }
  if (options.shareKVHeads <= 0)
    return;
  AttnShareKVOptions shareOptions;
  shareOptions.kvHeads = options.shareKVHeads;
  shareOptions.method = options.shareKVMethod;
  pm.addPass(createAttnShareKV(shareOptions));
  addCleanup(pm);
}

void mlir::attn::buildAttnFuseDecodePipeline(OpPassManager &pm,
                                              bool perRowPositions) {
  AttnFuseDecodeOptions fuse;
  fuse.perRowPositions = perRowPositions;
  pm.addPass(createAttnFuseDecode(fuse));
  addCleanup(pm);
}

void mlir::attn::buildAttnBufferizationPipeline(OpPassManager &pm) {
  namespace bz = bufferization;
  pm.addPass(createCanonicalizerPass());
  bz::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion = bz::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bz::createOneShotBufferizePass(bufferize));
  // Caches that an outlined layer updated in place are not its results.
  pm.addPass(createAttnDropOutlinedResults());
  // KV caches updated in place stay arguments (inout buffers) instead of
  // being copied into out-parameters.
  pm.addPass(createAttnDropTiedResults());
  pm.addPass(createAttnUniqueResultBuffers());
  bz::BufferResultsToOutParamsPassOptions outParams;
  outParams.hoistStaticAllocs = true;
  outParams.addResultAttribute = true;
  outParams.modifyPublicFunctions = true;
  pm.addPass(bz::createBufferResultsToOutParamsPass(outParams));
  pm.addNestedPass<func::FuncOp>(bz::createBufferHoistingPass());
  pm.addPass(bz::createOwnershipBasedBufferDeallocationPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(bz::createBufferDeallocationSimplificationPass());
  pm.addPass(bz::createLowerDeallocationsPass());
  pm.addPass(createCSEPass());
  pm.addPass(createCanonicalizerPass());
}

void mlir::attn::buildAttnCpuCodegenPipeline(OpPassManager &pm,
                                             const CodegenOptions &options) {
  ConvertAttnToLoopsOptions loops;
  loops.rowLanes = options.rowLanes;
  loops.inlineBF16Widening = options.inlineBF16Widening;
  loops.bf16DotProducts = options.bf16DotProducts;
  loops.overlapTileWidening = options.overlapTileWidening;
  loops.keyRowsInOrder = options.keyRowsInOrder;
  loops.groupedTileKeys = options.groupedTileKeys;
  loops.f16GroupedTileKeys = options.f16GroupedTileKeys;
  loops.claimWorkItems = options.claimWorkItems;
  loops.tileAlignment = options.tileAlignment;
  ConvertContractionToVectorsOptions vectors;
  vectors.vectorLanes = options.vectorLanes;
  vectors.rowStreaming = options.rowStreamMatVec;
  // A prefetch into L2 1 KiB ahead of the weight stream: on the loaded
  // 2-vCPU Zen 4 VM the decode step of SmolLM2-135M (538 MB of f32
  // weights) took 3% less time on 2 threads and 6% less on 1, near that
  // machine's noise (bench/RESULTS.md, cpu-decoder-step12); into L1
  // (prefetcht0) it was slower.
  if (options.rowStreamMatVec)
    vectors.prefetchBytes = 1024;
  pm.addPass(createConvertAttnToLoops(loops));
  OpPassManager &funcPm = pm.nest<func::FuncOp>();
  funcPm.addPass(createConvertContractionToVectors(vectors));
  funcPm.addPass(createConvertLinalgToLoopsPass());
  addCleanup(pm);
  pm.addPass(createConvertSCFToOpenMPPass());
  pm.addNestedPass<func::FuncOp>(math::createMathExpandOpsPass());
  pm.addPass(createConvertVectorToSCFPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  // expand-strided-metadata makes affine.apply for subview offsets.
  pm.addPass(createLowerAffinePass());
  // memref.alloca_scope (from scf-to-openmp) must become LLVM before
  // scf-to-cf splits its body into blocks.
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  // No rollback log: each block split would record every op it moves,
  // quadratic in a model's length (+890 MB at 30 layers).
  SCFToControlFlowPassOptions scfToCf;
  scfToCf.allowPatternRollback = false;
  pm.addPass(createSCFToControlFlowPass(scfToCf));
  pm.addPass(createConvertVectorToLLVMPass());
  ConvertToLLVMPassOptions toLlvm;
  toLlvm.allowPatternRollback = false;
  pm.addPass(createConvertToLLVMPass(toLlvm));
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createCanonicalizerPass());
}
