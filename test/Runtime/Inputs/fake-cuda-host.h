/* What the fake CUDA models (fake-cuda-model.c here and in test/python)
 * share with gpu-to-llvm's host code: the runtime's mgpu* entry points they
 * call, and the kernel module that a constructor loads and a destructor
 * unloads (the fake driver takes any bytes as its image). */
#include <stdint.h>

void *mgpuModuleLoad(void *data, uint64_t size);
void mgpuModuleUnload(void *module);
void *mgpuModuleGetFunction(void *module, const char *name);
void mgpuLaunchKernel(void *f, intptr_t gx, intptr_t gy, intptr_t gz,
                      intptr_t bx, intptr_t by, intptr_t bz, int32_t smem,
                      void *stream, void **params, void **extra, uint64_t n);
void *mgpuStreamCreate(void);
void mgpuStreamSynchronize(void *stream);
void mgpuStreamDestroy(void *stream);
void *mgpuMemAlloc(uint64_t size, void *stream, _Bool shared);
void mgpuMemFree(void *ptr, void *stream);

static void *module;
static char cubin[] = "kernels";

__attribute__((constructor)) static void load(void) {
  module = mgpuModuleLoad(cubin, sizeof cubin);
}
__attribute__((destructor)) static void unload(void) {
  mgpuModuleUnload(module);
}
