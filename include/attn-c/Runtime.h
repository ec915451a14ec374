/*===- attn-c/Runtime.h - C API of the attn-mlir runtime ----------*- C -*-===*\
|*                                                                            *|
|* Loads a model compiled by `attn-compile` (a shared library), describes its *|
|* inputs and outputs, and runs it. The library that implements this API,     *|
|* libAttnRuntime.so, depends on no LLVM/MLIR library. docs/runtime-abi.md    *|
|* describes what a compiled model exports.                                   *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef ATTN_C_RUNTIME_H
#define ATTN_C_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ATTN_RT_API __attribute__((visibility("default")))

/// Version of the contract between compiled models and this runtime: the
/// first line of a model's signature is `attn-model <version>`. This runtime
/// reads versions 1 to 4 (2 added inout buffers, 3 a parameter file that
/// holds the weights, mapped at load time, 4 weights read in place from
/// external data files: `params-external` lines).
#define ATTN_MODEL_ABI_VERSION 4

/// Where a model's tensors live. CPU models take host pointers; CUDA models
/// take device pointers (CUdeviceptr values of the primary context of
/// device 0, e.g. torch CUDA tensors' data_ptr()) and an optional CUstream.
typedef enum AttnDevice { ATTN_DEVICE_CPU = 0, ATTN_DEVICE_CUDA = 1 } AttnDevice;

/// Element types. The order is the one of `attn::rt::DType`.
typedef enum AttnDType {
  ATTN_DTYPE_F32 = 0,
  ATTN_DTYPE_F16 = 1,
  ATTN_DTYPE_BF16 = 2,
  ATTN_DTYPE_F64 = 3,
  ATTN_DTYPE_I64 = 4,
  ATTN_DTYPE_I32 = 5,
  ATTN_DTYPE_I16 = 6,
  ATTN_DTYPE_I8 = 7,
  ATTN_DTYPE_U8 = 8,
  ATTN_DTYPE_BOOL = 9 /* one byte, 0 or 1 */
} AttnDType;

/// Every function that can fail returns ATTN_OK or ATTN_ERROR; after an
/// error, attnGetLastError() says what went wrong.
typedef enum AttnStatus { ATTN_OK = 0, ATTN_ERROR = 1 } AttnStatus;

typedef struct AttnModel AttnModel;

/// One input or output of a model. The pointers stay valid until the model
/// is freed. Tensors are dense, row-major (C order), with no padding.
typedef struct AttnTensorInfo {
  const char *name;     /* the graph's name, e.g. "input_ids" */
  AttnDType dtype;
  int32_t rank;         /* 0 for a scalar */
  const int64_t *shape; /* `rank` sizes */
  uint64_t num_bytes;   /* product(shape) * attnDTypeSize(dtype) */
} AttnTensorInfo;

/// Loads a compiled model (`dlopen(path, RTLD_NOW | RTLD_LOCAL)`) and reads
/// its signature; a model with a parameter file (or external data files)
/// also holds that file read-only, as attnModelLoadWith with
/// ATTN_PARAMS_LOAD_DEFAULT. Returns NULL on error.
ATTN_RT_API AttnModel *attnModelLoad(const char *path);

/// How a model's parameter and external data files are held in memory
/// (docs/runtime-abi.md, "How the runtime holds the weights").
typedef enum AttnParamsLoad {
  /* $ATTN_PARAMS_LOAD if set, else huge pages for a cpu model's files of
     2 MiB up to half the machine's memory, else a mapping */
  ATTN_PARAMS_LOAD_DEFAULT = 0,
  ATTN_PARAMS_LOAD_MAP = 1,  /* mmap, shared with other processes */
  ATTN_PARAMS_LOAD_HUGE = 2, /* copied into transparent huge pages */
} AttnParamsLoad;

/// attnModelLoad with the weights held as `params` says (a value outside
/// the enum is an error). Loads of one library in a process share the first
/// load's copy or mapping.
ATTN_RT_API AttnModel *attnModelLoadWith(const char *path,
                                         AttnParamsLoad params);

/// Unloads a model. NULL is allowed.
ATTN_RT_API void attnModelFree(AttnModel *model);

ATTN_RT_API AttnDevice attnModelGetDevice(const AttnModel *model);
ATTN_RT_API int32_t attnModelGetNumInputs(const AttnModel *model);
ATTN_RT_API int32_t attnModelGetNumOutputs(const AttnModel *model);
/// Inout buffers are read and written in place by every run: the KV caches
/// of a fused decode step (`attn-compile` on a model whose past length is
/// symbolic). The caller owns them and keeps them between runs.
ATTN_RT_API int32_t attnModelGetNumInouts(const AttnModel *model);

/// Fills `info` for input (output) `index`, in the order of the model's
/// signature.
ATTN_RT_API AttnStatus attnModelGetInputInfo(const AttnModel *model,
                                             int32_t index,
                                             AttnTensorInfo *info);
ATTN_RT_API AttnStatus attnModelGetOutputInfo(const AttnModel *model,
                                              int32_t index,
                                              AttnTensorInfo *info);
ATTN_RT_API AttnStatus attnModelGetInoutInfo(const AttnModel *model,
                                             int32_t index,
                                             AttnTensorInfo *info);

/// The model's signature text as embedded in the library (docs/runtime-abi.md).
ATTN_RT_API const char *attnModelGetSignature(const AttnModel *model);

/// Runs the model once. `inputs[i]` points to the data of input i and
/// `outputs[i]` to a buffer of `num_bytes` bytes for output i, both on the
/// model's device (host memory for CPU models). Outputs must not overlap
/// inputs or each other. `stream` is ignored by CPU models and may be NULL.
/// A CUDA model's buffers must be 16-byte aligned (cuMemAlloc gives 256);
/// with a `stream` (a CUstream) its kernels are enqueued there and the call
/// returns before they finish (synchronise the stream to read the outputs);
/// with NULL it runs on the legacy default stream and returns when done.
/// Errors name the CUDA error (e.g. CUDA_ERROR_NO_DEVICE).
/// A run also fails when the model's code reports a bad input value: a
/// decode step's KV-cache position past the cache (the message names the
/// input, the batch row and the capacity; the caches are left unwritten).
/// Safe to call from several threads at once on the same model. A model
/// with inout buffers needs attnModelRunInPlace.
ATTN_RT_API AttnStatus attnModelRun(AttnModel *model,
                                    const void *const *inputs,
                                    void *const *outputs, void *stream);

/// attnModelRun for models with inout buffers: `inouts[i]` points to inout
/// i, which the run reads and updates in place (it must not overlap any
/// other buffer). Concurrent runs must use different inout buffers.
ATTN_RT_API AttnStatus attnModelRunInPlace(AttnModel *model,
                                           const void *const *inputs,
                                           void *const *inouts,
                                           void *const *outputs,
                                           void *stream);

/// The message of the last failed call on this thread ("" if none).
ATTN_RT_API const char *attnGetLastError(void);

/// Number of threads that CPU models use (the caller included). The default
/// is $ATTN_NUM_THREADS, else the number of hardware threads. n < 1 means 1.
ATTN_RT_API void attnSetNumThreads(int32_t n);
ATTN_RT_API int32_t attnGetNumThreads(void);

/// "f32", "f16", "bf16", "f64", "i64", "i32", "i16", "i8", "u8", "bool";
/// NULL for a value outside the enum.
ATTN_RT_API const char *attnDTypeName(AttnDType dtype);
/// Size of one element in bytes (0 for a value outside the enum).
ATTN_RT_API size_t attnDTypeSize(AttnDType dtype);

/*===--------------------------------------------------------------------===*\
|* Device memory for CUDA models (tools and tests; any CUDA allocator works).*|
|* The CUDA driver (libcuda.so.1) is loaded on first use; without it these  *|
|* fail with a message saying so.                                          *|
\*===--------------------------------------------------------------------===*/

/// Chooses the GPU (CUDA device ordinal) that CUDA models and the helpers
/// below use; the default is 0. The choice is fixed when the driver is
/// first used (loading a CUDA model, or any attnCuda* call but this one and
/// attnCudaGetDevice): call it before. Fails, naming the reason, for an
/// ordinal the driver does not have, without the driver, and for another
/// ordinal once the choice is fixed (the same one is accepted).
ATTN_RT_API AttnStatus attnCudaSetDevice(int32_t ordinal);
/// The ordinal that the runtime uses (or will use).
ATTN_RT_API int32_t attnCudaGetDevice(void);
/// 1 when libcuda.so.1 loads and the runtime's device can be used, else 0.
ATTN_RT_API int32_t attnCudaIsAvailable(void);
/// cuMemAlloc of `num_bytes` bytes on the runtime's device (256-byte
/// aligned).
ATTN_RT_API AttnStatus attnCudaMalloc(size_t num_bytes, void **ptr);
/// cuMemFree; NULL is allowed.
ATTN_RT_API AttnStatus attnCudaFree(void *ptr);
/// Copies `num_bytes` bytes host->device, device->host or device->device
/// (cuMemcpy: the kind is inferred from the pointers); synchronous.
ATTN_RT_API AttnStatus attnCudaMemcpy(void *dst, const void *src,
                                      size_t num_bytes);
/// Waits for `stream` (a CUstream), or for all work of the context (NULL).
ATTN_RT_API AttnStatus attnCudaSynchronize(void *stream);

#ifdef __cplusplus
}
#endif

#endif /* ATTN_C_RUNTIME_H */
