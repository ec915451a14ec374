/* Runs fake-cuda-model.so through the C API: with a caller stream, with
 * none, and the device helpers. Prints what the API returns. */
#include "attn-c/Runtime.h"

#include <stdio.h>

int main(int argc, char **argv) {
  printf("available: %d\n", attnCudaIsAvailable());
  AttnModel *model = attnModelLoad(argv[1]);
  if (!model) {
    printf("load failed: %s\n", attnGetLastError());
    return 0;
  }
  printf("device: %d\n", (int)attnModelGetDevice(model));
  float x[4] = {0}, y[4];
  const void *inputs[] = {x};
  void *outputs[] = {y};
  AttnStatus s = attnModelRun(model, inputs, outputs, (void *)0x1234);
  printf("run with stream: %d %s\n", (int)s, attnGetLastError());
  s = attnModelRun(model, inputs, outputs, NULL);
  printf("run without stream: %d %s\n", (int)s, attnGetLastError());
  void *p = NULL;
  s = attnCudaMalloc(16, &p);
  printf("malloc: %d %s\n", (int)s, s ? attnGetLastError() : "");
  attnModelFree(model);
  return 0;
}
