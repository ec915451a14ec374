/*===- compiler-capi.c - exercise include/attn-c/Compiler.h ---------------===*\
|*                                                                            *|
|* compiler-capi MODEL.mlir ATTENTION.mlir OUTDIR: compiles MODEL from its    *|
|* file and from a buffer, ATTENTION with a report, and malformed input and   *|
|* options; prints what the API gives back for FileCheck (compiler-capi.test).*|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#include "attn-c/Compiler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *readFile(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *data = malloc((size_t)n + 1);
  *size = fread(data, 1, (size_t)n, f);
  data[*size] = '\0';
  fclose(f);
  return data;
}

static void report(const char *what, AttnCompileStatus status,
                   AttnCompilerSession *s) {
  printf("%s: %s\n", what, status == ATTN_COMPILE_OK ? "ok" : "failed");
  if (status != ATTN_COMPILE_OK)
    printf("%s", attnCompilerGetError(s));
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: compiler-capi MODEL.mlir ATTENTION.mlir OUTDIR\n");
    return 2;
  }
  char path[4096];
  AttnCompilerSession *s = attnCompilerSessionCreate();
  AttnCompileOptions *o = attnCompileOptionsCreate();

  /* From a file, to a library. */
  snprintf(path, sizeof path, "%s/file.so", argv[3]);
  report("file", attnCompileFile(s, o, argv[1], path), s);

  /* From a buffer, to a library and to IR text. */
  size_t size = 0;
  char *model = readFile(argv[1], &size);
  if (!model)
    return 2;
  snprintf(path, sizeof path, "%s/buffer.so", argv[3]);
  report("buffer",
         attnCompileBuffer(s, o, model, size, "mlir", "model.mlir", path), s);
  attnCompileOptionsSetOutput(o, ATTN_COMPILE_OUTPUT_MLIR);
  report("buffer-ir",
         attnCompileBuffer(s, o, model, size, "mlir", "model.mlir", NULL), s);
  printf("ir has signature: %s\n",
         strstr(attnCompilerGetOutput(s), "attn_model_signature") ? "yes"
                                                                  : "no");
  attnCompileOptionsSetOutput(o, ATTN_COMPILE_OUTPUT_LIBRARY);

  /* A malformed model: the parser's message with its location, no file. */
  const char *bad = "func.func @f( {\n";
  snprintf(path, sizeof path, "%s/bad.so", argv[3]);
  report("malformed",
         attnCompileBuffer(s, o, bad, strlen(bad), "mlir", "bad.mlir", path),
         s);
  printf("bad.so exists: %s\n", access(path, F_OK) == 0 ? "yes" : "no");

  /* The report of an attention model, with typed and text options. */
  const char *flags[] = {"--share-kv=1", "share-kv-method=mean"};
  if (attnCompileOptionsSetFlags(o, 2, flags) != ATTN_COMPILE_OK)
    printf("flags: %s\n", attnCompileOptionsGetError(o));
  attnCompileOptionsSetCpu(o, "x86-64-v3", NULL);
  attnCompileOptionsSetOutput(o, ATTN_COMPILE_OUTPUT_MLIR);
  report("attention", attnCompileFile(s, o, argv[2], NULL), s);
  printf("report: %s", attnCompilerGetReport(s));

  /* Bad options. */
  if (attnCompileOptionsSet(o, "share-kv-method", "median") != ATTN_COMPILE_OK)
    printf("option: %s\n", attnCompileOptionsGetError(o));
  if (attnCompileOptionsSet(o, "no-such-flag", "1") != ATTN_COMPILE_OK)
    printf("option: %s\n", attnCompileOptionsGetError(o));
  attnCompileOptionsSetCpu(o, "not-a-cpu", NULL);
  report("cpu", attnCompileFile(s, o, argv[1], NULL), s);
  attnCompileOptionsSetCpu(o, "native", NULL);
  /* The typed share-kv setter: aligned needs a calibration file. */
  attnCompileOptionsSetShareKV(o, 1, ATTN_SHARE_KV_ALIGNED, NULL);
  report("aligned", attnCompileFile(s, o, argv[2], NULL), s);
  attnCompileOptionsSetShareKV(o, 0, ATTN_SHARE_KV_MEAN, NULL);
  /* The cuda target: an attention-only model compiles to IR with GPU
     kernels (a gpu.binary holding the cubin). */
  static const char gpu[] =
      "func.func @m(%q: tensor<1x4x1x64xf16>, %k: tensor<1x2x128x64xf16>,\n"
      "             %v: tensor<1x2x128x64xf16>) -> tensor<1x4x1x64xf16> {\n"
      "  %e = tensor.empty() : tensor<1x4x1x64xf16>\n"
      "  %o = attn.attention heads(4, 2) scale(0.125) ins(%q, %k, %v :\n"
      "      tensor<1x4x1x64xf16>, tensor<1x2x128x64xf16>,\n"
      "      tensor<1x2x128x64xf16>) outs(%e : tensor<1x4x1x64xf16>)\n"
      "      -> tensor<1x4x1x64xf16>\n"
      "  return %o : tensor<1x4x1x64xf16>\n"
      "}\n";
  attnCompileOptionsSetFlags(o, 1, (const char *[]){"--share-kv=0"});
  attnCompileOptionsSetTarget(o, ATTN_COMPILE_TARGET_CUDA);
  report("cuda", attnCompileBuffer(s, o, gpu, strlen(gpu), "mlir", "gpu.mlir",
                                   NULL), s);
  printf("gpu binary: %s\n",
         strstr(attnCompilerGetOutput(s), "gpu.binary") ? "yes" : "no");

  free(model);
  attnCompileOptionsDestroy(o);
  attnCompilerSessionDestroy(s);
  return 0;
}
