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

#include "attn/Calibration/FloatGemm.h"

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

/// Words of op(A) [m, k] packed whole (dotBf16PackA), and of op(B) [k, n]
/// (dotBf16PackB).
int64_t dotBf16PackedSizeA(int64_t m, int64_t k);
int64_t dotBf16PackedSizeB(int64_t k, int64_t n);

/// op(A) [m, k], or op(B) [k, n], rounded and packed as dotBf16Gemm packs
/// it per call, every block of k (and of n) one after the other.
void dotBf16PackA(bool trans, int64_t m, int64_t k, const float *a,
                  int64_t lda, uint32_t *dst);
void dotBf16PackB(bool trans, int64_t k, int64_t n, const float *b,
                  int64_t ldb, uint32_t *dst);

/// Rows of a packed A: its tiles `firstTile` on, of `tiles` in all.
struct PackedRows {
  const uint32_t *words = nullptr; ///< null: A is not packed
  int64_t firstTile = 0, tiles = 0;
};

/// dotBf16Gemm where A (its rows from the tile `aPacked.firstTile`, m of
/// them) or B or both come packed (dotBf16PackA, dotBf16PackB over the
/// same k and n); the unpacked ones are read from a, b. The same sums in
/// the same order: equal to dotBf16Gemm's bit for bit. With `support`
/// (rows relative to this call's), each tile of C runs over the pairs of k
/// its rows' support covers and is skipped (0, or as it was when
/// accumulating) where none of its rows needs its columns.
void dotBf16GemmPacked(bool transA, bool transB, int64_t m, int64_t n,
                       int64_t k, const float *a, int64_t lda,
                       PackedRows aPacked, const float *b, int64_t ldb,
                       const uint32_t *bPacked, float *c, int64_t ldc,
                       bool accumulate, const RowSupport *support = nullptr);

} // namespace attn::calib::detail

#endif // ATTN_LIB_CALIBRATION_BF16DOTGEMM_H
