//===- FloatGemm.h - threaded f32 matrix products for the fits --*- C++ -*-===//
//
// The float32 matrix products and the parallel loop that the layer-wise
// joint fit runs on (plain C++, std::thread, no BLAS dependency).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CALIBRATION_FLOATGEMM_H
#define ATTN_CALIBRATION_FLOATGEMM_H

#include <cstdint>
#include <functional>

namespace attn::calib {

/// C [m, n] (+)= op(A) [m, k] * op(B) [k, n], all row-major with leading
/// dimensions lda, ldb, ldc; op(X) = X^T when trans. C is overwritten
/// unless `accumulate`. Cache-blocked (packed panels, register tiles of the
/// kernel gemmKernel() names), single-threaded: callers split the rows or
/// run one per task.
void sgemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
           const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
           int64_t ldc, bool accumulate = false);

/// sgemm with the rows of C split over the worker threads.
void sgemmParallel(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
                   const float *a, int64_t lda, const float *b, int64_t ldb,
                   float *c, int64_t ldc, bool accumulate = false);

/// sgemm with A and B rounded to bfloat16 (round to nearest even) and f32
/// accumulation, on the CPU's bf16 matrix unit (AMX) where it and the OS
/// allow it; elsewhere, or with $ATTN_GEMM_BF16=f32, exactly sgemm.
void sgemmBf16(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
               const float *a, int64_t lda, const float *b, int64_t ldb,
               float *c, int64_t ldc, bool accumulate = false);

/// sgemmBf16 with the rows of C split over the worker threads.
void sgemmBf16Parallel(bool transA, bool transB, int64_t m, int64_t n,
                       int64_t k, const float *a, int64_t lda, const float *b,
                       int64_t ldb, float *c, int64_t ldc,
                       bool accumulate = false);

/// sgemmBf16's path: "amx", or "f32" (no AMX, or forced).
const char *bf16GemmKernel();

/// Uses "amx" or "f32" for sgemmBf16 from now on; false when the name is
/// unknown or the CPU (or kernel) lacks it.
bool setBf16GemmKernel(const char *name);

/// The bfloat16 sgemmBf16 rounds to (nearest even) as its bits, and back.
uint16_t roundToBf16(float x);
float bf16ToFloat(uint16_t x);

/// Runs body(begin, end) over [0, n) split into contiguous chunks, one per
/// worker thread (workerThreads()); the calling thread takes the first.
/// Inside a task of parallelTasks it runs body(0, n) on the calling thread.
void parallelChunks(int64_t n,
                    const std::function<void(int64_t, int64_t)> &body);

/// Runs task(i) for i in [0, n) on the worker threads, each taking the
/// next index when it is done with one (tasks of uneven cost); inside a
/// task, parallelChunks and sgemmParallel stay on its thread.
void parallelTasks(int64_t n, const std::function<void(int64_t)> &task);

/// The tile loop in use: "avx512", "avx2" or "generic" (the best the CPU
/// has, or $ATTN_GEMM_KERNEL's when the CPU has it).
const char *gemmKernel();

/// Uses the named tile loop from now on; false when the name is unknown or
/// the CPU lacks it.
bool setGemmKernel(const char *name);

/// The threads the fits use: std::thread::hardware_concurrency(), or
/// $ATTN_CALIBRATION_THREADS when set (>= 1).
int workerThreads();

} // namespace attn::calib

#endif // ATTN_CALIBRATION_FLOATGEMM_H
