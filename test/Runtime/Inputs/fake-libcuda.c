/* A stand-in for libcuda.so.1 with the driver functions CudaRuntime.cpp
 * resolves: every call succeeds (or fails as $FAKE_CUDA_FAIL says) and is
 * logged on stderr, so the runtime's stream and error handling can be
 * tested without a GPU. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
static int failing(const char *name) {
  const char *f = getenv("FAKE_CUDA_FAIL"); /* "cuLaunchKernel=700" */
  size_t n = strlen(name);
  return f && !strncmp(f, name, n) && f[n] == '=' ? atoi(f + n + 1) : 0;
}
#define LOG(...) fprintf(stderr, __VA_ARGS__)
#define CALL(name, ...)                                                         \
  do {                                                                          \
    LOG("fake-cuda: " #name __VA_ARGS__);                                       \
    LOG("\n");                                                                  \
    return failing(#name);                                                      \
  } while (0)

static char context, module, function, stream;
static unsigned long long next_ptr = 0x10000;

CUresult cuInit(unsigned f) { CALL(cuInit); }
CUresult cuGetErrorName(CUresult r, const char **s) {
  *s = r == 700 ? "CUDA_ERROR_ILLEGAL_ADDRESS" : "CUDA_ERROR_UNKNOWN";
  return 0;
}
CUresult cuDeviceGet(int *d, int i) { *d = i; CALL(cuDeviceGet); }
CUresult cuDevicePrimaryCtxRetain(void **c, int d) { *c = &context; CALL(cuDevicePrimaryCtxRetain); }
CUresult cuCtxSetCurrent(void *c) { return 0; }
CUresult cuCtxGetCurrent(void **c) { *c = &context; return 0; }
CUresult cuCtxSynchronize(void) { CALL(cuCtxSynchronize); }
CUresult cuModuleLoadData(void **m, const void *image) {
  *m = &module;
  LOG("fake-cuda: cuModuleLoadData %s\n", (const char *)image);
  return failing("cuModuleLoadData");
}
CUresult cuModuleUnload(void *m) { CALL(cuModuleUnload); }
CUresult cuModuleGetFunction(void **f, void *m, const char *name) {
  *f = &function;
  LOG("fake-cuda: cuModuleGetFunction %s\n", name);
  return failing("cuModuleGetFunction");
}
/* Resolved by the runtime for launches above 48 KiB of dynamic shared memory. */
CUresult cuFuncSetAttribute(void *f, int attribute, int value) { return 0; }
CUresult cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz,
                        unsigned bx, unsigned by, unsigned bz, unsigned smem,
                        void *s, void **params, void **extra) {
  LOG("fake-cuda: cuLaunchKernel grid %u %u %u block %u %u %u stream %p arg0 %d\n",
      gx, gy, gz, bx, by, bz, s, params ? *(int *)params[0] : -1);
  return failing("cuLaunchKernel");
}
CUresult cuStreamCreate(void **s, unsigned f) { *s = &stream; CALL(cuStreamCreate); }
CUresult cuStreamDestroy_v2(void *s) { CALL(cuStreamDestroy); }
CUresult cuStreamSynchronize(void *s) {
  LOG("fake-cuda: cuStreamSynchronize %p\n", s);
  return failing("cuStreamSynchronize");
}
CUresult cuStreamWaitEvent(void *s, void *e, unsigned f) { CALL(cuStreamWaitEvent); }
CUresult cuEventCreate(void **e, unsigned f) { *e = &context; CALL(cuEventCreate); }
CUresult cuEventDestroy_v2(void *e) { CALL(cuEventDestroy); }
CUresult cuEventRecord(void *e, void *s) { CALL(cuEventRecord); }
CUresult cuEventSynchronize(void *e) { CALL(cuEventSynchronize); }
CUresult cuMemAlloc_v2(unsigned long long *p, size_t n) { *p = next_ptr; next_ptr += 0x1000; CALL(cuMemAlloc, " %zu", n); }
CUresult cuMemFree_v2(unsigned long long p) { CALL(cuMemFree); }
CUresult cuMemAllocAsync(unsigned long long *p, size_t n, void *s) {
  *p = next_ptr;
  next_ptr += 0x1000;
  LOG("fake-cuda: cuMemAllocAsync %zu stream %p\n", n, s);
  return failing("cuMemAllocAsync");
}
CUresult cuMemFreeAsync(unsigned long long p, void *s) {
  LOG("fake-cuda: cuMemFreeAsync stream %p\n", s);
  return 0;
}
CUresult cuDeviceGetDefaultMemPool(void **p, int d) { *p = &context; return 0; }
CUresult cuMemPoolSetAttribute(void *p, int a, void *v) { return 0; }
CUresult cuMemcpyAsync(unsigned long long d, unsigned long long s, size_t n, void *st) { CALL(cuMemcpyAsync); }
CUresult cuMemcpy(unsigned long long d, unsigned long long s, size_t n) { CALL(cuMemcpy, " %zu", n); }
CUresult cuMemsetD32Async(unsigned long long d, unsigned v, size_t n, void *s) { CALL(cuMemsetD32Async); }
CUresult cuMemsetD16Async(unsigned long long d, unsigned short v, size_t n, void *s) { CALL(cuMemsetD16Async); }
