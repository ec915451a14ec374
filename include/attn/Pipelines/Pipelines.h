//===- Pipelines.h - attn compilation pipelines ----------------*- C++ -*-===//

#ifndef ATTN_PIPELINES_PIPELINES_H
#define ATTN_PIPELINES_PIPELINES_H

namespace mlir {
class OpPassManager;
namespace attn {

/// Tensors to memrefs: one-shot bufferisation across function boundaries
/// (identity layouts), results as out-parameters, deallocations inserted.
void buildAttnBufferizationPipeline(OpPassManager &pm);

/// Memrefs to the LLVM dialect: attn ops to flash loops, remaining linalg to
/// loops, scf.parallel to OpenMP, vectors and memrefs to LLVM.
void buildAttnCpuCodegenPipeline(OpPassManager &pm);

/// Registers `attn-cpu-pipeline` (both of the above).
void registerAttnPipelines();

} // namespace attn
} // namespace mlir

#endif // ATTN_PIPELINES_PIPELINES_H
