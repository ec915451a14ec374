//===- Pipelines.h - attn compilation pipelines ----------------*- C++ -*-===//
//
// `attn-compile-pipeline` is what attn-compile runs on a module (import and
// KV-sharing calibration aside, which are not passes); the finer builders
// below are its stages, kept as building blocks. docs/compiler-library.md
// lists them.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_PIPELINES_PIPELINES_H
#define ATTN_PIPELINES_PIPELINES_H

#include "attn/Pipelines/CpuTarget.h"

#include <cstdint>
#include <string>

namespace mlir {
class OpPassManager;
namespace attn {

/// What the graph-level pipeline does besides raising attention.
struct TransformOptions {
  int64_t shareKVHeads = 0;         ///< 0: keep the KV heads as they are
  std::string shareKVMethod = "mean"; ///< mean | exact | calibrated
  /// attn-share-kv-latent{rank rope-dim} when latentRank > 0.
  int64_t latentRank = 0, latentRopeDim = -1;
};

/// Graph level, on tensors: raise attention (folding repeat_kv), clean up,
/// and optionally convert to fewer KV heads.
void buildAttnTransformPipeline(OpPassManager &pm,
                                const TransformOptions &options = {});

/// Only the attention raising of buildAttnTransformPipeline.
void buildAttnRaisePipeline(OpPassManager &pm);

/// Only the KV-head conversion of buildAttnTransformPipeline (nothing when
/// `options.shareKVHeads` is 0).
void buildAttnShareKVPipeline(OpPassManager &pm, const TransformOptions &options);

/// attn-fuse-decode and its clean-up: concat(past, new) -> attention of a
/// decode step becomes an in-place KV-cache append.
void buildAttnFuseDecodePipeline(OpPassManager &pm,
                                 bool perRowPositions = false);

/// Tensors to memrefs: one-shot bufferisation across function boundaries
/// (identity layouts), results as out-parameters, deallocations inserted.
void buildAttnBufferizationPipeline(OpPassManager &pm);

/// Vector widths of the CPU code generation (0: each pass's own default,
/// 8 lanes).
struct CodegenOptions {
  int64_t rowLanes = 0;    ///< convert-attn-to-loops{row-lanes}
  int64_t vectorLanes = 0; ///< convert-contraction-to-vectors{vector-lanes}
  bool inlineBF16Widening = false; ///< convert-attn-to-loops{inline-bf16-widening}
  bool bf16DotProducts = false; ///< convert-attn-to-loops{bf16-dot-products}
  bool overlapTileWidening = false; ///< convert-attn-to-loops{overlap-tile-widening}
  bool keyRowsInOrder = false; ///< convert-attn-to-loops{key-rows-in-order}
  int64_t groupedTileKeys = 0; ///< convert-attn-to-loops{grouped-tile-keys}
  int64_t f16GroupedTileKeys = 0; ///< convert-attn-to-loops{f16-grouped-tile-keys}
  bool claimWorkItems = true; ///< convert-attn-to-loops{claim-work-items}
  int64_t tileAlignment = 0; ///< convert-attn-to-loops{tile-alignment}
  /// convert-contraction-to-vectors{row-streaming}
  bool rowStreamMatVec = false;
};

/// Memrefs to the LLVM dialect: attn ops to flash loops, remaining linalg to
/// loops, scf.parallel to OpenMP, vectors and memrefs to LLVM.
void buildAttnCpuCodegenPipeline(OpPassManager &pm,
                                 const CodegenOptions &options = {});

/// The options of attn-compile-pipeline, resolved (the CPU target is looked
/// up already). attn::compile::CompileOptions fills them for attn-compile.
struct CompilePipelineOptions {
  std::string entryFunction;  ///< "" : the only public function
  int64_t shareKVHeads = 0;   ///< 0: keep the KV heads
  std::string shareKVMethod = "mean";
  int64_t latentRank = 0, latentRopeDim = -1; ///< attn-share-kv-latent
  bool fuseDecode = false;    ///< run attn-fuse-decode
  bool perRowPositions = false; ///< its per-row-positions option
  /// attn-kv-cache-type{type=...} after decode fusion; "" keeps the caches.
  std::string kvCacheType;
  /// attn-window-ring-cache after decode fusion (before kvCacheType):
  /// window layers keep ring caches of L + Sq slots.
  bool windowRingCache = false;
  /// attn-paged-kv-cache{page-size=...} after the ring caches (0: off).
  int64_t pagedKVCache = 0;
  int64_t kvPages = 0;         ///< its num-pages (0: B * pages per row)
  CpuTarget target;           ///< from resolveCpuTarget (the host code's CPU)
  bool cuda = false;          ///< kernels for NVIDIA sm_90a instead of CPU loops
  /// attn-transpose-matvec-weights{release-replaced}: the module's weight
  /// blobs are not shared with another module (attn-compile's library).
  bool releaseReplacedWeights = false;
};

/// The graph stage of attn-compile-pipeline: raise, share KV heads, fuse the
/// decode step (on tensors). buildAttnRaisePipeline followed by
/// buildAttnGraphTailPipeline.
void buildAttnGraphPipeline(OpPassManager &pm,
                            const CompilePipelineOptions &options);

/// What follows raising in the graph stage: share-kv (with calibrated
/// sharing the calibration attributes must be on the ops by now) and
/// decode fusion.
void buildAttnGraphTailPipeline(OpPassManager &pm,
                                const CompilePipelineOptions &options);

/// The lowering stage: mark the entry point, bufferise, export the runtime
/// entry point, CPU code generation with the target's vector width.
void buildAttnLoweringPipeline(OpPassManager &pm,
                               const CompilePipelineOptions &options);

/// attn-compile-pipeline: the graph stage, then the lowering stage.
void buildAttnCompilePipeline(OpPassManager &pm,
                              const CompilePipelineOptions &options);

/// Registers `attn-compile-pipeline` and `attn-cpu-pipeline`.
void registerAttnPipelines();

} // namespace attn
} // namespace mlir

#endif // ATTN_PIPELINES_PIPELINES_H
