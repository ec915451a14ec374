//===- Bf16Gemm.cpp - matrix products with bfloat16 inputs (AMX) ----------===//
//
// sgemmBf16: the same product as sgemm with its inputs rounded to bfloat16
// (round to nearest even) and float32 accumulation, on Intel AMX
// (TDPBF16PS: a 16 x 16 f32 tile += a 16 x 32 bf16 tile times a 32 x 16
// one). A and B are packed into 1 KiB tiles, contiguous along k, so each
// tile load reads 16 consecutive 64-byte rows; a 32 x 32 block of C lives in
// four accumulator tiles while k runs (two A tiles, two B tiles, the eight
// tile registers). Chosen once from cpuid (AMX-TILE, AMX-BF16, AVX-512) and
// the kernel's permission to use the tile data (Linux: arch_prctl
// ARCH_REQ_XCOMP_PERM); without them, on a CPU with AVX512_BF16
// (VDPBF16PS: AMD Zen 4, Intel Cooper Lake), the same rounding and pairs
// on the vector unit (Bf16DotGemm.cpp); without either sgemmBf16 is sgemm
// (f32). $ATTN_GEMM_BF16 = f32, avx512bf16 or amx forces a path the CPU
// has. Only the functions marked with a target attribute use AMX or
// AVX-512: the file builds for any x86-64 (and for other CPUs without the
// AMX part).
//
//===----------------------------------------------------------------------===//

#include "Bf16DotGemm.h"

#include "attn/Calibration/FloatGemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__)
#define ATTN_GEMM_AMX 1
#if !defined(__clang__)
// GCC 12's AVX-512 intrinsics start from _mm512_undefined_epi32 (`__Y =
// __Y`), which -Wmaybe-uninitialized reports once inlined here.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <cpuid.h>
#include <immintrin.h>
#include "Bf16Vectors.h"
#ifdef __linux__
#include <sys/syscall.h>
#include <unistd.h>
#endif
#endif

using namespace attn::calib;

namespace {

/// f32 -> bf16 bits, round to nearest even; NaN stays a (quiet) NaN.
inline uint16_t toBf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof(u));
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

#ifdef ATTN_GEMM_AMX

/// Tiles are 16 rows of 64 bytes: 16 x 16 f32 (C) or 16 x 32 bf16 (A, and
/// B's 16 k-pairs x 16 columns).
constexpr int64_t kTile = 16, kDepth = 32, kTileElems = kTile * kDepth;

/// The tile configuration (ldtilecfg's 64 bytes): palette 1, tiles 0-7 of
/// 16 rows x 64 bytes. Constant, so no store to it can be elided.
struct alignas(64) TileConfig {
  uint8_t palette, startRow, reserved[14];
  uint16_t colBytes[16];
  uint8_t rows[16];
};
constexpr TileConfig kConfig = {
    1, 0, {}, {64, 64, 64, 64, 64, 64, 64, 64}, {16, 16, 16, 16, 16, 16, 16, 16}};

bool cpuHasAmx() {
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
    return false;
  bool tile = d & (1u << 24), bf16 = d & (1u << 22);
  __builtin_cpu_init();
  return tile && bf16 && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512bw");
}

/// Asks the kernel for the tile data state once per process (Linux 5.16+).
bool kernelAllowsAmx() {
#ifdef __linux__
  constexpr long kReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

using namespace attn::calib::bf16vec;

/// A [m, k] into tiles of 16 rows x 32 k: tile (i/16, p/32) at
/// ((i/16) * kTiles + p/32) * 512, row-major inside (k contiguous). Zero
/// beyond m and k. Row i of a tile is 16 dwords, each the pair of k
/// (2q, 2q + 1); from A^T's rows that is a 16 x 16 dword transpose.
__attribute__((target("avx512f,avx512bw"))) void
packA(bool trans, int64_t m, int64_t k, const float *a, int64_t lda,
      int64_t mPad, int64_t kPad, uint16_t *dst) {
  int64_t kTiles = kPad / kDepth;
  for (int64_t i0 = 0; i0 < mPad; i0 += kTile)
    for (int64_t p0 = 0; p0 < kPad; p0 += kDepth) {
      uint16_t *t = dst + ((i0 / kTile) * kTiles + p0 / kDepth) * kTileElems;
      bool full = i0 + kTile <= m && p0 + kDepth <= k;
      if (full && !trans) {
        for (int64_t i = 0; i < kTile; ++i)
          _mm512_storeu_si512(t + i * kDepth,
                              pairsOf32(a + (i0 + i) * lda + p0));
      } else if (full) {
        __m512i r[16];
        for (int64_t q = 0; q < 16; ++q) {
          const float *even = a + (p0 + 2 * q) * lda + i0;
          r[q] = pairs16(even, even + lda);
        }
        transpose16(r);
        for (int64_t i = 0; i < kTile; ++i)
          _mm512_storeu_si512(t + i * kDepth, r[i]);
      } else {
        for (int64_t i = 0; i < kTile; ++i)
          for (int64_t p = 0; p < kDepth; ++p) {
            int64_t r = i0 + i, q = p0 + p;
            float x = r < m && q < k ? (trans ? a[q * lda + r] : a[r * lda + q])
                                     : 0.0f;
            t[i * kDepth + p] = toBf16(x);
          }
      }
    }
}

/// B [k, n] into tiles of 32 k x 16 columns in the pair-interleaved form
/// TDPBF16PS reads: tile (j/16, p/32) at ((j/16) * kTiles + p/32) * 512,
/// element (p, j) at ((p%32)/2) * 32 + (j%16) * 2 + p%2. Zero beyond k, n.
/// From B^T's rows that is a 16 x 16 dword transpose.
__attribute__((target("avx512f,avx512bw"))) void
packB(bool trans, int64_t k, int64_t n, const float *b, int64_t ldb,
      int64_t kPad, int64_t nPad, uint16_t *dst) {
  int64_t kTiles = kPad / kDepth;
  for (int64_t j0 = 0; j0 < nPad; j0 += kTile)
    for (int64_t p0 = 0; p0 < kPad; p0 += kDepth) {
      uint16_t *t = dst + ((j0 / kTile) * kTiles + p0 / kDepth) * kTileElems;
      bool full = j0 + kTile <= n && p0 + kDepth <= k;
      if (full && !trans) {
        for (int64_t pp = 0; pp < kDepth / 2; ++pp) {
          const float *even = b + (p0 + 2 * pp) * ldb + j0;
          _mm512_storeu_si512(t + pp * 32, pairs16(even, even + ldb));
        }
      } else if (full) {
        __m512i r[16];
        for (int64_t j = 0; j < kTile; ++j)
          r[j] = pairsOf32(b + (j0 + j) * ldb + p0);
        transpose16(r);
        for (int64_t pp = 0; pp < kDepth / 2; ++pp)
          _mm512_storeu_si512(t + pp * 32, r[pp]);
      } else {
        for (int64_t p = 0; p < kDepth; ++p)
          for (int64_t j = 0; j < kTile; ++j) {
            int64_t q = p0 + p, c = j0 + j;
            float x = q < k && c < n ? (trans ? b[c * ldb + q] : b[q * ldb + c])
                                     : 0.0f;
            t[(p / 2) * 32 + 2 * j + p % 2] = toBf16(x);
          }
      }
    }
}

/// The 32 x 32 block of C at (i0, j0) over kTiles tiles of k into acc
/// (f32, row-major, rows `ldAcc` floats apart).
__attribute__((target("amx-tile,amx-bf16"))) inline void
block32(const uint16_t *a0, const uint16_t *a1, const uint16_t *b0,
        const uint16_t *b1, int64_t kTiles, float *acc, int64_t ldAcc) {
  constexpr long stride = 64;
  // The tile instructions' asm names no memory: the packed tiles must be
  // stored before the loads, and acc read only after the stores.
  __asm__ volatile("" ::: "memory");
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int64_t t = 0; t < kTiles; ++t) {
    _tile_loadd(4, a0 + t * kTileElems, stride);
    _tile_loadd(6, b0 + t * kTileElems, stride);
    _tile_dpbf16ps(0, 4, 6);
    _tile_loadd(7, b1 + t * kTileElems, stride);
    _tile_dpbf16ps(1, 4, 7);
    _tile_loadd(5, a1 + t * kTileElems, stride);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  long cStride = ldAcc * sizeof(float);
  _tile_stored(0, acc, cStride);
  _tile_stored(1, acc + 16, cStride);
  _tile_stored(2, acc + 16 * ldAcc, cStride);
  _tile_stored(3, acc + 16 * ldAcc + 16, cStride);
  __asm__ volatile("" ::: "memory");
}

__attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw"))) void
amxGemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
        const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
        int64_t ldc, bool accumulate) {
  int64_t mPad = (m + 31) / 32 * 32, nPad = (n + 31) / 32 * 32;
  int64_t kPad = (k + kDepth - 1) / kDepth * kDepth, kTiles = kPad / kDepth;
  thread_local std::vector<uint16_t> aPack, bPack;
  aPack.resize(mPad * kPad);
  bPack.resize(nPad * kPad);
  packA(transA, m, k, a, lda, mPad, kPad, aPack.data());
  packB(transB, k, n, b, ldb, kPad, nPad, bPack.data());
  _tile_loadconfig(&kConfig);
  alignas(64) float acc[32 * 32];
  // Rows of 32 outer: the two A tiles' k strip (32 x kPad bf16) stays in
  // L1 while B's tiles stream from L2.
  for (int64_t i0 = 0; i0 < mPad; i0 += 32) {
    const uint16_t *a0 = aPack.data() + (i0 / kTile) * kTiles * kTileElems;
    const uint16_t *a1 = a0 + kTiles * kTileElems;
    for (int64_t j0 = 0; j0 < nPad; j0 += 32) {
      const uint16_t *b0 = bPack.data() + (j0 / kTile) * kTiles * kTileElems;
      int64_t rows = std::min<int64_t>(32, m - i0);
      int64_t cols = std::min<int64_t>(32, n - j0);
      if (!accumulate && rows == 32 && cols == 32) {
        // A whole block: the tiles go straight to C.
        block32(a0, a1, b0, b0 + kTiles * kTileElems, kTiles,
                c + i0 * ldc + j0, ldc);
        continue;
      }
      block32(a0, a1, b0, b0 + kTiles * kTileElems, kTiles, acc, 32);
      for (int64_t i = 0; i < rows; ++i) {
        float *dst = c + (i0 + i) * ldc + j0;
        const float *src = acc + i * 32;
        if (accumulate)
          for (int64_t j = 0; j < cols; ++j)
            dst[j] += src[j];
        else
          std::memcpy(dst, src, cols * sizeof(float));
      }
    }
  }
  _tile_release();
}

#endif // ATTN_GEMM_AMX

enum class Bf16Path { F32, Amx, DotBf16 };

bool amxAvailable() {
#ifdef ATTN_GEMM_AMX
  static const bool ok = cpuHasAmx() && kernelAllowsAmx();
  return ok;
#else
  return false;
#endif
}

/// The path `name` names, when the CPU (and kernel) have it.
std::optional<Bf16Path> pathNamed(const char *name) {
  if (std::strcmp(name, "f32") == 0)
    return Bf16Path::F32;
  if (std::strcmp(name, "amx") == 0 && amxAvailable())
    return Bf16Path::Amx;
  if (std::strcmp(name, "avx512bf16") == 0 && detail::dotBf16Available())
    return Bf16Path::DotBf16;
  return std::nullopt;
}

/// AMX, else AVX512_BF16, else f32; $ATTN_GEMM_BF16's when the CPU has it.
Bf16Path &activePath() {
  static Bf16Path path = [] {
    if (const char *env = std::getenv("ATTN_GEMM_BF16"))
      if (std::optional<Bf16Path> p = pathNamed(env))
        return *p;
    if (amxAvailable())
      return Bf16Path::Amx;
    return detail::dotBf16Available() ? Bf16Path::DotBf16 : Bf16Path::F32;
  }();
  return path;
}

} // namespace

uint16_t attn::calib::roundToBf16(float x) { return toBf16(x); }

float attn::calib::bf16ToFloat(uint16_t x) {
  uint32_t u = static_cast<uint32_t>(x) << 16;
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

const char *attn::calib::bf16GemmKernel() {
  switch (activePath()) {
  case Bf16Path::Amx:
    return "amx";
  case Bf16Path::DotBf16:
    return "avx512bf16";
  case Bf16Path::F32:
    break;
  }
  return "f32";
}

bool attn::calib::setBf16GemmKernel(const char *name) {
  std::optional<Bf16Path> p = pathNamed(name);
  if (p)
    activePath() = *p;
  return p.has_value();
}

void attn::calib::sgemmBf16(bool transA, bool transB, int64_t m, int64_t n,
                            int64_t k, const float *a, int64_t lda,
                            const float *b, int64_t ldb, float *c, int64_t ldc,
                            bool accumulate) {
#ifdef ATTN_GEMM_AMX
  if (activePath() == Bf16Path::Amx && m > 0 && n > 0 && k > 0) {
    amxGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
    return;
  }
#endif
  if (activePath() == Bf16Path::DotBf16) {
    detail::dotBf16Gemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc,
                        accumulate);
    return;
  }
  sgemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
}

void attn::calib::sgemmBf16Sparse(bool transA, bool transB, int64_t m,
                                  int64_t n, int64_t k, const float *a,
                                  int64_t lda, const float *b, int64_t ldb,
                                  float *c, int64_t ldc, bool accumulate,
                                  const RowSupport &support) {
  if (activePath() == Bf16Path::DotBf16) {
    detail::dotBf16GemmPacked(transA, transB, m, n, k, a, lda, {}, b, ldb,
                              nullptr, c, ldc, accumulate, &support);
    return;
  }
  sgemmBf16(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
}

void attn::calib::sgemmBf16Parallel(bool transA, bool transB, int64_t m,
                                    int64_t n, int64_t k, const float *a,
                                    int64_t lda, const float *b, int64_t ldb,
                                    float *c, int64_t ldc, bool accumulate) {
  if (activePath() == Bf16Path::F32) {
    sgemmParallel(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
    return;
  }
  // Whole blocks of rows (AMX: 32, AVX512_BF16: a tile) per thread; each
  // packs its own copy of B.
  int64_t rows =
      activePath() == Bf16Path::Amx ? 32 : detail::kDotBf16TileRows;
  int64_t blocks = (m + rows - 1) / rows;
  parallelChunks(blocks, [&](int64_t t0, int64_t t1) {
    int64_t i0 = t0 * rows, i1 = std::min(m, t1 * rows);
    const float *aRows = transA ? a + i0 : a + i0 * lda;
    sgemmBf16(transA, transB, i1 - i0, n, k, aRows, lda, b, ldb, c + i0 * ldc,
              ldc, accumulate);
  });
}

// GemmOperand: packed only on the AVX512_BF16 path (the AMX and f32 paths
// read the source on each call).
namespace attn::calib {
struct GemmOperandAccess {
  /// Whether its packed copy serves the products now.
  static bool usePacked(const GemmOperand &o) {
    return o.isPacked && activePath() == Bf16Path::DotBf16;
  }
  /// The unpacked product, as sgemmBf16 (or sgemm) computes it.
  static void raw(bool bf16, bool parallel, bool ta, bool tb, int64_t m,
                  int64_t n, int64_t k, const float *a, int64_t lda,
                  const float *b, int64_t ldb, float *c, int64_t ldc,
                  bool accumulate) {
    if (bf16 && parallel)
      sgemmBf16Parallel(ta, tb, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
    else if (bf16)
      sgemmBf16(ta, tb, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
    else if (parallel)
      sgemmParallel(ta, tb, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
    else
      sgemm(ta, tb, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
  }
  /// C's rows [begin, end) (c points at row `begin`; end -1: A's rows).
  static void leftPacked(const GemmOperand &a, bool parallel, bool transB,
                         int64_t n, const float *b, int64_t ldb, float *c,
                         int64_t ldc, bool accumulate, int64_t begin = 0,
                         int64_t end = -1) {
    int64_t m = end < 0 ? a.rows : end, k = a.cols;
    if (!usePacked(a)) {
      const float *x = a.x + (a.trans ? begin : begin * a.ld);
      raw(a.bf16, parallel, a.trans, transB, m - begin, n, k, x, a.ld, b, ldb,
          c, ldc, accumulate);
      return;
    }
    int64_t rows = detail::kDotBf16TileRows, tiles = (a.rows + rows - 1) / rows;
    auto run = [&](int64_t t0, int64_t t1) {
      int64_t i0 = t0 * rows, i1 = std::min(m, t1 * rows);
      detail::dotBf16GemmPacked(a.trans, transB, i1 - i0, n, k, nullptr, 0,
                                {a.words.data(), t0, tiles}, b, ldb, nullptr,
                                c + (i0 - begin) * ldc, ldc, accumulate);
    };
    int64_t first = begin / rows, last = (m + rows - 1) / rows;
    if (parallel)
      parallelChunks(last - first, [&](int64_t t0, int64_t t1) {
        run(first + t0, first + t1);
      });
    else
      run(first, last);
  }
  static void rightPacked(bool transA, int64_t m, const float *a, int64_t lda,
                          const GemmOperand &b, bool parallel, float *c,
                          int64_t ldc, bool accumulate,
                          const RowSupport *support = nullptr) {
    int64_t k = b.rows, n = b.cols;
    if (!usePacked(b)) {
      raw(b.bf16, parallel, transA, b.trans, m, n, k, a, lda, b.x, b.ld, c,
          ldc, accumulate);
      return;
    }
    int64_t rows = detail::kDotBf16TileRows, tiles = (m + rows - 1) / rows;
    auto run = [&](int64_t t0, int64_t t1) {
      int64_t i0 = t0 * rows, i1 = std::min(m, t1 * rows);
      const float *aRows = transA ? a + i0 : a + i0 * lda;
      RowSupport rows = support ? support->from(i0) : RowSupport();
      detail::dotBf16GemmPacked(transA, b.trans, i1 - i0, n, k, aRows, lda,
                                {}, nullptr, 0, b.words.data(),
                                c + i0 * ldc, ldc, accumulate,
                                support ? &rows : nullptr);
    };
    if (parallel)
      parallelChunks(tiles, run);
    else
      run(0, tiles);
  }
};
} // namespace attn::calib

void attn::calib::GemmOperand::set(bool isLeft, bool useBf16, bool transX,
                                   int64_t r, int64_t c, const float *src,
                                   int64_t stride) {
  left = isLeft;
  bf16 = useBf16;
  trans = transX;
  rows = r;
  cols = c;
  x = src;
  ld = stride;
  isPacked = bf16 && activePath() == Bf16Path::DotBf16 && r > 0 && c > 0;
  if (!isPacked)
    return;
  if (left) {
    words.resize(detail::dotBf16PackedSizeA(r, c));
    detail::dotBf16PackA(trans, r, c, x, ld, words.data());
  } else {
    words.resize(detail::dotBf16PackedSizeB(r, c));
    detail::dotBf16PackB(trans, r, c, x, ld, words.data());
  }
}

void attn::calib::GemmOperand::setLeft(bool useBf16, bool transX, int64_t m,
                                       int64_t k, const float *src,
                                       int64_t stride) {
  set(true, useBf16, transX, m, k, src, stride);
}

void attn::calib::GemmOperand::setRight(bool useBf16, bool transX, int64_t k,
                                        int64_t n, const float *src,
                                        int64_t stride) {
  set(false, useBf16, transX, k, n, src, stride);
}

void attn::calib::sgemmPacked(const GemmOperand &a, bool transB, int64_t n,
                              const float *b, int64_t ldb, float *c,
                              int64_t ldc, bool accumulate) {
  GemmOperandAccess::leftPacked(a, false, transB, n, b, ldb, c, ldc,
                                accumulate);
}

void attn::calib::sgemmPacked(bool transA, int64_t m, const float *a,
                              int64_t lda, const GemmOperand &b, float *c,
                              int64_t ldc, bool accumulate) {
  GemmOperandAccess::rightPacked(transA, m, a, lda, b, false, c, ldc,
                                 accumulate);
}

void attn::calib::sgemmPacked(bool transA, int64_t m, const float *a,
                              int64_t lda, const GemmOperand &b, float *c,
                              int64_t ldc, bool accumulate,
                              const RowSupport &support) {
  GemmOperandAccess::rightPacked(transA, m, a, lda, b, false, c, ldc,
                                 accumulate, &support);
}

void attn::calib::sgemmPackedParallel(const GemmOperand &a, bool transB,
                                      int64_t n, const float *b, int64_t ldb,
                                      float *c, int64_t ldc, bool accumulate) {
  GemmOperandAccess::leftPacked(a, true, transB, n, b, ldb, c, ldc,
                                accumulate);
}

void attn::calib::sgemmPackedRowsParallel(const GemmOperand &a, int64_t begin,
                                          int64_t end, bool transB, int64_t n,
                                          const float *b, int64_t ldb, float *c,
                                          int64_t ldc, bool accumulate) {
  GemmOperandAccess::leftPacked(a, true, transB, n, b, ldb, c, ldc, accumulate,
                                begin, end);
}

void attn::calib::sgemmPackedParallel(bool transA, int64_t m, const float *a,
                                      int64_t lda, const GemmOperand &b,
                                      float *c, int64_t ldc, bool accumulate) {
  GemmOperandAccess::rightPacked(transA, m, a, lda, b, true, c, ldc,
                                 accumulate);
}
