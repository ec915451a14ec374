//===- CudaRuntime.cpp - mgpu* entry points over the CUDA driver API ------===//
//
// CUDA models call the functions that MLIR's `gpu-to-llvm` emits
// (mgpuModuleLoad, mgpuLaunchKernel, mgpuMemAlloc, ...). This file implements
// them over the CUDA driver API, which it loads from libcuda.so.1 with
// dlopen on first use: the runtime loads, and CPU models run, on machines
// without a GPU; CUDA models need only the driver (no toolkit).
//
// The mgpu* functions return no status, so a failure is recorded as this
// thread's pending error (with the CUDA error name) and later calls of the
// run do nothing; Runtime.cpp turns it into attnGetLastError().
//
//===----------------------------------------------------------------------===//

#include "CudaRuntime.h"

#include "attn-c/Runtime.h"

#include <dlfcn.h>

#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>

extern "C" ATTN_RT_API void attn_rt_report_position_error(int64_t, int64_t,
                                                          int64_t, int64_t,
                                                          int64_t);

namespace {

// The few driver types used here; their ABI is fixed by cuda.h.
using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = void *;
using CUmodule = void *;
using CUfunction = void *;
using CUstream = void *;
using CUevent = void *;
using CUmemoryPool = void *;
constexpr CUresult kSuccess = 0;
constexpr int kMemPoolReleaseThreshold = 4; // CU_MEMPOOL_ATTR_RELEASE_THRESHOLD
constexpr int kFuncMaxDynamicSharedBytes = 8; // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
constexpr int32_t kDefaultSharedMemLimit = 48 * 1024;

/// The driver functions, resolved once.
struct Driver {
  CUresult (*init)(unsigned);
  CUresult (*getErrorName)(CUresult, const char **);
  CUresult (*deviceGet)(CUdevice *, int);
  CUresult (*primaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*ctxSetCurrent)(CUcontext);
  CUresult (*ctxGetCurrent)(CUcontext *);
  CUresult (*moduleLoadData)(CUmodule *, const void *);
  CUresult (*moduleUnload)(CUmodule);
  CUresult (*moduleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*launchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned,
                           unsigned, unsigned, unsigned, CUstream, void **,
                           void **);
  CUresult (*streamCreate)(CUstream *, unsigned);
  CUresult (*streamDestroy)(CUstream);
  CUresult (*streamSynchronize)(CUstream);
  CUresult (*streamWaitEvent)(CUstream, CUevent, unsigned);
  CUresult (*eventCreate)(CUevent *, unsigned);
  CUresult (*eventDestroy)(CUevent);
  CUresult (*eventRecord)(CUevent, CUstream);
  CUresult (*eventSynchronize)(CUevent);
  CUresult (*memAlloc)(CUdeviceptr *, size_t);
  CUresult (*memFree)(CUdeviceptr);
  CUresult (*memAllocAsync)(CUdeviceptr *, size_t, CUstream);
  CUresult (*memFreeAsync)(CUdeviceptr, CUstream);
  CUresult (*deviceGetDefaultMemPool)(CUmemoryPool *, CUdevice);
  CUresult (*memPoolSetAttribute)(CUmemoryPool, int, void *);
  CUresult (*memcpyAsync)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
  CUresult (*memcpy)(CUdeviceptr, CUdeviceptr, size_t);
  CUresult (*memsetD32Async)(CUdeviceptr, unsigned, size_t, CUstream);
  CUresult (*memsetD16Async)(CUdeviceptr, unsigned short, size_t, CUstream);
  CUresult (*ctxSynchronize)();
  CUresult (*funcSetAttribute)(CUfunction, int, int);

  CUcontext context = nullptr;
  std::string loadError; // empty when the driver is usable
};

/// Per thread: the first error since it was last cleared, and the stream of
/// the run in progress (set by beginCudaRun).
struct ThreadState {
  std::string error;
  bool inRun = false;
  bool callerStream = false; // the caller passed a stream: do not block
  CUstream stream = nullptr;
  /// The decode checks' error record (attn_rt_cuda_error_record): six
  /// device i64, allocated on first use, cleared on the run's stream when
  /// a run first asks for it (`recordUsed`), read once by endCudaRun.
  CUdeviceptr record = 0;
  bool recordUsed = false;
};

/// The record's words: [0] set, then the arguments of
/// attn_rt_report_position_error.
constexpr size_t kRecordWords = 6;

ThreadState &state() {
  static thread_local ThreadState s;
  return s;
}

template <typename Fn> bool resolve(void *lib, const char *name, Fn &fn,
                                    std::string &missing) {
  fn = reinterpret_cast<Fn>(dlsym(lib, name));
  if (!fn && missing.empty())
    missing = name;
  return fn != nullptr;
}

Driver loadDriver() {
  Driver d{};
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char *why = dlerror();
    d.loadError = std::string("the CUDA driver (libcuda.so.1) cannot be "
                              "loaded: ") +
                  (why ? why : "unknown error");
    return d;
  }
  std::string missing;
  resolve(lib, "cuInit", d.init, missing);
  resolve(lib, "cuGetErrorName", d.getErrorName, missing);
  resolve(lib, "cuDeviceGet", d.deviceGet, missing);
  resolve(lib, "cuDevicePrimaryCtxRetain", d.primaryCtxRetain, missing);
  resolve(lib, "cuCtxSetCurrent", d.ctxSetCurrent, missing);
  resolve(lib, "cuCtxGetCurrent", d.ctxGetCurrent, missing);
  resolve(lib, "cuModuleLoadData", d.moduleLoadData, missing);
  resolve(lib, "cuModuleUnload", d.moduleUnload, missing);
  resolve(lib, "cuModuleGetFunction", d.moduleGetFunction, missing);
  resolve(lib, "cuLaunchKernel", d.launchKernel, missing);
  resolve(lib, "cuStreamCreate", d.streamCreate, missing);
  resolve(lib, "cuStreamDestroy_v2", d.streamDestroy, missing);
  resolve(lib, "cuStreamSynchronize", d.streamSynchronize, missing);
  resolve(lib, "cuStreamWaitEvent", d.streamWaitEvent, missing);
  resolve(lib, "cuEventCreate", d.eventCreate, missing);
  resolve(lib, "cuEventDestroy_v2", d.eventDestroy, missing);
  resolve(lib, "cuEventRecord", d.eventRecord, missing);
  resolve(lib, "cuEventSynchronize", d.eventSynchronize, missing);
  resolve(lib, "cuMemAlloc_v2", d.memAlloc, missing);
  resolve(lib, "cuMemFree_v2", d.memFree, missing);
  resolve(lib, "cuMemAllocAsync", d.memAllocAsync, missing);
  resolve(lib, "cuMemFreeAsync", d.memFreeAsync, missing);
  resolve(lib, "cuDeviceGetDefaultMemPool", d.deviceGetDefaultMemPool, missing);
  resolve(lib, "cuMemPoolSetAttribute", d.memPoolSetAttribute, missing);
  resolve(lib, "cuMemcpyAsync", d.memcpyAsync, missing);
  resolve(lib, "cuMemcpy", d.memcpy, missing);
  resolve(lib, "cuMemsetD32Async", d.memsetD32Async, missing);
  resolve(lib, "cuMemsetD16Async", d.memsetD16Async, missing);
  resolve(lib, "cuCtxSynchronize", d.ctxSynchronize, missing);
  // Optional: only launches above 48 KiB of dynamic shared memory need it.
  std::string optional;
  resolve(lib, "cuFuncSetAttribute", d.funcSetAttribute, optional);
  if (!missing.empty()) {
    d.loadError = "the CUDA driver (libcuda.so.1) lacks " + missing +
                  " (CUDA 11.2 or newer is needed)";
    return d;
  }
  CUresult r = d.init(0);
  CUdevice device = 0;
  // The ordinal is fixed from here on (attnCudaSetDevice, default 0).
  int ordinal = attn::rt::cudaDeviceOrdinal();
  if (r == kSuccess)
    r = d.deviceGet(&device, ordinal);
  // The primary context is the one the CUDA runtime (and so PyTorch) uses:
  // device pointers from either side are valid in the other.
  if (r == kSuccess)
    r = d.primaryCtxRetain(&d.context, device);
  // Workspaces come from the stream-ordered pool; keeping freed memory in
  // the pool makes the next run's allocation cheap.
  CUmemoryPool pool = nullptr;
  if (r == kSuccess && d.deviceGetDefaultMemPool(&pool, device) == kSuccess) {
    uint64_t keep = UINT64_MAX;
    d.memPoolSetAttribute(pool, kMemPoolReleaseThreshold, &keep);
  }
  if (r != kSuccess) {
    const char *name = nullptr;
    if (d.getErrorName(r, &name) != kSuccess || !name)
      name = "unknown CUDA error";
    d.loadError = "CUDA initialisation failed on device " +
                  std::to_string(ordinal) + ": " + name;
  }
  return d;
}

Driver &driver() {
  static Driver d = loadDriver();
  return d;
}

/// Records the first error of this thread.
void recordError(const std::string &message) {
  if (state().error.empty())
    state().error = message;
}

/// True when the driver is usable on this thread (its context current) and
/// no error is pending.
bool ready() {
  if (!state().error.empty())
    return false;
  Driver &d = driver();
  if (!d.loadError.empty()) {
    recordError(d.loadError);
    return false;
  }
  CUcontext current = nullptr;
  if (d.ctxGetCurrent(&current) != kSuccess || current != d.context)
    d.ctxSetCurrent(d.context);
  return true;
}

/// Checks a driver result; records "WHAT: CUDA_ERROR_..." on failure.
bool check(CUresult r, const char *what) {
  if (r == kSuccess)
    return true;
  const char *name = nullptr;
  if (driver().getErrorName(r, &name) != kSuccess || !name)
    name = "unknown CUDA error";
  recordError(std::string(what) + " failed: " + name + " (" +
              std::to_string(r) + ")");
  return false;
}

/// A stream is the run's own (the caller's) when a run is in progress.
bool isRunStream(CUstream stream) {
  return state().inRun && stream == state().stream;
}

/// A stream argument of the generated code: the run's stream when it
/// passes none.
CUstream streamOf(void *stream) {
  return stream ? static_cast<CUstream>(stream) : state().stream;
}

} // namespace

namespace attn::rt {

bool beginCudaRun(void *stream, std::string &error) {
  ThreadState &s = state();
  s.error.clear();
  s.inRun = true;
  s.callerStream = stream != nullptr;
  s.stream = static_cast<CUstream>(stream);
  s.recordUsed = false;
  if (!ready()) {
    s.inRun = false;
    error = s.error;
    s.error.clear();
    return false;
  }
  return true;
}

bool endCudaRun(std::string &error) {
  ThreadState &s = state();
  // Without a caller stream the run is synchronous: errors of the kernels
  // themselves (faults) show up here.
  if (!s.callerStream && s.error.empty())
    check(driver().streamSynchronize(s.stream), "cuStreamSynchronize");
  // A decode step's bad position or table entry: the same report as the
  // CPU's code makes (after the synchronisation, so only without a caller
  // stream; with one the step writes nothing and gives NaN).
  if (s.recordUsed && !s.callerStream && s.error.empty()) {
    int64_t record[kRecordWords] = {};
    if (check(driver().memcpy(reinterpret_cast<CUdeviceptr>(record), s.record,
                              sizeof(record)),
              "cuMemcpy") &&
        record[0] != 0)
      attn_rt_report_position_error(record[1], record[2], record[3],
                                    record[4], record[5]);
  }
  s.recordUsed = false;
  s.inRun = false;
  s.stream = nullptr;
  return takeCudaError(error);
}

void clearCudaError() { state().error.clear(); }

bool takeCudaError(std::string &error) {
  if (state().error.empty())
    return true;
  error = state().error;
  state().error.clear();
  return false;
}

} // namespace attn::rt

namespace {

AttnStatus failWith(const char *what) {
  std::string error;
  attn::rt::takeCudaError(error);
  return attn::rt::setLastError(std::string(what) + ": " + error);
}

/// Runs `body` with a fresh error state; ATTN_OK when it recorded none.
template <typename Body> AttnStatus deviceCall(const char *what,
                                                      Body body) {
  attn::rt::clearCudaError();
  if (ready())
    body();
  if (state().error.empty())
    return ATTN_OK;
  return failWith(what);
}

} // namespace

//===----------------------------------------------------------------------===//
// The mgpu* ABI of MLIR 22's gpu-to-llvm (and gpu.binary's module
// constructor/destructor).
//===----------------------------------------------------------------------===//

extern "C" {

ATTN_RT_API void *mgpuModuleLoad(void *data, uint64_t /*size*/) {
  // Runs in the model's constructor, on the thread that loads it.
  CUmodule module = nullptr;
  if (ready())
    check(driver().moduleLoadData(&module, data), "cuModuleLoadData");
  return module;
}

ATTN_RT_API void mgpuModuleUnload(void *module) {
  if (module && driver().loadError.empty())
    driver().moduleUnload(static_cast<CUmodule>(module));
}

ATTN_RT_API void *mgpuModuleGetFunction(void *module, const char *name) {
  if (!module) {
    recordError(std::string("kernel '") + name +
                "' is not loaded (its module failed to load)");
    return nullptr;
  }
  CUfunction function = nullptr;
  if (ready())
    check(driver().moduleGetFunction(&function, static_cast<CUmodule>(module),
                                     name),
          "cuModuleGetFunction");
  return function;
}

ATTN_RT_API void mgpuLaunchKernel(void *function, intptr_t gridX,
                                  intptr_t gridY, intptr_t gridZ,
                                  intptr_t blockX, intptr_t blockY,
                                  intptr_t blockZ, int32_t sharedMemBytes,
                                  void *stream, void **params, void **extra,
                                  uint64_t /*paramsCount*/) {
  if (!function || !ready())
    return;
  // Above 48 KiB a kernel must opt in to the larger dynamic shared memory
  // (up to 227 KiB a block on sm_90); the attribute is per function and
  // cheap to set again, so it is set on every such launch.
  if (sharedMemBytes > kDefaultSharedMemLimit && !driver().funcSetAttribute) {
    recordError("a kernel needs " + std::to_string(sharedMemBytes) +
                " bytes of shared memory and the CUDA driver lacks "
                "cuFuncSetAttribute to allow more than 48 KiB");
    return;
  }
  if (sharedMemBytes > kDefaultSharedMemLimit &&
      !check(driver().funcSetAttribute(static_cast<CUfunction>(function),
                                       kFuncMaxDynamicSharedBytes,
                                       sharedMemBytes),
             "cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES)"))
    return;
  check(driver().launchKernel(static_cast<CUfunction>(function),
                              unsigned(gridX), unsigned(gridY), unsigned(gridZ),
                              unsigned(blockX), unsigned(blockY),
                              unsigned(blockZ), unsigned(sharedMemBytes),
                              streamOf(stream), params, extra),
        "cuLaunchKernel");
}

ATTN_RT_API void *mgpuStreamCreate() {
  // Inside a run, the model's work goes onto the caller's stream.
  if (state().inRun)
    return state().stream;
  CUstream stream = nullptr;
  if (ready())
    check(driver().streamCreate(&stream, /*CU_STREAM_NON_BLOCKING=*/1),
          "cuStreamCreate");
  return stream;
}

ATTN_RT_API void mgpuStreamDestroy(void *stream) {
  if (isRunStream(static_cast<CUstream>(stream)) || !stream ||
      !driver().loadError.empty())
    return;
  driver().streamDestroy(static_cast<CUstream>(stream));
}

ATTN_RT_API void mgpuStreamSynchronize(void *stream) {
  // The caller of a run with a stream synchronises it when it wants;
  // endCudaRun synchronises a run without one.
  if (isRunStream(static_cast<CUstream>(stream)) || !ready())
    return;
  check(driver().streamSynchronize(static_cast<CUstream>(stream)),
        "cuStreamSynchronize");
}

ATTN_RT_API void mgpuStreamWaitEvent(void *stream, void *event) {
  if (ready())
    check(driver().streamWaitEvent(streamOf(stream),
                                   static_cast<CUevent>(event), 0),
          "cuStreamWaitEvent");
}

ATTN_RT_API void *mgpuEventCreate() {
  CUevent event = nullptr;
  if (ready())
    check(driver().eventCreate(&event, /*CU_EVENT_DISABLE_TIMING=*/2),
          "cuEventCreate");
  return event;
}

ATTN_RT_API void mgpuEventDestroy(void *event) {
  if (event && driver().loadError.empty())
    driver().eventDestroy(static_cast<CUevent>(event));
}

ATTN_RT_API void mgpuEventSynchronize(void *event) {
  if (ready())
    check(driver().eventSynchronize(static_cast<CUevent>(event)),
          "cuEventSynchronize");
}

ATTN_RT_API void mgpuEventRecord(void *event, void *stream) {
  if (ready())
    check(driver().eventRecord(static_cast<CUevent>(event), streamOf(stream)),
          "cuEventRecord");
}

ATTN_RT_API void *mgpuMemAlloc(uint64_t sizeBytes, void *stream,
                               bool isHostShared) {
  if (isHostShared) {
    recordError("host-shared gpu.alloc is not supported by this runtime");
    return nullptr;
  }
  CUdeviceptr ptr = 0;
  if (sizeBytes == 0 || !ready())
    return nullptr;
  check(driver().memAllocAsync(&ptr, sizeBytes, streamOf(stream)),
        "cuMemAllocAsync");
  return reinterpret_cast<void *>(ptr);
}

ATTN_RT_API void mgpuMemFree(void *ptr, void *stream) {
  if (!ptr || !driver().loadError.empty())
    return;
  // Freed even after an error of the run, so that nothing leaks.
  driver().memFreeAsync(reinterpret_cast<CUdeviceptr>(ptr), streamOf(stream));
}

ATTN_RT_API void mgpuMemcpy(void *dst, void *src, size_t sizeBytes,
                            void *stream) {
  if (sizeBytes && ready())
    check(driver().memcpyAsync(reinterpret_cast<CUdeviceptr>(dst),
                               reinterpret_cast<CUdeviceptr>(src), sizeBytes,
                               streamOf(stream)),
          "cuMemcpyAsync");
}

ATTN_RT_API void mgpuMemset32(void *dst, unsigned value, size_t count,
                              void *stream) {
  if (count && ready())
    check(driver().memsetD32Async(reinterpret_cast<CUdeviceptr>(dst), value,
                                  count, streamOf(stream)),
          "cuMemsetD32Async");
}

ATTN_RT_API void mgpuMemset16(void *dst, unsigned short value, size_t count,
                              void *stream) {
  if (count && ready())
    check(driver().memsetD16Async(reinterpret_cast<CUdeviceptr>(dst), value,
                                  count, streamOf(stream)),
          "cuMemsetD16Async");
}

/// The error record of the decode checks of this thread's run (see
/// ServingKernels.cpp in lib/Conversion/AttnToGPU): called once at the
/// entry of a CUDA model's host function that has attn.decode steps.
ATTN_RT_API void *attn_rt_cuda_error_record() {
  ThreadState &s = state();
  if (!ready())
    return nullptr; // the launches that would use it do nothing either
  if (!s.record &&
      !check(driver().memAlloc(&s.record, kRecordWords * sizeof(int64_t)),
             "cuMemAlloc"))
    return nullptr;
  if (!s.recordUsed) {
    check(driver().memsetD32Async(s.record, 0, kRecordWords * 2, s.stream),
          "cuMemsetD32Async");
    s.recordUsed = true;
  }
  return reinterpret_cast<void *>(s.record);
}

ATTN_RT_API void mgpuSetDefaultDevice(int32_t device) {
  if (device != attn::rt::cudaDeviceOrdinal())
    recordError("the runtime uses CUDA device " +
                std::to_string(attn::rt::cudaDeviceOrdinal()) +
                " (attnCudaSetDevice), the model asked for device " +
                std::to_string(device));
}

//===----------------------------------------------------------------------===//
// Device helpers of the C API (include/attn-c/Runtime.h).
//===----------------------------------------------------------------------===//

int32_t attnCudaIsAvailable(void) {
  attn::rt::clearCudaError();
  bool ok = ready();
  attn::rt::clearCudaError();
  return ok ? 1 : 0;
}

AttnStatus attnCudaMalloc(size_t num_bytes, void **ptr) {
  if (!ptr)
    return attn::rt::setLastError("attnCudaMalloc: null ptr");
  *ptr = nullptr;
  return deviceCall("attnCudaMalloc", [&] {
    CUdeviceptr p = 0;
    if (check(driver().memAlloc(&p, num_bytes ? num_bytes : 1), "cuMemAlloc"))
      *ptr = reinterpret_cast<void *>(p);
  });
}

AttnStatus attnCudaFree(void *ptr) {
  if (!ptr)
    return ATTN_OK;
  return deviceCall("attnCudaFree", [&] {
    check(driver().memFree(reinterpret_cast<CUdeviceptr>(ptr)), "cuMemFree");
  });
}

AttnStatus attnCudaMemcpy(void *dst, const void *src, size_t num_bytes) {
  if (num_bytes == 0)
    return ATTN_OK;
  return deviceCall("attnCudaMemcpy", [&] {
    check(driver().memcpy(reinterpret_cast<CUdeviceptr>(dst),
                          reinterpret_cast<CUdeviceptr>(src), num_bytes),
          "cuMemcpy");
  });
}

AttnStatus attnCudaSynchronize(void *stream) {
  return deviceCall("attnCudaSynchronize", [&] {
    if (stream)
      check(driver().streamSynchronize(static_cast<CUstream>(stream)),
            "cuStreamSynchronize");
    else
      check(driver().ctxSynchronize(), "cuCtxSynchronize");
  });
}

} // extern "C"
