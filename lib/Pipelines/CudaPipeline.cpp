//===- CudaPipeline.cpp - the `cuda` target's codegen pipeline ------------===//

#include "attn/Pipelines/CudaPipeline.h"

#include "attn/Conversion/Passes.h"
#include "attn/Pipelines/Pipelines.h"

#include "mlir/Dialect/GPU/Pipelines/Passes.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

#include <cstdlib>

using namespace mlir;

namespace {

/// gpu-module-to-binary runs ptxas from $CUDA_ROOT, $CUDA_HOME, $CUDA_PATH
/// or $PATH: Debian's MLIR has no configured toolkit path.
void ensureCudaRoot() {
  if (!std::getenv("CUDA_ROOT") && !std::getenv("CUDA_HOME") &&
      !std::getenv("CUDA_PATH"))
    setenv("CUDA_ROOT", "/usr/local/cuda", /*overwrite=*/0);
}

struct CudaPipelineOptions : PassPipelineOptions<CudaPipelineOptions> {
  Option<std::string> chip{*this, "chip", llvm::cl::desc("GPU architecture"),
                           llvm::cl::init("sm_90a")};
  Option<std::string> features{*this, "features",
                               llvm::cl::desc("PTX features"),
                               llvm::cl::init("+ptx80")};
  Option<std::string> format{
      *this, "cubin-format",
      llvm::cl::desc("bin (cubin, default) or isa (PTX text, for tests)"),
      llvm::cl::init("bin")};
  Option<int> optLevel{*this, "opt-level", llvm::cl::desc("0-3"),
                       llvm::cl::init(3)};
  Option<bool> wgmmaPrefill{
      *this, "wgmma-prefill",
      llvm::cl::desc("D = 128 prompts on the wgmma kernel (sm_90a only)"),
      llvm::cl::init(true)};
};

} // namespace

void mlir::attn::buildAttnCudaTensorPipeline(OpPassManager &pm) {
  pm.addNestedPass<func::FuncOp>(createAttnFuseElementwise());
  pm.addPass(createCanonicalizerPass());
}

void mlir::attn::buildAttnCudaCodegenPipeline(OpPassManager &pm,
                                              const CudaOptions &options) {
  ensureCudaRoot();
  // Weights to the device once, linalg ops to kernels, attention kernels,
  // then host buffer ops to the device (attn-device-buffers checks the
  // host never touches device memory, for all of them).
  pm.addPass(createAttnDeviceConstants());
  pm.addNestedPass<func::FuncOp>(createAttnLinalgToGPU());
  // Constants and index computations used by the kernels are cloned into
  // them rather than passed as arguments.
  pm.addPass(createGpuLaunchSinkIndexComputationsPass());
  pm.addPass(createGpuKernelOutliningPass());
  ConvertAttnToGPUOptions attnToGpu;
  // wgmma is sm_90a only (the "a" features).
  attnToGpu.wgmmaPrefill = options.wgmmaPrefill && options.chip == "sm_90a";
  pm.addPass(createConvertAttnToGPU(attnToGpu));
  pm.addPass(createAttnDeviceBuffers());
  // One stream per run: launches, copies and workspace allocations are
  // chained on it, and the run waits for it once at the end.
  pm.addNestedPass<func::FuncOp>(createGpuAsyncRegionPass());
  gpu::GPUToNVVMPipelineOptions nvvm;
  nvvm.cubinChip = options.chip;
  nvvm.cubinFeatures = options.features;
  nvvm.cubinFormat = options.format;
  nvvm.optLevel = options.optLevel;
  gpu::buildLowerToNVVMPassPipeline(pm, nvvm);
}

void mlir::attn::registerAttnCudaPipeline() {
  PassPipelineRegistration<CudaPipelineOptions>(
      "attn-cuda-pipeline",
      "Lower a module of attn ops on tensors to the LLVM dialect with GPU "
      "kernels for NVIDIA Hopper (sm_90a)",
      [](OpPassManager &pm, const CudaPipelineOptions &o) {
        buildAttnTransformPipeline(pm);
        buildAttnCudaTensorPipeline(pm);
        buildAttnBufferizationPipeline(pm);
        CudaOptions options;
        options.chip = o.chip;
        options.features = o.features;
        options.format = o.format;
        options.optLevel = o.optLevel;
        options.wgmmaPrefill = o.wgmmaPrefill;
        buildAttnCudaCodegenPipeline(pm, options);
      });
}
