/* A CUDA model as gpu-to-llvm's host code calls the runtime, with an input,
 * a scalar input read on the device, an output and an inout (a cache): one
 * launch of "fake_step", which the fake driver (fake-libcuda-mem.c) runs. */
#include "../../Runtime/Inputs/fake-cuda-host.h"

const char attn_model_signature[] =
    "attn-model 2\ndevice cuda\ninput x f32 2 2 3\ninput pos i64 0\n"
    "output y f32 2 2 3\ninout cache f32 2 4 3\n";

void attn_model_run(void **buffers) {
  void *stream = mgpuStreamCreate();
  void *params[] = {&buffers[0], &buffers[1], &buffers[2], &buffers[3]};
  void *f = mgpuModuleGetFunction(module, "fake_step");
  mgpuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, stream, params, 0, 4);
  mgpuStreamSynchronize(stream);
  mgpuStreamDestroy(stream);
}
