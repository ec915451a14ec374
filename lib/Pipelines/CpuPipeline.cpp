//===- CpuPipeline.cpp - attn compilation pipelines -----------------------===//

#include "attn/Pipelines/Pipelines.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace {

/// Appends a textual pipeline; the passes are the project's and upstream's,
/// so a parse failure is a bug in this file, not a user error.
void append(OpPassManager &pm, const std::string &pipeline) {
  std::string error;
  llvm::raw_string_ostream os(error);
  if (failed(parsePassPipeline(pipeline, pm, os)))
    llvm::report_fatal_error(llvm::Twine("attn pipeline: ") + os.str());
}

} // namespace

void mlir::attn::buildAttnTransformPipeline(OpPassManager &pm,
                                            const TransformOptions &options) {
  append(pm, "func.func(attn-raise-attention),canonicalize,cse");
  buildAttnShareKVPipeline(pm, options);
}

void mlir::attn::buildAttnShareKVPipeline(OpPassManager &pm,
                                          const TransformOptions &options) {
  if (options.shareKVHeads > 0)
    append(pm, "func.func(attn-share-kv{kv-heads=" +
                   std::to_string(options.shareKVHeads) +
                   " method=" + options.shareKVMethod + "}),canonicalize,cse");
}

void mlir::attn::buildAttnBufferizationPipeline(OpPassManager &pm) {
  append(pm, "canonicalize,"
             "one-shot-bufferize{bufferize-function-boundaries "
             "function-boundary-type-conversion=identity-layout-map},"
             // KV caches updated in place stay arguments (inout buffers)
             // instead of being copied into out-parameters.
             "attn-drop-tied-results,attn-unique-result-buffers,"
             "buffer-results-to-out-params{hoist-static-allocs add-result-attr "
             "modify-public-functions},"
             "func.func(buffer-hoisting),"
             "ownership-based-buffer-deallocation,"
             "canonicalize,buffer-deallocation-simplification,"
             "bufferization-lower-deallocations,cse,canonicalize");
}

void mlir::attn::buildAttnCpuCodegenPipeline(OpPassManager &pm) {
  append(pm, "func.func(convert-attn-to-loops,convert-contraction-to-vectors,"
             "convert-linalg-to-loops),"
             "canonicalize,cse,"
             "convert-scf-to-openmp,"
             "func.func(math-expand-ops),"
             "convert-vector-to-scf,expand-strided-metadata,"
             // expand-strided-metadata makes affine.apply for subview offsets.
             "lower-affine,"
             // memref.alloca_scope (from scf-to-openmp) must become LLVM
             // before scf-to-cf splits its body into blocks.
             // No rollback log: each block split would record every op it
             // moves, quadratic in a model's length (+890 MB at 30 layers).
             "finalize-memref-to-llvm,"
             "convert-scf-to-cf{allow-pattern-rollback=0},"
             "convert-vector-to-llvm,"
             "convert-to-llvm{allow-pattern-rollback=0},"
             "reconcile-unrealized-casts,canonicalize");
}

void mlir::attn::registerAttnPipelines() {
  PassPipelineRegistration<>(
      "attn-cpu-pipeline",
      "Lower a module of attn ops on tensors to the LLVM dialect for the CPU",
      [](OpPassManager &pm) {
        buildAttnTransformPipeline(pm);
        buildAttnBufferizationPipeline(pm);
        buildAttnCpuCodegenPipeline(pm);
      });
}
