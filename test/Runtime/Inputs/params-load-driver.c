/* Loads a model with attnModelLoadWith(LIBRARY, MODE) and runs it once on
   x = 0, 1, 2, 3 (the fake model of fake-model.c, one input and one output
   of 4 floats): prints "y: ..." or "error: ..." and exits 1 on an error. */
#include "attn-c/Runtime.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s LIBRARY MODE\n", argv[0]);
    return 2;
  }
  AttnModel *model = attnModelLoadWith(argv[1], (AttnParamsLoad)atoi(argv[2]));
  if (!model) {
    printf("error: %s\n", attnGetLastError());
    return 1;
  }
  float x[4] = {0, 1, 2, 3}, y[4] = {0};
  const void *inputs[1] = {x};
  void *outputs[1] = {y};
  if (attnModelRun(model, inputs, outputs, NULL) != ATTN_OK) {
    printf("error: %s\n", attnGetLastError());
    attnModelFree(model);
    return 1;
  }
  printf("y: %g %g %g %g\n", y[0], y[1], y[2], y[3]);
  attnModelFree(model);
  return 0;
}
