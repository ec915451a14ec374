//===- FloatGemm.cpp - threaded f32 matrix products for the fits ----------===//
//
// A small GEMM in the usual shape: blocks of k and n small enough for the
// caches, A and B packed into contiguous panels, a 6 x 16 tile of C kept in
// registers while k runs. The tile loop is compiled for AVX2+FMA and for
// the baseline, chosen at load time, so the library stays portable.
//
//===----------------------------------------------------------------------===//

#include "attn/Calibration/FloatGemm.h"

#include <algorithm>
#include <cstdlib>
#include <thread>
#include <vector>

using namespace attn::calib;

namespace {

constexpr int64_t kTileRows = 6, kTileCols = 16;
constexpr int64_t kBlockK = 256, kBlockN = 512;

#if defined(__x86_64__) && defined(__GNUC__)
#define ATTN_GEMM_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define ATTN_GEMM_CLONES
#endif

/// Eight floats; GCC and Clang lower it to one AVX register or two SSE
/// ones. Loads and stores go through memcpy (any alignment).
typedef float Vec8 __attribute__((vector_size(32)));

/// acc[6][16] = sum_p ap[p][0..6) x bp[p][0..16), over `depth` steps: twelve
/// accumulators stay in registers while p runs.
ATTN_GEMM_CLONES
void tile(int64_t depth, const float *ap, const float *bp, float *acc) {
  Vec8 c[kTileRows][2] = {};
  for (int64_t p = 0; p < depth; ++p) {
    Vec8 b0, b1;
    __builtin_memcpy(&b0, bp + p * kTileCols, sizeof(Vec8));
    __builtin_memcpy(&b1, bp + p * kTileCols + 8, sizeof(Vec8));
    const float *a = ap + p * kTileRows;
    for (int64_t i = 0; i < kTileRows; ++i) {
      c[i][0] += a[i] * b0;
      c[i][1] += a[i] * b1;
    }
  }
  __builtin_memcpy(acc, c, sizeof(c));
}

} // namespace

void attn::calib::sgemm(bool transA, bool transB, int64_t m, int64_t n,
                        int64_t k, const float *a, int64_t lda, const float *b,
                        int64_t ldb, float *c, int64_t ldc, bool accumulate) {
  if (m <= 0 || n <= 0)
    return;
  if (!accumulate)
    for (int64_t i = 0; i < m; ++i)
      std::fill(c + i * ldc, c + i * ldc + n, 0.0f);
  if (k <= 0)
    return;
  auto atA = [&](int64_t i, int64_t p) {
    return transA ? a[p * lda + i] : a[i * lda + p];
  };
  auto atB = [&](int64_t p, int64_t j) {
    return transB ? b[j * ldb + p] : b[p * ldb + j];
  };
  std::vector<float> bPack, aPack(kBlockK * kTileRows);
  float acc[kTileRows * kTileCols];
  for (int64_t j0 = 0; j0 < n; j0 += kBlockN) {
    int64_t nb = std::min(kBlockN, n - j0);
    int64_t panels = (nb + kTileCols - 1) / kTileCols;
    for (int64_t p0 = 0; p0 < k; p0 += kBlockK) {
      int64_t kb = std::min(kBlockK, k - p0);
      // B's block as panels of 16 columns, zero-padded: [panel][p][16].
      bPack.assign(panels * kb * kTileCols, 0.0f);
      for (int64_t t = 0; t < panels; ++t) {
        float *dst = bPack.data() + t * kb * kTileCols;
        int64_t cols = std::min(kTileCols, nb - t * kTileCols);
        for (int64_t p = 0; p < kb; ++p)
          for (int64_t j = 0; j < cols; ++j)
            dst[p * kTileCols + j] = atB(p0 + p, j0 + t * kTileCols + j);
      }
      for (int64_t i0 = 0; i0 < m; i0 += kTileRows) {
        int64_t rows = std::min(kTileRows, m - i0);
        std::fill(aPack.begin(), aPack.end(), 0.0f);
        for (int64_t p = 0; p < kb; ++p)
          for (int64_t i = 0; i < rows; ++i)
            aPack[p * kTileRows + i] = atA(i0 + i, p0 + p);
        for (int64_t t = 0; t < panels; ++t) {
          tile(kb, aPack.data(), bPack.data() + t * kb * kTileCols, acc);
          int64_t cols = std::min(kTileCols, nb - t * kTileCols);
          for (int64_t i = 0; i < rows; ++i) {
            float *dst = c + (i0 + i) * ldc + j0 + t * kTileCols;
            for (int64_t j = 0; j < cols; ++j)
              dst[j] += acc[i * kTileCols + j];
          }
        }
      }
    }
  }
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
  int64_t workers = std::min<int64_t>(workerThreads(), n);
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

void attn::calib::sgemmParallel(bool transA, bool transB, int64_t m, int64_t n,
                                int64_t k, const float *a, int64_t lda,
                                const float *b, int64_t ldb, float *c,
                                int64_t ldc, bool accumulate) {
  // Whole tiles per thread; each packs its own copy of B's blocks.
  int64_t tiles = (m + kTileRows - 1) / kTileRows;
  parallelChunks(tiles, [&](int64_t t0, int64_t t1) {
    int64_t i0 = t0 * kTileRows, i1 = std::min(m, t1 * kTileRows);
    const float *aRows = transA ? a + i0 : a + i0 * lda;
    sgemm(transA, transB, i1 - i0, n, k, aRows, lda, b, ldb, c + i0 * ldc, ldc,
          accumulate);
  });
}
