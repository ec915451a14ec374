//===- FloatGemm.cpp - threaded f32 matrix products for the fits ----------===//
//
// A small GEMM in the usual shape: blocks of k and n small enough for the
// caches, A and B packed into contiguous panels, a tile of C kept in
// registers while k runs. Three tile loops, chosen once at load time from
// what the CPU has (cpuid): AVX-512 (12 x 32: 24 of the 32 zmm registers
// accumulate), AVX2+FMA (6 x 16) and the baseline build of the same 6 x 16
// loop, so the library stays portable. $ATTN_GEMM_KERNEL (avx512, avx2,
// generic) forces one the CPU has, for tests and measurements.
//
//===----------------------------------------------------------------------===//

#include "attn/Calibration/FloatGemm.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__)
#if !defined(__clang__)
// GCC 12's AVX-512 intrinsics start from _mm512_undefined_epi32 (`__Y =
// __Y`), which -Wmaybe-uninitialized reports once inlined here.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#include "Bf16Vectors.h"
#endif

using namespace attn::calib;

namespace {

// kBlockN covers the fits' widest products (576 columns) in one block, so
// A is packed once per product.
constexpr int64_t kBlockK = 256, kBlockN = 768;
constexpr int64_t kMaxTileRows = 12, kMaxTileCols = 32;

/// acc[rows][cols] = sum_p ap[p][0..rows) x bp[p][0..cols) over `depth`.
using TileFn = void (*)(int64_t depth, const float *ap, const float *bp,
                        float *acc);

/// Eight floats; one AVX register or two SSE ones. Loads and stores go
/// through memcpy (any alignment).
typedef float Vec8 __attribute__((vector_size(32)));

/// The 6 x 16 tile: twelve accumulators stay in registers while p runs.
template <int Unused>
inline __attribute__((always_inline)) void tile6x16(int64_t depth,
                                                    const float *ap,
                                                    const float *bp,
                                                    float *acc) {
  Vec8 c[6][2] = {};
  for (int64_t p = 0; p < depth; ++p) {
    Vec8 b0, b1;
    __builtin_memcpy(&b0, bp + p * 16, sizeof(Vec8));
    __builtin_memcpy(&b1, bp + p * 16 + 8, sizeof(Vec8));
    const float *a = ap + p * 6;
    for (int64_t i = 0; i < 6; ++i) {
      c[i][0] += a[i] * b0;
      c[i][1] += a[i] * b1;
    }
  }
  __builtin_memcpy(acc, c, sizeof(c));
}

void tileGeneric(int64_t depth, const float *ap, const float *bp, float *acc) {
  tile6x16<0>(depth, ap, bp, acc);
}

#if defined(__x86_64__) && defined(__GNUC__)
#define ATTN_GEMM_X86 1

__attribute__((target("avx2,fma"))) void
tileAvx2(int64_t depth, const float *ap, const float *bp, float *acc) {
  tile6x16<1>(depth, ap, bp, acc);
}

/// The 12 x 32 tile: 24 zmm accumulators, two loads of B and a broadcast
/// of A per row; 12 x 32 x 2 flops per 12 + 32 floats read. C's first
/// `rows` x `cols` are written (`add`: C + the tile) from the registers by
/// masked stores, no copy through a buffer.
__attribute__((target("avx512f,avx2,fma"))) void
tileAvx512Store(int64_t depth, const float *ap, const float *bp, float *c,
                int64_t ldc, int64_t rows, int64_t cols, bool add) {
  __m512 acc[12][2];
#pragma GCC unroll 12
  for (int i = 0; i < 12; ++i)
    acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (int64_t p = 0; p < depth; ++p) {
    __m512 b0 = _mm512_loadu_ps(bp + p * 32);
    __m512 b1 = _mm512_loadu_ps(bp + p * 32 + 16);
    const float *a = ap + p * 12;
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) {
      __m512 ai = _mm512_set1_ps(a[i]);
      acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
    }
  }
  uint32_t bits = cols >= 32 ? ~0u : (1u << cols) - 1;
  __mmask16 m0 = static_cast<__mmask16>(bits),
            m1 = static_cast<__mmask16>(bits >> 16);
#pragma GCC unroll 12
  for (int i = 0; i < 12; ++i) {
    if (i >= rows)
      break;
    float *row = c + i * ldc;
    __m512 v0 = acc[i][0], v1 = acc[i][1];
    if (add) {
      v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, row), v0);
      v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, row + 16), v1);
    }
    _mm512_mask_storeu_ps(row, m0, v0);
    _mm512_mask_storeu_ps(row + 16, m1, v1);
  }
}

/// The tile into a 12 x 32 buffer (the Kernel table's form, for CPUs
/// without AVX512BW, whose packs take the generic path).
__attribute__((target("avx512f,avx2,fma"))) void
tileAvx512(int64_t depth, const float *ap, const float *bp, float *acc) {
  tileAvx512Store(depth, ap, bp, acc, 32, 12, 32, /*add=*/false);
}

/// The AVX-512 tile's A panel from op(A) = A^T: ap[p * 12 + i] = src[p *
/// lda + i] for i < rows, p < kb (rows past `rows` zero): one masked load
/// and store per p.
__attribute__((target("avx512f"))) void
packColumnsA(const float *src, int64_t lda, int64_t rows, int64_t kb,
             float *ap) {
  const __mmask16 rowMask = static_cast<__mmask16>((1u << rows) - 1);
  const __mmask16 tileMask = static_cast<__mmask16>((1u << 12) - 1);
  for (int64_t p = 0; p < kb; ++p)
    _mm512_mask_storeu_ps(ap + p * 12, tileMask,
                          _mm512_maskz_loadu_ps(rowMask, src + p * lda));
}

/// The AVX-512 tile's B panel from op(B) = B: dst[p * 32 + j] = src[p *
/// ldb + j] for j < cols, zero for cols <= j < 32.
__attribute__((target("avx512f"))) void
packRowsB(const float *src, int64_t ldb, int64_t kb, int64_t cols,
          float *dst) {
  uint32_t bits = cols >= 32 ? ~0u : (1u << cols) - 1;
  __mmask16 m0 = static_cast<__mmask16>(bits),
            m1 = static_cast<__mmask16>(bits >> 16);
  for (int64_t p = 0; p < kb; ++p) {
    const float *row = src + p * ldb;
    _mm512_storeu_ps(dst + p * 32, _mm512_maskz_loadu_ps(m0, row));
    _mm512_storeu_ps(dst + p * 32 + 16, _mm512_maskz_loadu_ps(m1, row + 16));
  }
}

using attn::calib::bf16vec::transpose16;

/// The AVX-512 tile's B panel from op(B) = B^T: dst[p * 32 + j] = src[j *
/// ldb + p] for j < cols, p < kb (columns past `cols` are left as they
/// are). 16 x 16 blocks through a register transpose, not one float at a
/// time.
__attribute__((target("avx512f,avx512bw"))) void
packTransposedB(const float *src, int64_t ldb, int64_t kb, int64_t cols,
                float *dst) {
  for (int64_t h = 0; h * 16 < cols; ++h)
    for (int64_t pb = 0; pb < kb; pb += 16) {
      int64_t span = std::min<int64_t>(16, kb - pb);
      __mmask16 mask = static_cast<__mmask16>((1u << span) - 1);
      __m512i r[16];
      for (int64_t c = 0; c < 16; ++c)
        r[c] = h * 16 + c < cols
                   ? _mm512_castps_si512(_mm512_maskz_loadu_ps(
                         mask, src + (h * 16 + c) * ldb + pb))
                   : _mm512_setzero_si512();
      transpose16(r);
      __mmask16 colMask = static_cast<__mmask16>(
          (1u << std::min<int64_t>(16, cols - h * 16)) - 1);
      for (int64_t x = 0; x < span; ++x)
        _mm512_mask_storeu_epi32(dst + (pb + x) * 32 + h * 16, colMask, r[x]);
    }
}

/// The AVX-512 tile's A panel from op(A) = A: ap[p * 12 + i] = src[i * lda
/// + p] for i < rows, p < kb (rows past `rows` are left as they are).
__attribute__((target("avx512f,avx512bw"))) void
packRowsA(const float *src, int64_t lda, int64_t rows, int64_t kb,
          float *ap) {
  const __mmask16 rowMask = static_cast<__mmask16>((1u << rows) - 1);
  for (int64_t pb = 0; pb < kb; pb += 16) {
    int64_t span = std::min<int64_t>(16, kb - pb);
    __mmask16 mask = static_cast<__mmask16>((1u << span) - 1);
    __m512i r[16];
    for (int64_t i = 0; i < 16; ++i)
      r[i] = i < rows ? _mm512_castps_si512(
                            _mm512_maskz_loadu_ps(mask, src + i * lda + pb))
                      : _mm512_setzero_si512();
    transpose16(r);
    for (int64_t x = 0; x < span; ++x)
      _mm512_mask_storeu_epi32(ap + (pb + x) * 12, rowMask, r[x]);
  }
}
#endif

struct Kernel {
  const char *name;
  int64_t rows, cols;
  TileFn tile;
};

const Kernel kGeneric{"generic", 6, 16, tileGeneric};
#ifdef ATTN_GEMM_X86
const Kernel kAvx2{"avx2", 6, 16, tileAvx2};
const Kernel kAvx512{"avx512", 12, 32, tileAvx512};
#endif

bool supported(const Kernel &k) {
#ifdef ATTN_GEMM_X86
  __builtin_cpu_init();
  if (&k == &kAvx512)
    return __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (&k == &kAvx2)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
  return &k == &kGeneric;
}

const Kernel *byName(const char *name) {
  for (const Kernel *k : {
#ifdef ATTN_GEMM_X86
           &kAvx512, &kAvx2,
#endif
           &kGeneric})
    if (std::strcmp(k->name, name) == 0)
      return k;
  return nullptr;
}

/// The best kernel the CPU has, or $ATTN_GEMM_KERNEL's when it has it.
const Kernel *&activeKernel() {
  static const Kernel *active = [] {
    if (const char *env = std::getenv("ATTN_GEMM_KERNEL"))
      if (const Kernel *k = byName(env); k && supported(*k))
        return k;
#ifdef ATTN_GEMM_X86
    for (const Kernel *k : {&kAvx512, &kAvx2})
      if (supported(*k))
        return k;
#endif
    return &kGeneric;
  }();
  return active;
}

/// Set on a thread that runs one task of parallelTasks: its products and
/// loops stay on it.
thread_local bool serialThread = false;

} // namespace

const char *attn::calib::gemmKernel() { return activeKernel()->name; }

bool attn::calib::setGemmKernel(const char *name) {
  const Kernel *k = byName(name);
  if (!k || !supported(*k))
    return false;
  activeKernel() = k;
  return true;
}

namespace {

/// sgemm; with `upper` (m == n), the tiles whose every entry lies below the
/// diagonal are not computed.
void gemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
          const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
          int64_t ldc, bool accumulate, bool upper) {
  if (m <= 0 || n <= 0)
    return;
  if (k <= 0) {
    if (!accumulate)
      for (int64_t i = 0; i < m; ++i)
        std::fill(c + i * ldc, c + i * ldc + n, 0.0f);
    return;
  }
  const Kernel &kernel = *activeKernel();
  const int64_t tr = kernel.rows, tc = kernel.cols;
#ifdef ATTN_GEMM_X86
  // The transposing packs through AVX-512 registers (their helpers are
  // built for AVX512BW too).
  static const bool hasBw = __builtin_cpu_supports("avx512bw");
  const bool vectorPacking = &kernel == &kAvx512 && hasBw;
#endif
  // Per thread: the packing buffers outlive the call (no allocation per
  // product; the fits call it for many small blocks).
  thread_local std::vector<float> bPack, aPack;
  aPack.resize(kBlockK * tr);
  bPack.resize(kBlockK * ((kBlockN + tc - 1) / tc) * tc);
  float acc[kMaxTileRows * kMaxTileCols];
  for (int64_t j0 = 0; j0 < n; j0 += kBlockN) {
    int64_t nb = std::min(kBlockN, n - j0);
    int64_t panels = (nb + tc - 1) / tc;
    for (int64_t p0 = 0; p0 < k; p0 += kBlockK) {
      int64_t kb = std::min(kBlockK, k - p0);
      // B's block as panels of tc columns, zero-padded: [panel][p][tc].
      for (int64_t t = 0; t < panels; ++t) {
        float *dst = bPack.data() + t * kb * tc;
        int64_t j1 = j0 + t * tc, cols = std::min(tc, nb - t * tc);
        if (!transB) {
#ifdef ATTN_GEMM_X86
          if (vectorPacking) {
            packRowsB(b + p0 * ldb + j1, ldb, kb, cols, dst);
            continue;
          }
#endif
          for (int64_t p = 0; p < kb; ++p) {
            const float *src = b + (p0 + p) * ldb + j1;
            std::memcpy(dst + p * tc, src, cols * sizeof(float));
            std::fill(dst + p * tc + cols, dst + (p + 1) * tc, 0.0f);
          }
        } else {
          if (cols < tc)
            std::fill(dst, dst + kb * tc, 0.0f);
          // Row p of the panel gathers column p of `cols` rows of B:
          // contiguous writes, `cols` sequential read streams.
          const float *src = b + j1 * ldb + p0;
#ifdef ATTN_GEMM_X86
          if (vectorPacking) {
            packTransposedB(src, ldb, kb, cols, dst);
            continue;
          }
#endif
          for (int64_t p = 0; p < kb; ++p)
            for (int64_t j = 0; j < cols; ++j)
              dst[p * tc + j] = src[j * ldb + p];
        }
      }
      for (int64_t i0 = 0; i0 < m; i0 += tr) {
        int64_t rows = std::min(tr, m - i0);
        float *ap = aPack.data();
        if (rows < tr)
          std::fill(ap, ap + kb * tr, 0.0f);
        if (transA) {
#ifdef ATTN_GEMM_X86
          if (vectorPacking)
            packColumnsA(a + p0 * lda + i0, lda, rows, kb, ap);
          else
#endif
            for (int64_t p = 0; p < kb; ++p)
              std::memcpy(ap + p * tr, a + (p0 + p) * lda + i0,
                          rows * sizeof(float));
        } else {
          const float *src = a + i0 * lda + p0;
#ifdef ATTN_GEMM_X86
          if (vectorPacking)
            packRowsA(src, lda, rows, kb, ap);
          else
#endif
            for (int64_t p = 0; p < kb; ++p)
              for (int64_t i = 0; i < rows; ++i)
                ap[p * tr + i] = src[i * lda + p];
        }
        for (int64_t t = 0; t < panels; ++t) {
          int64_t cols = std::min(tc, nb - t * tc);
          if (upper && j0 + t * tc + cols <= i0)
            continue; // every column left of the tile's first row
          bool overwrite = !accumulate && p0 == 0; // C's first k block
#ifdef ATTN_GEMM_X86
          if (vectorPacking) {
            tileAvx512Store(kb, ap, bPack.data() + t * kb * tc,
                            c + i0 * ldc + j0 + t * tc, ldc, rows, cols,
                            !overwrite);
            continue;
          }
#endif
          kernel.tile(kb, ap, bPack.data() + t * kb * tc, acc);
          for (int64_t i = 0; i < rows; ++i) {
            float *dst = c + (i0 + i) * ldc + j0 + t * tc;
            const float *src = acc + i * tc;
            if (overwrite)
              std::memcpy(dst, src, cols * sizeof(float));
            else
              for (int64_t j = 0; j < cols; ++j)
                dst[j] += src[j];
          }
        }
      }
    }
  }
}

} // namespace

void attn::calib::sgemm(bool transA, bool transB, int64_t m, int64_t n,
                        int64_t k, const float *a, int64_t lda, const float *b,
                        int64_t ldb, float *c, int64_t ldc, bool accumulate) {
  gemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate, false);
}

void attn::calib::sgemmUpper(bool transA, bool transB, int64_t n, int64_t k,
                             const float *a, int64_t lda, const float *b,
                             int64_t ldb, float *c, int64_t ldc) {
  gemm(transA, transB, n, n, k, a, lda, b, ldb, c, ldc, false, true);
}

int attn::calib::workerThreads() {
  static const int threads = [] {
    if (const char *env = std::getenv("ATTN_CALIBRATION_THREADS")) {
      int n = std::atoi(env);
      if (n >= 1)
        return n;
    }
    return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }();
  return threads;
}

void attn::calib::parallelChunks(
    int64_t n, const std::function<void(int64_t, int64_t)> &body) {
  int64_t workers = serialThread ? 1 : std::min<int64_t>(workerThreads(), n);
  if (workers <= 1) {
    if (n > 0)
      body(0, n);
    return;
  }
  std::vector<std::thread> threads;
  auto bounds = [&](int64_t w) { return n * w / workers; };
  for (int64_t w = 1; w < workers; ++w)
    threads.emplace_back([&, w] { body(bounds(w), bounds(w + 1)); });
  body(0, bounds(1));
  for (std::thread &t : threads)
    t.join();
}

void attn::calib::parallelTasks(int64_t n,
                                const std::function<void(int64_t)> &task) {
  int64_t workers = serialThread ? 1 : std::min<int64_t>(workerThreads(), n);
  if (workers <= 1) {
    for (int64_t i = 0; i < n; ++i)
      task(i);
    return;
  }
  std::atomic<int64_t> next{0};
  auto worker = [&] {
    bool was = serialThread;
    serialThread = true;
    for (int64_t i; (i = next.fetch_add(1)) < n;)
      task(i);
    serialThread = was;
  };
  std::vector<std::thread> threads;
  for (int64_t w = 1; w < workers; ++w)
    threads.emplace_back(worker);
  worker();
  for (std::thread &t : threads)
    t.join();
}

void attn::calib::sgemmParallel(bool transA, bool transB, int64_t m, int64_t n,
                                int64_t k, const float *a, int64_t lda,
                                const float *b, int64_t ldb, float *c,
                                int64_t ldc, bool accumulate) {
  // Whole tiles per thread; each packs its own copy of B's blocks.
  int64_t tileRows = activeKernel()->rows;
  int64_t tiles = (m + tileRows - 1) / tileRows;
  parallelChunks(tiles, [&](int64_t t0, int64_t t1) {
    int64_t i0 = t0 * tileRows, i1 = std::min(m, t1 * tileRows);
    const float *aRows = transA ? a + i0 : a + i0 * lda;
    sgemm(transA, transB, i1 - i0, n, k, aRows, lda, b, ldb, c + i0 * ldc, ldc,
          accumulate);
  });
}
