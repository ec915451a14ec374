/* A stand-in for libcuda.so.1 whose memory behaves like a device's: device
 * pointers lie in a reserved range that the host cannot touch (PROT_NONE,
 * so a host read of a device pointer crashes the test), backed by a hidden
 * host mapping that the copy functions and the fake kernels use. The one
 * kernel it runs, "fake_step" (Inputs/fake-cuda-model.c), computes on that
 * memory, so data that Python moves to and from the "device" can be
 * checked. Calls are logged on stderr; $FAKE_CUDA_FAIL="cuName=code" makes
 * one fail, $FAKE_CUDA_DEVICES sets the number of devices (1). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

typedef int CUresult;
enum { kIllegalAddress = 700, kInvalidDevice = 101, kInvalidValue = 1 };

static int failing(const char *name) {
  const char *f = getenv("FAKE_CUDA_FAIL");
  size_t n = strlen(name);
  return f && !strncmp(f, name, n) && f[n] == '=' ? atoi(f + n + 1) : 0;
}
#define LOG(...) fprintf(stderr, __VA_ARGS__)

/* Device addresses: [dev, dev + kSize); their bytes: [mem, mem + kSize). */
static const size_t kSize = (size_t)1 << 30;
static char *dev, *mem;
static size_t used;

static int reserve(void) {
  if (dev)
    return 1;
  dev = mmap(0, kSize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
             -1, 0);
  mem = mmap(0, kSize, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return dev != MAP_FAILED && mem != MAP_FAILED;
}
static int on_device(uint64_t p) {
  return dev && p >= (uint64_t)dev && p < (uint64_t)dev + used;
}
/* The bytes behind a device pointer; host pointers are used as they are
 * (constants uploaded from a model's library). */
static char *bytes(uint64_t p) {
  return on_device(p) ? mem + (p - (uint64_t)dev) : (char *)p;
}
static CUresult alloc(uint64_t *p, size_t n) {
  if (!reserve() || used + n > kSize)
    return 2; /* CUDA_ERROR_OUT_OF_MEMORY */
  *p = (uint64_t)dev + used;
  used += (n + 255) & ~(size_t)255;
  return 0;
}
static int devices(void) {
  const char *n = getenv("FAKE_CUDA_DEVICES");
  return n ? atoi(n) : 1;
}

static char context, module, stream;
static char function_names[8][64];
static int num_functions;

CUresult cuInit(unsigned f) { return failing("cuInit"); }
CUresult cuGetErrorName(CUresult r, const char **s) {
  *s = r == kIllegalAddress  ? "CUDA_ERROR_ILLEGAL_ADDRESS"
       : r == kInvalidDevice ? "CUDA_ERROR_INVALID_DEVICE"
       : r == kInvalidValue  ? "CUDA_ERROR_INVALID_VALUE"
                             : "CUDA_ERROR_UNKNOWN";
  return 0;
}
CUresult cuDeviceGetCount(int *n) { *n = devices(); return failing("cuDeviceGetCount"); }
CUresult cuDeviceGet(int *d, int i) {
  if (i < 0 || i >= devices())
    return kInvalidDevice;
  *d = i;
  return failing("cuDeviceGet");
}
CUresult cuDevicePrimaryCtxRetain(void **c, int d) {
  *c = &context;
  LOG("fake-cuda: primary context of device %d\n", d);
  return failing("cuDevicePrimaryCtxRetain");
}
CUresult cuCtxSetCurrent(void *c) { return 0; }
CUresult cuCtxGetCurrent(void **c) { *c = &context; return 0; }
CUresult cuCtxSynchronize(void) { LOG("fake-cuda: cuCtxSynchronize\n"); return failing("cuCtxSynchronize"); }
CUresult cuModuleLoadData(void **m, const void *image) { *m = &module; return failing("cuModuleLoadData"); }
CUresult cuModuleUnload(void *m) { return 0; }
CUresult cuModuleGetFunction(void **f, void *m, const char *name) {
  int i = 0;
  while (i < num_functions && strcmp(function_names[i], name))
    ++i;
  if (i == num_functions && num_functions < 8)
    snprintf(function_names[num_functions++], 64, "%s", name);
  *f = function_names[i < 8 ? i : 7];
  return failing("cuModuleGetFunction");
}

/* fake_step(x f32[2,3], pos i64[], y f32[2,3], cache f32[4,3]):
 * y = 2 x + 1; cache[pos] = x[0] + x[1]. Every pointer must be a device
 * pointer, as on a GPU. */
static CUresult fake_step(void **params) {
  uint64_t x = *(uint64_t *)params[0], pos = *(uint64_t *)params[1],
           y = *(uint64_t *)params[2], cache = *(uint64_t *)params[3];
  if (!on_device(x) || !on_device(pos) || !on_device(y) || !on_device(cache))
    return kIllegalAddress;
  const float *xs = (const float *)bytes(x);
  float *ys = (float *)bytes(y), *row;
  int64_t p = *(const int64_t *)bytes(pos);
  for (int i = 0; i < 6; ++i)
    ys[i] = 2 * xs[i] + 1;
  if (p < 0 || p >= 4)
    return kIllegalAddress;
  row = (float *)bytes(cache) + 3 * p;
  for (int j = 0; j < 3; ++j)
    row[j] = xs[j] + xs[3 + j];
  return 0;
}

/* Resolved by the runtime for launches above 48 KiB of dynamic shared memory. */
CUresult cuFuncSetAttribute(void *f, int attribute, int value) { return 0; }
CUresult cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz,
                        unsigned bx, unsigned by, unsigned bz, unsigned smem,
                        void *s, void **params, void **extra) {
  const char *name = (const char *)f;
  LOG("fake-cuda: cuLaunchKernel %s stream %p\n", name, s);
  if (failing("cuLaunchKernel"))
    return failing("cuLaunchKernel");
  return strcmp(name, "fake_step") ? 0 : fake_step(params);
}
CUresult cuStreamCreate(void **s, unsigned f) { *s = &stream; return failing("cuStreamCreate"); }
CUresult cuStreamDestroy_v2(void *s) { return 0; }
CUresult cuStreamSynchronize(void *s) {
  LOG("fake-cuda: cuStreamSynchronize %p\n", s);
  return failing("cuStreamSynchronize");
}
CUresult cuStreamWaitEvent(void *s, void *e, unsigned f) { return 0; }
CUresult cuEventCreate(void **e, unsigned f) { *e = &context; return 0; }
CUresult cuEventDestroy_v2(void *e) { return 0; }
CUresult cuEventRecord(void *e, void *s) { return 0; }
CUresult cuEventSynchronize(void *e) { return 0; }
CUresult cuMemAlloc_v2(uint64_t *p, size_t n) {
  LOG("fake-cuda: cuMemAlloc %zu\n", n);
  return failing("cuMemAlloc") ? failing("cuMemAlloc") : alloc(p, n);
}
CUresult cuMemFree_v2(uint64_t p) {
  LOG("fake-cuda: cuMemFree\n");
  return on_device(p) ? failing("cuMemFree") : kInvalidValue;
}
CUresult cuMemAllocAsync(uint64_t *p, size_t n, void *s) {
  return failing("cuMemAllocAsync") ? failing("cuMemAllocAsync") : alloc(p, n);
}
CUresult cuMemFreeAsync(uint64_t p, void *s) { return 0; }
CUresult cuDeviceGetDefaultMemPool(void **p, int d) { *p = &context; return 0; }
CUresult cuMemPoolSetAttribute(void *p, int a, void *v) { return 0; }
static CUresult copy(const char *what, uint64_t d, uint64_t s, size_t n) {
  LOG("fake-cuda: %s %zu %s\n", what, n,
      on_device(d) ? (on_device(s) ? "DtoD" : "HtoD")
                   : (on_device(s) ? "DtoH" : "HtoH"));
  if (failing(what))
    return failing(what);
  memmove(bytes(d), bytes(s), n);
  return 0;
}
CUresult cuMemcpyAsync(uint64_t d, uint64_t s, size_t n, void *st) { return copy("cuMemcpyAsync", d, s, n); }
CUresult cuMemcpy(uint64_t d, uint64_t s, size_t n) { return copy("cuMemcpy", d, s, n); }
CUresult cuMemsetD32Async(uint64_t d, unsigned v, size_t n, void *s) {
  for (size_t i = 0; i < n; ++i)
    memcpy(bytes(d) + 4 * i, &v, 4);
  return 0;
}
CUresult cuMemsetD16Async(uint64_t d, unsigned short v, size_t n, void *s) {
  for (size_t i = 0; i < n; ++i)
    memcpy(bytes(d) + 2 * i, &v, 2);
  return 0;
}
