/* A CUDA model as gpu-to-llvm's host code calls the runtime: the module is
 * loaded by a constructor, each run takes a stream, allocates a workspace,
 * launches a kernel and waits. */
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

const char attn_model_signature[] =
    "attn-model 1\ndevice cuda\ninput x f32 1 4\noutput y f32 1 4\n";
static void *module;
static char cubin[] = "kernels";

__attribute__((constructor)) static void load(void) {
  module = mgpuModuleLoad(cubin, sizeof cubin);
}
__attribute__((destructor)) static void unload(void) {
  mgpuModuleUnload(module);
}

void attn_model_run(void **buffers) {
  void *stream = mgpuStreamCreate();
  void *workspace = mgpuMemAlloc(64, stream, 0);
  int arg = 42;
  void *params[] = {&arg, &buffers[0], &buffers[1]};
  void *f = mgpuModuleGetFunction(module, "attn_partial_0");
  mgpuLaunchKernel(f, 3, 2, 1, 128, 1, 1, 0, stream, params, 0, 3);
  mgpuMemFree(workspace, stream);
  mgpuStreamSynchronize(stream);
  mgpuStreamDestroy(stream);
}
