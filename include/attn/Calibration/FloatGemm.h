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
#include <vector>

namespace attn::calib {

/// C [m, n] (+)= op(A) [m, k] * op(B) [k, n], all row-major with leading
/// dimensions lda, ldb, ldc; op(X) = X^T when trans. C is overwritten
/// unless `accumulate`. Cache-blocked (packed panels, register tiles of the
/// kernel gemmKernel() names), single-threaded: callers split the rows or
/// run one per task.
void sgemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
           const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
           int64_t ldc, bool accumulate = false);

/// sgemm of a square C [n, n] whose entries on and above the diagonal (i
/// <= j) are the only ones needed (a Gram's upper triangle): the register
/// tiles entirely below the diagonal are skipped, B is packed once per k
/// block. Each computed entry has sgemm's bits (the same sums in the same
/// order); entries below the diagonal are sgemm's or left as they were.
void sgemmUpper(bool transA, bool transB, int64_t n, int64_t k,
                const float *a, int64_t lda, const float *b, int64_t ldb,
                float *c, int64_t ldc);

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

/// What a product may skip, per row i of C (a causal or padded
/// attention's products; any null array: the whole range): row i of op(A)
/// is zero outside k in [kBegin[i], kEnd[i]), and only C's columns
/// [nBegin[i], nEnd[i]) of row i are needed. The AVX512_BF16 path skips the
/// register tiles and pairs of k outside them: its needed entries equal the
/// full product's (up to the sign of a zero), the tiles it skips are 0 (left
/// as they were when accumulating); the other paths compute the full
/// product.
struct RowSupport {
  const int32_t *kBegin = nullptr, *kEnd = nullptr;
  const int32_t *nBegin = nullptr, *nEnd = nullptr;
  /// The support of rows from `i` on.
  RowSupport from(int64_t i) const {
    auto at = [&](const int32_t *p) { return p ? p + i : nullptr; };
    return {at(kBegin), at(kEnd), at(nBegin), at(nEnd)};
  }
};
/// sgemmBf16 skipping what `support` allows.
void sgemmBf16Sparse(bool transA, bool transB, int64_t m, int64_t n,
                     int64_t k, const float *a, int64_t lda, const float *b,
                     int64_t ldb, float *c, int64_t ldc, bool accumulate,
                     const RowSupport &support);
/// One operand of several products packed once (the joint fit's constant
/// input H, a KV group's K and V for its query heads): op(X) as the left
/// operand [m, k] (setLeft) or the right one [k, n] (setRight) of
/// sgemmPacked. With `bf16` on the AVX512_BF16 path it holds X rounded and
/// packed as sgemmBf16 packs it on each call; otherwise (and for a path
/// chosen after packing) it keeps X's address, which must stay valid, and
/// the products read X as sgemmBf16 (`bf16`) or sgemm do. Either way a
/// product with it equals the unpacked product bit for bit. Reusable: a
/// new set keeps the buffer.
class GemmOperand {
public:
  void setLeft(bool bf16, bool trans, int64_t m, int64_t k, const float *x,
               int64_t ld);
  void setRight(bool bf16, bool trans, int64_t k, int64_t n, const float *x,
                int64_t ld);
  /// Whether it holds the packed copy (else it reads X).
  bool packed() const { return isPacked; }

private:
  friend struct GemmOperandAccess;
  void set(bool left, bool bf16, bool trans, int64_t rows, int64_t cols,
           const float *x, int64_t ld);
  bool left = false, bf16 = false, trans = false, isPacked = false;
  int64_t rows = 0, cols = 0, ld = 0; ///< op(X)'s shape
  const float *x = nullptr;
  std::vector<uint32_t> words;
};

/// C [m, n] (+)= op(A) B with A packed (setLeft: m, k), or op(A) B with B
/// packed (setRight: k, n): sgemmBf16's (or sgemm's, as the operand was
/// set) product bit for bit. The Parallel forms split C's rows over the
/// worker threads as sgemmBf16Parallel (sgemmParallel) does.
void sgemmPacked(const GemmOperand &a, bool transB, int64_t n,
                 const float *b, int64_t ldb, float *c, int64_t ldc,
                 bool accumulate = false);
void sgemmPacked(bool transA, int64_t m, const float *a, int64_t lda,
                 const GemmOperand &b, float *c, int64_t ldc,
                 bool accumulate = false);
/// sgemmPacked with B packed, skipping what `support` allows.
void sgemmPacked(bool transA, int64_t m, const float *a, int64_t lda,
                 const GemmOperand &b, float *c, int64_t ldc, bool accumulate,
                 const RowSupport &support);
void sgemmPackedParallel(const GemmOperand &a, bool transB, int64_t n,
                         const float *b, int64_t ldb, float *c, int64_t ldc,
                         bool accumulate = false);
void sgemmPackedParallel(bool transA, int64_t m, const float *a, int64_t lda,
                         const GemmOperand &b, float *c, int64_t ldc,
                         bool accumulate = false);
/// sgemmPackedParallel with A packed, over its rows [begin, end) only (c
/// points at C's row `begin`): with `begin` and `end` (unless it is A's
/// last row) multiples of 96, every row lies in the register tile it has
/// in the whole product, so C's rows equal the whole product's bit for bit.
void sgemmPackedRowsParallel(const GemmOperand &a, int64_t begin, int64_t end,
                             bool transB, int64_t n, const float *b,
                             int64_t ldb, float *c, int64_t ldc,
                             bool accumulate = false);

/// sgemmBf16's path: "amx", "avx512bf16", or "f32" (neither, or forced).
const char *bf16GemmKernel();

/// Uses "amx", "avx512bf16" or "f32" for sgemmBf16 from now on; false when
/// the name is unknown or the CPU (or kernel) lacks it.
bool setBf16GemmKernel(const char *name);

/// The "avx512bf16" path's tile: "vdpbf16ps" (the instruction) or "fma"
/// (f32 FMAs on the same bf16 pairs, odd k then even as VDPBF16PS adds
/// them: the same bits, twice as fast on Intel cores, where VDPBF16PS
/// issues on one port). FMAs on Intel CPUs, else VDPBF16PS;
/// $ATTN_GEMM_BF16_TILE forces one. setBf16PairTile is false for another
/// name.
const char *bf16PairTile();
bool setBf16PairTile(const char *name);

/// Whether cpuid's vendor is GenuineIntel (where the "fma" pair tile is
/// the default); false off x86-64.
bool cpuIsIntel();

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
