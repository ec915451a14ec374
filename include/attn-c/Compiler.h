/*===- attn-c/Compiler.h - C API of the attn-mlir compiler --------*- C -*-===*\
|*                                                                            *|
|* Compiles a model (.mlir or .onnx, from a file or from memory) into a       *|
|* shared library that libAttnRuntime.so loads, or into IR text, in-process. *|
|* Implemented by libAttnCompiler.so; docs/compiler-library.md describes it. *|
|* Nothing here exits or prints: a failing call returns ATTN_COMPILE_ERROR   *|
|* and attnCompilerGetError gives the diagnostics with their locations.      *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef ATTN_C_COMPILER_H
#define ATTN_C_COMPILER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ATTN_COMPILER_API __attribute__((visibility("default")))

typedef enum AttnCompileStatus {
  ATTN_COMPILE_OK = 0,
  ATTN_COMPILE_ERROR = 1
} AttnCompileStatus;

typedef enum AttnCompileTarget {
  ATTN_COMPILE_TARGET_CPU = 0,
  ATTN_COMPILE_TARGET_CUDA = 1 /* not supported yet: compiling fails */
} AttnCompileTarget;

/* What a compilation produces (attn-compile --emit). */
typedef enum AttnCompileOutput {
  ATTN_COMPILE_OUTPUT_LIBRARY = 0,       /* a shared library */
  ATTN_COMPILE_OUTPUT_MLIR_IMPORTED = 1, /* MLIR right after import */
  ATTN_COMPILE_OUTPUT_MLIR = 2,          /* MLIR after attn-compile-pipeline */
  ATTN_COMPILE_OUTPUT_LLVM = 3           /* optimised LLVM IR */
} AttnCompileOutput;

typedef enum AttnShareKVMethod {
  ATTN_SHARE_KV_MEAN = 0,
  ATTN_SHARE_KV_EXACT = 1,
  ATTN_SHARE_KV_CALIBRATED = 2, /* needs a calibration file */
  ATTN_SHARE_KV_ALIGNED = 3,    /* needs a calibration file */
  /* joint with a calibration file (aligned-fit for the attentions it does
     not apply to), mean without one */
  ATTN_SHARE_KV_DEFAULT = 4,
  /* aligned + layer-wise output refit; needs a calibration file */
  ATTN_SHARE_KV_ALIGNED_FIT = 5,
  /* multi-head latent attention (the latent rank and rotary size come
     from attnCompileOptionsSet's latent-rank / latent-rope-dim keys) */
  ATTN_SHARE_KV_LATENT = 6,
  /* aligned + layer-wise joint fit of Q, shared K/V and O; needs a
     calibration file */
  ATTN_SHARE_KV_JOINT = 7
} AttnShareKVMethod;

/* Compiles models one at a time and keeps the results of the last one.
   Use one session per thread. */
typedef struct AttnCompilerSession AttnCompilerSession;
/* The options of a compilation (attn-compile's flags). */
typedef struct AttnCompileOptions AttnCompileOptions;

ATTN_COMPILER_API AttnCompilerSession *attnCompilerSessionCreate(void);
ATTN_COMPILER_API void attnCompilerSessionDestroy(AttnCompilerSession *session);

/* Options start as attn-compile's defaults: cpu, a library, mcpu=native,
   decode fusion on. */
ATTN_COMPILER_API AttnCompileOptions *attnCompileOptionsCreate(void);
ATTN_COMPILER_API void attnCompileOptionsDestroy(AttnCompileOptions *options);

/* Sets one option by attn-compile's flag name without dashes ("dim",
   "share-kv", "mcpu", ...; docs/compiler-library.md lists them) from its
   text; "dim" and "input-shape" add one binding per call. On a bad key or
   value returns ATTN_COMPILE_ERROR; attnCompileOptionsGetError says why. */
ATTN_COMPILER_API AttnCompileStatus
attnCompileOptionsSet(AttnCompileOptions *options, const char *key,
                      const char *value);
/* Applies `count` flags "--key=value" (or "key=value") in order. */
ATTN_COMPILER_API AttnCompileStatus
attnCompileOptionsSetFlags(AttnCompileOptions *options, int32_t count,
                           const char *const *flags);
/* Why the last setter of `options` failed ("" when none did). */
ATTN_COMPILER_API const char *
attnCompileOptionsGetError(const AttnCompileOptions *options);

/* Typed setters. A NULL string means "" (the default). */
ATTN_COMPILER_API void attnCompileOptionsSetTarget(AttnCompileOptions *options,
                                                   AttnCompileTarget target);
ATTN_COMPILER_API void attnCompileOptionsSetOutput(AttnCompileOptions *options,
                                                   AttnCompileOutput output);
ATTN_COMPILER_API void
attnCompileOptionsSetEntryFunction(AttnCompileOptions *options,
                                   const char *name);
/* Binds the symbolic dimension `name` to `size`. */
ATTN_COMPILER_API void attnCompileOptionsAddDim(AttnCompileOptions *options,
                                                const char *name, int64_t size);
/* The shape of graph input `name` (rank 0: a scalar). */
ATTN_COMPILER_API void
attnCompileOptionsSetInputShape(AttnCompileOptions *options, const char *name,
                                int32_t rank, const int64_t *shape);
/* Converts attention to `kvHeads` KV heads (0: keep them);
   `calibrationFile` (.npz of graph inputs) is for ATTN_SHARE_KV_CALIBRATED
   ATTN_SHARE_KV_ALIGNED, ATTN_SHARE_KV_ALIGNED_FIT, ATTN_SHARE_KV_JOINT
   and ATTN_SHARE_KV_LATENT (and makes
   ATTN_SHARE_KV_DEFAULT joint). */
ATTN_COMPILER_API void attnCompileOptionsSetShareKV(AttnCompileOptions *options,
                                                    int64_t kvHeads,
                                                    AttnShareKVMethod method,
                                                    const char *calibrationFile);
/* KV-cache capacity of a fused decode step (at least 2). */
ATTN_COMPILER_API void attnCompileOptionsSetMaxSeq(AttnCompileOptions *options,
                                                   int64_t maxSeq);
ATTN_COMPILER_API void
attnCompileOptionsSetFuseDecode(AttnCompileOptions *options, int32_t enabled);
/* The CPU to generate code for ("native" or an LLVM CPU name such as
   "x86-64-v3") and features to add or remove ("+avx512f,-fma"). */
ATTN_COMPILER_API void attnCompileOptionsSetCpu(AttnCompileOptions *options,
                                                const char *mcpu,
                                                const char *mattr);
/* Also write the JSON report to this file. */
ATTN_COMPILER_API void
attnCompileOptionsSetReportPath(AttnCompileOptions *options, const char *path);

/* Compiles the model at `modelPath` (.mlir or .onnx). A library is written
   to `outputPath` (required), only once complete. IR is kept in the session
   (attnCompilerGetOutput) and also written to `outputPath` if not NULL. */
ATTN_COMPILER_API AttnCompileStatus
attnCompileFile(AttnCompilerSession *session, const AttnCompileOptions *options,
                const char *modelPath, const char *outputPath);

/* Like attnCompileFile for a model held in memory: `format` is "mlir" or
   "onnx"; `name` names the buffer in diagnostics (may be NULL). */
ATTN_COMPILER_API AttnCompileStatus
attnCompileBuffer(AttnCompilerSession *session,
                  const AttnCompileOptions *options, const void *data,
                  size_t size, const char *format, const char *name,
                  const char *outputPath);

/* Results of the last compilation of `session`, valid until the next one.
   Never NULL. */
/* The IR text (outputs other than a library). */
ATTN_COMPILER_API const char *
attnCompilerGetOutput(const AttnCompilerSession *session);
/* The JSON report of the attention ops (docs/attn-compile.md). */
ATTN_COMPILER_API const char *
attnCompilerGetReport(const AttnCompilerSession *session);
/* Informational lines (share-kv calibration errors). */
ATTN_COMPILER_API const char *
attnCompilerGetLog(const AttnCompilerSession *session);
/* Diagnostics and warnings, also of a compilation that succeeded. */
ATTN_COMPILER_API const char *
attnCompilerGetDiagnostics(const AttnCompilerSession *session);
/* After a failure: the diagnostics (`FILE:LINE:COL: error: ...` with the
   source line) followed by `error: WHAT FAILED`; "" after a success. */
ATTN_COMPILER_API const char *
attnCompilerGetError(const AttnCompilerSession *session);

#ifdef __cplusplus
}
#endif

#endif /* ATTN_C_COMPILER_H */
