//===- JointFitTest.cpp - checks the joint fit's products and gradient ----===//
//
// The blocked GEMM against a plain triple loop (every transpose, odd
// sizes), the joint objective's gradient against central differences, and
// the fit: it lowers the output error of a perturbed start and never ends
// above it.
//
//===----------------------------------------------------------------------===//

#include "attn/Calibration/FloatGemm.h"
#include "attn/Calibration/JointFit.h"
#include "attn/Calibration/OutputSolve.h"
#include "attn/Calibration/SpdSolve.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <string>
#include <sys/resource.h>
#include <cstdio>
#include <cstring>
#include <functional>
#include <ctime>
#include <limits>
#include <random>

using namespace attn::calib;

namespace {

/// The products with the tile loop in use against a triple loop.
bool checkGemm() {
  std::mt19937 gen(1);
  std::normal_distribution<float> normal;
  double worst = 0.0;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (int64_t m : {1, 7, 37})
        for (int64_t n : {3, 17, 530, 800})
          for (int64_t k : {1, 9, 300}) {
            std::vector<float> a(m * k), b(k * n), c(m * n, 1.0f);
            for (float &x : a)
              x = normal(gen);
            for (float &x : b)
              x = normal(gen);
            int64_t lda = ta ? m : k, ldb = tb ? k : n;
            // Accumulate into C = 1, or overwrite it (every other size).
            bool accumulate = (m + n + k) % 2 == 0;
            sgemmParallel(ta, tb, m, n, k, a.data(), lda, b.data(), ldb,
                          c.data(), n, accumulate);
            for (int64_t i = 0; i < m; ++i)
              for (int64_t j = 0; j < n; ++j) {
                double want = accumulate ? 1.0 : 0.0;
                for (int64_t p = 0; p < k; ++p)
                  want += static_cast<double>(ta ? a[p * lda + i] : a[i * lda + p]) *
                          (tb ? b[j * ldb + p] : b[p * ldb + j]);
                worst = std::max(worst, std::abs(want - c[i * n + j]) /
                                            (1.0 + std::sqrt(double(k))));
              }
          }
  std::printf("gemm (%s) max error %.2e\n", gemmKernel(), worst);
  return worst < 1e-5;
}

/// The AVX-512 tile's exact order, which the fits' bits (and the held-out
/// figures of bench/RESULTS.md) rest on: each entry of a 256-deep k block
/// is a chain of FMAs in k's order from zero, and C gets the blocks one
/// after the other (the first overwrites C unless accumulating). Every
/// transpose, sizes off the 12 x 32 tiles and across k blocks, strided
/// sources; false on any bit of difference. Skipped (true) without the
/// AVX-512 tile.
bool checkGemmOrder(bool &skipped) {
  const char *best = gemmKernel();
  skipped = !setGemmKernel("avx512");
  if (skipped) {
    std::printf("SKIPPED: gemm order (no avx512 tile here)\n");
    return true;
  }
  std::mt19937 gen(3);
  std::normal_distribution<float> normal;
  int64_t mismatches = 0, cases = 0;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (int64_t m : {5, 12, 31})
        for (int64_t n : {7, 32, 77})
          for (int64_t k : {3, 256, 600}) {
            int64_t lda = (ta ? m : k) + 1, ldb = (tb ? k : n) + 2;
            int64_t ldc = n + 3;
            std::vector<float> a((ta ? k : m) * lda), b((tb ? n : k) * ldb);
            std::vector<float> c(m * ldc);
            for (float &x : a)
              x = normal(gen);
            for (float &x : b)
              x = normal(gen);
            for (float &x : c)
              x = normal(gen);
            std::vector<float> want = c;
            bool accumulate = (m + n + k) % 2 == 1;
            sgemm(ta, tb, m, n, k, a.data(), lda, b.data(), ldb, c.data(),
                  ldc, accumulate);
            for (int64_t i = 0; i < m; ++i)
              for (int64_t j = 0; j < n; ++j) {
                float &w = want[i * ldc + j];
                for (int64_t p0 = 0; p0 < k; p0 += 256) {
                  float sum = 0.0f;
                  for (int64_t p = p0; p < std::min<int64_t>(k, p0 + 256); ++p)
                    sum = std::fma(ta ? a[p * lda + i] : a[i * lda + p],
                                   tb ? b[j * ldb + p] : b[p * ldb + j], sum);
                  w = !accumulate && p0 == 0 ? sum : w + sum;
                }
              }
            for (int64_t i = 0; i < m * ldc; ++i)
              mismatches += std::memcmp(&want[i], &c[i], sizeof(float)) != 0;
            ++cases;
          }
  setGemmKernel(best);
  std::printf("gemm order (avx512): %lld cases, %lld entries differ\n",
              static_cast<long long>(cases),
              static_cast<long long>(mismatches));
  return mismatches == 0;
}

/// sgemmUpper's entries on and above the diagonal against sgemm's, bit
/// for bit (every kernel; odd sizes, k across blocks, both transposes of
/// a Gram C^T C and a plain A B), and the tiles it skips: C below them
/// left as it was.
bool checkGemmUpper() {
  const char *best = gemmKernel();
  std::mt19937 gen(4);
  std::normal_distribution<float> normal;
  int64_t differ = 0, skippedTouched = 0, kernels = 0;
  for (const char *name : {"avx512", "avx2", "generic"}) {
    if (!setGemmKernel(name))
      continue;
    ++kernels;
    for (int64_t n : {1, 13, 100, 576})
      for (int64_t k : {7, 300})
        for (bool ta : {false, true}) {
          int64_t lda = ta ? n : k;
          std::vector<float> a(n * k), b(k * n);
          for (float &x : a)
            x = normal(gen);
          for (float &x : b)
            x = normal(gen);
          const float sentinel = 12345.0f;
          std::vector<float> full(n * n), up(n * n, sentinel);
          // A Gram when transposed (B = the same C), else A B.
          const float *bb = ta ? a.data() : b.data();
          int64_t ldb = ta ? n : n;
          sgemm(ta, false, n, n, k, a.data(), lda, bb, ldb, full.data(), n);
          sgemmUpper(ta, false, n, k, a.data(), lda, bb, ldb, up.data(), n);
          for (int64_t i = 0; i < n; ++i)
            for (int64_t j = i; j < n; ++j)
              differ += std::memcmp(&full[i * n + j], &up[i * n + j],
                                    sizeof(float)) != 0;
          // The lower-left corner's tile (rows past 32 + 12, columns 0..31)
          // is skipped when n is large enough.
          if (n >= 64)
            skippedTouched += up[(n - 1) * n] != sentinel;
        }
  }
  setGemmKernel(best);
  std::printf("gemm upper: %lld kernels, %lld entries differ, %lld skipped "
              "tiles written\n",
              static_cast<long long>(kernels), static_cast<long long>(differ),
              static_cast<long long>(skippedTouched));
  return kernels >= 1 && differ == 0 && skippedTouched == 0;
}

/// checkGemm with every tile loop this CPU has (the generic one always).
bool checkGemmKernels() {
  const char *best = gemmKernel();
  bool ok = true;
  int kernels = 0;
  for (const char *name : {"avx512", "avx2", "generic"})
    if (setGemmKernel(name)) {
      ok &= checkGemm();
      ++kernels;
    }
  setGemmKernel(best);
  std::printf("gemm kernels checked: %d\n", kernels);
  return ok && kernels >= 1;
}

/// sgemmBf16 on the path `kernel` ("amx" or "avx512bf16") against double
/// references: on the bf16-rounded inputs (only the f32 accumulation
/// differs: |error| <= 1e-5 (|C_start| + sum_p |a_p b_p|)) and on the f32
/// inputs (the rounding of both inputs: |error| <= 2^-7 (|C_start| + sum_p
/// |a_p b_p|): bf16 keeps 8 significant bits, so each input is off by at
/// most 2^-8 relative, each product by 2^-7). Every transpose, sizes off
/// the 32 x 32 x 32 blocks, the 12 x 32 tiles and the 512-deep k blocks,
/// and the fit's 64 x 64 x 64 and 1024 x 576 x 576 shapes (the largest
/// only once). Skipped, and said so, where the CPU or the kernel lacks the
/// path.
bool checkBf16Gemm(const char *kernel, bool &skipped) {
  const char *before = bf16GemmKernel();
  skipped = !setBf16GemmKernel(kernel);
  if (skipped) {
    std::printf("SKIPPED: bf16 gemm numerics (%s): not on this CPU or "
                "kernel\n",
                kernel);
    return true;
  }
  std::mt19937 gen(5);
  std::normal_distribution<float> normal;
  double worstRounded = 0.0, worstExact = 0.0;
  auto round = [](float x) { return bf16ToFloat(roundToBf16(x)); };
  struct Shape {
    int64_t m, n, k;
  };
  std::vector<Shape> shapes;
  for (int64_t m : {1, 17, 40})
    for (int64_t n : {5, 33, 100})
      for (int64_t k : {1, 31, 77})
        shapes.push_back({m, n, k});
  shapes.push_back({64, 64, 64});
  shapes.push_back({25, 70, 1100}); // three k blocks of the AVX512_BF16 path
  shapes.push_back({1024, 576, 576});
  int cases = 0;
  for (const Shape &sh : shapes)
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        if (sh.m == 1024 && (ta || tb))
          continue;
        int64_t m = sh.m, n = sh.n, k = sh.k;
        // Leading dimensions wider than the matrices (strided sources).
        int64_t lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 1;
        std::vector<float> a((ta ? k : m) * lda), b((tb ? n : k) * ldb),
            c(m * ldc, 1.0f);
        for (float &x : a)
          x = normal(gen);
        for (float &x : b)
          x = normal(gen);
        bool accumulate = (m + n + k) % 2 == 0;
        sgemmBf16Parallel(ta, tb, m, n, k, a.data(), lda, b.data(), ldb,
                          c.data(), ldc, accumulate);
        ++cases;
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            double rounded = accumulate ? 1.0 : 0.0, exact = rounded,
                   magnitude = rounded; // C's start counts in the bound
            for (int64_t p = 0; p < k; ++p) {
              float x = ta ? a[p * lda + i] : a[i * lda + p];
              float y = tb ? b[j * ldb + p] : b[p * ldb + j];
              rounded += double(round(x)) * round(y);
              exact += double(x) * y;
              magnitude += std::abs(double(x) * y);
            }
            double got = c[i * ldc + j];
            worstRounded = std::max(worstRounded,
                                    std::abs(got - rounded) / magnitude);
            worstExact =
                std::max(worstExact, std::abs(got - exact) / magnitude);
          }
      }
  std::printf("bf16 gemm (%s, %s tile) over %d products: max error / "
              "sum|ab| %.2e against the rounded inputs, %.2e against the "
              "f32 ones\n",
              kernel, bf16PairTile(), cases, worstRounded, worstExact);
  setBf16GemmKernel(before);
  return worstRounded <= 1e-5 && worstExact <= 1.0 / 128;
}

/// The dispatch: "f32" is sgemm exactly (bit for bit), unknown names are
/// refused, "amx" and "avx512bf16" are accepted exactly when the CPU and
/// kernel allow them, and change the low bits when they are.
bool checkBf16Dispatch() {
  const char *start = bf16GemmKernel();
  std::printf("bf16 gemm kernel at start: %s\n", start);
  bool ok = !setBf16GemmKernel("avx512") && !setBf16GemmKernel("");
  ok &= setBf16GemmKernel("f32") && std::strcmp(bf16GemmKernel(), "f32") == 0;
  std::mt19937 gen(9);
  std::normal_distribution<float> normal;
  std::vector<float> a(70 * 90), b(90 * 50), c1(70 * 50), c2(70 * 50);
  for (float &x : a)
    x = normal(gen);
  for (float &x : b)
    x = normal(gen);
  sgemm(false, true, 70, 50, 90, a.data(), 90, b.data(), 90, c1.data(), 50);
  sgemmBf16(false, true, 70, 50, 90, a.data(), 90, b.data(), 90, c2.data(), 50);
  ok &= c1 == c2;
  for (const char *kernel : {"amx", "avx512bf16"}) {
    bool available = setBf16GemmKernel(kernel);
    std::printf("bf16 gemm kernel %s: %s\n", kernel,
                available ? "available" : "refused");
    if (!available)
      continue;
    ok &= std::strcmp(bf16GemmKernel(), kernel) == 0;
    sgemmBf16(false, true, 70, 50, 90, a.data(), 90, b.data(), 90, c2.data(),
              50);
    ok &= c1 != c2; // the rounded inputs change the low bits
  }
  // At start: $ATTN_GEMM_BF16's path where the CPU has it, else AMX, else
  // AVX512_BF16, else f32.
  const char *env = std::getenv("ATTN_GEMM_BF16");
  bool amx = setBf16GemmKernel("amx"), dot = setBf16GemmKernel("avx512bf16");
  const char *expected = env && setBf16GemmKernel(env) ? env
                         : amx                         ? "amx"
                         : dot                         ? "avx512bf16"
                                                       : "f32";
  std::printf("bf16 gemm kernel expected at start: %s\n", expected);
  ok &= std::strcmp(start, expected) == 0;
  setBf16GemmKernel(start);
  return ok;
}

/// RowSupport: sgemmBf16Sparse and sgemmPacked (B packed) with a support
/// against the full products, on every bf16 path the CPU has: where op(A)
/// is zero outside each row's k span, every entry of C equal to the full
/// product's (== : up to the sign of a zero); with column spans, the needed
/// entries equal and the others 0, the full product's or (accumulating) as
/// they were. Spans: causal (a query row's keys), their transpose (a key
/// row's queries), random and empty ones; sizes off the tiles and two k
/// blocks of the AVX512_BF16 path (the first skipped for some rows).
bool checkSparseProducts() {
  const char *before = bf16GemmKernel();
  std::mt19937 gen(13);
  std::normal_distribution<float> normal;
  struct Shape {
    int64_t m, n, k;
  };
  const Shape shapes[] = {{64, 64, 64}, {40, 37, 20}, {25, 70, 1100}};
  bool ok = true;
  int cases = 0;
  for (const char *kernel : {"f32", "amx", "avx512bf16"}) {
    if (!setBf16GemmKernel(kernel))
      continue;
    for (const Shape &sh : shapes)
      for (int pattern = 0; pattern < 3; ++pattern)
        for (bool ta : {false, true})
          for (bool accumulate : {false, true}) {
            int64_t m = sh.m, n = sh.n, k = sh.k;
            // Row i's span over `size`: causal [0, i + 1), transposed [i,
            // size), or random (every 7th row empty).
            auto spans = [&](int64_t size, std::vector<int32_t> &lo,
                             std::vector<int32_t> &hi) {
              lo.assign(m, 0);
              hi.assign(m, 0);
              for (int64_t i = 0; i < m; ++i) {
                int64_t a = 0, b = 0;
                if (pattern == 0) {
                  b = std::min(size, i + 1);
                } else if (pattern == 1) {
                  a = std::min(size, i);
                  b = size;
                } else if (i % 7 != 3) {
                  a = gen() % (size + 1);
                  b = a + gen() % (size - a + 1);
                }
                lo[i] = static_cast<int32_t>(a);
                hi[i] = static_cast<int32_t>(b);
              }
            };
            std::vector<int32_t> kLo, kHi, nLo, nHi;
            spans(k, kLo, kHi);
            spans(n, nLo, nHi);
            int64_t lda = (ta ? m : k) + 1, ldb = n + 3, ldc = n + 2;
            std::vector<float> a((ta ? k : m) * lda), b(k * ldb), c0(m * ldc);
            for (int64_t i = 0; i < m; ++i)
              for (int64_t p = 0; p < k; ++p)
                (ta ? a[p * lda + i] : a[i * lda + p]) =
                    p >= kLo[i] && p < kHi[i] ? normal(gen) : 0.0f;
            for (float &x : b)
              x = normal(gen);
            for (float &x : c0)
              x = normal(gen);
            std::vector<float> full = c0;
            sgemmBf16(ta, false, m, n, k, a.data(), lda, b.data(), ldb,
                      full.data(), ldc, accumulate);
            GemmOperand right;
            right.setRight(true, false, k, n, b.data(), ldb);
            // k spans: every entry equal.
            RowSupport kSupport{kLo.data(), kHi.data(), nullptr, nullptr};
            std::vector<float> c1 = c0, c2 = c0;
            sgemmBf16Sparse(ta, false, m, n, k, a.data(), lda, b.data(), ldb,
                            c1.data(), ldc, accumulate, kSupport);
            sgemmPacked(ta, m, a.data(), lda, right, c2.data(), ldc,
                        accumulate, kSupport);
            for (int64_t i = 0; i < m; ++i)
              for (int64_t j = 0; j < n; ++j) {
                size_t at = i * ldc + j;
                ok &= c1[at] == full[at] && c2[at] == full[at];
              }
            // Column spans: the needed entries equal; the others 0, the
            // full product's or, accumulating, as they were.
            RowSupport nSupport{kLo.data(), kHi.data(), nLo.data(),
                                nHi.data()};
            c1 = c0;
            c2 = c0;
            sgemmBf16Sparse(ta, false, m, n, k, a.data(), lda, b.data(), ldb,
                            c1.data(), ldc, accumulate, nSupport);
            sgemmPacked(ta, m, a.data(), lda, right, c2.data(), ldc,
                        accumulate, nSupport);
            for (int64_t i = 0; i < m; ++i)
              for (int64_t j = 0; j < n; ++j) {
                size_t at = i * ldc + j;
                bool needed = j >= nLo[i] && j < nHi[i];
                for (float x : {c1[at], c2[at]})
                  ok &= needed ? x == full[at]
                               : x == full[at] ||
                                     (accumulate ? x == c0[at] : x == 0.0f);
              }
            cases += 4;
          }
  }
  setBf16GemmKernel(before);
  std::printf("sparse products: %d products with row supports equal to the "
              "full ones where needed: %s\n",
              cases, ok ? "yes" : "no");
  return ok;
}

/// GemmOperand: products with a packed left or right operand against the
/// unpacked sgemmBf16 (`bf16`) and sgemm, bit for bit, on every bf16 path
/// the CPU has; serial and split over the threads; every transpose, sizes
/// off the tiles, two k blocks and two n blocks of the AVX512_BF16 path.
/// The operand holds a packed copy exactly on that path with `bf16`.
bool checkPackedOperands() {
  const char *before = bf16GemmKernel();
  std::mt19937 gen(11);
  std::normal_distribution<float> normal;
  struct Shape {
    int64_t m, n, k;
  };
  const Shape shapes[] = {{1, 5, 1}, {13, 33, 77}, {40, 800, 31},
                          {25, 70, 1100}, {64, 64, 64}};
  bool ok = true;
  int cases = 0, packedCases = 0;
  for (const char *kernel : {"f32", "amx", "avx512bf16"}) {
    if (!setBf16GemmKernel(kernel))
      continue;
    for (const Shape &sh : shapes)
      for (bool ta : {false, true})
        for (bool tb : {false, true})
          for (bool bf16 : {false, true}) {
            int64_t m = sh.m, n = sh.n, k = sh.k;
            int64_t lda = (ta ? m : k) + 1, ldb = (tb ? k : n) + 3,
                    ldc = n + 2;
            std::vector<float> a((ta ? k : m) * lda), b((tb ? n : k) * ldb),
                c0(m * ldc);
            for (float &x : a)
              x = normal(gen);
            for (float &x : b)
              x = normal(gen);
            for (float &x : c0)
              x = normal(gen);
            bool accumulate = (m + k) % 2 == 1;
            std::vector<float> want = c0;
            (bf16 ? sgemmBf16 : sgemm)(ta, tb, m, n, k, a.data(), lda,
                                       b.data(), ldb, want.data(), ldc,
                                       accumulate);
            GemmOperand left, right;
            left.setLeft(bf16, ta, m, k, a.data(), lda);
            right.setRight(bf16, tb, k, n, b.data(), ldb);
            bool packs = bf16 && std::strcmp(kernel, "avx512bf16") == 0;
            ok &= left.packed() == packs && right.packed() == packs;
            packedCases += packs;
            for (bool parallel : {false, true}) {
              std::vector<float> c1 = c0, c2 = c0;
              if (parallel) {
                sgemmPackedParallel(left, tb, n, b.data(), ldb, c1.data(),
                                    ldc, accumulate);
                sgemmPackedParallel(ta, m, a.data(), lda, right, c2.data(),
                                    ldc, accumulate);
              } else {
                sgemmPacked(left, tb, n, b.data(), ldb, c1.data(), ldc,
                            accumulate);
                sgemmPacked(ta, m, a.data(), lda, right, c2.data(), ldc,
                            accumulate);
              }
              ok &= c1 == want && c2 == want;
              cases += 2;
            }
          }
  }
  setBf16GemmKernel(before);
  std::printf("packed operands: %d products (%d shapes packed) equal to the "
              "unpacked ones: %s\n",
              cases, packedCases, ok ? "yes" : "no");
  return ok;
}

/// The AVX512_BF16 path's two pair tiles (VDPBF16PS and f32 FMAs) give
/// the same bits: every transpose, sizes off the 12 x 32 tiles and the
/// 512-deep k blocks, accumulating or not, packed operands, a row support,
/// and inputs whose products and sums fall below the normal floats
/// (VDPBF16PS flushes them; the FMA tile sets DAZ and FTZ). Skipped where
/// the CPU lacks AVX512_BF16.
bool checkBf16PairTiles(bool &skipped) {
  const char *kernelBefore = bf16GemmKernel(), *tileBefore = bf16PairTile();
  skipped = !setBf16GemmKernel("avx512bf16");
  if (skipped) {
    std::printf("SKIPPED: bf16 pair tiles: no AVX512_BF16 on this CPU\n");
    return true;
  }
  std::mt19937 gen(13);
  std::normal_distribution<float> normal;
  struct Shape {
    int64_t m, n, k;
  };
  const Shape shapes[] = {{1, 5, 1},     {13, 33, 77}, {40, 800, 31},
                          {25, 70, 1100}, {64, 64, 64}, {100, 64, 576}};
  bool ok = true;
  int cases = 0;
  for (const Shape &sh : shapes)
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (int scale : {0, 1}) { // 1: tiny inputs (products ~1e-39)
          int64_t m = sh.m, n = sh.n, k = sh.k;
          int64_t lda = (ta ? m : k) + 1, ldb = (tb ? k : n) + 3, ldc = n + 2;
          float s = scale ? 3e-20f : 1.0f;
          std::vector<float> a((ta ? k : m) * lda), b((tb ? n : k) * ldb),
              c0(m * ldc);
          for (float &x : a)
            x = s * normal(gen);
          for (float &x : b)
            x = s * normal(gen);
          for (float &x : c0)
            x = normal(gen);
          // A support: row i needs k in [i % 7, k - i % 5), columns from i.
          std::vector<int32_t> kBegin(m), kEnd(m), nBegin(m);
          for (int64_t i = 0; i < m; ++i) {
            kBegin[i] = int32_t(std::min<int64_t>(i % 7, k));
            kEnd[i] = int32_t(std::max<int64_t>(kBegin[i], k - i % 5));
            nBegin[i] = int32_t(std::min<int64_t>(i, n));
          }
          RowSupport support;
          support.kBegin = kBegin.data();
          support.kEnd = kEnd.data();
          support.nBegin = nBegin.data();
          bool accumulate = (m + k + scale) % 2 == 1;
          std::vector<float> got[2][4];
          for (int t = 0; t < 2; ++t) {
            setBf16PairTile(t ? "fma" : "vdpbf16ps");
            for (std::vector<float> &c : got[t])
              c = c0;
            sgemmBf16(ta, tb, m, n, k, a.data(), lda, b.data(), ldb,
                      got[t][0].data(), ldc, accumulate);
            sgemmBf16Parallel(ta, tb, m, n, k, a.data(), lda, b.data(), ldb,
                              got[t][1].data(), ldc, accumulate);
            GemmOperand left, right;
            left.setLeft(true, ta, m, k, a.data(), lda);
            right.setRight(true, tb, k, n, b.data(), ldb);
            sgemmPackedParallel(left, tb, n, b.data(), ldb, got[t][2].data(),
                                ldc, accumulate);
            sgemmPacked(ta, m, a.data(), lda, right, got[t][3].data(), ldc,
                        accumulate, support);
          }
          for (int v = 0; v < 4; ++v) {
            ok &= std::memcmp(got[0][v].data(), got[1][v].data(),
                              got[0][v].size() * sizeof(float)) == 0;
            ++cases;
          }
        }
  setBf16PairTile(tileBefore);
  setBf16GemmKernel(kernelBefore);
  std::printf("bf16 pair tiles (default %s): %d products, fma == vdpbf16ps "
              "bit for bit: %s\n",
              tileBefore, cases, ok ? "yes" : "no");
  return ok;
}

double threadSeconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

/// `attn-joint-fit-test gemm-bench [SECONDS]`: GFLOP/s on one thread (its
/// CPU time) of sgemm (the f32 tile in use) and sgemmBf16 (its path; on
/// the AVX512_BF16 path both pair tiles) at the joint fit's shapes for
/// SmolLM2-135M (1024 tokens, width 576, 9 query heads of 64, one KV head,
/// windows of 64). The variants run interleaved in bursts of 20 ms for
/// SECONDS each, and each one's best burst is reported: on a shared
/// machine the best burst is the one least disturbed. A measurement, not a
/// check.
int gemmBench(double seconds) {
  struct Shape {
    const char *what;
    bool ta, tb;
    int64_t m, n, k;
  };
  const Shape shapes[] = {
      {"Q = H Wq^T (fwd)", false, true, 1024, 576, 576},
      {"K = H Wk^T (fwd)", false, true, 1024, 64, 576},
      {"Y = ctx Wo (fwd)", false, false, 1024, 576, 576},
      {"scores Q K^T (fwd)", false, true, 64, 64, 64},
      {"P V (fwd)", false, false, 64, 64, 64},
      {"dctx = dY Wo^T", false, true, 1024, 576, 576},
      {"gO = ctx^T dY", true, false, 576, 576, 1024},
      {"gQ = dQ^T H", true, false, 576, 576, 1024},
      {"gK = dK^T H", true, false, 64, 576, 1024},
      {"dV += P^T dctx", true, false, 64, 64, 64},
  };
  std::mt19937 gen(11);
  std::normal_distribution<float> normal;
  const char *bf16 = bf16GemmKernel(), *tile = bf16PairTile();
  // Variants: f32, then sgemmBf16 with each pair tile the path has.
  std::vector<const char *> tiles = {nullptr};
  if (std::strcmp(bf16, "avx512bf16") == 0)
    tiles.insert(tiles.end(), {"vdpbf16ps", "fma"});
  else
    tiles.push_back(tile);
  std::printf("f32 kernel %s, bf16 kernel %s (pair tile by default %s), one "
              "thread, best 20 ms burst of %.1f s each\n",
              gemmKernel(), bf16, tile, seconds);
  for (const Shape &s : shapes) {
    std::vector<float> a(s.m * s.k), b(s.k * s.n), c(s.m * s.n);
    for (float &x : a)
      x = normal(gen);
    for (float &x : b)
      x = normal(gen);
    int64_t lda = s.ta ? s.m : s.k, ldb = s.tb ? s.k : s.n;
    double flops = 2.0 * s.m * s.n * s.k;
    std::vector<double> best(tiles.size(), 0.0), spent(tiles.size(), 0.0);
    auto run = [&](size_t v) {
      if (v == 0)
        sgemm(s.ta, s.tb, s.m, s.n, s.k, a.data(), lda, b.data(), ldb,
              c.data(), s.n);
      else
        sgemmBf16(s.ta, s.tb, s.m, s.n, s.k, a.data(), lda, b.data(), ldb,
                  c.data(), s.n);
    };
    while (spent.back() < seconds)
      for (size_t v = 0; v < tiles.size(); ++v) {
        if (tiles[v])
          setBf16PairTile(tiles[v]);
        run(v); // warm the caches and the packing buffers
        double t0 = threadSeconds(), t = 0.0;
        int64_t reps = 0;
        while ((t = threadSeconds() - t0) < 0.02) {
          run(v);
          ++reps;
        }
        spent[v] += t;
        best[v] = std::max(best[v], flops * reps / t * 1e-9);
      }
    setBf16PairTile(tile);
    std::printf("%-20s %c%c m %5ld n %4ld k %5ld: f32 %6.1f", s.what,
                s.ta ? 'T' : 'N', s.tb ? 'T' : 'N', long(s.m), long(s.n),
                long(s.k), best[0]);
    for (size_t v = 1; v < tiles.size(); ++v)
      std::printf(", bf16 %s %6.1f (%.2fx)", tiles[v], best[v],
                  best[v] / best[0]);
    std::printf(" GFLOP/s\n");
  }
  return 0;
}

/// Two windows of 6 tokens, causal, 4 query heads of 4 over `kvHeads`.
JointLayer makeLayer(std::mt19937 &gen, int64_t batch = 2, int64_t length = 6,
                     int64_t width = 10, int64_t heads = 4, int64_t d = 4,
                     int64_t out = 7) {
  std::normal_distribution<float> normal;
  JointLayer l;
  l.batch = batch;
  l.length = length;
  l.inputWidth = width;
  l.qHeads = heads;
  l.headDim = d;
  l.valueDim = d;
  l.outWidth = out;
  l.scale = d == 4 ? 0.5 : 1.0 / std::sqrt(double(d));
  int64_t tokens = l.batch * l.length;
  l.input.resize(tokens * l.inputWidth);
  for (float &x : l.input)
    x = normal(gen);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t i = 0; i < l.headDim / 2; ++i) {
      double angle = (t % l.length) * std::pow(10.0, -i);
      l.cos.push_back(static_cast<float>(std::cos(angle)));
      l.sin.push_back(static_cast<float>(std::sin(angle)));
    }
  const float inf = std::numeric_limits<float>::infinity();
  for (int64_t b = 0; b < l.batch; ++b)
    for (int64_t h = 0; h < l.qHeads; ++h)
      for (int64_t i = 0; i < l.length; ++i)
        for (int64_t j = 0; j < l.length; ++j)
          l.bias.push_back(j > i ? -inf : 0.0f);
  return l;
}

JointWeights randomWeights(std::mt19937 &gen, const JointLayer &l,
                           int64_t kvHeads, double scale = 0.5) {
  std::normal_distribution<double> normal;
  JointWeights w;
  w.kvHeads = kvHeads;
  auto fill = [&](std::vector<double> &m, int64_t n) {
    m.resize(n);
    for (double &x : m)
      x = scale * normal(gen);
  };
  fill(w.query, l.qHeads * l.headDim * l.inputWidth);
  int64_t kvWidth = l.cross() ? l.kvInputWidth : l.inputWidth;
  fill(w.key, kvHeads * l.headDim * kvWidth);
  fill(w.value, kvHeads * l.valueDim * kvWidth);
  fill(w.output, l.qHeads * l.valueDim * l.outWidth);
  return w;
}

/// A cross-attention: 3 windows of 5 queries over 7 keys of another input
/// (width 8, against the queries' 10), no RoPE, the last key of window 1
/// masked; with `shared`, every window reads the same K/V rows (one copy).
JointLayer makeCrossLayer(std::mt19937 &gen, bool shared) {
  std::normal_distribution<float> normal;
  JointLayer l = makeLayer(gen, 3, 5);
  l.cos.clear();
  l.sin.clear();
  l.kvLength = 7;
  l.kvInputWidth = 8;
  l.kvWindows = shared ? 1 : l.batch;
  l.kvInput.resize(l.kvWindows * l.kvLength * l.kvInputWidth);
  for (float &x : l.kvInput)
    x = normal(gen);
  const float inf = std::numeric_limits<float>::infinity();
  l.bias.assign(l.batch * l.qHeads * l.length * l.kvLength, 0.0f);
  for (int64_t h = 0; h < l.qHeads; ++h)
    for (int64_t i = 0; i < l.length; ++i)
      l.bias[((1 * l.qHeads + h) * l.length + i) * l.kvLength + 6] = -inf;
  return l;
}

/// The largest relative error of the analytic gradient (ridge 0.1) against
/// central differences of the objective, every 5th entry of each matrix.
double gradientError(const JointLayer &l, const std::vector<float> &target,
                     const JointWeights &start, const JointWeights &at,
                     int &checked) {
  JointWeights grad;
  jointObjective(l, target, start, at, 0.1, &grad);
  double worst = 0.0;
  for (std::vector<double> JointWeights::*m :
       {&JointWeights::query, &JointWeights::key, &JointWeights::value,
        &JointWeights::output}) {
    for (size_t i = 0; i < (at.*m).size(); i += 5) {
      JointWeights plus = at, minus = at;
      double h = 1e-3;
      (plus.*m)[i] += h;
      (minus.*m)[i] -= h;
      double numeric = (jointObjective(l, target, start, plus, 0.1) -
                        jointObjective(l, target, start, minus, 0.1)) /
                       (2 * h);
      worst = std::max(worst, std::abs(numeric - (grad.*m)[i]) /
                                  (1e-2 + std::abs(numeric)));
      ++checked;
    }
  }
  return worst;
}

/// How far the rows of `w` [heads * rows, cols] are from the span of the
/// rows of `base` head by head: ||W_h - P_h W_h||^2 / ||W_h||^2 at worst,
/// P_h the projection onto the row space of base_h [rows, cols].
double headSpanResidual(const std::vector<double> &w,
                        const std::vector<double> &base, int64_t heads,
                        int64_t rows, int64_t cols) {
  double worst = 0.0;
  for (int64_t h = 0; h < heads; ++h) {
    const double *b = &base[h * rows * cols], *x = &w[h * rows * cols];
    std::vector<double> gram(rows * rows), rhs(rows * rows);
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < rows; ++j)
        for (int64_t c = 0; c < cols; ++c) {
          gram[i * rows + j] += b[i * cols + c] * b[j * cols + c];
          rhs[i * rows + j] += b[i * cols + c] * x[j * cols + c];
        }
    if (!solveSpd(gram, rows, rhs, rows))
      return 1.0;
    double miss = 0.0, norm = 0.0;
    for (int64_t j = 0; j < rows; ++j)
      for (int64_t c = 0; c < cols; ++c) {
        double p = 0.0;
        for (int64_t i = 0; i < rows; ++i)
          p += rhs[i * rows + j] * b[i * cols + c];
        miss += (x[j * cols + c] - p) * (x[j * cols + c] - p);
        norm += x[j * cols + c] * x[j * cols + c];
      }
    worst = std::max(worst, norm > 0.0 ? miss / norm : 0.0);
  }
  return worst;
}

double maxAbsDiff(const std::vector<double> &a, const std::vector<double> &b) {
  double worst = 0.0;
  for (size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::abs(a[i] - b[i]));
  return worst;
}

/// Cross-attention (K/V of another input): the gradient against central
/// differences, one shared K/V copy against the same rows per window, and
/// a fit from a random start.
void checkCross(const std::function<void(bool, const char *)> &check) {
  std::mt19937 gen(11);
  JointLayer shared = makeCrossLayer(gen, /*shared=*/true);
  JointWeights original = randomWeights(gen, shared, 2);
  JointWeights start = randomWeights(gen, shared, 1);
  JointWeights at = randomWeights(gen, shared, 1);
  const char *bf16Kernel = bf16GemmKernel();
  setBf16GemmKernel("f32");
  for (bool isShared : {true, false}) {
    JointLayer l = isShared ? shared : makeCrossLayer(gen, false);
    std::vector<float> target = jointOutput(l, original);
    int checked = 0;
    double worst = gradientError(l, target, start, at, checked);
    std::printf("cross-attention (%s K/V rows) gradient over %d entries: max "
                "relative error %.2e\n",
                isShared ? "shared" : "per-window", checked, worst);
    check(worst < 1e-2, "the cross-attention gradient matches central "
                        "differences");
  }
  // The shared copy computes what the same rows repeated per window do.
  JointLayer repeated = shared;
  repeated.kvWindows = shared.batch;
  repeated.kvInput.clear();
  for (int64_t b = 0; b < shared.batch; ++b)
    repeated.kvInput.insert(repeated.kvInput.end(), shared.kvInput.begin(),
                            shared.kvInput.end());
  std::vector<float> target = jointOutput(shared, original);
  std::vector<float> y1 = jointOutput(shared, at), y2 = jointOutput(repeated, at);
  double dy = 0.0;
  for (size_t i = 0; i < y1.size(); ++i)
    dy = std::max(dy, double(std::abs(y1[i] - y2[i])));
  JointWeights g1, g2;
  jointObjective(shared, target, start, at, 0.1, &g1);
  jointObjective(repeated, target, start, at, 0.1, &g2);
  double dg = std::max({maxAbsDiff(g1.query, g2.query),
                        maxAbsDiff(g1.key, g2.key),
                        maxAbsDiff(g1.value, g2.value),
                        maxAbsDiff(g1.output, g2.output)});
  std::printf("shared K/V rows against repeated: output %.2e, gradient %.2e\n",
              dy, dg);
  check(dy < 1e-5 && dg < 1e-4,
        "one shared K/V copy equals the rows repeated per window");
  setBf16GemmKernel(bf16Kernel);
  JointFitResult fit = fitJoint(shared, target, start, {}, 60, 1e-3);
  std::printf("cross-attention fit error %.4f -> %.4f in %d steps\n",
              fit.startError, fit.error, fit.iterations);
  check(fit.error < 0.5 * fit.startError,
        "the cross-attention fit halves the output error");
}

/// OutputSolver against its normal equations, in f64: the relative
/// residual ||(C^T C + mu I) O - C^T T - mu O_s|| / ||C^T T + mu O_s||,
/// with more tokens than columns and with fewer (C^T C singular: the ridge
/// makes the system definite), and with more columns than the factor's
/// and triangular solves' 96-row blocks (their GEMMs between blocks; widths
/// off the block: 130 = 96 + 34, 200 = 2 x 96 + 8), also with mu = 0 (the
/// floor's shift alone). With fewer tokens than columns and mu = 0 (the
/// floor's 1e-9 shift below the f32 Gram's rounding) the f32 factor fails,
/// the f64 one too, and the solve says so, `output` unchanged.
bool checkOutputSolve() {
  std::mt19937 gen(11);
  std::normal_distribution<float> normal;
  bool ok = true;
  struct Shape {
    int64_t tokens, width, out;
    double mu;
  };
  for (Shape shape : {Shape{40, 12, 5, 0.3}, Shape{9, 12, 5, 0.3},
                      Shape{300, 130, 20, 0.3}, Shape{500, 200, 24, 0.3},
                      Shape{500, 200, 16, 0.0}, Shape{9, 12, 5, 0.0}}) {
    int64_t tokens = shape.tokens, width = shape.width, out = shape.out;
    double mu = shape.mu;
    std::vector<float> c(tokens * width), t(tokens * out), s(width * out),
        o(width * out);
    for (std::vector<float> *v : {&c, &t, &s})
      for (float &x : *v)
        x = normal(gen);
    OutputSolver solver(t.data(), tokens, width, out, s.data(), mu);
    bool solved = solver.solve(c.data(), o.data());
    // $ATTN_SOLVE_RHS=bf16: C^T T of C and T rounded to bf16 (where the
    // CPU has a bf16 path), so the equations that solve meets.
    bool roundRhs = OutputSolver::bf16Rhs() &&
                    std::strcmp(bf16GemmKernel(), "f32") != 0;
    auto rhsInput = [&](float x) {
      return roundRhs ? bf16ToFloat(roundToBf16(x)) : x;
    };
    double residual = 0.0, norm = 0.0;
    for (int64_t i = 0; i < width; ++i)
      for (int64_t j = 0; j < out; ++j) {
        double lhs = mu * o[i * out + j], rhs = mu * s[i * out + j];
        for (int64_t p = 0; p < tokens; ++p) {
          rhs += double(rhsInput(c[p * width + i])) * rhsInput(t[p * out + j]);
          for (int64_t k = 0; k < width; ++k)
            lhs += double(c[p * width + i]) * c[p * width + k] * o[k * out + j];
        }
        residual += (lhs - rhs) * (lhs - rhs);
        norm += rhs * rhs;
      }
    double relative = std::sqrt(residual / norm);
    std::printf("output solve, %lld tokens x %lld columns, mu %g: normal "
                "equations' relative residual %.2e%s%s\n",
                (long long)tokens, (long long)width, mu, relative,
                solver.f64Solves ? " (f64)" : "",
                roundRhs ? " (bf16 C^T T)" : "");
    if (tokens < width && mu == 0.0) {
      bool unchanged = std::all_of(o.begin(), o.end(),
                                   [](float v) { return v == 0.0f; });
      std::printf("  not definite: f64 tried %d, solved %d, output "
                  "unchanged %d\n",
                  solver.f64Solves, solved, unchanged);
      ok &= solver.f64Solves == 1 && !solved && unchanged;
      continue;
    }
    ok &= solved && relative < 1e-5 && solver.f64Solves == 0;
  }
  return ok;
}

/// The fit with the output projection solved (variable projection) on `l`:
/// O* zeroes the full objective's O gradient, the reduced gradient matches
/// central differences of the reduced objective, and in the same steps the
/// reduced fit reaches a lower objective than the fit over all four
/// matrices. f32 products (the bf16 ones would make the differences noise).
void checkSolvedOutput(const std::function<void(bool, const char *)> &check,
                       const JointLayer &l, const std::vector<float> &target,
                       const JointWeights &start, const JointWeights &at) {
  const double ridge = 0.1;
  JointWeights solved, grad, full, fullAt;
  double f = jointObjectiveSolvedOutput(l, target, start, at, ridge, &solved,
                                        &grad);
  double fAt = jointObjective(l, target, start, at, ridge, &fullAt);
  double fSolved = jointObjective(l, target, start, solved, ridge, &full);
  double gO = 0.0, gOAt = 0.0, gQKV = 0.0;
  for (size_t i = 0; i < full.output.size(); ++i) {
    gO += full.output[i] * full.output[i];
    gOAt += fullAt.output[i] * fullAt.output[i];
  }
  for (std::vector<double> JointWeights::*m :
       {&JointWeights::query, &JointWeights::key, &JointWeights::value})
    for (size_t i = 0; i < (grad.*m).size(); ++i)
      gQKV = std::max(gQKV, std::abs((grad.*m)[i] - (full.*m)[i]));
  std::printf("solved output: objective %.6f (full objective there %.6f, at "
              "the given O %.6f); O gradient %.2e of the given O's\n",
              f, fSolved, fAt, std::sqrt(gO / gOAt));
  check(std::abs(f - fSolved) <= 1e-6 * fSolved && f < fAt &&
            std::sqrt(gO / gOAt) < 1e-3 && gQKV == 0.0,
        "the solved output projection zeroes the objective's O gradient");

  double worst = 0.0;
  int checked = 0;
  for (std::vector<double> JointWeights::*m :
       {&JointWeights::query, &JointWeights::key, &JointWeights::value})
    for (size_t i = 0; i < (at.*m).size(); i += 5) {
      JointWeights plus = at, minus = at;
      double h = 1e-3;
      (plus.*m)[i] += h;
      (minus.*m)[i] -= h;
      double numeric =
          (jointObjectiveSolvedOutput(l, target, start, plus, ridge) -
           jointObjectiveSolvedOutput(l, target, start, minus, ridge)) /
          (2 * h);
      worst = std::max(worst, std::abs(numeric - (grad.*m)[i]) /
                                  (1e-2 + std::abs(numeric)));
      ++checked;
    }
  std::printf("solved-output gradient over %d entries: max relative error "
              "%.2e\n",
              checked, worst);
  check(worst < 1e-2,
        "the solved-output gradient matches central differences");

  // The O ridge by two-fold cross-validation: the candidate with the
  // lowest summed held-out error (the errors differ by candidate).
  std::vector<double> candidates{1e-3, 1.0, 1e6}, cv;
  double chosen =
      crossValidatedOutputRidge(l, target, start, at, candidates, &cv);
  size_t lowest = std::min_element(cv.begin(), cv.end()) - cv.begin();
  std::printf("O ridge by cross-validation: %g (held-out errors %.4f, %.4f, "
              "%.4f)\n",
              chosen, cv[0], cv[1], cv[2]);
  check(chosen == candidates[lowest] && std::isfinite(cv[lowest]) &&
            cv[lowest] > 0.0 && cv[0] != cv[1] && cv[1] != cv[2],
        "the cross-validated O ridge has the lowest held-out error");

  for (int steps : {10, 30}) {
    JointFitResult plain = fitJoint(l, target, start, {}, steps, 1e-3);
    JointFitResult exact = fitJoint(l, target, start, {}, steps, 1e-3, true,
                                    false, {}, 0.0, SolveOutput::Exact);
    double fPlain = jointObjective(l, target, start, plain.weights, 1e-3);
    double fExact = jointObjective(l, target, start, exact.weights, 1e-3);
    std::printf("%d steps: objective %.5f with O solved (%d solves), %.5f "
                "with O fitted\n",
                steps, fExact, exact.outputSolves, fPlain);
    check(fExact < fPlain && exact.outputSolves >= exact.evaluations,
          "the solved-output fit ends lower in the same steps");
    // O solved at the accepted points only: one solve per step (and the
    // start), the result's O the solved one for its Q, K and V.
    JointFitResult accepted = fitJoint(l, target, start, {}, steps, 1e-3, true,
                                       false, {}, 0.0, SolveOutput::Accepted);
    double fAccepted =
        jointObjective(l, target, start, accepted.weights, 1e-3);
    double fResolved = jointObjectiveSolvedOutput(l, target, start,
                                                  accepted.weights, 1e-3);
    std::printf("%d steps: objective %.5f with O solved at the %d accepted "
                "points (%d solves, %d evaluations, %d stopped early; "
                "re-solved there %.5f)\n",
                steps, fAccepted, accepted.iterations, accepted.outputSolves,
                accepted.evaluations, accepted.earlyRejections, fResolved);
    check(fAccepted < fPlain &&
              accepted.outputSolves == accepted.iterations + 1 &&
              std::abs(fAccepted - fResolved) <= 1e-5 * fAccepted,
          "the fit solving O at accepted points ends lower, one solve a "
          "step, its O solved");
  }
}

double cpuSeconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec +
         1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

/// `attn-joint-fit-test bench STEPS LAYERS`: LAYERS fits of STEPS steps at
/// SmolLM2-135M's shapes (16 x 64 tokens, width 576, 9 query heads of 64,
/// 3 -> 1 KV heads, random weights) through parallelTasks, with the CPU
/// and wall seconds they take (a measurement, not a check).
int bench(int steps, int layers, SolveOutput solveOutput) {
  std::mt19937 gen(3);
  std::vector<JointLayer> ls;
  std::vector<JointWeights> originals, starts;
  std::vector<std::vector<float>> targets;
  for (int i = 0; i < layers; ++i) {
    ls.push_back(makeLayer(gen, 16, 64, 576, 9, 64, 576));
    originals.push_back(randomWeights(gen, ls.back(), 3, 1.0 / 24));
    targets.push_back(jointOutput(ls.back(), originals.back()));
    starts.push_back(randomWeights(gen, ls.back(), 1, 1.0 / 24));
  }
  double cpu0 = cpuSeconds();
  auto wall0 = std::chrono::steady_clock::now();
  std::vector<JointFitResult> fits(layers);
  parallelTasks(layers, [&](int64_t i) {
    fits[i] = fitJoint(ls[i], targets[i], starts[i], {}, steps, 1e-3, true,
                       false, {}, 0.0, solveOutput);
  });
  double wall = std::chrono::duration<double>(
                    std::chrono::steady_clock::now() - wall0).count();
  double cpu = cpuSeconds() - cpu0;
  for (const JointFitResult &f : fits)
    std::printf("fit error %.4f -> %.17g in %d steps, %d evaluations "
                "(%d rejected early); %d output solves: %.3f CPU-s f32 "
                "products, %.3f CPU-s factor and solves\n",
                f.startError, f.error, f.iterations, f.evaluations,
                f.earlyRejections, f.outputSolves, f.outputProductSeconds,
                f.outputSolveSeconds);
  std::printf("kernel %s threads %d: %d fits x %d steps: %.2f CPU-s "
              "(%.3f per step), %.2f s wall\n",
              gemmKernel(), workerThreads(), layers, steps, cpu,
              cpu / (double(layers) * steps), wall);
  return 0;
}

/// `attn-joint-fit-test solve-bench N`: N output solves at SmolLM2-135M's
/// shape (1024 tokens, 576 context columns, 576 outputs, rho 0.3), one
/// thread: CPU seconds per solve of the products and of the factor and
/// triangular solves (a measurement, not a check).
int solveBench(int n) {
  std::mt19937 gen(5);
  std::normal_distribution<float> normal;
  const int64_t tokens = 1024, width = 576, out = 576;
  std::vector<float> c(tokens * width), t(tokens * out), s(width * out),
      o(width * out);
  for (std::vector<float> *v : {&c, &t, &s})
    for (float &x : *v)
      x = normal(gen);
  OutputSolver solver(t.data(), tokens, width, out, s.data(), 0.3);
  int failed = 0;
  // As in the compile: on a worker of parallelTasks (serial products; the
  // second task is empty).
  parallelTasks(2, [&](int64_t task) {
    for (int i = 0; i < n && task == 0; ++i)
      failed += !solver.solve(c.data(), o.data());
  });
  std::printf("output solve %lldx%lldx%lld: %d solves, products %.2f ms, "
              "factor and solves %.2f ms per solve (%d failed)\n",
              (long long)tokens, (long long)width, (long long)out, n,
              1e3 * solver.productSeconds / n, 1e3 * solver.solveSeconds / n,
              failed);
  return failed ? 1 : 0;
}

/// FNV-1a over the bits of the four matrices: equal iterates, equal hash.
uint64_t weightsHash(const JointWeights &w) {
  uint64_t h = 1469598103934665603ull;
  for (const std::vector<double> *m : {&w.query, &w.key, &w.value, &w.output})
    for (double v : *m) {
      uint64_t bits;
      std::memcpy(&bits, &v, sizeof bits);
      for (int i = 0; i < 8; ++i)
        h = (h ^ ((bits >> (8 * i)) & 0xff)) * 1099511628211ull;
    }
  return h;
}

/// `attn-joint-fit-test early-reject`: fits whose line searches reject
/// trials (a fit continued from a converged one with a unit-length first
/// move, and one from a random start) on a layer of 4 windows of 48
/// tokens (two windows fill whole register tiles: the trials may stop
/// after them), printing each fit's iterates as a hash of its weights and
/// its evaluations; $ATTN_FIT_EARLY_REJECT=0 and 1 must print the same
/// `iterates` lines (test/Calibration/joint-fit-early-reject.test).
int earlyRejectFits() {
  std::mt19937 gen(11);
  JointLayer l = makeLayer(gen, 8, 48, 32, 4, 8, 24);
  JointWeights original = randomWeights(gen, l, 2, 0.05);
  std::vector<float> target = jointOutput(l, original);
  JointWeights start = randomWeights(gen, l, 1, 0.05);
  JointFitResult fit = fitJoint(l, target, start, {}, 30, 1e-3);
  JointFitResult cold = fitJoint(l, target, start, fit.weights, 15, 1e-3);
  int early = 0;
  for (const JointFitResult *f : {&fit, &cold}) {
    std::printf("iterates %016llx error %.17g, %d steps, %d evaluations\n",
                static_cast<unsigned long long>(weightsHash(f->weights)),
                f->error, f->iterations, f->evaluations);
    early += f->earlyRejections;
  }
  std::printf("rejected early: %d\n", early);
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  if (argc == 2 && std::string(argv[1]) == "early-reject")
    return earlyRejectFits();
  if ((argc == 4 || argc == 5) && std::string(argv[1]) == "bench")
    return bench(std::atoi(argv[2]), std::atoi(argv[3]),
                 argc < 5                             ? SolveOutput::Lbfgs
                 : std::string(argv[4]) == "exact"    ? SolveOutput::Exact
                 : std::string(argv[4]) == "accepted" ? SolveOutput::Accepted
                                                      : SolveOutput::Lbfgs);
  if (argc == 3 && std::string(argv[1]) == "solve-bench")
    return solveBench(std::atoi(argv[2]));
  if (argc >= 2 && std::string(argv[1]) == "gemm-bench")
    return gemmBench(argc >= 3 ? std::atof(argv[2]) : 1.0);
  bool ok = true;
  auto check = [&](bool pass, const char *what) {
    std::printf("%s: %s\n", pass ? "PASS" : "FAIL", what);
    ok &= pass;
  };
  // `fit`: only the fit (e.g. with $ATTN_FIT_BF16=all, where central
  // differences of a bf16 objective would be noise).
  bool fitOnly = argc == 2 && std::string(argv[1]) == "fit";
  if (!fitOnly) {
    check(checkGemmKernels(), "blocked gemm matches the triple loop");
    check(checkGemmUpper(), "gemm upper triangle equals the full product's");
    bool orderSkipped = false;
    bool orderKept = checkGemmOrder(orderSkipped);
    if (!orderSkipped)
      check(orderKept, "avx512 gemm: FMA chains per k block, the same bits");
    check(checkBf16Dispatch(), "bf16 gemm dispatch");
    check(checkPackedOperands(),
          "products with packed operands equal the unpacked ones");
    check(checkSparseProducts(),
          "products skipping a row support equal the full ones");
    // The same bits is the FMA tile's claim where it is the default: on
    // Intel CPUs (elsewhere VDPBF16PS may round otherwise; both tiles are
    // held to the bf16 bounds below).
    bool tilesSkipped = false;
    bool tilesEqual = checkBf16PairTiles(tilesSkipped);
    if (!tilesSkipped && cpuIsIntel())
      check(tilesEqual, "bf16 pair tiles (fma, vdpbf16ps) give the same bits");
    for (const char *kernel : {"amx", "avx512bf16"}) {
      bool skipped = false;
      bool bf16 = checkBf16Gemm(kernel, skipped);
      if (!skipped)
        check(bf16, (std::string("bf16 gemm (") + kernel +
                     ") within the bf16 bounds")
                        .c_str());
    }
    // The AVX512_BF16 path's other pair tile (the default one ran above).
    const char *tile = bf16PairTile();
    const char *other = std::strcmp(tile, "fma") == 0 ? "vdpbf16ps" : "fma";
    setBf16PairTile(other);
    bool skipped = false;
    bool bf16 = checkBf16Gemm("avx512bf16", skipped);
    if (!skipped)
      check(bf16, (std::string("bf16 gemm (avx512bf16, ") + other +
                   " tile) within the bf16 bounds")
                      .c_str());
    setBf16PairTile(tile);
  }

  std::mt19937 gen(7);
  JointLayer l = makeLayer(gen);
  JointWeights original = randomWeights(gen, l, 2);
  std::vector<float> target = jointOutput(l, original);
  JointWeights start = randomWeights(gen, l, 1);
  JointWeights at = randomWeights(gen, l, 1);

  if (!fitOnly) {
    // The analytic gradient (ridge 0.1) against central differences of the
    // objective, every 5th entry of each matrix, with f32 products
    // (sgemmBf16 on its f32 path: by default the fit rounds its products'
    // inputs to bf16 where the CPU has AMX).
    const char *bf16Kernel = bf16GemmKernel();
    setBf16GemmKernel("f32");
    JointWeights grad;
    jointObjective(l, target, start, at, 0.1, &grad);
    int checked = 0;
    double worst = gradientError(l, target, start, at, checked);
    std::printf("gradient over %d entries: max relative error %.2e\n", checked,
                worst);
    check(worst < 1e-2, "the analytic gradient matches central differences");
    // The solve on the CPU's bf16 path (its C^T T takes it with
    // $ATTN_SOLVE_RHS=bf16; otherwise the solve is f32 either way).
    setBf16GemmKernel(bf16Kernel);
    check(checkOutputSolve(), "the output solve meets its normal equations");
    setBf16GemmKernel("f32");
    checkSolvedOutput(check, l, target, start, at);

    // The gradient with the fit's bf16 products (AMX or AVX512_BF16;
    // $ATTN_FIT_BF16, default all) against the f32 one:
    // ||g_bf16 - g_f32|| / ||g_f32|| <= 2^-6 (bf16 keeps 8 bits; the
    // chain of products and the softmax's derivative lose a few more).
    for (const char *kernel : {"amx", "avx512bf16"}) {
      if (!setBf16GemmKernel(kernel)) {
        std::printf("SKIPPED: the bf16 gradient (%s): not on this CPU or "
                    "kernel\n",
                    kernel);
        continue;
      }
      JointWeights bf16Grad;
      jointObjective(l, target, start, at, 0.1, &bf16Grad);
      double diff = 0.0, norm = 0.0;
      for (std::vector<double> JointWeights::*m :
           {&JointWeights::query, &JointWeights::key, &JointWeights::value,
            &JointWeights::output})
        for (size_t i = 0; i < (grad.*m).size(); ++i) {
          double e = (bf16Grad.*m)[i] - (grad.*m)[i];
          diff += e * e;
          norm += (grad.*m)[i] * (grad.*m)[i];
        }
      double relative = std::sqrt(diff / norm);
      std::printf("gradient with the fit's bf16 products (%s): relative "
                  "error %.2e against f32\n",
                  kernel, relative);
      check(relative <= 1.0 / 64,
            (std::string("the bf16 gradient (") + kernel +
             ") is within 2^-6 of f32")
                .c_str());
    }
    setBf16GemmKernel(bf16Kernel);
    checkCross(check);
  }

  // The fit from a perturbed start lowers the error and reaches far below it.
  JointFitResult fit = fitJoint(l, target, start, {}, 60, 1e-3);
  std::printf("fit error %.4f -> %.4f in %d steps\n", fit.startError,
              fit.error, fit.iterations);
  check(fit.error < 0.5 * fit.startError, "the fit halves the output error");
  check(std::isfinite(fit.error), "errors are finite");

  // A later pass's fit from these weights: started with this fit's step
  // scale (firstStep), its first step needs fewer line-search trials (each
  // an objective evaluation) than the unit-length move halved from there.
  JointFitResult cold = fitJoint(l, target, start, fit.weights, 10, 1e-3);
  JointFitResult warm = fitJoint(l, target, start, fit.weights, 10, 1e-3,
                                 true, false, {}, fit.stepScale);
  std::printf("continued fit, 10 steps: from the step scale %.3g %d "
              "evaluations, error %.4f; from a unit-length move %d, %.4f\n",
              fit.stepScale, warm.evaluations, warm.error, cold.evaluations,
              cold.error);
  check(fit.stepScale > 0.0 && warm.evaluations < cold.evaluations &&
            warm.error < fit.error,
        "a warm first step takes fewer evaluations");

  // Per-head maps of Q and O (headMaps): the error falls, and each head's
  // Q and O rows stay in the span of the start's rows of that head (the
  // free fit's leave it: D < the input width, Dv < the output width).
  JointFitResult maps = fitJoint(l, target, start, {}, 60, 1e-3,
                                 /*errors=*/true, /*headMaps=*/true);
  double qSpan = headSpanResidual(maps.weights.query, start.query, l.qHeads,
                                  l.headDim, l.inputWidth);
  double oSpan = headSpanResidual(maps.weights.output, start.output, l.qHeads,
                                  l.valueDim, l.outWidth);
  double freeSpan = headSpanResidual(fit.weights.query, start.query, l.qHeads,
                                     l.headDim, l.inputWidth);
  std::printf("map fit error %.4f -> %.4f in %d steps; rows off the start's "
              "span: Q %.1e, O %.1e (free fit's Q %.1e)\n",
              maps.startError, maps.error, maps.iterations, qSpan, oSpan,
              freeSpan);
  check(maps.error < 0.5 * maps.startError, "the map fit halves the output error");
  check(qSpan < 1e-8 && oSpan < 1e-8 && freeSpan > 1e-4,
        "the map fit's Q and O rows are per-head maps of the start's");

  // A fixed matrix (an infinite ridge) keeps the start's values (as float)
  // while the others are fitted; a validation layer (another batch of
  // windows) gets the held-out error every 10 steps, and keepBest returns
  // the step with the lowest one.
  const double inf = std::numeric_limits<double>::infinity();
  JointFitResult fixedO =
      fitJoint(l, target, start, {}, 60, JointRidge(1e-3, 1e-3, 1e-3, inf));
  double oMoved = 0.0, qMoved = 0.0;
  for (size_t i = 0; i < start.output.size(); ++i)
    oMoved = std::max(oMoved, std::abs(fixedO.weights.output[i] -
                                       double(float(start.output[i]))));
  for (size_t i = 0; i < start.query.size(); ++i)
    qMoved = std::max(qMoved, std::abs(fixedO.weights.query[i] - start.query[i]));
  std::printf("fixed-O fit error %.4f -> %.4f; O moved %.1e, Q moved %.1e\n",
              fixedO.startError, fixedO.error, oMoved, qMoved);
  check(oMoved == 0.0 && qMoved > 1e-3 && fixedO.error < fixedO.startError,
        "a fixed matrix keeps its start, the others are fitted");
  JointLayer held = makeLayer(gen);
  for (size_t i = 0; i < held.input.size(); ++i) // other windows, same model
    held.input[i] = l.input[(i * 7 + 3) % l.input.size()] * 0.9f;
  std::vector<float> heldTarget = jointOutput(held, original);
  JointValidation validation{&held, &heldTarget, 10, /*keepBest=*/true};
  JointFitResult stopped =
      fitJoint(l, target, start, {}, 60, 1e-3, true, false, validation);
  double kept = inf, lowest = inf;
  for (auto [steps, e] : stopped.heldout) {
    std::printf("  held-out error after %d steps: %.4f\n", steps, e);
    lowest = std::min(lowest, e);
    if (steps == stopped.keptSteps)
      kept = e;
  }
  double keptNow = jointObjective(held, heldTarget, start, stopped.weights, 0.0);
  std::printf("held-out errors at %zu steps, kept %d (%.4f, recomputed %.4f)\n",
              stopped.heldout.size(), stopped.keptSteps, kept, keptNow);
  check(stopped.heldout.size() >= 2 && stopped.heldout.front().first == 0 &&
            stopped.heldout.back().first == stopped.iterations &&
            kept == lowest &&
            std::abs(keptNow - kept) <= 1e-2 * kept, // (bf16 products)
        "the validation's held-out errors, and the step kept has the lowest");
  return ok ? 0 : 1;
}
