//===- CudaRuntimeExtras.cpp - constants' device copies; the device ordinal ===//
//
// attnCudaConstant, called by the host code that attn-device-constants
// generates: a model's weights are constant globals of its library in host
// memory; the first run uploads each one (on the run's stream, through the
// mgpu* functions so that a failure fails the run like any other CUDA
// error) and keeps the device pointer in the model's slot for that global,
// so later runs only read the slot. The device copies live as long as the
// process (a library unloaded and loaded again uploads again).
//
// The first run of a model must not be captured in a CUDA graph (as with
// PyTorch, warm up first), and later runs on another stream must be ordered
// after it (synchronise once).
//
// attnCudaSetDevice / attnCudaGetDevice: the device ordinal that
// CudaRuntime.cpp reads (cudaDeviceOrdinal) when it first initialises the
// driver. A requested ordinal is checked against the driver's device count
// first, with a driver of its own (dlopen is reference counted), so a bad
// one leaves the runtime usable with another.
//
//===----------------------------------------------------------------------===//

#include "CudaRuntime.h"

#include "attn-c/Runtime.h"

#include <dlfcn.h>

#include <cstdint>
#include <mutex>
#include <string>

extern "C" {
void *mgpuMemAlloc(uint64_t sizeBytes, void *stream, bool isHostShared);
void mgpuMemFree(void *ptr, void *stream);
void mgpuMemcpy(void *dst, void *src, size_t sizeBytes, void *stream);
}

namespace {

/// What MLIR passes for a memref<?xi8> (the C interface's descriptor).
struct ByteBuffer {
  void *allocated;
  void *aligned;
  int64_t offset;
  int64_t size;
  int64_t stride;
};

/// Two runs starting at once on two threads upload a global once.
std::mutex &uploadMutex() {
  static std::mutex m;
  return m;
}

/// The device copy of `bytes` bytes at `host`, or null (with the run's
/// error recorded).
void *upload(const void *host, int64_t bytes) {
  void *device = mgpuMemAlloc(static_cast<uint64_t>(bytes), nullptr, false);
  if (!device)
    return nullptr;
  mgpuMemcpy(device, const_cast<void *>(host), static_cast<size_t>(bytes),
             nullptr);
  // mgpuMemAlloc returns null once the run has an error: a probe tells
  // whether the copy was accepted without taking that error away from the
  // run.
  void *probe = mgpuMemAlloc(1, nullptr, false);
  if (!probe) {
    mgpuMemFree(device, nullptr);
    return nullptr;
  }
  mgpuMemFree(probe, nullptr);
  return device;
}

/// The device ordinal; fixed once the driver has read it.
struct DeviceChoice {
  std::mutex mutex;
  int ordinal = 0;
  bool fixed = false;
};

DeviceChoice &deviceChoice() {
  static DeviceChoice c;
  return c;
}

/// Empty when the driver has device `ordinal`, else why not.
std::string checkOrdinal(int ordinal) {
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char *why = dlerror();
    return std::string("the CUDA driver (libcuda.so.1) cannot be loaded: ") +
           (why ? why : "unknown error");
  }
  using Init = int (*)(unsigned);
  using Count = int (*)(int *);
  using Name = int (*)(int, const char **);
  auto init = reinterpret_cast<Init>(dlsym(lib, "cuInit"));
  auto count = reinterpret_cast<Count>(dlsym(lib, "cuDeviceGetCount"));
  auto name = reinterpret_cast<Name>(dlsym(lib, "cuGetErrorName"));
  std::string error;
  int devices = 0;
  int r = 0;
  if (!init || !count || !name) {
    error = "the CUDA driver (libcuda.so.1) lacks cuInit, cuDeviceGetCount "
            "or cuGetErrorName";
  } else if ((r = init(0)) != 0 || (r = count(&devices)) != 0) {
    const char *n = nullptr;
    if (name(r, &n) != 0 || !n)
      n = "unknown CUDA error";
    error = std::string("cannot count the CUDA devices: ") + n;
  } else if (ordinal < 0 || ordinal >= devices) {
    error = "there is no CUDA device " + std::to_string(ordinal) + " (" +
            std::to_string(devices) + " device" + (devices == 1 ? "" : "s") +
            ")";
  }
  dlclose(lib);
  return error;
}

} // namespace

int attn::rt::cudaDeviceOrdinal() {
  DeviceChoice &c = deviceChoice();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.fixed = true;
  return c.ordinal;
}

extern "C" {

ATTN_RT_API AttnStatus attnCudaSetDevice(int32_t ordinal) {
  DeviceChoice &c = deviceChoice();
  std::lock_guard<std::mutex> lock(c.mutex);
  if (c.fixed && ordinal != c.ordinal)
    return attn::rt::setLastError(
        "attnCudaSetDevice(" + std::to_string(ordinal) +
        "): the runtime already uses CUDA device " +
        std::to_string(c.ordinal) +
        "; choose the device before loading a CUDA model or allocating "
        "device memory");
  std::string error = checkOrdinal(ordinal);
  if (!error.empty())
    return attn::rt::setLastError("attnCudaSetDevice(" +
                                  std::to_string(ordinal) + "): " + error);
  c.ordinal = ordinal;
  return ATTN_OK;
}

ATTN_RT_API int32_t attnCudaGetDevice(void) {
  DeviceChoice &c = deviceChoice();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.ordinal;
}

} // extern "C"

extern "C" ATTN_RT_API void
_mlir_ciface_attnCudaConstant(ByteBuffer *result, int64_t slot, int64_t host,
                              int64_t bytes) {
  auto *deviceSlot = reinterpret_cast<void **>(slot);
  // Every run after the first only reads the slot.
  void *device = __atomic_load_n(deviceSlot, __ATOMIC_ACQUIRE);
  if (!device && bytes > 0) {
    std::lock_guard<std::mutex> lock(uploadMutex());
    device = __atomic_load_n(deviceSlot, __ATOMIC_ACQUIRE);
    if (!device) {
      device = upload(reinterpret_cast<const void *>(host), bytes);
      __atomic_store_n(deviceSlot, device, __ATOMIC_RELEASE);
    }
  }
  *result = {device, device, 0, bytes, 1};
}
