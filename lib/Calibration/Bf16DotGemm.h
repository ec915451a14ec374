//===- Bf16DotGemm.h - bfloat16 products on AVX-512 BF16 --------*- C++ -*-===//
//
// sgemmBf16's path for CPUs with AVX512_BF16 (VDPBF16PS) but no AMX (AMD
// Zen 4 and later, Intel Cooper Lake): the same inputs rounded to bfloat16
// (nearest even) in pairs along k, float32 accumulation. Internal to the
// calibration library; Bf16Gemm.cpp dispatches to it.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CALIBRATION_BF16DOTGEMM_H
#define ATTN_LIB_CALIBRATION_BF16DOTGEMM_H

#include <cstdint>

namespace attn::calib::detail {

/// Rows of C per register tile: sgemmBf16Parallel splits whole tiles.
constexpr int64_t kDotBf16TileRows = 12;

/// Whether the CPU has AVX512F, AVX512BW and AVX512_BF16 (and the OS saves
/// the zmm state): the build's compiler must know the instructions too.
bool dotBf16Available();

/// C [m, n] (+)= op(A) op(B) as sgemm, the inputs rounded to bfloat16 and
/// multiplied in pairs (k, k + 1) by VDPBF16PS into float32 sums;
/// single-threaded. Only call when dotBf16Available().
void dotBf16Gemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
                 const float *a, int64_t lda, const float *b, int64_t ldb,
                 float *c, int64_t ldc, bool accumulate);

} // namespace attn::calib::detail

#endif // ATTN_LIB_CALIBRATION_BF16DOTGEMM_H
