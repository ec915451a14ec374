//===- CudaPipeline.h - the `cuda` target's codegen pipeline ----*- C++ -*-===//

#ifndef ATTN_PIPELINES_CUDAPIPELINE_H
#define ATTN_PIPELINES_CUDAPIPELINE_H

#include <string>

namespace mlir {
class OpPassManager;
namespace attn {

/// Where and how the kernels are compiled.
struct CudaOptions {
  std::string chip = "sm_90a";    ///< ptxas/LLVM target (H100, H200)
  std::string features = "+ptx80"; ///< PTX ISA; sm_90a needs 8.0 or newer
  std::string format = "bin";     ///< gpu-module-to-binary: bin (cubin) | isa (PTX text)
  int optLevel = 3;
  /// Prompts with D = 128 take the wgmma prefill kernel (sm_90a only).
  bool wgmmaPrefill = true;
};

/// The cuda target's passes on tensors, before bufferisation: element-wise
/// chains fused into their consumers (attn-fuse-elementwise), fewer kernels.
void buildAttnCudaTensorPipeline(OpPassManager &pm);

/// Bufferised module (entry point exported) to the LLVM dialect: attn ops
/// to kernel launches (convert-attn-to-gpu), the host's GPU calls made
/// asynchronous on one stream, kernels to NVVM and a cubin embedded in the
/// module (ptxas found through $CUDA_ROOT, set to /usr/local/cuda when no
/// CUDA_ROOT/CUDA_HOME/CUDA_PATH is set), host code to mgpu* calls.
void buildAttnCudaCodegenPipeline(OpPassManager &pm,
                                  const CudaOptions &options = {});

/// Registers `attn-cuda-pipeline` (raise, bufferise, CUDA codegen).
void registerAttnCudaPipeline();

} // namespace attn
} // namespace mlir

#endif // ATTN_PIPELINES_CUDAPIPELINE_H
