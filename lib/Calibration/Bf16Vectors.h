//===- Bf16Vectors.h - AVX-512 bf16 rounding, pairing, transpose -*- C++ -*-===//
//
// Private to lib/Calibration: the vector pieces that both bf16 products
// pack their operands with (AMX in Bf16Gemm.cpp, AVX512_BF16 in
// Bf16DotGemm.cpp). Each is always_inline for avx512f + avx512bw, so it
// inlines into either file's kernels (whose targets include both). Empty
// where <immintrin.h>'s AVX-512 is not available.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CALIBRATION_BF16VECTORS_H
#define ATTN_LIB_CALIBRATION_BF16VECTORS_H

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define ATTN_BF16_VECTORS_INLINE                                               \
  __attribute__((target("avx512f,avx512bw"), always_inline)) inline

namespace attn::calib::bf16vec {

/// Rounds 16 floats to bf16 (nearest even, NaN kept quiet): the bits in
/// each lane's high half (the low half is not cleared).
ATTN_BF16_VECTORS_INLINE __m512i roundHigh(__m512 x) {
  __m512i u = _mm512_castps_si512(x);
  __m512i lsb =
      _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  __m512i r =
      _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
  __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
  return _mm512_mask_or_epi32(r, nan, u, _mm512_set1_epi32(0x400000));
}

/// 32 consecutive floats as 32 bf16 in order: dword q is the pair
/// (src[2q], src[2q + 1]).
ATTN_BF16_VECTORS_INLINE __m512i pairsOf32(const float *src) {
  __m512i lo = roundHigh(_mm512_loadu_ps(src));
  __m512i hi = roundHigh(_mm512_loadu_ps(src + 16));
  const __m512i odd = _mm512_set_epi16(
      63, 61, 59, 57, 55, 53, 51, 49, 47, 45, 43, 41, 39, 37, 35, 33, 31, 29,
      27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
  return _mm512_permutex2var_epi16(lo, odd, hi);
}

/// Two bf16 halves into dwords: the even one's bits in the low half.
ATTN_BF16_VECTORS_INLINE __m512i joinPairs(__m512i even, __m512i odd) {
  return _mm512_or_si512(_mm512_srli_epi32(even, 16),
                         _mm512_and_si512(odd, _mm512_set1_epi32(-65536)));
}

/// 16 pairs (even[j], odd[j]) of bf16, the even one in the low half.
ATTN_BF16_VECTORS_INLINE __m512i pairs16(const float *even, const float *odd) {
  return joinPairs(roundHigh(_mm512_loadu_ps(even)),
                   roundHigh(_mm512_loadu_ps(odd)));
}

/// The same for the lanes of `mask`; the others are 0.
ATTN_BF16_VECTORS_INLINE __m512i pairs16(const float *even, const float *odd,
                                         __mmask16 mask) {
  return joinPairs(roundHigh(_mm512_maskz_loadu_ps(mask, even)),
                   roundHigh(_mm512_maskz_loadu_ps(mask, odd)));
}

/// Transposes 16 x 16 dwords in place (row r[i] becomes column i).
ATTN_BF16_VECTORS_INLINE void transpose16(__m512i r[16]) {
  __m512i t[16], u[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  // u[4g + c], 128-bit lane L: rows 4g..4g+3 at column 4L + c.
  for (int g = 0; g < 16; g += 4) {
    u[g] = _mm512_unpacklo_epi64(t[g], t[g + 2]);
    u[g + 1] = _mm512_unpackhi_epi64(t[g], t[g + 2]);
    u[g + 2] = _mm512_unpacklo_epi64(t[g + 1], t[g + 3]);
    u[g + 3] = _mm512_unpackhi_epi64(t[g + 1], t[g + 3]);
  }
  // Column 4L + c: lane L of u[c], u[4 + c], u[8 + c], u[12 + c].
  for (int c = 0; c < 4; ++c) {
    __m512i v0 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x44);
    __m512i v1 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xee);
    __m512i v2 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x44);
    __m512i v3 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xee);
    r[c] = _mm512_shuffle_i32x4(v0, v2, 0x88);
    r[4 + c] = _mm512_shuffle_i32x4(v0, v2, 0xdd);
    r[8 + c] = _mm512_shuffle_i32x4(v1, v3, 0x88);
    r[12 + c] = _mm512_shuffle_i32x4(v1, v3, 0xdd);
  }
}

} // namespace attn::calib::bf16vec

#undef ATTN_BF16_VECTORS_INLINE

#endif // x86-64 GCC/Clang

#endif // ATTN_LIB_CALIBRATION_BF16VECTORS_H
