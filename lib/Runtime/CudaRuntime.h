//===- CudaRuntime.h - the CUDA driver runtime of CUDA models ---*- C++ -*-===//
//
// CudaRuntime.cpp implements, over the CUDA driver API loaded with dlopen,
// the `mgpu*` functions that MLIR's gpu-to-llvm host code calls, plus the
// device helpers of the C API. This header is what Runtime.cpp needs around
// a run of a CUDA model.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_RUNTIME_CUDARUNTIME_H
#define ATTN_LIB_RUNTIME_CUDARUNTIME_H

#include "attn-c/Runtime.h"

#include <string>

namespace attn::rt {

/// Makes `stream` (a CUstream; null for the legacy default stream) the
/// stream of this thread's mgpu* calls until endCudaRun, and clears this
/// thread's pending CUDA error. False (with `error`) when the driver is
/// unavailable.
bool beginCudaRun(void *stream, std::string &error);

/// Ends the run begun by beginCudaRun: synchronises the stream when the
/// caller passed none, and returns false with the first CUDA error of the
/// run (its cuGetErrorName in the message). After the synchronisation it
/// reads the decode checks' error record once (when the run used it) and
/// passes a bad position or table entry to attn_rt_report_position_error,
/// so it must run while the run's report state is current.
bool endCudaRun(std::string &error);

/// Clears this thread's pending CUDA error (before loading a model, whose
/// constructor loads its kernels with mgpuModuleLoad).
void clearCudaError();

/// Takes this thread's pending CUDA error: false and `error` set if there
/// was one.
bool takeCudaError(std::string &error);

/// The CUDA device ordinal that the runtime uses (attnCudaSetDevice, else
/// 0). The first call fixes it: attnCudaSetDevice then accepts only the
/// same ordinal. (CudaRuntimeExtras.cpp)
int cudaDeviceOrdinal();

/// Sets the message of attnGetLastError() (Runtime.cpp) and returns
/// ATTN_ERROR.
AttnStatus setLastError(const std::string &message);

} // namespace attn::rt

#endif // ATTN_LIB_RUNTIME_CUDARUNTIME_H
