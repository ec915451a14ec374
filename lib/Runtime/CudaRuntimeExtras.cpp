//===- CudaRuntimeExtras.cpp - device copies of a CUDA model's constants --===//
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
//===----------------------------------------------------------------------===//

#include "attn-c/Runtime.h"

#include <cstdint>
#include <mutex>

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

} // namespace

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
