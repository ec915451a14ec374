/* A CUDA model as gpu-to-llvm's host code calls the runtime, with an input,
 * a scalar input read on the device, an output and an inout (a cache): one
 * launch of "fake_step", which the fake driver (fake-libcuda-mem.c) runs. */
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

const char attn_model_signature[] =
    "attn-model 2\ndevice cuda\ninput x f32 2 2 3\ninput pos i64 0\n"
    "output y f32 2 2 3\ninout cache f32 2 4 3\n";
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
  void *params[] = {&buffers[0], &buffers[1], &buffers[2], &buffers[3]};
  void *f = mgpuModuleGetFunction(module, "fake_step");
  mgpuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, stream, params, 0, 4);
  mgpuStreamSynchronize(stream);
  mgpuStreamDestroy(stream);
}
