//===- Bf16DotGemm.cpp - bfloat16 products with VDPBF16PS ------------------===//
//
// sgemmBf16 on CPUs with AVX512_BF16 but no AMX. VDPBF16PS adds to each of
// 16 float32 lanes the two products of a pair of bfloat16 (k, k + 1): twice
// the multiply-adds of an f32 FMA per instruction. The GEMM has the shape
// of FloatGemm's: blocks of k and n packed once, a 12 x 32 tile of C in 24
// zmm accumulators while k runs; per pair of k, two loads of B (32 columns
// of pairs) and twelve broadcasts of A's pairs (embedded in the
// instruction), 24 VDPBF16PS. Packing rounds to bfloat16 (nearest even,
// NaN kept) as the AMX path does, so the two paths multiply the same
// numbers; the order of the float32 additions differs.
//
//===----------------------------------------------------------------------===//

#include "Bf16DotGemm.h"

#include "attn/Calibration/FloatGemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__)
#define ATTN_GEMM_DOT_BF16 1
#if !defined(__clang__)
// GCC 12's AVX-512 intrinsics start from _mm512_undefined_epi32 (`__Y =
// __Y`), which -Wmaybe-uninitialized reports once inlined here.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <cpuid.h>
#include <immintrin.h>
#include "Bf16Vectors.h"
#endif

using namespace attn::calib;
using namespace attn::calib::detail;

namespace {

/// f32 -> a pair's half: bf16 bits, nearest even, NaN quiet.
inline uint32_t half(float x) { return roundToBf16(x); }
inline uint32_t pairOf(float even, float odd) {
  return half(even) | half(odd) << 16;
}

#ifdef ATTN_GEMM_DOT_BF16

constexpr int64_t kRows = kDotBf16TileRows, kCols = 32;
/// k per block (even) and n per block (a multiple of kCols): B's packed
/// block is kBlockK x kBlockN bf16, 768 KiB, within L2; n covers the
/// fits' widest products (576) in one block.
constexpr int64_t kBlockK = 512, kBlockN = 768;

#define ATTN_DOT_TARGET __attribute__((target("avx512f,avx512bw,avx512bf16")))

using namespace attn::calib::bf16vec;

/// B's block (k rows p0..p0+kb, columns j0..j0+nb of op(B)) as panels of
/// kCols columns: dst[(panel * pairs + q) * kCols + j] is the pair (2q,
/// 2q + 1) of column j, zero beyond the block. The source is read in its
/// own row order (rows of B, or of B^T 16 at a time), not panel by panel.
ATTN_DOT_TARGET void packB(bool trans, const float *b, int64_t ldb, int64_t p0,
                           int64_t kb, int64_t j0, int64_t nb, uint32_t *dst) {
  int64_t pairs = (kb + 1) / 2, halves = (nb + 15) / 16;
  auto out = [&](int64_t q, int64_t j) { // pair q of column j
    return dst + ((j / kCols) * pairs + q) * kCols + j % kCols;
  };
  auto at = [&](int64_t p, int64_t j) { // op(B)[p0 + p][j0 + j], 0 outside
    if (p >= kb || j >= nb)
      return 0.0f;
    return trans ? b[(j0 + j) * ldb + p0 + p] : b[(p0 + p) * ldb + j0 + j];
  };
  int64_t q = 0;
  if (!trans) {
    // Rows 2q and 2q + 1, 16 columns at a time: one vector of pairs.
    for (; 2 * q + 1 < kb; ++q) {
      const float *even = b + (p0 + 2 * q) * ldb + j0;
      for (int64_t h = 0; h < halves; ++h) {
        int64_t cols = std::min<int64_t>(16, nb - h * 16);
        __mmask16 mask = static_cast<__mmask16>((1u << cols) - 1);
        _mm512_storeu_si512(out(q, h * 16),
                            pairs16(even + h * 16, even + h * 16 + ldb, mask));
      }
    }
  } else {
    // 16 columns x 32 k, row-major in B^T: a 16 x 16 pair transpose.
    for (int64_t h = 0; h < nb / 16; ++h)
      for (int64_t q2 = 0; 2 * q2 + 32 <= kb; q2 += 16) {
        __m512i r[16];
        for (int64_t c = 0; c < 16; ++c)
          r[c] = pairsOf32(b + (j0 + h * 16 + c) * ldb + p0 + 2 * q2);
        transpose16(r);
        for (int64_t i = 0; i < 16; ++i)
          _mm512_storeu_si512(out(q2 + i, h * 16), r[i]);
      }
    // The rest below: the k tail of those columns, then the last columns.
    int64_t qDone = kb / 32 * 16;
    for (int64_t j = 0; j < nb / 16 * 16; ++j)
      for (int64_t qq = qDone; qq < pairs; ++qq)
        *out(qq, j) = pairOf(at(2 * qq, j), at(2 * qq + 1, j));
    for (int64_t j = nb / 16 * 16; j < halves * 16; ++j)
      for (int64_t qq = 0; qq < pairs; ++qq)
        *out(qq, j) = pairOf(at(2 * qq, j), at(2 * qq + 1, j));
    q = pairs;
  }
  for (; q < pairs; ++q) // an odd k's last pair
    for (int64_t j = 0; j < halves * 16; ++j)
      *out(q, j) = pairOf(at(2 * q, j), at(2 * q + 1, j));
  // A panel's columns past the last half of 16 (nb % 32 in 1..16).
  if (halves % 2)
    for (int64_t qq = 0; qq < pairs; ++qq)
      std::memset(out(qq, halves * 16), 0, 16 * sizeof(uint32_t));
}

/// Writes (with `add`, adds) the first `rows` x `cols` of a tile's
/// accumulators to C.
ATTN_DOT_TARGET inline void storeTile(__m512 (&acc)[kRows][2], int64_t rows,
                                      int64_t cols, float *c, int64_t ldc,
                                      bool add) {
  uint32_t bits = cols >= kCols ? ~0u : (1u << cols) - 1;
  __mmask16 m0 = static_cast<__mmask16>(bits),
            m1 = static_cast<__mmask16>(bits >> 16);
#pragma GCC unroll 12
  for (int i = 0; i < kRows; ++i) {
    if (i >= rows)
      break;
    float *row = c + i * ldc;
    __m512 v0 = acc[i][0], v1 = acc[i][1];
    if (add) {
      v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, row));
      v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, row + 16));
    }
    _mm512_mask_storeu_ps(row, m0, v0);
    _mm512_mask_storeu_ps(row + 16, m1, v1);
  }
}

/// A's block (rows 0..m of op(A), k p0..p0+kb) as tiles of kRows rows:
/// dst[(tile * pairs + q) * kRows + i] is row i's pair (2q, 2q + 1), zero
/// beyond the block. op(A) = A^T is read row by row of A (all the tiles'
/// columns of rows 2q and 2q + 1 in turn).
ATTN_DOT_TARGET void packA(bool trans, const float *a, int64_t lda,
                           int64_t m, int64_t p0, int64_t kb, uint32_t *dst) {
  int64_t pairs = (kb + 1) / 2, tiles = (m + kRows - 1) / kRows;
  const __mmask16 tileMask = (1u << kRows) - 1;
  auto out = [&](int64_t t, int64_t q) {
    return dst + (t * pairs + q) * kRows;
  };
  auto at = [&](int64_t p, int64_t i) { // op(A)[i][p0 + p], 0 outside
    if (p >= kb || i >= m)
      return 0.0f;
    return trans ? a[(p0 + p) * lda + i] : a[i * lda + p0 + p];
  };
  int64_t qDone = 0; // pairs packed by the vector loops, every tile
  if (trans) {
    for (; 2 * qDone + 1 < kb; ++qDone) {
      const float *even = a + (p0 + 2 * qDone) * lda;
      for (int64_t t = 0; t < tiles; ++t) {
        int64_t rows = std::min(kRows, m - t * kRows);
        __mmask16 mask = static_cast<__mmask16>((1u << rows) - 1);
        _mm512_mask_storeu_epi32(
            out(t, qDone), tileMask,
            pairs16(even + t * kRows, even + t * kRows + lda, mask));
      }
    }
  } else {
    // 32 k of each row: 16 pairs; a transpose makes them columns.
    qDone = kb / 32 * 16;
    for (int64_t t = 0; t < tiles; ++t) {
      int64_t rows = std::min(kRows, m - t * kRows);
      for (int64_t q = 0; q < qDone; q += 16) {
        __m512i r[16];
        for (int64_t i = 0; i < 16; ++i)
          r[i] = i < rows ? pairsOf32(a + (t * kRows + i) * lda + p0 + 2 * q)
                          : _mm512_setzero_si512();
        transpose16(r);
        for (int64_t i = 0; i < 16; ++i)
          _mm512_mask_storeu_epi32(out(t, q + i), tileMask, r[i]);
      }
    }
  }
  for (int64_t t = 0; t < tiles; ++t)
    for (int64_t q = qDone; q < pairs; ++q)
      for (int64_t i = 0; i < kRows; ++i)
        out(t, q)[i] = pairOf(at(2 * q, t * kRows + i),
                              at(2 * q + 1, t * kRows + i));
}

/// C's tile at `c` (`rows` x `cols` of it, rows `ldc` apart) = (or +=, with
/// `add`) the products over `pairs` pairs of k: stored straight from the
/// accumulators, masked to the tile's columns.
ATTN_DOT_TARGET void tile(int64_t pairs, const uint32_t *ap,
                          const uint32_t *bp, float *c, int64_t ldc,
                          int64_t rows, int64_t cols, bool add) {
  __m512 acc[kRows][2];
#pragma GCC unroll 12
  for (int i = 0; i < kRows; ++i)
    acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (int64_t q = 0; q < pairs; ++q) {
    __m512bh b0 = (__m512bh)_mm512_loadu_si512(bp + q * kCols);
    __m512bh b1 = (__m512bh)_mm512_loadu_si512(bp + q * kCols + 16);
    const uint32_t *arow = ap + q * kRows;
#pragma GCC unroll 12
    for (int i = 0; i < kRows; ++i) {
      __m512bh x = (__m512bh)_mm512_set1_epi32(static_cast<int>(arow[i]));
      acc[i][0] = _mm512_dpbf16_ps(acc[i][0], x, b0);
      acc[i][1] = _mm512_dpbf16_ps(acc[i][1], x, b1);
    }
  }
  storeTile(acc, rows, cols, c, ldc, add);
}

/// Row i's pair q of A's tile (kRows rows, `pairs` pairs from ap) as two
/// floats: af[q * 2 kRows + i] the odd k's, af[q * 2 kRows + kRows + i]
/// the even k's (bf16 bits in the high half are the float).
ATTN_DOT_TARGET void expandPairs(int64_t pairs, const uint32_t *ap,
                                 float *af) {
  const __mmask16 rowMask = (1u << kRows) - 1;
  const __m512i high = _mm512_set1_epi32(-65536);
  for (int64_t q = 0; q < pairs; ++q) {
    __m512i w = _mm512_maskz_loadu_epi32(rowMask, ap + q * kRows);
    float *out = af + q * 2 * kRows;
    _mm512_mask_storeu_epi32(out, rowMask, _mm512_and_si512(w, high));
    _mm512_mask_storeu_epi32(out + kRows, rowMask, _mm512_slli_epi32(w, 16));
  }
}

/// expandPairs' layout straight from op(A) (not packed): rows [i0, i0 +
/// kRows) and pairs [q0, q1) of the k block at p0 (kb long), rounded to
/// bf16 as packA rounds them; zero beyond m and kb. Saves the FMA tile's
/// unpacked A a pass (packA, then expandPairs).
ATTN_DOT_TARGET void packExpandedA(bool trans, const float *a, int64_t lda,
                                   int64_t m, int64_t i0, int64_t p0,
                                   int64_t kb, int64_t q0, int64_t q1,
                                   float *af) {
  const __mmask16 rowMask = (1u << kRows) - 1;
  const __m512i high = _mm512_set1_epi32(-65536);
  int64_t rows = std::min(kRows, m - i0);
  // k = 2q + 1 goes first in its pair, k = 2q second.
  auto slot = [&](int64_t p) {
    return af + (p / 2 - q0) * 2 * kRows + (p % 2 ? 0 : kRows);
  };
  if (trans) {
    __mmask16 mask = static_cast<__mmask16>((1u << rows) - 1);
    for (int64_t p = 2 * q0; p < 2 * q1; ++p) {
      __m512i v = _mm512_setzero_si512();
      if (p < kb)
        v = _mm512_and_si512(
            roundHigh(_mm512_maskz_loadu_ps(mask, a + (p0 + p) * lda + i0)),
            high);
      _mm512_mask_storeu_epi32(slot(p), rowMask, v);
    }
    return;
  }
  // 16 k of each row at a time; a transpose makes them rows of k.
  for (int64_t pb = 2 * q0; pb < 2 * q1; pb += 16) {
    int64_t span = std::min<int64_t>(16, std::min(2 * q1, kb) - pb);
    __mmask16 mask =
        span > 0 ? static_cast<__mmask16>((1u << span) - 1) : __mmask16(0);
    __m512i r[16];
    for (int64_t i = 0; i < 16; ++i)
      r[i] = i < rows ? _mm512_and_si512(
                            roundHigh(_mm512_maskz_loadu_ps(
                                mask, a + (i0 + i) * lda + p0 + pb)),
                            high)
                      : _mm512_setzero_si512();
    transpose16(r);
    for (int64_t j = 0; j < 16 && pb + j < 2 * q1; ++j)
      _mm512_mask_storeu_epi32(slot(pb + j), rowMask, r[j]);
  }
}

/// tile()'s sums with f32 FMAs (twice VDPBF16PS's multiply-adds per cycle
/// where that instruction issues on one port, Intel's Golden Cove and
/// Raptor Cove): per pair, acc += odd product, then acc += even product,
/// each product of two bf16 exact in f32 and each addition rounded to
/// nearest even, as VDPBF16PS defines it; with MXCSR's DAZ and FTZ set, as
/// it treats denormals. The same bits as tile() where the CPU follows that
/// definition (the unit test checks it). A comes expanded (expandPairs).
ATTN_DOT_TARGET void tileFma(int64_t pairs, const float *af,
                             const uint32_t *bp, float *c, int64_t ldc,
                             int64_t rows, int64_t cols, bool add) {
  __m512 acc[kRows][2];
#pragma GCC unroll 12
  for (int i = 0; i < kRows; ++i)
    acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  const unsigned csr = _mm_getcsr();
  _mm_setcsr(csr | 0x8040); // FTZ (bit 15), DAZ (bit 6)
  const __m512i high = _mm512_set1_epi32(-65536);
  for (int64_t q = 0; q < pairs; ++q) {
    __m512i w0 = _mm512_loadu_si512(bp + q * kCols);
    __m512i w1 = _mm512_loadu_si512(bp + q * kCols + 16);
    const float *odd = af + q * 2 * kRows, *even = odd + kRows;
    __m512 b0 = _mm512_castsi512_ps(_mm512_and_si512(w0, high));
    __m512 b1 = _mm512_castsi512_ps(_mm512_and_si512(w1, high));
#pragma GCC unroll 12
    for (int i = 0; i < kRows; ++i) {
      __m512 x = _mm512_set1_ps(odd[i]);
      acc[i][0] = _mm512_fmadd_ps(x, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(x, b1, acc[i][1]);
    }
    b0 = _mm512_castsi512_ps(_mm512_slli_epi32(w0, 16));
    b1 = _mm512_castsi512_ps(_mm512_slli_epi32(w1, 16));
#pragma GCC unroll 12
    for (int i = 0; i < kRows; ++i) {
      __m512 x = _mm512_set1_ps(even[i]);
      acc[i][0] = _mm512_fmadd_ps(x, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(x, b1, acc[i][1]);
    }
  }
  // The accumulators are read only after the FMAs: the compiler keeps
  // them (and so the FMAs) before this asm.
  for (int i = 0; i < kRows; ++i)
    __asm__ volatile("" : "+v"(acc[i][0]), "+v"(acc[i][1]));
  _mm_setcsr(csr);
  storeTile(acc, rows, cols, c, ldc, add);
}

bool cpuHasDotBf16() {
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 1, &a, &b, &c, &d))
    return false;
  bool bf16 = a & (1u << 5); // CPUID.(7,1):EAX[5] AVX512_BF16
  __builtin_cpu_init();
  // __builtin_cpu_supports also checks that the OS saves the zmm state.
  return bf16 && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512bw");
}

#endif // ATTN_GEMM_DOT_BF16

/// The pair tile: FMAs on Intel (VDPBF16PS issues on one port there: half
/// the f32 FMA's rate on Sapphire and Emerald Rapids), VDPBF16PS elsewhere
/// (AMD Zen 4: twice the f32 FMA's); $ATTN_GEMM_BF16_TILE (vdpbf16ps, fma)
/// forces one.
bool &useFmaTile() {
  static bool fma = [] {
    if (const char *env = std::getenv("ATTN_GEMM_BF16_TILE")) {
      if (std::strcmp(env, "fma") == 0)
        return true;
      if (std::strcmp(env, "vdpbf16ps") == 0)
        return false;
    }
#ifdef ATTN_GEMM_DOT_BF16
    return cpuIsIntel();
#else
    return false;
#endif
  }();
  return fma;
}

} // namespace

const char *attn::calib::bf16PairTile() {
  return useFmaTile() ? "fma" : "vdpbf16ps";
}

bool attn::calib::setBf16PairTile(const char *name) {
  if (std::strcmp(name, "fma") == 0 || std::strcmp(name, "vdpbf16ps") == 0) {
    useFmaTile() = std::strcmp(name, "fma") == 0;
    return true;
  }
  return false;
}

bool attn::calib::detail::dotBf16Available() {
#ifdef ATTN_GEMM_DOT_BF16
  static const bool ok = cpuHasDotBf16();
  return ok;
#else
  return false;
#endif
}

int64_t attn::calib::detail::dotBf16PackedSizeA(int64_t m, int64_t k) {
  return (k + 1) / 2 * kDotBf16TileRows * ((m + kDotBf16TileRows - 1) /
                                           kDotBf16TileRows);
}

#ifdef ATTN_GEMM_DOT_BF16
namespace {
/// Words of B's packed block kb x nb (its panels of kCols columns).
int64_t packedBlockB(int64_t kb, int64_t nb) {
  return (kb + 1) / 2 * ((nb + kCols - 1) / kCols) * kCols;
}
} // namespace
#endif

int64_t attn::calib::detail::dotBf16PackedSizeB(int64_t k, int64_t n) {
#ifdef ATTN_GEMM_DOT_BF16
  int64_t words = 0;
  for (int64_t j0 = 0; j0 < n; j0 += kBlockN)
    for (int64_t p0 = 0; p0 < k; p0 += kBlockK)
      words += packedBlockB(std::min(kBlockK, k - p0),
                            std::min(kBlockN, n - j0));
  return words;
#else
  return 0;
#endif
}

void attn::calib::detail::dotBf16PackA(bool trans, int64_t m, int64_t k,
                                       const float *a, int64_t lda,
                                       uint32_t *dst) {
#ifdef ATTN_GEMM_DOT_BF16
  // The k blocks one after the other, each as dotBf16Gemm packs it.
  int64_t tiles = (m + kRows - 1) / kRows;
  for (int64_t p0 = 0; p0 < k; p0 += kBlockK) {
    int64_t kb = std::min(kBlockK, k - p0);
    packA(trans, a, lda, m, p0, kb, dst);
    dst += (kb + 1) / 2 * kRows * tiles;
  }
#endif
}

void attn::calib::detail::dotBf16PackB(bool trans, int64_t k, int64_t n,
                                       const float *b, int64_t ldb,
                                       uint32_t *dst) {
#ifdef ATTN_GEMM_DOT_BF16
  // The (n, k) blocks in dotBf16Gemm's order, each as it packs them.
  for (int64_t j0 = 0; j0 < n; j0 += kBlockN)
    for (int64_t p0 = 0; p0 < k; p0 += kBlockK) {
      int64_t kb = std::min(kBlockK, k - p0), nb = std::min(kBlockN, n - j0);
      packB(trans, b, ldb, p0, kb, j0, nb, dst);
      dst += packedBlockB(kb, nb);
    }
#endif
}

void attn::calib::detail::dotBf16Gemm(bool transA, bool transB, int64_t m,
                                      int64_t n, int64_t k, const float *a,
                                      int64_t lda, const float *b, int64_t ldb,
                                      float *c, int64_t ldc, bool accumulate) {
  dotBf16GemmPacked(transA, transB, m, n, k, a, lda, {}, b, ldb, nullptr, c,
                    ldc, accumulate);
}

void attn::calib::detail::dotBf16GemmPacked(
    bool transA, bool transB, int64_t m, int64_t n, int64_t k, const float *a,
    int64_t lda, PackedRows aPacked, const float *b, int64_t ldb,
    const uint32_t *bPacked, float *c, int64_t ldc, bool accumulate,
    const RowSupport *support) {
#ifdef ATTN_GEMM_DOT_BF16
  if (m <= 0 || n <= 0 || k <= 0) {
    if (!aPacked.words && !bPacked)
      sgemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
    else if (!accumulate) // the product over nothing
      for (int64_t i = 0; i < m; ++i)
        std::fill(c + i * ldc, c + i * ldc + n, 0.0f);
    return;
  }
  // Per thread: the packing buffers outlive the call.
  thread_local std::vector<uint32_t> bPack, aPack;
  // The FMA tile's A: one row tile's pairs as floats (expandPairs).
  thread_local std::vector<float> aFloats;
  const bool fma = useFmaTile();
  if (fma)
    aFloats.resize(kBlockK * kRows);
  int64_t tiles = (m + kRows - 1) / kRows;
  if (!aPacked.words)
    aPack.resize(kBlockK / 2 * kRows * tiles);
  if (!bPacked)
    bPack.resize(kBlockK / 2 * kBlockN);
  // Per row tile, the k and columns of C its rows' support covers.
  thread_local std::vector<int64_t> spans;
  spans.clear();
  if (support)
    for (int64_t t0 = 0; t0 < tiles; ++t0) {
      int64_t kLo = k, kHi = 0, nLo = n, nHi = 0;
      for (int64_t i = t0 * kRows; i < std::min(m, (t0 + 1) * kRows); ++i) {
        int64_t k0 = support->kBegin ? support->kBegin[i] : 0;
        int64_t k1 = support->kEnd ? support->kEnd[i] : k;
        int64_t n0 = support->nBegin ? support->nBegin[i] : 0;
        int64_t n1 = support->nEnd ? support->nEnd[i] : n;
        if (k0 < k1) {
          kLo = std::min(kLo, k0);
          kHi = std::max(kHi, k1);
        }
        if (n0 < n1) {
          nLo = std::min(nLo, n0);
          nHi = std::max(nHi, n1);
        }
      }
      spans.insert(spans.end(), {kLo, kHi, nLo, nHi});
    }
  const uint32_t *bBlock = bPacked; // B's packed blocks in loop order
  for (int64_t j0 = 0; j0 < n; j0 += kBlockN) {
    int64_t nb = std::min(kBlockN, n - j0);
    int64_t panels = (nb + kCols - 1) / kCols;
    const uint32_t *aBlock = aPacked.words; // A's packed k blocks
    for (int64_t p0 = 0; p0 < k; p0 += kBlockK) {
      int64_t kb = std::min(kBlockK, k - p0), pairs = (kb + 1) / 2;
      const uint32_t *bp = bBlock, *ap = aBlock;
      if (bPacked) {
        bBlock += packedBlockB(kb, nb);
      } else {
        packB(transB, b, ldb, p0, kb, j0, nb, bPack.data());
        bp = bPack.data();
      }
      if (aPacked.words) {
        ap = aBlock + aPacked.firstTile * pairs * kRows;
        aBlock += pairs * kRows * aPacked.tiles;
      } else if (fma) {
        ap = nullptr; // packExpandedA per row tile below
      } else {
        packA(transA, a, lda, m, p0, kb, aPack.data());
        ap = aPack.data();
      }
      bool add = accumulate || p0 > 0; // C's first k block overwrites
      for (int64_t t0 = 0; t0 < tiles; ++t0) {
        int64_t i0 = t0 * kRows, rows = std::min(kRows, m - i0);
        // The pairs [q0, q1) and panels [t1, t2) the support leaves.
        int64_t q0 = 0, q1 = pairs, t1 = 0, t2 = panels;
        if (support) {
          const int64_t *span = &spans[4 * t0];
          q0 = std::clamp<int64_t>((span[0] - p0) / 2, 0, pairs);
          q1 = std::clamp<int64_t>((span[1] - p0 + 1) / 2, q0, pairs);
          t1 = std::clamp<int64_t>((span[2] - j0) / kCols, 0, panels);
          t2 = std::clamp<int64_t>((span[3] - j0 + kCols - 1) / kCols, t1,
                                   panels);
        }
        const uint32_t *aTile = ap ? ap + (t0 * pairs + q0) * kRows : ap;
        if (fma && q0 < q1 && t1 < t2) {
          if (ap)
            expandPairs(q1 - q0, aTile, aFloats.data());
          else
            packExpandedA(transA, a, lda, m, i0, p0, kb, q0, q1,
                          aFloats.data());
        }
        for (int64_t t = 0; t < panels; ++t) {
          float *ct = c + i0 * ldc + j0 + t * kCols;
          int64_t cols = std::min(kCols, nb - t * kCols);
          if (t < t1 || t >= t2 || q0 == q1) {
            if (!add) // C's first k block writes the tile
              for (int64_t i = 0; i < rows; ++i)
                std::fill(ct + i * ldc, ct + i * ldc + cols, 0.0f);
            continue;
          }
          const uint32_t *bTile = bp + (t * pairs + q0) * kCols;
          if (fma)
            tileFma(q1 - q0, aFloats.data(), bTile, ct, ldc, rows, cols, add);
          else
            tile(q1 - q0, aTile, bTile, ct, ldc, rows, cols, add);
        }
      }
    }
  }
#else
  (void)aPacked;
  (void)bPacked;
  (void)support;
  sgemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
#endif
}

bool attn::calib::cpuIsIntel() {
#ifdef ATTN_GEMM_DOT_BF16
  unsigned a, b, c, d;
  if (!__get_cpuid(0, &a, &b, &c, &d))
    return false;
  char vendor[12];
  std::memcpy(vendor, &b, 4);
  std::memcpy(vendor + 4, &d, 4);
  std::memcpy(vendor + 8, &c, 4);
  return std::memcmp(vendor, "GenuineIntel", 12) == 0;
#else
  return false;
#endif
}
