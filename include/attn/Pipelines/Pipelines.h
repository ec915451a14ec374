//===- Pipelines.h - attn compilation pipelines ----------------*- C++ -*-===//

#ifndef ATTN_PIPELINES_PIPELINES_H
#define ATTN_PIPELINES_PIPELINES_H

#include <cstdint>
#include <string>

namespace mlir {
class OpPassManager;
namespace attn {

/// What the graph-level pipeline does besides raising attention.
struct TransformOptions {
  int64_t shareKVHeads = 0;         ///< 0: keep the KV heads as they are
  std::string shareKVMethod = "mean"; ///< mean | exact | calibrated
};

/// Graph level, on tensors: raise attention (folding repeat_kv), clean up,
/// and optionally convert to fewer KV heads.
void buildAttnTransformPipeline(OpPassManager &pm,
                                const TransformOptions &options = {});

/// Only the KV-head conversion of buildAttnTransformPipeline.
void buildAttnShareKVPipeline(OpPassManager &pm, const TransformOptions &options);

/// Tensors to memrefs: one-shot bufferisation across function boundaries
/// (identity layouts), results as out-parameters, deallocations inserted.
void buildAttnBufferizationPipeline(OpPassManager &pm);

/// Memrefs to the LLVM dialect: attn ops to flash loops, remaining linalg to
/// loops, scf.parallel to OpenMP, vectors and memrefs to LLVM.
void buildAttnCpuCodegenPipeline(OpPassManager &pm);

/// Registers `attn-cpu-pipeline` (raise, bufferise, codegen).
void registerAttnPipelines();

} // namespace attn
} // namespace mlir

#endif // ATTN_PIPELINES_PIPELINES_H
