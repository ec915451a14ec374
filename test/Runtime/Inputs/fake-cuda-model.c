/* A CUDA model as gpu-to-llvm's host code calls the runtime: the module is
 * loaded by a constructor, each run takes a stream, allocates a workspace,
 * launches a kernel and waits. */
#include "fake-cuda-host.h"

const char attn_model_signature[] =
    "attn-model 1\ndevice cuda\ninput x f32 1 4\noutput y f32 1 4\n";

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
